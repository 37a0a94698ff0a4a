"""The questions of one HERM image before their answers are dealt (`Spec`s), worded or not.

The plan walks every image twice: the deal pass needs only each question's id and dealing key
(`questions.deal_key`), the second pass the words too. Both build the same specs from the same
facts; unworded (`worded=False`), no template is rendered and no box written as text, the bulk
of an image's cost. Worded, a person's description and name are made once per image
(`questions.PersonTexts`), not once per question that shows them.
"""

from __future__ import annotations

import random
from typing import Any

from hvgen.readers.coco import PersonImage
from hvgen.seeding import derive_seed

from . import levels as L
from .facts import Facts
from .questions import (
    CONVERSATION,
    FREE_FORM,
    GROUNDING,
    INSTANCE_ASPECTS,
    MULTI_CHOICE,
    TRUE_OR_FALSE,
    PersonTexts,
    Spec,
)
from .relations import conversation_spec, pair_specs

PART_DISTRACTORS = {
    part: tuple(p for p in L.PARTS if not set(L.PARTS[p]) & set(names)) for part, names in L.PARTS.items()
}
"""The wrong answers for a part: the parts that share no keypoint with it."""


def image_specs(generator: Any, entry: PersonImage, worded: bool = True) -> list[Spec]:
    """Every question of `entry`: counting, dense caption, per person, person pairs, conversation."""
    texts = PersonTexts(generator, worded)
    people = generator.facts(entry)
    whole = L.countable(entry.crowd, entry.tiny) and len(people) == len(entry.people)
    specs: list[Spec] = []
    count = len(entry.people)
    if whole:
        pool = tuple(str(n) for n in range(max(0, count - 3), count + 4) if n != count)
        specs.append(texts.spec(entry, "counting", "count", MULTI_CHOICE, "counting", "", variables={},
                                     truth=str(count), pool=pool))  # fmt: skip
    caption = ""
    if worded:
        caption = generator.templates.render(
            "captions.j2",
            {
                "scene": entry.captions[0] if entry.captions else "",
                "count": count,
                "count_known": whole,
                "crowd": L.crowd_flag(count, entry.crowd, generator.rules["crowd_people"]),
                "people": [texts.describe(f) for f in people],
            },  # fmt: skip
            block="dense",
        )
    specs.append(texts.spec(entry, "dense_caption", "scene", FREE_FORM, "dense_caption", "", variables={},
                                 answer=caption))  # fmt: skip
    expressions = generator.referring_expressions(people, worded) if whole else {}
    for facts in people:
        specs += instance_specs(generator, entry, facts, expressions.get(facts.person.id), texts)
    specs += pair_specs(generator, entry, people, texts)
    if worded:
        specs.append(conversation_spec(generator, entry, people, expressions, count if whole else None, caption,
                                       texts))  # fmt: skip
    else:  # its turns are worded; its id and (absent) dealing key are the same
        specs.append(texts.spec(entry, "conversation", "image_instance_part", CONVERSATION, "", "",
                                     variables={}))  # fmt: skip
    return specs


def instance_specs(generator: Any, entry: PersonImage, facts: Facts, expression: str | None,
                   texts: PersonTexts) -> list[Spec]:  # fmt: skip
    """One person's questions: who is described, pose aspects, one part, one object relation."""
    pid = facts.person.id
    run_seed, rules = generator.request.run_seed, generator.rules
    person = texts.person(facts)
    spec = texts.spec
    specs = []
    if expression:
        specs.append(spec(entry, "inst_rec", "referring", GROUNDING, "inst_rec", pid,
                          variables={"expression": expression}, answer_box=facts.box, person=facts))  # fmt: skip
    specs.append(spec(entry, "inst_identify", "description", FREE_FORM, "inst_identify", pid,
                      variables={"person": person}, answer=texts.describe(facts), person=facts))  # fmt: skip
    rng = random.Random(derive_seed(run_seed, "herm-aspects", pid))
    known = [aspect for aspect in INSTANCE_ASPECTS if getattr(facts, aspect) is not None]
    for aspect in sorted(rng.sample(known, min(len(known), rules["aspects_per_person"]))):
        vocab, value = INSTANCE_ASPECTS[aspect], getattr(facts, aspect)
        qtype = (MULTI_CHOICE, TRUE_OR_FALSE)[derive_seed(run_seed, "herm-qtype", pid, aspect) % 2]
        block = f"{aspect}_{'mc' if qtype == MULTI_CHOICE else 'tf'}"
        specs.append(spec(entry, "pose", aspect, qtype, block, pid, variables={"person": person},
                          truth=value, pool=tuple(v for v in vocab if v != value), person=facts))  # fmt: skip
    rng = random.Random(derive_seed(run_seed, "herm-parts", pid))
    visible = sorted(facts.parts)
    for part in rng.sample(visible, min(len(visible), rules["parts_per_person"])):
        box = facts.parts[part] if texts.worded else None
        specs.append(spec(entry, "part_rec", part, GROUNDING, "part_rec", pid,
                          variables={"part": part, "person": person}, answer_box=box, person=facts))  # fmt: skip
        qtype = (MULTI_CHOICE, TRUE_OR_FALSE)[derive_seed(run_seed, "herm-part-q", pid, part) % 2]
        specs.append(spec(entry, "part_rec", part, qtype, "part_mc" if qtype == MULTI_CHOICE else "part_tf",
                          pid, variables={"person": person, "region": texts.box(box) if box else ""}, truth=part,
                          pool=PART_DISTRACTORS[part], person=facts))  # fmt: skip
    relations = sorted(facts.objects, key=lambda o: o["id"])
    rng.shuffle(relations)
    for obj in relations[: rules["objects_per_person"]]:
        variables = {"person": person, "category": obj["category"], "object": texts.box(obj["box"])}
        pool = tuple(r for r in rules["object_relations"] if r != obj["relation"])
        qtype = (MULTI_CHOICE, TRUE_OR_FALSE)[derive_seed(run_seed, "herm-object-q", pid, obj["id"]) % 2]
        block = "object_mc" if qtype == MULTI_CHOICE else "object_tf"
        specs.append(spec(entry, "relation", "person_object", qtype, block, (pid, obj["id"]),
                          variables=variables, truth=obj["relation"], pool=pool, person=facts))  # fmt: skip
    return specs
