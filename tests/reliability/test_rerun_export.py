"""A rerun of a finished command leaves the export as it is when nothing it is made from
changed (and says so), and writes it again when something did: a build decision, a manifest
line (new work), a format asked for, a file of the export itself."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from reliability_helpers import copy_run, export_rows, run_hvgen

from hvgen.config import load_run_config
from hvgen.pipeline import stage_build, stage_export, stage_scenarios
from hvgen.sharding import parse_shard

pytestmark = pytest.mark.heavy


def export_files(run: Path) -> dict[str, int]:
    """mtime (ns) of every file of the export and its formats: unchanged means not rewritten."""
    found = {}
    for folder in ("export", "formats"):
        for path in sorted((run / folder).rglob("*")) if (run / folder).is_dir() else []:
            if path.is_file() and path.name != ".hvgen-export-stamp.json":
                found[path.relative_to(run).as_posix()] = path.stat().st_mtime_ns
    return found


def test_a_rerun_leaves_an_up_to_date_export_and_says_so(tmp_path: Path, reference_run: Path) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    before = export_files(run)
    done = run_hvgen(["export", str(run)])
    assert done.returncode == 0, done.stderr
    assert "export up to date" in done.stderr
    assert export_files(run) == before
    summary = json.loads((run / "summary.json").read_text())
    assert summary["export"]["up_to_date"] is True and summary["configs"]


def test_an_added_format_or_a_damaged_file_writes_the_export_again(
    tmp_path: Path, reference_run: Path
) -> None:
    run = copy_run(reference_run, tmp_path / "run")
    config = load_run_config(run)
    assert stage_export(run, config).up_to_date
    with_format = stage_export(run, config, formats=["vlmevalkit"])
    assert not with_format.up_to_date and (run / "formats" / "vlmevalkit").is_dir()
    assert stage_export(run, config, formats=["vlmevalkit"]).up_to_date
    assert stage_export(run, config).up_to_date  # a format written before and not asked for now: kept
    for victim in (
        sorted((run / "export" / "data").rglob("*.parquet"))[0],
        sorted((run / "formats" / "vlmevalkit").rglob("*.*"))[0],
    ):
        rows = export_rows(run)
        victim.write_bytes(victim.read_bytes()[:-1])  # damaged in place
        again = stage_export(run, config, formats=["vlmevalkit"])
        assert not again.up_to_date and export_rows(run) == rows
    stamp = run / "export" / ".hvgen-export-stamp.json"
    stamp.write_text(json.dumps({"decision_state": "x"}))  # an older hvgen's stamp
    assert not stage_export(run, config).up_to_date


def test_a_changed_decision_or_new_work_writes_the_export_again(tmp_path: Path, reference_run: Path) -> None:
    from hvgen.stages.build.fingerprints import fingerprint_image

    run = copy_run(reference_run, tmp_path / "run")
    config = load_run_config(run)
    rows = export_rows(run)
    image = sorted((run / "images").rglob("*.png"))[0]
    leaked = tmp_path / "leaked.txt"  # an earlier release holds one of this run's images: the build drops it
    leaked.write_text(fingerprint_image(image).pixel_sha256 + "\n")
    stage_build(run, config, against=[str(leaked)])
    rebuilt = stage_export(run, config)
    assert not rebuilt.up_to_date and export_rows(run) != rows
    assert stage_export(run, config).up_to_date
    # a manifest line added: a scenario sample deleted and made again
    manifests = {path: path.stat().st_size for path in (run / "manifests").glob("scenario-print.*")}
    sample = sorted((run / "scenarios" / "print").rglob("*.png"))[0]
    sample.unlink()
    stage_scenarios(run, config, parse_shard(None))
    assert any(path.stat().st_size > size for path, size in manifests.items()) or len(
        list((run / "manifests").glob("scenario-print.*"))
    ) > len(manifests)
    assert not stage_export(run, config).up_to_date
    assert stage_export(run, config).up_to_date
    os.utime(run / "export" / "README.md", ns=(1, 1))  # a file of the export touched: written again
    assert not stage_export(run, config).up_to_date


PROBE = """
import sys
from hvgen.cli import main
try:
    main(sys.argv[1:])
except SystemExit as done:
    assert not done.code, done.code
heavy = ("torch", "diffusers", "transformers", "albumentations", "datasets")
print("loaded=" + ",".join(m for m in heavy if m in sys.modules and type(sys.modules[m]).__name__ != "_LazyModule"))
"""


def test_a_finished_rerun_loads_no_model_library(tmp_path: Path, reference_run: Path) -> None:
    """Rerunning the command that made a finished `--scenario all` run renders nothing, perturbs
    nothing and rewrites no export: it imports neither torch nor diffusers (no model is loaded)."""
    import subprocess
    import sys

    from reliability_helpers import NEUTRAL_CWD, benchmark_args

    run = copy_run(reference_run, tmp_path / "run")
    before = export_files(run)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *benchmark_args(run)], capture_output=True, text=True, cwd=NEUTRAL_CWD
    )
    assert done.returncode == 0, done.stderr
    assert "export up to date" in done.stderr
    assert done.stdout.strip().splitlines()[-1] == "loaded=", done.stdout
    assert export_files(run) == before
