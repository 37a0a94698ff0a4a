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
from box_cases import CASES, BoxCase
from test_format_vlmevalkit import herm_run, position_balance, records_of, tiny_runs

from hvgen import boxes
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


# --------------------------------------------------------------------------- grounding (BOX)
def load_like_lmms_eval(path: Path) -> Any:
    """A generated file imported as lmms-eval imports ``utils.py`` (lmms_eval/utils.py
    ``import_function``: spec_from_file_location + exec_module, never put in sys.modules)."""
    spec = importlib.util.spec_from_file_location("utils", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The self-contained files the exports ship, each loaded without hvgen on the path's say."""
    from hvgen.publish.formats.embedded import self_contained
    from hvgen.publish.formats.vlmevalkit import GROUNDING_SCORER

    folder = tmp_path_factory.mktemp("generated")
    (folder / "utils.py").write_text(task_utils_source("task", ["HERM_inst_rec"]))
    (folder / GROUNDING_SCORER).write_text(self_contained(GROUNDING_SCORER))
    return {
        "utils": load_like_lmms_eval(folder / "utils.py"),
        "scorer": load_like_lmms_eval(folder / GROUNDING_SCORER),
    }


def test_shipped_files_import_nothing_of_hvgen(generated: dict[str, Any]) -> None:
    for module in generated.values():
        source = Path(module.__file__).read_text()
        assert "import hvgen" not in source and "from hvgen" not in source
        assert "hvgen.boxes, pasted in by `hvgen export`" in source


def test_pasting_refuses_templates_it_would_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """A template without the marked import, one importing a name the module lacks, or one that
    defines a name the module defines too is refused, not pasted into a file that means otherwise."""
    from hvgen.errors import HvgenError
    from hvgen.publish.formats import embedded

    sources = {
        "plain.py": "import json\n",
        "missing.py": "from hvgen.boxes import no_such_name  # hvgen: embedded\n",
        "clash.py": "from hvgen.boxes import parse_boxes  # hvgen: embedded\n\ndef iou(a, b):\n    return 0\n",
        "good.py": '"""Doc."""\nfrom __future__ import annotations\n\nfrom hvgen.boxes import iou  # hvgen: embedded\n',
    }
    monkeypatch.setattr(embedded, "template_source", sources.__getitem__)
    for name, message in (
        ("plain.py", "no '# hvgen: embedded' import"),
        ("missing.py", "no_such_name"),
        ("clash.py", "'iou'"),
    ):
        with pytest.raises(HvgenError, match=message):
            embedded.self_contained(name)
    pasted = embedded.self_contained("good.py")
    assert pasted.count("from __future__") == 1 and "def iou(" in pasted and "# hvgen: embedded" not in pasted
    namespace: dict[str, Any] = {}
    exec(compile(pasted, "good.py", "exec"), namespace)
    assert namespace["iou"]((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c.note or c.fmt}" for i, c in enumerate(CASES)])
def test_shipped_box_reading_agrees_with_the_engine(generated: dict[str, Any], case: BoxCase) -> None:
    """Parity on the shared table: lmms-eval's utils.py, VLMEvalKit's score_grounding.py and
    hvgen.boxes read every answer into the same box, format and problems."""
    engine = boxes.parse_boxes(case.text, **case.options)
    for module in generated.values():
        shipped = module.parse_boxes(case.text, **case.options)
        assert tuple(shipped) == tuple(engine)
        scored = module.score_grounding(case.text, [(0.1, 0.2, 0.3, 0.4)], **case.options)
        assert tuple(scored) == tuple(
            boxes.score_grounding(case.text, [(0.1, 0.2, 0.3, 0.4)], **case.options)
        )


BOX_DOC = {
    "id": "g1",
    "question": "Where is the person riding a bicycle in the image?",
    "options": [],
    "answer_index": None,
    "answer": "[0.250, 0.200, 0.250, 0.500]",
    "answer_box": [0.25, 0.2, 0.25, 0.5],  # x, y, w, h: corners (0.25, 0.2) - (0.5, 0.7)
    "width": 640,
    "height": 480,
    "task": "inst_rec",
}


def shifted(box: list[float]) -> list[float]:
    """A box moved right (or left, near the edge) by half its width: IoU 1/3, inside the image."""
    x, y, w, h = box
    step = w / 2 if x + w * 1.5 <= 1 else -w / 2
    return [x + step, y, w, h]


def test_box_questions_are_scored_by_iou_not_token_f1(generated: dict[str, Any]) -> None:
    utils = generated["utils"]
    assert (
        utils.question_kind(BOX_DOC) == "BOX"
        and utils.doc_to_target(BOX_DOC) == "[0.250, 0.200, 0.500, 0.700]"
    )
    assert utils.doc_to_text(BOX_DOC).endswith("fractions (0-1) of the image width and height.")
    perfect = [
        "[0.25, 0.2, 0.5, 0.7]",
        "{<25><20><50><70>}",
        "[160, 96, 320, 336]",
        "<|box_start|>(250,200),(500,700)<|box_end|>",
    ]
    for answer in perfect:
        scores = utils.process_results(BOX_DOC, [answer])
        assert scores["box_acc"] == 1.0 and scores["box_iou"] == pytest.approx(1.0, abs=1e-6), answer
        assert scores["box_unparsed"] == 0.0 and "vqa_token_f1" not in scores
        assert scores["predictions"]["prediction"] == pytest.approx(
            BOX_DOC["answer_box"]
        )  # records' [x, y, w, h]
        assert scores["predictions"]["response"] == answer
    x, y, w, h = shifted(BOX_DOC["answer_box"])
    moved = utils.process_results(BOX_DOC, [f"[{x}, {y}, {x + w}, {y + h}]"])
    assert (
        moved["box_acc"] == 0.0 and moved["box_iou"] == pytest.approx(1 / 3) and moved["box_unparsed"] == 0.0
    )
    half = utils.process_results(BOX_DOC, ["[0.25, 0.2, 0.5, 0.45]"])  # IoU exactly 0.5: wrong, as in HERM
    assert half["box_iou"] == pytest.approx(0.5) and half["box_acc"] == 0.0
    for garbage in ("on the left, next to the bicycle", "[0.25, 0.2, 0.5", "{<70><20><50><90>}", ""):
        unread = utils.process_results(BOX_DOC, [garbage])
        assert unread["box_acc"] == unread["box_iou"] == 0.0 and unread["box_unparsed"] == 1.0
        assert unread["predictions"]["prediction"] == garbage and unread["predictions"]["problems"]
    assert utils.count([1.0, 0.0, 1.0]) == 2.0
    for bad in ([0.5, 0.5, 0.0, 0.1], [0.8, 0.1, 0.5, 0.5], "0.1 0.2", [0.1, 0.2, 0.3]):
        with pytest.raises(ValueError, match="answer_box"):
            utils.question_kind({**BOX_DOC, "answer_box": bad})


def test_pixel_answers_are_relative_to_the_image_the_model_saw(generated: dict[str, Any]) -> None:
    from PIL import Image

    utils = generated["utils"]
    doc = {**BOX_DOC, "image": Image.new("RGB", (320, 240)), "width": 640, "height": 480}
    assert utils.process_results(doc, ["[80, 48, 160, 168]"])["box_acc"] == 1.0  # of the 320 x 240 image
    no_size = {key: value for key, value in BOX_DOC.items() if key not in ("width", "height")}
    assert utils.process_results(no_size, ["[160, 96, 320, 336]"])["box_unparsed"] == 1.0


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
    if doc.get("answer_box") is not None:
        return _box_answer(doc, mode)
    options = list(doc["options"] or [])
    if not options:
        return str(doc["answer"] or "no idea") if mode == "right" else ""
    index = doc["answer_index"] if mode == "right" else 0
    if question_kind(doc) == YN:
        return "Yes" if str(options[index]).lower() in ("yes", "true") else "No"
    return f"({'ABCDEFGHIJ'[index]})"


def _box_answer(doc: dict[str, Any], mode: str) -> str:
    """Right (in a format chosen by the id: 0-1 corners, pixels of the image, HERM's 0-100 grid,
    Qwen2-VL's 0-1000 grid), shifted by half a box width (IoU 1/3), or no box at all."""
    x, y, w, h = shifted(doc["answer_box"]) if mode == "shifted" else doc["answer_box"]
    corners = (x, y, x + w, y + h)
    if mode not in ("right", "shifted"):
        return "the person on the left"
    width, height = doc["image"].size
    return [
        "[{:.4f}, {:.4f}, {:.4f}, {:.4f}]".format(*corners),
        f"[{corners[0] * width:.1f}, {corners[1] * height:.1f}, {corners[2] * width:.1f}, {corners[3] * height:.1f}]",
        "{" + "".join(f"<{round(v * 100)}>" for v in corners) + "}",
        "<|box_start|>({:.0f},{:.0f}),({:.0f},{:.0f})<|box_end|>".format(*(v * 1000 for v in corners)),
    ][int(doc["id"], 16) % 4]  # fmt: skip


def _evaluate(
    runs: dict[str, Path],
    bench: str,
    prefix: str | list[str],
    mode: str,
    output: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, Any]:
    """Run `prefix` in-process from `output`: without --output_path the predictions go to ./submissions."""
    from lmms_eval import evaluator
    from lmms_eval.tasks import TaskManager

    manager = TaskManager("WARNING", include_path=str(runs[bench] / TASKS), include_defaults=False)
    output.mkdir(parents=True, exist_ok=True)
    monkeypatch.chdir(output)
    result = evaluator.simple_evaluate(
        model=fake_model_class(mode)(),
        tasks=[prefix] if isinstance(prefix, str) else prefix,
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
def test_herm_grounding_tasks_score_boxes_by_iou_and_agree_with_hvgen_score(
    runs: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """HERM's grounding tasks in the real lmms-eval: right boxes (four formats) score box_acc 1.0,
    boxes moved by half their width 0.0 (mean IoU 1/3), answers without a box 0.0 and are counted;
    the predictions file gives `hvgen score herm` the same grounding accuracy."""
    runs = {**runs, "herm": herm_run(tmp_path_factory)}
    grounding = ["HERM100K_inst_rec", "HERM100K_part_rec"]
    records = records_of(runs["herm"])
    count = {
        task: sum(1 for r in records.values() if r["answer_box"] and f"HERM100K_{r['task']}" == task)
        for task in grounding
    }
    assert all(count.values())
    for mode, accuracy, iou in (("right", 1.0, 1.0), ("shifted", 0.0, 1 / 3), ("nothing", 0.0, 0.0)):
        results = _evaluate(runs, "herm", grounding, mode, tmp_path / mode, monkeypatch)
        for task in grounding:
            scores = results[task]
            assert scores["box_acc,none"] == accuracy and scores["box_iou,none"] == pytest.approx(
                iou,
                abs=0.05,  # HERM's 0-100 grid rounds
            ), (task, mode)
            assert scores["box_unparsed,none"] == (count[task] if mode == "nothing" else 0), (task, mode)
            assert "vqa_token_f1,none" not in scores
    lines = [
        line
        for path in sorted((tmp_path / "right" / "submissions").glob("*_predictions.jsonl"))
        for line in path.read_text().splitlines()
    ]
    (tmp_path / "predictions.jsonl").write_text("\n".join(lines) + "\n")
    main(
        [
            "score",
            "herm",
            str(runs["herm"]),
            str(tmp_path / "predictions.jsonl"),
            "--output",
            str(tmp_path / "r.json"),
        ]
    )
    report = json.loads((tmp_path / "r.json").read_text())
    boxes_scored = [row for row in report["table"] if row["question_type"] == "grounding"]
    assert boxes_scored and all(row["accuracy"] == 1.0 for row in boxes_scored)
    assert report["malformed_predictions"] == 0 and report["grounding_problems"] == []


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
