"""Score VLMEvalKit's answers to hvgen's grounding files (``*_BOX.tsv``) as HERM scores grounding.

VLMEvalKit has no scorer that reads these answers right: a custom TSV becomes a
`CustomVQADataset`, whose ``evaluate`` raises NotImplementedError, and its one box scorer
(`RefCOCODataset`) reads a box as the first four numbers of the answer on a scale guessed from
their size — MiniGPT-v2 / HERM's ``{<x1><y1><x2><y2>}`` (0-100 grid) as 0-1000, a pixel box in
an image under 1000 px as 0-1000 too — and counts IoU >= 0.5, where HERM counts IoU > 0.5. So
``hvgen export --format vlmevalkit`` writes this file beside the TSVs: run VLMEvalKit with
``--mode infer`` and then, in this folder::

    python score_grounding.py PREDICTIONS.xlsx [MORE ...] [--output report.json]

A prediction file is what VLMEvalKit wrote (``.xlsx``, ``.tsv``, ``.csv``, ``.json`` or
``.jsonl``): its rows keep the TSV's columns (``box_x1`` … ``box_y2``: the reference box as
fractions of the image; ``width`` / ``height``: the image in pixels) and add ``prediction``.
Each answer's first box is compared with the reference (HERM, Human-Centric-MLLM
``eval_inference.py`` ``eval_bbox``: right when IoU > 0.5); what could not be read is counted and
listed. The box reading is hvgen's own (`hvgen.boxes`, pasted in below by the export), so the
numbers are the ones `hvgen score` and the lmms-eval task give. Standard library only; ``.xlsx``
needs pandas with openpyxl (both installed with VLMEvalKit).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import sys
from collections import defaultdict
from typing import Any

from hvgen.boxes import IOU_THRESHOLD, score_grounding  # hvgen: embedded

REFERENCE_COLUMNS = ("box_x1", "box_y1", "box_x2", "box_y2")
SIZE_COLUMNS = ("width", "height")


def read_rows(path: str) -> list[dict[str, Any]]:
    """The rows of a prediction file, as dicts (missing cells as None)."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix in (".xlsx", ".xls"):
        import pandas  # VLMEvalKit's own dependency, as is openpyxl

        frame = pandas.read_excel(path)
        rows = frame.astype(object).where(frame.notna(), None).to_dict("records")
    elif suffix in (".tsv", ".csv"):
        with open(path, encoding="utf-8", newline="") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t" if suffix == ".tsv" else ","))
    elif suffix == ".jsonl":
        with open(path, encoding="utf-8") as handle:
            rows = [json.loads(line) for line in handle if line.strip()]
    elif suffix == ".json":
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
        rows = data if isinstance(data, list) else [dict(zip(data, values)) for values in zip(*data.values())]
    else:
        raise SystemExit(
            f"{path}: not a prediction file VLMEvalKit writes (.xlsx, .tsv, .csv, .json, .jsonl)"
        )
    return [dict(row) for row in rows]


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def score_file(path: str) -> dict[str, Any]:
    """Accuracy at IoU > 0.5, mean IoU and the unreadable answers of one prediction file, overall
    and per category."""
    rows = read_rows(path)
    needed = ("prediction", *REFERENCE_COLUMNS)
    if not rows or any(column not in rows[0] for column in needed):
        raise SystemExit(
            f"{path}: needs the columns {', '.join(needed)} (a VLMEvalKit prediction file of an hvgen *_BOX.tsv)"
        )
    groups: dict[str, dict[str, float]] = defaultdict(
        lambda: {"questions": 0, "correct": 0, "iou": 0.0, "unparsed": 0}
    )
    problems = []
    for number, row in enumerate(rows, start=1):
        reference = [_number(row[column]) for column in REFERENCE_COLUMNS]
        if any(value is None for value in reference):
            raise SystemExit(f"{path}: row {number} has no reference box ({', '.join(REFERENCE_COLUMNS)})")
        width, height = (_number(row.get(column)) for column in SIZE_COLUMNS)
        prediction = row.get("prediction")
        scored = score_grounding(
            "" if prediction is None else str(prediction),
            [reference],
            threshold=IOU_THRESHOLD,
            width=width if width and width > 0 else None,
            height=height if height and height > 0 else None,
            list_layout="xyxy",
        )
        category = "" if row.get("category") is None else str(row["category"])
        for key in ("", category) if category else ("",):
            group = groups[key]
            group["questions"] += 1
            group["correct"] += scored.correct
            group["iou"] += scored.iou
            group["unparsed"] += not scored.parsed
        if scored.problems:
            problems.append({"id": row.get("id", row.get("index", number)), "problems": scored.problems})

    def summary(group: dict[str, float]) -> dict[str, Any]:
        questions = int(group["questions"])
        return {
            "questions": questions,
            "accuracy": round(group["correct"] / questions, 4),
            "mean_iou": round(group["iou"] / questions, 4),
            "unparsed": int(group["unparsed"]),
        }

    return {
        "iou_threshold": IOU_THRESHOLD,
        "rule": "first box of the answer against the reference, right when IoU > 0.5 (HERM eval_inference.py)",
        **summary(groups[""]),
        "by_category": {name: summary(group) for name, group in sorted(groups.items()) if name},
        "problems": problems,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("predictions", nargs="+", help="VLMEvalKit prediction files of *_BOX data sets")
    parser.add_argument("--output", help="also write the report (JSON) to this file")
    args = parser.parse_args(argv)
    report = {os.path.basename(path): score_file(path) for path in args.predictions}
    text = json.dumps(report, indent=2, ensure_ascii=False)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text + "\n")
    for name, result in report.items():
        print(
            f"{name}: accuracy {result['accuracy']:.4f} (IoU > {IOU_THRESHOLD}), mean IoU {result['mean_iou']:.4f}, "
            f"{result['unparsed']} of {result['questions']} answers with no readable box",
            file=sys.stderr,
        )
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
