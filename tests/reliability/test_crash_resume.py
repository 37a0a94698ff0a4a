"""Killed, interrupted and sharded runs give exactly the data of an uninterrupted run.

Every test here runs the real console entry point in a subprocess and kills it for real
(SIGKILL through the `HVGEN_FAULT` failpoints, which fire at a chosen place; SIGINT for Ctrl-C),
then resumes with the same command and compares every image, scenario output, record and
exported row with the reference run, byte for byte.
"""

from __future__ import annotations

import os
import signal
import uuid
from pathlib import Path

import pytest
from reliability_helpers import (
    benchmark_args,
    export_rows,
    hvgen_process,
    run_hvgen,
    snapshot,
    wait_for,
)

pytestmark = pytest.mark.heavy

# (failpoint, how many passes before the kill): one inside every stage that writes data.
KILL_POINTS = [
    ("render.logged", 2),  # mid-render: 2 of 6 images logged, more written but not logged
    ("scenario.logged", 6),  # mid adversarial, after corruption and print (whose kills the shard tests cover)
    ("export.written", 1),  # export staged, not yet swapped in
]


@pytest.mark.parametrize(("point", "count"), KILL_POINTS, ids=[f"{p}-{n}" for p, n in KILL_POINTS])
def test_kill_9_then_resume_gives_the_reference_bytes(
    tmp_path: Path, reference_snapshot: dict[str, str], point: str, count: int
) -> None:
    out = tmp_path / "run"
    killed = run_hvgen(benchmark_args(out), env={"HVGEN_FAULT": f"{point}:{count}"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    resumed = run_hvgen(benchmark_args(out))
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(out) == reference_snapshot
    assert not list(out.rglob("*.tmp")), "a temp file of the killed process was left behind"


def test_ctrl_c_says_what_was_kept_and_the_same_command_resumes(
    tmp_path: Path, reference_snapshot: dict[str, str]
) -> None:
    out = tmp_path / "run"
    process = hvgen_process(benchmark_args(out))
    manifest = out / "manifests" / "render.00000-of-00001.jsonl"
    assert wait_for(lambda: manifest.exists() and manifest.stat().st_size > 0, timeout=120)
    os.killpg(process.pid, signal.SIGINT)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "same command" in stderr and "Traceback" not in stderr
    resumed = run_hvgen(benchmark_args(out))
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(out) == reference_snapshot


def test_shards_started_together_then_export_give_the_reference_bytes(
    tmp_path: Path, reference_snapshot: dict[str, str]
) -> None:
    """The README's workflow: the benchmark command as --shard 0/2 and 1/2 at once, then export."""
    out = tmp_path / "run"
    shards = [hvgen_process(benchmark_args(out, "--shard", f"{i}/2")) for i in range(2)]
    for process in shards:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
    exported = run_hvgen(["export", str(out)])
    assert exported.returncode == 0, exported.stderr
    assert snapshot(out) == reference_snapshot


def test_a_killed_shard_is_resumed_by_rerunning_it(
    tmp_path: Path, reference_snapshot: dict[str, str]
) -> None:
    out = tmp_path / "run"
    first = run_hvgen(benchmark_args(out, "--shard", "0/2"), env={"HVGEN_FAULT": "scenario.logged:2"})
    assert first.returncode == -signal.SIGKILL
    for index in (1, 0):
        done = run_hvgen(benchmark_args(out, "--shard", f"{index}/2"))
        assert done.returncode == 0, done.stderr
    assert run_hvgen(["export", str(out)]).returncode == 0
    assert snapshot(out) == reference_snapshot


def test_export_refuses_a_run_whose_shards_are_not_all_done(tmp_path: Path, reference_run: Path) -> None:
    """Only shard 0 ran: half the images and samples are missing, and export must say so."""
    out = tmp_path / "run"
    assert run_hvgen(benchmark_args(out, "--shard", "0/2")).returncode == 0
    refused = run_hvgen(["export", str(out)])
    assert refused.returncode == 2
    assert "not finished" in refused.stderr and "--allow-incomplete" in refused.stderr
    assert not (out / "export").exists()
    partial = run_hvgen(["export", str(out), "--allow-incomplete"])
    assert partial.returncode == 0, partial.stderr
    assert 0 < export_rows(out)["clean"] < export_rows(reference_run)["clean"]
    assert "Incomplete export" in (out / "export" / "README.md").read_text()


def test_workers_die_with_a_killed_parent(tmp_path: Path, reference_run: Path) -> None:
    """kill -9 of the parent during the corruption stage's process pool: no worker survives it."""
    import shutil

    out = tmp_path / "run"
    shutil.copytree(reference_run, out)
    shutil.rmtree(out / "scenarios" / "corruption")
    (out / "manifests" / "scenario-corruption.00000-of-00001.jsonl").unlink()
    config = (out / "config.yaml").read_text().replace("  batch_size: 16\n", "  batch_size: 1\n")
    (out / "config.yaml").write_text(config)
    marker = uuid.uuid4().hex
    killed = run_hvgen(
        ["scenario", str(out), "--scenario", "corruption"],
        env={"HVGEN_FAULT": "scenario.logged:1", "HVGEN_TEST_MARKER": marker},
    )
    assert killed.returncode == -signal.SIGKILL
    assert wait_for(lambda: not _processes_with(marker), timeout=10), "pool workers outlived their parent"


def _processes_with(marker: str) -> list[int]:
    """Pids whose environment holds `marker` (the killed command and anything it started)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found
