"""`--controlnet ctrlora:BASE` and `--ctrlora-lora RECIPE=PATH`: parsing, and the checks made
before a run directory exists or any model loads (light: reads file headers, never weights' values
except a `.ckpt`'s key list)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError

CTRLORA_PREFIX = "ctrlora:"
LORA_OPTION = "--ctrlora-lora"


def is_ctrlora(controlnet: str | None) -> bool:
    return bool(controlnet) and str(controlnet).startswith(CTRLORA_PREFIX)


def ctrlora_base(controlnet: str) -> str:
    """The BASE of `ctrlora:BASE`."""
    return controlnet[len(CTRLORA_PREFIX) :]


def resolve_controlnet(controlnet: str | None) -> str | None:
    """`ctrlora:BASE` with BASE made absolute (a run's config must not depend on the cwd)."""
    if not is_ctrlora(controlnet):
        return controlnet
    base = ctrlora_base(str(controlnet))
    return CTRLORA_PREFIX + (str(Path(base).expanduser().resolve()) if base else "")


def parse_lora_options(values: list[str] | None) -> dict[str, str] | None:
    """RECIPE=PATH pairs (repeated or comma-separated) → {recipe: absolute path}; None if none."""
    if not values:
        return None
    pairs: dict[str, str] = {}
    for value in [part for item in values for part in item.split(",") if part.strip()]:
        recipe, sep, path = value.partition("=")
        recipe, path = recipe.strip(), path.strip()
        if not sep or not recipe or not path:
            raise HvgenError(
                f"{LORA_OPTION} {value!r}: give RECIPE=PATH, e.g. {LORA_OPTION} canny=loras/canny.ckpt."
            )
        if recipe in pairs:
            raise HvgenError(
                f"{LORA_OPTION}: recipe '{recipe}' is given twice ({pairs[recipe]}, {path}); give one."
            )
        pairs[recipe] = str(Path(path).expanduser().resolve())
    return pairs


def check_ctrlora(
    controlnet: str | None, loras: dict[str, str], model: str, used_recipes: list[str] | None
) -> None:
    """One-line refusals of what cannot render: LoRAs without a CtrLoRA base, a base or LoRA file
    that is not CtrLoRA's (either layout), a recipe hvgen does not know, a recipe the run uses
    with no LoRA (`used_recipes`; None = not known yet), or an SDXL model (CtrLoRA is SD 1.5)."""
    for recipe, path in (loras or {}).items():
        if not isinstance(recipe, str) or not isinstance(path, str) or not path:
            raise HvgenError(
                f"render.ctrlora_loras ({LORA_OPTION}): give recipe: path pairs of strings, got {recipe!r}: {path!r}."
            )
    if loras and not is_ctrlora(controlnet):
        raise HvgenError(
            f"{LORA_OPTION} is for a CtrLoRA ControlNet: pass --controlnet ctrlora:BASE (its base checkpoint or folder)."
        )
    if not is_ctrlora(controlnet):
        return
    from hvgen.conditions.recipes import get_recipe, load_recipes
    from hvgen.ctrlora.checkpoint import base_layout, lora_layout

    assert controlnet is not None
    base = ctrlora_base(controlnet)
    if not base:
        raise HvgenError(
            "--controlnet ctrlora: give the base after the colon: ctrlora:PATH (a .ckpt, .safetensors or folder)."
        )
    if not loras:
        raise HvgenError(
            f"--controlnet {controlnet}: a CtrLoRA needs a LoRA per condition recipe: pass {LORA_OPTION} RECIPE=PATH "
            f"(e.g. {LORA_OPTION} canny=ctrlora_sd15_basecn700k_canny.ckpt)."
        )
    if model_is_sdxl(model):
        raise HvgenError(
            f"--controlnet {controlnet} with --model {model}: CtrLoRA's ControlNet is SD 1.5's and the model is "
            "SDXL-shaped; use --model sd15 or an SD 1.5 folder."
        )
    base_layout(Path(base).expanduser())
    recipes = load_recipes()
    for recipe, path in loras.items():
        get_recipe(recipe, recipes)
        lora_layout(Path(path).expanduser(), recipe)
    missing = sorted(set(used_recipes or []) - set(loras))
    if missing:
        raise HvgenError(
            f"--controlnet {controlnet}: no LoRA for condition recipe {', '.join(missing)} used by this run's records; "
            f"pass {LORA_OPTION} {missing[0]}=PATH (given: {', '.join(sorted(loras))})."
        )


def model_is_sdxl(model: str) -> bool | None:
    """Whether `--model` is an SDXL pipeline, from the registry or its model_index.json (a local
    folder, or the Hugging Face cache); None when that cannot be told without loading it."""
    from hvgen.models import MODEL_REGISTRY, looks_like_path

    known = {"sdxl": True, "tiny": True, "sd15": False}
    if model in MODEL_REGISTRY and model in known:
        return known[model]
    index = Path(model).expanduser() / "model_index.json"
    if not index.is_file() and not looks_like_path(model) and "/" in model:
        try:
            from huggingface_hub import try_to_load_from_cache

            cached = try_to_load_from_cache(model, "model_index.json")
        except Exception:  # an id the cache cannot look up
            cached = None
        index = Path(cached) if isinstance(cached, str) else index
    if not index.is_file():
        return None
    try:
        data: Any = json.loads(index.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return "XL" in str(data.get("_class_name", "")) if isinstance(data, dict) else None
