"""lmms-eval export: a task folder the real lmms-eval finds with --include_path and scores.

The answer-parsing rules of the generated ``utils.py`` are tested on their own; the task folder
is then loaded by lmms-eval's TaskManager and run through `simple_evaluate` and the
``lmms-eval`` command with fake models (no weights): one that answers right scores 1.0,
always-A scores at the position rate `hvgen stats` reports. Tests needing lmms-eval skip
cleanly when it is not installed (``pip install ".[harness]"``).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from test_format_vlmevalkit import position_balance, records_of, tiny_runs

from hvgen.cli import main
from hvgen.publish.formats.lmms_eval import task_utils_source, writer_name
from hvgen.publish.formats.templates.task_utils import (
    MCQ,
    YN,
    doc_to_text,
    parse_choice,
    parse_yes_no,
    process_results,
    question_kind,
    token_f1,
)

HAS_LMMS_EVAL = importlib.util.find_spec("lmms_eval") is not None
needs_lmms_eval = pytest.mark.skipif(
    not HAS_LMMS_EVAL, reason='lmms-eval is not installed (pip install ".[harness]")'
)
TASKS = "formats/lmms-eval"


# --------------------------------------------------------------------------- utils.py rules
def test_choice_parsing_reads_letters_and_option_texts() -> None:
    options = ["Not known", "Yes", "No"]
    assert parse_choice("B", options) == "B"
    assert parse_choice("(C)", options) == "C"
    assert parse_choice("**Answer: C.** No, she did not.", options) == "C"
    assert parse_choice("The answer is A", options) == "A"
    assert parse_choice("no.", options) == "C"
    assert parse_choice("Yes, because the context says so.", options) == "B"
    assert parse_choice("Maybe yes, maybe no", options) is None
    assert parse_choice("D", options) is None  # not an option here
    assert parse_choice("A cat sits on the mat", ["cat", "dog"]) == "A"  # by text, not as a letter
    assert parse_choice("A dog", ["cat", "dog"]) == "B"


def test_yes_no_and_free_answers() -> None:
    assert parse_yes_no("Yes, there is.") == "Yes"
    assert parse_yes_no("False") == "No"
    assert parse_yes_no("yes and no") is None
    assert token_f1(
        "The Forbidden City, watercolor", "The Forbidden City, watercolor style"
    ) == pytest.approx(2 * 1.0 * 0.75 / 1.75)
    assert token_f1("nothing alike", "the forbidden city") == 0.0


def test_prompts_show_context_options_and_kind_specific_instructions() -> None:
    doc = {"id": "q", "question": "Did she win?", "options": ["Yes", "No", "Unknown"], "answer_index": 2}
    doc["context"] = "Two people ran a race."
    text = doc_to_text(doc)
    assert text.startswith("Two people ran a race.\nDid she win?\nA. Yes\nB. No\nC. Unknown\n")
    assert "option's letter" in text
    yes_no = {"id": "t", "question": "Is it red?", "options": ["True", "False"], "answer_index": 0}
    assert question_kind(yes_no) == YN and doc_to_text(yes_no, {"yn_post_prompt": " (yes/no)"}).endswith(
        "Is it red? (yes/no)"
    )
    scored = process_results(doc, ["C. Unknown"])
    assert scored["mcq_acc"] == 1.0 and scored["predictions"]["prediction"] == "C. Unknown"
    assert process_results(yes_no, ["No"])["yn_acc"] == 0.0
    free = {"id": "f", "question": "Describe it.", "options": [], "answer_index": None, "answer": None}
    assert set(process_results(free, ["a red ball"])) == {"predictions"}  # nothing to score against


def test_generated_utils_fill_in_the_category_and_one_writer_per_task() -> None:
    source = task_utils_source("subtask", ["Toy_clean", "Toy_print"])
    namespace: dict[str, Any] = {}
    exec(compile(source, "utils.py", "exec"), namespace)  # the file lmms-eval imports
    assert namespace["CATEGORY_COLUMN"] == "subtask"
    assert callable(namespace[writer_name("Toy_print")])
    doc = {"id": "q", "question": "?", "options": ["a", "b"], "answer_index": 0, "subtask": "animal"}
    assert namespace["process_results"](doc, ["A"])["predictions"]["category"] == "animal"


# --------------------------------------------------------------------------- task folder (heavy)
@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return tiny_runs(tmp_path_factory)


class _IgnoreFunctions(yaml.SafeLoader):
    pass


_IgnoreFunctions.add_constructor(
    "!function", lambda loader, node: f"!function {loader.construct_scalar(node)}"
)


@pytest.mark.heavy
def test_task_folder_has_a_group_and_one_task_per_config(runs: dict[str, Path]) -> None:
    folder = runs["dysca"] / TASKS / "Dysca"
    group = yaml.load((folder / "_Dysca.yaml").read_text(), Loader=_IgnoreFunctions)
    configs = ["clean", "corruption", "print", "adversarial"]
    assert group == {"group": "Dysca", "task": [f"Dysca_{c}" for c in configs]}
    for config in configs:
        task = yaml.load((folder / f"Dysca_{config}.yaml").read_text(), Loader=_IgnoreFunctions)
        assert task["dataset_path"] == str((runs["dysca"] / "export").resolve())
        assert task["dataset_name"] == config and task["test_split"] == "test"
        assert task["doc_to_visual"] == "!function utils.doc_to_visual"
        metrics = [m["metric"] for m in task["metric_list"]]
        assert metrics == ["mcq_acc", "yn_acc", "vqa_token_f1", "predictions"]
    close = yaml.load(
        (runs["vlbias"] / TASKS / "VLBiasBench" / "VLBiasBench_close_ended.yaml").read_text(),
        Loader=_IgnoreFunctions,
    )
    assert [m["metric"] for m in close["metric_list"]] == ["mcq_acc", "predictions"]
    assert "CATEGORY_COLUMN = 'subtask'" in (folder / "utils.py").read_text()


def fake_model_class(mode: str) -> type:
    """An lmms-eval model class that reads each request's doc and answers from its record
    fields: right ("right"), or always the first option ("first": "A", or its yes/no word)."""
    from lmms_eval.api.model import lmms

    class FakeModel(lmms):
        def __init__(self, **kwargs: Any) -> None:  # lmms-eval passes batch_size, device, ...
            super().__init__()

        def loglikelihood(self, requests: list[Any]) -> list[Any]:
            raise NotImplementedError

        def generate_until_multi_round(self, requests: list[Any]) -> list[str]:
            raise NotImplementedError

        def generate_until(self, requests: list[Any]) -> list[str]:
            answers = []
            for request in requests:
                context, _kwargs, doc_to_visual, doc_id, task, split = request.args
                doc = self.task_dict[task][split][doc_id]
                assert str(doc["question"]).strip() in context
                assert len(doc_to_visual(doc)) == 1
                answers.append(_answer(doc, mode))
            return answers

    return FakeModel


def _answer(doc: dict[str, Any], mode: str) -> str:
    options = list(doc["options"] or [])
    if not options:
        return str(doc["answer"] or "no idea") if mode == "right" else ""
    index = doc["answer_index"] if mode == "right" else 0
    if question_kind(doc) == YN:
        return "Yes" if str(options[index]).lower() in ("yes", "true") else "No"
    return f"({'ABCDEFGHIJ'[index]})"


def _evaluate(
    runs: dict[str, Path], bench: str, prefix: str, mode: str, output: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Run `prefix` in-process from `output`: without --output_path the predictions go to ./submissions."""
    from lmms_eval import evaluator
    from lmms_eval.tasks import TaskManager

    manager = TaskManager("WARNING", include_path=str(runs[bench] / TASKS), include_defaults=False)
    output.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(output)
    result = evaluator.simple_evaluate(
        model=fake_model_class(mode)(),
        tasks=[prefix],
        task_manager=manager,
        bootstrap_iters=0,
        verbosity="WARNING",
    )
    return result["results"]


@needs_lmms_eval
@pytest.mark.heavy
def test_task_manager_finds_the_tasks_and_builds_them_from_the_export(runs: dict[str, Path]) -> None:
    from lmms_eval.tasks import TaskManager

    manager = TaskManager("WARNING", include_path=str(runs["vlbias"] / TASKS), include_defaults=False)
    assert {"VLBiasBench", "VLBiasBench_close_ended", "VLBiasBench_open_ended"} <= set(manager.all_tasks)
    loaded = manager.load_task_or_group(["VLBiasBench_close_ended", "VLBiasBench_print_close_ended"])
    clean, printed = loaded["VLBiasBench_close_ended"], loaded["VLBiasBench_print_close_ended"]
    records = records_of(runs["vlbias"])
    docs = {doc["id"]: doc for doc in printed.test_docs()}
    for doc in clean.test_docs():
        text = clean.doc_to_text(doc)
        assert text.startswith(records[doc["id"]]["context"] + "\n")  # the context tells ambig from disambig
        assert clean.doc_to_target(doc) == "ABC"[records[doc["id"]]["answer_index"]]
        mine, theirs = clean.doc_to_visual(doc)[0], printed.doc_to_visual(docs[doc["id"]])[0]
        assert not np.array_equal(np.asarray(mine), np.asarray(theirs))  # the print scenario's picture


@needs_lmms_eval
@pytest.mark.heavy
def test_right_answers_score_1_and_always_a_the_position_rate(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    right = _evaluate(runs, "dysca", "Dysca", "right", tmp_path / "right", monkeypatch)
    for config in ("clean", "corruption", "print", "adversarial"):
        scores = right[f"Dysca_{config}"]
        assert scores["mcq_acc,none"] == scores["yn_acc,none"] == scores["vqa_token_f1,none"] == 1.0
    predictions = tmp_path / "right" / "submissions" / "Dysca_clean_predictions.jsonl"
    ids = [json.loads(line)["id"] for line in predictions.read_text().splitlines()]
    assert sorted(ids) == sorted(records_of(runs["dysca"]))

    first = _evaluate(runs, "dysca", "Dysca_clean", "first", tmp_path / "first", monkeypatch)["Dysca_clean"]
    balance = position_balance(runs["dysca"], tmp_path)
    kind_of = {r["question_type"]: question_kind(r) for r in records_of(runs["dysca"]).values()}
    for kind, metric in ((MCQ, "mcq_acc,none"), (YN, "yn_acc,none")):
        groups = [g for g in balance if kind_of[g["question_type"]] == kind]
        rate = sum(g["counts"][0] for g in groups) / sum(sum(g["counts"]) for g in groups)
        assert first[metric] == pytest.approx(rate)


@needs_lmms_eval
@pytest.mark.heavy
def test_vlbias_predictions_feed_hvgen_score(
    runs: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = _evaluate(runs, "vlbias", "VLBiasBench", "right", tmp_path, monkeypatch)
    assert results["VLBiasBench_close_ended"]["mcq_acc,none"] == 1.0
    assert "mcq_acc,none" not in results["VLBiasBench_open_ended"]  # free answers: nothing to compare
    submissions = tmp_path / "submissions"
    lines = [
        line
        for name in ("VLBiasBench_close_ended", "VLBiasBench_open_ended")
        for line in (submissions / f"{name}_predictions.jsonl").read_text().splitlines()
    ]
    (tmp_path / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    main(
        [
            "score",
            "vlbias",
            str(runs["vlbias"]),
            str(tmp_path / "predictions.jsonl"),
            "--output",
            str(tmp_path / "r.json"),
        ]
    )
    report = json.loads((tmp_path / "r.json").read_text())
    assert (
        report["close_ended"]["overall"]["acc_ambig"]
        == report["close_ended"]["overall"]["acc_disambig"]
        == 1.0
    )
    assert report["close_ended"]["n_missing"] == 0


@needs_lmms_eval
@pytest.mark.heavy
def test_lmms_eval_command_finds_and_runs_the_tasks(runs: dict[str, Path], tmp_path: Path) -> None:
    """`lmms-eval --tasks <task> --include_path ...` itself, with a fake model registered the
    way lmms-eval plugins register (entry point group `lmms_eval.models`)."""
    plugin = tmp_path / "plugin"
    (plugin / "hvgen_fake_model-0.dist-info").mkdir(parents=True)
    (plugin / "hvgen_fake_model-0.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: hvgen-fake-model\nVersion: 0\n"
    )
    (plugin / "hvgen_fake_model-0.dist-info" / "entry_points.txt").write_text(
        "[lmms_eval.models]\nhvgen_fake = hvgen_fake_model:MANIFEST\n"
    )
    (plugin / "hvgen_fake_model.py").write_text(
        textwrap.dedent(
            """
            import test_format_lmms_eval as tests
            from lmms_eval.models.registry_v2 import ModelManifest

            Right = tests.fake_model_class("right")
            MANIFEST = ModelManifest(model_id="hvgen_fake", simple_class_path="hvgen_fake_model.Right")
            """
        )
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(plugin), str(Path(__file__).parent)])}
    command = [
        sys.executable,
        "-m",
        "lmms_eval",
        "--model",
        "hvgen_fake",
        "--tasks",
        "Dysca_clean,Dysca_print",
    ]
    command += ["--include_path", str(runs["dysca"] / TASKS), "--output_path", str(tmp_path / "out")]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    results = json.loads(next((tmp_path / "out").rglob("*results.json")).read_text())["results"]
    assert results["Dysca_clean"]["mcq_acc,none"] == results["Dysca_print"]["yn_acc,none"] == 1.0
