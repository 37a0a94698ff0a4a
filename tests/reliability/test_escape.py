"""Nothing escapes the run directory: no file outside it is read into an export (which `push`
uploads) and nothing is written outside it, whatever its manifests, config or files say; and no
machine path goes into anything published."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reliability_helpers import benchmark_args, copy_run, one_error_line, run_hvgen, snapshot

pytestmark = pytest.mark.heavy


def _published_bytes(run: Path) -> bytes:
    return b"".join(path.read_bytes() for path in (run / "export").rglob("*") if path.is_file())


def test_forged_manifest_lines_are_ignored(tmp_path: Path, reference_run: Path) -> None:
    """Lines naming an outside file, a traversal scenario or an unplanned key change nothing."""
    run = copy_run(reference_run, tmp_path / "run")
    secret = tmp_path / "secret.txt"
    secret.write_text("private key material")
    before = snapshot(run)
    render_log = run / "manifests" / "render.00000-of-00001.jsonl"
    first = json.loads(render_log.read_text().splitlines()[0])
    forged = [
        {**first, "path": str(secret)},  # an absolute path for a real image id
        {**first, "image_id": "../../../../etc", "path": "../../../../etc/hostname"},
    ]
    with render_log.open("a") as handle:
        handle.writelines(json.dumps(row) + "\n" for row in forged)
    print_log = run / "manifests" / "scenario-print.00000-of-00001.jsonl"
    row = json.loads(print_log.read_text().splitlines()[0])
    with print_log.open("a") as handle:
        handle.write(json.dumps({**row, "scenario": "../../../../x", "path": str(secret)}) + "\n")
        handle.write(json.dumps({**row, "path": "../../secret.txt"}) + "\n")
    (run / "manifests" / "scenario-x';DROP TABLE records;--.00000-of-00001.jsonl").write_text(
        json.dumps({**row, "scenario": "x';DROP TABLE records;--"}) + "\n"
    )
    exported = run_hvgen(["export", str(run)])
    assert exported.returncode == 0, exported.stderr
    assert b"private key material" not in _published_bytes(run)
    assert snapshot(run) == before
    assert not (tmp_path / "x").exists() and not list(tmp_path.glob("*.parquet"))


def test_a_symlinked_scenario_folder_is_refused(tmp_path: Path, reference_run: Path) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    outside = tmp_path / "outside"
    (run / "scenarios" / "print").rename(outside)
    (run / "scenarios" / "print").symlink_to(outside, target_is_directory=True)
    refused = run_hvgen(["export", str(run)])
    assert refused.returncode == 2
    assert "not finished" in one_error_line(refused.stderr)  # nothing through the link counts
    rerun = run_hvgen(["scenario", str(run), "--scenario", "print"])
    assert rerun.returncode == 2
    assert "symbolic link" in one_error_line(rerun.stderr)


def test_a_config_cannot_send_the_export_outside_the_run(tmp_path: Path, reference_run: Path) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    config = (run / "config.yaml").read_text().replace("split: test", "split: ../../x")
    (run / "config.yaml").write_text(config)
    refused = run_hvgen(["export", str(run)])
    assert refused.returncode == 2
    assert "export.split" in one_error_line(refused.stderr)
    assert not (tmp_path / "x").exists() and not list(tmp_path.rglob("x-*.parquet"))


def test_no_machine_path_in_the_published_card(tmp_path: Path) -> None:
    vocab = tmp_path / "my-private-vocab"
    vocab.mkdir()
    (vocab / "animal.txt").write_text("cat\ndog\ncow\nowl\nfox\n")
    run = tmp_path / "run"
    done = run_hvgen(benchmark_args(run, "--vocab", str(vocab)))
    assert done.returncode == 0, done.stderr
    card = (run / "export" / "README.md").read_text()
    assert str(tmp_path) not in card and "<local: my-private-vocab>" in card
    assert str(tmp_path).encode() not in _published_bytes(run)
