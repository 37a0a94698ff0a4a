"""`hvgen score herm`: multiple-choice / true-false accuracy (a letter or the option's text) and
grounding accuracy at IoU > 0.5 (HERM's rule, `hvgen.boxes.score_grounding`) with mean IoU, per
task and level. A grounding prediction may be MiniGPT-v2 / HERM's `{<x1><y1><x2><y2>}`, Qwen-VL,
Qwen2-VL or InternVL box text, or a [x, y, w, h] list (hvgen's plain format; 0-1 or pixels of the
record's image); the report lists, per question, what could not be read (`grounding_problems`),
and each answered question's score in `items` (0/1; fact recall for a description), which
`hvgen quality` and `hvgen contamination` pair across splits.

`inst_identify` (a box → the person's description) is graded by fact recall: the reference
description lists its facts as comma-separated phrases ("a large person on the left, standing,
raising both arms, facing the camera, holding a cup"); a prediction's recall is the share of those
phrases it contains (case and spacing ignored), and it counts as correct when it contains them
all. Other free-form answers and conversations have no automatic metric here.

A prediction file is JSONL, one {"id": ..., "prediction": ...} per line, read by the engine's
`read_prediction_lines`. A prediction that cannot be read (not JSON, no id, no letter / option /
box to be found) counts as malformed and wrong; scoring never stops on one. A file that holds no
prediction, or none for these questions, is refused.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from hvgen.boxes import parse_boxes, score_grounding, xywh_to_xyxy, xyxy_to_xywh
from hvgen.records import Record
from hvgen.scoring import (
    check_predictions_answer,
    parse_choice,  # noqa: F401  (re-exported: tests and users import it from here)
    read_prediction_lines,
)

IOU_THRESHOLD = 0.5
IDENTIFY = "inst_identify"


def parse_box(text: Any) -> list[float] | None:
    """A predicted box as normalised [x, y, w, h] (`hvgen.boxes.parse_boxes`, lists read as
    hvgen's plain [x, y, w, h] in 0-1). None when none is found."""
    first = parse_boxes(text, list_layout="xywh").first
    return None if first is None else list(xyxy_to_xywh(first))


def read_predictions(path: Path) -> tuple[dict[str, Any], list[str]]:
    """id → prediction (text, or a box as a list of numbers), and the lines that could not be
    read (the engine's reader: an empty, binary or unreadable file is refused)."""
    lines = read_prediction_lines(path, answer_types=(str, list))
    return {record_id: answer for (record_id, _scenario), answer in lines.texts.items()}, lines.malformed


def score_predictions(records: list[Record], predictions_path: Path) -> dict[str, Any]:
    predictions, malformed_lines = read_predictions(predictions_path)
    groups: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: {
            "questions": 0,
            "answered": 0,
            "correct": 0,
            "malformed": 0,
            "iou_sum": 0.0,
            "recall_sum": 0.0,
        }
    )
    by_id = {record["id"]: record for record in records}
    check_predictions_answer(predictions_path, predictions, by_id)
    unparsed: list[dict[str, Any]] = []
    items: dict[str, float] = {}  # each answered question's score (0/1; a description's fact recall)
    for record in records:
        kind = record["question_type"]
        if not _scored(record):
            continue  # other free-form text and conversations have no automatic metric here
        group = groups[(record["task"], record["level"], kind)]
        group["questions"] += 1
        if record["id"] not in predictions:
            continue
        group["answered"] += 1
        prediction = predictions[record["id"]]
        if record["task"] == IDENTIFY:
            if not isinstance(prediction, str) or not prediction.strip():
                group["malformed"] += 1
                items[record["id"]] = 0.0
                continue
            recall = fact_recall(prediction, record["answer"])
            items[record["id"]] = recall
            group["recall_sum"] += recall
            group["correct"] += recall == 1.0
        elif kind == "grounding":
            score = grounding_score(prediction, record)
            if score.problems:
                unparsed.append({"id": record["id"], "problems": score.problems})
            if not score.parsed:
                group["malformed"] += 1
                items[record["id"]] = 0.0
                continue
            group["iou_sum"] += score.iou
            group["correct"] += score.correct
            items[record["id"]] = float(bool(score.correct))
        else:
            choice = parse_choice(prediction, record["options"])
            if choice is None:
                group["malformed"] += 1
                items[record["id"]] = 0.0
                continue
            group["correct"] += choice == record["answer_index"]
            items[record["id"]] = float(choice == record["answer_index"])
    table = []
    for (task, level, kind), g in sorted(groups.items()):
        row = {"task": task, "level": level, "question_type": kind, "questions": g["questions"],
               "answered": g["answered"], "malformed": g["malformed"],
               "accuracy": round(g["correct"] / g["questions"], 4) if g["questions"] else 0.0}  # fmt: skip
        row["mean_iou"] = (
            round(g["iou_sum"] / g["questions"], 4) if kind == "grounding" and g["questions"] else None
        )
        row["fact_recall"] = (
            round(g["recall_sum"] / g["questions"], 4) if task == IDENTIFY and g["questions"] else None
        )
        table.append(row)
    scored = [g for g in groups.values()]
    total = sum(g["questions"] for g in scored)
    return {
        "table": table,
        "overall_accuracy": round(sum(g["correct"] for g in scored) / total, 4) if total else 0.0,
        "by_level": _by(table, "level"),
        "items": items,
        "malformed_lines": malformed_lines,
        "malformed_predictions": sum(g["malformed"] for g in scored),
        "missing_ids": sorted(i for i, r in by_id.items() if i not in predictions and _scored(r)),
        "extra_ids": sorted(i for i in predictions if i not in by_id),
        "iou_threshold": IOU_THRESHOLD,
        "grounding_problems": unparsed,
    }


def grounding_score(prediction: Any, record: Record) -> Any:
    """HERM's rule through `hvgen.boxes`: the prediction's first box (MiniGPT-v2's grid text, Qwen /
    InternVL box text, or a [x, y, w, h] list in 0-1 or pixels — hvgen's plain box format) against
    the answer box, right at IoU > 0.5; what could not be read is in `problems`."""
    return score_grounding(
        prediction, [xywh_to_xyxy(record["answer_box"])], threshold=IOU_THRESHOLD, list_layout="xywh",
        width=record.get("width") or None, height=record.get("height") or None,
    )  # fmt: skip


def _scored(record: Record) -> bool:
    return (
        record["question_type"] in ("multi choice", "true or false", "grounding")
        or record["task"] == IDENTIFY
    )


def _normalised(text: str) -> str:
    return " ".join(text.lower().replace(".", " ").split())


def fact_recall(prediction: str, reference: str) -> float:
    """The share of the reference description's comma-separated facts found in `prediction`."""
    facts = [_normalised(fact) for fact in reference.split(",") if _normalised(fact)]
    if not facts:
        return 0.0
    said = _normalised(prediction)
    return sum(fact in said for fact in facts) / len(facts)


def _by(table: list[dict[str, Any]], key: str) -> dict[str, float]:
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for row in table:
        totals[row[key]][0] += row["accuracy"] * row["questions"]
        totals[row[key]][1] += row["questions"]
    return {name: round(c / n, 4) for name, (c, n) in sorted(totals.items()) if n}
