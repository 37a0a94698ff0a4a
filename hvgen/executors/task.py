"""One task an engine runs: hvgen commands in a child process, output appended to a log file in
the run directory.

A task is a small picklable object, so every engine can ship it to a worker (a Ray worker, a
Slurm job through submitit, a local thread). It runs the ordinary hvgen commands — e.g.
``hvgen render RUN --shard 3/8`` then ``hvgen scenario RUN --shard 3/8`` — so what a worker does is
exactly what a person could type, and a retry is the same command resuming from the manifests.
The commands run in a child process (`hvgen.cli.child`) that dies with the task, so an
engine that kills a task (a lost Ray worker, a Slurm requeue) leaves nothing behind holding the
shard's lock.
"""

from __future__ import annotations

import json
import os
import shlex
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError
from hvgen.store.tasks import ATTEMPT_MARK

FORWARDED_ENV_PREFIX = "HVGEN_"
"""The launcher's hvgen settings (HVGEN_CACHE, HVGEN_PROGRESS_INTERVAL ...) travel with a task;
credentials (HF_TOKEN) never do: a task pickle lands in the run directory."""


class TaskFailed(HvgenError):
    """A task's commands exited with an error (the engine may retry it)."""


@dataclass
class Task:
    name: str  # a shard tag ('00003-of-00008') or 'export'
    run_dir: str  # absolute
    commands: list[list[str]]  # hvgen arguments, one list per command
    log: str  # relative to run_dir
    cwd: str  # where the launcher ran (relative paths in commands are from there)
    env: dict[str, str] = field(default_factory=dict)

    @property
    def log_path(self) -> Path:
        return Path(self.run_dir) / self.log

    @property
    def shell_command(self) -> str:
        """The commands as one shell line, to run by hand."""
        return " && ".join(shlex.join(["hvgen", *argv]) for argv in self.commands)

    def with_env(self, **env: str) -> Task:
        return replace(self, env={**self.env, **env})

    def __call__(self) -> str:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "HVGEN_TASK_PID": str(os.getpid())}
        with open(self.log_path, "ab") as log:
            stamp = time.strftime("%Y-%m-%d %H:%M:%S")
            log.write(
                f"{ATTEMPT_MARK}: {self.name} on {socket.gethostname()} pid {os.getpid()} at {stamp}\n".encode()
            )
            log.write(f"# {self.shell_command}\n".encode())
            log.flush()
            code = subprocess.call(
                [sys.executable, "-m", "hvgen.cli.child", json.dumps(self.commands)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.cwd,
                env=env,
            )
            log.write(f"# hvgen task exit: {code}\n".encode())
        if code != 0:
            raise TaskFailed(f"{self.name}: exit code {code}{_last_error(self.log_path)}")
        return self.name

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """submitit calls this when Slurm preempts the job or its time runs out: requeue the same
        task, which resumes from the manifests (nothing to save: finished work is on disk)."""
        from submitit.helpers import DelayedSubmission

        return DelayedSubmission(self, *args, **kwargs)


def forwarded_env() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if key.startswith(FORWARDED_ENV_PREFIX)}


def _last_error(log: Path) -> str:
    """': <the last 'error:' line of the log>', or '' (the log says the rest)."""
    try:
        with open(log, "rb") as handle:
            handle.seek(max(0, handle.seek(0, os.SEEK_END) - 8192))
            lines = handle.read().decode("utf-8", "replace").splitlines()
    except OSError:
        return ""
    errors = [line.strip() for line in lines if line.strip().lower().startswith(("error:", "traceback"))]
    return f": {errors[-1][:300]}" if errors else ""
