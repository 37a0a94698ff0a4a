"""The analysis commands repair a damaged catalog like the stage commands do (issue 21, item 5):
`hvgen scan --run`, `hvgen quality`, `hvgen twins` and `hvgen contamination` read a run's
catalog, and met a truncated or garbage one with a one-line refusal (`quality`) or a traceback;
now each moves it aside, rebuilds it from config.yaml and the manifests and does its work, or
refuses in one line where nothing is left to rebuild from."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from reliability_helpers import one_error_line

from hvgen.cli import main
from hvgen.store.layout import CONFIG_BACKUP, CONFIG_FILE

DAMAGE = ["truncated-40%", "garbage"]


def damage_catalog(run: Path, damage: str) -> None:
    path = run / "catalog.duckdb"
    data = path.read_bytes()
    if damage.startswith("truncated-"):
        path.write_bytes(data[: len(data) * int(damage.split("-")[1].rstrip("%")) // 100])
    else:
        path.write_bytes(os.urandom(len(data)))


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]


def _predictions(run: Path, path: Path, right_every: int) -> Path:
    """A model that answers every `right_every`-th multiple-choice question right (else 'Z')."""
    lines = [
        json.dumps(
            {"id": r["id"], "prediction": f"({'ABCD'[r['answer_index']]})" if i % right_every == 0 else "(Z)"}
        )
        for i, r in enumerate(r for r in _records(run) if r["question_type"] == "multi choice")
    ]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two parallel forms of a small Dysca, planned only (scoring needs no images)."""
    out = tmp_path_factory.mktemp("forms") / "dysca"
    main(["dysca", "--model", "tiny", "--num", "12", "--subtasks", "animal,color", "--question-types", "mc",
          "--forms", "2", "--seed", "5", "--out", str(out), "--dry-run", "-q"])  # fmt: skip
    return out


def _repaired(err: str) -> None:
    assert "Traceback" not in err, err
    assert "catalog.duckdb could not be read" in err and "rebuilt it" in err, err


@pytest.mark.parametrize("damage", DAMAGE)
def test_quality_rebuilds_damaged_catalogs_of_both_forms(
    tmp_path: Path, forms: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "forms"
    shutil.copytree(forms, work)
    args = ["quality", str(work / "form-a"), str(work / "form-b"), "--json", str(tmp_path / "q.json"),
            "--bootstrap", "200"]  # fmt: skip
    for model, every in (("m1", 1), ("m2", 2), ("m3", 3)):
        paths = [
            _predictions(work / form, tmp_path / f"{model}-{form}.jsonl", every)
            for form in ("form-a", "form-b")
        ]
        args += ["--predictions", f"{model}={paths[0]},{paths[1]}"]
    for form in ("form-a", "form-b"):
        damage_catalog(work / form, damage)
    main(args)
    _repaired(capsys.readouterr().err)
    assert set(json.loads((tmp_path / "q.json").read_text())["models"]) == {"m1", "m2", "m3"}
    for form in ("form-a", "form-b"):
        assert list((work / form).glob("catalog.duckdb.corrupt-*")), form


def test_quality_refuses_in_one_line_when_nothing_is_left_to_rebuild_from(
    tmp_path: Path, forms: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    work = tmp_path / "forms"
    shutil.copytree(forms, work)
    damage_catalog(work / "form-a", "garbage")
    for name in (CONFIG_FILE, CONFIG_BACKUP):  # config.yaml and its copy: no plan to rebuild from
        (work / "form-a" / name).unlink()
    preds = _predictions(work / "form-b", tmp_path / "p.jsonl", 1)
    args = ["quality", str(work / "form-a"), str(work / "form-b")]
    for model in ("m1", "m2", "m3"):
        args += ["--predictions", f"{model}={preds},{preds}"]
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 2
    line = one_error_line(capsys.readouterr().err.replace("\n", " ").replace("error:", "\nerror:"))
    assert "form-a" in line and "not a readable DuckDB catalog" in line, line


@pytest.mark.parametrize("damage", DAMAGE)
def test_twins_and_contamination_rebuild_damaged_catalogs(
    tmp_path: Path, forms: Path, damage: str, capsys: pytest.CaptureFixture[str]
) -> None:
    release = tmp_path / "release"
    shutil.copytree(forms / "form-a", release)
    twins = tmp_path / "twins"
    damage_catalog(release, damage)
    main(["twins", str(release), "--out", str(twins), "--dry-run", "-q"])
    _repaired(capsys.readouterr().err)
    args = ["contamination", "--release", str(release), "--twins", str(twins), "--json", str(tmp_path / "c.json"),
            "--bootstrap", "200"]  # fmt: skip
    for model, every in (("m1", 1), ("m2", 2)):
        args += ["--predictions", f"{model}={_predictions(release, tmp_path / f'{model}-r.jsonl', every)},"
                 f"{_predictions(twins, tmp_path / f'{model}-t.jsonl', every)}"]  # fmt: skip
    damage_catalog(release, damage)
    damage_catalog(twins, damage)
    main(args)
    _repaired(capsys.readouterr().err)
    assert json.loads((tmp_path / "c.json").read_text())["models"]
    assert len(list(release.glob("catalog.duckdb.corrupt-*"))) == 2
    assert list(twins.glob("catalog.duckdb.corrupt-*"))


@pytest.mark.heavy  # renders with the tiny model
def test_scan_of_a_run_rebuilds_its_damaged_catalog(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    main(["dysca", "--model", "tiny", "--num", "2", "--out", str(run), "--dry-run", "-q"])
    damage_catalog(run, "truncated-40%")
    out = tmp_path / "scan"
    main(["scan", "tiny", "--run", str(run), "--out", str(out), "--steps", "2", "--batch-size", "4"])
    _repaired(capsys.readouterr().err)
    report = json.loads((out / "scan.json").read_text())
    prompts = {r["prompt"] for r in _records(run)}
    assert {r["prompt"] for r in report["results"]} <= prompts and report["results"]
