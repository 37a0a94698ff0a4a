"""Model registry: short names for the text-to-image models hvgen knows, and the tiny model.

`--model` takes a registry name (`sdxl`, `sd15`, `tiny`), any diffusers model id on the Hub, or
a local folder. Registry entries carry the defaults the original benchmarks used (Dysca: SDXL
base 1.0, 1024², guidance 7.5, 50 steps).

`tiny` is a random-weight SDXL-shaped pipeline built from configs, saved with `save_pretrained`
under the user cache and loaded back through the normal `from_pretrained` path, so the whole
product runs offline on a CPU and the real loading code is the code under test.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgen.cpu_budget import torch_cpu_threads
from hvgen.errors import HvgenError, ModelLoadError
from hvgen.hub_quiet import quiet_hub_download

TINY_SDXL_VERSION = "v1"
TINY_CONTROLNET_VERSION = "v1"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    model_id: str
    width: int | None
    height: int | None
    steps: int
    guidance: float
    description: str


MODEL_REGISTRY: dict[str, ModelSpec] = {
    "sdxl": ModelSpec(
        "sdxl",
        "stabilityai/stable-diffusion-xl-base-1.0",
        1024,
        1024,
        50,
        7.5,
        "SDXL base 1.0 (Dysca's model)",
    ),
    "sd15": ModelSpec(
        "sd15", "stable-diffusion-v1-5/stable-diffusion-v1-5", 512, 512, 50, 7.5, "Stable Diffusion 1.5"
    ),
    "tiny": ModelSpec(
        "tiny", "tiny", 64, 64, 4, 7.5, "built-in tiny random SDXL-shaped pipeline (offline tests)"
    ),
}

# Defaults for a model id or path that is not in the registry.
GENERIC_DEFAULTS = ModelSpec("custom", "", None, None, 50, 7.5, "any diffusers text-to-image model")


def resolve_model(model: str) -> ModelSpec:
    """The registry entry for a short name, or generic defaults for an id/path."""
    if model in MODEL_REGISTRY:
        return MODEL_REGISTRY[model]
    return ModelSpec(
        model, model, None, None, GENERIC_DEFAULTS.steps, GENERIC_DEFAULTS.guidance, "custom model"
    )


def looks_like_path(model: str) -> bool:
    """Whether `--model` was meant as a folder: './x', '../x', '/x', '~/x', 'a/b/c' or 'C:\\x'.
    A Hub id is OWNER/NAME (one slash, no leading dot or slash)."""
    return (
        model.startswith((".", "/", "~", "\\"))
        or model.count("/") > 1
        or "\\" in model
        or (len(model) > 1 and model[1] == ":")
    )


def check_model(model: str, option: str = "--model") -> None:
    """Refuse a `--model` that cannot be anything, before a run directory is made: a folder
    that does not exist or holds no diffusers pipeline, or a bare name that is neither a
    registry short name nor a Hub id (OWNER/NAME) — e.g. 'tinyy'. Hub ids are checked when the
    model is loaded (that needs the network or the cache)."""
    from hvgen.errors import HvgenError, did_you_mean

    path = Path(model).expanduser()
    if model in MODEL_REGISTRY:
        return
    if path.is_dir():
        if not (path / "model_index.json").is_file():
            raise HvgenError(
                f"{option} {model}: the folder {path.resolve()} holds no model_index.json, so it is not a diffusers "
                "pipeline folder (save one with `pipeline.save_pretrained(DIR)`), or give a Hub id or a short name "
                f"({', '.join(MODEL_REGISTRY)})."
            )
        return
    if path.exists():
        raise HvgenError(
            f"{option} {model}: {path.resolve()} is a file; a local model is a diffusers folder."
        )
    if looks_like_path(model):
        raise HvgenError(
            f"{option} {model}: the folder {path.resolve()} does not exist. Check the path, or use a short name "
            f"({', '.join(MODEL_REGISTRY)}) or a Hub id OWNER/NAME."
        )
    if "/" not in model:
        raise HvgenError(
            f"{option} {model}: unknown model{did_you_mean(model, MODEL_REGISTRY)}. Use a short name "
            f"({', '.join(MODEL_REGISTRY)}; see `hvgen models`), a Hub id OWNER/NAME or a local diffusers folder."
        )


def check_model_reachable(model: str, option: str = "--model") -> None:
    """Refuse a Hub model that is not in the local Hugging Face cache when it cannot be
    downloaded either (HF_HUB_OFFLINE=1, or the Hub's host does not resolve: no network), before
    a run plans anything: one line, not a plan followed by half a minute of retried requests."""
    import os
    import socket
    from urllib.parse import urlparse

    if model in MODEL_REGISTRY and MODEL_REGISTRY[model].name == "tiny":
        return
    model_id = resolve_model(model).model_id
    if Path(model_id).expanduser().exists() or looks_like_path(model_id):
        return  # a folder: check_model looked at it
    from huggingface_hub import constants, try_to_load_from_cache

    if isinstance(try_to_load_from_cache(model_id, "model_index.json"), str):
        return
    offline = os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on")
    why = "HF_HUB_OFFLINE is set"
    if not offline:
        host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
        try:
            socket.getaddrinfo(host, 443)
            return  # online: the download may work (load_pipeline reports it if not)
        except OSError:
            why = f"no network: {host} does not resolve"
    raise ModelLoadError(
        f"{option} {model}: {model_id} is not in the local Hugging Face cache and cannot be downloaded here "
        f"({why}). Use --model tiny for an offline test run, --model PATH for a local diffusers folder, or "
        f"`hf download {model_id}` on a machine with network."
    )


@dataclass(frozen=True)
class RenderSettings:
    """The sampler settings actually used (registry defaults filled in)."""

    steps: int
    guidance: float
    width: int | None
    height: int | None


def resolve_settings(
    config: Any,
) -> RenderSettings:  # a hvgen.config.RenderConfig (config imports this module)
    """The sampler settings a render config means, registry defaults filled in."""
    spec = resolve_model(config.model)
    return RenderSettings(
        steps=config.steps or spec.steps,
        guidance=config.guidance if config.guidance is not None else spec.guidance,
        width=config.width or spec.width,
        height=config.height or spec.height,
    )


def pick_device(requested: str) -> str:
    """The device for `requested`; 'auto' is the GPU, and with several GPUs and LOCAL_RANK set
    (torchrun, `--executor local --workers N`) process k of a node takes cuda:k, instead of every
    process piling onto cuda:0."""
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        rank, count = os.environ.get("LOCAL_RANK", ""), torch.cuda.device_count()
        return f"cuda:{int(rank) % count}" if rank.isdigit() and count > 1 else "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def pick_dtype(requested: str, device: str, cuda_default: str = "float16") -> Any:
    """The torch dtype for a --dtype name; 'auto' is `cuda_default` on CUDA and float32 elsewhere
    (the pipeline renders in fp16 on CUDA; the attack surrogate picks bf16)."""
    import torch

    names = {
        "float32": torch.float32,
        "fp32": torch.float32,
        "float16": torch.float16,
        "fp16": torch.float16,
        "bfloat16": torch.bfloat16,
        "bf16": torch.bfloat16,
    }
    if requested == "auto":
        return names[cuda_default] if str(device).startswith("cuda") else torch.float32
    if requested not in names:
        raise HvgenError(f"unknown --dtype '{requested}': use auto, float32, float16 or bfloat16.")
    return names[requested]


def cache_dir() -> Path:
    """hvgen's cache: $HVGEN_CACHE, else $XDG_CACHE_HOME/hvgen, else ~/.cache/hvgen."""
    if os.environ.get("HVGEN_CACHE"):
        return Path(os.environ["HVGEN_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "hvgen"


def tiny_sdxl_path() -> Path:
    """The tiny pipeline's folder, built on first use."""
    return cached_model_folder(f"tiny-sdxl-{TINY_SDXL_VERSION}", build_tiny_sdxl, "model_index.json")


def model_source(model: str) -> str:
    """The folder or id a pipeline is loaded from (the tiny model's cache folder for 'tiny')."""
    spec = resolve_model(model)
    return str(tiny_sdxl_path()) if spec.name == "tiny" else spec.model_id


def _quiet_tiny_model_warnings() -> None:
    """The tiny model's character-level tokenizer makes every prompt "too long" for CLIP's 77
    tokens; those truncation warnings are noise for a test model (real models keep them)."""
    import diffusers
    import transformers

    diffusers.utils.logging.set_verbosity_error()
    transformers.utils.logging.set_verbosity_error()


def load_pipeline(
    config: Any, controlnet: Callable[[str, Any], Any] | None = None
) -> Any:  # config: a RenderConfig
    """Load any diffusers text-to-image pipeline through `AutoPipelineForText2Image`; with
    `config.controlnet`, its ControlNet variant (SD 1.5 → StableDiffusionControlNetPipeline, SDXL
    → StableDiffusionXLControlNetPipeline: AutoPipeline picks it from the base model's class).
    `controlnet(source, dtype)`, when given, makes the ControlNet instead of `load_controlnet`."""
    import torch
    from diffusers import AutoPipelineForText2Image

    source = model_source(config.model)
    if resolve_model(config.model).name == "tiny":
        _quiet_tiny_model_warnings()
    device = pick_device(config.device)
    dtype = pick_dtype(config.dtype, device)
    extra: dict[str, Any] = {}
    if controlnet is not None:  # loaded by the caller (hvgen.ctrlora.model.load_ctrlora_pipeline)
        extra["controlnet"] = controlnet(source, dtype)
    elif config.controlnet:
        extra["controlnet"] = load_controlnet(config.controlnet, dtype)
    try:
        with warnings.catch_warnings(), quiet_hub_download():
            # diffusers >= 0.41 renamed torch_dtype to dtype; torch_dtype still works on every
            # version we support, so keep it and hide the rename notice.
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            pipeline = AutoPipelineForText2Image.from_pretrained(source, torch_dtype=dtype, **extra)
    except Exception as error:  # diffusers raises OSError, ValueError, HF errors... for a missing model
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ModelLoadError(
            f"cannot load model '{config.model}' ({source}): it is not in the local Hugging Face cache and could not "
            f"be downloaded, or it is not a diffusers text-to-image model. Use --model tiny for an offline test run, "
            f"or --model PATH for a local diffusers folder. [{reason}]"
        ) from None
    pipeline.to(device)
    if device == "cpu":  # torch's default is the machine's cores, not a container's or Slurm's share
        torch.set_num_threads(torch_cpu_threads())
    pipeline.set_progress_bar_config(disable=True)
    if config.vae_tiling and hasattr(pipeline, "vae"):
        pipeline.vae.enable_tiling()
    if config.compile and hasattr(pipeline, "unet"):
        pipeline.unet = torch.compile(pipeline.unet, mode="reduce-overhead", fullgraph=True)
    return pipeline


def cached_model_folder(name: str, build: Callable[[Path], Any], marker: str) -> Path:
    """`$HVGEN_CACHE/<name>`, built by `build(folder)` on first use: in a temporary sibling
    folder renamed into place, so a crash never leaves a half-written model and concurrent
    processes (shards) never see one; the loser of a race discards its copy. `marker` is a file
    the finished folder holds."""
    target = cache_dir() / name
    if (target / marker).is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target.parent))
    try:
        build(staging)
        shareable_dir(staging)
        try:
            staging.rename(target)
        except OSError:  # another process won the race: use its copy
            if not (target / marker).is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def shareable_dir(folder: Path) -> None:
    """Give a model folder the modes an ordinary `mkdir` / `open()` would have (0777 / 0666 minus
    the umask): `tempfile.mkdtemp` makes it 0700 and `save_pretrained` writes some weights 0600,
    which would lock teammates out of a cache shared on a cluster."""
    from hvgen.store.atomic import _umask

    umask = _umask()
    for root, folders, files in os.walk(folder):
        for name in files:
            os.chmod(os.path.join(root, name), 0o666 & ~umask)
        for name in folders:
            os.chmod(os.path.join(root, name), 0o777 & ~umask)
    os.chmod(folder, 0o777 & ~umask)


def build_tiny_sdxl(directory: Path, seed: int = 0) -> Path:
    """Build and `save_pretrained` a tiny random SDXL pipeline (sizes from NOTES.md: ~0.1 s/image)."""
    import torch
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionXLPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(32, 64),
        layers_per_block=2,
        sample_size=32,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 * 8 + 32
        cross_attention_dim=64,
    )
    vae = AutoencoderKL(
        block_out_channels=[32, 64],
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D", "DownEncoderBlock2D"],
        up_block_types=["UpDecoderBlock2D", "UpDecoderBlock2D"],
        latent_channels=4,
        sample_size=64,
    )
    text_config = CLIPTextConfig(
        bos_token_id=0,
        eos_token_id=2,
        hidden_size=32,
        intermediate_size=37,
        layer_norm_eps=1e-05,
        num_attention_heads=4,
        num_hidden_layers=5,
        pad_token_id=1,
        vocab_size=1000,
        hidden_act="gelu",
        projection_dim=32,
    )
    text_encoder = CLIPTextModel(text_config)
    text_encoder_2 = CLIPTextModelWithProjection(text_config)
    tokenizer = _tiny_clip_tokenizer(directory / "_tokenizer_src")
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085,
        beta_end=0.012,
        beta_schedule="scaled_linear",
        timestep_spacing="leading",
        steps_offset=1,
    )
    pipeline = StableDiffusionXLPipeline(
        vae=vae,
        text_encoder=text_encoder,
        text_encoder_2=text_encoder_2,
        tokenizer=tokenizer,
        tokenizer_2=CLIPTokenizer.from_pretrained(directory / "_tokenizer_src"),
        unet=unet,
        scheduler=scheduler,
    )
    pipeline.save_pretrained(directory)
    shutil.rmtree(directory / "_tokenizer_src", ignore_errors=True)
    return directory


def _tiny_clip_tokenizer(
    directory: Path, specials: tuple[str, ...] = ("<|startoftext|>", "<|padding|>", "<|endoftext|>")
):
    """A CLIP BPE tokenizer over a small byte-level vocabulary (no download needed).

    `model_max_length=77` matters: the SDXL pipeline pads prompts to it. `specials` come first in
    the vocabulary, in that order (OWL-ViT drops a text query whose first token has id 0, so its
    tiny model puts the padding token there).
    """
    import json

    from transformers import CLIPTokenizer

    directory.mkdir(parents=True, exist_ok=True)
    alphabet = byte_level_alphabet()
    tokens = list(specials) + alphabet + [c + "</w>" for c in alphabet]
    vocab = {token: index for index, token in enumerate(tokens[:1000])}
    (directory / "vocab.json").write_text(json.dumps(vocab), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n", encoding="utf-8")
    # from_pretrained reads vocab.json + merges.txt on both transformers 4 and 5 (their
    # constructors differ), so it is the portable way to build a tokenizer from files.
    tokenizer = CLIPTokenizer.from_pretrained(directory, model_max_length=77, pad_token="<|endoftext|>")
    tokenizer.save_pretrained(directory)
    return tokenizer


def byte_level_alphabet() -> list[str]:
    """The 256 printable stand-ins for bytes used by CLIP/GPT-2 byte-level BPE."""
    printable = (
        list(range(ord("!"), ord("~") + 1))
        + list(range(ord("¡"), ord("¬") + 1))
        + list(range(ord("®"), ord("ÿ") + 1))
    )
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(code) for code in codes]


def seeded_generators(device: Any, seeds: list[int]) -> list[Any]:
    """One `torch.Generator` per image, each seeded on its own, so an image does not depend on its
    batch neighbours. MPS has no generators of its own: they live on the CPU there."""
    import torch

    generator_device = "cpu" if getattr(device, "type", str(device)) == "mps" else device
    return [torch.Generator(device=generator_device).manual_seed(seed) for seed in seeds]


# ---------------------------------------------------------------- ControlNet


def check_controlnet(controlnet: str) -> None:
    """Refuse a `--controlnet` that cannot be anything (as `check_model` does for `--model`): a
    folder without a ControlNet's config.json, or a bare name that is neither `tiny` nor a Hub id.
    `ctrlora:BASE` is checked with its LoRAs by hvgen.ctrlora.spec.check_ctrlora."""
    path = Path(controlnet).expanduser()
    if controlnet == "tiny" or controlnet.startswith("ctrlora:"):
        return
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise HvgenError(
                f"--controlnet {controlnet}: the folder {path.resolve()} holds no config.json, so it is not a diffusers "
                "ControlNetModel folder (save one with `controlnet.save_pretrained(DIR)`)."
            )
        return
    if path.exists() or looks_like_path(controlnet) or "/" not in controlnet:
        raise HvgenError(
            f"--controlnet {controlnet}: not a ControlNet folder, Hub id OWNER/NAME, or 'tiny' (the built-in tiny "
            "random ControlNet for offline runs)."
        )


def tiny_controlnet_path() -> Path:
    """The tiny ControlNet's folder (matching the tiny pipeline's UNet), built on first use."""
    return cached_model_folder(
        f"tiny-controlnet-{TINY_CONTROLNET_VERSION}", build_tiny_controlnet, "config.json"
    )


def load_controlnet(controlnet: str, dtype: Any) -> Any:
    """A diffusers `ControlNetModel` from `tiny`, a local folder or a Hub id (via from_pretrained)."""
    from diffusers import ControlNetModel

    if controlnet.startswith("ctrlora:"):
        raise HvgenError(
            f"--controlnet {controlnet}: load it with hvgen.ctrlora.model.load_ctrlora_pipeline."
        )
    source = str(tiny_controlnet_path()) if controlnet == "tiny" else controlnet
    try:
        with warnings.catch_warnings(), quiet_hub_download():
            warnings.filterwarnings("ignore", message=".*torch_dtype.*", category=FutureWarning)
            return ControlNetModel.from_pretrained(source, torch_dtype=dtype)
    except Exception as error:  # OSError, ValueError, HF errors ... for a missing or wrong model
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ModelLoadError(
            f"cannot load ControlNet '{controlnet}' ({source}): not in the local Hugging Face cache and not "
            f"downloadable here, or not a diffusers ControlNetModel. Use --controlnet tiny offline. [{reason}]"
        ) from None


def build_tiny_controlnet(directory: Path, seed: int = 1) -> Path:
    """A random ControlNet built from the tiny UNet's config (`ControlNetModel.from_unet`, one
    downsampling step in the condition embedding: the tiny VAE's latents are half the image
    size). Its zero convolutions get small random weights: a real ControlNet starts at zero and
    learns them, and at zero the condition would not change a tiny render at all."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(tiny_sdxl_path() / "unet")
    torch.manual_seed(seed)
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
    with torch.no_grad():
        for block in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
            block.weight.normal_(0.0, 0.05)
        controlnet.controlnet_cond_embedding.conv_out.weight.normal_(0.0, 0.05)
    controlnet.save_pretrained(directory)
    return directory
