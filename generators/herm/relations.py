"""HERM's image-wide questions: person-person relations and the image → instance → part
conversation (the wording in templates/herm/questions.j2)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, Any

from hvgen.readers.coco import PersonImage
from hvgen.seeding import derive_seed

from . import levels as L
from .questions import CONVERSATION, MULTI_CHOICE, TRUE_OR_FALSE, PersonTexts, Spec

if TYPE_CHECKING:
    from .facts import Facts


def pair_specs(generator: Any, entry: PersonImage, people: list[Facts], texts: PersonTexts) -> list[Spec]:
    """Person–person relations (left of, in front of, overlapping: true/false; nearest: choice);
    `texts` words the people (empty in the deal pass)."""
    specs = []
    pairs = [(a, b) for i, a in enumerate(people) for b in people[i + 1 :]]
    rng = random.Random(derive_seed(generator.request.run_seed, "herm-pairs", entry.image.id))
    rng.shuffle(pairs)
    height = entry.image.height
    for a, b in pairs[: generator.rules["pairs_per_image"]]:
        if rng.random() < 0.5:
            a, b = b, a
        variables = {"person": texts.person(a), "other": texts.person(b)}
        for aspect, value in (
            ("left_of", L.left_of(a.person.bbox, b.person.bbox)),
            ("in_front_of", L.in_front_of(a.person.bbox, b.person.bbox, height)),
            ("overlapping", L.overlapping(a.person.bbox, b.person.bbox)),
        ):
            if value is None:
                continue
            answer = "True" if value else "False"
            specs.append(texts.spec(entry, "relation", aspect, TRUE_OR_FALSE, f"{aspect}_tf",
                                    (a.person.id, b.person.id), variables=variables, answer=answer,
                                    person=a))  # fmt: skip
    if len(people) >= 3:
        boxes = [f.person.bbox for f in people]
        for index, facts in enumerate(people):
            near = L.nearest(index, boxes)
            if near is None:
                continue
            others = tuple(texts.box(f.box) for j, f in enumerate(people) if j not in (index, near))
            specs.append(texts.spec(entry, "relation", "nearest", MULTI_CHOICE, "nearest_mc", facts.person.id,
                                    variables={"person": texts.person(facts)}, truth=texts.box(people[near].box),
                                    pool=others, person=facts))  # fmt: skip
    return specs


def conversation_spec(generator: Any, entry: PersonImage, people: list[Facts], expressions: dict[int, str],
                      count: int | None, caption: str, texts: PersonTexts) -> Spec:  # fmt: skip
    """Image → instance → part: how many people, where one of them is, their pose, one part."""
    rng = random.Random(derive_seed(generator.request.run_seed, "herm-conversation", entry.image.id))
    facts = rng.choice(people)
    turns = []
    if count is not None:
        turns += [
            ("human", generator.templates.render("questions.j2", {}, block="counting")),
            ("gpt", str(count)),
        ]
    else:
        turns += [
            ("human", generator.templates.render("questions.j2", {}, block="dense_caption")),
            ("gpt", caption),
        ]
    expression = expressions.get(facts.person.id)
    if expression:
        turns += [("human", generator.templates.render("questions.j2", {"expression": expression}, block="inst_rec")),
                  ("gpt", generator._box(facts.box))]  # fmt: skip
        person = expression
    else:
        person = texts.person(facts)
    turns += [("human", generator.templates.render("questions.j2", {"person": person}, block="inst_identify")),
              ("gpt", texts.describe(facts))]  # fmt: skip
    if facts.parts:
        part = rng.choice(sorted(facts.parts))
        turns += [("human", generator.templates.render("questions.j2", {"part": part, "person": person}, block="part_rec")),
                  ("gpt", generator._box(facts.parts[part]))]  # fmt: skip
    conversation = [{"from": who, "value": text} for who, text in turns]
    return texts.spec(entry, "conversation", "image_instance_part", CONVERSATION, "", "", variables={},
                      answer=turns[-1][1], person=facts, conversation=conversation)  # fmt: skip
