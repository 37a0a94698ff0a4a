"""Worker processes that never outlive the run that started them.

`ProcessPoolExecutor` workers keep running their queued tasks when the parent is killed with
SIGKILL (no chance to shut the pool down), writing files minutes later and holding memory —
and the pool's resource tracker stays alive as long as they do. `die_with_parent`, the pool
initializer, asks Linux to send the worker SIGKILL when its parent dies (PR_SET_PDEATHSIG) and,
on every platform, starts a watchdog thread that exits when the parent is gone.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

from hvgen.cpu_budget import available_cpus
from hvgen.ranges import whole

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent_pid: int) -> None:
    if sys.platform.startswith("linux"):
        try:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os._exit(1)
    threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="hvgen-parent-watch").start()


def _watch_parent(parent_pid: int, interval: float = 1.0) -> None:
    while True:
        time.sleep(interval)
        if os.getppid() != parent_pid:
            os._exit(1)


def io_threads() -> int:
    """Threads for image encoding, decoding and hashing: Pillow's codecs, zlib and hashlib
    release the GIL, so threads scale with the CPUs this process may use. `HVGEN_IO_THREADS=N` overrides; 0 means no
    pool at all (each image decoded and written in turn, as before pools existed: the baseline
    of scripts/bench_scenario.py)."""
    configured = os.environ.get("HVGEN_IO_THREADS", "").strip()
    if configured:
        return IO_THREADS.parse("HVGEN_IO_THREADS", configured)
    return max(2, min(16, available_cpus()))


IO_THREADS = whole(0, 256, why="(threads for image I/O; 0: none)")
"""A typo such as 100000 would start that many threads; an unreadable value was silently ignored."""
