"""CLIP checkpoints: loading one (`load_surrogate`), and a tiny random CLIP saved like a real
checkpoint for offline tests and `--model tiny` runs.

The adversarial scenario loads its surrogate with ``CLIPModel.from_pretrained`` and
``CLIPProcessor.from_pretrained``; this module writes a folder those calls accept, so tests
exercise exactly the production loading path without network access or real weights.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hvgen.errors import ModelLoadError
from hvgen.models import byte_level_alphabet, cache_dir, cached_model_folder

__all__ = ["TINY_CLIP_VERSION", "build_tiny_clip", "cache_dir", "tiny_clip_path"]

TINY_CLIP_VERSION = "tiny-clip-v1"
"""Folder name of the cached model; bump it whenever `build_tiny_clip` changes its output."""

_SPECIALS = ("<|startoftext|>", "<|endoftext|>")


def _tiny_vocab() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """A character-level CLIP vocabulary (every byte symbol, alone and word-final) plus a few
    merges, so any text tokenises without unknown tokens while the vocab stays ~520 entries."""
    alphabet = byte_level_alphabet()
    tokens = list(_SPECIALS) + alphabet + [c + "</w>" for c in alphabet]
    merges = [("t", "h"), ("t", "h</w>"), ("o", "f</w>"), ("p", "h"), ("o", "t")]
    for left, right in merges:
        if left + right not in tokens:
            tokens.append(left + right)
    return {tok: i for i, tok in enumerate(tokens)}, merges


def build_tiny_clip(directory: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny random `CLIPModel` (hidden 32, 2 layers, 4 heads, 32² images, patch 8,
    projection 32) with a `CLIPProcessor` (tokenizer with model_max_length 77), save both to
    `directory` with `save_pretrained`, and return the folder. Weights depend only on `seed`."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    vocab, merges = _tiny_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    image_processor = CLIPImageProcessor(
        size={"shortest_edge": 32},
        crop_size={"height": 32, "width": 32},
        do_center_crop=True,
    )
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "max_position_embeddings": 77,
            "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"],
            "pad_token_id": vocab["<|endoftext|>"],
        },
        vision_config={
            "hidden_size": 32,
            "intermediate_size": 64,
            "num_hidden_layers": 2,
            "num_attention_heads": 4,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=32,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config).eval()
    model.save_pretrained(out)
    CLIPProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(out)
    (out / "hvgen_tiny.json").write_text(json.dumps({"version": TINY_CLIP_VERSION, "seed": seed}) + "\n")
    return out


# the cache folder is shared with the tiny text-to-image model


def tiny_clip_path() -> Path:
    """The cached tiny CLIP folder, built on first use (`hvgen.models.cached_model_folder`)."""
    return cached_model_folder(TINY_CLIP_VERSION, build_tiny_clip, "hvgen_tiny.json")


def load_surrogate(surrogate: str, device: Any, dtype: Any = None) -> tuple[Any, Any]:
    """Load a CLIP checkpoint (hub id or local folder; ``"tiny"`` = the built-in tiny random
    CLIP) as (CLIPModel in eval mode, CLIPProcessor), on `device` in `dtype` (None: as saved,
    float32 for CLIP). Failures become one clear ModelLoadError."""
    from transformers import CLIPModel, CLIPProcessor

    path: str = surrogate
    try:
        if surrogate == "tiny":
            path = str(tiny_clip_path())
        model = CLIPModel.from_pretrained(path).to(device=device, dtype=dtype).eval()
        processor = CLIPProcessor.from_pretrained(path)
    except Exception as exc:  # OSError (offline / missing), ValueError (not a CLIP), ...
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ModelLoadError(
            f"Could not load the surrogate CLIP {surrogate!r} ({type(exc).__name__}: {reason[:200]}). "
            "Pass --surrogate PATH to a local CLIP checkpoint, or --model tiny for the built-in tiny one."
        ) from exc
    model.requires_grad_(False)
    return model, processor
