"""Boxes as models write them, read back into one convention, and scored by IoU.

A grounding answer is text, and every model family writes its box its own way. Scoring that text
by token overlap (as a free answer) rewards a box that shares digits with the right one; what a
grounding benchmark means is overlap of the regions. So a prediction is read into normalised
``(x1, y1, x2, y2)`` — fractions of the image width / height, top-left origin — and compared by
intersection over union. Formats read (in the order they are searched):

* ``minigptv2`` — MiniGPT-v2 / HERM's ``{<x1><y1><x2><y2>}``, integers on a 0-100 grid
  (Human-Centric-MLLM ``minigpt4/common/utils.py`` BBOX_TEMPLATE, ``quantize_bins: 100``); several
  boxes are joined by ``<delim>``, each is read.
* ``qwen2_vl`` — ``<|box_start|>(x1,y1),(x2,y2)<|box_end|>`` on a 0-1000 grid (Qwen2-VL).
* ``qwen_vl`` — ``<box>(x1,y1),(x2,y2)</box>`` on Qwen-VL's [0, 1000) grid; Qwen-VL's own
  evaluator divides by 999 (QwenLM/Qwen-VL ``eval_mm/evaluate_grounding.py``), so this does too.
* ``internvl`` — ``<box>[[x1, y1, x2, y2]]</box>`` on a 0-1000 grid (InternVL's grounding text).
* ``list`` — a bare ``[a, b, c, d]`` (also inside JSON such as ``{"bbox_2d": [...]}``): its
  layout (corners ``xyxy`` or ``xywh``) and scale (``unit`` 0-1, ``pixels``, ``grid1000``) are the
  caller's to state, because the text cannot say; ``auto`` takes all values within [0, 1] as
  ``unit`` and otherwise pixels when the image size is given.

What could not be read is reported, never guessed: `ParsedBoxes.problems` names each box-like
piece that was refused (inverted corners, no image size for a pixel box, far outside the image)
or says that no box was found at all.

Standard library only, and no hvgen import: the harness exports paste this module's source into
the files they ship (lmms-eval's ``utils.py``, VLMEvalKit's ``score_grounding.py``; see
`hvgen.publish.formats.embedded`), so a task scores boxes the same way with or without hvgen. That
is also why the results are NamedTuples, not dataclasses: lmms-eval loads ``utils.py`` without
registering it in ``sys.modules``, and a dataclass with string annotations then fails to build.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any, NamedTuple

Box = tuple[float, float, float, float]
"""Normalised x1, y1, x2, y2: fractions of the image width and height, top-left origin."""

IOU_THRESHOLD = 0.5
"""HERM counts a grounding answer right at IoU > 0.5 (eval_inference.py eval_bbox: ``iou > 0.5``)."""

LIST_SCALES = ("auto", "unit", "pixels", "grid1000")
LIST_LAYOUTS = ("xyxy", "xywh")
_TOLERANCE = 0.05  # a value up to 5 % beyond the image is a model's rounding, clipped; further is refused
_NUM = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_PATTERNS: tuple[tuple[str, re.Pattern[str], float], ...] = (
    ("minigptv2", re.compile(r"\{\s*" + r"\s*".join([r"<\s*(\d+)\s*>"] * 4) + r"\s*\}"), 100.0),
    (
        "qwen2_vl",
        re.compile(
            rf"<\|box_start\|>\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*,\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*<\|box_end\|>"
        ),
        1000.0,
    ),
    (
        "qwen_vl",
        re.compile(
            rf"<box>\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*,\s*\(\s*({_NUM})\s*,\s*({_NUM})\s*\)\s*</box>"
        ),
        999.0,
    ),
    (
        "internvl",
        re.compile(
            rf"<box>\s*\[\s*\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]\s*\]\s*</box>"
        ),
        1000.0,
    ),
    ("list", re.compile(rf"\[\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*,\s*({_NUM})\s*\]"), 0.0),
)
# Box-like text none of the patterns took: reported so a format change shows up as a problem.
_BOX_LIKE = re.compile(r"\{\s*<\d|<\|box_start\|>|<box>|\[\s*" + _NUM + r"\s*,")


class ParsedBoxes(NamedTuple):
    """The boxes found in a prediction, in reading order, with what could not be read."""

    boxes: list[Box]
    formats: list[str]  # the format each box was read from
    problems: list[str]

    @property
    def first(self) -> Box | None:
        return self.boxes[0] if self.boxes else None


class GroundingScore(NamedTuple):
    """One grounding answer scored against its reference box(es)."""

    iou: float  # the first predicted box against the best-matching reference; 0 when none was read
    correct: bool  # iou > threshold
    parsed: bool  # a box was read from the prediction
    format: str | None  # the format the scored box was read from
    problems: list[str]
    box: Box | None  # the scored (first) predicted box, normalised xyxy; None when none was read


def parse_boxes(
    prediction: Any,
    *,
    width: float | None = None,
    height: float | None = None,
    list_scale: str = "auto",
    list_layout: str = "xyxy",
) -> ParsedBoxes:
    """Every box in `prediction` (model text, or a list of 4 numbers / of such lists) as a
    normalised (x1, y1, x2, y2). `width` / `height` (pixels) are needed only for pixel boxes."""
    if list_scale not in LIST_SCALES:
        raise ValueError(f"list_scale must be one of {', '.join(LIST_SCALES)}, got {list_scale!r}")
    if list_layout not in LIST_LAYOUTS:
        raise ValueError(f"list_layout must be one of {', '.join(LIST_LAYOUTS)}, got {list_layout!r}")
    for name, value in (("width", width), ("height", height)):
        if value is not None and not (isinstance(value, (int, float)) and 0 < value < float("inf")):
            raise ValueError(f"{name} must be a positive finite number of pixels, got {value!r}")
    if isinstance(prediction, (list, tuple)):
        prediction = json.dumps(list(prediction))
    if not isinstance(prediction, str):
        return ParsedBoxes([], [], [f"not text: {type(prediction).__name__}"])
    found: list[tuple[int, int, str, Box | None, str]] = []  # start, end, format, box, problem
    taken: list[tuple[int, int]] = []
    for name, pattern, grid in _PATTERNS:
        for match in pattern.finditer(prediction):
            start, end = match.span()
            if any(start < t_end and t_start < end for t_start, t_end in taken):
                continue  # inside a box another format already read (InternVL's [[...]] in <box>)
            taken.append((start, end))
            values = [float(v) for v in match.groups()]
            if name == "list":
                box, problem = _list_box(values, width, height, list_scale, list_layout)
            else:
                box, problem = _checked(tuple(v / grid for v in values), f"0-{grid:g} grid")  # type: ignore[arg-type]
            found.append((start, end, name, box, f"{match.group(0)!r}: {problem}" if problem else ""))
    found.sort(key=lambda item: item[0])
    boxes = [box for _, _, _, box, _ in found if box is not None]
    formats = [name for _, _, name, box, _ in found if box is not None]
    problems = [problem for *_, problem in found if problem]
    leftover = _BOX_LIKE.search(_blank(prediction, taken))
    if leftover:
        problems.append(f"box-like text in no known format: {_excerpt(prediction, leftover.start())!r}")
    if not boxes and not problems:
        problems.append(f"no box found in {_excerpt(prediction, 0)!r}")
    return ParsedBoxes(boxes, formats, problems)


def _list_box(
    values: list[float], width: float | None, height: float | None, scale: str, layout: str
) -> tuple[Box | None, str]:
    if layout == "xywh":
        values = [values[0], values[1], values[0] + values[2], values[1] + values[3]]
    if scale == "auto":
        if all(0.0 <= v <= 1.0 for v in values):
            scale = "unit"
        elif width is None or height is None:
            return None, "pixel coordinates, but no image size was given to normalise them"
        else:
            scale = "pixels"
    if scale == "unit":
        return _checked((values[0], values[1], values[2], values[3]), "0-1 scale")
    if scale == "grid1000":
        return _checked(
            (values[0] / 1000, values[1] / 1000, values[2] / 1000, values[3] / 1000), "0-1000 grid"
        )
    if width is None or height is None:
        return None, "pixel coordinates, but no image size was given to normalise them"
    return _checked((values[0] / width, values[1] / height, values[2] / width, values[3] / height), "pixels")


def _checked(box: Box, scale: str) -> tuple[Box | None, str]:
    """`box` clipped to the image, or None with the reason it cannot be a box on `scale`."""
    x1, y1, x2, y2 = box
    if x2 < x1 or y2 < y1:
        return None, f"corners inverted (x2 < x1 or y2 < y1) on the {scale}"
    if min(box) < -_TOLERANCE or max(box) > 1 + _TOLERANCE:
        return None, f"outside the image on the {scale}"
    clipped = tuple(min(1.0, max(0.0, v)) for v in box)
    if clipped[2] <= clipped[0] or clipped[3] <= clipped[1]:
        return None, f"empty (zero width or height) on the {scale}"
    return clipped, ""  # type: ignore[return-value]


def _blank(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for start, end in spans:
        chars[start:end] = " " * (end - start)
    return "".join(chars)


def _excerpt(text: str, start: int, size: int = 60) -> str:
    piece = " ".join(text[start : start + size].split())
    return piece + ("…" if len(text) > start + size else "")


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two (x1, y1, x2, y2) boxes (0 when both are empty)."""
    width = min(a[2], b[2]) - max(a[0], b[0])
    height = min(a[3], b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def xywh_to_xyxy(box: Sequence[float]) -> Box:
    return (box[0], box[1], box[0] + box[2], box[1] + box[3])


def xyxy_to_xywh(box: Sequence[float]) -> Box:
    return (box[0], box[1], box[2] - box[0], box[3] - box[1])


def score_grounding(
    prediction: Any,
    references: Sequence[Sequence[float]],
    *,
    threshold: float = IOU_THRESHOLD,
    **parse_options: Any,
) -> GroundingScore:
    """HERM's rule: the first box of the prediction against the best of the reference boxes
    (normalised xyxy; one for a single-box question), right when IoU > `threshold` (eval_inference.py
    eval_bbox / eval_multi_bbox). `parse_options` go to `parse_boxes`."""
    if not references:
        raise ValueError("a grounding question needs at least one reference box")
    if not 0.0 <= threshold < 1.0:
        raise ValueError(f"threshold must lie in [0, 1), got {threshold!r}")
    parsed = parse_boxes(prediction, **parse_options)
    if parsed.first is None:
        return GroundingScore(0.0, False, False, None, parsed.problems, None)
    best = max(iou(parsed.first, reference) for reference in references)
    return GroundingScore(best, best > threshold, True, parsed.formats[0], parsed.problems, parsed.first)
