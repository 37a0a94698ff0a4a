"""How many CPUs this process may really use, so thread and process pools never oversubscribe.

`os.cpu_count()` is the machine's count. A container limited with `docker --cpus 2` or a
Kubernetes CPU limit (the cgroup quota), a Slurm task given `--cpus-per-task 4`, or `taskset`
(the affinity mask) allow fewer; a pool sized to the machine then runs many more busy threads
than there are CPUs, and OpenMP's spinning threads make torch many times slower when its
threads are descheduled. Every pool in hvgen (torch's intra-op threads on CPU, the image I/O
threads, the scenario and fingerprint processes) is sized from `available_cpus()`.

`HVGEN_CPUS=N` (1 to 65,536) overrides everything (the user knows best, e.g. to leave cores to another job).
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from hvgen.ranges import whole

CPUS = whole(1, 65_536, why="(the CPUs hvgen sizes its thread and process pools by)")
"""HVGEN_CPUS: a typo must not start a million threads, nor a word be silently ignored."""
CGROUP_ROOT = Path("/sys/fs/cgroup")
"""Where the cgroup filesystem is mounted (tests point it at a fixture)."""


def available_cpus() -> int:
    """The fewest of: the affinity mask, the cgroup CPU quota (rounded up), Slurm's CPUs per
    task, the machine's count; at least 1. `HVGEN_CPUS` wins when set."""
    configured = os.environ.get("HVGEN_CPUS", "").strip()
    if configured:
        return int(CPUS.parse("HVGEN_CPUS", configured))
    limits = [os.cpu_count() or 1, _affinity(), _cgroup_quota(), _slurm_cpus()]
    return max(1, min(limit for limit in limits if limit))


def _affinity() -> int | None:
    try:
        return len(os.sched_getaffinity(0)) or None
    except (AttributeError, OSError):  # not Linux
        return None


def _cgroup_quota() -> int | None:
    """cgroup v2 `cpu.max` ("max 100000" or "200000 100000") or v1 `cpu.cfs_quota_us` / `_period_us`."""
    try:
        quota, period = (CGROUP_ROOT / "cpu.max").read_text().split()[:2]
        if quota == "max":
            return None
        return max(1, math.ceil(int(quota) / int(period)))
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((CGROUP_ROOT / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((CGROUP_ROOT / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return max(1, math.ceil(quota_us / period_us)) if quota_us > 0 and period_us > 0 else None


def _slurm_cpus() -> int | None:
    value = os.environ.get("SLURM_CPUS_PER_TASK", "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def torch_cpu_threads() -> int:
    """torch's intra-op threads for CPU work: `OMP_NUM_THREADS` when the user set it (torch
    reads it too), else `available_cpus()` — torch's own default is the machine's core count,
    which a cgroup quota or a Slurm allocation does not lower."""
    configured = os.environ.get("OMP_NUM_THREADS", "").strip()
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return available_cpus()
