"""Per-question rules of hvgen's harness exports, and the hooks of an lmms-eval task.

hvgen imports this module to sort questions into VLMEvalKit files, and `hvgen export
--format lmms-eval` copies it as the ``utils.py`` of the task folder (with `CATEGORY_COLUMN`
filled in and one predictions writer per task appended), which lmms-eval loads through
``!function utils.<name>`` in the task YAML. So both harnesses ask the same question the same
way, and the copy needs nothing but the standard library: the task folder works wherever
lmms-eval runs, with or without hvgen.

A question's kind comes from its record fields, never from a benchmark's labels:

* options and an integer ``answer_index`` → ``MCQ`` (letter answer), unless the two options
  are Yes/No or True/False → ``YN`` (Yes / No answer);
* no options → ``VQA`` (free answer; ``answer`` is the reference text, possibly empty).

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

CATEGORY_COLUMN = "category"  # hvgen: the record field scores are grouped by

MCQ, YN, VQA = "MCQ", "YN", "VQA"
KINDS = (MCQ, YN, VQA)
YES, NO = "Yes", "No"
LETTERS = string.ascii_uppercase
_YES_WORDS, _NO_WORDS = frozenset({"yes", "true"}), frozenset({"no", "false"})

# Prompt pieces an lmms-eval task YAML may override per model (`lmms_eval_specific_kwargs`).
DEFAULT_PROMPTS = {
    "pre_prompt": "",
    "mcq_post_prompt": "\nAnswer with the option's letter from the given choices directly.",
    "yn_post_prompt": "\nAnswer the question with Yes or No.",
    "vqa_post_prompt": "",
}


# ------------------------------------------------------------------------------ question rules
def question_kind(doc: Mapping[str, Any]) -> str:
    """MCQ, YN or VQA, from the record's ``options`` and ``answer_index``. A question with
    several right options (``answer_indices``, answered "A, C") is VQA: neither toolkit has a
    multi-select kind, so its reference answer is the letters' text."""
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


def context_of(doc: Mapping[str, Any]) -> str:
    return str(doc.get("context") or "").strip()


def gold_answer(doc: Mapping[str, Any]) -> str:
    """What a correct model says: the option letter, Yes / No, or the reference text."""
    kind = question_kind(doc)
    if kind == MCQ:
        return LETTERS[doc["answer_index"]]
    if kind == YN:
        return yes_no_answer(doc)
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
    when there is a reference), plus the raw answer for the task's predictions file."""
    response = str(results[0]) if results else ""
    kind = question_kind(doc)
    target = gold_answer(doc)
    scores: dict[str, Any] = {}
    if kind == MCQ:
        scores["mcq_acc"] = float(parse_choice(response, doc["options"]) == target)
    elif kind == YN:
        scores["yn_acc"] = float(parse_yes_no(response) == target)
    elif target:
        scores["vqa_token_f1"] = token_f1(response, target)
    scores["predictions"] = {
        "id": str(doc["id"]),
        "prediction": response,
        "kind": kind,
        "target": target,
        "category": category_of(doc),
        "value": next(iter(scores.values()), None),
    }
    return scores


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
