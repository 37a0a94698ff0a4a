"""The process a task starts: `python -m hvgen.cli.child '[["render", RUN, "--shard", "0/2"], ...]'`
runs those hvgen commands one after the other (one interpreter start for all), stopping at the
first that fails, with its exit code.

It dies with the task that started it (Linux: PR_SET_PDEATHSIG), so a task killed by its engine
— a Ray worker lost, a Slurm job requeued — never leaves an orphan holding the shard's lock.
Slurm's warning signal (USR2, sent before the time limit) and the SIGTERM of a preemption are for
the task's submitit process, which requeues the job; this process keeps working until Slurm stops
the job, instead of dying first and making the task look failed.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import sys

PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    parent = os.environ.get("HVGEN_TASK_PID")
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):  # a libc without prctl: no guarantee
            ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if parent and os.getppid() != int(parent):  # the task died before the line above ran
        os._exit(137)


def main(argv: list[str] | None = None) -> int:
    _die_with_parent()
    signal.signal(signal.SIGUSR2, signal.SIG_IGN)
    if "SLURM_JOB_ID" in os.environ:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    commands = json.loads((argv or sys.argv[1:])[0])
    from hvgen.cli import main as hvgen  # the entry point, as hvgen/__main__.py

    for command in commands:
        try:
            hvgen(command)
        except SystemExit as done:
            if done.code not in (0, None):
                return done.code if isinstance(done.code, int) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
