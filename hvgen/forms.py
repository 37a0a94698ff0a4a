"""Parallel forms of a benchmark: the same config under other seeds, made in one command.

Form A keeps the run seed (it is the split one would publish); form k > A gets a seed derived
from it, so `--forms 2 --seed S` always makes the same two forms and any other S other ones.
Each form is an ordinary run directory, OUT/form-a, OUT/form-b, … — `hvgen quality` compares them.
"""

from __future__ import annotations

from pathlib import Path

from hvgen.errors import HvgenError
from hvgen.seeding import derive_seed

MAX_FORMS = 26


def form_name(index: int) -> str:
    """form-a, form-b, … (index from 0)."""
    return f"form-{chr(ord('a') + index)}"


def form_seed(run_seed: int, index: int) -> int:
    """Form A's seed is the run seed; the others derive from it."""
    return run_seed if index == 0 else derive_seed(run_seed, "parallel-form", index)


def form_runs(out: Path, run_seed: int, forms: int) -> list[tuple[Path, int]]:
    """(run directory, seed) of each form."""
    if not 1 <= forms <= MAX_FORMS:
        raise HvgenError(
            f"--forms {forms}: give a number of parallel forms from 1 to {MAX_FORMS} (2 for A and B)."
        )
    return [(out / form_name(index), form_seed(run_seed, index)) for index in range(forms)]
