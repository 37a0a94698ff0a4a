"""The launcher: run a run's shard tasks on an engine until every shard is finished, then the
final task (build / export) once.

The run directory is the only coordination. Which shards are unfinished is read from the
manifests and the files (hvgen.analysis.status), never from what the engine says, so a rerun of
the same command launches only the shards with work left, and a retried shard resumes from its
manifest (nothing is done twice into the data). Retries are bounded: an engine that retries by
itself (Ray) gets `retries` per task; for the others each round resubmits the unfinished shards,
`1 + retries` rounds at most. What still fails is listed with its log and the command that runs
it by hand. The launcher records each task in a ledger (hvgen.store.tasks) for `hvgen status`.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape

from hvgen.errors import HvgenError
from hvgen.executors.settings import ExecutorSettings, public_settings, require_engine
from hvgen.executors.task import Task, forwarded_env
from hvgen.executors.types import Outcome
from hvgen.progress import info, progress_interval, warn
from hvgen.sharding import Shard
from hvgen.store.tasks import (
    FINAL_TASK,
    executor_logs,
    launcher_lock,
    read_ledger,
    task_log_relpath,
    write_ledger,
)

if TYPE_CHECKING:  # the run's progress (the catalog: duckdb) is read only once a launch runs, so the
    # settings (`hvgen config FILE`, a stage command's --executor) load no data library
    from hvgen.analysis.status import RunStatus

POLL_S = 2.0


@dataclass
class ShardWork:
    """What a launch runs: per shard, hvgen commands; the stages whose progress says a shard is
    finished; and the commands to run once after all shards (or None)."""

    run_dir: Path
    stages: list[str]
    shard_commands: Callable[[Shard], list[list[str]]]
    final_commands: list[list[str]] | None = None
    final_name: str = FINAL_TASK  # its log is RUN/logs/<executor>/<final_name>.log


@dataclass
class LaunchResult:
    shards: int
    launched: int  # shard tasks started by this command (0: everything was done already)
    final: Outcome | None


def run_distributed(work: ShardWork, settings: ExecutorSettings) -> LaunchResult:
    """Launch `work` through `settings.name`; raises HvgenError listing what did not finish."""
    require_engine(settings)
    run_dir = work.run_dir.resolve()
    with launcher_lock(run_dir), _backend(settings, run_dir) as backend:
        return _Launch(work, settings, run_dir, backend).run()


def _backend(settings: ExecutorSettings, run_dir: Path) -> Any:
    if settings.name == "slurm":
        from hvgen.executors.slurm import SlurmBackend

        return SlurmBackend(settings, run_dir)
    if settings.name == "ray":
        from hvgen.executors.ray import RayBackend

        return RayBackend(settings)
    from hvgen.executors.local import LocalBackend

    return LocalBackend(settings)


class _Launch:
    def __init__(self, work: ShardWork, settings: ExecutorSettings, run_dir: Path, backend: Any) -> None:
        self.work, self.settings, self.run_dir, self.backend = work, settings, run_dir, backend
        self.count = settings.shard_count
        self.cwd = os.getcwd()
        self.env = forwarded_env()
        if settings.cpus_per_task:  # a task's CPU threads: what it asked for (Ray does the same)
            self.env["OMP_NUM_THREADS"] = str(settings.cpus_per_task)
        previous = read_ledger(run_dir, settings.name) or {}
        self.entries: dict[str, dict[str, Any]] = (
            previous.get("tasks", {}) if previous.get("shards") == self.count else {}
        )
        self._last_progress = time.monotonic()
        backend.on_submit = self._submitted

    def run(self) -> LaunchResult:
        rounds = 1 if self.backend.retries_itself else self.settings.retries + 1
        launched = 0
        for attempt in range(rounds if self.work.stages else 0):
            pending = self._status().unfinished_shards(self.work.stages)
            if not pending:
                break
            tasks = [self._task(index) for index in pending]
            running = self._still_running(tasks)
            label = f"round {attempt + 1} of {rounds}: " if rounds > 1 else ""
            info(
                f"{self.settings.name}: {label}{len(tasks)} of {self.count} shards to run"
                + (f" ({len(running)} still running from an earlier launch)" if running else "")
                + f"; logs in {escape(str(executor_logs(self.run_dir, self.settings.name)))}",
                highlight=False,
            )
            for task in tasks:
                self._record(task, "running")
            self._save()
            outcomes = self._run_round(tasks, running)
            launched += len(tasks) - len(running)
            left = set(self._status().unfinished_shards(self.work.stages))
            for index, task, outcome in zip(pending, tasks, outcomes):
                # the manifests decide: a task killed after its last item is done; one that
                # exited 0 with work left (e.g. a scenario waiting for images) is not
                if outcome.ok and index in left:
                    outcome = Outcome(task.name, False, "exited 0 but left work unfinished", outcome.job_id)
                self._record(task, "failed" if index in left else "done", outcome)
            self._save()
            if left and attempt + 1 < rounds:
                warn(f"{len(left)} shard(s) unfinished after this round; resubmitting them.")
            if any(not outcome.ok for outcome in outcomes) and getattr(
                self.backend, "final_depends_on_shards", False
            ):
                self.backend.drop_final()  # its dependency failed (Slurm cancels it as well)
        unfinished = self._status().unfinished_shards(self.work.stages) if self.work.stages else []
        if unfinished:
            raise HvgenError(self._failure_report(unfinished))
        final = self._run_final() if self.work.final_commands else None
        return LaunchResult(self.count, launched, final)

    def _run_round(self, tasks: list[Task], running: dict[str, Any]) -> list[Outcome]:
        if getattr(self.backend, "final_depends_on_shards", False):
            then = self._final_task() if self.work.final_commands else None
            if then is not None:
                running = {**running, **self._still_running([then])}
            return self.backend.run(tasks, self._progress, POLL_S, then=then, running=running)
        return self.backend.run(tasks, self._progress, POLL_S)

    def _run_final(self) -> Outcome:
        task = self._final_task()
        earlier = self._still_running([task])  # Slurm: an export job of an earlier launch, still queued
        if earlier and hasattr(self.backend, "adopt_final"):
            self.backend.adopt_final(task.name, earlier[task.name])
        self._record(task, "running")
        self._save()
        outcome = self.backend.run_final(task, self._progress, POLL_S)
        self._record(task, "done" if outcome.ok else "failed", outcome)
        self._save()
        if not outcome.ok:
            raise HvgenError(
                f"every shard finished, but the final task failed ({outcome.error}); log: {task.log_path}. Run it by "
                f"hand: {task.shell_command}"
            )
        return outcome

    def _still_running(self, tasks: list[Task]) -> dict[str, Any]:
        if not hasattr(self.backend, "still_running"):
            return {}
        ids = {
            task.name: self.entries[task.name]["job_id"]
            for task in tasks
            if self.entries.get(task.name, {}).get("state") in ("queued", "running")
            and self.entries[task.name].get("job_id")
        }
        return self.backend.still_running(ids)

    def _task(self, index: int) -> Task:
        shard = Shard(index, self.count)
        return Task(
            name=shard.tag,
            run_dir=str(self.run_dir),
            commands=self.work.shard_commands(shard),
            log=task_log_relpath(self.settings.name, shard.tag),
            cwd=self.cwd,
            env=self.env,
        )

    def _final_task(self) -> Task:
        return Task(
            name=self.work.final_name,
            run_dir=str(self.run_dir),
            commands=self.work.final_commands or [],
            log=task_log_relpath(self.settings.name, self.work.final_name),
            cwd=self.cwd,
            env=self.env,
        )

    def _submitted(self, name: str, job_id: str) -> None:
        """The engine accepted a task (Slurm: its job id, so a rerun can wait for it instead)."""
        entry = self.entries.setdefault(name, {})
        entry["job_id"] = job_id
        if name == self.work.final_name:
            entry.setdefault("state", "queued")
        self._save()

    def _status(self) -> RunStatus:
        from hvgen.analysis.status import run_status

        return run_status(self.run_dir, shards=self.count, stages=self.work.stages)

    def _record(self, task: Task, state: str, outcome: Outcome | None = None) -> None:
        entry = self.entries.setdefault(task.name, {})
        entry.update(state=state, log=task.log, command=task.shell_command)
        if outcome is not None:
            entry["error"] = outcome.error
            if outcome.job_id:
                entry["job_id"] = outcome.job_id

    def _save(self) -> None:
        write_ledger(
            self.run_dir,
            self.settings.name,
            {
                "executor": self.settings.name,
                "shards": self.count,
                "stages": self.work.stages,
                "settings": public_settings(self.settings),
                "updated": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "tasks": self.entries,
            },
        )

    def _progress(self) -> None:
        """A line every HVGEN_PROGRESS_INTERVAL seconds while tasks run (read from the manifests)."""
        if time.monotonic() - self._last_progress < progress_interval():
            return
        self._last_progress = time.monotonic()
        try:
            status = self._status()
        except HvgenError:
            return
        parts = [f"{stage.stage} {stage.done:,}/{stage.total:,}" for stage in status.stages]
        etas = [stage.eta_s for stage in status.stages if stage.eta_s]
        eta = f", eta {_clock(max(etas))}" if etas else ""
        info(f"{self.settings.name}: {', '.join(parts)}{eta}", highlight=False)

    def _failure_report(self, unfinished: list[int]) -> str:
        lines = [
            f"{len(unfinished)} of {self.count} shards did not finish through {self.settings.name} "
            f"(each tried up to {self.settings.retries + 1} times):"
        ]
        for index in unfinished:
            task = self._task(index)
            entry = self.entries.get(task.name, {})
            why = entry.get("error") or "unfinished"
            lines.append(f"  shard {index}/{self.count}: {why}")
            lines.append(f"    log: {task.log_path}")
            lines.append(f"    run it by hand: {task.shell_command}")
        lines.append(
            "Rerun the same command to resubmit only the unfinished shards (finished work is kept); "
            f"`hvgen status {self.run_dir}` shows the progress."
        )
        return "\n".join(lines)


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
