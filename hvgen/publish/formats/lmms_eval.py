"""lmms-eval task folder: one task per export config, one group per benchmark.

lmms-eval's `TaskManager` indexes every ``*.yaml`` under ``--include_path``: a file with a
string ``task`` is a task, one with a list ``task`` and a ``group`` is a group
(lmms_eval/tasks/__init__.py, ``_get_task_and_group``). A task loads its docs with
``datasets.load_dataset(dataset_path, dataset_name)`` — here the Hub folder ``RUN/export``
and the config — and calls the ``!function utils.<name>`` hooks the YAML names, imported from
the ``utils.py`` beside it (lmms_eval/utils.py, ``import_function``). So the folder is:

    RUN/formats/lmms-eval/<Prefix>/
      _<Prefix>.yaml          group: <Prefix>, task: [<Prefix>_<config>, ...]
      <Prefix>_<config>.yaml  one per export config
      utils.py                templates/task_utils.py + this benchmark's category column +
                              one predictions writer per task

and ``lmms-eval --tasks <Prefix> --include_path RUN/formats/lmms-eval`` runs them all. Every task
evaluates the same split (`harness_split`: ``test`` unless ``hvgen export --split`` picks another),
the one the VLMEvalKit files hold too. Each
task scores only the kinds of question its config has (``mcq_acc``, ``yn_acc``,
``vqa_token_f1``; grounding: ``box_acc`` at IoU > 0.5, ``box_iou``, and ``box_unparsed``, the
number of answers with no readable box) and writes every answer to ``submissions/<task>_predictions.jsonl``, the
`hvgen score` input.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from hvgen.errors import HvgenError
from hvgen.publish.formats import ConfigSamples, ExportFormat, FormatContext, evaluated_split, in_split
from hvgen.publish.formats.embedded import self_contained
from hvgen.publish.formats.templates.task_utils import BOX, DEFAULT_PROMPTS, MCQ, VQA, YN
from hvgen.publish.formats.vlmevalkit import dataset_prefix, rows_by_kind
from hvgen.store.atomic import write_text_atomic

UTILS_TEMPLATE = "task_utils.py"
_CATEGORY_LINE = re.compile(r'^CATEGORY_COLUMN = "category"(?=  # hvgen:)', re.MULTILINE)
# max_new_tokens: short for letter / Yes-No answers, room for a paragraph when a config has free answers.
_SHORT_ANSWER_TOKENS, _FREE_ANSWER_TOKENS = 32, 512
_BOX_ANSWER_TOKENS = 128  # room for a box in JSON ({"bbox_2d": [...], "label": ...}) or with a phrase


class _Function(str):
    """A ``!function utils.<name>`` reference in a task YAML."""


class _TaskDumper(yaml.SafeDumper):
    pass


_TaskDumper.add_representer(_Function, lambda dumper, value: dumper.represent_scalar("!function", str(value)))
# Prompt pieces that start with a line break read best as "\n..." rather than as folded blocks.
_TaskDumper.add_representer(
    str,
    lambda dumper, value: dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style='"' if "\n" in value else None
    ),
)


class LmmsEvalFormat(ExportFormat):
    name = "lmms-eval"
    description = "lmms-eval task folder (one task per config, a group per benchmark; --include_path)"

    def check(self, config: Any) -> None:
        if config.export.layout != "per-question":
            raise HvgenError(
                "--format lmms-eval loads each question's image from its row: export with --layout per-question "
                f"(this run uses {config.export.layout})."
            )

    def write(self, ctx: FormatContext, configs: list[ConfigSamples], out: Path) -> list[str]:
        # lmms-eval cannot build a task without docs (it formats the first one while loading), and
        # a task evaluates one split: configs without rows in it get no task.
        configs = [item for item in (in_split(ctx, c) for c in configs) if item.table.num_rows]
        if not configs:
            raise HvgenError(
                f"{ctx.run_dir}: the export has no rows in split '{evaluated_split(ctx)}', so there is no "
                "lmms-eval task to write."
            )
        prefix = dataset_prefix(ctx.generator)
        folder = out / prefix
        written: list[str] = []
        tasks: list[str] = []
        for item in configs:
            task = f"{prefix}_{item.name}"
            groups = rows_by_kind(item)
            has_reference = any(row.get("answer") for row in groups.get(VQA, []))
            config = task_config(task, ctx, item, list(groups), has_reference)
            write_text_atomic(folder / f"{task}.yaml", _dump(config))
            written.append(f"{prefix}/{task}.yaml")
            tasks.append(task)
        group = {"group": prefix, "task": tasks}
        write_text_atomic(folder / f"_{prefix}.yaml", _dump(group))
        write_text_atomic(folder / "utils.py", task_utils_source(ctx.generator.category_column, tasks))
        return [f"{prefix}/_{prefix}.yaml", *written, f"{prefix}/utils.py"]

    def next_steps(self, out: Path) -> str:
        return f"lmms-eval --model MODEL --tasks TASK_OR_GROUP --include_path {out}"


def task_config(
    task: str, ctx: FormatContext, samples: ConfigSamples, kinds: list[str], has_reference: bool
) -> dict[str, Any]:
    """The YAML of one task: the export config as its dataset, the utils hooks, its metrics."""
    metrics: list[dict[str, Any]] = []
    for kind, metric in ((MCQ, "mcq_acc"), (YN, "yn_acc")):
        if kind in kinds:
            metrics.append({"metric": metric, "aggregation": "mean", "higher_is_better": True})
    if VQA in kinds and has_reference:
        metrics.append({"metric": "vqa_token_f1", "aggregation": "mean", "higher_is_better": True})
    if BOX in kinds:  # HERM's grounding rule: right at IoU > 0.5; the mean IoU; answers with no box read
        metrics.append({"metric": "box_acc", "aggregation": "mean", "higher_is_better": True})
        metrics.append({"metric": "box_iou", "aggregation": "mean", "higher_is_better": True})
        metrics.append(
            {"metric": "box_unparsed", "aggregation": _Function("utils.count"), "higher_is_better": False}
        )
    metrics.append(
        {
            "metric": "predictions",
            "aggregation": _Function(f"utils.{writer_name(task)}"),
            "higher_is_better": True,
        }
    )
    return {
        "task": task,
        "dataset_path": str(ctx.hub_export.resolve()),
        "dataset_name": samples.name,
        "test_split": evaluated_split(ctx),
        "output_type": "generate_until",
        "doc_to_visual": _Function("utils.doc_to_visual"),
        "doc_to_text": _Function("utils.doc_to_text"),
        "doc_to_target": _Function("utils.doc_to_target"),
        "process_results": _Function("utils.process_results"),
        "generation_kwargs": {
            "max_new_tokens": _answer_tokens(kinds),
            "temperature": 0,
            "top_p": 1.0,
            "num_beams": 1,
            "do_sample": False,
        },
        "metric_list": metrics,
        "lmms_eval_specific_kwargs": {"default": dict(DEFAULT_PROMPTS)},
        "metadata": {
            "version": 1.0,
            "hvgen_benchmark": ctx.generator.name,
            "hvgen_config": samples.name,
            "scenario": samples.scenario,
        },
    }


def _answer_tokens(kinds: list[str]) -> int:
    if VQA in kinds:
        return _FREE_ANSWER_TOKENS
    return _BOX_ANSWER_TOKENS if BOX in kinds else _SHORT_ANSWER_TOKENS


def writer_name(task: str) -> str:
    """The predictions writer of `task` in utils.py: aggregations see only their items, so
    each task gets its own function that knows the task's name."""
    return "write_predictions__" + re.sub(r"\W", "_", task)


def task_utils_source(category_column: str, tasks: list[str]) -> str:
    """``templates/task_utils.py``, self-contained (`embedded.self_contained`: the box scoring of
    `hvgen.boxes` pasted in), with the benchmark's category column and the per-task writers."""
    template = self_contained(UTILS_TEMPLATE)
    source, count = _CATEGORY_LINE.subn(f"CATEGORY_COLUMN = {category_column!r}", template)
    if count != 1:
        raise HvgenError(f"{UTILS_TEMPLATE}: expected one CATEGORY_COLUMN line to fill in, found {count}.")
    lines = [
        source.rstrip("\n"),
        "",
        "",
        "# Written by `hvgen export --format lmms-eval`: one predictions writer per task.",
    ]
    for task in tasks:
        lines += [
            "",
            "",
            f"def {writer_name(task)}(items, args=None):",
            f"    return write_predictions(items, args, {task!r})",
        ]
    return "\n".join(lines) + "\n"


def _dump(data: dict[str, Any]) -> str:
    return yaml.dump(data, Dumper=_TaskDumper, sort_keys=False, allow_unicode=True, width=110)
