"""User-facing errors.

Every error a user can cause by bad input is an `HvgenError`: the CLI prints its message in
one block (what, where, how to fix) and exits non-zero, without a traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class HvgenError(Exception):
    """An error caused by input the user can fix; the message says what, where and how."""


class ModelLoadError(HvgenError, RuntimeError):
    """A model (pipeline, surrogate) could not be loaded: offline, not cached, or not that kind."""


def did_you_mean(name: str, valid: Iterable[str]) -> str:
    """A ' (did you mean 'x'?)' suffix for the closest valid name, or ''."""
    close = difflib.get_close_matches(name, list(valid), n=1, cutoff=0.5)
    return f" (did you mean '{close[0]}'?)" if close else ""


def unknown_name_error(kind: str, name: str, valid: Iterable[str], hint: str = "") -> HvgenError:
    """The standard message for an unknown style / subtask / scenario / ... name."""
    valid = sorted(valid)
    listing = ", ".join(valid)
    plural = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
    message = f"unknown {kind} '{name}'{did_you_mean(name, valid)}. Valid {plural}: {listing}."
    if hint:
        message += f" {hint}"
    return HvgenError(message)


def parse_name_list(
    value: str | Iterable[str] | None, valid: Iterable[str], kind: str, aliases: dict[str, str] | None = None
) -> list[str]:
    """Parse 'all' or a comma list against `valid`, keeping `valid`'s order; errors name the bad entry."""
    valid = list(valid)
    if value is None or value == "all" or value == ["all"]:
        return valid
    entries = [value] if isinstance(value, str) else [str(v) for v in value]
    items = [item.strip() for entry in entries for item in entry.split(",")]  # repeated and/or comma lists
    aliases = aliases or {}
    chosen: set[str] = set()
    everything = False
    for item in items:  # every entry is checked, 'all' or not: 'all,nope' is a typo to report
        if not item:
            continue
        item = aliases.get(item, item)
        if item == "all":
            everything = True
        elif item not in valid:
            raise unknown_name_error(kind, item, valid)
        chosen.add(item)
    if everything:
        return valid
    if not chosen:
        raise HvgenError(f"no {kind} selected: pass 'all' or a comma-separated list of {kind}s.")
    return [v for v in valid if v in chosen]
