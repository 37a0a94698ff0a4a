"""Dysca's questions about a planned image: one record per (question type, subtask) the image's
foreground is asked about, optionally thinned as the released data is.

Records are made for ~7 questions per image, so what depends on the image alone (its template
variables, its record fields) is worked out once per image, and renders whose inputs repeat (a
question's words depend on the subtask and the item, not the image) are remembered
(`MemoRenders`). The records are the ones each question would get on its own.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any

from hvgen.errors import HvgenError
from hvgen.records import Record
from hvgen.seeding import rng_for, stable_id
from hvgen.store.layout import image_relpath

from .renders import MemoRenders

if TYPE_CHECKING:
    from hvgen.templating import TemplateSet

# The values of the released Dysca.json: its scorer (Dysca_compute.py) scores a free-form answer
# only when question_type is exactly "image caption", so that is what we write.
MULTI_CHOICE, TRUE_OR_FALSE, FREE_FORM = "multi choice", "true or false", "image caption"
QUESTION_TYPES = (MULTI_CHOICE, TRUE_OR_FALSE, FREE_FORM)
# Per question type: which template block asks it, and how the instruction is laid out.
_BLOCK = {MULTI_CHOICE: "multi_choice", TRUE_OR_FALSE: "true_or_false", FREE_FORM: "free_form"}
_ATTRIBUTE_KEYS = ("age", "gender", "race", "expression", "color")


def _var(name: str) -> str:
    """Template variable / file name for a vocabulary or subtask ('tv show' → 'tv_show')."""
    return name.replace(" ", "_")


@dataclass(frozen=True)
class Foreground:
    name: str
    draws: tuple[str, ...]
    background: bool
    questions: tuple[str, ...]
    caption: str
    subject: str


@dataclass
class PlannedImage:
    """One distinct prompt: what was drawn for it and the resulting prompt pair."""

    foreground: Foreground
    draws: dict[str, str]
    style: dict[str, str]
    prompt: str
    negative_prompt: str
    image_id: str
    image_seed: int


_COPY_AT_MOST = 64
"""Vocabularies up to this long are copied without the truth (`random.sample` copies them anyway)."""


class Without(Sequence[str]):
    """`values` without the item at `index`, read in place: `random.choice` and `random.sample`
    (which only index a long population) draw the same items as from the copied list."""

    __slots__ = ("index", "values")

    def __init__(self, values: Sequence[str], index: int) -> None:
        self.values, self.index = values, index

    def __len__(self) -> int:
        return len(self.values) - 1

    def __getitem__(self, position: Any) -> Any:
        if not isinstance(position, int) or not 0 <= position < len(self.values) - 1:
            return list(self)[position]  # slices, negative or out-of-range positions: as a list does
        return self.values[position if position < self.index else position + 1]

    def __iter__(self) -> Iterator[str]:
        return itertools.chain(self.values[: self.index], self.values[self.index + 1 :])


def image_variables(draws: dict[str, str], style: dict[str, str]) -> dict[str, Any]:
    """The template variables of an image: its draws (by variable name) and its style preset."""
    return {**{_var(name): value for name, value in draws.items()}, "style": style}


@dataclass
class _Shared:
    """What every record of one image shares: its template variables and record fields."""

    variables: dict[str, Any]
    relpath: str
    foreground: str | None
    attributes: dict[str, str | None]


class DyscaQuestions:
    """The question half of the Dysca generator (mixed into `Dysca`, which provides the data)."""

    name: str
    template_version: str
    templates: TemplateSet
    request: Any
    rules: dict[str, Any]
    selected_subtasks: list[str]
    selected_question_types: list[str]
    thin: bool
    condition: str
    _recipes: Any
    _wrong: dict[tuple[str, str], Sequence[str]]

    if TYPE_CHECKING:  # provided by `Dysca` and `Generator`

        def values(self, name: str) -> tuple[str, ...]: ...
        def record_seed(self, record_id: str) -> int: ...

    @cached_property
    def _renders(self) -> MemoRenders:
        return MemoRenders(self.templates)

    @cached_property
    def _subtask_fields(self) -> dict[str, tuple[str, str]]:
        """Subtask → (task, granularity) as records carry them."""
        rules = self.rules["subtasks"]
        return {
            name: (
                rules.get(name, {}).get("task", "recognition"),
                rules.get(name, {}).get("granularity", "fine"),
            )
            for name in rules
        }

    @cached_property
    def _asked(self) -> dict[str, list[tuple[str, str]]]:
        return {}

    def _asks(self, fg: Foreground) -> list[tuple[str, str]]:
        """(question type, subtask) of each question an image of `fg` gets, in record order."""
        if fg.name not in self._asked:
            self._asked[fg.name] = self._find_asks(fg)
        return self._asked[fg.name]

    def _find_asks(self, fg: Foreground) -> list[tuple[str, str]]:
        selected = set(self.selected_subtasks)
        primary = [s for s in fg.questions if self.rules["subtasks"][s].get("granularity") != "coarse"]
        asks = []
        for question_type in self.selected_question_types:
            if question_type == FREE_FORM:
                if selected & set(primary):
                    asks.append((question_type, fg.caption))
                continue
            asks.extend((question_type, subtask) for subtask in fg.questions if subtask in selected)
        return asks

    def _image_records(self, image: PlannedImage) -> list[Record]:
        questions = self._questions(image)
        return self._thinned(image, questions) if self.thin else questions

    def _questions(self, image: PlannedImage) -> list[Record]:
        fg = image.foreground
        draws = image.draws
        shared = _Shared(
            variables={**image_variables(draws, image.style), "subject": draws.get(fg.subject, "")},
            relpath=image_relpath(image.image_id),
            foreground=draws.get(fg.subject) if fg.name != "face" else None,
            attributes={key: draws.get(key) for key in _ATTRIBUTE_KEYS},
        )
        return [
            self._record(image, shared, question_type, subtask) for question_type, subtask in self._asks(fg)
        ]

    def _thinned(self, image: PlannedImage, records: list[Record]) -> list[Record]:
        """The released data's per-image thinning (pqa_postprocess.py, pass 2), grouped by subtask:
        1 question → dropped with p=2/3; 2 (multi choice + true/false) → one kept at random;
        3 or more → 1 dropped (p=1/4) or 2 dropped (p=3/4). The original's first pass has no effect
        (its result is discarded by a re-read), so it is not reproduced."""
        rng = rng_for(self.request.run_seed, "dysca-thin", image.image_id)
        groups: dict[str, list[Record]] = {}
        for record in records:
            groups.setdefault(record["subtask"], []).append(record)
        kept: list[Record] = []
        for group in groups.values():
            if len(group) == 1:
                keep = group if rng.random() >= 2 / 3 else []
            elif len(group) == 2:
                keep = [rng.choice(group)]
            else:
                drop = 1 if rng.random() < 1 / 4 else 2
                keep = rng.sample(group, len(group) - drop)
            kept_ids = {record["id"] for record in keep}
            kept.extend(record for record in group if record["id"] in kept_ids)
        order = {record["id"]: index for index, record in enumerate(records)}
        return sorted(kept, key=lambda record: order[record["id"]])

    def _wrong_values(self, asked: str, truth: str) -> Sequence[str]:
        """The vocabulary of `asked` without `truth`, in vocabulary order; one per pair, read but
        never changed by the callers (rebuilding it per question was a tenth of a plan). A long
        vocabulary whose items are distinct is read in place (`Without`), not copied per truth."""
        key = (asked, truth)
        if key not in self._wrong:
            values = self.values(asked)
            index = self._positions(asked).get(truth) if len(values) > _COPY_AT_MOST else None
            if index is None:
                self._wrong[key] = [value for value in values if value != truth]
            else:
                self._wrong[key] = Without(values, index)
        return self._wrong[key]

    @cached_property
    def _vocab_positions(self) -> dict[str, dict[str, int]]:
        return {}

    def _positions(self, asked: str) -> dict[str, int]:
        """Each item of the vocabulary of `asked` → its position ({} if an item repeats)."""
        if asked not in self._vocab_positions:
            values = self.values(asked)
            positions = {value: index for index, value in enumerate(values)}
            self._vocab_positions[asked] = positions if len(positions) == len(values) else {}
        return self._vocab_positions[asked]

    def _record(self, image: PlannedImage, shared: _Shared, question_type: str, subtask: str) -> Record:
        fg = image.foreground
        record_id = stable_id("dysca", image.image_id, question_type, subtask)
        seed = self.record_seed(record_id)
        rng = random.Random(seed)
        is_caption = question_type == FREE_FORM
        asked = fg.subject if is_caption else subtask
        truth = image.style["name"] if asked == "style" else image.draws[asked]
        wrong = self._wrong_values(asked, truth)
        if not wrong:
            raise HvgenError(
                f"vocabulary of '{asked}' has a single item: questions about it need at least 2."
            )
        variables = {**shared.variables, "subtask": subtask}
        if question_type == MULTI_CHOICE:
            size = min(self.rules["max_options"], len(wrong) + 1)
            distractors = rng.sample(wrong, size - 1)
            options = [truth, *distractors]
            rng.shuffle(options)
            answer, foil = truth, rng.choice(distractors)
            question = self._question(subtask, question_type, {**variables, "item": truth})
        elif question_type == TRUE_OR_FALSE:
            options = ["True", "False"]
            if rng.random() < self.rules["false_probability"]:
                item = rng.choice(wrong)
                answer, foil = "False", item  # printing the wrongly asked item pushes towards "True"
            else:
                item = truth
                answer, foil = "True", rng.choice(wrong)
            question = self._question(subtask, question_type, {**variables, "item": item})
        else:
            options = []
            caption = f"captions/{_var(fg.name)}.j2"
            question = self._renders.render(caption, variables, block="question")
            answer = self.templates.render(caption, variables, block="answer")  # the image's own words
            foil = rng.choice(wrong)
        # A multi choice instruction lists the shuffled options: it seldom repeats, so remembering it costs more.
        render = self.templates.render if question_type == MULTI_CHOICE else self._renders.render
        instruction = render(
            "instructions.j2",
            {"question": question, "options": options},
            block=_BLOCK[question_type],
            one_line=False,
        )
        task, granularity = self._subtask_fields.get(subtask, ("recognition", "fine"))
        return {
            "id": record_id,
            "image_id": image.image_id,
            "images": [shared.relpath],
            "prompt": image.prompt,
            "negative_prompt": image.negative_prompt,
            "style": image.style["name"],
            "subtask": subtask,
            "question_majority": subtask,
            "granularity": granularity,
            "task": task,
            "question": question,
            "instruction": instruction,
            "question_type": question_type,
            "options": options,
            "answer": answer,
            "answer_index": options.index(answer) if options else None,
            "truth": truth,
            "foil": foil,
            "foreground_type": fg.name,
            "foreground": shared.foreground,
            "background": image.draws.get("background"),
            "attributes": dict(shared.attributes),
            "seed": seed,
            "image_seed": image.image_seed,
            "generator": self.name,
            "template_version": self.template_version,
            **self._condition(image, fg),
        }

    def _condition(self, image: PlannedImage, fg: Foreground) -> dict[str, Any]:
        """The record's `condition` (only with --condition): the recipe, and for recipes that lay
        out classes (boxes) the image's subject as the one label, so its box is named after it."""
        if not self.condition:
            return {}
        from hvgen.conditions.recipes import accepts_key, condition_field

        params: dict[str, Any] = {}
        if accepts_key(self.condition, "labels", self._recipes):
            params["labels"] = [image.draws.get(fg.subject) or fg.name]
        return {"condition": condition_field(self.condition, params)}

    def _question(self, subtask: str, question_type: str, variables: dict[str, Any]) -> str:
        return self._renders.render(f"questions/{_var(subtask)}.j2", variables, block=_BLOCK[question_type])
