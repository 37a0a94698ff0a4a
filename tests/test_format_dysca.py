"""`hvgen export RUN --format dysca`: the released Dysca layout, read the way Dysca's own scorer
reads it.

The scorer is ``evaluate_LVLMs/Dysca_compute.py`` of github.com/Benchmark-Dysca/Dysca. Its
reading and scoring path is re-stated below in our own words (`dysca_score` and helpers, each
naming the original function it follows), so these tests check what that script would compute
without running it. One substitution: the original scores image captions with the cosine
similarity of all-MiniLM-L6-v2 sentence embeddings; tests may not download it, so `similarity`
uses a tiny deterministic bag-of-words embedding (identical strings → 1.0, as with MiniLM).
"""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image

from hvgen.cli import main
from hvgen.errors import HvgenError
from hvgen.publish.formats import ConfigSamples, FormatContext, format_names, get_format, parse_formats

# The keys of a released Dysca.json record, in the released order (pqa_generate/README.md).
RELEASED_KEYS = [
    "id",
    "images",
    "prompt",
    "negative_prompt",
    "instruction",
    "question",
    "answer",
    "question_type",
    "task",
    "options",
    "question_majority",
]
CONFIGS = ("clean", "corruption", "print", "adversarial")


# --------------------------------------------------------------------------- the original scorer,
# re-stated (Dysca_compute.py, class DyscaDataset)
def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance (the original imports `Levenshtein.distance`)."""
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def read_choice(answer: str, instruction: str) -> str:
    """DyscaDataset.normalize_extracted_answer: the option text a model's answer picks.

    The last "(X)" in the answer, else the last capital letter, is the letter; the option lines
    are the instruction's lines between "Choices:\\n" and "\\nHint:", read as "(X) text". A
    letter outside the list falls back to the line nearest in edit distance (get_most_similar,
    ties → the last such line)."""
    letters = re.findall(r"\(([a-zA-Z])\)", answer.strip()) or re.findall(r"[A-Z]", answer.strip())
    picked = letters[-1].upper() if letters else answer.strip()
    lines = instruction.split("Choices:\n")[-1].split("\nHint:")[0].split("\n")
    labels = [chr(ord("A") + i) for i in range(len(lines))]
    if picked in labels:
        line = lines[labels.index(picked)]
    else:
        distances = [edit_distance(picked, line) for line in lines]
        line = lines[len(distances) - 1 - distances[::-1].index(min(distances))]
    return " ".join(line.split(" ")[1:])


def similarity(a: str, b: str) -> float:
    """Stand-in for DyscaDataset.caption_sent_transformer (MiniLM cosine similarity, rounded to
    2 decimals): cosine of word-count vectors, rounded the same way."""
    va, vb = Counter(a.lower().replace(",", " ").split()), Counter(b.lower().replace(",", " ").split())
    dot = sum(va[w] * vb[w] for w in va)
    norm = math.sqrt(sum(v * v for v in va.values())) * math.sqrt(sum(v * v for v in vb.values()))
    return round(dot / norm if norm else 0.0, 2)


def dysca_score(ground_truth: Path, outputs: list[dict[str, Any]], majority: str | None = None) -> dict:
    """DyscaDataset.calculate_result: pairs the model outputs with the ground truth by list
    position; "multi choice" and "true or false" count exact matches of the chosen option text
    with `answer`; "image caption" averages the similarity; any other question_type is skipped;
    an empty type scores 0.0."""
    data = json.loads(ground_truth.read_text())
    assert len(outputs) == len(data)  # the original asserts this too
    correct: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for record, output in zip(data, outputs, strict=True):
        if majority is not None and record["question_majority"] != majority:
            continue
        kind = record["question_type"]
        if kind in ("multi choice", "true or false"):
            correct[kind] += read_choice(output["answer"], record["instruction"]) == record["answer"]
        elif kind == "image caption":
            correct[kind] += similarity(output["answer"], record["answer"])
        else:
            continue
        total[kind] += 1
    kinds = ("multi choice", "true or false", "image caption")
    return {kind: round(correct[kind] / total[kind] * 100, 2) if total[kind] else 0.0 for kind in kinds}


# --------------------------------------------------------------------------- fake models
def perfect_answer(record: dict[str, Any]) -> str:
    if record["options"]:
        return f"({'ABCD'[record['options'].index(record['answer'])]})"
    return record["answer"]


def outputs_of(model, ground_truth: Path) -> list[dict[str, Any]]:
    return [{"id": r["id"], "answer": model(r)} for r in json.loads(ground_truth.read_text())]


# --------------------------------------------------------------------------- a tiny run
@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fmt-dysca") / "run"
    main(["dysca", "--scenario", "all", "--model", "tiny", "--num", "8", "--steps", "2", "--out", str(out)])
    main(["export", str(out), "--format", "dysca"])
    return out


def load(run: Path, config: str) -> list[dict[str, Any]]:
    return json.loads((run / "formats" / "dysca" / f"Dysca_{config}.json").read_text())


def parquet_rows(run: Path, config: str) -> dict[str, dict[str, Any]]:
    files = sorted((run / "export" / "data" / config).glob("*.parquet"))
    table = pa.concat_tables([pq.read_table(f) for f in files])
    return {row["id"]: row for row in table.to_pylist()}


@pytest.mark.heavy
def test_ground_truth_has_the_released_keys_in_order(run: Path) -> None:
    numbers: dict[str, int] = {}
    for config in CONFIGS:
        records = load(run, config)
        hub = parquet_rows(run, config)
        assert len(records) == len(hub) > 0
        for record in records:
            assert list(record)[: len(RELEASED_KEYS)] == RELEASED_KEYS
            assert type(record["id"]) is int and record["id"] >= 1
            assert record["hvgen_id"] in hub and isinstance(record["scenario_params"], dict | None)
            assert (
                numbers.setdefault(record["hvgen_id"], record["id"]) == record["id"]
            )  # same in every config
            assert record["answer"] in record["options"] or record["question_type"] == "image caption"
        assert len({r["id"] for r in records}) == len(records)
        assert {r["question_type"] for r in records} == {"multi choice", "true or false", "image caption"}
    assert sorted(numbers.values()) == list(range(1, len(numbers) + 1))


@pytest.mark.heavy
def test_same_run_gives_the_same_files(run: Path) -> None:
    folder = run / "formats" / "dysca"
    before = {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}
    main(["export", str(run), "--format", "dysca"])
    assert before == {p.relative_to(folder): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.mark.heavy
@pytest.mark.parametrize("config", CONFIGS)
def test_a_model_answering_correctly_scores_100(run: Path, config: str) -> None:
    gt = run / "formats" / "dysca" / f"Dysca_{config}.json"
    assert dysca_score(gt, outputs_of(perfect_answer, gt)) == {
        "multi choice": 100.0,
        "true or false": 100.0,
        "image caption": 100.0,
    }
    # a wrong letter is not read as right (the test can fail)
    flipped = outputs_of(lambda r: "(B)" if perfect_answer(r) == "(A)" else "(A)", gt)
    assert dysca_score(gt, flipped)["true or false"] == 0.0


@pytest.mark.heavy
def test_always_a_scores_the_answer_position_rate_hvgen_stats_reports(run: Path, tmp_path: Path) -> None:
    report = tmp_path / "stats.json"
    main(["stats", str(run), "--json", str(report)])
    balance = json.loads(report.read_text())["position_balance"]
    first: Counter[str] = Counter()
    total: Counter[str] = Counter()
    for group in balance:
        first[group["question_type"]] += group["counts"][0]
        total[group["question_type"]] += sum(group["counts"])
    for config in ("clean", "corruption"):  # every question; print leaves out OCR questions
        gt = run / "formats" / "dysca" / f"Dysca_{config}.json"
        scores = dysca_score(gt, outputs_of(lambda r: "(A)", gt))
        for kind in ("multi choice", "true or false"):
            assert scores[kind] == round(first[kind] / total[kind] * 100, 2), (kind, balance)


@pytest.mark.heavy
@pytest.mark.parametrize("config", ["corruption", "print", "adversarial"])
def test_the_image_a_consumer_loads_is_the_configs_own(run: Path, config: str) -> None:
    root = run / "formats" / "dysca"
    clean = {r["hvgen_id"]: r for r in load(run, "clean")}
    hub = parquet_rows(run, config)
    for record in load(run, config):
        path = root / record["images"][0]
        assert path.is_file() and path.resolve().is_relative_to(root.resolve())
        embedded = hub[record["hvgen_id"]]["image"]["bytes"]
        assert path.read_bytes() == embedded
        pixels = np.asarray(Image.open(path).convert("RGB"))
        clean_pixels = np.asarray(Image.open(root / clean[record["hvgen_id"]]["images"][0]).convert("RGB"))
        assert not np.array_equal(pixels, clean_pixels), record["images"]


@pytest.mark.heavy
def test_export_prints_the_scorer_command(run: Path, capsys: pytest.CaptureFixture) -> None:
    main(["export", str(run), "--format", "dysca"])
    err = capsys.readouterr().err
    out = run / "formats" / "dysca"
    command = (
        f"python evaluate_LVLMs/Dysca_compute.py --file_ground_truth {out / 'Dysca_clean.json'} "
        "--file_model_output MODEL_clean.json --evaluation_score MODEL_clean.xlsx --model_name MODEL"
    )
    assert command in err
    assert command in (out / "README.md").read_text()


# --------------------------------------------------------------------------- without rendering
def _row(hex_id: str, path: str, **changes: Any) -> dict[str, Any]:
    row = {
        "id": hex_id,
        "image_id": "ab" * 8,
        "images": [path],
        "prompt": "a red owl, on the lawn, watercolor painting",
        "negative_prompt": "photo",
        "style": "watercolor",
        "subtask": "animal",
        "question_majority": "animal",
        "granularity": "fine",
        "task": "recognition",
        "question": "What is the animal in the image?",
        "instruction": "Question: What is the animal in the image?\nChoices:\n(A) owl\n(B) crow\n"
        "Hint: Please answer.\nYour answer is:",
        "question_type": "multi choice",
        "options": ["owl", "crow"],
        "answer": "owl",
        "answer_index": 0,
        "scenario": "clean",
        "scenario_params": None,
        "_image_path": path,
    }
    return {**row, **changes}


def _write(tmp_path: Path, rows_by_config: dict[str, list[dict[str, Any]]]) -> Path:
    images = {
        row["_image_path"]: f"png of {row['_image_path']}".encode()
        for rows in rows_by_config.values()
        for row in rows
    }
    configs = [ConfigSamples(name, name, pa.Table.from_pylist(rows)) for name, rows in rows_by_config.items()]
    ctx = FormatContext(tmp_path, None, None, tmp_path / "export", images.__getitem__)  # type: ignore[arg-type]
    out = tmp_path / "out"
    out.mkdir()
    assert "dysca" in format_names()  # importing the generators registers it
    get_format("dysca").write(ctx, configs, out)
    return out


def test_ids_number_the_union_of_configs_and_images_are_copied(tmp_path: Path) -> None:
    out = _write(
        tmp_path,
        {
            "clean": [_row("bb" * 8, "images/ab/x.png"), _row("aa" * 8, "images/ab/x.png")],
            "print": [_row("bb" * 8, "scenarios/print/bb/y.png", scenario_params='{"text": "crow"}')],
        },
    )
    clean = json.loads((out / "Dysca_clean.json").read_text())
    printed = json.loads((out / "Dysca_print.json").read_text())
    assert [r["id"] for r in clean] == [2, 1] and printed[0]["id"] == 2
    assert list(clean[0]) == [*RELEASED_KEYS, "granularity", "hvgen_id", "image_id", "style", "subtask",
                              "answer_index", "scenario", "scenario_params"]  # fmt: skip
    assert printed[0]["scenario_params"] == {"text": "crow"}
    assert (out / "scenarios/print/bb/y.png").read_bytes() == b"png of scenarios/print/bb/y.png"


@pytest.mark.parametrize(
    ("change", "fragment"),
    [
        ({"question_type": "free form"}, "hvgen plan"),
        ({"instruction": "Question: What is the animal?\n(A) owl\n(B) crow\nYour answer is:"}, "Choices:"),
    ],
)
def test_rows_the_scorer_would_misread_are_refused(tmp_path: Path, change: dict, fragment: str) -> None:
    with pytest.raises(HvgenError, match=fragment):
        _write(tmp_path, {"clean": [_row("aa" * 8, "images/ab/x.png", **change)]})


def test_dysca_format_is_for_dysca_only() -> None:
    assert [f.name for f in parse_formats("dysca", "dysca")] == ["dysca"]
    with pytest.raises(HvgenError, match="for dysca"):
        parse_formats("dysca", "vlbias")


def test_formats_may_be_repeated_or_comma_separated() -> None:
    """`--format dysca,vlmevalkit` is what people type after `--styles a,b`; both spellings mean the same."""
    expected = ["vlmevalkit", "lmms-eval", "dysca"]
    by_comma = [f.name for f in parse_formats(["dysca,vlmevalkit", "lmms-eval"], "dysca")]
    by_repeat = [f.name for f in parse_formats(["dysca", "vlmevalkit", "lmms-eval"], "dysca")]
    assert sorted(by_comma) == sorted(by_repeat) == sorted(expected)


# --------------------------------------------------------------------------- the original scorer itself
@pytest.mark.heavy
@pytest.mark.skipif(
    not os.environ.get("DYSCA_DIR"),
    reason="set DYSCA_DIR to a Benchmark-Dysca/Dysca checkout (python-Levenshtein, sentence-transformers, "
    "openpyxl, a cached all-MiniLM-L6-v2, CUDA: it puts the embedder on cuda:0) to run its own scorer",
)
@pytest.mark.parametrize("config", CONFIGS)
def test_the_original_scorer_itself_gives_a_correct_model_100(run: Path, config: str, tmp_path: Path) -> None:
    """evaluate_LVLMs/Dysca_compute.py run as its README says, on the export unchanged; only the
    script's two argument-name bugs (README) are fixed in a copy, as a user must."""
    script = (Path(os.environ["DYSCA_DIR"]) / "evaluate_LVLMs" / "Dysca_compute.py").read_text()
    script = script.replace("args.file_model_result", "args.file_model_output")
    script = script.replace("args.evaluation_result", "args.evaluation_score")
    (tmp_path / "Dysca_compute.py").write_text(script)
    ground_truth = run / "formats" / "dysca" / f"Dysca_{config}.json"
    outputs = tmp_path / "model.json"
    outputs.write_text(json.dumps(outputs_of(perfect_answer, ground_truth)))
    done = subprocess.run(
        [sys.executable, "Dysca_compute.py", "--file_ground_truth", str(ground_truth)]
        + [
            "--file_model_output",
            str(outputs),
            "--evaluation_score",
            "score.xlsx",
            "--model_name",
            "perfect",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    for kind in ("avg_mc", "avg_tf", "avg_ic"):
        assert f"{kind}: 100.0" in done.stdout, done.stdout
