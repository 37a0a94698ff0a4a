"""Ctrl-C that always stops the run.

Python raises KeyboardInterrupt wherever the main thread happens to be when SIGINT arrives; if
that is inside a weakref callback or a `__del__` (garbage collection runs them at arbitrary
points) the exception is printed as "Exception ignored" and swallowed, and the run carries on
to the end. The handler installed here also remembers the request, and `check()` — called at
every progress step — raises it again, so a swallowed Ctrl-C stops the run at the next step.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

_requested = False


def _on_sigint(signum: int, frame: FrameType | None) -> None:
    global _requested
    _requested = True
    raise KeyboardInterrupt


@contextmanager
def stop_on_ctrl_c() -> Iterator[None]:
    """Route SIGINT through `_on_sigint` while the block runs, then restore the previous handler
    (`hvgen.cli.main` is also called in-process, by tests and scripts). Only the main thread can
    set a handler; elsewhere this is a no-op."""
    global _requested
    _requested = False
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, _on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        _requested = False


def check() -> None:
    """Raise KeyboardInterrupt if Ctrl-C was pressed, even if its first raise was swallowed."""
    if _requested and threading.current_thread() is threading.main_thread():
        raise KeyboardInterrupt


@contextmanager
def errors_after_ctrl_c_are_interrupts() -> Iterator[None]:
    """Libraries that watch for signals turn Ctrl-C into their own error (DuckDB raises
    "RuntimeError: Query interrupted"); once Ctrl-C was pressed, any error leaving the block is
    the interruption it is, so the user sees "interrupted", exit 130, not a traceback."""
    try:
        yield
    except Exception as error:
        if _requested:
            raise KeyboardInterrupt from error
        raise
