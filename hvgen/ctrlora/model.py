"""The CtrLoRA ControlNet inside a diffusers ControlNet pipeline.

`CtrLoRAControlNetModel` is a diffusers `ControlNetModel` (so the SD 1.5 ControlNet pipeline takes
it as is) with CtrLoRA's one architectural difference: no hint encoder. CtrLoRA deletes
`input_hint_block` and runs its ControlNet on the condition image encoded by the pipeline's VAE
(the image in [0, 1], times the VAE's scaling factor), instead of on the noisy latent plus an
encoded hint (`cldm/cldm_ctrlora_*.py`: `control_model(hint=encode(hint), ...)`). The diffusers
forward is reused unchanged: the latent goes in as `sample` and the hint embedding adds zero.

Conditions are switched in place (`use_condition`): the base tensors a LoRA touches are kept, and
a condition's weights are written over them — every linear layer W + up @ down (CtrLoRA's LoRA
scale is 1), its own zero convolutions and norms. The render stage renders one condition's images
together, so a switch costs a few small matrix products per batch group, not a second model.
Not peft adapters: a condition also replaces zero convolutions and norms, which an adapter does
not hold, and a merged weight costs nothing per denoising step.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from diffusers import ControlNetModel
from torch import nn

from hvgen.ctrlora.checkpoint import (
    HINT_EMBEDDING,
    ConditionLoRA,
    base_layout,
    base_state_dict,
    lora_layout,
    read_lora,
)
from hvgen.errors import HvgenError, ModelLoadError


class NoHint(nn.Module):
    """Stands where diffusers' hint encoder was: CtrLoRA's condition arrives as the sample."""

    def forward(self, conditioning: Any) -> Any:
        return conditioning.new_zeros(())


@dataclass
class _Encoded:
    image: Any
    latent: Any


class CtrLoRAControlNetModel(ControlNetModel):
    """A diffusers ControlNet fed the VAE latent of its condition, with per-condition LoRAs."""

    def forward(
        self, sample: Any, timestep: Any, encoder_hidden_states: Any, controlnet_cond: Any, *args, **kw
    ):
        return super().forward(
            self._latent(controlnet_cond), timestep, encoder_hidden_states, controlnet_cond, *args, **kw
        )

    def attach_vae(self, vae: Any) -> None:
        """The pipeline's VAE, kept outside the module tree (not saved, not moved twice)."""
        self.__dict__["_ctrlora_vae"] = vae
        self.__dict__["_ctrlora_cache"] = None

    def _latent(self, image: Any) -> Any:
        """The condition's VAE latent (the posterior's mean: CtrLoRA samples it, which would make
        a render depend on more than its seed). Cached: the pipeline passes the same tensor at
        every step."""
        import torch

        cached = self.__dict__.get("_ctrlora_cache")
        if cached is not None and cached.image is image:
            return cached.latent
        vae = self.__dict__.get("_ctrlora_vae")
        if vae is None:
            raise HvgenError("CtrLoRA ControlNet: attach_vae(pipeline.vae) was not called after loading.")
        with torch.no_grad():
            posterior = vae.encode(image.to(device=vae.device, dtype=vae.dtype)).latent_dist
            latent = (posterior.mode() * vae.config.scaling_factor).to(dtype=self.dtype)
        self.__dict__["_ctrlora_cache"] = _Encoded(image, latent)
        return latent

    # -------------------------------------------------------------- conditions

    def add_conditions(self, loras: dict[str, ConditionLoRA]) -> None:
        """Check every LoRA against this model and keep it (and the base tensors it touches)."""
        params = dict(self.named_parameters())
        linears = {name for name, module in self.named_modules() if isinstance(module, nn.Linear)}
        base = self.__dict__.setdefault("_ctrlora_base", {})
        kept = self.__dict__.setdefault("_ctrlora_loras", {})
        for recipe, lora in loras.items():
            _check_lora(lora, f"--ctrlora-lora {recipe}={lora.source}", params, linears, _replaceable(self))
            for key in [*(f"{m}.weight" for m in lora.factors), *lora.replaced]:
                base.setdefault(key, params[key].detach().clone())
            kept[recipe] = lora
        self.__dict__["_ctrlora_active"] = None

    @property
    def conditions(self) -> list[str]:
        return sorted(self.__dict__.get("_ctrlora_loras", {}))

    def use_condition(self, recipe: str | None) -> None:
        """Make the weights those of `recipe`'s LoRA (None: the base alone)."""
        import torch

        if recipe == self.__dict__.get("_ctrlora_active", None):
            return
        loras = self.__dict__.get("_ctrlora_loras", {})
        if recipe is not None and recipe not in loras:
            raise HvgenError(
                f"CtrLoRA: no LoRA for condition recipe '{recipe}' (loaded: {', '.join(sorted(loras)) or 'none'}); "
                f"pass --ctrlora-lora {recipe}=PATH."
            )
        params = dict(self.named_parameters())
        with torch.no_grad():
            for key, value in self.__dict__["_ctrlora_base"].items():
                params[key].copy_(value)
            if recipe is not None:
                lora = loras[recipe]
                for module, (down, up) in lora.factors.items():
                    weight = params[f"{module}.weight"]
                    delta = up.to(weight.device, torch.float32) @ down.to(weight.device, torch.float32)
                    weight.copy_((weight.float() + delta).to(weight.dtype))
                for key, value in lora.replaced.items():
                    params[key].copy_(value.to(params[key].device, params[key].dtype))
        self.__dict__["_ctrlora_active"] = recipe


def _check_lora(
    lora: ConditionLoRA, where: str, params: dict[str, Any], linears: set[str], replaceable: set[str]
) -> None:
    """A LoRA fits the base: one on every linear layer, each of the layer's shape, and only zero
    convolutions and norms replaced, at their shapes."""
    unknown = sorted(set(lora.factors) - linears) + sorted(set(lora.replaced) - replaceable)
    if unknown:
        raise ModelLoadError(
            f"{where}: {len(unknown)} tensors match no linear, norm or zero-convolution layer of the base "
            f"ControlNet (e.g. {unknown[0]}): the LoRA was trained for another base."
        )
    missing = sorted(linears - set(lora.factors))
    if missing:
        raise ModelLoadError(
            f"{where}: no LoRA for {len(missing)} of the base's {len(linears)} linear layers (e.g. {missing[0]}); "
            "CtrLoRA puts one on every linear layer."
        )
    for module, (down, up) in lora.factors.items():
        out, inp = params[f"{module}.weight"].shape
        if down.ndim != 2 or up.ndim != 2 or down.shape[1] != inp or up.shape != (out, down.shape[0]):
            raise ModelLoadError(
                f"{where}: the LoRA of {module} is {tuple(up.shape)} @ {tuple(down.shape)}, the layer {(out, inp)}: "
                "the LoRA was trained for another base."
            )
    for key, value in lora.replaced.items():
        if value.shape != params[key].shape:
            raise ModelLoadError(
                f"{where}: {key} is {tuple(value.shape)}, the base's is {tuple(params[key].shape)}."
            )


def _replaceable(model: nn.Module) -> set[str]:
    """Parameters a condition may bring its own of: zero convolutions and norm layers."""
    names = set()
    for name, module in model.named_modules():
        if name.startswith(("controlnet_down_blocks", "controlnet_mid_block")) or isinstance(
            module, nn.GroupNorm | nn.LayerNorm
        ):
            names.update(f"{name}.{p}" for p, _ in module.named_parameters(recurse=False))
    return names


def build_controlnet(
    unet_config: dict[str, Any], state: dict[str, Any], where: str
) -> CtrLoRAControlNetModel:
    """A CtrLoRA ControlNet shaped like the pipeline's UNet, holding exactly `state`'s tensors
    (every parameter from the file, none left over: `load_state_dict(strict=True)`)."""
    import torch
    from diffusers import UNet2DConditionModel

    with torch.device("meta"):
        unet = UNet2DConditionModel.from_config(unet_config)
        model = CtrLoRAControlNetModel.from_unet(unet, load_weights_from_unet=False)
    model.controlnet_cond_embedding = NoHint()
    _load_exact(model, state, where)
    return model


def build_from_folder(folder: Path, state: dict[str, Any], where: str) -> CtrLoRAControlNetModel:
    """A CtrLoRA ControlNet from a diffusers-layout base folder's config.json and `state`."""
    import torch

    config = CtrLoRAControlNetModel.load_config(str(folder))
    with torch.device("meta"):
        model = CtrLoRAControlNetModel.from_config(config)
    model.controlnet_cond_embedding = NoHint()
    _load_exact(model, state, where)
    return model


def _load_exact(model: nn.Module, state: dict[str, Any], where: str) -> None:
    expected = dict(model.state_dict())
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        example = (missing or unexpected)[0]
        raise ModelLoadError(
            f"{where}: the checkpoint does not fit a ControlNet shaped like the model's UNet: {len(missing)} tensors "
            f"missing, {len(unexpected)} unexpected (e.g. {example}): the CtrLoRA was made for another base model."
        )
    for key, value in state.items():
        if tuple(value.shape) != tuple(expected[key].shape):
            raise ModelLoadError(
                f"{where}: {key} is {tuple(value.shape)} in the checkpoint but {tuple(expected[key].shape)} in a "
                "ControlNet shaped like the model's UNet: the CtrLoRA was made for another base model."
            )
    model.load_state_dict({k: v.float() for k, v in state.items()}, strict=True, assign=True)


def load_ctrlora(
    base: str, loras: dict[str, str], unet_config: dict[str, Any], dtype: Any
) -> CtrLoRAControlNetModel:
    """The base ControlNet (LDM checkpoint or diffusers folder) with every recipe's LoRA."""
    path = Path(base).expanduser()
    where = f"--controlnet ctrlora:{base}"
    layout = base_layout(path)
    check_unet(unet_config, where)
    if layout == "diffusers":
        check_fits(CtrLoRAControlNetModel.load_config(str(path)), unet_config, where)
    layers = int(unet_config.get("layers_per_block", 2))
    state = base_state_dict(path, layout, layers)
    model = (
        build_controlnet(unet_config, state, where)
        if layout == "ldm"
        else build_from_folder(path, state, where)
    )
    read = {
        recipe: read_lora(
            Path(file).expanduser(), recipe, lora_layout(Path(file).expanduser(), recipe), layers
        )
        for recipe, file in loras.items()
    }
    nn.Module.to(model, dtype=dtype)  # ModelMixin.to warns about fp32-only modules: it has none
    model.add_conditions(read)
    return model


def load_ctrlora_pipeline(config: Any) -> Any:
    """The render config's pipeline with its CtrLoRA ControlNet (`config.controlnet` =
    ctrlora:BASE, LoRAs `config.ctrlora_loras`), which reads conditions through the pipeline's VAE."""
    from hvgen.ctrlora.spec import check_ctrlora
    from hvgen.models import load_pipeline

    check_ctrlora(config.controlnet, config.ctrlora_loras, config.model, None)
    pipeline = load_pipeline(
        config, controlnet=lambda source, dtype: load_for_pipeline(config, source, dtype)
    )
    pipeline.controlnet.attach_vae(pipeline.vae)
    return pipeline


def load_for_pipeline(config: Any, source: str, dtype: Any) -> CtrLoRAControlNetModel:
    """`config.controlnet` (ctrlora:BASE) with `config.ctrlora_loras`, shaped by the UNet config of
    the pipeline at `source` (read before the pipeline itself loads)."""
    from diffusers import UNet2DConditionModel

    from hvgen.ctrlora.spec import ctrlora_base
    from hvgen.hub_quiet import quiet_hub_download

    try:
        with quiet_hub_download():
            unet_config = dict(UNet2DConditionModel.load_config(source, subfolder="unet"))
    except Exception as error:  # OSError, HF errors: not cached and not downloadable
        raise ModelLoadError(
            f"--controlnet {config.controlnet}: cannot read the UNet config of model '{config.model}' ({source}), "
            f"which the CtrLoRA ControlNet is shaped by. [{str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__}]"
        ) from None
    return load_ctrlora(ctrlora_base(config.controlnet), config.ctrlora_loras, unet_config, dtype)


def check_unet(unet_config: dict[str, Any], where: str) -> None:
    """CtrLoRA is an SD 1.5 method: its ControlNet has no SDXL added-condition embedding."""
    if unet_config.get("addition_embed_type"):
        raise HvgenError(
            f"{where}: the model is SDXL-shaped (its UNet takes added text/time embeddings), and CtrLoRA's "
            "ControlNet is SD 1.5's; use an SD 1.5 model (--model sd15 or an SD 1.5 folder)."
        )


FITTING_KEYS = (
    "block_out_channels",
    "cross_attention_dim",
    "layers_per_block",
    "down_block_types",
    "in_channels",
)


def check_fits(controlnet_config: dict[str, Any], unet_config: dict[str, Any], where: str) -> None:
    """A ControlNet's residuals are added to the UNet's blocks: their shapes must agree."""
    for key in FITTING_KEYS:
        mine, theirs = controlnet_config.get(key), unet_config.get(key)
        if theirs is not None and mine is not None and list(_listed(mine)) != list(_listed(theirs)):
            raise HvgenError(
                f"{where}: its {key} is {mine}, the model's UNet has {theirs}: the CtrLoRA was made for another "
                "base model."
            )


def _listed(value: Any) -> Any:
    return value if isinstance(value, list | tuple) else [value]


__all__ = ["HINT_EMBEDDING", "CtrLoRAControlNetModel", "NoHint", "build_controlnet", "load_ctrlora"]
