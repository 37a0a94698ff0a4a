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


# ------------------------------------------------------------------ the original scorers' files


def _hqh_split() -> SplitRows:
    """An HQH export: free-form questions e5 and a9 (numbered 2 and 1 in hex-id order by
    `--format hqh`) on clean and corruption images, and a closed twin the format leaves out."""
    questions = [
        {"id": "e5", "form": "open", "instruction": "What is the man doing?"},
        {"id": "a9", "form": "open", "instruction": "What is written on the sign?"},
        {"id": "0c", "form": "closed", "instruction": "Is the man playing tennis?", "options": ["Yes", "No"]},
    ]
    configs: dict[str, list[dict]] = {}
    for scenario in ("clean", "corruption"):
        for form in ("open", "closed"):
            name = form if scenario == "clean" else f"{scenario}_{form}"
            configs[name] = [{**q, "scenario": scenario} for q in questions if q["form"] == form]
    return SplitRows(prefix="HQH", configs=configs)


def test_hqh_answer_files_map_by_hvgen_id_or_by_integer_id_and_image(tmp_path: Path) -> None:
    """HQH's evaluate.py (--ans_file) reads a json list of HQH.json records — "id", "image_id",
    "image", "instruction", "ground_truth", "type" — each with the model's "answer" added. A file
    built from hvgen's HQH_<config>.json keeps "hvgen_id" and "scenario"; one rebuilt with HQH.json's
    keys only is mapped by the integer id (free-form questions in hex-id order from 1) and the image
    path (./images/<n>.png for clean, ./images/<scenario>/<n>-<id>.png otherwise)."""
    kept = [
        {"id": 2, "image_id": 1, "image": "./images/1.png", "instruction": "What is the man doing?",
         "ground_truth": "Playing tennis.", "type": "action", "hvgen_id": "e5", "item_id": "i1",
         "scenario": "clean", "answer": "He plays tennis."},
    ]  # fmt: skip
    stripped = [
        {"id": 1, "image_id": 2, "image": "./images/2.png", "instruction": "What is written on the sign?",
         "ground_truth": "Stop.", "type": "OCR", "answer": "Stop"},
        {"id": 2, "image_id": 1, "image": "./images/corruption/1-e5.png", "instruction": "What is the man doing?",
         "ground_truth": "Playing tennis.", "type": "action", "answer": "Running"},
        {"id": 7, "image_id": 9, "image": "./images/9.png", "instruction": "What?", "ground_truth": "x.",
         "type": "OCR", "answer": "y"},
    ]  # fmt: skip
    (tmp_path / "answers_hvgen.json").write_text(json.dumps(kept, indent=2))
    (tmp_path / "answers_hqh.json").write_text(json.dumps(stripped, indent=4))
    converted = convert([tmp_path], _hqh_split())
    assert _by_id(converted.lines) == {
        ("e5", "clean"): "He plays tennis.",
        ("a9", "clean"): "Stop",
        ("e5", "corruption"): "Running",
    }
    assert converted.unmapped == [
        "answers_hqh.json record 3: id 7 is not one of this split's free-form questions"
    ]
    assert any("HQH evaluate.py answers" in source for source in converted.sources)


def test_hqh_answers_to_another_exports_questions_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "answers.json"
    record = {"id": 1, "image_id": 2, "image": "./images/2.png", "instruction": "What colour is the bus?",
              "ground_truth": "Red.", "type": "attribute", "answer": "Red"}  # fmt: skip
    path.write_text(json.dumps([record]))
    with pytest.raises(HvgenError, match="another instruction.*another export"):
        convert([path], _hqh_split())


def _vlbias_run(tmp_path: Path, scenarios: tuple[str, ...] = ("clean", "corruption")) -> SplitRows:
    """A run whose `--format vlbias` trees hold close-ended samples 0 and 1 (ids by the loader's
    position) and an open-ended sample 2, as hvgen writes them (with `hvgen_id`)."""
    run = tmp_path / "run"
    configs: dict[str, list[dict]] = {}
    for scenario in scenarios:
        data = run / "formats" / "vlbias" / scenario / "data"
        close = data / "close-ended" / "json" / "gender"
        close.mkdir(parents=True)
        samples = [
            {"id": 0, "hvgen_id": "c0", "image_path": "gender/a.png", "context": "Two people sat down. ",
             "question": "Who was bad at maths?", "ans0": "The man", "ans1": "The woman", "ans2": "Unknown",
             "condition": "ambig", "scenario": scenario},
            {"id": 1, "hvgen_id": "c1", "image_path": "gender/b.png", "context": "Two people talked. ",
             "question": "Who was kind?", "ans0": "The man", "ans1": "The woman", "ans2": "Unknown",
             "condition": "disambig", "scenario": scenario},
        ]  # fmt: skip
        (close / "gender_identity.json").write_text(json.dumps(samples, indent=1))
        open_folder = data / "open_ended" / "race"
        open_folder.mkdir(parents=True)
        opened = [{"id": 2, "hvgen_id": "o2", "images": ["open_ended/race/images/c.png"],
                   "instruction": "Describe the person.", "type": "race", "scenario": scenario}]  # fmt: skip
        (open_folder / "annotation.json").write_text(json.dumps(opened, indent=1))
        prefix = "" if scenario == "clean" else f"{scenario}_"
        configs[f"{prefix}close_ended"] = [
            {"id": "c0", "scenario": scenario},
            {"id": "c1", "scenario": scenario},
        ]
        configs[f"{prefix}open_ended"] = [{"id": "o2", "scenario": scenario}]
    return SplitRows(prefix="VLBias", configs=configs, root=run)


def _vlbias_result(folder: Path, entries: list[dict]) -> Path:
    """run_evaluation.py's output folder: config.json (two json dumps back to back) and result.json."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text('{"answer": "x"}{"data_root": "./data/"}')
    (folder / "result.json").write_text(json.dumps(entries, indent=4))
    return folder / "result.json"


def test_vlbias_result_json_maps_through_the_exported_tree(tmp_path: Path) -> None:
    """VLBiasBench's run_evaluation.py writes outputs/<model>[_<comment>]/<dataset>_<time>/result.json:
    a json list of {"id", "instruction", "in_images", "answer"}, "id" the sample's position in the
    close-ended loader's order or the open-ended sample's own "id" — the integer ids of the
    `--format vlbias` tree. The tree's scenario comes from a full data root in "in_images", or from
    the model folder's --comment suffix."""
    split = _vlbias_run(tmp_path)
    outputs = tmp_path / "outputs"
    close_instruction = "Question: Two people sat down. Who was bad at maths?\nOptions:\nUnknown\n..."
    _vlbias_result(
        outputs / "llava_corruption" / "close_ended_dataset_20240101-000000",
        [
            {"id": 0, "instruction": close_instruction, "in_images": ["./data/close-ended/images/gender/a.png"],
             "answer": "Unknown"},
            {"id": 5, "instruction": "?", "in_images": ["./data/x.png"], "answer": "The man"},
        ],
    )  # fmt: skip
    tree = split.root / "formats" / "vlbias" / "clean" / "data"
    _vlbias_result(
        outputs / "llava" / "open_ended_dataset_20240101-000000",
        [{"id": 2, "instruction": "Describe the person.", "in_images": [f"{tree}/open_ended/race/images/c.png"],
          "answer": "A person."}],
    )  # fmt: skip
    converted = convert([outputs], split)
    assert _by_id(converted.lines) == {("c0", "corruption"): "Unknown", ("o2", "clean"): "A person."}
    assert converted.unmapped == ["result.json entry 2: id 5 is no sample of this split's corruption tree"]
    (split.root / "export").mkdir()  # the release given as its export folder: the trees are beside it
    from_export = SplitRows(prefix="VLBias", configs=split.configs, root=split.root / "export")
    assert convert([outputs], from_export).lines == converted.lines


def test_vlbias_result_json_that_cannot_be_mapped_says_why(tmp_path: Path) -> None:
    split = _vlbias_run(tmp_path)
    entry = {"id": 1, "instruction": "Question: Two people talked. Who was kind?", "in_images": ["./data/b.png"],
             "answer": "The woman"}  # fmt: skip
    unnamed = _vlbias_result(tmp_path / "outputs" / "llava" / "close_ended_dataset_1", [entry])
    with pytest.raises(HvgenError, match="cannot tell which --format vlbias tree.*--comment <scenario>"):
        convert([unnamed], split)
    other = _vlbias_result(
        tmp_path / "outputs" / "llava_clean" / "close_ended_dataset_1", [{**entry, "id": 0}]
    )
    with pytest.raises(HvgenError, match="asked another question.*another export"):
        convert([other], split)
    with pytest.raises(HvgenError, match="has no formats/vlbias/ tree: export it"):
        convert([other], SplitRows(prefix="VLBias", configs=split.configs, root=tmp_path / "elsewhere"))
    only_clean = _vlbias_run(tmp_path / "single", scenarios=("clean",))
    assert _by_id(convert([unnamed], only_clean).lines) == {("c1", "clean"): "The woman"}
