"""Tiny random CtrLoRA weights, in both layouts, and a tiny SD 1.5 pipeline they fit.

For offline tests and the README's example: nothing is downloaded. The LDM layout is written from
CtrLoRA's own module names (`cldm/cldm.py` ControlNet: `time_embed`, `input_blocks.N` holding
ResBlocks `in_layers/emb_layers/out_layers/skip_connection` and SpatialTransformers
`norm/proj_in/transformer_blocks.0.{attn1,attn2,ff,norm1-3}/proj_out`, `zero_convs.N.0`,
`middle_block.{0,1,2}`, `middle_block_out.0`; LoRAs as `<linear>.lora_layer.{down,up}.weight`),
not from diffusers' converter, so loading them checks the conversion instead of mirroring it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hvgen.ctrlora.checkpoint import LDM_PREFIX, MARKER, MARKER_FORMAT

TINY_SD15_UNET: dict[str, Any] = {
    "block_out_channels": (32, 64),
    "layers_per_block": 1,
    "sample_size": 32,
    "down_block_types": ("DownBlock2D", "CrossAttnDownBlock2D"),
    "up_block_types": ("CrossAttnUpBlock2D", "UpBlock2D"),
    "attention_head_dim": (2, 4),
    "cross_attention_dim": 32,
}


def build_tiny_sd15(directory: Path, seed: int = 0) -> Path:
    """A tiny random SD 1.5-shaped pipeline (one CLIP text encoder, no added time embedding),
    saved for `--model DIR`; its VAE, tokenizer and scheduler are the tiny SDXL pipeline's."""
    import torch
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    from hvgen.models import tiny_sdxl_path

    tiny_sdxl = tiny_sdxl_path()
    torch.manual_seed(seed)
    text_config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, pad_token_id=1, vocab_size=1000,
    )  # fmt: skip
    pipeline = StableDiffusionPipeline(
        vae=AutoencoderKL.from_pretrained(tiny_sdxl / "vae"),
        text_encoder=CLIPTextModel(text_config),
        tokenizer=CLIPTokenizer.from_pretrained(tiny_sdxl / "tokenizer"),
        unet=UNet2DConditionModel(**TINY_SD15_UNET),
        scheduler=EulerDiscreteScheduler.from_pretrained(tiny_sdxl / "scheduler"),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipeline.save_pretrained(directory)
    return directory


# ---------------------------------------------------------------- CtrLoRA's LDM layout


def ldm_controlnet_shapes(unet: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    """CtrLoRA's ControlNet tensor names and shapes (no input_hint_block) for an SD-style UNet
    config: model_channels = block_out_channels[0], one level per block, attention where the
    diffusers block is a CrossAttn one, context_dim = cross_attention_dim."""
    channels = list(unet["block_out_channels"])
    per_level = int(unet.get("layers_per_block", 2))
    attention = ["CrossAttn" in kind for kind in unet["down_block_types"]]
    context = int(unet["cross_attention_dim"])
    width, time_dim = channels[0], channels[0] * 4
    shapes: dict[str, tuple[int, ...]] = {}

    def conv(key: str, out: int, inp: int, k: int) -> None:
        shapes.update({f"{key}.weight": (out, inp, k, k), f"{key}.bias": (out,)})

    def linear(key: str, out: int, inp: int, bias: bool = True) -> None:
        shapes[f"{key}.weight"] = (out, inp)
        if bias:
            shapes[f"{key}.bias"] = (out,)

    def norm(key: str, size: int) -> None:
        shapes.update({f"{key}.weight": (size,), f"{key}.bias": (size,)})

    def resblock(key: str, inp: int, out: int) -> None:
        norm(f"{key}.in_layers.0", inp)
        conv(f"{key}.in_layers.2", out, inp, 3)
        linear(f"{key}.emb_layers.1", out, time_dim)
        norm(f"{key}.out_layers.0", out)
        conv(f"{key}.out_layers.3", out, out, 3)
        if inp != out:
            conv(f"{key}.skip_connection", out, inp, 1)

    def transformer(key: str, size: int) -> None:
        norm(f"{key}.norm", size)
        conv(f"{key}.proj_in", size, size, 1)
        block = f"{key}.transformer_blocks.0"
        for attn, kv in (("attn1", size), ("attn2", context)):
            linear(f"{block}.{attn}.to_q", size, size, bias=False)
            linear(f"{block}.{attn}.to_k", size, kv, bias=False)
            linear(f"{block}.{attn}.to_v", size, kv, bias=False)
            linear(f"{block}.{attn}.to_out.0", size, size)
        linear(f"{block}.ff.net.0.proj", size * 8, size)  # GEGLU: 2 × (4 × size)
        linear(f"{block}.ff.net.2", size, size * 4)
        for index in (1, 2, 3):
            norm(f"{block}.norm{index}", size)
        conv(f"{key}.proj_out", size, size, 1)

    linear("time_embed.0", time_dim, width)
    linear("time_embed.2", time_dim, time_dim)
    conv("input_blocks.0.0", width, int(unet.get("in_channels", 4)), 3)
    conv("zero_convs.0.0", width, width, 1)
    block, current = 1, width
    for level, out in enumerate(channels):
        for _ in range(per_level):
            resblock(f"input_blocks.{block}.0", current, out)
            current = out
            if attention[level]:
                transformer(f"input_blocks.{block}.1", out)
            conv(f"zero_convs.{block}.0", out, out, 1)
            block += 1
        if level != len(channels) - 1:
            conv(f"input_blocks.{block}.0.op", out, out, 3)
            conv(f"zero_convs.{block}.0", out, out, 1)
            block += 1
    resblock("middle_block.0", current, current)
    transformer("middle_block.1", current)
    resblock("middle_block.2", current, current)
    conv("middle_block_out.0", current, current, 1)
    return shapes


def is_condition_tensor(key: str) -> bool:
    """What CtrLoRA stores per condition besides LoRAs (`tool_extract_weights.extract_lora`)."""
    return "zero_convs" in key or "middle_block_out" in key or "norm" in key


def random_tensor(shape: tuple[int, ...], generator: Any, key: str = "") -> Any:
    """Small random values (a norm's weight near 1) so activations stay in range in any layer."""
    import torch

    values = torch.randn(shape, generator=generator)
    if "norm" in key and key.endswith(".weight"):
        return 1.0 + 0.1 * values
    fan_in = max(1, int(torch.tensor(shape[1:]).prod().item())) if len(shape) > 1 else 16
    return values / fan_in**0.5


def write_tiny_ctrlora_ldm(
    directory: Path, recipes: list[str], unet: dict[str, Any] | None = None, rank: int = 4, seed: int = 0
) -> tuple[Path, dict[str, Path]]:
    """A random CtrLoRA base (`base.ckpt`, torch.save) and one LoRA per recipe
    (`<recipe>.safetensors`) in CtrLoRA's own key layout; returns their paths."""
    import torch
    from safetensors.torch import save_file

    shapes = ldm_controlnet_shapes(unet or TINY_SD15_UNET)
    generator = torch.Generator().manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    base = {f"{LDM_PREFIX}{k}": random_tensor(s, generator, k) for k, s in shapes.items()}
    torch.save({"state_dict": base}, directory / "base.ckpt")
    linears = [k[: -len(".weight")] for k, s in shapes.items() if len(s) == 2 and k.endswith(".weight")]
    loras = {}
    for recipe in recipes:
        lora = {
            f"{LDM_PREFIX}{k}": random_tensor(s, generator, k)
            for k, s in shapes.items()
            if is_condition_tensor(k)
        }
        for module in linears:
            out, inp = shapes[f"{module}.weight"]
            lora[f"{LDM_PREFIX}{module}.lora_layer.down.weight"] = (
                torch.randn(rank, inp, generator=generator) / inp**0.5
            )
            lora[f"{LDM_PREFIX}{module}.lora_layer.up.weight"] = (
                torch.randn(out, rank, generator=generator) / rank**0.5
            )
        loras[recipe] = directory / f"{recipe}.safetensors"
        save_file(lora, str(loras[recipe]))
    return directory / "base.ckpt", loras


# ---------------------------------------------------------------- diffusers layout


def write_tiny_ctrlora_diffusers(
    directory: Path, recipes: list[str], unet: dict[str, Any] | None = None, rank: int = 4, seed: int = 0
) -> tuple[Path, dict[str, Path]]:
    """A random CtrLoRA base as `ControlNetModel.save_pretrained` + ctrlora.json, and one LoRA
    per recipe with peft's key names (`get_peft_model_state_dict`) plus its zero convs and norms."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict
    from safetensors.torch import save_file

    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    controlnet = ControlNetModel.from_unet(UNet2DConditionModel(**(unet or TINY_SD15_UNET)))
    with torch.no_grad():
        for key, param in controlnet.named_parameters():
            param.copy_(random_tensor(tuple(param.shape), generator, key))
    folder = directory / "base"
    controlnet.save_pretrained(folder)
    (folder / MARKER).write_text(json.dumps({"format": MARKER_FORMAT}), encoding="utf-8")
    linears = [name for name, module in controlnet.named_modules() if isinstance(module, torch.nn.Linear)]
    replaceable = [
        key
        for key, _ in controlnet.named_parameters()
        if key.startswith(("controlnet_down_blocks", "controlnet_mid_block"))
        or (".attentions." in key and ".norm" in key)
    ]
    controlnet.add_adapter(
        LoraConfig(r=rank, lora_alpha=rank, target_modules=linears, init_lora_weights=False)
    )
    loras = {}
    for recipe in recipes:
        with torch.no_grad():
            for key, param in controlnet.named_parameters():
                if "lora_" in key:
                    param.copy_(torch.randn(param.shape, generator=generator) / param.shape[1] ** 0.5)
        state = dict(get_peft_model_state_dict(controlnet))
        base_params = dict(controlnet.named_parameters())
        for key in replaceable:
            state[key] = random_tensor(tuple(base_params[key].shape), generator, key)
        loras[recipe] = directory / f"{recipe}.safetensors"
        save_file({k: v.contiguous() for k, v in state.items()}, str(loras[recipe]))
    return folder, loras
