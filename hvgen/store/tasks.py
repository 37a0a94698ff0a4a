"""Where launched tasks leave their trace in a run directory: logs and the task ledger.

```
runs/<name>/logs/
  driver.lock              held by the command that launches tasks (one launcher per run)
  <executor>/tasks.json    the ledger: per shard task its state, attempts, log and command
  <executor>/<shard>.log   a task's output, every attempt appended (headed by ATTEMPT_MARK)
  <executor>/export.log    the final task (build / export)
  slurm/submitit/          submitit's own job files
```
The ledger has one writer (the launching command); `hvgen status` reads it for failures. What is
*done* is never read from here: that is decided from the manifests and the files
(hvgen.store.work). Nothing under logs/ reaches an export.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError
from hvgen.store.atomic import write_json_atomic

try:  # POSIX; elsewhere one launcher per run is the user's promise
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

LOGS_DIR = "logs"
LEDGER_FILE = "tasks.json"
FINAL_TASK = "export"
ATTEMPT_MARK = "# hvgen task attempt"
"""First line a task writes into its log each time it starts (so attempts can be counted)."""


def executor_logs(run_dir: Path, executor: str) -> Path:
    return run_dir / LOGS_DIR / executor


def task_log_relpath(executor: str, name: str) -> str:
    """A task's log, relative to the run dir (`name`: a shard tag or FINAL_TASK)."""
    return f"{LOGS_DIR}/{executor}/{name}.log"


def count_attempts(log: Path) -> int:
    """How many times a task started, from the marks in its log (0 without a log)."""
    try:
        with open(log, "rb") as handle:
            return sum(1 for line in handle if line.startswith(ATTEMPT_MARK.encode()))
    except OSError:
        return 0


def write_ledger(run_dir: Path, executor: str, ledger: dict[str, Any]) -> None:
    path = executor_logs(run_dir, executor) / LEDGER_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, ledger)


def read_ledger(run_dir: Path, executor: str) -> dict[str, Any] | None:
    try:
        data = json.loads((executor_logs(run_dir, executor) / LEDGER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def latest_ledger(run_dir: Path) -> dict[str, Any] | None:
    """The ledger of the executor that launched this run last, or None."""
    folder = run_dir / LOGS_DIR
    paths = (
        sorted(folder.glob(f"*/{LEDGER_FILE}"), key=lambda p: p.stat().st_mtime) if folder.is_dir() else []
    )
    for path in reversed(paths):
        ledger = read_ledger(run_dir, path.parent.name)
        if ledger is not None:
            return ledger
    return None


@contextmanager
def launcher_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run's launcher lock: two commands launching shards of one run at once could give
    the same item to two shard counts; the second is refused instead."""
    path = run_dir / LOGS_DIR / "driver.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        if fcntl is not None:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise HvgenError(
                    f"another hvgen command is launching tasks for {run_dir} (it holds {path}); wait for it, or stop "
                    "it first: two launchers must not split one run two ways."
                ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(f"{os.getpid()}\n".encode())
        handle.flush()
        yield
