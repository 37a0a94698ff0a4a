"""`hvgen score dysca`: Dysca's own metrics on hand-made predictions, where every number is known."""

from __future__ import annotations

import json
import random
from collections import Counter
from pathlib import Path

import pytest
from hvgen.generators.dysca import scoring
from quality_helpers import letter, simulated_answer, tiny_embedder

from hvgen.cli import main
from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator

INSTRUCTION = (
    "Question: What is the animal in the image?\n\nChoices:\n(A) owl\n(B) butterfly\n(C) crow\n(D) parrot\n"
    "Hint: Please answer the question and provide the correct option letter, e.g., (A), (B), (C), (D), at the "
    "end. Do not contain the analysis progress.\nYour answer is:"
)


def plan(num: int = 12, seed: int = 2024, **options) -> list[dict]:
    options.setdefault("subtasks", "animal,color,background")
    return get_generator("dysca")(PlanRequest(run_seed=seed, num=num, options=options)).plan().records


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def embedder(tmp_path_factory: pytest.TempPathFactory) -> str:
    return str(tiny_embedder(tmp_path_factory.mktemp("embedder") / "tiny-minilm"))


# ------------------------------------------------------------------ letter extraction


@pytest.mark.parametrize(
    ("prediction", "option", "by_letter"),
    [
        ("(C)", "crow", True),
        ("The answer is (b).", "butterfly", True),  # "(x)" wins over capitals
        ("I think it is (A), no wait, (D)", "parrot", True),  # the last one
        ("B", "butterfly", True),
        ("Answer: C", "crow", True),  # last capital letter
        ("parrot", "parrot", False),  # no capital: nearest option line by edit distance
        ("a crow", "crow", False),
        ("Z", "owl", False),  # a letter naming no option: the nearest line, "(A) owl"
    ],
)
def test_extract_choice_follows_dyscas_rule(prediction: str, option: str, by_letter: bool) -> None:
    assert scoring.extract_choice(prediction, INSTRUCTION) == (option, by_letter)


def test_levenshtein_hand_cases() -> None:
    assert scoring.levenshtein("kitten", "sitting") == 3
    assert scoring.levenshtein("", "abc") == 3
    assert scoring.levenshtein("flaw", "lawn") == 2
    assert scoring.levenshtein("same", "same") == 0


def test_true_false_words_map_to_their_option() -> None:
    tf = "Question: Is it a cat?\n\nChoices:\n(A) True\n(B) False\nHint: answer.\nYour answer is:"
    assert scoring.extract_choice("True", tf)[0] == "True"
    assert scoring.extract_choice("False", tf)[0] == "False"  # "F" is 8 edits from both lines: ties go last
    assert scoring.extract_choice("(B)", tf)[0] == "False"


# ------------------------------------------------------------------ whole runs


def test_perfect_predictions_score_100(tmp_path: Path, embedder: str) -> None:
    records = plan()
    rows = [{"id": r["id"], "prediction": simulated_answer(r, True, random.Random(0))} for r in records]
    report = scoring.score_predictions_file(records, write_jsonl(tmp_path / "p.jsonl", rows), embedder)
    overall = report["overall"]
    assert overall["multi_choice_accuracy"] == 100.0 and overall["true_or_false_accuracy"] == 100.0
    # a caption identical to its reference has cosine 1 whatever the encoder
    assert overall["caption_score"] == 100.0 and report["score"] == 100.0
    assert report["missing_ids"] == [] and report["extra_ids"] == [] and report["n_scored"] == len(records)
    assert set(report["by_subtask"]) == {"animal", "color", "background"}
    assert all(m["average"] == 100.0 for m in report["by_subtask"].values())
    assert report["by_scenario"]["clean"]["n"] == len(records)
    json.dumps(report)


def test_always_a_scores_what_the_answer_positions_say(tmp_path: Path) -> None:
    records = plan(num=16, question_types="mc,tf")
    rows = [{"id": r["id"], "prediction": "(A)"} for r in records]
    report = scoring.score_predictions_file(records, write_jsonl(tmp_path / "a.jsonl", rows))
    for question_type, metric in (
        ("multi choice", "multi_choice_accuracy"),
        ("true or false", "true_or_false_accuracy"),
    ):
        typed = [r for r in records if r["question_type"] == question_type]
        expected = round(100 * sum(r["answer_index"] == 0 for r in typed) / len(typed), 2)
        assert report["by_question_type"][question_type][metric] == expected
    for subtask, metrics in report["by_subtask"].items():
        mc = [r for r in records if r["subtask"] == subtask and r["question_type"] == "multi choice"]
        assert metrics["multi_choice_accuracy"] == round(
            100 * sum(r["answer_index"] == 0 for r in mc) / len(mc), 2
        )
    assert report["overall"]["caption_score"] is None  # no captions asked: no embedder needed


def test_scenarios_missing_extra_and_malformed_lines_are_reported(tmp_path: Path) -> None:
    records = plan(num=8, question_types="mc")
    first, second = records[0], records[1]
    right = letter(first["answer_index"])
    lines = [json.dumps({"id": r["id"], "prediction": f"({letter(r['answer_index'])})"}) for r in records[1:]]
    lines += [
        json.dumps({"id": first["id"], "prediction": f"({right})", "scenario": "corruption"}),
        json.dumps({"id": "no-such-question", "prediction": "(A)"}),
        json.dumps({"id": second["id"], "prediction": "(A)"}),  # duplicate: the first answer counts
        "{not json",
        json.dumps({"id": first["id"]}),
        json.dumps(["a list"]),
    ]
    (tmp_path / "p.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    report = scoring.score_predictions_file(records, tmp_path / "p.jsonl")
    assert report["n_malformed_lines"] == 3 and len(report["duplicate_lines"]) == 1
    assert report["extra_ids"] == ["no-such-question"]
    corruption_missing = [f"{r['id']}@corruption" for r in records[1:]]
    assert sorted(report["missing_ids"]) == sorted([first["id"], *corruption_missing])
    assert report["by_scenario"]["clean"]["multi_choice_accuracy"] == 100.0
    assert report["by_scenario"]["corruption"]["n"] == 1
    assert list(report["by_scenario"]) == ["clean", "corruption"]
    assert report["items"][f"{first['id']}@corruption"] == 1.0


def test_unreadable_predictions_are_one_clear_error(tmp_path: Path) -> None:
    records = plan(num=4, question_types="mc")
    with pytest.raises(HvgenError, match="no usable prediction.*line 1"):
        scoring.score_predictions_file(records, write_jsonl(tmp_path / "bad.jsonl", [{"id": 1}]))
    with pytest.raises(HvgenError, match="cannot read predictions file"):
        scoring.score_predictions_file(records, tmp_path / "absent.jsonl")


def test_free_form_needs_a_loadable_embedder(tmp_path: Path) -> None:
    records = plan(num=4, question_types="caption")
    rows = [{"id": r["id"], "prediction": r["answer"]} for r in records]
    with pytest.raises(HvgenError, match="sentence-embedding model .*--embedder"):
        scoring.score_predictions_file(
            records, write_jsonl(tmp_path / "p.jsonl", rows), str(tmp_path / "nope")
        )


def test_caption_similarity_is_lower_for_unrelated_answers(tmp_path: Path, embedder: str) -> None:
    records = plan(num=6, question_types="caption")
    rows = [{"id": r["id"], "prediction": "zzzz 12345 ???"} for r in records]
    report = scoring.score_predictions_file(records, write_jsonl(tmp_path / "p.jsonl", rows), embedder)
    assert report["overall"]["caption_score"] < 100.0
    assert all(-1.0 <= value <= 1.0 for value in report["items"].values())
    assert Counter(round(v, 2) == v for v in report["items"].values()) == Counter({True: len(records)})


def test_cli_scores_a_planned_run(tmp_path: Path, embedder: str, capsys: pytest.CaptureFixture) -> None:
    run = tmp_path / "run"
    main(
        [
            "dysca",
            "--model",
            "tiny",
            "--num",
            "6",
            "--subtasks",
            "animal,color",
            "--out",
            str(run),
            "--dry-run",
            "-q",
        ]
    )
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    rows = [{"id": r["id"], "prediction": simulated_answer(r, True, random.Random(1))} for r in records]
    write_jsonl(tmp_path / "p.jsonl", rows)
    main(
        [
            "score",
            "dysca",
            str(run),
            str(tmp_path / "p.jsonl"),
            "--embedder",
            embedder,
            "--output",
            str(tmp_path / "r.json"),
        ]
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["score"] == 100.0 and report["n_scored"] == len(records)
    assert "animal" in capsys.readouterr().out


def test_predictions_of_another_run_are_one_clear_error(tmp_path: Path) -> None:
    records = plan(num=4, question_types="mc")
    rows = [{"id": number, "prediction": "(A)"} for number in range(1, 5)]  # the release format's integers
    with pytest.raises(HvgenError, match="none of the 4 predictions.*hvgen_id"):
        scoring.score_predictions_file(records, write_jsonl(tmp_path / "p.jsonl", rows))


def test_sentence_transformers_token_limit_is_read_from_the_model_folder(
    embedder: str, tmp_path: Path
) -> None:
    assert scoring.sentence_max_length(embedder) is None  # not declared: the tokenizer's own limit
    (tmp_path / "sentence_bert_config.json").write_text('{"max_seq_length": 256, "do_lower_case": false}')
    assert scoring.sentence_max_length(str(tmp_path)) == 256
