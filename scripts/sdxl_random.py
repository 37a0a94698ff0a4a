"""An SDXL-shaped text-to-image pipeline with random weights, built from SDXL base 1.0's published
configs (no download), so benchmarks can time the real architecture at 1024² on a machine that
cannot fetch the weights.

The configs below are the architecture fields of
`stabilityai/stable-diffusion-xl-base-1.0`'s `unet/`, `vae/`, `text_encoder/`, `text_encoder_2/`
and `scheduler/` config files (2.6 B UNet parameters, 0.8 B in the two text encoders). The
tokenizers are hvgen's small byte-level CLIP tokenizer (the tiny model's; token ids stay inside
the encoders' 49,408-entry embeddings): prompts tokenise to other ids than with the real
vocabulary, which changes no tensor shape (prompts are padded to 77 tokens either way).
Random weights make noise images, and in 16-bit precision may overflow to NaN over 50 steps:
that costs the same FLOPs, so timings hold, while PNG encoding of such images is cheaper than of
real renders.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

SDXL_UNET: dict[str, Any] = {
    "act_fn": "silu",
    "addition_embed_type": "text_time",
    "addition_embed_type_num_heads": 64,
    "addition_time_embed_dim": 256,
    "attention_head_dim": [5, 10, 20],
    "block_out_channels": [320, 640, 1280],
    "center_input_sample": False,
    "class_embed_type": None,
    "class_embeddings_concat": False,
    "conv_in_kernel": 3,
    "conv_out_kernel": 3,
    "cross_attention_dim": 2048,
    "cross_attention_norm": None,
    "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "encoder_hid_dim": None,
    "encoder_hid_dim_type": None,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 4,
    "layers_per_block": 2,
    "mid_block_only_cross_attention": None,
    "mid_block_scale_factor": 1,
    "mid_block_type": "UNetMidBlock2DCrossAttn",
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_attention_heads": None,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 4,
    "projection_class_embeddings_input_dim": 2816,
    "resnet_out_scale_factor": 1.0,
    "resnet_skip_time_act": False,
    "resnet_time_scale_shift": "default",
    "sample_size": 128,
    "time_cond_proj_dim": None,
    "time_embedding_act_fn": None,
    "time_embedding_dim": None,
    "time_embedding_type": "positional",
    "timestep_post_act": None,
    "transformer_layers_per_block": [1, 2, 10],
    "up_block_types": ["CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"],
    "upcast_attention": None,
    "use_linear_projection": True,
}
SDXL_VAE: dict[str, Any] = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "force_upcast": True,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 1024,
    "scaling_factor": 0.13025,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
SDXL_TEXT_ENCODER: dict[str, Any] = {  # CLIP ViT-L/14's text tower (CLIPTextModel)
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
    "hidden_act": "quick_gelu",
    "hidden_size": 768,
    "intermediate_size": 3072,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "num_attention_heads": 12,
    "num_hidden_layers": 12,
    "projection_dim": 768,
    "vocab_size": 49408,
}
SDXL_TEXT_ENCODER_2: dict[str, Any] = {  # OpenCLIP ViT-bigG/14's text tower (CLIPTextModelWithProjection)
    "bos_token_id": 0,
    "eos_token_id": 2,
    "pad_token_id": 1,
    "hidden_act": "gelu",
    "hidden_size": 1280,
    "intermediate_size": 5120,
    "layer_norm_eps": 1e-05,
    "max_position_embeddings": 77,
    "num_attention_heads": 20,
    "num_hidden_layers": 32,
    "projection_dim": 1280,
    "vocab_size": 49408,
}
SDXL_SCHEDULER: dict[str, Any] = {  # EulerDiscreteScheduler
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "beta_start": 0.00085,
    "interpolation_type": "linear",
    "num_train_timesteps": 1000,
    "prediction_type": "epsilon",
    "steps_offset": 1,
    "timestep_spacing": "leading",
    "use_karras_sigmas": False,
}


def build_sdxl_random(device: str = "cpu", dtype: Any = None, seed: int = 0) -> Any:
    """A `StableDiffusionXLPipeline` of SDXL base 1.0's architecture with random weights, built
    directly on `device` (on a GPU the random initialisation runs there, in seconds) in `dtype`."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    from hvgen.models import _tiny_clip_tokenizer

    dtype = dtype or torch.float32
    previous = torch.get_default_dtype()
    torch.manual_seed(seed)
    try:
        torch.set_default_dtype(dtype)  # build in the target precision: half the host memory for 16-bit
        with torch.device(device):
            unet = UNet2DConditionModel.from_config(SDXL_UNET)
            vae = AutoencoderKL.from_config(SDXL_VAE)
            text_encoder = CLIPTextModel(CLIPTextConfig(**SDXL_TEXT_ENCODER))
            text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(**SDXL_TEXT_ENCODER_2))
    finally:
        torch.set_default_dtype(previous)
    with tempfile.TemporaryDirectory() as folder:
        tokenizer = _tiny_clip_tokenizer(Path(folder))
        tokenizer_2 = CLIPTokenizer.from_pretrained(folder)
    pipeline = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=tokenizer_2,
        unet=unet,
        scheduler=EulerDiscreteScheduler.from_config(SDXL_SCHEDULER),
        force_zeros_for_empty_prompt=True,
    )
    return pipeline.to(device=device, dtype=dtype)


def parameter_count(pipeline: Any) -> dict[str, int]:
    """Parameters per component (a check that the architecture is SDXL's: UNet ≈ 2.57 B)."""
    return {
        name: sum(p.numel() for p in getattr(pipeline, name).parameters())
        for name in ("unet", "vae", "text_encoder", "text_encoder_2")
    }
