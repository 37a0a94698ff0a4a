"""Per-question rules of hvgen's harness exports, and the hooks of an lmms-eval task.

hvgen imports this module to sort questions into VLMEvalKit files, and `hvgen export
--format lmms-eval` copies it as the ``utils.py`` of the task folder (with `CATEGORY_COLUMN`
filled in, the source of `hvgen.boxes` pasted in place of its import, and one predictions writer
per task appended), which lmms-eval loads through ``!function utils.<name>`` in the task YAML.
So both harnesses ask the same question the same way, and the copy needs nothing but the
standard library: the task folder works wherever lmms-eval runs, with or without hvgen.

A question's kind comes from its record fields, never from a benchmark's labels:

* options and an integer ``answer_index`` → ``MCQ`` (letter answer), unless the two options
  are Yes/No or True/False → ``YN`` (Yes / No answer);
* no options → ``VQA`` (free answer; ``answer`` is the reference text, possibly empty);
* a reference box in ``answer_box`` (normalised [x, y, w, h]: fractions of the image width and
  height, top-left corner and size) → ``BOX``, whatever else the record holds: a grounding
  question, scored as HERM scores it — the first box of the answer against the reference,
  right when their IoU > 0.5 (Human-Centric-MLLM ``eval_inference.py``, ``eval_bbox``). The
  answer may be in any format `parse_boxes` reads (MiniGPT-v2 / HERM ``{<x1><y1><x2><y2>}`` on
  a 0-100 grid, Qwen-VL ``<box>(x1,y1),(x2,y2)</box>``, Qwen2-VL's ``<|box_start|>…`` on a 0-1000
  grid, InternVL, or a bare ``[x1, y1, x2, y2]`` list — corners, as the prompt asks, in 0-1 or in
  pixels of the row's image); answers with no readable box are counted.

A non-empty ``context`` field is shown before the question (VLMEvalKit: the ``hint`` column).
"""

from __future__ import annotations

import json
import os
import re
import string
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from hvgen.boxes import IOU_THRESHOLD, score_grounding, xywh_to_xyxy, xyxy_to_xywh  # hvgen: embedded

CATEGORY_COLUMN = "category"  # hvgen: the record field scores are grouped by

MCQ, YN, VQA, BOX = "MCQ", "YN", "VQA", "BOX"
KINDS = (MCQ, YN, VQA, BOX)
YES, NO = "Yes", "No"
LETTERS = string.ascii_uppercase
_YES_WORDS, _NO_WORDS = frozenset({"yes", "true"}), frozenset({"no", "false"})

# Prompt pieces an lmms-eval task YAML may override per model (`lmms_eval_specific_kwargs`).
DEFAULT_PROMPTS = {
    "pre_prompt": "",
    "mcq_post_prompt": "\nAnswer with the option's letter from the given choices directly.",
    "yn_post_prompt": "\nAnswer the question with Yes or No.",
    "vqa_post_prompt": "",
    "box_post_prompt": "\nAnswer with the bounding box as [x1, y1, x2, y2]: its top-left and bottom-right "
    "corners as fractions (0-1) of the image width and height.",
}


# ------------------------------------------------------------------------------ question rules
def question_kind(doc: Mapping[str, Any]) -> str:
    """MCQ, YN, VQA or BOX, from the record's ``options`` and ``answer_index``. A question with
    several right options (``answer_indices``, answered "A, C") is VQA: neither toolkit has a
    multi-select kind, so its reference answer is the letters' text. A record with a reference
    box (``answer_box``) is BOX."""
    if doc.get("answer_box") is not None:
        reference_box(doc)  # refuses a malformed box here, where the question is sorted
        return BOX
    options = list(doc.get("options") or [])
    if not options or doc.get("answer_indices"):
        return VQA
    index = doc.get("answer_index")
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < len(options):
        raise ValueError(
            f"question {doc.get('id')!r} has {len(options)} options but answer_index {index!r}: "
            "a choice question needs the index of its correct option."
        )
    if len(options) > len(LETTERS):
        raise ValueError(f"question {doc.get('id')!r} has {len(options)} options; at most 26 get letters.")
    return YN if is_yes_no_pair(options) else MCQ


def is_yes_no_pair(options: Sequence[Any]) -> bool:
    words = {str(option).strip().lower() for option in options}
    return len(options) == 2 and words in ({"yes", "no"}, {"true", "false"})


def yes_no_answer(doc: Mapping[str, Any]) -> str:
    """ "Yes" or "No" for a YN question (True counts as Yes, False as No)."""
    chosen = str(doc["options"][doc["answer_index"]]).strip().lower()
    return YES if chosen in _YES_WORDS else NO


def reference_box(doc: Mapping[str, Any]) -> tuple[float, float, float, float]:
    """The record's ``answer_box`` (normalised [x, y, w, h]) as normalised corners (x1, y1, x2, y2)."""
    box = doc.get("answer_box")
    try:
        values = [float(value) for value in box]  # type: ignore[union-attr]
    except (TypeError, ValueError):
        values = []
    ok = len(values) == 4 and values[2] > 0 and values[3] > 0
    if not ok or not all(
        0.0 <= v <= 1.0 + 1e-6 for v in (*values[:2], values[0] + values[2], values[1] + values[3])
    ):
        raise ValueError(
            f"question {doc.get('id')!r} has answer_box {box!r}: a reference box must be [x, y, w, h] "
            "with w, h > 0, as fractions of the image width and height (inside 0-1)."
        )
    return xywh_to_xyxy(values)


def box_text(box: Sequence[float]) -> str:
    """Normalised corners as the prompt asks for them: "[0.120, 0.300, 0.370, 0.800]"."""
    return "[" + ", ".join(f"{value:.3f}" for value in box) + "]"


def image_size(doc: Mapping[str, Any]) -> tuple[float | None, float | None]:
    """Width and height in pixels of the row's image as the model saw it (the decoded image),
    else the record's ``width`` / ``height``: what a box in pixels is relative to."""
    image = doc.get("image")
    size = getattr(image, "size", None)
    if size and len(size) == 2 and all(isinstance(v, (int, float)) and v > 0 for v in size):
        return float(size[0]), float(size[1])
    width, height = doc.get("width"), doc.get("height")
    if all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf")
        for v in (width, height)
    ):
        return float(width), float(height)  # type: ignore[arg-type]
    return None, None


def score_box(doc: Mapping[str, Any], response: Any) -> Any:
    """HERM's rule on one answer: its first box against the reference, right at IoU > 0.5; a bare
    list is read as corners (what the prompt asks), in 0-1 or in pixels of the row's image."""
    width, height = image_size(doc)
    return score_grounding(
        response,
        [reference_box(doc)],
        threshold=IOU_THRESHOLD,
        width=width,
        height=height,
        list_layout="xyxy",
    )


def context_of(doc: Mapping[str, Any]) -> str:
    return str(doc.get("context") or "").strip()


def gold_answer(doc: Mapping[str, Any]) -> str:
    """What a correct model says: the option letter, Yes / No, or the reference text."""
    kind = question_kind(doc)
    if kind == MCQ:
        return LETTERS[doc["answer_index"]]
    if kind == YN:
        return yes_no_answer(doc)
    if kind == BOX:
        return box_text(reference_box(doc))
    return str(doc.get("answer") or "")


def category_of(doc: Mapping[str, Any]) -> str:
    value = doc.get(CATEGORY_COLUMN)
    return "" if value is None else str(value)


# ------------------------------------------------------------------------------ answer parsing
_ANSWER_PREFIX = re.compile(
    r"^\s*(?:(?:the\s+)?(?:correct\s+|final\s+)?answer\s*(?:is)?\s*[:\-]?|option)\s*", re.IGNORECASE
)
# "(B)", "B", "B.", "B)", "B:" or "B," — not "A cat ..." (a capital followed by a word).
_LEADING_LETTER = re.compile(r"^(?:\(([A-Z])\)|([A-Z])(?=$|[.):,]))")


def _normalise(text: str) -> str:
    text = re.sub(r"\s+", " ", str(text).replace("*", "")).strip().lower()
    return text.strip(" \"'`.,:;!?()[]")


def _has_words(text: str, phrase: str) -> bool:
    return bool(phrase) and re.search(rf"(?<!\w){re.escape(phrase)}(?!\w)", text) is not None


def parse_choice(response: str, options: Sequence[Any]) -> str | None:
    """The option letter a free-text answer picks, or None when it cannot be told: a leading
    letter ("B", "(B)", "B. No"), else the option whose text the answer is, else the single
    option whose text the answer contains as whole words."""
    text = _ANSWER_PREFIX.sub("", str(response).replace("*", "").strip(), count=1)
    letters = LETTERS[: len(options)]
    match = _LEADING_LETTER.match(text)
    if match and (match.group(1) or match.group(2)) in letters:
        return match.group(1) or match.group(2)
    answer = _normalise(text)
    texts = [_normalise(option) for option in options]
    if answer in texts:
        return letters[texts.index(answer)]
    found = [letter for letter, option in zip(letters, texts) if _has_words(answer, option)]
    return found[0] if len(found) == 1 else None


def parse_yes_no(response: str) -> str | None:
    """Yes / No from a free-text answer ("True" counts as yes); None if it says both or neither."""
    words = set(re.findall(r"[a-z]+", str(response).lower()))
    yes, no = bool(words & _YES_WORDS), bool(words & _NO_WORDS)
    if yes == no:
        return None
    return YES if yes else NO


def _tokens(text: str) -> list[str]:
    text = re.sub(r"[^\w\s]", " ", str(text).lower())
    return [word for word in text.split() if word not in {"a", "an", "the"}]


def token_f1(prediction: str, reference: str) -> float:
    """Bag-of-words F1 between an answer and the reference (SQuAD-style normalisation)."""
    predicted, expected = _tokens(prediction), _tokens(reference)
    if not predicted or not expected:
        return float(predicted == expected)
    same = sum((Counter(predicted) & Counter(expected)).values())
    if same == 0:
        return 0.0
    precision, recall = same / len(predicted), same / len(expected)
    return 2 * precision * recall / (precision + recall)


# ------------------------------------------------------------------------------ lmms-eval hooks
def doc_to_visual(doc: Mapping[str, Any]) -> list[Any]:
    """The row's image, then its further images in order (`frame_images`: a pair's second face,
    a clip's sampled frames)."""
    if doc["image"] is None:
        raise ValueError(
            f"row {doc.get('id')}: its image is not in the export (its source's licence forbids redistribution); "
            "for local evaluation export the run with the benchmark's --with-images option."
        )
    return [image.convert("RGB") for image in [doc["image"], *(doc.get("frame_images") or [])]]


def doc_to_text(doc: Mapping[str, Any], lmms_eval_specific_kwargs: Mapping[str, Any] | None = None) -> str:
    """Context, question and (for MCQ) lettered options, between the task's prompt pieces."""
    prompts = {**DEFAULT_PROMPTS, **(lmms_eval_specific_kwargs or {})}
    kind = question_kind(doc)
    lines = [context_of(doc)] if context_of(doc) else []
    lines.append(str(doc["question"]).strip())
    if kind == MCQ:
        lines += [f"{letter}. {option}" for letter, option in zip(LETTERS, doc["options"])]
    body = "\n".join(lines)
    return f"{prompts['pre_prompt']}{body}{prompts[kind.lower() + '_post_prompt']}"


def doc_to_target(doc: Mapping[str, Any]) -> str:
    return gold_answer(doc)


def process_results(doc: Mapping[str, Any], results: Sequence[Any]) -> dict[str, Any]:
    """One score per question in its kind's metric (``mcq_acc``, ``yn_acc``, ``vqa_token_f1``
    when there is a reference; ``box_acc``, ``box_iou`` and ``box_unparsed`` for a box), plus the
    answer for the task's predictions file. What the task read goes there in the records' terms,
    so `hvgen score` reads it the same way — a box as normalised [x, y, w, h], a yes / no as the
    option's own word ("True") — and the model's words stay in ``response``."""
    response = str(results[0]) if results else ""
    kind = question_kind(doc)
    target = gold_answer(doc)
    scores: dict[str, Any] = {}
    prediction: Any = response
    extra: dict[str, Any] = {}
    if kind == BOX:
        scored = score_box(doc, response)
        scores["box_acc"] = float(scored.correct)
        scores["box_iou"] = scored.iou
        scores["box_unparsed"] = float(not scored.parsed)
        if scored.box is not None:
            prediction = [round(value, 6) for value in xyxy_to_xywh(scored.box)]
        extra = {"response": response, "problems": scored.problems}
    elif kind == MCQ:
        scores["mcq_acc"] = float(parse_choice(response, doc["options"]) == target)
    elif kind == YN:
        said = parse_yes_no(response)
        scores["yn_acc"] = float(said == target)
        if said is not None:  # as the option's own word: `hvgen score` reads "True", not "Yes"
            words = _YES_WORDS if said == YES else _NO_WORDS
            prediction = next(str(o) for o in doc["options"] if str(o).strip().lower() in words)
            extra = {"response": response}
    elif target:
        scores["vqa_token_f1"] = token_f1(response, target)
    scores["predictions"] = {
        "id": str(doc["id"]),
        "prediction": prediction,
        "kind": kind,
        "target": target,
        "category": category_of(doc),
        "value": next(iter(scores.values()), None),
        **extra,
    }
    return scores


def count(items: Sequence[float]) -> float:
    """An aggregation that adds up (``box_unparsed``: how many answers held no readable box)."""
    return float(sum(items))


def write_predictions(items: Sequence[Mapping[str, Any]], args: Any = None, task: str = "task") -> float:
    """Write ``{"id", "prediction", ...}`` lines for `hvgen score` under
    ``<output_path>/submissions/`` (lmms-eval's place for such files; the working directory
    without --output_path) and return how many were written."""
    folder = os.path.join(getattr(args, "output_path", None) or ".", "submissions")
    os.makedirs(folder, exist_ok=True)
    path = os.path.join(folder, f"{task}_predictions.jsonl")
    with open(path, "w", encoding="utf-8") as handle:
        for item in items:
            handle.write(json.dumps(dict(item), ensure_ascii=False) + "\n")
    print(f"hvgen: {len(items)} predictions of {task} written to {os.path.abspath(path)}")
    return float(len(items))
