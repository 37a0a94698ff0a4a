"""Harness output files (hand-written in each harness's format) mapped back to question ids."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from hvgen.analysis.harness_outputs import SplitRows, convert
from hvgen.errors import HvgenError


def _split() -> SplitRows:
    """Two configs of one split: three 4-option questions and a True/False one, by id."""
    rows = [
        {"id": "a1", "options": ["cat", "dog", "fox", "owl"], "answer_index": 2},
        {"id": "b2", "options": ["True", "False"], "answer_index": 0},
        {"id": "c3", "options": ["red", "blue", "green", "pink"], "answer_index": 0},
        {"id": "d4", "options": ["red", "blue", "green", "pink"], "answer_index": 1},
    ]
    return SplitRows(
        prefix="Dysca",
        configs={
            "clean": [{**row, "scenario": "clean"} for row in rows],
            "print": [{**row, "scenario": "print"} for row in rows],
        },
    )


def _by_id(lines: list[dict[str, str]]) -> dict[tuple[str, str], str]:
    return {(line["id"], line["scenario"]): line["prediction"] for line in lines}


def test_vlmevalkit_xlsx_and_tsv_rows_map_by_index(tmp_path: Path) -> None:
    """VLMEvalKit's prediction file: the TSV's columns (no image) plus `prediction`; MCQ rows are
    numbered a1, c3, d4 (the config's MCQ questions in export order), YN rows b2."""
    mcq = pd.DataFrame(
        {
            "index": [0, 1, 2],
            "id": ["a1", "c3", "d4"],
            "question": ["q"] * 3,
            "A": ["cat", "red", "red"],
            "answer": ["C", "A", "B"],
            "category": ["animal", "color", "color"],
            "prediction": ["C", "B. blue", "The answer is (B)"],
        }
    )
    mcq.to_excel(tmp_path / "llava_Dysca_clean_MCQ.xlsx", index=False)
    yn = pd.DataFrame(
        {"index": [0], "question": ["q"], "answer": ["Yes"], "category": ["c"], "prediction": ["Yes"]}
    )
    yn.to_csv(tmp_path / "llava_Dysca_print_YN.tsv", sep="\t", index=False)
    converted = convert([tmp_path], _split())
    assert _by_id(converted.lines) == {
        ("a1", "clean"): "C",
        ("c3", "clean"): "B. blue",
        ("d4", "clean"): "The answer is (B)",
        ("b2", "print"): "Yes",
    }
    assert not converted.unmapped


def test_vlmevalkit_file_of_another_split_is_refused(tmp_path: Path) -> None:
    frame = pd.DataFrame({"index": [0], "id": ["zz9"], "question": ["q"], "prediction": ["A"]})
    frame.to_excel(tmp_path / "m_Dysca_clean_MCQ.xlsx", index=False)
    with pytest.raises(HvgenError, match="another split"):
        convert([tmp_path / "m_Dysca_clean_MCQ.xlsx"], _split())


def test_vlmevalkit_json_prediction_format(tmp_path: Path) -> None:
    """PRED_FORMAT=json: the same table as a json list of records."""
    rows = [{"index": 1, "id": "c3", "question": "q", "answer": "A", "prediction": "A"}]
    (tmp_path / "m_Dysca_print_MCQ.json").write_text(json.dumps(rows, indent=4))
    assert _by_id(convert([tmp_path / "m_Dysca_print_MCQ.json"], _split()).lines) == {("c3", "print"): "A"}


def test_lmms_eval_samples_map_by_logged_id_or_doc_id(tmp_path: Path) -> None:
    """`--log_samples` lines as lmms-eval 0.7.3 writes them (doc popped, filtered_resps flattened,
    the task's metrics merged in); the second line has no `predictions` metric: doc_id decides."""
    lines = [
        {
            "doc_id": 0,
            "target": "C",
            "filtered_resps": "C",
            "doc_hash": "x",
            "mcq_acc": 1.0,
            "predictions": {"id": "a1", "prediction": "C", "kind": "MCQ"},
            "input": "prompt",
        },
        {"doc_id": 3, "target": "B", "filtered_resps": ["(B) blue"], "input": "prompt"},
    ]
    path = tmp_path / "20250101_120000_samples_Dysca_print.jsonl"
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert _by_id(convert([path], _split()).lines) == {("a1", "print"): "C", ("d4", "print"): "(B) blue"}


def test_lmms_eval_task_predictions_file_takes_the_scenario_from_the_task(tmp_path: Path) -> None:
    path = tmp_path / "Dysca_print_predictions.jsonl"
    path.write_text(json.dumps({"id": "c3", "prediction": "A", "kind": "MCQ", "target": "A"}) + "\n")
    assert _by_id(convert([path], _split()).lines) == {("c3", "print"): "A"}


def test_dysca_scorer_model_output_maps_integer_ids(tmp_path: Path) -> None:
    """Dysca_compute.py's model output: integers number every question of the export in id
    order from 1 (a1 → 1, b2 → 2, c3 → 3, d4 → 4); without ids, the ground truth's order."""
    (tmp_path / "llava_clean.json").write_text(
        json.dumps([{"id": 3, "answer": "(A) red"}, {"id": 1, "answer": "C"}])
    )
    (tmp_path / "llava_print.json").write_text(json.dumps([{"answer": "A"}, {"answer": "False"}]))
    converted = convert([tmp_path], _split())
    assert _by_id(converted.lines) == {
        ("c3", "clean"): "(A) red",
        ("a1", "clean"): "C",
        ("a1", "print"): "A",
        ("b2", "print"): "False",
    }


def test_hvgen_jsonl_passes_through(tmp_path: Path) -> None:
    path = tmp_path / "preds.jsonl"
    path.write_text(
        json.dumps({"id": "a1", "prediction": "C"})
        + "\n"
        + json.dumps({"id": "a1", "prediction": "B", "scenario": "print"})
        + "\n"
    )
    assert _by_id(convert([path], _split()).lines) == {("a1", "clean"): "C", ("a1", "print"): "B"}


def test_unnamed_harness_file_says_how_files_are_named(tmp_path: Path) -> None:
    path = tmp_path / "samples_other_task.jsonl"
    path.write_text(json.dumps({"doc_id": 0, "filtered_resps": "A"}) + "\n")
    with pytest.raises(HvgenError, match="names none of the split's configs"):
        convert([path], _split())
    with pytest.raises(HvgenError, match="no such file"):
        convert([tmp_path / "missing.xlsx"], _split())


def test_an_answer_read_twice_counts_once(tmp_path: Path) -> None:
    """lmms-eval with --output_path writes both its samples and the task's predictions file."""
    sample = {"doc_id": 0, "filtered_resps": "C", "predictions": {"id": "a1", "prediction": "C"}}
    (tmp_path / "20250101_samples_Dysca_clean.jsonl").write_text(json.dumps(sample) + "\n")
    (tmp_path / "Dysca_clean_predictions.jsonl").write_text(
        json.dumps({"id": "a1", "prediction": "B"}) + "\n"
    )
    converted = convert([tmp_path], _split())
    assert len(converted.lines) == 1 and len(converted.unmapped) == 1
    assert "answered twice" in converted.unmapped[0]


def test_a_harness_folder_keeps_its_answers_and_skips_its_scores(tmp_path: Path) -> None:
    """VLMEvalKit's work folder also holds the evaluation's spreadsheets; only predictions count."""
    frame = pd.DataFrame({"index": [0], "id": ["a1"], "question": ["q"], "prediction": ["C"]})
    frame.to_excel(tmp_path / "m_Dysca_clean_MCQ.xlsx", index=False)
    frame.assign(hit=[1]).to_excel(tmp_path / "m_Dysca_clean_MCQ_exact_matching_result.xlsx", index=False)
    pd.DataFrame({"split": ["none"], "Overall": [1.0]}).to_csv(
        tmp_path / "m_Dysca_clean_MCQ_acc.csv", index=False
    )
    assert _by_id(convert([tmp_path], _split()).lines) == {("a1", "clean"): "C"}


def test_vlmevalkit_box_answers_read_as_the_shipped_scorer_reads_them(tmp_path: Path) -> None:
    """HERM's grounding questions go to `<Prefix>_<config>_BOX.tsv`, whose prompt asks for corners:
    the model's box comes back in the records' terms (normalised [x, y, w, h]); MCQ numbering of the
    same config skips the box questions; unreadable words pass through (counted by the scorer)."""
    rows = [
        {"id": "m1", "options": ["a", "b", "c", "d"], "answer_index": 1, "scenario": "clean"},
        {"id": "g1", "answer_box": [0.1, 0.2, 0.3, 0.4], "width": 200, "height": 100, "scenario": "clean"},
        {"id": "m2", "options": ["a", "b", "c", "d"], "answer_index": 0, "scenario": "clean"},
        {"id": "g2", "answer_box": [0.5, 0.5, 0.2, 0.2], "width": 200, "height": 100, "scenario": "clean"},
    ]
    split = SplitRows(prefix="HERM", configs={"clean": rows})
    pd.DataFrame({"index": [0, 1], "question": ["q"] * 2, "prediction": ["B", "A"]}).to_csv(
        tmp_path / "m_HERM_clean_MCQ.tsv", sep="\t", index=False
    )
    answers = ["[0.1, 0.2, 0.4, 0.6]", "I cannot tell"]
    pd.DataFrame({"index": [0, 1], "question": ["q"] * 2, "prediction": answers}).to_csv(
        tmp_path / "m_HERM_clean_BOX.tsv", sep="\t", index=False
    )
    got = _by_id(convert([tmp_path], split).lines)
    assert got[("m1", "clean")] == "B" and got[("m2", "clean")] == "A"
    assert json.loads(got[("g1", "clean")]) == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert got[("g2", "clean")] == "I cannot tell"


def test_rows_of_an_export_with_official_splits_are_the_evaluated_split(tmp_path: Path) -> None:
    """A Face QA export holds train and test rows; its harness files number only the evaluated
    split's rows (test by default, or `hvgen export --split`)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hvgen.analysis.harness_outputs import split_rows

    folder = tmp_path / "export" / "data" / "clean"
    folder.mkdir(parents=True)
    rows = [
        {"id": f"q{i}", "options": ["x", "y"], "answer_index": 0, "split": split, "scenario": "clean"}
        for i, split in enumerate(["train", "test", "train", "test"])
    ]
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-0.parquet")
    assert [row["id"] for row in split_rows(tmp_path / "export", "FaceQA").configs["clean"]] == ["q1", "q3"]
    chosen = split_rows(tmp_path / "export", "FaceQA", eval_split="train").configs["clean"]
    assert [row["id"] for row in chosen] == ["q0", "q2"]


def test_a_link_out_of_the_predictions_folder_is_not_read(tmp_path: Path) -> None:
    """A predictions folder is read like a source folder: a file reached through a symbolic link that
    leads outside it is skipped (and named), never read."""
    folder, outside = tmp_path / "outputs", tmp_path / "elsewhere"
    folder.mkdir()
    outside.mkdir()
    (folder / "mine.jsonl").write_text(json.dumps({"id": "a1", "prediction": "C"}) + "\n")
    (outside / "other.jsonl").write_text(json.dumps({"id": "c3", "prediction": "A"}) + "\n")
    (folder / "linked.jsonl").symlink_to(outside / "other.jsonl")
    converted = convert([folder], _split())
    assert {line["id"] for line in converted.lines} == {"a1"}
