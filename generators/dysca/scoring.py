"""Scoring of model answers on a regenerated Dysca (`hvgen score dysca RUN PREDICTIONS.jsonl`).

The metrics are those of Dysca's own scorer (``evaluate_LVLMs/Dysca_compute.py`` of
Benchmark-Dysca/Dysca), so numbers can be compared with the paper's:

* multiple choice and true/false: the option letter is taken from the answer — the last
  "(X)" if there is one, otherwise the last capital letter anywhere in the answer — and turned
  into that option's text; when no such letter names an option, the option line ("(A) text")
  with the smallest Levenshtein distance to the answer (or to the lone letter) is taken, the
  last one on ties. Correct iff the option text equals the answer. Accuracy in %.
* image caption (free form): cosine similarity of sentence embeddings of the answer and the
  reference keywords, rounded to 2 decimals per item, averaged, x 100. Dysca uses
  sentence-transformers' all-MiniLM-L6-v2; any encoder given by `--embedder` (a Hub id or a
  folder, read with transformers and mean-pooled as sentence-transformers does) works.
* `average` = mean of the three type scores present.

Where Dysca's script differs, on purpose: slices are scored by the subtasks the data actually
have (the original lists `emotion` where the data say `expression`), per-subtask macro averages
skip types a subtask does not have (the original skips scores that are exactly 0), predictions
are joined by id rather than by list position, and the scores are also given per scenario and
per question type.

Predictions are JSONL lines ``{"id": ..., "prediction": ..., "scenario"?: ...}`` (see
`hvgen.scoring.read_prediction_lines`): one model's answers, on any of the run's scenarios.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError
from hvgen.scenarios import SCENARIO_NAMES
from hvgen.scoring import PredictionLines, item_key, read_prediction_lines

MULTI_CHOICE, TRUE_OR_FALSE, FREE_FORM = "multi choice", "true or false", "image caption"
TYPE_METRICS = {
    MULTI_CHOICE: "multi_choice_accuracy",
    TRUE_OR_FALSE: "true_or_false_accuracy",
    FREE_FORM: "caption_score",
}
DEFAULT_EMBEDDER = "sentence-transformers/all-MiniLM-L6-v2"
_PAREN_LETTER = re.compile(r"\(([a-zA-Z])\)")
_CAPITAL = re.compile(r"[A-Z]")


# ------------------------------------------------------------------ option extraction


def levenshtein(a: str, b: str) -> int:
    """Edit distance (insertions, deletions, substitutions of one character each)."""
    if len(a) < len(b):
        a, b = b, a
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, start=1):
        current = [i]
        for j, char_b in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (char_a != char_b)))
        previous = current
    return previous[-1]


def choice_lines(instruction: str) -> list[str]:
    """The "(A) option" lines Dysca's scorer reads between "Choices:" and "Hint:"."""
    return instruction.split("Choices:\n")[-1].split("\nHint:")[0].split("\n")


def extract_choice(prediction: str, instruction: str) -> tuple[str, bool]:
    """(option text the answer chose, whether a letter named it) — Dysca's rule, see the module
    docstring. An answer without a usable letter always maps to some option (by edit distance)."""
    lines = choice_lines(instruction)
    letters = [chr(ord("A") + index) for index in range(len(lines))]
    extraction = prediction.strip()
    found = _PAREN_LETTER.findall(extraction) or _CAPITAL.findall(extraction)
    if found:
        extraction = found[-1].upper()
    if extraction in letters:
        line, by_letter = lines[letters.index(extraction)], True
    else:
        distances = [levenshtein(extraction, line) for line in lines]
        nearest = min(distances)
        line = lines[len(distances) - 1 - distances[::-1].index(nearest)]
        by_letter = False
    return " ".join(line.split(" ")[1:]), by_letter


# ------------------------------------------------------------------ free-form similarity


class SentenceEmbedder:
    """Sentence embeddings from any transformers encoder: mean of the last hidden states over
    the real tokens (sentence-transformers' pooling for all-MiniLM-L6-v2)."""

    def __init__(self, model: str, device: str | None = None, batch_size: int = 64) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        device = device or ("cuda" if torch.cuda.is_available() else "cpu")

        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModel.from_pretrained(model).to(device).eval()
        except (OSError, ValueError) as error:
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise HvgenError(
                f"cannot load the sentence-embedding model '{model}' for free-form answers ({reason}). Pass "
                f"--embedder with a transformers encoder id or folder (Dysca uses {DEFAULT_EMBEDDER}; download it "
                "once with network access, or set HF_HUB_OFFLINE=0)."
            ) from None
        self.device, self.batch_size = device, batch_size
        self.max_length = sentence_max_length(model) or getattr(self.tokenizer, "model_max_length", 512)

    def embed(self, texts: Sequence[str]):
        """Unit-length embeddings, one row per text."""
        import torch

        rows = []
        with torch.no_grad():
            for start in range(0, len(texts), self.batch_size):
                batch = self.tokenizer(
                    list(texts[start : start + self.batch_size]),
                    padding=True,
                    truncation=True,
                    max_length=min(self.max_length, 4096),
                    return_tensors="pt",
                ).to(self.device)
                hidden = self.model(**batch).last_hidden_state
                mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
                rows.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(rows) if rows else torch.zeros(0)

    def similarities(self, answers: Sequence[str], references: Sequence[str]) -> list[float]:
        """Cosine similarity of each answer with its reference, rounded to 2 decimals (as Dysca)."""
        if not answers:
            return []
        a, b = self.embed(answers), self.embed(references)
        return [round(float(value), 2) for value in (a * b).sum(-1)]


def sentence_max_length(model: str) -> int | None:
    """The token limit sentence-transformers applies to this model (`max_seq_length` in its
    sentence_bert_config.json: 256 for all-MiniLM-L6-v2, below the encoder's 512), when declared."""
    path: Path | None = Path(model) / "sentence_bert_config.json"
    if not path.is_file():
        try:
            from huggingface_hub import hf_hub_download

            path = Path(hf_hub_download(model, "sentence_bert_config.json"))
        except Exception:  # not a sentence-transformers model, offline, or not a Hub id: no such limit
            path = None
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["max_seq_length"]) if path else None
    except (OSError, ValueError, KeyError, TypeError):
        return None


@lru_cache(maxsize=2)
def load_embedder(model: str) -> SentenceEmbedder:
    """One encoder per model id per process: `hvgen quality` scores many files with it."""
    return SentenceEmbedder(model)


# ------------------------------------------------------------------ scoring


@dataclass
class ItemScore:
    """One scored answer: `value` is 0/1 for a choice question, the similarity for a caption."""

    key: str
    record: Mapping[str, Any]
    scenario: str
    value: float


def score_items(
    records: Iterable[Mapping[str, Any]],
    predictions: Mapping[tuple[str, str], str],
    embedder: SentenceEmbedder | None = None,
) -> tuple[list[ItemScore], dict[str, Any]]:
    """Score every (record, scenario) the predictions answer; returns the items and the
    bookkeeping (missing and extra ids, answers whose option was found by edit distance only).

    A record counts as missing in each scenario the predictions use that lacks its answer."""
    by_id = {str(record["id"]): record for record in records}
    scenarios = sorted({scenario for _, scenario in predictions}, key=_scenario_order)
    extra = sorted(
        item_key(rid, scenario)
        for rid, scenario in predictions
        if rid not in by_id or scenario not in SCENARIO_NAMES
    )
    missing = [
        item_key(rid, scenario)
        for scenario in scenarios
        if scenario in SCENARIO_NAMES
        for rid in by_id
        if (rid, scenario) not in predictions
    ]
    items: list[ItemScore] = []
    captions: list[tuple[int, str, str]] = []
    by_distance = 0
    for (rid, scenario), answer in predictions.items():
        record = by_id.get(rid)
        if record is None or scenario not in SCENARIO_NAMES:
            continue
        question_type = record.get("question_type")
        if question_type in (MULTI_CHOICE, TRUE_OR_FALSE):
            chosen, by_letter = extract_choice(answer, str(record["instruction"]))
            by_distance += not by_letter
            value = float(chosen == record["answer"])
        elif question_type == FREE_FORM:
            captions.append((len(items), answer, str(record["answer"])))
            value = 0.0
        else:
            raise HvgenError(
                f"record {rid}: question_type {question_type!r} is not one Dysca scores "
                f"({', '.join(TYPE_METRICS)}); re-plan the run with this hvgen (`hvgen plan RUN --force`)."
            )
        items.append(ItemScore(item_key(rid, scenario), record, scenario, value))
    if captions:
        if embedder is None:
            raise HvgenError("free-form answers need a sentence-embedding model: pass --embedder ID|DIR.")
        values = embedder.similarities([a for _, a, _ in captions], [r for _, _, r in captions])
        for (index, _, _), value in zip(captions, values):
            items[index].value = value
    items.sort(key=lambda item: item.key)
    return items, {"missing_ids": missing, "extra_ids": extra, "n_option_by_edit_distance": by_distance}


def slice_metrics(items: Sequence[ItemScore]) -> dict[str, Any]:
    """Dysca's three scores (0-100, 2 decimals; None for a type the slice lacks) and their mean."""
    values: dict[str, list[float]] = defaultdict(list)
    for item in items:
        values[item.record["question_type"]].append(item.value)
    out: dict[str, Any] = {"n": len(items)}
    present = []
    for question_type, metric in TYPE_METRICS.items():
        scored = values.get(question_type)
        out[metric] = round(100 * sum(scored) / len(scored), 2) if scored else None
        if scored:
            present.append(out[metric])
    out["average"] = round(sum(present) / len(present), 2) if present else None
    return out


def _by(items: Sequence[ItemScore], key: Any) -> dict[str, dict[str, Any]]:
    groups: dict[str, list[ItemScore]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return {name: slice_metrics(group) for name, group in sorted(groups.items())}


def _scenario_order(name: str) -> tuple[int, str]:
    return (SCENARIO_NAMES.index(name) if name in SCENARIO_NAMES else len(SCENARIO_NAMES), name)


def macro_averages(by_subtask: Mapping[str, Mapping[str, Any]]) -> dict[str, float | None]:
    """Dysca's avg_mc / avg_tf / avg_ic: per type, the mean over subtasks that have that type."""
    out: dict[str, float | None] = {}
    for metric, name in zip(TYPE_METRICS.values(), ("avg_mc", "avg_tf", "avg_ic")):
        scores = [m[metric] for m in by_subtask.values() if m[metric] is not None]
        out[name] = round(sum(scores) / len(scores), 2) if scores else None
    return out


def score_dysca(
    records: Sequence[Mapping[str, Any]], lines: PredictionLines, embedder_id: str | None = None
) -> dict[str, Any]:
    """The full report: overall, per subtask / scenario / question type / subtask x scenario,
    the per-item values (`items`, for `hvgen quality`) and everything not scored and why."""
    needs_embedder = any(
        record.get("question_type") == FREE_FORM and (str(record["id"]), scenario) in lines.texts
        for record in records
        for scenario in {s for _, s in lines.texts}
    )
    embedder = load_embedder(embedder_id or DEFAULT_EMBEDDER) if needs_embedder else None
    items, bookkeeping = score_items(records, lines.texts, embedder)
    if not items:
        raise HvgenError(
            f"none of the {len(lines.texts)} predictions answers a question of these records (ids such as "
            f"{bookkeeping['extra_ids'][:3]}): predictions are keyed by the question `id` of the run or its export "
            "(`hvgen_id` in `hvgen export --format dysca`), with a scenario name hvgen knows; score them against the "
            "run the model answered."
        )
    overall = slice_metrics(items)
    by_subtask = _by(items, lambda item: str(item.record.get("subtask")))
    report: dict[str, Any] = {
        "score": overall["average"],
        "score_name": "average (mean of the multi-choice, true/false and caption scores, 0-100)",
        "overall": overall,
        "macro": macro_averages(by_subtask),
        "by_subtask": by_subtask,
        "by_scenario": {
            name: metrics
            for name, metrics in sorted(
                _by(items, lambda item: item.scenario).items(), key=lambda kv: _scenario_order(kv[0])
            )
        },
        "by_question_type": _by(items, lambda item: str(item.record["question_type"])),
        "by_subtask_and_scenario": _by(items, lambda item: f"{item.record.get('subtask')} / {item.scenario}"),
        "items": {item.key: item.value for item in items},
        "n_records": len(records),
        "n_scored": len(items),
        "n_missing": len(bookkeeping["missing_ids"]),
        **bookkeeping,
        "n_lines": lines.lines,
        "n_malformed_lines": len(lines.malformed),
        "malformed_lines": lines.malformed,
        "duplicate_lines": lines.duplicates,
        "embedder": (embedder_id or DEFAULT_EMBEDDER) if embedder else None,
    }
    report["table"] = score_table(report)
    return report


def score_table(report: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Terminal rows: overall, then per question type, scenario and subtask (same keys each)."""
    rows = []
    sections = [("overall", {"all": report["overall"]})] + [
        (name, report[f"by_{name.replace(' ', '_')}"]) for name in ("question type", "scenario", "subtask")
    ]
    for section, slices in sections:
        for name, metrics in slices.items():
            rows.append(
                {
                    "slice": section,
                    "name": name,
                    "n": metrics["n"],
                    "multi choice %": _cell(metrics["multi_choice_accuracy"]),
                    "true/false %": _cell(metrics["true_or_false_accuracy"]),
                    "caption": _cell(metrics["caption_score"]),
                    "average": _cell(metrics["average"]),
                }
            )
    return rows


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def score_predictions_file(
    records: Sequence[Mapping[str, Any]], path: Path, embedder_id: str | None = None
) -> dict[str, Any]:
    """`score_dysca` on a JSONL predictions file (malformed lines counted, not fatal)."""
    return score_dysca(records, read_prediction_lines(path), embedder_id)
