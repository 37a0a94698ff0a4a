"""CtrLoRA (xyfJASON/ctrlora, arXiv 2410.09400) in hvgen's diffusers render path.

Decision: convert at load, do not run CtrLoRA's own API. Its Base ControlNet is an SD 1.5
ControlNet with one change — no hint encoder: the condition image is encoded by the SD VAE and
fed in place of the noisy latent — and each condition is a LoRA on every linear layer plus its own
zero convolutions and transformer norms. All of that fits a diffusers `ControlNetModel`
(`hvgen.ctrlora.model.CtrLoRAControlNetModel`: the stock forward with the VAE latent as its input
and a zero hint embedding), so the render stage, its seeding, batching, resume and export stay
the same. CtrLoRA's API would instead need its LDM codebase (pytorch-lightning 1.5, torch 1.13,
an SD `.ckpt`), its DDIM sampler and CUDA, and gives no per-image generators.

Selectable per condition: `--controlnet ctrlora:BASE` with `--ctrlora-lora RECIPE=PATH` once per
condition recipe the run uses (`render.ctrlora_loras` in a config); each record's condition
recipe picks its LoRA, and the render stage renders one recipe's images together, switching the
weights in place between groups (`CtrLoRAControlNetModel.use_condition`).

Modules: `checkpoint` (layouts, LDM → diffusers names), `model` (the ControlNet, loading,
condition switching), `spec` (the option checks made before any model loads), `tiny` (random
weights in both layouts for offline tests).
"""

from hvgen.ctrlora.spec import CTRLORA_PREFIX, ctrlora_base, is_ctrlora

__all__ = ["CTRLORA_PREFIX", "ctrlora_base", "is_ctrlora"]
