"""A resumed run redoes the scenario outputs an algorithm of another version made.

Each scenario manifest line records its scenario's algorithm version (hvgen.scenarios.versions);
an output counts as done only at the current version, so a run started by an older hvgen (whose
corruption kernels drew other noise) never mixes old and new samples in one split. A line without
a version was written before versions were recorded and counts as version 1.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from hvgen.analysis.status import run_status
from hvgen.cli import main
from hvgen.config import load_run_config
from hvgen.pipeline import stage_scenarios
from hvgen.scenarios.versions import CORRUPTION_VERSION, PRINT_ATTACK_VERSION, scenario_version
from hvgen.sharding import Shard
from hvgen.store.manifest import read_manifest_rows

SCENARIOS = ("corruption", "print")


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny run with its corruption and print outputs made by the current code."""
    out = tmp_path_factory.mktemp("versions") / "run"
    args = ["dysca", "--model", "tiny", "--num", "3", "--steps", "2", "--scenario", ",".join(SCENARIOS)]
    main([*args, "--quiet", "--out", str(out)])
    return out


@pytest.fixture
def run(finished: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "run"
    shutil.copytree(finished, copy)
    return copy


def manifest(run: Path, scenario: str) -> Path:
    (path,) = sorted((run / "manifests").glob(f"scenario-{scenario}.*.jsonl"))
    return path


def lines(run: Path, scenario: str) -> list[dict]:
    return read_manifest_rows([manifest(run, scenario)])


def set_versions(run: Path, scenario: str, version: int | None) -> None:
    """Rewrite a manifest as another hvgen would have written it (None: no version, as before versions)."""
    rows = lines(run, scenario)
    for row in rows:
        row.pop("version", None)
        if version is not None:
            row["version"] = version
    manifest(run, scenario).write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


def resume(run: Path) -> dict[str, object]:
    return {summary.scenario: summary for summary in stage_scenarios(run, load_run_config(run), Shard())}


def done(run: Path) -> dict[str, int]:
    return {stage.stage: stage.done for stage in run_status(run, shards=1).stages}


def test_lines_record_the_current_version(finished: Path) -> None:
    assert CORRUPTION_VERSION >= 2  # the quantile-table noise, impulse gaps and FFT defocus
    for scenario in SCENARIOS:
        rows = lines(finished, scenario)
        assert rows and {row["version"] for row in rows} == {scenario_version(scenario)}


def test_same_version_nothing_is_redone(run: Path) -> None:
    before = {scenario: manifest(run, scenario).read_bytes() for scenario in SCENARIOS}
    files = {path: path.read_bytes() for path in (run / "scenarios").rglob("*.png")}
    summaries = resume(run)
    for scenario in SCENARIOS:
        summary = summaries[scenario]
        assert summary.already_done == summary.units and summary.written == summary.outdated == 0
        assert manifest(run, scenario).read_bytes() == before[scenario]
    assert {path: path.read_bytes() for path in (run / "scenarios").rglob("*.png")} == files


def test_outputs_of_an_older_version_are_redone(run: Path) -> None:
    """Corruption lines without a version (version 1: the kernels before the quantile tables) are
    pending and redone; print lines without one are version 1, print's current version: kept."""
    assert PRINT_ATTACK_VERSION == 1
    units = {scenario: len(lines(run, scenario)) for scenario in SCENARIOS}
    set_versions(run, "corruption", None)
    set_versions(run, "print", None)
    assert done(run) == {"render": 3, "scenario corruption": 0, "scenario print": units["print"]}
    print_before = manifest(run, "print").read_bytes()
    summaries = resume(run)
    corruption = summaries["corruption"]
    assert corruption.outdated == units["corruption"] and corruption.already_done == 0
    assert corruption.written + corruption.unchanged + corruption.skipped == units["corruption"]
    redone = lines(run, "corruption")[units["corruption"] :]
    assert len(redone) == units["corruption"]
    assert {row["version"] for row in redone} == {CORRUPTION_VERSION}
    assert manifest(run, "print").read_bytes() == print_before
    assert summaries["print"].already_done == units["print"]
    assert done(run) == {
        "render": 3,
        "scenario corruption": units["corruption"],
        "scenario print": units["print"],
    }


def test_outputs_of_a_newer_version_are_redone_too(run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A run an hvgen of a later version started, resumed by this one: its outputs are not this
    code's either. The command says what it redid."""
    units = len(lines(run, "print"))
    set_versions(run, "print", PRINT_ATTACK_VERSION + 1)
    capsys.readouterr()
    main(["scenario", str(run), "--scenario", "print"])
    message = " ".join(capsys.readouterr().err.split())
    assert f"0 already done; redid {units} output(s) of another version of the print algorithm" in message
    assert {row["version"] for row in lines(run, "print")[units:]} == {PRINT_ATTACK_VERSION}
    assert done(run)["scenario print"] == units
