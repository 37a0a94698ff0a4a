"""How a run is launched: which engine, how many workers, what each task asks the cluster for.

Read from the ``executor:`` section of a YAML file (a run config given with ``--config``, or any
file given with ``--executor-config``), then overridden by ``--executor`` / ``--workers``. These
settings say *how* the data is made, never *what* it is: they are kept out of ``config.yaml``
and the dataset card, so a run gives the same bytes whatever launches it.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import yaml

from hvgen import ranges
from hvgen.config import EXECUTOR_SECTION, build_section
from hvgen.errors import HvgenError
from hvgen.ranges import Bounds, whole

EXECUTORS = ("local", "slurm", "ray")
SLURM_BACKENDS = ("slurm", "local", "debug")

EXTRAS = {"slurm": ("submitit", "slurm"), "ray": ("ray", "ray")}
"""executor → (module it needs, pip extra that installs it)."""


@dataclass
class ExecutorSettings:
    name: str = "local"
    workers: int = 1  # tasks running at once (Slurm: the array's %parallelism)
    shards: int | None = None  # how many shards the work is cut into; default: one per worker
    retries: int = 2  # extra attempts of a failed or killed shard task
    gpus_per_task: int = 0
    cpus_per_task: int | None = None  # default: the engine's (Ray 1, Slurm the partition's)
    mem_gb: float | None = None
    time_min: int = 1440  # Slurm time limit of one task; a task that reaches it is requeued
    partition: str | None = None
    account: str | None = None
    sbatch_args: list[str] = field(default_factory=list)  # free-form: ["--qos=high", "--exclusive"]
    setup: list[str] = field(default_factory=list)  # shell lines each Slurm task runs first
    requeues: int = 3  # Slurm: times a preempted / timed-out task is requeued
    slurm_backend: str = "slurm"  # submitit's stand-ins, on this machine: local, debug
    ray_address: str | None = None  # auto, ray://host:10001, host:port; unset: start a local Ray

    @property
    def shard_count(self) -> int:
        return self.shards or self.workers

    @property
    def distributed(self) -> bool:
        """Whether shards are launched as tasks (else the command runs in this process, as always)."""
        return self.name != "local" or self.shard_count > 1 or self.workers > 1

    def validate(self, origin: str = "executor") -> None:
        """One line per bad value, naming the key and the option (numbers in the words of
        `hvgen.ranges`, as the command line refuses them)."""
        for key, (bounds, option) in NUMBER_RANGES.items():
            bounds.check(f"{origin}: {key}{f' ({option})' if option else ''}", getattr(self, key))
        checks: list[tuple[bool, str]] = [
            (self.name in EXECUTORS, f"executor (--executor) must be one of {', '.join(EXECUTORS)}, got {self.name!r}"),
            (self.slurm_backend in SLURM_BACKENDS, f"slurm_backend must be one of {', '.join(SLURM_BACKENDS)}, got {self.slurm_backend!r}"),
            (all(arg.startswith("--") and len(arg) > 2 for arg in self.sbatch_args), f"sbatch_args must be long options such as '--qos=high', got {self.sbatch_args}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise HvgenError(f"{origin}: {message}.")


NUMBER_RANGES: dict[str, tuple[Bounds, str | None]] = {
    "workers": (ranges.WORKERS, "--workers"),
    "shards": (ranges.SHARDS, None),
    "retries": (whole(0, 100), None),
    "gpus_per_task": (whole(0, 64), None),
    "cpus_per_task": (whole(1, 4096), None),
    "mem_gb": (Bounds(0, 65536, low_open=True, why="(GB)"), None),
    "time_min": (whole(1, 525_600, why="(minutes: a year at most)"), None),
    "requeues": (whole(0, 100), None),
}
"""Every number of an executor section, with the option that also sets it."""


def load_section(path: Path | None) -> dict[str, Any]:
    """The ``executor:`` mapping of a YAML file ({} without a file or a section)."""
    if path is None:
        return {}
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except (OSError, UnicodeDecodeError) as error:
        raise HvgenError(f"cannot read {path}: {getattr(error, 'strerror', None) or error}.") from None
    except yaml.YAMLError as error:
        reason = str(error).strip().replace("\n", " ")
        raise HvgenError(f"cannot parse {path} as YAML: {reason}") from None
    section = data.get(EXECUTOR_SECTION) if isinstance(data, dict) else None
    if section is not None and not isinstance(section, dict):
        raise HvgenError(f"{path}: '{EXECUTOR_SECTION}' must be a mapping (name: slurm, workers: 8, ...).")
    return section or {}


def resolve_settings(
    config_files: Path | list[Path | None] | None = None,
    executor: str | None = None,
    workers: int | None = None,
) -> ExecutorSettings:
    """The files' ``executor:`` sections (later files win), then the command line on top; checked."""
    files = [f for f in (config_files if isinstance(config_files, list) else [config_files]) if f]
    section: dict[str, Any] = {}
    for path in files:
        section.update(load_section(path))
    origin = f"{files[-1]}:{EXECUTOR_SECTION}" if files else EXECUTOR_SECTION
    settings = build_section(ExecutorSettings, section, origin)
    settings = replace(
        settings,
        name=executor if executor is not None else settings.name,
        workers=workers if workers is not None else settings.workers,
    )
    settings.validate(origin)
    return settings


def require_engine(settings: ExecutorSettings) -> None:
    """Refuse an executor whose engine is not installed, naming the extra that installs it."""
    module, extra = EXTRAS.get(settings.name, (None, None))
    if module and importlib.util.find_spec(module) is None:
        raise HvgenError(
            f"--executor {settings.name} needs the {module} package, which is not installed: "
            f'pip install "hvgen[{extra}]".'
        )


def public_settings(settings: ExecutorSettings) -> dict[str, Any]:
    """The settings as a plain dict (for the task ledger and `hvgen status`)."""
    return {f.name: getattr(settings, f.name) for f in fields(settings)}
