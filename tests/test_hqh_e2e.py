"""`hvgen hqh --model tiny` end to end: every scenario, open and closed configs, HQH's release
layout and `hvgen score hqh` on the run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_dataset
from hqh_helpers import export_of, simulate

from hvgen.cli import main

pytestmark = pytest.mark.heavy

TYPES = {"attribute", "action", "count", "comparison", "environment", "existence", "OCR", "relation"}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("hqh") / "run"
    main(["hqh", "--scenario", "all", "--model", "tiny", "--num", "8", "--steps", "1", "--out", str(out)])
    return out


def test_every_scenario_exports_open_and_closed_forms_of_all_types(run: Path) -> None:
    planned = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    ocr = sum(r["type"] == "OCR" for r in planned)
    for scenario in ("clean", "corruption", "print", "adversarial"):
        for form in ("open", "closed"):
            name = form if scenario == "clean" else f"{scenario}_{form}"
            data = load_dataset(str(run / "export"), name, split="test")
            expected = [r for r in planned if r["form"] == form]
            skipped = sum(r["type"] == "OCR" for r in expected) if scenario == "print" else 0
            assert data.num_rows == len(expected) - skipped, name
            assert {row["type"] for row in data} == TYPES - ({"OCR"} if scenario == "print" else set())
            assert data[0]["image"].size[0] > 0
            assert ocr and {row["form"] for row in data} == {form}
    card = (run / "export" / "README.md").read_text()
    assert "Field mapping to HQH.json" in card and "config_name: closed" in card


def test_release_format_matches_hqh_json(run: Path) -> None:
    main(["export", str(run), "--format", "hqh"])
    folder = run / "formats" / "hqh"
    questions = json.loads((folder / "HQH_open.json").read_text())
    image_data = json.loads((folder / "image_data.json").read_text())
    assert Counter(q["type"] for q in questions) == dict.fromkeys(TYPES, 1)
    for question in questions:
        assert list(question)[:6] == ["id", "image_id", "image", "instruction", "ground_truth", "type"]
        assert isinstance(question["id"], int) and (folder / question["image"]).is_file()
        assert set(image_data[str(question["image_id"])]) == {"caption", "image_information"}
    # HQH's answer file (its records with the model's "answer") is read back by hvgen_id.
    answers = [
        {**q, "answer": q["ground_truth"] if q["type"] != "count" else "I cannot tell."} for q in questions
    ]
    (folder / "answers.json").write_text(json.dumps(answers))
    report_path = folder / "report.json"
    main(
        [
            "score",
            "hqh",
            str(run),
            str(folder / "answers.json"),
            "--judge",
            "fake",
            "--output",
            str(report_path),
        ]
    )
    report = json.loads(report_path.read_text())
    assert (
        report["open"]["n"] == 8
        and report["open"]["Main Hal%"] == 12.5
        and report["open"]["count Hal%"] == 100.0
    )
    assert report["extra_ids"] == [] and len(report["missing_ids"]) == len(planned_closed(run))


def planned_closed(run: Path) -> list[dict]:
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    return [r for r in records if r["form"] == "closed"]


def test_score_the_run_with_the_fake_judge(run: Path, tmp_path: Path) -> None:
    planned = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    lines = []
    for record in planned:
        # Right on the clean images; on corrupted ones the foil (a wrong value) every time.
        right = record["ground_truth"] if record["form"] == "open" else record["answer"]
        if record["form"] == "open":
            wrong = f"It is {record['foil']}."
        elif record["question_type"] == "yes/no":
            wrong = "No" if record["answer"] == "Yes" else "Yes"
        else:
            wrong = "ABCD"[record["options"].index(record["foil"])]
        lines.append(json.dumps({"id": record["id"], "prediction": right}))
        lines.append(json.dumps({"id": record["id"], "prediction": wrong, "scenario": "corruption"}))
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text("\n".join(lines) + "\n")
    out = tmp_path / "report.json"
    main(["score", "hqh", str(run), str(predictions), "--judge", "fake", "--output", str(out)])
    report = json.loads(out.read_text())
    clean, corruption = report["by_scenario"]["clean"], report["by_scenario"]["corruption"]
    assert clean["Overall Hal%"] == clean["yes/no Hal%"] == clean["multi choice Hal%"] == 0.0
    assert corruption["Main Hal%"] == corruption["yes/no Hal%"] == corruption["multi choice Hal%"] == 100.0
    assert report["score"] == 50.0
    assert report["missing_ids"] == [] and report["n_scored"] == 2 * len(planned)


def test_card_shows_the_quality_report_of_the_run(run: Path, tmp_path: Path) -> None:
    planned = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    form_b = export_of(5, tmp_path / "form-b", num=8)
    options = []
    for model, skill in {"weak": 0.1, "fair": 0.5, "strong": 0.95}.items():
        a = simulate(planned, skill, model, tmp_path / f"{model}-a.jsonl")
        b = simulate(form_b, skill, model, tmp_path / f"{model}-b.jsonl")
        options += ["--predictions", f"{model}={a},{b}"]
    main(["quality", str(run), str(tmp_path / "form-b"), *options, "--judge", "fake"])
    report = json.loads((run / "quality" / "quality.json").read_text())
    main(["export", str(run)])
    card = (run / "export" / "README.md").read_text()
    assert "### Reliability (`hvgen quality`)" in card
    assert f"Pearson r = {report['parallel_forms']['pearson']:.3f}" in card and "3 models" in card
    assert (run / "export" / "plots" / "parallel-forms.png").read_bytes() == (
        run / "quality" / "parallel-forms.png"
    ).read_bytes()
    assert load_dataset(str(run / "export"), "open", split="test").num_rows == 8


def test_release_readme_describes_hqhs_current_evaluate_py(tmp_path: Path) -> None:
    """HQH's evaluate.py and utils.py (HQHBench/HQHBench, February 2025) agree on five `{}`: the README
    must not send users to fix a placeholder mismatch that is gone."""
    from hvgen.generators.hqh.release import _readme

    text = _readme(tmp_path, ["open"])
    assert "has five `{}` and evaluate.py fills all five" in text and "openai<1" in text
    assert "one more `{}` than evaluate.py fills" not in text and "add the output-format text" not in text
