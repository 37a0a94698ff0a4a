"""The HQH judge's side of the conversation: its prompt, how its reply is read, and the fake.

The prompt is ``templates/hqh/judge.j2`` (blocks `system` and `user`), filled with the record's
instruction, ground truth, caption and details (the image's prompt facts) and the model's answer.
A reply is read as HQH's evaluate.py reads it — a line with "Answer:" saying Correct or
Incorrect, and "Extra Contradictory Claims: <N>" — but tolerantly (any case, markdown bold, the
verdict on the next line); a reply without both is *unparsed*: counted and listed, never a crash.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hvgen.judges import FunctionJudge, Messages
from hvgen.templating import TemplateSet

JUDGE_TEMPLATE = "judge.j2"
_ANSWER_LABEL = re.compile(r"\banswer\W{0,3}:", re.IGNORECASE)
_WRONG = re.compile(r"\b(incorrect|wrong)\b", re.IGNORECASE)
_RIGHT = re.compile(r"\b(correct|right)\b", re.IGNORECASE)
_CLAIMS = re.compile(r"extra\s+contradictory\s+claims?\W{0,6}\s*(\d+|none|no|zero)\b", re.IGNORECASE)
_NEGATIONS = re.compile(r"\b(no|not|none|isn't|there's no|cannot|can't)\b", re.IGNORECASE)


@dataclass(frozen=True)
class Verdict:
    """One judged answer: main_hal (1 = the main answer is wrong) and claim_num (extra claims)."""

    main_hal: int
    claim_num: int

    @property
    def overall_hal(self) -> int:
        """HQH: an answer hallucinates if its main answer is wrong or it adds a contradictory claim."""
        return int(self.main_hal + self.claim_num > 0)


def judge_messages(templates: TemplateSet, record: Mapping[str, Any], answer: str) -> Messages:
    """The conversation that asks the judge about one answer."""
    variables = {
        "instruction": record["instruction"],
        "ground_truth": record["ground_truth"],
        "caption": record["caption"],
        "details": record["details"],
        "type": record["type"],
        "answer": answer,
    }
    return [
        {"role": "system", "content": templates.render(JUDGE_TEMPLATE, variables, block="system")},
        {
            "role": "user",
            "content": templates.render(JUDGE_TEMPLATE, variables, block="user", one_line=False),
        },
    ]


def parse_verdict(reply: str) -> Verdict | None:
    """The verdict in a judge's reply, or None when it lacks the verdict or the claim count.

    As HQH's evaluate.py: the first line labelled "Answer:" holding Incorrect (1) or Correct (0)
    — here also when the word is on the next line or wrapped in markdown — and the number after
    "Extra Contradictory Claims:" ("none" reads as 0)."""
    main_hal = _main_verdict(reply)
    claims = _CLAIMS.search(reply)
    if main_hal is None or claims is None:
        return None
    count = claims.group(1).lower()
    return Verdict(main_hal=main_hal, claim_num=int(count) if count.isdigit() else 0)


def _main_verdict(reply: str) -> int | None:
    lines = reply.splitlines()
    for index, line in enumerate(lines):
        label = _ANSWER_LABEL.search(line)
        if label is None:
            continue
        rest = line[label.end() :]
        if not rest.strip(" *_`") and index + 1 < len(lines):
            rest = lines[index + 1]  # "Answer:" alone on its line, the verdict below it
        if _WRONG.search(rest):
            return 1
        if _RIGHT.search(rest):
            return 0
    return None


def _normal(text: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", text.lower()).split())


def _mentions(text: str, phrase: str) -> bool:
    return f" {_normal(phrase)} " in f" {_normal(text)} "


def fake_verdict(record: Mapping[str, Any], answer: str) -> tuple[bool, int]:
    """The fake judge's string rule (tests and dry runs only): the main answer is correct when
    it names the truth (for an absent object: when it denies it); one extra claim when it names
    the foil (a wrong value of the same vocabulary) that the ground truth does not mention."""
    if record.get("polarity") == "negative":
        correct = bool(_NEGATIONS.search(answer)) or not _mentions(answer, str(record["asked"]))
    else:
        correct = _mentions(answer, str(record["truth"]))
    foil = str(record["foil"])
    claims = int(_mentions(answer, foil) and not _mentions(str(record["ground_truth"]), foil))
    return correct, claims


def fake_judge(templates: TemplateSet, cases: Mapping[str, tuple[Mapping[str, Any], str]]) -> FunctionJudge:
    """A deterministic judge over `cases` (user message → (record, answer)): it writes its
    reply with the template's `fake_reply` block, so the reply goes through the real parser."""

    def reply(messages: Messages) -> str:
        record, answer = cases[messages[-1]["content"]]
        correct, claims = fake_verdict(record, answer)
        return templates.render(
            JUDGE_TEMPLATE, {"correct": correct, "claims": claims}, block="fake_reply", one_line=False
        )

    return FunctionJudge("fake", reply)
