"""Failpoints for the crash tests: `HVGEN_FAULT=<point>:<n>` makes this process SIGKILL itself
the n-th time it passes `checkpoint(<point>)` — a real kill -9 (no cleanup, no `finally`), at a
chosen place instead of wherever a timer happens to land. Unset (always, outside tests), a
checkpoint costs one dictionary lookup.

Points: ``render.logged`` (after a render manifest line), ``scenario.logged`` (after a scenario
batch's lines), ``export.written`` (export staged, before it replaces the old one).
"""

from __future__ import annotations

import os
import signal

_COUNTS: dict[str, int] = {}


def checkpoint(point: str) -> None:
    spec = os.environ.get("HVGEN_FAULT")
    if not spec:
        return
    name, _, count = spec.rpartition(":")
    if name != point:
        return
    _COUNTS[point] = _COUNTS.get(point, 0) + 1
    if _COUNTS[point] >= int(count or 1):
        os.kill(os.getpid(), signal.SIGKILL)
