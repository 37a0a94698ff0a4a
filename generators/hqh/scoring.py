"""Scoring of model answers on a regenerated HQH (`hvgen score hqh RUN PRED.jsonl --judge …`).

Open (free-form) answers are graded by an LLM judge as in HQH's evaluate.py: per answer
main_hal (1 if the judge says Incorrect), claim_num (extra contradictory claims) and
overall_hal (1 if main_hal + claim_num > 0); reported as `Overall Hal%` = mean(overall_hal),
`Main Hal%` = mean(main_hal), `Extra #Hal` = mean(claim_num) and `<type> Hal%` = per-type
mean(main_hal). HQH prints fractions; here the rates are percentages (× 100, 2 decimals).

Closed-ended twins need no judge: a yes/no answer is read from its first yes/no word, a multiple
choice from its option letter ("(B)", "B.", "Answer: B") or, failing that, the one option it
names. An answer that cannot be read counts as a hallucination (and is counted apart).

Every scored answer is also an item of `report["items"]` (1 = no hallucination), and
`report["score"]` is their mean × 100, so `hvgen quality` can use HQH.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError
from hvgen.judges import JudgeSpec, open_judge
from hvgen.judges.cache import CachedJudge
from hvgen.scenarios import SCENARIO_NAMES
from hvgen.scoring import PredictionLines, item_key, read_prediction_lines
from hvgen.templating import TemplateSet

from .judging import Verdict, fake_judge, judge_messages, parse_verdict

OPEN, YES_NO, MULTI_CHOICE = "free form", "yes/no", "multi choice"
# An option letter: "(B)" or "(b)", a lone "B" / "B." / "B)" opening the answer, or "answer (is) B";
# bare letters are capitals only, so the article in "the answer is a teddy bear" is not option A.
_LETTER = re.compile(r"\(([A-Ja-j])\)|^\s*([A-J])\s*(?:[.):]|$)|(?i:answer)\s*(?i:is)?\s*:?\s*\(?([A-J])\b")
_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)


# ------------------------------------------------------------------ closed-ended parsing


def parse_yes_no(answer: str) -> str | None:
    """'Yes' / 'No' from the answer's first yes/no word; None when it has none."""
    found = _YES_NO.search(answer)
    return found.group(1).capitalize() if found else None


def parse_choice(answer: str, options: Sequence[str]) -> str | None:
    """The option a multiple-choice answer picks: by letter, else the one option named; None if neither."""
    letters = "ABCDEFGHIJ"[: len(options)]
    for match in _LETTER.finditer(answer.strip()):
        letter = next(g for g in match.groups() if g).upper()
        if letter in letters:
            return options[letters.index(letter)]
    text = _words(answer)
    named = [option for option in options if _words(option) in text]
    return named[0] if len(named) == 1 else None


def _words(text: str) -> str:
    """Lower-case words between spaces, punctuation dropped: ' a teddy bear ' (for whole-word search)."""
    return f" {' '.join(re.sub(r'[^0-9a-z]+', ' ', text.lower()).split())} "


# ------------------------------------------------------------------ scoring


@dataclass
class Scored:
    """One scored answer. Open: the judge's verdict (None if unparsed). Closed: `wrong` only."""

    key: str
    record: Mapping[str, Any]
    scenario: str
    verdict: Verdict | None = None
    wrong: int = 0
    unparsed: bool = False

    @property
    def hal(self) -> int:
        """1 if the answer hallucinates (open: overall_hal; closed: a wrong or unreadable answer)."""
        return self.verdict.overall_hal if self.verdict else self.wrong


def _pct(values: Sequence[int | float]) -> float | None:
    return round(100 * sum(values) / len(values), 2) if values else None


def open_metrics(items: Sequence[Scored]) -> dict[str, Any]:
    """HQH's numbers over judged open answers (unparsed replies excluded, counted elsewhere)."""
    judged = [item for item in items if item.verdict is not None]
    out: dict[str, Any] = {
        "n": len(judged),
        "Overall Hal%": _pct([i.verdict.overall_hal for i in judged]),  # type: ignore[union-attr]
        "Main Hal%": _pct([i.verdict.main_hal for i in judged]),  # type: ignore[union-attr]
        "Extra #Hal": round(sum(i.verdict.claim_num for i in judged) / len(judged), 4) if judged else None,  # type: ignore[union-attr]
    }
    by_type: dict[str, list[int]] = defaultdict(list)
    for item in judged:
        by_type[str(item.record["type"])].append(item.verdict.main_hal)  # type: ignore[union-attr]
    for name in sorted(by_type):
        out[f"{name} Hal%"] = _pct(by_type[name])
    return out


def closed_metrics(items: Sequence[Scored]) -> dict[str, Any]:
    """Per closed form: the share of hallucinated (wrong or unreadable) answers, overall and per type."""
    out: dict[str, Any] = {}
    for question_type in (YES_NO, MULTI_CHOICE):
        chosen = [i for i in items if i.record["question_type"] == question_type]
        if not chosen:
            continue
        by_type: dict[str, list[int]] = defaultdict(list)
        for item in chosen:
            by_type[str(item.record["type"])].append(item.wrong)
        out[question_type] = {
            "n": len(chosen),
            "Hal%": _pct([i.wrong for i in chosen]),
            "n_unparsed": sum(i.unparsed for i in chosen),
            **{f"{name} Hal%": _pct(by_type[name]) for name in sorted(by_type)},
        }
    return out


def slice_metrics(items: Sequence[Scored]) -> dict[str, Any]:
    """One slice's numbers: HQH's open metrics beside the closed twins' hallucination rates."""
    metrics = open_metrics([i for i in items if i.record["question_type"] == OPEN])
    closed = closed_metrics([i for i in items if i.record["question_type"] != OPEN])
    return {
        "open n": metrics["n"],
        "Overall Hal%": metrics["Overall Hal%"],
        "Main Hal%": metrics["Main Hal%"],
        "Extra #Hal": metrics["Extra #Hal"],
        "yes/no Hal%": closed.get(YES_NO, {}).get("Hal%"),
        "multi choice Hal%": closed.get(MULTI_CHOICE, {}).get("Hal%"),
    }


def table_row(section: str, name: str, metrics: Mapping[str, Any]) -> dict[str, Any]:
    """A terminal row of `slice_metrics` (rates as text, '–' where a slice has none)."""
    return {
        "slice": section,
        "name": name,
        **{key: value if key == "open n" else _cell(value) for key, value in metrics.items()},
    }


def _cell(value: float | None) -> str:
    return "–" if value is None else f"{value:.2f}"


def _groups(items: Sequence[Scored], key: Any) -> dict[str, list[Scored]]:
    groups: dict[str, list[Scored]] = defaultdict(list)
    for item in items:
        groups[key(item)].append(item)
    return dict(sorted(groups.items()))


def score_hqh(
    records: Sequence[Mapping[str, Any]],
    lines: PredictionLines,
    judge: JudgeSpec | None,
    templates: TemplateSet | None = None,
) -> dict[str, Any]:
    """The full report: HQH's open metrics, the closed twins', per type and scenario, the
    per-item values, the judge's bookkeeping and every prediction not scored and why."""
    templates = templates or TemplateSet("hqh")
    by_id = {str(record["id"]): record for record in records}
    predictions = lines.texts
    scenarios = sorted({s for _, s in predictions}, key=lambda s: (s not in SCENARIO_NAMES, s))
    extra = sorted(item_key(r, s) for r, s in predictions if r not in by_id or s not in SCENARIO_NAMES)
    missing = [
        item_key(r, s) for s in scenarios if s in SCENARIO_NAMES for r in by_id if (r, s) not in predictions
    ]
    items: list[Scored] = []
    open_cases: list[tuple[Scored, str]] = []
    for (rid, scenario), answer in sorted(predictions.items()):
        record = by_id.get(rid)
        if record is None or scenario not in SCENARIO_NAMES:
            continue
        item = Scored(item_key(rid, scenario), record, scenario)
        question_type = record.get("question_type")
        if question_type == YES_NO:
            chosen = parse_yes_no(answer)
            item.unparsed, item.wrong = chosen is None, int(chosen != record["answer"])
        elif question_type == MULTI_CHOICE:
            chosen = parse_choice(answer, list(record["options"]))
            item.unparsed, item.wrong = chosen is None, int(chosen != record["answer"])
        elif question_type == OPEN:
            open_cases.append((item, answer))
        else:
            raise HvgenError(
                f"record {rid}: question_type {question_type!r} is not one HQH scores; re-plan the run with this "
                "hvgen (`hvgen plan RUN --force`)."
            )
        items.append(item)
    if not items:
        raise HvgenError(
            f"none of the {len(predictions)} predictions answers a question of these records (ids such as "
            f"{extra[:3]}): predictions are keyed by the question `id` of the run or its export (`hvgen_id` in "
            "`hvgen export --format hqh`); score them against the run the model answered."
        )
    judge_info = _judge_open(open_cases, judge, templates)
    scored = [i for i in items if not (i.record["question_type"] == OPEN and i.verdict is None)]
    open_items = [i for i in items if i.record["question_type"] == OPEN]
    closed_items = [i for i in items if i.record["question_type"] != OPEN]
    report: dict[str, Any] = {
        "score": round(100 * (1 - sum(i.hal for i in scored) / len(scored)), 2) if scored else None,
        "score_name": "share of answers without hallucination (open: judged; closed: parsed), 0-100",
        "open": open_metrics(open_items),
        "closed": closed_metrics(closed_items),
        "by_type": {
            name: slice_metrics(group)
            for name, group in _groups(items, lambda i: str(i.record["type"])).items()
        },
        "by_scenario": {
            name: slice_metrics(group) for name, group in _groups(items, lambda i: i.scenario).items()
        },
        "items": {i.key: 1 - i.hal for i in scored},
        "verdicts": {
            i.key: {
                "main_hal": i.verdict.main_hal,
                "claim_num": i.verdict.claim_num,
                "overall_hal": i.verdict.overall_hal,
            }
            for i in open_items
            if i.verdict is not None
        },
        "judge": judge_info,
        "n_records": len(records),
        "n_scored": len(scored),
        "n_missing": len(missing),
        "missing_ids": missing,
        "extra_ids": extra,
        "unparsed_ids": sorted(i.key for i in items if i.unparsed),
        "n_lines": lines.lines,
        "malformed_lines": lines.malformed,
        "duplicate_lines": lines.duplicates,
    }
    report["table"] = [
        table_row("overall", "all", slice_metrics(items)),
        *(table_row("type", name, metrics) for name, metrics in report["by_type"].items()),
        *(
            table_row("scenario", name, m)
            for name, m in report["by_scenario"].items()
            if len(report["by_scenario"]) > 1
        ),
    ]
    return report


def _judge_open(
    cases: list[tuple[Scored, str]], spec: JudgeSpec | None, templates: TemplateSet
) -> dict[str, Any] | None:
    """Ask the judge about every open answer (cached), and fill in the verdicts."""
    if not cases:
        return None
    if spec is None:
        raise HvgenError(
            f"{len(cases)} prediction(s) answer open (free-form) questions, which an LLM judge grades: pass "
            "--judge http://host:port/v1 --judge-model NAME (an OpenAI-compatible endpoint), --judge MODEL_ID_OR_DIR "
            "(a transformers chat model), or --judge fake (a string rule for dry runs, not a judge of quality)."
        )
    conversations = [judge_messages(templates, item.record, answer) for item, answer in cases]
    fake = fake_judge(
        templates,
        {msgs[-1]["content"]: (item.record, answer) for msgs, (item, answer) in zip(conversations, cases)},
    )
    chosen = open_judge(spec, fake=fake)
    # The fake is a string rule: caching it would only hide a change of the rule.
    judge = chosen if chosen is fake else CachedJudge(chosen, spec.cache)
    replies = judge.reply(conversations)
    unparsed = []
    for (item, _), reply in zip(cases, replies):
        item.verdict = parse_verdict(reply)
        if item.verdict is None:
            item.unparsed = True
            unparsed.append({"id": item.key, "reply": reply[:300]})
    cached = isinstance(judge, CachedJudge)
    return {
        "judge": judge.name,
        "cache": str(judge.path) if cached else None,
        "cache_hits": judge.hits if cached else 0,
        "judge_calls": judge.misses if cached else len(cases),
        "n_unparsed": len(unparsed),
        "unparsed_replies": unparsed,
    }


def score_predictions_file(
    records: Sequence[Mapping[str, Any]], path: Path, judge: JudgeSpec | None = None
) -> dict[str, Any]:
    """`score_hqh` on a JSONL predictions file (malformed lines counted, not fatal)."""
    return score_hqh(records, read_prediction_lines(path), judge)
