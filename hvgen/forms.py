"""Parallel forms of a benchmark: the same config under other seeds, made in one command.

Form A keeps the run seed (it is the split one would publish); form k > A gets a seed derived
from it, so `--forms 2 --seed S` always makes the same two forms and any other S other ones.
Each form is an ordinary run directory, OUT/form-a, OUT/form-b, … — `hvgen quality` compares them.

Question ids are content hashes. A rendered question's content includes its image, whose id
includes the run seed, so two forms never share one. A question about a source photograph (Face
QA `--source`, HERM) is the same question in every run that asks it, and keeps its id: two forms
drawn from one source by different seeds share the questions about the photos both drew — many,
when the source is small next to `--num`. Giving them seed-dependent ids would only hide that;
`hvgen quality` counts the shared ids instead and says why (`shared_questions`), and refuses two
forms that hold the very same questions.
"""

from __future__ import annotations

from pathlib import Path

from hvgen.errors import HvgenError
from hvgen.ranges import FORMS
from hvgen.seeding import derive_seed


def form_name(index: int) -> str:
    """form-a, form-b, … (index from 0)."""
    return f"form-{chr(ord('a') + index)}"


def form_seed(run_seed: int, index: int) -> int:
    """Form A's seed is the run seed; the others derive from it."""
    return run_seed if index == 0 else derive_seed(run_seed, "parallel-form", index)


def form_runs(out: Path, run_seed: int, forms: int) -> list[tuple[Path, int]]:
    """(run directory, seed) of each form."""
    FORMS.check("--forms", forms)
    return [(out / form_name(index), form_seed(run_seed, index)) for index in range(forms)]


SHARED_WHY = (
    "question ids are content hashes, and a question about a source photograph (Face QA --source, HERM) has the "
    "same id in every run that asks it: the two forms drew some of the same photos from one source, a pool small "
    "next to --num. Items in both forms make parallel-forms reliability look higher than it is; draw the forms "
    "from a larger source, or with a smaller --num."
)


def shared_questions(ids_a: set[str], ids_b: set[str]) -> dict[str, object]:
    """How many question ids two forms share (and why that happens), for the quality report."""
    shared = ids_a & ids_b
    return {
        "count": len(shared),
        "share_of_form_a": round(len(shared) / len(ids_a), 4) if ids_a else 0.0,
        "share_of_form_b": round(len(shared) / len(ids_b), 4) if ids_b else 0.0,
        "examples": sorted(shared)[:5],
        "why": SHARED_WHY if shared else None,
    }


def check_distinct_forms(ids_a: set[str], ids_b: set[str], form_a: Path, form_b: Path) -> None:
    """Refuse two 'forms' that are one run (or a run and its export): their reliability is 1 by
    construction, and says nothing about the benchmark."""
    same_folder = form_a.resolve() == form_b.resolve()
    if same_folder or (ids_a and ids_a == ids_b):
        what = "are the same folder" if same_folder else f"hold the same {len(ids_a)} questions"
        raise HvgenError(
            f"RUN_A {form_a} and RUN_B {form_b} {what}: parallel forms are two runs of one config with "
            "different seeds (their reliability against themselves is 1 by construction). Make them with "
            "`hvgen BENCHMARK ... --forms 2`."
        )
