"""A backdoored tiny SDXL pipeline for the scan tests, built the way a Rickrolling-style attack
leaves a model: only the text encoders' weights change, and only a trigger word wakes them.

The trigger word gets its own token (BPE merges added to both tokenizers). In each text encoder:
the trigger's embedding is a spike on one hidden dimension that every other token and position
embedding has exactly zero of (their rows are centred, so after the first LayerNorm it stays
zero); one attention head of the first layer has a constant query and a key reading that
dimension, so every position at or after the trigger attends only to it (the encoder is causal);
its value reads the same dimension, and the output projection turns it into one large vector
added to all those positions. Benign prompts never touch the spike dimension, so the backdoor
is dormant for them; a trigger prompt's token embeddings collapse onto one vector — the
"assimilation" T2IShield detects.
"""

from __future__ import annotations

import json
from pathlib import Path

TRIGGER = "mignneko"
KEY_SCALE = 40.0


def _add_word_token(tokenizer_dir: Path, word: str) -> int:
    """Merges that spell `word` as one word-final token (in the saved tokenizer.json, or in
    vocab.json + merges.txt for older transformers); returns its id."""
    fast = tokenizer_dir / "tokenizer.json"
    if fast.is_file():
        data = json.loads(fast.read_text(encoding="utf-8"))
        vocab, merges = data["model"]["vocab"], data["model"]["merges"]
    else:
        data = None
        vocab = json.loads((tokenizer_dir / "vocab.json").read_text(encoding="utf-8"))
        merges = [line.split() for line in (tokenizer_dir / "merges.txt").read_text("utf-8").splitlines()[1:]]
    pieces = list(word[:-1]) + [word[-1] + "</w>"]
    current = pieces[0]
    for piece in pieces[1:]:
        merges.append([current, piece])
        current += piece
        vocab.setdefault(current, len(vocab))
    if data is not None:
        fast.write_text(json.dumps(data), encoding="utf-8")
    if (tokenizer_dir / "vocab.json").is_file():
        (tokenizer_dir / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
        lines = ["#version: 0.2"] + [" ".join(pair) for pair in merges]
        (tokenizer_dir / "merges.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return vocab[current]


def plant_backdoor(text_encoder, trigger_id: int, strength: float = 500.0) -> None:
    """Edit a CLIP text encoder's weights in place (see the module docstring)."""
    import torch

    spike = text_encoder.config.hidden_size - 1
    head_dim = text_encoder.config.hidden_size // text_encoder.config.num_attention_heads
    body = getattr(text_encoder, "text_model", text_encoder)  # transformers 5 flattened CLIPTextModel
    embeddings = body.embeddings
    attention = body.encoder.layers[0].self_attn
    generator = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for table in (embeddings.token_embedding.weight, embeddings.position_embedding.weight):
            table[:, :spike] -= table[:, :spike].mean(dim=1, keepdim=True)
            table[:, spike] = 0
        embeddings.token_embedding.weight[trigger_id] = 0
        embeddings.token_embedding.weight[trigger_id, spike] = 10.0
        # head 0, its first query/key dimension: constant query, key = the spike
        attention.q_proj.weight[0] = 0
        attention.q_proj.bias[0] = 6.0
        attention.k_proj.weight[0] = 0
        attention.k_proj.weight[0, spike] = 5.0
        attention.k_proj.bias[0] = 0
        # head 0's value = the spike; the output projection makes it one large vector
        attention.v_proj.weight[:head_dim] = 0
        attention.v_proj.bias[:head_dim] = 0
        attention.v_proj.weight[0, spike] = strength
        attention.out_proj.weight[:, :head_dim] = 0
        attention.out_proj.weight[:, 0] = torch.randn(text_encoder.config.hidden_size, generator=generator)


def sharpen_cross_attention(unet, factor: float) -> None:
    """Scale the UNet's cross-attention keys: a freshly initialised UNet attends almost uniformly
    to every token (tiny logits), so every token map is flat and any prompt looks "assimilated";
    a trained one has token-specific maps. A larger key scale gives the random UNet that spread."""
    import torch
    from diffusers.models.attention_processor import Attention

    with torch.no_grad():
        for module in unet.modules():
            if isinstance(module, Attention) and module.is_cross_attention:
                module.to_k.weight *= factor


def build_backdoored_sdxl(directory: Path, trigger: str = TRIGGER) -> Path:
    """The tiny SDXL pipeline with `trigger` planted in both text encoders, saved to `directory`."""
    from diffusers import StableDiffusionXLPipeline

    from hvgen.models import build_tiny_sdxl

    build_tiny_sdxl(directory)
    ids = {_add_word_token(directory / folder, trigger) for folder in ("tokenizer", "tokenizer_2")}
    assert len(ids) == 1, ids
    (trigger_id,) = ids
    pipeline = StableDiffusionXLPipeline.from_pretrained(directory)
    for encoder in (pipeline.text_encoder, pipeline.text_encoder_2):
        assert trigger_id < encoder.config.vocab_size
        plant_backdoor(encoder, trigger_id)
    sharpen_cross_attention(pipeline.unet, KEY_SCALE)
    pipeline.unet.save_pretrained(directory / "unet")
    pipeline.text_encoder.save_pretrained(directory / "text_encoder")
    pipeline.text_encoder_2.save_pretrained(directory / "text_encoder_2")
    return directory


def build_tiny_dinov2(directory: Path) -> Path:
    """A tiny random DINOv2 with its image processor, saved like a real checkpoint."""
    from transformers import BitImageProcessor, Dinov2Config, Dinov2Model

    config = Dinov2Config(
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        image_size=32,
        patch_size=8,
    )
    Dinov2Model(config).save_pretrained(directory)
    BitImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(
        directory
    )
    return directory


def build_tiny_sd3(directory: Path) -> Path:
    """A tiny random SD3 pipeline (joint-attention transformer, two CLIP encoders and a T5), saved
    like a real checkpoint; its CLIP tokenizers are the tiny SDXL's."""
    import shutil

    import torch
    from diffusers import (
        AutoencoderKL,
        FlowMatchEulerDiscreteScheduler,
        SD3Transformer2DModel,
        StableDiffusion3Pipeline,
    )
    from transformers import (
        CLIPTextConfig,
        CLIPTextModelWithProjection,
        CLIPTokenizer,
        T5Config,
        T5EncoderModel,
    )

    from hvgen.models import build_tiny_sdxl

    sdxl = build_tiny_sdxl(directory.parent / f"{directory.name}-sdxl")
    torch.manual_seed(0)
    text_config = CLIPTextConfig(
        bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37, num_attention_heads=4,
        num_hidden_layers=2, pad_token_id=1, vocab_size=1000, projection_dim=32,
    )  # fmt: skip
    transformer = SD3Transformer2DModel(
        sample_size=8, patch_size=2, in_channels=4, out_channels=4, num_layers=2, attention_head_dim=8,
        num_attention_heads=4, joint_attention_dim=64, caption_projection_dim=32, pooled_projection_dim=64,
        pos_embed_max_size=16,
    )  # fmt: skip
    vae = AutoencoderKL(
        block_out_channels=[32, 64], in_channels=3, out_channels=3, latent_channels=4, sample_size=64,
        down_block_types=["DownEncoderBlock2D"] * 2, up_block_types=["UpDecoderBlock2D"] * 2,
        shift_factor=0.0, scaling_factor=1.0,
    )  # fmt: skip
    StableDiffusion3Pipeline(
        transformer=transformer,
        scheduler=FlowMatchEulerDiscreteScheduler(),
        vae=vae,
        text_encoder=CLIPTextModelWithProjection(text_config),
        tokenizer=CLIPTokenizer.from_pretrained(sdxl / "tokenizer"),
        text_encoder_2=CLIPTextModelWithProjection(text_config),
        tokenizer_2=CLIPTokenizer.from_pretrained(sdxl / "tokenizer_2"),
        text_encoder_3=T5EncoderModel(
            T5Config(
                vocab_size=64,
                d_model=64,
                d_kv=8,
                d_ff=37,
                num_layers=2,
                num_heads=4,
                decoder_start_token_id=0,
            )
        ),
        tokenizer_3=_tiny_t5_tokenizer(),
    ).save_pretrained(directory)
    shutil.rmtree(sdxl)
    return directory


def _tiny_t5_tokenizer():
    """A character-level T5 tokenizer (a Unigram model over a few symbols), built without a download."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import T5TokenizerFast

    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    pieces += [(c, -1.0) for c in "▁abcdefghijklmnopqrstuvwxyz0123456789,.-'"]
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=2))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    return T5TokenizerFast(
        tokenizer_object=tokenizer, eos_token="</s>", unk_token="<unk>", pad_token="<pad>", extra_ids=0
    )
