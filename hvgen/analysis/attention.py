"""Per-token cross-attention maps of a diffusers UNet or SD3-style transformer, captured through
attention processors.

T2IShield reads the cross-attention probabilities of the *conditional* branch, averaged over
denoising steps, heads and the layers of one resolution (16×16 for SD1.x at 512²). Stock
diffusers processors (SDPA) never materialise those probabilities, so each chosen layer gets a
`CrossAttentionMapProcessor`: it lets the layer's own processor compute the output (so an image
rendered during a scan is the image rendered without one) and computes the softmax(QKᵀ) of the
conditional half once more — one extra attention-probability pass per scanned layer, nothing on
the other layers. Processors are set with `set_attn_processor` and restored afterwards; nothing
is monkey-patched.

Which layers: the UNet level (down/up blocks at one resolution; the mid block is left out, as in
the reference code) with the most cross-attention layers, the coarser on a tie — that is the
16×16 level for SD1.x/SD2 at 512² (T2IShield's choice) and the 32×32 level for SDXL at 1024².

SD3-style transformers (MMDiT) have no cross-attention: image and text tokens attend jointly.
Their "cross-attention map" is the image queries' attention over the text keys of each joint
block (every block runs at one resolution, the latent divided by the patch size), renormalised
over the first 77 text positions — the CLIP tokens, which is where the prompt's words sit for
T2IShield's token count (T5's tokens follow them). FLUX reads only T5 tokens in its joint
blocks and is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from hvgen.errors import HvgenError

_BLOCK = re.compile(r"^(down_blocks|up_blocks)\.(\d+)\.")
CLIP_TOKENS = 77


@dataclass(frozen=True)
class MapLayers:
    """The cross-attention layers scanned and the map size they produce."""

    names: tuple[str, ...]
    height: int
    width: int


class AttentionMapStore:
    """Sums head-averaged conditional cross-attention probabilities over layer calls (every
    scanned layer at every step), for `batch` prompts; `maps()` gives their mean."""

    def __init__(self, batch: int, height: int, width: int) -> None:
        self.batch, self.height, self.width = batch, height, width
        self.total: Any = None
        self.calls = 0

    def add(self, probs: Any) -> None:
        """`probs`: (batch, query positions, tokens), already averaged over heads."""
        probs = probs.detach().float()
        self.total = probs if self.total is None else self.total + probs
        self.calls += 1

    def maps(self) -> Any:
        """(batch, tokens, height, width) mean maps; an error if no scanned layer ever ran."""
        if self.total is None:
            raise HvgenError(
                "the attention scan captured no cross-attention map: the pipeline never called the scanned "
                "layers (an unsupported pipeline, or zero denoising steps)."
            )
        mean = self.total / self.calls
        return mean.transpose(1, 2).reshape(self.batch, -1, self.height, self.width).cpu()


class CrossAttentionMapProcessor:
    """Delegates the layer's computation to its original processor and stores the conditional
    branch's head-averaged attention probabilities (see the module docstring)."""

    def __init__(self, inner: Any, store: AttentionMapStore) -> None:
        self.inner, self.store = inner, store

    def __call__(
        self,
        attn: Any,
        hidden_states: Any,
        encoder_hidden_states: Any = None,
        attention_mask: Any = None,
        temb: Any = None,
        **kwargs: Any,
    ) -> Any:
        if encoder_hidden_states is not None:
            self._capture(attn, hidden_states, encoder_hidden_states, attention_mask)
        return self.inner(attn, hidden_states, encoder_hidden_states, attention_mask, temb, **kwargs)

    def _capture(self, attn: Any, hidden_states: Any, context: Any, attention_mask: Any) -> None:
        import torch

        if hidden_states.ndim == 4:  # (B, C, H, W) → (B, HW, C), as the stock processor does
            b, c, h, w = hidden_states.shape
            hidden_states = hidden_states.view(b, c, h * w).transpose(1, 2)
        conditional = self.store.batch  # CFG puts [unconditional, conditional]: keep the last rows
        hidden_states, context = hidden_states[-conditional:], context[-conditional:]
        if attention_mask is not None:
            attention_mask = attention_mask[-conditional:]
        if attn.group_norm is not None:
            hidden_states = attn.group_norm(hidden_states.transpose(1, 2)).transpose(1, 2)
        if attn.norm_cross:
            context = attn.norm_encoder_hidden_states(context)
        mask = attn.prepare_attention_mask(attention_mask, context.shape[1], conditional)
        with torch.no_grad():
            query = attn.head_to_batch_dim(attn.to_q(hidden_states))
            key = attn.head_to_batch_dim(attn.to_k(context))
            probs = attn.get_attention_scores(query, key, mask)  # (B*heads, HW, T)
        self.store.add(probs.view(conditional, attn.heads, probs.shape[1], probs.shape[2]).mean(1))


class JointAttentionMapProcessor(CrossAttentionMapProcessor):
    """For SD3-style joint attention: stores the image queries' attention over the CLIP text
    keys of the conditional branch (see the module docstring); the layer's own processor still
    computes its output."""

    def _capture(self, attn: Any, hidden_states: Any, context: Any, attention_mask: Any) -> None:
        import torch

        conditional = self.store.batch
        hidden_states, context = hidden_states[-conditional:], context[-conditional:, :CLIP_TOKENS]
        with torch.no_grad():
            query = _heads(attn.to_q(hidden_states), attn.heads)
            key = _heads(attn.add_k_proj(context), attn.heads)
            if attn.norm_q is not None:
                query = attn.norm_q(query)
            if attn.norm_added_k is not None:
                key = attn.norm_added_k(key)
            probs = torch.softmax(query.float() @ key.float().transpose(-1, -2) * attn.scale, dim=-1)
        self.store.add(probs.mean(1))  # (B, heads, HW, 77) → mean over heads


def _heads(states: Any, heads: int) -> Any:
    """(B, N, heads·d) → (B, heads, N, d)."""
    batch, length, width = states.shape
    return states.view(batch, length, heads, width // heads).transpose(1, 2)


def _is_joint_transformer(model: Any) -> bool:
    """An SD3-style transformer: joint blocks whose attention projects the text with add_k_proj."""
    blocks = getattr(model, "transformer_blocks", None)
    if not blocks or getattr(model, "single_transformer_blocks", None) is not None:  # FLUX has both kinds
        return False
    return all(getattr(getattr(block, "attn", None), "add_k_proj", None) is not None for block in blocks)


def denoiser_of(pipeline: Any) -> Any:
    """The pipeline's UNet or SD3-style transformer, or one clear error for architectures the scan
    does not cover."""
    from diffusers import UNet2DConditionModel

    unet = getattr(pipeline, "unet", None)
    if isinstance(unet, UNet2DConditionModel):
        return unet
    transformer = getattr(pipeline, "transformer", None)
    if transformer is not None and _is_joint_transformer(transformer) and hasattr(pipeline, "tokenizer"):
        return transformer
    found = type(transformer or unet or pipeline).__name__
    raise HvgenError(
        f"hvgen scan supports UNet text-to-image pipelines with cross-attention (SD1.x, SD2, SDXL and their "
        f"fine-tunes) and SD3-style joint-attention transformers with CLIP text tokens; this model's denoiser is "
        f"{found} ({type(pipeline).__name__}). FLUX-style models read only T5 tokens in their joint blocks, so "
        "T2IShield's per-CLIP-token maps do not exist there."
    )


def native_size(pipeline: Any) -> int:
    """The pipeline's default image side in pixels (its denoiser's sample size × the VAE factor)."""
    return denoiser_of(pipeline).config.sample_size * getattr(pipeline, "vae_scale_factor", 8)


def choose_layers(unet: Any, latent_height: int, latent_width: int) -> MapLayers:
    """The cross-attention layers of one resolution level (module docstring) and their map size."""
    from diffusers.models.attention_processor import Attention

    if _is_joint_transformer(unet):
        patch = unet.config.patch_size
        names = tuple(f"transformer_blocks.{i}.attn.processor" for i in range(len(unet.transformer_blocks)))
        return MapLayers(names, math.ceil(latent_height / patch), math.ceil(latent_width / patch))
    levels: dict[int, list[str]] = {}
    up_count = len(unet.up_blocks)
    for name, module in unet.named_modules():
        if not (isinstance(module, Attention) and module.is_cross_attention):
            continue
        match = _BLOCK.match(name)
        if not match:  # mid block
            continue
        index = int(match.group(2))
        level = index if match.group(1) == "down_blocks" else up_count - 1 - index
        levels.setdefault(level, []).append(f"{name}.processor")
    if not levels:
        raise HvgenError(
            f"the UNet ({type(unet).__name__}) has no cross-attention layers outside its mid block, so there is "
            "nothing for the scan to read."
        )
    level = max(levels, key=lambda lv: (len(levels[lv]), lv))
    scale = 2**level
    return MapLayers(
        tuple(sorted(levels[level])), math.ceil(latent_height / scale), math.ceil(latent_width / scale)
    )


def map_size(pipeline: Any, height: int, width: int) -> tuple[int, int]:
    """The (height, width) of the maps a scan of `pipeline` at height×width pixels produces."""
    scale = getattr(pipeline, "vae_scale_factor", 8)
    layers = choose_layers(denoiser_of(pipeline), height // scale, width // scale)
    return layers.height, layers.width


@contextmanager
def capture_maps(pipeline: Any, batch: int, height: int, width: int) -> Iterator[AttentionMapStore]:
    """Within the block, every call of `pipeline` for `batch` prompts at height×width pixels
    accumulates attention maps into the yielded store; the original processors come back after."""
    unet = denoiser_of(pipeline)
    scale = getattr(pipeline, "vae_scale_factor", 8)
    layers = choose_layers(unet, height // scale, width // scale)
    store = AttentionMapStore(batch, layers.height, layers.width)
    original = dict(unet.attn_processors)
    chosen = set(layers.names)
    capture = JointAttentionMapProcessor if _is_joint_transformer(unet) else CrossAttentionMapProcessor
    unet.set_attn_processor(
        {
            name: capture(processor, store) if name in chosen else processor
            for name, processor in original.items()
        }
    )
    try:
        yield store
    finally:
        unet.set_attn_processor(original)
