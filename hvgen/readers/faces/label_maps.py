"""The label maps of label_maps.yaml, loaded once from the installed package: each source's
index → unified-name map is data that a test checks against the published listing."""

from __future__ import annotations

from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hvgen.errors import HvgenError
from hvgen.readers.faces.base import EXPRESSIONS
from hvgen.readers.faces.tables import line_error, parse_int


@cache
def label_maps() -> dict[str, Any]:
    """The whole yaml (cached); its names are checked against the unified vocabularies."""
    text = resources.files("hvgen.readers.faces").joinpath("label_maps.yaml").read_text(encoding="utf-8")
    maps = yaml.safe_load(text)
    for source, entry in maps["expression"].items():
        unknown = set(entry["classes"].values()) - set(EXPRESSIONS)
        if unknown:  # pragma: no cover - a packaging mistake, caught by the tests
            raise HvgenError(
                f"label_maps.yaml: expression map of {source} names {sorted(unknown)}, not in EXPRESSIONS."
            )
    return maps


def expression_map(source: str) -> dict[int, str]:
    """Index → unified expression name for `source`, as the release documents it."""
    return dict(label_maps()["expression"][source]["classes"])


def excluded_expressions(source: str) -> dict[int, str]:
    """Indices a release uses for non-expressions (AffectNet 8-10): skipped, counted."""
    return dict(label_maps()["expression"][source].get("excluded", {}))


def age_bins() -> dict[str, tuple[int, int]]:
    """FairFace's 9 age bins in order, each with its first and last year."""
    return {name: (low, high) for name, (low, high) in label_maps()["fairface"]["age_bins"].items()}


AGE_BINS: tuple[str, ...] = tuple(age_bins())
"""FairFace's 9 age bins, youngest first: the values of the `age_bin` label."""

RACES: tuple[str, ...] = tuple(label_maps()["fairface"]["race"].values())
"""FairFace's 7 race groups, normalised: the values of the `race` label."""

GENDERS: tuple[str, ...] = ("male", "female")


def age_bin(age: int) -> str:
    """The FairFace bin holding `age` years (for sources that give ages as numbers)."""
    for name, (low, high) in age_bins().items():
        if low <= age <= high:
            return name
    return AGE_BINS[-1]


def lookup_expression(source: str, path: Path, line: int, value: str) -> str | None:
    """The unified name of `source`'s expression index `value` (file `path`, line `line`);
    None for an index the release uses for non-expressions; an error for anything else."""
    index = parse_int(path, line, value, "expression label")
    classes = expression_map(source)
    if index in classes:
        return classes[index]
    if index in excluded_expressions(source):
        return None
    valid = ", ".join(f"{i} {name}" for i, name in classes.items())
    raise line_error(
        path,
        line,
        f"expression label {index} is not one of {source}'s classes ({valid})",
        "Is this the release's single-label split file, unedited?",
    )
