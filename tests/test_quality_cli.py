"""`hvgen dysca --forms 2` and `hvgen quality` on tiny planned runs answered by simulated models."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from quality_helpers import simulate_predictions

from hvgen.analysis.quality_report import ModelPredictions, assess
from hvgen.cli import main

SKILLS = dict(zip([f"m{i}" for i in range(10)], np.linspace(0.25, 0.95, 10).tolist()))


def records_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two parallel forms of a small Dysca (planned only: scoring needs no images)."""
    out = tmp_path_factory.mktemp("forms") / "dysca"
    main(
        ["dysca", "--model", "tiny", "--num", "30", "--subtasks", "animal,color,background",
         "--question-types", "mc,tf", "--forms", "2", "--seed", "7", "--out", str(out), "--dry-run", "-q"]
    )  # fmt: skip
    return out


@pytest.fixture(scope="module")
def simulated(forms: Path, tmp_path_factory: pytest.TempPathFactory) -> list[ModelPredictions]:
    folder = tmp_path_factory.mktemp("predictions")
    models = []
    for index, (model, skill) in enumerate(SKILLS.items()):
        paths = [
            simulate_predictions(
                records_of(forms / form), skill, 100 + index, folder / f"{model}-{form}.jsonl"
            )
            for form in ("form-a", "form-b")
        ]
        models.append(ModelPredictions(model, *paths))
    return models


def test_forms_2_makes_two_forms_differing_only_in_seed(forms: Path) -> None:
    configs = {
        form: yaml.safe_load((forms / form / "config.yaml").read_text()) for form in ("form-a", "form-b")
    }
    assert configs["form-a"]["seed"] == 7 and configs["form-b"]["seed"] != 7
    assert {k: v for k, v in configs["form-a"].items() if k != "seed"} == {
        k: v for k, v in configs["form-b"].items() if k != "seed"
    }
    ids_a = {r["id"] for r in records_of(forms / "form-a")}
    ids_b = {r["id"] for r in records_of(forms / "form-b")}
    assert ids_a and not ids_a & ids_b  # a fresh split, same shape
    assert {r["subtask"] for r in records_of(forms / "form-b")} == {"animal", "color", "background"}


def expected_reliability(records: list[dict], skills: dict[str, float]) -> float:
    """The simulation's true parallel-forms r: skill variance over (skill variance + the
    binomial noise of the score, the mean of the per-type accuracies)."""
    counts = {t: sum(r["question_type"] == t for r in records) for t in ("multi choice", "true or false")}
    s = np.array(list(skills.values())) * 100
    noise = [sum((1 / len(counts)) ** 2 * v * (100 - v) / n for n in counts.values()) for v in s]
    return float(s.var() / (s.var() + np.mean(noise)))


def test_simulated_models_parallel_forms_r_lies_in_the_ci_of_the_truth(
    forms: Path, simulated: list[ModelPredictions]
) -> None:
    report = assess(forms / "form-a", forms / "form-b", simulated, seed=0)
    truth = expected_reliability(records_of(forms / "form-a"), SKILLS)
    result = report["parallel_forms"]
    low, high = result["pearson_ci"]
    assert low <= truth <= high, (truth, result)
    assert abs(result["pearson"] - truth) < 0.1
    # scores track the skills: the best simulated model scores highest on both forms
    assert max(report["models"], key=lambda m: report["models"][m]["form_a"]["score"]) == "m9"
    consistency = report["internal_consistency"]["form_a"]
    assert consistency["kr20"] > 0.5 and consistency["n_items"] == len(records_of(forms / "form-a"))
    coverage = report["coverage"]["form_a"]
    assert coverage["subtask"]["present"] == 3 and coverage["subtask"]["declared"] == 20
    assert coverage["question_type"]["missing"] == ["image caption"]


def test_models_swapped_between_forms_break_the_correlation(
    forms: Path, simulated: list[ModelPredictions]
) -> None:
    """The check above can fail: pair each model's form A with another's form B."""
    swapped = [
        ModelPredictions(entry.model, entry.form_a, simulated[(i * 3 + 5) % len(simulated)].form_b)
        for i, entry in enumerate(simulated)
    ]
    report = assess(forms / "form-a", forms / "form-b", swapped, seed=0)
    truth = expected_reliability(records_of(forms / "form-a"), SKILLS)
    assert not report["parallel_forms"]["pearson_ci"][0] <= truth <= report["parallel_forms"]["pearson_ci"][1]


def test_quality_command_end_to_end(
    forms: Path, simulated: list[ModelPredictions], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    chosen = simulated[::3]  # 4 models
    retest = [
        simulate_predictions(
            records_of(forms / "form-a"), SKILLS[e.model], 900 + i, tmp_path / f"{e.model}-again.jsonl"
        )
        for i, e in enumerate(chosen)
    ]
    (tmp_path / "criterion.csv").write_text(
        "model,score\n" + "".join(f"{e.model},{SKILLS[e.model] * 10:.2f}\n" for e in chosen), encoding="utf-8"
    )
    args = ["quality", str(forms / "form-a"), str(forms / "form-b")]
    for entry in chosen:
        args += ["--predictions", f"{entry.model}={entry.form_a},{entry.form_b}"]
    for entry, path in zip(chosen, retest):
        args += ["--retest", f"{entry.model}={path}"]
    args += [
        "--criterion",
        str(tmp_path / "criterion.csv"),
        "--json",
        str(tmp_path / "q.json"),
        "--bootstrap",
        "500",
    ]
    main(args)
    out = capsys.readouterr().out
    assert "parallel-forms reliability" in out and "KR-20" in out and "coverage of subtask" in out
    report = json.loads((tmp_path / "q.json").read_text())
    assert report["benchmark"] == "dysca" and set(report["models"]) == {e.model for e in chosen}
    assert report["test_retest"]["n_models"] == 4 and report["criterion_validity"]["form_a"]["pearson"] > 0.5
    assert 0 <= report["models"]["m0"]["retest"]["item_agreement"] <= 1
    plot = forms / "form-a" / "quality" / "parallel-forms.png"
    assert report["plot"] == str(plot) and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_two_models_is_an_error_saying_why(forms: Path, simulated: list[ModelPredictions], capsys) -> None:
    args = ["quality", str(forms / "form-a"), str(forms / "form-b")]
    for entry in simulated[:2]:
        args += ["--predictions", f"{entry.model}={entry.form_a},{entry.form_b}"]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2
    assert "at least 3 models" in capsys.readouterr().err.replace("\n", " ")


def test_bad_predictions_option_is_an_error(forms: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        main(["quality", str(forms / "form-a"), str(forms / "form-b"), "--predictions", "m1=only-one.jsonl"])
    assert "give two files" in capsys.readouterr().err.replace("\n", " ")


def test_quality_works_for_any_benchmark_with_a_scorer(tmp_path: Path) -> None:
    """VLBias goes through the same registry path: its scorer's headline and items."""
    out = tmp_path / "vlbias"
    main(
        ["vlbias", "--model", "tiny", "--num", "8", "--categories", "age,gender", "--question", "close",
         "--forms", "2", "--out", str(out), "--dry-run", "-q"]
    )  # fmt: skip
    models = []
    for index, skill in enumerate((0.2, 0.5, 0.8, 0.95)):
        paths = [
            simulate_predictions(records_of(out / form), skill, index, tmp_path / f"v{index}-{form}.jsonl")
            for form in ("form-a", "form-b")
        ]
        models.append(ModelPredictions(f"v{index}", *paths))
    report = assess(out / "form-a", out / "form-b", models, n_bootstrap=200)
    assert report["benchmark"] == "vlbias" and report["parallel_forms"]["pearson"] > 0.5
    assert report["coverage"]["form_a"]["category"]["present"] == 2
    assert report["internal_consistency"]["form_a"]["n_items"] == len(records_of(out / "form-a"))


def test_json_on_stdout_and_plot_elsewhere(
    forms: Path, simulated: list[ModelPredictions], tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    args = ["quality", str(forms / "form-a"), str(forms / "form-b"), "--json", "-", "--bootstrap", "100"]
    for entry in simulated[:3]:
        args += ["--predictions", f"{entry.model}={entry.form_a},{entry.form_b}"]
    main([*args, "--plot", str(tmp_path / "scatter.png")])
    report = json.loads(capsys.readouterr().out)
    assert report["parallel_forms"]["n_bootstrap"] == 100 and (tmp_path / "scatter.png").is_file()


def test_forms_must_be_a_positive_count(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                "dysca",
                "--model",
                "tiny",
                "--num",
                "2",
                "--forms",
                "0",
                "--out",
                str(tmp_path / "r"),
                "--dry-run",
            ]
        )
    assert (
        "--forms must be a whole number from 1 to 26" in capsys.readouterr().err
        and not (tmp_path / "r").exists()
    )


def test_a_run_directory_keeps_its_report(
    forms: Path, simulated: list[ModelPredictions], capsys: pytest.CaptureFixture
) -> None:
    args = ["-q", "quality", str(forms / "form-a"), str(forms / "form-b"), "--bootstrap", "100"]
    for entry in simulated[:3]:
        args += ["--predictions", f"{entry.model}={entry.form_a},{entry.form_b}"]
    main(args)
    assert "parallel-forms reliability" in capsys.readouterr().out  # -q still prints the asked-for tables
    report = json.loads((forms / "form-a" / "quality" / "quality.json").read_text())
    assert sorted(report["models"]) == [e.model for e in simulated[:3]]


def test_help_names_every_option_readably(capsys: pytest.CaptureFixture) -> None:
    main(["quality", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for option in (
        "--predictions MODEL=A.jsonl,B.jsonl",
        "--retest MODEL=A2.jsonl",
        "--criterion CSV",
        "--embedder ID|DIR",
    ):
        assert option in text
    assert "at least 3" in text and "<str>" not in text and "<list" not in text
