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


@pytest.mark.parametrize("stage", ["render", "scenario"])
def test_a_file_rewritten_with_its_old_size_and_time_is_redone(
    tmp_path: Path, reference_run: Path, reference_snapshot: dict[str, str], stage: str
) -> None:
    """Content replaced in place with the same size and the old mtime put back: the lstat check
    must not count it as done (its ctime moved), so the stage's own rerun redoes exactly it —
    not only the export noticing later."""
    run = copy_run(reference_run, tmp_path / "run")
    rerun = run_hvgen([stage, str(run)])  # a copied run (new ctimes): hashed, found intact, kept
    assert rerun.returncode == 0, rerun.stderr
    assert " 1 written" not in rerun.stderr and " 1 rendered" not in rerun.stderr
    folder = run / ("images" if stage == "render" else "scenarios/adversarial")
    target = sorted(folder.rglob("*.png"))[0]
    info = target.stat()
    target.write_bytes(os.urandom(info.st_size))
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    redo = run_hvgen(
        ["render", str(run)] if stage == "render" else ["scenario", str(run), "--scenario", "adversarial"]
    )
    assert redo.returncode == 0, redo.stderr
    assert ("render: 1 rendered" if stage == "render" else "scenario adversarial: 1 written") in redo.stderr
    assert run_hvgen(["export", str(run)]).returncode == 0
    assert snapshot(run) == reference_snapshot


def test_lines_without_a_ctime_are_checked_by_hash(tmp_path: Path, reference_run: Path) -> None:
    """Manifests written before ctimes were recorded: their files are hashed (kept when intact,
    redone when not), never trusted on size and mtime alone."""
    run = copy_run(reference_run, tmp_path / "run")
    log = run / RENDER_LOG
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    log.write_text(
        "".join(json.dumps({k: v for k, v in row.items() if k != "ctime_ns"}) + "\n" for row in rows)
    )
    target = run / rows[0]["path"]
    info = target.stat()
    target.write_bytes(os.urandom(info.st_size))
    os.utime(target, ns=(info.st_atime_ns, info.st_mtime_ns))
    redo = run_hvgen(["render", str(run)])
    assert redo.returncode == 0 and f"render: 1 rendered, {len(rows) - 1} already done" in redo.stderr, (
        redo.stderr
    )


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


CATALOG_DAMAGE = [f"truncated-{percent}%" for percent in range(5, 100, 5)] + ["garbage", "empty", "zeros"]


def damage_catalog(run: Path, damage: str) -> None:
    path = run / "catalog.duckdb"
    data = path.read_bytes()
    if damage.startswith("truncated-"):
        path.write_bytes(data[: len(data) * int(damage.split("-")[1].rstrip("%")) // 100])
    elif damage == "garbage":
        path.write_bytes(os.urandom(200_000))
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        path.write_bytes(b"\0" * len(data))


@pytest.fixture(scope="module")
def choice_predictions(reference_run: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Right answers to the run's multiple-choice questions (no captions: no embedder needed)."""
    records = [json.loads(line) for line in (reference_run / "records.jsonl").read_text().splitlines()]
    path = tmp_path_factory.mktemp("predictions") / "p.jsonl"
    path.write_text(
        "".join(
            json.dumps({"id": r["id"], "prediction": f"({'ABCD'[r['answer_index']]})"}) + "\n"
            for r in records
            if r["question_type"] == "multi choice"
        )
    )
    return path


@pytest.mark.parametrize("damage", CATALOG_DAMAGE)
def test_a_damaged_catalog_is_rebuilt_by_every_command(
    tmp_path: Path,
    reference_run: Path,
    reference_snapshot: dict[str, str],
    choice_predictions: Path,
    damage: str,
    capsys: pytest.CaptureFixture,
) -> None:
    """Cut short at any length, random bytes, empty or zeroed: each command that opens the
    catalog moves it aside and rebuilds it from config.yaml and the manifests, and does its work
    — a rerun, export, stats and score, one after another, each meeting a fresh damage."""
    from hvgen.cli import main

    run = copy_run(reference_run, tmp_path / "run")
    commands = [
        benchmark_args(run),
        ["export", str(run)],
        ["stats", str(run), "--json", str(tmp_path / "stats.json")],
        ["score", "dysca", str(run), str(choice_predictions), "--output", str(tmp_path / "score.json")],
    ]
    for args in commands:
        damage_catalog(run, damage)
        main(["-q", *args])
        err = capsys.readouterr().err
        assert "Traceback" not in err and "catalog.duckdb could not be read" in err, (args[0], err)
    assert len(list(run.glob("catalog.duckdb.corrupt-*"))) == len(commands)
    assert json.loads((tmp_path / "stats.json").read_text())["records"] > 0
    assert json.loads((tmp_path / "score.json").read_text())["overall"]["average"] == 100.0
    assert snapshot(run) == reference_snapshot


def test_damage_found_while_writing_sets_the_catalog_aside(tmp_path: Path, reference_run: Path) -> None:
    """Damage in a block the first full read does not touch (an index, found on write): the
    command says so in one line and has set the catalog aside, so running it again rebuilds."""
    import duckdb

    from hvgen.store.catalog import CatalogCorruptError, open_catalog

    run = copy_run(reference_run, tmp_path / "run")
    with pytest.raises(CatalogCorruptError, match="damaged while in use"), open_catalog(run) as con:
        con.execute("SELECT 1").fetchall()
        raise duckdb.IOException(
            "Corrupt database file: computed checksum 1 does not match stored checksum 2"
        )
    assert not (run / "catalog.duckdb").exists() and list(run.glob("catalog.duckdb.corrupt-*"))
    assert run_hvgen(["export", str(run)]).returncode == 0


def test_a_damaged_catalog_whose_run_lost_its_manifests_is_one_line(
    tmp_path: Path, reference_run: Path
) -> None:
    """Rebuilding needs the manifests to know what is done: without them export refuses in one
    line (the plan comes back, the images must be verified again by rendering)."""
    run = copy_run(reference_run, tmp_path / "run")
    damage_catalog(run, "truncated-40%")
    for log in (run / "manifests").iterdir():
        log.unlink()
    refused = run_hvgen(["export", str(run)])
    assert refused.returncode == 2
    assert "no image is rendered yet" in one_error_line(refused.stderr)
    stats = run_hvgen(["stats", str(run)])
    assert stats.returncode == 0 and "Traceback" not in stats.stderr


def test_a_garbage_config_is_rewritten_by_a_benchmark_rerun(
    tmp_path: Path, reference_run: Path, reference_snapshot: dict[str, str]
) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    original = (run / "config.yaml").read_bytes()
    (run / "config.yaml").write_bytes(b"\x00\xff: [unclosed\n\tgarbage")
    rerun = run_hvgen(benchmark_args(run))
    assert rerun.returncode == 0, rerun.stderr
    assert "config.yaml was damaged" in rerun.stderr and "Traceback" not in rerun.stderr
    assert (run / "config.yaml").read_bytes() == original and list(run.glob("config.yaml.corrupt-*"))
    assert snapshot(run) == reference_snapshot


def test_a_rerun_with_other_settings_is_still_checked_when_the_config_is_damaged(
    tmp_path: Path, reference_run: Path
) -> None:
    """The damaged config.yaml's copy (then the catalog's plan) still guards the run: other
    render settings or another seed are refused, and the damaged file stays where it was."""
    run = copy_run(reference_run, tmp_path / "run")
    (run / "config.yaml").write_text("benchmark: [")
    refused = run_hvgen(benchmark_args(run, "--steps", "3"))
    assert refused.returncode == 2 and "steps" in one_error_line(refused.stderr)
    (run / ".config.yaml.last").write_text("also: [garbage")
    refused = run_hvgen([*benchmark_args(run)[:-4], "--seed", "12", "--out", str(run)])
    assert refused.returncode == 2 and "seed" in one_error_line(refused.stderr)
    assert (run / "config.yaml").read_text() == "benchmark: ["
    ok = run_hvgen(benchmark_args(run))  # the right settings: rewritten from the command line
    assert ok.returncode == 0, ok.stderr
    assert "its copy is damaged too" in ok.stderr


def test_stage_commands_restore_a_damaged_config_from_its_copy_or_refuse(
    tmp_path: Path, reference_run: Path
) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    original = (run / "config.yaml").read_bytes()
    (run / "config.yaml").write_bytes(original[: len(original) // 3] + b"\n  - [")
    restored = run_hvgen(["stats", str(run)])
    assert restored.returncode == 0, restored.stderr
    assert "restored it from its copy" in restored.stderr
    assert (run / "config.yaml").read_bytes() == original
    for path in (run / "config.yaml", run / ".config.yaml.last"):
        path.write_bytes(b"\xff\xfe not yaml")
    for command in ("export", "render", "stats", "push"):
        args = [command, str(run)] + (["--repo-id", "me/x", "--dry-run"] if command == "push" else [])
        refused = run_hvgen(args)
        assert refused.returncode == 2
        line = one_error_line(refused.stderr)
        assert "config.yaml" in line and "Rerun the benchmark command" in line


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
