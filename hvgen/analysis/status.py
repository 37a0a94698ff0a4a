"""`hvgen status RUN`: how far a run is, per stage and shard — read from the plan, the manifests
and the files, so it is right for a local run, a torchrun / Slurm / Ray run, and a run still going.

Done means what the stages themselves count as done (hvgen.store.work: the file is where the plan
puts it and is the one its worker logged). The rate is the items finished in the last ten minutes
(file times), the ETA what is left at that rate. Failures come from the task ledger a launcher
(hvgen.executors) keeps in RUN/logs/; a run launched without one has none to show.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hvgen.config import RunConfig
from hvgen.errors import HvgenError
from hvgen.progress import info
from hvgen.scenarios import parse_scenarios, scenario_level
from hvgen.scenarios.versions import scenario_version
from hvgen.sharding import shard_of
from hvgen.store.catalog import CatalogBusyError, open_catalog
from hvgen.store.layout import CONFIG_FILE, MANIFEST_DIR
from hvgen.store.tasks import count_attempts, latest_ledger
from hvgen.store.work import (
    IDENTITY_SCENARIO,
    finished_renders,
    finished_scenario_outputs,
    planned_images,
    planned_units,
)

RENDER_STAGE = "render"
RATE_WINDOW_S = 600.0
_MANIFEST_TAG = re.compile(r"\.\d{5}-of-(\d{5})\.jsonl$")


SCENARIO_PREFIX = "scenario "


def scenario_stage(name: str) -> str:
    return f"{SCENARIO_PREFIX}{name}"


@dataclass
class ShardProgress:
    index: int
    done: int
    total: int
    rate: float | None  # items per second, over the last RATE_WINDOW_S
    eta_s: float | None


@dataclass
class StageProgress:
    stage: str
    done: int
    total: int
    rate: float | None
    eta_s: float | None
    shards: list[ShardProgress]


@dataclass
class TaskState:
    """What the launcher recorded about one task (a shard, or the final export)."""

    name: str
    state: str  # pending, running, done, failed
    attempts: int
    log: str | None
    command: str | None
    error: str | None = None


@dataclass
class RunStatus:
    run_dir: str
    benchmark: str
    shards: int
    stages: list[StageProgress]
    executor: str | None = None
    tasks: list[TaskState] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return all(stage.done >= stage.total for stage in self.stages)

    def unfinished_shards(self, stages: list[str] | None = None) -> list[int]:
        """Indices of the shards with work left in `stages` (all stages by default)."""
        left = {
            shard.index
            for stage in self.stages
            if stages is None or stage.stage in stages
            for shard in stage.shards
            if shard.done < shard.total
        }
        return sorted(left)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_status(
    run_dir: Path, shards: int | None = None, stages: list[str] | None = None, now: float | None = None
) -> RunStatus:
    """Progress of `run_dir` split into `shards` (default: as its launcher or manifests split it),
    for `stages` (default: render and every scenario of the run that writes files)."""
    if not (run_dir / CONFIG_FILE).is_file():
        raise HvgenError(f"{run_dir} is not an hvgen run directory (no {CONFIG_FILE}).")
    config = RunConfig.load(run_dir / CONFIG_FILE)
    ledger = latest_ledger(run_dir)
    count = shards or (ledger or {}).get("shards") or _shards_from_manifests(run_dir)
    if not isinstance(count, int) or count < 1:
        raise HvgenError(f"shards must be at least 1, got {count}.")
    now = time.time() if now is None else now
    named = [
        stage.removeprefix(SCENARIO_PREFIX) for stage in stages or [] if stage.startswith(SCENARIO_PREFIX)
    ]
    scenarios = [
        name
        for name in parse_scenarios(sorted(set(config.scenario.scenarios) | set(named)))
        if name != IDENTITY_SCENARIO
    ]
    wanted = stages if stages is not None else [RENDER_STAGE, *(scenario_stage(name) for name in scenarios)]
    if not wanted:
        return RunStatus(str(run_dir), config.benchmark, count, [])
    planned, units = _planned_work(run_dir, scenarios)
    result: list[StageProgress] = []
    if RENDER_STAGE in wanted:
        done = finished_renders(run_dir, planned)
        owners = {image_id: shard_of(image_id, count) for image_id in planned}
        result.append(_stage(RENDER_STAGE, count, owners, done, now))
    for name in scenarios:
        if scenario_stage(name) not in wanted:
            continue
        owners = {unit.key: shard_of(unit.image_id, count) for unit in units[name]}
        done = finished_scenario_outputs(run_dir, name, owners, scenario_version(name))
        result.append(_stage(scenario_stage(name), count, owners, done, now))
    executor = (ledger or {}).get("executor") if (ledger or {}).get("shards") == count else None
    tasks = _tasks(run_dir, ledger) if executor else []
    return RunStatus(str(run_dir), config.benchmark, count, result, executor, tasks)


BUSY_WAIT_S = 120.0
"""How long status waits for a process writing the catalog (an export job, a shard syncing its
manifests) before saying so: a launcher polls status while its tasks run."""


def _planned_work(run_dir: Path, scenarios: list[str]) -> tuple[Any, dict[str, Any]]:
    """The planned images and each scenario's units, read from the catalog once no other process
    holds its write lock (DuckDB's lock excludes readers too); waits up to `BUSY_WAIT_S`."""
    deadline, delay = time.monotonic() + BUSY_WAIT_S, 0.1
    while True:
        try:
            with open_catalog(run_dir, read_only=True) as con:
                planned = planned_images(con)
                return planned, {name: planned_units(con, scenario_level(name)) for name in scenarios}
        except CatalogBusyError:
            if time.monotonic() >= deadline:
                raise
            if delay == 0.1:
                info(
                    f"{run_dir}: another process is writing the catalog; waiting for it (up to {BUSY_WAIT_S:.0f} s)."
                )
            time.sleep(delay)
            delay = min(2.0, delay * 2)


def _stage(
    stage: str, count: int, owners: dict[str, int], done: dict[str, dict[str, Any]], now: float
) -> StageProgress:
    totals, finished = [0] * count, [0] * count
    times: list[list[float]] = [[] for _ in range(count)]
    for key, index in owners.items():
        totals[index] += 1
        row = done.get(key)
        if row is None:
            continue
        finished[index] += 1
        if isinstance(row.get("mtime_ns"), int):
            times[index].append(row["mtime_ns"] / 1e9)
    shards = []
    for index in range(count):
        rate = _rate(times[index], now)
        left = totals[index] - finished[index]
        eta = 0.0 if left == 0 else (left / rate if rate else None)
        shards.append(ShardProgress(index, finished[index], totals[index], rate, eta))
    rates = [shard.rate for shard in shards if shard.rate]
    rate = sum(rates) if rates else None
    left = sum(totals) - sum(finished)
    eta = 0.0 if left == 0 else (left / rate if rate else None)
    return StageProgress(stage, sum(finished), sum(totals), rate, eta, shards)


def _rate(times: list[float], now: float) -> float | None:
    """Items per second over the last window: the items finished in it, over the time since the
    window (or the shard's first item, if later) began. None when nothing finished lately."""
    recent = [t for t in times if now - RATE_WINDOW_S <= t <= now + 5]
    if not recent:
        return None
    start = max(now - RATE_WINDOW_S, min(times))
    return len(recent) / max(now - start, 1.0)


def _shards_from_manifests(run_dir: Path) -> int:
    """The shard count of the most recently written manifest (1 without any)."""
    folder = run_dir / MANIFEST_DIR
    found = []
    for path in folder.glob("*.jsonl") if folder.is_dir() else []:
        match = _MANIFEST_TAG.search(path.name)
        if match and path.stat().st_size > 0:
            found.append((path.stat().st_mtime, int(match.group(1))))
    return max(found)[1] if found else 1


def _tasks(run_dir: Path, ledger: dict[str, Any] | None) -> list[TaskState]:
    tasks = []
    for name, entry in sorted(((ledger or {}).get("tasks") or {}).items()):
        if not isinstance(entry, dict):
            continue
        log = entry.get("log") if isinstance(entry.get("log"), str) else None
        tasks.append(
            TaskState(
                name=name,
                state=str(entry.get("state", "unknown")),
                attempts=count_attempts(run_dir / log) if log else 0,
                log=log,
                command=entry.get("command"),
                error=entry.get("error"),
            )
        )
    return tasks
