"""Per-person facts of one image and the referring expressions that single a person out: the
level rules of `levels` applied to a COCO image's people and objects."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from hvgen.readers.coco import Person, PersonImage
from hvgen.seeding import derive_seed

from . import levels as L


@dataclass
class Facts:
    """What the annotations decide about one person (None: undecided)."""

    person: Person
    box: tuple[float, float, float, float]  # normalised
    size: str
    position: str
    occlusion: str | None
    pose: str | None
    arms: str | None
    facing: str | None
    parts: Mapping[str, tuple[float, float, float, float]]  # normalised part boxes (`PartBoxes`)
    objects: list[dict[str, Any]] = field(default_factory=list)  # {relation, category, box}


class PartBoxes(Mapping[str, tuple[float, float, float, float]]):
    """A person's visible parts → normalised part boxes. Which parts are visible is known at once;
    a box is rounded and normalised when first read: a plan asks about one or two parts of a
    person, and the deal pass (ids only) about none."""

    __slots__ = ("_corners", "_boxes", "_size")

    def __init__(
        self, corners: dict[str, tuple[float, float, float, float]], width: int, height: int
    ) -> None:
        self._corners = corners  # part -> clipped pixel corners (`levels.part_corners`)
        self._boxes: dict[str, tuple[float, float, float, float]] = {}
        self._size = (width, height)

    def __getitem__(self, part: str) -> tuple[float, float, float, float]:
        box = self._boxes.get(part)
        if box is None:
            box = self._boxes[part] = L.normalise_box(L.rounded_box(self._corners[part]), *self._size)
        return box

    def __iter__(self) -> Iterator[str]:
        return iter(self._corners)

    def __len__(self) -> int:
        return len(self._corners)

    def __repr__(self) -> str:
        return f"PartBoxes({dict(self)!r})"


def person_facts(entry: PersonImage, rules: dict[str, Any]) -> list[Facts]:
    """Facts of the people asked about (the largest `people_per_image`), left to right;
    `rules` are herm.yaml's (object categories by relation)."""
    width, height = entry.image.width, entry.image.height
    people = sorted(entry.people, key=lambda p: (-p.bbox[2] * p.bbox[3], p.id))[: rules["people_per_image"]]
    result = []
    for person in people:
        kp = person.keypoints
        pose = L.pose_class(kp)
        seen = L.visible_keypoints(kp)
        corners = {}
        for part in L.PARTS:
            found = L.part_corners(part, seen, kp, person.bbox, width, height)
            if found is not None:
                corners[part] = found
        facts = Facts(
            person=person,
            box=L.normalise_box(person.bbox, width, height),
            size=L.size_class(person.bbox),
            position=L.horizontal_position(person.bbox, width),
            occlusion=L.occlusion(kp),
            pose=pose,
            arms=L.arms_raised(kp),
            facing=L.facing(kp),
            parts=PartBoxes(corners, width, height),
        )
        for obj in entry.objects:
            relation = L.object_relation(person.bbox, kp, pose, obj.category, obj.bbox, rules)
            if relation is not None:
                facts.objects.append(
                    {
                        "relation": relation,
                        "category": obj.category,
                        "box": L.normalise_box(obj.bbox, width, height),
                        "id": obj.id,
                    }  # fmt: skip
                )
        result.append(facts)
    return sorted(result, key=lambda f: (f.box[0] + f.box[2] / 2, f.person.id))


def referring_expressions(people: list[Facts], render: Callable[..., str], run_seed: int) -> dict[int, str]:
    """One expression per person that names them alone among everyone in the image (only
    called when every person of the image is annotated and asked about). `render(block, **vars)`
    words an expression from templates/herm/expressions.j2."""
    found: dict[int, list[str]] = defaultdict(list)
    if len(people) == 1:
        found[people[0].person.id].append(render("only"))
    else:
        ordered = sorted(people, key=lambda f: f.box[0] + f.box[2] / 2)
        if all(L.left_of(ordered[0].person.bbox, f.person.bbox) for f in ordered[1:]):
            found[ordered[0].person.id].append(render("leftmost"))
        if all(L.left_of(f.person.bbox, ordered[-1].person.bbox) for f in ordered[:-1]):
            found[ordered[-1].person.id].append(render("rightmost"))
        areas = sorted(people, key=lambda f: -f.person.bbox[2] * f.person.bbox[3])
        area = lambda f: f.person.bbox[2] * f.person.bbox[3]  # noqa: E731
        if area(areas[0]) > 1.5 * area(areas[1]):
            found[areas[0].person.id].append(render("largest"))
        for aspect in ("pose", "arms"):
            values = [getattr(f, aspect) for f in people]
            if None in values:
                continue
            for f in people:
                if values.count(getattr(f, aspect)) == 1 and getattr(f, aspect) != "neither arm":
                    found[f.person.id].append(render(aspect, value=getattr(f, aspect)))
        pairs = defaultdict(list)
        for f in people:
            for o in f.objects:
                if o["relation"] != "near":
                    pairs[(o["relation"], o["category"])].append(f.person.id)
        for (relation, category), ids in sorted(pairs.items()):
            if len(set(ids)) == 1:
                found[ids[0]].append(render("object", relation=relation, category=category))
    chosen = {}
    for person_id, options in found.items():
        rng = random.Random(derive_seed(run_seed, "herm-expression", person_id))
        chosen[person_id] = rng.choice(sorted(set(options)))
    return chosen
