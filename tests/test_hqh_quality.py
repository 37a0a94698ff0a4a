"""`hvgen quality` on HQH: two parallel forms, simulated models, open answers through the judge."""

from __future__ import annotations

import json

import pytest
from hqh_helpers import export_of, simulate

from hvgen.cli import main

SKILLS = {"weak": 0.15, "fair": 0.45, "good": 0.7, "strong": 0.95}


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("hqh-quality")
    records = {form: export_of(seed, root / form) for form, seed in (("a", 1), ("b", 2))}
    options = []
    for model, skill in SKILLS.items():
        paths = [simulate(records[f], skill, model, root / f"{model}-{f}.jsonl") for f in ("a", "b")]
        options += ["--predictions", f"{model}={paths[0]},{paths[1]}"]
    return root, options


def test_quality_of_hqh_with_the_fake_judge(forms) -> None:
    root, options = forms
    out = root / "quality.json"
    main(["quality", str(root / "a"), str(root / "b"), *options, "--judge", "fake", "--json", str(out)])
    report = json.loads(out.read_text())
    assert report["parallel_forms"]["pearson"] > 0.9
    scores = {model: row["form_a"]["score"] for model, row in report["models"].items()}
    assert sorted(scores, key=scores.get) == list(SKILLS)
    assert set(report["coverage"]["form_a"]) >= {"type", "question_type"}


def test_quality_of_hqh_needs_a_judge_for_open_answers(forms, capsys) -> None:
    root, options = forms
    with pytest.raises(SystemExit) as exit_info:
        main(["quality", str(root / "a"), str(root / "b"), *options, "--json", str(root / "q.json")])
    assert exit_info.value.code == 2 and "pass --judge" in capsys.readouterr().err
