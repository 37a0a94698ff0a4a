"""The adversarial scenario's settings, checked without torch: the names of the attacks and the
range of each number. A dry run and a refusal of bad input check them here; importing
`hvgen.scenarios.adversarial` (torch, torchattacks) costs seconds and is left to the runs that
attack."""

from __future__ import annotations

import difflib
import math

ATTACKS: dict[str, str] = {
    "pgd": "projected gradient descent with random start (torchattacks.PGD)",
    "fgsm": "single signed-gradient step of size ε (torchattacks.FGSM)",
    "bim": "iterative FGSM without random start (torchattacks.BIM)",
    "mifgsm": "momentum iterative FGSM, decay 1.0 (torchattacks.MIFGSM)",
    "apgd": "auto-PGD with cross-entropy loss, step size adapted (torchattacks.APGD)",
}
"""Attack name → description. All are untargeted L∞ attacks."""

DTYPE_NAMES = ("auto", "float32", "fp32", "float16", "fp16", "bfloat16", "bf16")
"""What `hvgen.models.pick_dtype` accepts."""


def check_attack_name(attack: str) -> None:
    if attack not in ATTACKS:
        close = difflib.get_close_matches(attack, list(ATTACKS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown attack {attack!r}.{hint} Valid: {', '.join(ATTACKS)}.")


def check_attack_settings(attack: str, eps: float, steps: int, batch_size: int, dtype: str = "auto") -> None:
    """Raise ValueError for an unknown attack or dtype, or a number out of range."""
    check_attack_name(attack)
    if not 0 < eps <= 1:
        raise ValueError(f"eps must be in (0, 1] (pixel scale [0, 1]), got {eps}")
    if math.floor(eps * 255 + 1e-6) < 1:
        raise ValueError(f"eps={eps} is below one 8-bit level (1/255); the saved image could not change")
    if steps < 1 or batch_size < 1:
        raise ValueError("steps and batch_size must be ≥ 1")
    if dtype not in DTYPE_NAMES:
        raise ValueError(f"unknown dtype {dtype!r}: use auto, float32, float16 or bfloat16")
