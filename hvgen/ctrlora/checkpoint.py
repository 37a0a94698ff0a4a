"""CtrLoRA checkpoint files: which layout a file is, and its tensors under diffusers' names.

Two layouts are read (see hvgen.ctrlora for why both, and what each holds):

* ``ldm`` — as CtrLoRA's own code saves them (`scripts/tool_extract_weights.py`): a base file
  whose keys are ``control_model.<LDM ControlNet key>`` with no ``input_hint_block`` (CtrLoRA
  deletes it), and per-condition files holding ``control_model.<linear>.lora_layer.{down,up}.weight``
  for every linear layer plus that condition's zero convolutions (``zero_convs.*``,
  ``middle_block_out.*``) and transformer norms (keys with ``norm``). `.ckpt`/`.pt`/`.pth`
  (torch pickle, optionally under ``state_dict``) or `.safetensors`.
* ``diffusers`` — a base folder written by `ControlNetModel.save_pretrained` plus a
  ``ctrlora.json`` marker, and per-condition `.safetensors` files holding peft-named LoRA factors
  (``<module>.lora_A.weight`` = down, ``<module>.lora_B.weight`` = up) and the condition's zero
  convolution / norm tensors under diffusers' parameter names.

LDM keys are renamed with diffusers' own ControlNet converter
(`diffusers.loaders.single_file_utils.convert_controlnet_checkpoint`, the code behind
`ControlNetModel.from_single_file`), run on key names only, so the rename table is diffusers'.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError

LDM_PREFIX = "control_model."
MARKER = "ctrlora.json"  # what makes a diffusers ControlNet folder a CtrLoRA base
MARKER_FORMAT = "ctrlora-base"
PICKLE_SUFFIXES = (".ckpt", ".pt", ".pth", ".bin")
WEIGHT_SUFFIXES = (*PICKLE_SUFFIXES, ".safetensors")
LORA_DOWN, LORA_UP = ".lora_layer.down.weight", ".lora_layer.up.weight"
PEFT_DOWN, PEFT_UP = ".lora_A.weight", ".lora_B.weight"
HINT_EMBEDDING = "controlnet_cond_embedding."
PAD = "_hvgen_pad"
PER_TASK = (
    ".lora_layer.",
    "loras_dict.",
    "loras_list.",
    "zero_convs_list.",
    "norms_list.",
    ".conv_layer.",
    ".norm_layer.",
)  # diffusers' hint encoder; CtrLoRA uses the VAE


@dataclass
class ConditionLoRA:
    """One condition's weights in diffusers names: LoRA factors per linear module (merged as
    W + up @ down, CtrLoRA's scale 1) and tensors that replace the base's (zero convs, norms)."""

    source: str
    layout: str
    factors: dict[str, tuple[Any, Any]] = field(default_factory=dict)  # module → (down, up)
    replaced: dict[str, Any] = field(default_factory=dict)  # parameter key → tensor


def weight_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix in (".safetensors", ".bin") and p.is_file())


def read_tensors(path: Path) -> dict[str, Any]:
    """A state dict from a `.safetensors` or torch pickle file (weights only: no code runs)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            return load_file(str(path))
        except Exception as error:  # SafetensorError, OSError
            raise HvgenError(f"{path}: not a readable safetensors file ({_first_line(error)}).") from None
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception:  # not a zip archive: an old-style pickle, which mmap cannot map
        try:
            data = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:
            raise HvgenError(
                f"{path}: not a readable torch checkpoint of tensors ({_first_line(error)})."
            ) from None
    while isinstance(data, dict) and isinstance(data.get("state_dict"), dict):
        data = data["state_dict"]
    if not isinstance(data, dict) or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise HvgenError(f"{path}: holds no state dict of tensors, so it is not a CtrLoRA checkpoint.")
    return data


def read_keys(path: Path) -> list[str]:
    """The tensor names of a checkpoint file (safetensors: the header only)."""
    if path.suffix == ".safetensors":
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="pt") as handle:
                return list(handle.keys())
        except Exception as error:
            raise HvgenError(f"{path}: not a readable safetensors file ({_first_line(error)}).") from None
    return list(read_tensors(path))


def base_layout(path: Path) -> str:
    """'ldm' or 'diffusers' for a CtrLoRA base, or one error saying what the path is instead."""
    if path.is_dir():
        if not (path / MARKER).is_file():
            raise HvgenError(
                f"ctrlora:{path}: the folder holds no {MARKER}, so it is not a CtrLoRA base in diffusers layout (a "
                f'ControlNetModel.save_pretrained folder plus {MARKER} = {{"format": "{MARKER_FORMAT}"}}); '
                "a plain ControlNet folder is --controlnet DIR."
            )
        marker = _read_marker(path / MARKER)
        if marker.get("format") != MARKER_FORMAT:
            raise HvgenError(
                f"{path / MARKER}: 'format' must be \"{MARKER_FORMAT}\", got {marker.get('format')!r}."
            )
        if not (path / "config.json").is_file() or not weight_files(path):
            raise HvgenError(
                f"ctrlora:{path}: a CtrLoRA base folder needs config.json and its weights "
                "(diffusion_pytorch_model.safetensors), as ControlNetModel.save_pretrained writes them."
            )
        return "diffusers"
    if not path.is_file():
        raise HvgenError(
            f"ctrlora:{path}: no such file or folder (a CtrLoRA base .ckpt/.safetensors, or a folder)."
        )
    if path.suffix not in WEIGHT_SUFFIXES:
        raise HvgenError(
            f"ctrlora:{path}: a CtrLoRA base file is {', '.join(WEIGHT_SUFFIXES)}, not '{path.suffix}'."
        )
    keys = read_keys(path)
    control = [k for k in keys if k.startswith(LDM_PREFIX)]
    if not any(k.startswith(LDM_PREFIX + "input_blocks.") for k in control):
        raise HvgenError(
            f"ctrlora:{path}: not a CtrLoRA base checkpoint: no '{LDM_PREFIX}input_blocks.*' keys (CtrLoRA saves the "
            "base ControlNet under control_model.*, e.g. ctrlora_sd15_basecn700k.ckpt)."
        )
    if any(k.startswith(LDM_PREFIX + "input_hint_block.") for k in control):
        raise HvgenError(
            f"ctrlora:{path}: this ControlNet has an input_hint_block, so it is a standard ControlNet, not a CtrLoRA "
            "base (CtrLoRA deletes that block and feeds the VAE-encoded condition). Convert it to diffusers and pass "
            "--controlnet DIR."
        )
    return "ldm"


def lora_layout(path: Path, recipe: str) -> str:
    """'ldm' or 'diffusers' for a condition LoRA file, or one error."""
    where = f"--ctrlora-lora {recipe}={path}"
    if not path.is_file():
        raise HvgenError(f"{where}: no such file (a CtrLoRA condition LoRA, .ckpt or .safetensors).")
    if path.suffix not in WEIGHT_SUFFIXES:
        raise HvgenError(
            f"{where}: a CtrLoRA LoRA file is {', '.join(WEIGHT_SUFFIXES)}, not '{path.suffix}'."
        )
    keys = read_keys(path)
    if any(k.startswith(LDM_PREFIX) and k.endswith(LORA_DOWN) for k in keys):
        return "ldm"
    if any(k.endswith(PEFT_DOWN) for k in keys) and not any(k.startswith(LDM_PREFIX) for k in keys):
        return "diffusers"
    raise HvgenError(
        f"{where}: not a CtrLoRA condition LoRA: no '{LDM_PREFIX}*{LORA_DOWN}' keys (CtrLoRA's layout) nor "
        f"'*{PEFT_DOWN}' keys (diffusers/peft layout)."
    )


def _read_marker(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise HvgenError(f"{path}: not a JSON object ({_first_line(error)}).") from None
    if not isinstance(data, dict):
        raise HvgenError(f'{path}: must be a JSON object like {{"format": "{MARKER_FORMAT}"}}.')
    return data


# ---------------------------------------------------------------- LDM → diffusers key names


def ldm_key_map(ldm_keys: list[str], layers_per_block: int) -> dict[str, str]:
    """LDM ControlNet key (without `control_model.`) → diffusers key, from diffusers' converter
    run on the names (its values are passed through untouched, so strings stand in for tensors)."""
    from diffusers.loaders.single_file_utils import convert_controlnet_checkpoint

    # Prefixed, as in a whole LDM checkpoint: unprefixed, the converter wants time_embed.0.
    named = {LDM_PREFIX + key: key for key in ldm_keys}
    # The converter counts blocks by the indices it sees: a LoRA file has no tensor in a
    # downsampling block, so every index up to the highest is padded with a placeholder.
    for stem in ("input_blocks", "middle_block"):
        indices = [int(k.split(".")[1]) for k in ldm_keys if k.startswith(stem + ".")]
        named.update({f"{LDM_PREFIX}{stem}.{i}.0.{PAD}": PAD for i in range(max(indices, default=-1) + 1)})
    converted = convert_controlnet_checkpoint(named, {"layers_per_block": layers_per_block})
    mapping = {ldm: new for new, ldm in converted.items() if isinstance(ldm, str) and ldm != PAD}
    unmapped = sorted(set(ldm_keys) - set(mapping))
    if unmapped:
        raise HvgenError(
            f"{len(unmapped)} LDM ControlNet keys have no diffusers name (e.g. {unmapped[0]}): the checkpoint is not "
            "an SD 1.5-style ControlNet."
        )
    return mapping


def base_state_dict(path: Path, layout: str, layers_per_block: int) -> dict[str, Any]:
    """The base ControlNet's tensors under diffusers names, without a hint encoder."""
    if layout == "diffusers":
        state: dict[str, Any] = {}
        for file in weight_files(path):
            state.update(read_tensors(file))
        return {k: v for k, v in state.items() if not k.startswith(HINT_EMBEDDING)}
    raw = read_tensors(path)
    control = {
        k[len(LDM_PREFIX) :]: v for k, v in raw.items() if k.startswith(LDM_PREFIX) and not _per_task(k)
    }
    mapping = ldm_key_map(list(control), layers_per_block)
    return {mapping[k]: v for k, v in control.items()}


def _per_task(key: str) -> bool:
    """A per-condition copy in a saved training/inference state (the LoRA layer last switched
    in, `loras_dict`/`loras_list`, switchable convs' and norms' copies): not the base's."""
    return any(part in key for part in PER_TASK)


def read_lora(path: Path, recipe: str, layout: str, layers_per_block: int) -> ConditionLoRA:
    """A condition LoRA file's factors and replaced tensors, under diffusers names."""
    raw = read_tensors(path)
    lora = ConditionLoRA(str(path), layout)
    down_suffix, up_suffix = (LORA_DOWN, LORA_UP) if layout == "ldm" else (PEFT_DOWN, PEFT_UP)
    plain: dict[str, Any] = {}
    downs: dict[str, Any] = {}
    ups: dict[str, Any] = {}
    for key, value in raw.items():
        name = key[len(LDM_PREFIX) :] if layout == "ldm" else key
        if layout == "ldm" and not key.startswith(LDM_PREFIX):
            continue  # CtrLoRA's files hold only control_model.*; anything else is not the ControlNet's
        if name.endswith(down_suffix):
            downs[name[: -len(down_suffix)]] = value
        elif name.endswith(up_suffix):
            ups[name[: -len(up_suffix)]] = value
        else:
            plain[name] = value
    if set(downs) != set(ups):
        odd = sorted(set(downs) ^ set(ups))[0]
        raise HvgenError(f"--ctrlora-lora {recipe}={path}: the LoRA of '{odd}' lacks its down or up matrix.")
    if layout == "ldm":
        mapping = ldm_key_map([*plain, *(f"{m}.weight" for m in downs)], layers_per_block)
        plain = {mapping[k]: v for k, v in plain.items()}
        downs = {mapping[f"{m}.weight"].removesuffix(".weight"): v for m, v in downs.items()}
        ups = {mapping[f"{m}.weight"].removesuffix(".weight"): v for m, v in ups.items()}
    lora.factors = {module: (downs[module], ups[module]) for module in downs}
    lora.replaced = plain
    return lora


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__
