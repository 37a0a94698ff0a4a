"""HERM's tasks and question types, a question before its answer is dealt (`Spec`), and the
order answers are dealt in (`DealOrder`): per dealing key, multiple-choice answer positions and
true/false truths are balanced over the questions in id order; and an image's texts about its
people, made once each (`PersonTexts`, empty in the deal pass)."""

from __future__ import annotations

from array import array
from bisect import bisect_left
from dataclasses import dataclass, field
from typing import Any

from hvgen.readers.coco import PersonImage
from hvgen.seeding import stable_id

from . import levels as L
from .facts import Facts

MULTI_CHOICE, TRUE_OR_FALSE, GROUNDING, FREE_FORM, CONVERSATION = (
    "multi choice", "true or false", "grounding", "free form", "conversation",
)  # fmt: skip
BOX_FORMATS = ("plain", "minigptv2")
BOX_HINTS = {
    "plain": "as [x, y, w, h], normalised to 0-1",
    "minigptv2": "as {<x1><y1><x2><y2>} on a 0-100 grid",
}
TASKS = (
    "counting",
    "dense_caption",
    "inst_rec",
    "inst_identify",
    "pose",
    "part_rec",
    "relation",
    "conversation",
)
LEVELS = {
    "counting": "image",
    "dense_caption": "image",
    "inst_rec": "instance",
    "inst_identify": "instance",
    "pose": "instance",
    "part_rec": "part",
    "relation": "relation",
    "conversation": "multi",
}
INSTANCE_ASPECTS = {"pose": L.POSES, "arms": L.ARMS, "facing": L.FACING, "occlusion": L.OCCLUSION_CLASSES,
                    "position": L.POSITIONS}  # fmt: skip
BLOCKS = {MULTI_CHOICE: "multi_choice", TRUE_OR_FALSE: "true_or_false", GROUNDING: "grounding",
          FREE_FORM: "free_form", CONVERSATION: "free_form"}  # fmt: skip


@dataclass
class Spec:
    """A question before its answer position (multiple choice) or truth (true/false) is dealt."""

    id: str
    image: PersonImage
    task: str
    aspect: str
    question_type: str
    block: str
    variables: dict[str, Any]
    truth: str = ""
    pool: tuple[str, ...] = ()  # wrong values to draw distractors / false statements from
    answer_box: tuple[float, float, float, float] | None = None
    answer: str = ""
    person: Facts | None = None
    conversation: list[dict[str, str]] = field(default_factory=list)
    mask: dict[str, Any] | None = None  # COCO RLE of the answer box's object (--sam)


def deal_key(spec: Spec) -> tuple[str, int] | None:
    """The key a spec's answer position or truth is balanced under (None: nothing is dealt)."""
    if spec.question_type == MULTI_CHOICE:
        return (spec.block, min(3, len(spec.pool)) + 1)
    if spec.question_type == TRUE_OR_FALSE and spec.truth:
        return (spec.block, 2)
    return None


class DealOrder:
    """Per dealing key, the sorted ids (as 64-bit integers) of the questions dealt under it.
    Picklable before `freeze`: plan workers collect the ids of image ranges, `merge`d here."""

    def __init__(self) -> None:
        self.questions = 0
        self._ids: dict[tuple[str, int], array] = {}
        self._sorted: dict[tuple[str, int], list[int]] = {}

    def add(self, spec_id: str, key: tuple[str, int] | None) -> None:
        self.questions += 1
        if key is not None:
            ids = self._ids.get(key)
            if ids is None:
                ids = self._ids[key] = array("Q")
            ids.append(int(spec_id, 16))

    def merge(self, other: DealOrder) -> None:
        """Add the questions `other` collected (the order of adding does not matter: `freeze` sorts)."""
        self.questions += other.questions
        for key, ids in other._ids.items():
            self._ids.setdefault(key, array("Q")).extend(ids)

    def freeze(self) -> None:
        import numpy as np

        # sorted by numpy, searched as a list: `bisect` of an int is ~10x faster than a numpy call
        self._sorted = {
            key: np.sort(np.frombuffer(ids, dtype=np.uint64)).tolist() for key, ids in self._ids.items()
        }
        self._ids.clear()

    def rank(self, spec_id: str, key: tuple[str, int] | None) -> int:
        """How many questions under `key` come before `spec_id` in id order."""
        if key is None:
            return 0
        return bisect_left(self._sorted[key], int(spec_id, 16))


class PersonTexts:
    """One image's texts about its people, each made once; unworded, every text is empty (the
    deal pass reads ids and dealing keys only, which no text decides)."""

    def __init__(self, generator: Any, worded: bool = True) -> None:
        self.generator = generator
        self.worded = worded
        self._descriptions: dict[int, str] = {}
        self._names: dict[int, str] = {}

    def describe(self, facts: Facts) -> str:
        return self._once(self._descriptions, facts, self.generator.describe)

    def person(self, facts: Facts) -> str:
        """'the person at [box]'."""
        return self._once(self._names, facts, self.generator._person)

    def _once(self, made: dict[int, str], facts: Facts, make: Any) -> str:
        """`make(facts)`, made once per person of the image ('' for the unworded deal pass)."""
        if not self.worded:
            return ""
        key = facts.person.id
        text = made.get(key)
        if text is None:
            text = made[key] = make(facts)
        return text

    def box(self, box: tuple[float, float, float, float]) -> str:
        return self.generator._box(box) if self.worded else ""

    def spec(self, entry: PersonImage, task: str, aspect: str, qtype: str, block: str, key: object,
             **kwargs: Any) -> Spec:  # fmt: skip
        """A question of `entry`, its id from what it asks (`key`: whom or what about); unworded,
        one whose answer is not dealt keeps an empty id (the deal reads a dealt one's id only)."""
        spec = Spec("", entry, task, aspect, qtype, block, **kwargs)
        if self.worded or deal_key(spec) is not None:
            spec.id = stable_id("herm", entry.image.id, task, aspect, qtype, key)
        return spec
