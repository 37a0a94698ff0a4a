"""HQH items: one image drawn for one hallucination type, and its questions.

An item is one image (its prompt is the ground truth) asked one fact in several forms that share
an `item_id`: the open form (HQH's free-form instruction with a reference answer) and closed-ended
twins (yes/no, multiple choice), so a model's open and closed answers on the same fact can be
compared. Existence items get two yes/no twins, one per polarity (the present object, an absent
one). Answer positions and yes/no answers are dealt in seeded shuffled cycles
(`hvgen.seeding.dealt`), so they are balanced on any plan size.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hvgen.errors import HvgenError
from hvgen.records import Record
from hvgen.seeding import balanced_slot, stable_id
from hvgen.store.layout import image_relpath
from hvgen.templating import TemplateSet

OPEN, YES_NO, MULTI_CHOICE = "free form", "yes/no", "multi choice"
QUESTION_TYPES = (OPEN, YES_NO, MULTI_CHOICE)
YES, NO = "Yes", "No"
_BLOCK = {OPEN: "open", YES_NO: "yes_no", MULTI_CHOICE: "multi_choice"}


@dataclass(frozen=True)
class HqhType:
    """One hallucination type's rule (templates/hqh/hqh.yaml)."""

    name: str
    draws: dict[str, str]
    asks: str
    choices: tuple[str, ...] | None = None
    probe_absent: bool = False
    task: str = "perception"


@dataclass
class PlannedItem:
    """One image: the drawn values and everything rendered from them."""

    type: HqhType
    values: dict[str, str]
    variables: dict[str, Any]
    style: str
    prompt: str
    negative_prompt: str
    image_id: str
    image_seed: int
    caption: str
    details: str

    @property
    def item_id(self) -> str:
        return stable_id("hqh-item", self.image_id, self.type.name)

    @property
    def truth(self) -> str:
        return self.values[self.type.asks]


@dataclass
class Dealer:
    """Counters behind the balanced deals: one sequence per (what is dealt, type, size)."""

    run_seed: int
    counts: Counter = field(default_factory=Counter)

    def deal(self, key: tuple[str, ...], size: int) -> int:
        index = self.counts[(key, size)]
        self.counts[(key, size)] += 1
        return balanced_slot(index, size, self.run_seed, "dealt", key, size)


def item_records(
    item: PlannedItem,
    question_types: list[str],
    templates: TemplateSet,
    pool: tuple[str, ...],
    max_options: int,
    dealer: Dealer,
    base: dict[str, Any],
    record_seed: Callable[[str], int],
) -> list[Record]:
    """The open question and the closed twins of `item` (those of `question_types`).

    `pool` is what wrong answers are drawn from (the asked vocabulary, or the type's `choices`);
    `base` holds the fields every record of the run carries; `record_seed(id)` derives a seed."""
    kind = item.type
    truth = item.truth
    wrong = [value for value in pool if value != truth]
    if not wrong:
        raise HvgenError(
            f"type '{kind.name}': the vocabulary of '{kind.asks}' has a single item, but questions need a wrong "
            "answer too; add items to it (--vocab DIR)."
        )
    records = []
    for question_type in question_types:
        if question_type == YES_NO:
            if kind.probe_absent:
                polarities = ["positive", "negative"]
            else:
                polarities = ["positive" if dealer.deal(("yes-no",), 2) == 0 else "negative"]
            for polarity in polarities:
                records.append(
                    _record(
                        item,
                        question_type,
                        polarity,
                        wrong,
                        templates,
                        max_options,
                        dealer,
                        base,
                        record_seed,
                    )
                )
        else:
            polarity = None
            if question_type == OPEN and kind.probe_absent:
                polarity = "positive" if dealer.deal(("open-probe",), 2) == 0 else "negative"
            records.append(
                _record(
                    item, question_type, polarity, wrong, templates, max_options, dealer, base, record_seed
                )
            )
    return records


def _record(
    item: PlannedItem,
    question_type: str,
    polarity: str | None,
    wrong: list[str],
    templates: TemplateSet,
    max_options: int,
    dealer: Dealer,
    base: dict[str, Any],
    record_seed: Callable[[str], int],
) -> Record:
    kind = item.type
    truth = item.truth
    record_id = stable_id("hqh", item.image_id, question_type, polarity or "")
    seed = record_seed(record_id)
    rng = random.Random(seed)
    asked = truth if polarity in (None, "positive") else rng.choice(wrong)
    variables = {**item.variables, "item": asked, "present": asked == truth}
    if kind.choices:
        variables["other_choice"] = next(item.values[n] for n in kind.choices if item.values[n] != asked)
    template = f"types/{kind.name}.j2"
    ground_truth = templates.render(template, variables, block="ground_truth")
    question = templates.render(template, variables, block=_BLOCK[question_type])
    options: list[str] = []
    if question_type == MULTI_CHOICE:
        size = min(max_options, len(wrong) + 1)
        distractors = rng.sample(wrong, size - 1)
        position = dealer.deal(("multi-choice",), size)
        options = [*distractors[:position], truth, *distractors[position:]]
        answer, foil = truth, rng.choice(distractors)
    elif question_type == YES_NO:
        options = [YES, NO]
        answer = YES if asked == truth else NO
        foil = asked if asked != truth else rng.choice(wrong)
    else:
        answer, foil = ground_truth, (asked if asked != truth else rng.choice(wrong))
    instruction = templates.render(
        "instructions.j2",
        {"question": question, "options": options},
        block=_BLOCK[question_type],
        one_line=False,
    )
    return {
        "id": record_id,
        "item_id": item.item_id,
        "image_id": item.image_id,
        "images": [image_relpath(item.image_id)],
        "prompt": item.prompt,
        "negative_prompt": item.negative_prompt,
        "caption": item.caption,
        "details": item.details,
        "type": kind.name,
        "form": "open" if question_type == OPEN else "closed",
        "question_type": question_type,
        "polarity": polarity,
        "question": question,
        "instruction": instruction,
        "ground_truth": ground_truth,
        "options": options,
        "answer": answer,
        "answer_index": options.index(answer) if options else None,
        "asked": asked,
        "truth": truth,
        "foil": foil,
        "task": kind.task,
        "style": item.style,
        "seed": seed,
        "image_seed": item.image_seed,
        **base,
    }
