"""Pools are sized from the CPUs this process may use (affinity, cgroup quota, Slurm), not the
machine's count: a container limited to 2 CPUs on a 64-core host must not run 64 torch threads."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgen import cpu_budget
from hvgen.cpu_budget import available_cpus, torch_cpu_threads
from hvgen.errors import HvgenError


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """A 64-core machine, all cores in the affinity mask, no cgroup limit, no Slurm, no overrides."""
    for name in ("HVGEN_CPUS", "SLURM_CPUS_PER_TASK", "OMP_NUM_THREADS", "HVGEN_IO_THREADS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cpu_budget.os, "cpu_count", lambda: 64)
    monkeypatch.setattr(cpu_budget.os, "sched_getaffinity", lambda pid: set(range(64)), raising=False)
    monkeypatch.setattr(cpu_budget, "CGROUP_ROOT", tmp_path)
    return tmp_path


def test_the_whole_machine_without_limits(machine: Path) -> None:
    assert available_cpus() == 64
    (machine / "cpu.max").write_text("max 100000\n")
    assert available_cpus() == 64


@pytest.mark.parametrize(("line", "cpus"), [("200000 100000", 2), ("150000 100000", 2), ("50000 100000", 1)])
def test_cgroup_v2_quota_rounded_up(machine: Path, line: str, cpus: int) -> None:
    (machine / "cpu.max").write_text(line + "\n")
    assert available_cpus() == cpus


def test_cgroup_v1_quota(machine: Path) -> None:
    (machine / "cpu").mkdir()
    (machine / "cpu" / "cpu.cfs_quota_us").write_text("400000\n")
    (machine / "cpu" / "cpu.cfs_period_us").write_text("100000\n")
    assert available_cpus() == 4
    (machine / "cpu" / "cpu.cfs_quota_us").write_text("-1\n")  # unlimited
    assert available_cpus() == 64


def test_affinity_slurm_and_the_override(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_budget.os, "sched_getaffinity", lambda pid: {0, 1, 2, 3, 4, 5}, raising=False)
    assert available_cpus() == 6
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "3")
    assert available_cpus() == 3
    monkeypatch.setenv("HVGEN_CPUS", "10")  # the user's word wins, even above the allocation
    assert available_cpus() == 10
    for wrong in ("0", "-2", "nan", "many", "1e9"):  # refused in one line, never ignored
        monkeypatch.setenv("HVGEN_CPUS", wrong)
        with pytest.raises(HvgenError, match="HVGEN_CPUS must be a whole number from 1 to 65,536"):
            available_cpus()


def test_pools_follow_the_budget(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from hvgen.config import RunConfig
    from hvgen.scenarios.corruption import CorruptionScenario
    from hvgen.stages.scenario import _workers
    from hvgen.workers import io_threads

    (machine / "cpu.max").write_text("300000 100000\n")
    assert torch_cpu_threads() == 3 and io_threads() == 3
    assert _workers(RunConfig(benchmark="dysca"), CorruptionScenario(), batches=100) == 3
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # torch reads it too: the user's choice is kept
    assert torch_cpu_threads() == 1


def test_cpu_pipeline_runs_torch_at_the_budget(tiny_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import torch

    from hvgen.config import RenderConfig
    from hvgen.models import load_pipeline

    before = torch.get_num_threads()
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    monkeypatch.setenv("HVGEN_CPUS", "1")
    try:
        load_pipeline(RenderConfig(model="tiny", device="cpu"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)
