"""VLMEvalKit export: one TSV per config and question kind, read the way VLMEvalKit reads it.

open-compass does not publish VLMEvalKit on the package index (only third-party repackagings
exist), so its reading path is re-stated here in our own words (each helper names the original
file and function), and round trips go through it: a model that answers right scores 100 %,
always-A scores at the position rate `hvgen stats` reports, and each scenario's TSV carries its
own picture. With ``VLMEVALKIT_DIR`` set to a VLMEvalKit checkout whose requirements are
installed, `test_vlmevalkit_itself_reads_and_scores_every_file` also runs VLMEvalKit's own code.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import string
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from PIL import Image

from hvgen.cli import main
from hvgen.errors import HvgenError
from hvgen.publish.formats import ConfigSamples, FormatContext
from hvgen.publish.formats.templates.task_utils import MCQ, VQA, YN, question_kind
from hvgen.publish.formats.vlmevalkit import (
    DATA_CONFIG_FILE,
    VLMEvalKitFormat,
    check_dataset_name,
    rows_by_kind,
)

VLMEVALKIT = "formats/vlmevalkit"


# --------------------------------------------------------------------------- VLMEvalKit, re-stated
def load_like_vlmevalkit(tsv: Path) -> pd.DataFrame:
    """A custom TSV as VLMEvalKit holds it: vlmeval/smp/file.py `load` reads it with
    `pd.read_csv(sep="\\t")`; vlmeval/dataset/image_base.py `ImageBaseDataset.__init__` turns
    indices into strings and replaces an `image` of 1–64 characters by the image of the row it
    names, which must itself hold a longer (base64) value."""
    data = pd.read_csv(tsv, sep="\t")
    data["index"] = [str(value) for value in data["index"]]
    images = {key: "" if pd.isna(value) else str(value) for key, value in zip(data["index"], data["image"])}
    resolved = {}
    for key, value in images.items():
        if 0 < len(value) <= 64:
            assert value in images and len(images[value]) > 64, f"row {key}: image points at {value!r}"
            value = images[value]
        resolved[key] = value
    data["image"] = [resolved[key] for key in data["index"]]
    return data


def mcq_options(line: pd.Series) -> dict[str, str]:
    """vlmeval/dataset/utils/multiple_choice.py `build_choices`: every upper-case letter column
    whose cell is not missing."""
    return {c: str(line[c]) for c in string.ascii_uppercase if c in line and not pd.isna(line[c])}


def mcq_prompt(line: pd.Series) -> str:
    """vlmeval/dataset/image_mcq.py `ImageMCQDataset.build_prompt` (text part)."""
    prompt = f"Hint: {line['hint']}\n" if "hint" in line and not pd.isna(line["hint"]) else ""
    prompt += f"Question: {line['question']}\n"
    options = mcq_options(line)
    if options:
        prompt += "Options:\n" + "".join(f"{key}. {value}\n" for key, value in options.items())
        prompt += "Please select the correct answer from the options above. \n"
    return prompt


def extract_choice(prediction: str, choices: dict[str, str]) -> str | None:
    """vlmeval/utils/matching_util.py `can_infer` without a judge model: a single option letter
    among the answer's words (punctuation blanked) near its end, else the single option whose
    text the lower-cased answer contains."""
    words = re.sub(r"[.()\[\],:;!*#{}]", " ", prediction).split()
    letters = [letter for letter in choices if letter in words]
    if len(letters) == 1 and words.index(letters[0]) > len(words) - 5:
        return letters[0]
    found = [key for key, text in choices.items() if text.lower() in prediction.lower()]
    return found[0] if len(found) == 1 else None


def extract_yes_no(prediction: str) -> str:
    """vlmeval/dataset/utils/yorn.py `YOrN_Extraction`."""
    words = re.findall(r"[a-z]+", prediction.lower())
    if "yes" in words and "no" not in words:
        return "Yes"
    if "no" in words and "yes" not in words:
        return "No"
    return "Unknown"


def mcq_accuracy(data: pd.DataFrame, answer: Any) -> float:
    """ImageMCQDataset.evaluate_heuristic → mcq_vanilla_eval → report_acc 'Overall' (exact matching)."""
    hits = [extract_choice(answer(line), mcq_options(line)) == line["answer"] for _, line in data.iterrows()]
    return float(np.mean(hits))


def yes_no_accuracy(data: pd.DataFrame, answer: Any) -> float:
    """ImageYORNDataset.evaluate → default_rating 'Overall' (as a fraction)."""
    return float(np.mean([extract_yes_no(answer(line)) == line["answer"] for _, line in data.iterrows()]))


def decoded(line: pd.Series) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(base64.b64decode(line["image"]))).convert("RGB"))


# --------------------------------------------------------------------------- tiny runs
def tiny_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny Dysca run (all scenarios) and one tiny VLBias run (both parts, clean + print),
    exported in both harness formats; built once per session and shared with
    test_format_lmms_eval.py."""
    root = tmp_path_factory.getbasetemp() / "harness-format-runs"
    runs = {"dysca": root / "dysca", "vlbias": root / "vlbias"}
    if not (root / "done").exists():
        common = ["--model", "tiny", "--num", "8", "--steps", "2"]
        main(["dysca", "--scenario", "all", *common, "--out", str(runs["dysca"])])
        main(
            [
                "vlbias",
                "--categories",
                "age,gender",
                "--scenario",
                "clean,print",
                *common,
                "--out",
                str(runs["vlbias"]),
            ]
        )
        for run in runs.values():
            main(["export", str(run), "--format", "vlmevalkit", "--format", "lmms-eval"])
        (root / "done").write_text("ok")
    return runs


def herm_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A HERM run of the small COCO fixture (grounding questions: BOX files and tasks), exported in
    both harness formats; built once per session and shared with test_format_lmms_eval.py."""
    from herm_coco import write_coco

    root = tmp_path_factory.getbasetemp() / "harness-format-herm"
    run = root / "run"
    if not (root / "done").exists():
        coco = write_coco(root / "coco")
        main(["herm", "--coco-keypoints", str(coco["keypoints"]), "--coco-instances", str(coco["instances"]),
              "--coco-captions", str(coco["captions"]), "--images", str(coco["images"]), "--out", str(run)])  # fmt: skip
        main(["export", str(run), "--format", "vlmevalkit", "--format", "lmms-eval"])
        (root / "done").write_text("ok")
    return run


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_runs(tmp_path_factory)


def records_of(run: Path) -> dict[str, dict[str, Any]]:
    return {
        record["id"]: record for record in map(json.loads, (run / "records.jsonl").read_text().splitlines())
    }


def position_balance(run: Path, tmp_path: Path) -> list[dict[str, Any]]:
    target = tmp_path / "stats.json"
    main(["stats", str(run), "--json", str(target)])
    return json.loads(target.read_text())["position_balance"]


# --------------------------------------------------------------------------- round trips (heavy)
@pytest.mark.heavy
def test_one_file_per_config_and_kind_with_unique_names(runs: dict[str, Path]) -> None:
    dysca = runs["dysca"] / VLMEVALKIT
    names = sorted(path.name for path in dysca.glob("*.tsv"))
    assert names == sorted(
        f"Dysca_{config}_{kind}.tsv"
        for config in ("clean", "corruption", "print", "adversarial")
        for kind in ("MCQ", "YN", "VQA")
    )
    vlbias = sorted(path.name for path in (runs["vlbias"] / VLMEVALKIT).glob("*.tsv"))
    assert vlbias == sorted(
        [
            "VLBiasBench_close_ended_MCQ.tsv",
            "VLBiasBench_open_ended_VQA.tsv",
            "VLBiasBench_print_close_ended_MCQ.tsv",
        ]
    )
    config = json.loads((dysca / DATA_CONFIG_FILE).read_text())
    assert config["Dysca_clean_MCQ"] == {"class": "CustomMCQDataset", "dataset": "Dysca_clean_MCQ"}
    assert config["Dysca_clean_YN"]["class"] == "ImageYORNDataset"
    assert config["Dysca_clean_VQA"]["class"] == "CustomVQADataset"
    # push uploads export/ only: the formats live beside it
    assert not (runs["dysca"] / "export" / "vlmevalkit").exists()


@pytest.mark.heavy
def test_every_question_lands_in_the_file_of_its_kind(runs: dict[str, Path]) -> None:
    records = records_of(runs["dysca"])
    folder = runs["dysca"] / VLMEVALKIT
    seen: dict[str, str] = {}
    for kind in (MCQ, YN, VQA):
        data = load_like_vlmevalkit(folder / f"Dysca_clean_{kind}.tsv")
        for _, line in data.iterrows():
            record = records[line["id"]]
            assert question_kind(record) == kind
            seen[line["id"]] = kind
            if kind == MCQ:
                # VLMEvalKit routes a file with A and B columns to CustomMCQDataset
                assert list(mcq_options(line).values()) == record["options"]
                assert line["answer"] == "ABCD"[record["answer_index"]]
            else:
                assert "A" not in data.columns
            if kind == VQA:
                assert line["answer"] == record["answer"]
    assert set(seen) == set(records)  # nothing lost, nothing twice


@pytest.mark.heavy
def test_a_correct_model_scores_100_and_always_a_the_position_rate(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run = runs["dysca"]
    balance = position_balance(run, tmp_path)
    kind_of = {record["question_type"]: question_kind(record) for record in records_of(run).values()}
    first = {
        kind: sum(g["counts"][0] for g in balance if kind_of[g["question_type"]] == kind)
        for kind in (MCQ, YN)
    }
    total = {
        kind: sum(sum(g["counts"]) for g in balance if kind_of[g["question_type"]] == kind)
        for kind in (MCQ, YN)
    }

    mcq = load_like_vlmevalkit(run / VLMEVALKIT / "Dysca_clean_MCQ.tsv")
    assert mcq_accuracy(mcq, lambda line: f"The answer is ({line['answer']}).") == 1.0
    # (answering with the option text is not enough for VLMEvalKit: "male" is inside "female")
    assert mcq_accuracy(mcq, lambda line: "A") == pytest.approx(first[MCQ] / total[MCQ])

    yes_no = load_like_vlmevalkit(run / VLMEVALKIT / "Dysca_clean_YN.tsv")
    assert yes_no_accuracy(yes_no, lambda line: f"{line['answer']}, it is.") == 1.0
    # Dysca lists True first, so "always the first option" is "always yes" here
    records = records_of(run)
    assert all(str(records[i]["options"][0]).lower() in ("true", "yes") for i in yes_no["id"])
    assert yes_no_accuracy(yes_no, lambda line: "Yes") == pytest.approx(first[YN] / total[YN])
    assert 0 < first[MCQ] < total[MCQ]  # the always-A check means something


@pytest.mark.heavy
def test_vlbias_context_goes_into_hint_so_prompts_tell_the_answers_apart(
    runs: dict[str, Path], tmp_path: Path
) -> None:
    run = runs["vlbias"]
    records = records_of(run)
    data = load_like_vlmevalkit(run / VLMEVALKIT / "VLBiasBench_close_ended_MCQ.tsv")
    answers: dict[tuple[str, str], set[str]] = defaultdict(set)
    for _, line in data.iterrows():
        assert line["hint"] == records[line["id"]]["context"]
        answers[(line["image"], mcq_prompt(line))].add(line["answer"])
    assert all(len(gold) == 1 for gold in answers.values())  # one prompt, one answer
    # an ambiguous item and its two disambiguated siblings share question and picture, not the hint
    questions = data.groupby(["image", "question"])["hint"].nunique()
    assert (questions == 3).any()
    assert mcq_accuracy(data, lambda line: line["answer"]) == 1.0
    balance = position_balance(run, tmp_path)
    close = [group for group in balance if group["question_type"] == "multi choice"]
    rate = sum(g["counts"][0] for g in close) / sum(sum(g["counts"]) for g in close)
    assert mcq_accuracy(data, lambda line: "A") == pytest.approx(rate)
    free = load_like_vlmevalkit(run / VLMEVALKIT / "VLBiasBench_open_ended_VQA.tsv")
    assert len(free) == sum(1 for r in records.values() if not r["options"]) and "A" not in free


@pytest.mark.heavy
def test_repeated_images_are_stored_once_and_scenarios_carry_their_own(runs: dict[str, Path]) -> None:
    from datasets import load_dataset

    run = runs["dysca"]
    folder = run / VLMEVALKIT
    loaded = {
        config: load_like_vlmevalkit(folder / f"Dysca_{config}_MCQ.tsv")
        for config in ("clean", "print", "corruption")
    }
    raw = pd.read_csv(folder / "Dysca_clean_MCQ.tsv", sep="\t")
    payloads = [value for value in raw["image"] if len(str(value)) > 64]
    export = load_dataset(str(run / "export"), "clean", split="test")
    mcq_ids = set(raw["id"])
    distinct = {row["images"][0] for row in export if row["id"] in mcq_ids}
    assert len(payloads) == len(distinct) < len(raw)  # one base64 text per picture
    assert raw["image_path"].nunique() == len(distinct)
    clean = {line["id"]: decoded(line) for _, line in loaded["clean"].iterrows()}
    for scenario in ("print", "corruption"):
        for _, line in loaded[scenario].iterrows():
            picture = decoded(line)
            assert picture.shape == clean[line["id"]].shape
            assert not np.array_equal(picture, clean[line["id"]]), (scenario, line["id"])
    # and the clean TSV carries the clean export's picture
    by_id = {row["id"]: row["image"] for row in export if row["id"] in clean}
    assert all(np.array_equal(clean[i], np.asarray(image.convert("RGB"))) for i, image in by_id.items())


# --------------------------------------------------------------------------- unit tests
def _png(value: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (value, 0, 0)).save(buffer, format="PNG")
    return buffer.getvalue()


def _row(qid: str, image: str, options: list[str], answer_index: int | None, **extra: Any) -> dict[str, Any]:
    answer = options[answer_index] if answer_index is not None else extra.pop("answer", "a reference")
    return {
        "id": qid,
        "question": f"question {qid}?",
        "options": options,
        "answer_index": answer_index,
        "answer": answer,
        "context": extra.pop("context", None),
        "category": extra.pop("category", "cat"),
        "_image_path": image,
        **extra,
    }


def _context(tmp_path: Path, title: str = "Toy Bench") -> FormatContext:
    images = {f"images/{n}.png": _png(n) for n in range(4)}
    generator = SimpleNamespace(name="toy", title=title, category_column="category")
    config = SimpleNamespace(export=SimpleNamespace(split="test"))
    return FormatContext(tmp_path, config, generator, tmp_path / "export", images.__getitem__)  # type: ignore[arg-type]


TOY_ROWS = [
    _row("q1", "images/0.png", ["red", "blue", "green"], 2, context="The ball was kicked."),
    _row("q2", "images/0.png", ["red", "blue", "green"], 0, context="The ball was thrown."),
    _row("q3", "images/1.png", ["True", "False"], 1),
    _row("q4", "images/1.png", ["no", "yes"], 1, context="Someone waves."),
    _row("q5", "images/2.png", [], None, answer="a red ball"),
    _row("q6", "images/0.png", ["Yes", "No", "Can't tell"], 2),
]


def test_kinds_come_from_options_and_answer_index() -> None:
    kinds = [question_kind(row) for row in TOY_ROWS]
    assert kinds == [MCQ, MCQ, YN, YN, VQA, MCQ]  # Yes/No/unknown is a three-way choice
    with pytest.raises(ValueError, match="answer_index"):
        question_kind({"id": "x", "options": ["a", "b"], "answer_index": None})


def test_toy_export_writes_columns_hints_and_image_references(tmp_path: Path) -> None:
    samples = ConfigSamples("clean", "clean", pa.Table.from_pylist(TOY_ROWS))
    out = tmp_path / "out"
    out.mkdir()
    files = VLMEvalKitFormat().write(_context(tmp_path), [samples], out)
    assert set(files) >= {"ToyBench_clean_MCQ.tsv", "ToyBench_clean_YN.tsv", "ToyBench_clean_VQA.tsv"}

    mcq = load_like_vlmevalkit(out / "ToyBench_clean_MCQ.tsv")
    assert list(mcq["id"]) == ["q1", "q2", "q6"]
    assert list(mcq["answer"]) == ["C", "A", "C"]
    assert list(mcq["hint"].fillna("")) == ["The ball was kicked.", "The ball was thrown.", ""]
    assert mcq_prompt(mcq.iloc[0]).startswith(
        "Hint: The ball was kicked.\nQuestion: question q1?\nOptions:\nA. red\n"
    )
    raw = pd.read_csv(out / "ToyBench_clean_MCQ.tsv", sep="\t")
    assert [str(x) for x in raw["image"][1:]] == ["0", "0"]  # stored once, then referenced
    assert mcq["image"].nunique() == 1 and raw["image_path"].nunique() == 1

    yes_no = load_like_vlmevalkit(out / "ToyBench_clean_YN.tsv")
    assert list(yes_no["answer"]) == ["No", "Yes"]  # False → No; "yes" (lower case) → Yes
    assert list(yes_no["question"]) == ["question q3?", "Someone waves.\nquestion q4?"]  # no hint there
    assert "hint" not in yes_no and "A" not in yes_no

    free = load_like_vlmevalkit(out / "ToyBench_clean_VQA.tsv")
    assert list(free["answer"]) == ["a red ball"]
    assert np.asarray(Image.open(io.BytesIO(base64.b64decode(free["image"][0])))).shape == (8, 8, 3)
    readme = (out / "README.md").read_text()
    assert "`ToyBench_clean_YN.tsv` | `ImageYORNDataset`" in readme and "--mode infer" in readme


def test_cells_pandas_reads_as_missing_are_refused(tmp_path: Path) -> None:
    rows = [_row("q1", "images/0.png", ["None", "Two"], 1)]
    samples = ConfigSamples("clean", "clean", pa.Table.from_pylist(rows))
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(HvgenError, match="'None'.*missing value"):
        VLMEvalKitFormat().write(_context(tmp_path), [samples], out)


def test_choice_rows_without_an_answer_index_are_refused() -> None:
    rows = [_row("q1", "images/0.png", ["a", "b"], 0) | {"answer_index": None}]
    with pytest.raises(HvgenError, match="export config 'clean'.*answer_index"):
        rows_by_kind(ConfigSamples("clean", "clean", pa.Table.from_pylist(rows)))


def test_names_vlmevalkit_scores_by_other_rules_are_refused() -> None:
    assert check_dataset_name("Dysca_clean_MCQ") == "Dysca_clean_MCQ"
    with pytest.raises(HvgenError, match="'MME'"):
        check_dataset_name("MMEBench_clean_YN")
    with pytest.raises(HvgenError, match="'circular'"):
        check_dataset_name("Circular_clean_MCQ")


# --------------------------------------------------------------------------- VLMEvalKit itself
@pytest.mark.heavy
@pytest.mark.skipif(
    not os.environ.get("VLMEVALKIT_DIR"),
    reason="set VLMEVALKIT_DIR to a VLMEvalKit checkout (with its requirements) to run its own code",
)
@pytest.mark.parametrize("benchmark", ["dysca", "vlbias"])
def test_vlmevalkit_itself_reads_and_scores_every_file(
    runs: dict[str, Path], tmp_path: Path, benchmark: str
) -> None:
    """The export through VLMEvalKit's run.py --data-config path, its datasets' build_prompt and
    exact-matching evaluate (run in a subprocess: vlmeval configures logging process-wide)."""
    checkout = Path(os.environ["VLMEVALKIT_DIR"])
    format_dir = runs[benchmark] / VLMEVALKIT
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(checkout), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [
            sys.executable,
            str(Path(__file__).with_name("vlmevalkit_driver.py")),
            str(format_dir),
            str(tmp_path / "work"),
        ],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    results = {
        r["file"]: r
        for r in (json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT "))
    }
    expected = json.loads((format_dir / DATA_CONFIG_FILE).read_text())
    assert set(results) == set(expected)
    for name, result in results.items():
        assert result["class"] == expected[name]["class"]
        tsv = pd.read_csv(format_dir / f"{name}.tsv", sep="\t")
        assert result["rows"] == len(tsv) and all(result["images"])  # every prompt has its picture
        kind = name.rsplit("_", 1)[1]
        if kind == "VQA":
            continue
        assert result["scores"]["perfect"] == 1.0, name
        first = "A" if kind == "MCQ" else "Yes"
        assert result["scores"]["always_first"] == pytest.approx(float(np.mean(tsv["answer"] == first))), name
    if benchmark == "dysca":  # a scenario's file shows that scenario's picture, not the clean one
        clean = {
            r: p[0]
            for r, p in zip(
                pd.read_csv(format_dir / "Dysca_clean_MCQ.tsv", sep="\t")["id"],
                results["Dysca_clean_MCQ"]["images"],
            )
        }
        for scenario in ("corruption", "print", "adversarial"):
            ids = pd.read_csv(format_dir / f"Dysca_{scenario}_MCQ.tsv", sep="\t")["id"]
            pictures = dict(zip(ids, (p[0] for p in results[f"Dysca_{scenario}_MCQ"]["images"])))
            shared = [i for i in pictures if i in clean]
            assert shared and all(
                not np.array_equal(np.asarray(Image.open(pictures[i])), np.asarray(Image.open(clean[i])))
                for i in shared
            ), scenario


# --------------------------------------------------------------------------- grounding files
def box_answers(data: pd.DataFrame, mode: str) -> list[str]:
    """A model's answers to a BOX file: right in a rotation of formats (HERM's 0-100 grid, pixels,
    Qwen2-VL's 0-1000 grid, 0-1 corners), shifted by half a box width (IoU 1/3), or no box."""
    answers = []
    for number, line in enumerate(data.itertuples()):
        x1, y1, x2, y2 = line.box_x1, line.box_y1, line.box_x2, line.box_y2
        if mode == "shifted":
            step = (x2 - x1) / 2 if x2 + (x2 - x1) / 2 <= 1 else -(x2 - x1) / 2
            answers.append(f"[{x1 + step:.4f}, {y1:.4f}, {x2 + step:.4f}, {y2:.4f}]")
        elif mode == "garbage":
            answers.append(["the person on the left", "{<12><30>}", ""][number % 3])
        else:
            w, h = line.width, line.height
            answers.append(
                [
                    f"[{x1:.4f}, {y1:.4f}, {x2:.4f}, {y2:.4f}]",
                    f'{{"bbox_2d": [{x1 * w:.1f}, {y1 * h:.1f}, {x2 * w:.1f}, {y2 * h:.1f}]}}',
                    f"<|box_start|>({x1 * 1000:.0f},{y1 * 1000:.0f}),({x2 * 1000:.0f},{y2 * 1000:.0f})<|box_end|>",
                    "{" + "".join(f"<{round(v * 100)}>" for v in (x1, y1, x2, y2)) + "}",
                ][number % 4]
            )
    return answers


@pytest.mark.heavy
def test_grounding_files_are_scored_by_iou_with_the_shipped_scorer(
    tmp_path_factory: pytest.TempPathFactory, tmp_path: Path
) -> None:
    """The BOX TSVs through VLMEvalKit's reading, answered by a fake model, scored by the
    score_grounding.py the export ships (run as a user runs it, with no hvgen on its path)."""
    folder = herm_run(tmp_path_factory) / VLMEVALKIT
    config = json.loads((folder / DATA_CONFIG_FILE).read_text())
    names = [name for name in config if name.endswith("_BOX")]
    assert names and all(config[name]["class"] == "CustomVQADataset" for name in names)
    readme = (folder / "README.md").read_text()
    assert "score_grounding.py" in readme and "IoU > 0.5" in readme and "RefCOCODataset" in readme
    scorer = (folder / "score_grounding.py").read_text()
    assert "from hvgen" not in scorer and "import hvgen" not in scorer
    expected = {"right": (1.0, 0), "shifted": (0.0, 0), "garbage": (0.0, None)}
    for name in names:
        data = load_like_vlmevalkit(folder / f"{name}.tsv")
        assert data["question"].str.endswith("fractions (0-1) of the image width and height.").all()
        assert (data["width"] > 0).all() and (data["box_x2"] > data["box_x1"]).all()
        for mode, (accuracy, unparsed) in expected.items():
            prediction = data.drop(columns=["image"]).copy()
            prediction["prediction"] = box_answers(data, mode)
            path = tmp_path / mode / f"MODEL_{name}.xlsx"
            path.parent.mkdir(exist_ok=True)
            prediction.to_excel(path, index=False)
            done = subprocess.run(
                [sys.executable, "-I", str(folder / "score_grounding.py"), str(path), "--output", str(tmp_path / "r.json")],
                capture_output=True, text=True, cwd=tmp_path, timeout=120,
            )  # fmt: skip
            assert done.returncode == 0, done.stderr[-2000:]
            report = json.loads((tmp_path / "r.json").read_text())[path.name]
            assert report["questions"] == len(data) and report["accuracy"] == accuracy, (name, mode)
            assert report["unparsed"] == (len(data) if unparsed is None else unparsed), (name, mode)
            if mode == "shifted":
                assert report["mean_iou"] == pytest.approx(1 / 3, abs=0.01)
            if mode == "garbage":
                assert len(report["problems"]) == len(data) and "answers with no readable box" in done.stderr
