"""What hvgen tells the user while it works: messages by verbosity, and progress for long stages.

Everything goes to stderr (stdout stays for data: `hvgen list`, `hvgen config`, `--json -`).
In a terminal a stage shows a rich bar; anywhere else (a log file, Slurm, CI) a bar would only
appear at the end, so it prints a plain line every `HVGEN_PROGRESS_INTERVAL` seconds (30 by
default) and one when it finishes. `HVGEN_NO_PROGRESS=1` or `hvgen -q` turns both off.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from hvgen.interrupts import check as check_interrupt
from hvgen.ranges import Bounds

console = Console(stderr=True, soft_wrap=True)  # no hard wraps: log files and copied commands stay whole

QUIET, NORMAL, VERBOSE = -1, 0, 1
_verbosity = NORMAL
DEFAULT_INTERVAL = 30.0
"""Seconds between two plain progress lines when stderr is not a terminal."""
PROGRESS_INTERVAL = Bounds(0, 86_400, why="(seconds between progress lines)")


def set_verbosity(level: int) -> None:
    """-1 quiet (warnings and errors only), 0 normal, 1 verbose (debug lines, library logs).

    The libraries' own progress bars (tqdm in diffusers, transformers, huggingface_hub) follow:
    off unless hvgen's own progress is shown in a terminal; their logs at INFO when verbose. Set
    through the environment, before those libraries are imported, and never over a user's value."""
    global _verbosity
    _verbosity = level
    if level <= QUIET or not progress_enabled() or not console.is_terminal:
        os.environ.setdefault("TQDM_DISABLE", "1")
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    if level >= VERBOSE:
        os.environ.setdefault("DIFFUSERS_VERBOSITY", "info")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "info")


def verbosity() -> int:
    return _verbosity


def info(message: object, **kwargs: object) -> None:
    """A normal progress message (hidden by -q)."""
    if _verbosity > QUIET:
        console.print(message, **kwargs)


def debug(message: object, **kwargs: object) -> None:
    """A detail only -v shows."""
    if _verbosity >= VERBOSE:
        console.print(message, **kwargs)


def warn(message: str) -> None:
    """A warning: always shown, on one line starting 'warning:'. The message is text, not rich
    markup (it may quote a user's value holding brackets)."""
    console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False)


def progress_enabled() -> bool:
    return os.environ.get("HVGEN_NO_PROGRESS", "") in ("", "0") and _verbosity > QUIET


def progress_interval() -> float:
    """Seconds between plain progress lines (`HVGEN_PROGRESS_INTERVAL`, default 30); a value that is
    not a finite number of seconds is refused in one line (`hvgen.cli.main` checks it first)."""
    raw = os.environ.get("HVGEN_PROGRESS_INTERVAL", "").strip()
    return float(PROGRESS_INTERVAL.parse("HVGEN_PROGRESS_INTERVAL", raw)) if raw else DEFAULT_INTERVAL


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"


class PlainProgress:
    """Progress as plain lines, for a stderr that is not a terminal: 'render: 40/200 (20%),
    0:01:10 elapsed, eta 0:04:40', at most one per `interval` seconds, plus the final count."""

    def __init__(self, description: str, total: int, interval: float) -> None:
        self.description, self.total, self.interval = description, total, interval
        self.done = 0
        self.start = self.last = time.monotonic()

    def advance(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self.last >= self.interval and self.done < self.total:
            self.last = now
            self._line(now)

    def finish(self) -> None:
        self._line(time.monotonic())

    def _line(self, now: float) -> None:
        elapsed = now - self.start
        line = f"{self.description}: {self.done}/{self.total} ({100 * self.done / self.total:.0f}%), {_clock(elapsed)} elapsed"
        if 0 < self.done < self.total:
            line += f", eta {_clock(elapsed / self.done * (self.total - self.done))}"
        console.print(line, markup=False, highlight=False)


def _checked(advance: Callable[..., None]) -> Callable[..., None]:
    """Every progress step is also where a swallowed Ctrl-C is raised again (hvgen.interrupts)."""

    def step(n: int = 1) -> None:
        check_interrupt()
        advance(n)

    return step


@contextmanager
def progress_bar(description: str, total: int, enabled: bool = True) -> Iterator[Callable[..., None]]:
    """Yield an `advance(n)` callable: a rich bar (count, elapsed, ETA) in a terminal, plain
    lines at intervals elsewhere, nothing when progress is off."""
    if not enabled or not progress_enabled() or total == 0:
        yield _checked(lambda n=1: None)
        return
    if not console.is_terminal:
        plain = PlainProgress(description, total, progress_interval())
        yield _checked(plain.advance)
        plain.finish()
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        task = bar.add_task(description, total=total)
        yield _checked(lambda n=1: bar.advance(task, n))
