"""Damaged run directories: torn logs, corrupt or replaced files, a broken catalog or records
file, changed settings. Nothing damaged is ever counted as done or exported; the same command
repairs the run, and the repaired run equals the reference byte for byte."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from reliability_helpers import benchmark_args, copy_run, one_error_line, run_hvgen, snapshot

from hvgen.config import RunConfig
from hvgen.scenarios.base import ScenarioInput
from hvgen.stages.scenario import UNCHANGED, Task, _apply

pytestmark = pytest.mark.heavy

RENDER_LOG = "manifests/render.00000-of-00001.jsonl"


def test_a_torn_manifest_line_is_cut_off_and_its_item_redone(
    tmp_path: Path, reference_run: Path, reference_snapshot: dict[str, str]
) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    log = run / RENDER_LOG
    lines = log.read_bytes().splitlines(keepends=True)
    last = json.loads(lines[-1])
    log.write_bytes(b"".join(lines[:-1]) + lines[-1][: len(lines[-1]) // 2])  # a kill mid-append
    (run / last["path"]).unlink()  # ... whose image never got logged: it must be rendered again
    resumed = run_hvgen(benchmark_args(run))
    assert resumed.returncode == 0, resumed.stderr
    rows = [json.loads(line) for line in log.read_bytes().splitlines()]  # every line parses again
    assert [row["image_id"] for row in rows].count(last["image_id"]) == 1
    assert snapshot(run) == reference_snapshot


def test_damaged_files_are_not_done_export_refuses_and_a_rerun_repairs(
    tmp_path: Path, reference_run: Path, reference_snapshot: dict[str, str]
) -> None:
    """Truncated, emptied, same-size garbage and symlinked-out files, among renders and scenario
    outputs: none counts as done, export refuses, and the benchmark command redoes exactly them."""
    run = copy_run(reference_run, tmp_path / "run")
    secret = tmp_path / "secret.txt"
    secret.write_text("not for publishing")
    images = sorted((run / "images").rglob("*.png"))
    samples = sorted((run / "scenarios" / "print").rglob("*.png"))
    damaged = {"truncate": images[0], "zero": samples[0], "garbage": images[1], "symlink": samples[1]}
    for damage, path in damaged.items():
        data = path.read_bytes()
        if damage == "truncate":
            path.write_bytes(data[: len(data) // 2])
        elif damage == "zero":
            path.write_bytes(b"")
        elif damage == "garbage":
            path.write_bytes(os.urandom(len(data)))  # same size: only the hash can tell
        else:
            path.unlink()
            path.symlink_to(secret)
    refused = run_hvgen(["export", str(run)])
    assert refused.returncode == 2
    assert "2 of 6 images" in one_error_line(refused.stderr)
    repaired = run_hvgen(benchmark_args(run))
    assert repaired.returncode == 0, repaired.stderr
    assert not any(path.is_symlink() for path in damaged.values())
    assert snapshot(run) == reference_snapshot
    published = b"".join(p.read_bytes() for p in (run / "export").rglob("*.parquet"))
    assert b"not for publishing" not in published


def test_same_size_same_time_replacement_is_caught_at_export(tmp_path: Path, reference_run: Path) -> None:
    """The cheap check (size + mtime) can be fooled on purpose; the export still hashes every byte."""
    run = copy_run(reference_run, tmp_path / "run")
    sample = sorted((run / "scenarios" / "adversarial").rglob("*.png"))[0]
    info = sample.stat()
    sample.write_bytes(os.urandom(info.st_size))
    os.utime(sample, ns=(info.st_atime_ns, info.st_mtime_ns))
    refused = run_hvgen(["export", str(run)])
    assert refused.returncode == 2
    line = one_error_line(refused.stderr)
    assert sample.name in line and "Delete it" in line


def test_stale_temp_files_of_dead_processes_are_removed(tmp_path: Path, reference_run: Path) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    folder = sorted((run / "images").iterdir())[0]
    host = "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())[:40]
    dead = folder / f".x.png.{host}.999999.abcd1234.tmp"  # no process has pid 999999
    live = folder / f".y.png.{host}.{os.getpid()}.abcd1234.tmp"  # this test process is alive
    other_host = folder / ".z.png.elsewhere.12.abcd1234.tmp"  # a shard on another machine
    for path in (dead, live, other_host):
        path.write_bytes(b"partial")
    assert run_hvgen(["render", str(run)]).returncode == 0
    assert not dead.exists() and live.exists() and other_host.exists()


def test_truncated_records_file_is_rewritten(tmp_path: Path, reference_run: Path) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    original = (run / "records.jsonl").read_bytes()
    (run / "records.jsonl").write_bytes(original[: len(original) // 3])
    rerun = run_hvgen(benchmark_args(run))
    assert rerun.returncode == 0, rerun.stderr
    assert "records.jsonl was damaged" in rerun.stderr
    assert (run / "records.jsonl").read_bytes() == original


def test_a_garbage_catalog_is_set_aside_and_rebuilt(
    tmp_path: Path, reference_run: Path, reference_snapshot: dict[str, str]
) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    (run / "catalog.duckdb").write_bytes(os.urandom(200_000))
    export = run_hvgen(["export", str(run)])  # a stage command: says what to do, no traceback
    assert export.returncode == 2
    assert "rebuilt" in one_error_line(export.stderr)
    rerun = run_hvgen(benchmark_args(run))
    assert rerun.returncode == 0, rerun.stderr
    assert list(run.glob("catalog.duckdb.corrupt-*"))
    assert snapshot(run) == reference_snapshot


@pytest.mark.parametrize(
    ("option", "value", "scenario"),
    [("--eps", "0.01", "adversarial"), ("--corruption-preset", "imagenet-c", "corruption")],
)
def test_changed_scenario_settings_are_refused_once_samples_exist(
    tmp_path: Path, reference_run: Path, option: str, value: str, scenario: str
) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    refused = run_hvgen(benchmark_args(run, option, value))
    assert refused.returncode == 2
    line = one_error_line(refused.stderr)
    assert scenario in line and "--overwrite" in line


def test_a_run_with_nothing_rendered_may_change_its_settings(tmp_path: Path) -> None:
    """After the offline-SDXL error, doing what it suggests (--model tiny) must just work."""
    run = tmp_path / "run"
    assert run_hvgen(["dysca", "--num", "3", "--out", str(run), "--dry-run"]).returncode == 0
    switched = run_hvgen(["dysca", "--num", "3", "--model", "tiny", "--steps", "2", "--out", str(run)])
    assert switched.returncode == 0, switched.stderr
    again = run_hvgen(
        ["dysca", "--num", "3", "--model", "tiny", "--steps", "2", "--styles", "all", "--out", str(run)]
    )
    assert again.returncode == 0 and "up to date" in again.stderr, again.stderr


def test_an_output_identical_to_its_clean_image_is_not_a_sample(tmp_path: Path) -> None:
    """A blur of a flat image changes nothing: it is logged as unchanged, never exported."""
    flat = Image.new("RGB", (64, 64), (90, 120, 30))
    (tmp_path / "images").mkdir()
    flat.save(tmp_path / "images" / "flat.png")
    config = RunConfig.from_dict(
        {"benchmark": "dysca", "scenario": {"scenarios": ["corruption"], "corruptions": ["gaussian_blur"]}}
    )
    from hvgen.scenarios import build_scenario

    scenario = build_scenario("corruption", config)
    (future,) = _apply(tmp_path, config, scenario, [Task("flatimage", "images/flat.png", None)], None)
    row = future.result()
    assert row["path"] is None and row["skip_reason"] == UNCHANGED
    assert not (tmp_path / "scenarios").exists()
    # a textured image is changed by the same blur, even at 64 px (the scaled σ is floored)
    noise = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    out = scenario.apply_batch([ScenarioInput(image=noise, seed=1)])[0].image
    assert not np.array_equal(np.asarray(out), np.asarray(noise))
