"""Range checks of numeric options: one rule and one message shape for every command.

Typer turns 'nan', 'inf' and '1e9' into valid floats, and NaN compares false with everything, so a
check written `if value < 0` lets it through (and `json.dumps` then writes `NaN`, which is not
JSON). `check_range` accepts only a finite number inside the bounds, and refuses anything else
in one line naming the option, the valid range and the value given (and why, when that helps).
"""

from __future__ import annotations

import math
from typing import Any

from hvgen.errors import HvgenError


def describe_range(
    low: float | None = None, high: float | None = None, *, low_open: bool = False, high_open: bool = False
) -> str:
    """'a finite number in [0, 1)', 'a finite number >= 1' ..., for messages and help texts."""
    if low is not None and high is not None:
        return f"a finite number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
    if low is not None:
        return f"a finite number {'>' if low_open else '>='} {low:g}"
    if high is not None:
        return f"a finite number {'<' if high_open else '<='} {high:g}"
    return "a finite number"


def in_range(
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> bool:
    """Whether `value` is a finite int or float (not a bool) inside the bounds."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if not math.isfinite(value):
        return False
    if low is not None and (value <= low if low_open else value < low):
        return False
    return not (high is not None and (value >= high if high_open else value > high))


def check_range(
    option: str,
    value: Any,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    integer: bool = False,
    why: str = "",
) -> None:
    """Raise HvgenError unless `value` (None: the option was not given) is a finite number inside
    the bounds (a whole number with `integer`). `option` is how the user spells it ('--fpr')."""
    whole = not integer or (isinstance(value, int) and not isinstance(value, bool))
    if value is None or (whole and in_range(value, low, high, low_open=low_open, high_open=high_open)):
        return
    if integer:
        first = None if low is None else int(low) + 1 if low_open else int(low)
        last = None if high is None else int(high) - 1 if high_open else int(high)
        valid = (
            f"a whole number from {first:,} to {last:,}"
            if first is not None and last is not None
            else f"a whole number >= {first:,}"
            if first is not None
            else f"a whole number <= {last:,}"
        )
    else:
        valid = describe_range(low, high, low_open=low_open, high_open=high_open)
    raise HvgenError(f"{option} must be {valid}{f' {why}' if why else ''}, got {value}.")
