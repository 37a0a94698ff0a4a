"""`hvgen score faceqa`: accuracy per task and source, mean absolute error for ages asked as a
number, and ROC AUC for forgery where lines give `"probability"` (of "manipulated").

Predictions are JSONL lines {"id": ..., "prediction": ...} read by the engine's
`read_prediction_lines` (bad lines and duplicates are counted, never fatal). A question without
a prediction is listed in `missing_ids` and counted wrong (accuracy is over every question,
so skipping hard ones does not pay); predictions for unknown ids are listed in `extra_ids`. An
answer that names no option (or no number) is `malformed` and wrong. "Which of these apply" is
right only when exactly the right letters (or option texts) are given.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any

from hvgen.records import Record
from hvgen.scoring import check_predictions_answer, parse_choice, read_prediction_lines, read_predictions_text

NUMBER_TOLERANCE = 5  # years: an age within this counts as right in `items` (for hvgen quality)
_LETTER_LIST = re.compile(r"^\s*\(?[A-D]\)?(?:\s*(?:,|;|/|\bAND\b|\s)\s*\(?[A-D]\)?)*\s*\.?\s*$")
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")


def parse_selection(text: str, options: list[str]) -> set[int] | None:
    """The chosen options of a "which apply" answer: letters ("A, C", "B and D") or the options'
    own texts named in a sentence; None when nothing is recognised."""
    if _LETTER_LIST.match(text.upper()):
        letters = set(re.findall(r"[A-D]", re.sub(r"\bAND\b", ",", text.upper())))
        chosen = {"ABCD".index(letter) for letter in letters}
        return chosen if all(i < len(options) for i in chosen) else None
    lowered = text.lower()
    chosen = {
        i for i, option in enumerate(options) if re.search(rf"\b{re.escape(option.lower())}\b", lowered)
    }
    return chosen or None


def parse_number(text: str) -> float | None:
    found = _NUMBER.search(text)
    return float(found.group()) if found else None


def read_probabilities(path: Path) -> dict[str, float]:
    """id → "probability" (of the manipulated answer) from the lines that give one as a number
    in [0, 1]; other lines are the engine reader's business."""
    found: dict[str, float] = {}
    for line in read_predictions_text(path).splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "id" in entry and str(entry["id"]) not in found:
            value = entry.get("probability")
            if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
                found[str(entry["id"])] = float(value)
    return found


def auc(scores: list[float], positives: list[bool]) -> float | None:
    """ROC AUC (the Mann-Whitney U statistic, ties counted half); None without both classes."""
    from scipy.stats import rankdata

    n_pos = sum(positives)
    n_neg = len(positives) - n_pos
    if not n_pos or not n_neg:
        return None
    ranks = rankdata(scores)
    return float((sum(r for r, p in zip(ranks, positives) if p) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def forgery_auc(records: list[Record], probabilities: dict[str, float]) -> dict[str, Any]:
    """Per source: AUC of P(manipulated) over the forgery questions that have a probability."""
    by_source: dict[str, tuple[list[float], list[bool]]] = defaultdict(lambda: ([], []))
    for record in records:
        if record["task"] == "forgery" and record["id"] in probabilities:
            scores, positives = by_source[record["source"]]
            scores.append(probabilities[record["id"]])
            positives.append(record["answer"] == "manipulated")
    return {
        source: {"auc": auc(*pair), "questions": len(pair[0])} for source, pair in sorted(by_source.items())
    }


def score_predictions(records: list[Record], predictions_path: Path) -> dict[str, Any]:
    lines = read_prediction_lines(predictions_path)
    predictions = {record_id: text for (record_id, _scenario), text in lines.texts.items()}
    groups: dict[tuple[str, str, str], dict[str, Any]] = defaultdict(
        lambda: {"questions": 0, "answered": 0, "correct": 0, "malformed": 0, "abs_error": 0.0, "numbers": 0}
    )
    items: dict[str, float] = {}
    check_predictions_answer(predictions_path, predictions, (record["id"] for record in records))
    captions = {record["id"] for record in records if record["question_type"] == "image caption"}
    records = [record for record in records if record["id"] not in captions]  # model-generated references
    predictions = {key: text for key, text in predictions.items() if key not in captions}
    for record in records:
        group = groups[(record["task"], record["source"], record["question_type"])]
        group["questions"] += 1
        text = predictions.get(record["id"])
        if text is None:
            continue
        group["answered"] += 1
        right = _judge(record, text, group)
        if right is None:
            group["malformed"] += 1
            right = 0.0
        items[record["id"]] = right
    table = [_row(key, g) for key, g in sorted(groups.items())]
    choice_groups = [g for (_, _, kind), g in groups.items() if kind != "free form"]
    total = sum(g["questions"] for g in choice_groups)
    correct = sum(g["correct"] for g in choice_groups)
    numbers = sum(g["numbers"] for g in groups.values())
    by_id = {record["id"] for record in records}
    return {
        "table": table,
        "score": round(100 * correct / total, 2) if total else None,
        "overall_accuracy": round(correct / total, 4) if total else None,
        "age_mae": round(sum(g["abs_error"] for g in groups.values()) / numbers, 3) if numbers else None,
        "by_task": _by(table, "task"),
        "by_source": _by(table, "source"),
        "items": items,
        "missing_ids": sorted(i for i in by_id if i not in predictions),
        "extra_ids": sorted(i for i in predictions if i not in by_id),
        "malformed_lines": lines.malformed,
        "duplicate_lines": lines.duplicates,
        "malformed_predictions": sum(g["malformed"] for g in groups.values()),
        "number_tolerance_years": NUMBER_TOLERANCE,
        "captions_not_scored": len(captions),
        "forgery_auc": forgery_auc(records, read_probabilities(predictions_path)),
    }


def _judge(record: Record, text: str, group: dict[str, Any]) -> float | None:
    """1.0 / 0.0 for a readable answer (also adds to `group`), None for a malformed one."""
    kind = record["question_type"]
    if kind == "free form":
        value = parse_number(text)
        if value is None:
            return None
        error = abs(value - record["answer_value"])
        group["abs_error"] += error
        group["numbers"] += 1
        return float(error <= NUMBER_TOLERANCE)
    if kind == "multi select":
        chosen = parse_selection(text, record["options"])
        if chosen is None:
            return None
        right = chosen == set(record["answer_indices"])
    else:
        choice = parse_choice(text, record["options"])
        if choice is None:
            return None
        right = choice == record["answer_index"]
    group["correct"] += right
    return float(right)


def _row(key: tuple[str, str, str], g: dict[str, Any]) -> dict[str, Any]:
    task, source, kind = key
    numeric = kind == "free form"
    return {"task": task, "source": source, "question_type": kind, "questions": g["questions"],
            "answered": g["answered"], "malformed": g["malformed"],
            "accuracy": None if numeric else round(g["correct"] / g["questions"], 4),
            "mae": round(g["abs_error"] / g["numbers"], 3) if numeric and g["numbers"] else None}  # fmt: skip


def _by(table: list[dict[str, Any]], key: str) -> dict[str, float]:
    totals: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
    for row in table:
        if row["accuracy"] is not None:
            totals[row[key]][0] += row["accuracy"] * row["questions"]
            totals[row[key]][1] += row["questions"]
    return {name: round(c / n, 4) for name, (c, n) in sorted(totals.items()) if n}
