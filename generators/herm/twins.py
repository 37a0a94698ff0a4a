"""Twins of HERM's photographs (`hvgen twins` on a HERM release): the released question asked of a
person (or image) of another COCO photograph, with the same task, level, aspect, question kind
and the same answer.

The stratum of a question: task, aspect, question kind and wording block, and its answer class —
the value a choice names (a pose, a part, a person-object relation, a count of people), the fact a
true/false question states (left of, in front of, overlapping: its truth), the number of options
of a "nearest person" question (boxes: image-specific). The twin keeps the released options and
answer position where they are values (the same value has the same distractors), the statement a
true/false question makes (the same value, or the same wrong value), and the answer position of a
box choice; its question names its own person's box. Grounding, description and conversation
questions are paired by task and aspect (their answers are the twin photograph's own). No released
image is a twin; each twin image serves one released image.
"""

from __future__ import annotations

import random
from typing import Any

from hvgen.errors import HvgenError
from hvgen.photo_twins import Candidate, Pairing, Wanted, described, pair_photographs
from hvgen.readers.coco import read_people
from hvgen.records import Record
from hvgen.seeding import derive_seed, stable_id

from .photos import add_masks, image_problem
from .questions import MULTI_CHOICE, TRUE_OR_FALSE, Spec

SOURCE_OPTIONS = {"coco_keypoints": "--coco-keypoints FILE", "images": "--images DIR"}
OPTIONAL_SOURCES = {"coco_instances": "person-object relations", "coco_captions": "scene captions"}


def twin_options(released: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The release's options with the user's COCO files and image folder: the same kinds of file
    the release was made from, or a one-line refusal."""
    known = {*SOURCE_OPTIONS, *OPTIONAL_SOURCES}
    unknown = sorted(key for key, value in given.items() if value and key not in known)
    if unknown:
        raise HvgenError(
            f"--{unknown[0].replace('_', '-')} is not a HERM option; its photographs come from --coco-keypoints and --images."
        )
    missing = [flag for key, flag in SOURCE_OPTIONS.items() if not given.get(key)]
    if missing:
        raise HvgenError(
            f"twins of HERM photographs need the release's COCO data: pass {' and '.join(missing)} (as given to "
            "`hvgen herm`, and --coco-instances / --coco-captions where the release had them)."
        )
    for key, what in OPTIONAL_SOURCES.items():
        flag = "--" + key.replace("_", "-")
        if bool(released.get(key)) and not given.get(key):
            raise HvgenError(f"{flag} is missing: the release was made with it ({what}); pass the same file.")
        if given.get(key) and not released.get(key):
            raise HvgenError(
                f"{flag}: the release was made without it; leave it out, or the {what} would differ."
            )
    return {**released, **{key: str(given.get(key) or "") for key in known}}


def herm_twins(generator: Any, released: list[Record], seed: int) -> Pairing:
    """Pair every released question with one about another photograph (see the module docstring);
    `generator` is the twin run's Herm, built with the user's COCO files."""
    data = read_people(
        generator.keypoints_path, generator.instances_path, generator.captions_path, generator.min_area
    )
    specs: dict[str, Spec] = {}
    released_coco: set[int] = set()
    for coco_id in sorted({int(record["coco_image_id"]) for record in released}):
        entry = data.images.get(coco_id)
        if entry is None:
            raise HvgenError(
                f"--coco-keypoints {generator.keypoints_path.name}: the release's image {coco_id} is not in it (or has "
                "no person): pass the annotations the release was made from."
            )
        released_coco.add(coco_id)
        specs |= {spec.id: spec for spec in generator._image_specs(entry)}
    for record in released:
        if (
            record["id"] not in specs
            or data.images[int(record["coco_image_id"])].image.file_name != record["file_name"]
        ):
            raise HvgenError(
                f"question {record['id']} ({record['file_name']}): these annotations do not ask it as the release did; "
                "pass the release's --coco-* files (its other settings come from its configuration)."
            )
    folder = generator.images_folder()
    verdicts: dict[int, bool] = {}
    masker = None

    def candidates() -> Any:
        for coco_id in sorted(data.images):
            entry = data.images[coco_id]
            if coco_id in released_coco or not entry.people:
                continue
            image_id = stable_id("herm-image", entry.image.id, entry.image.file_name)
            for spec in generator._image_specs(entry):
                yield Candidate(spec.id, _stratum(spec), (image_id,), (), spec)

    def usable(candidate: Candidate) -> bool:
        entry = candidate.payload.image
        if entry.image.id not in verdicts:
            verdicts[entry.image.id] = image_problem(generator, folder, entry) is None
        return verdicts[entry.image.id]

    def make(item: Wanted, candidate: Candidate) -> Record | None:
        nonlocal masker
        record, ours, spec = item.record, specs[item.record["id"]], candidate.payload
        dealt = _dealt_like(generator, record, ours, spec, seed)
        if dealt is None:
            return None
        if spec.answer_box is not None and generator.sam:
            from .masks import SamMasker

            masker = masker or SamMasker(generator.sam)
            add_masks(generator, masker, spec.image, [spec])
        twin = generator.worded(spec, *dealt, data)
        return {**twin, "id": record["id"], "seed": record["seed"]}

    wanted = [Wanted(r, _stratum(specs[r["id"]]), _described(specs[r["id"]], r)) for r in released]
    return pair_photographs(wanted, candidates(), seed, released_images={str(r["image_id"]) for r in released},
                            released_people=set(), make=make, usable=usable)  # fmt: skip


def _stratum(spec: Spec) -> tuple[Any, ...]:
    """Task, aspect, kind, block and answer class (see the module docstring)."""
    base = (spec.task, spec.aspect, spec.question_type, spec.block)
    if spec.question_type == MULTI_CHOICE:
        return (*base, "box", min(3, len(spec.pool)) + 1) if spec.aspect == "nearest" else (*base, spec.truth)
    if spec.question_type == TRUE_OR_FALSE:
        return (*base, spec.truth or spec.answer)
    if spec.conversation:
        return (*base, len(spec.conversation))
    return base


def _described(spec: Spec, record: Record) -> str:
    words = [("task", spec.task), ("level", record["level"]), ("aspect", spec.aspect),
             ("question", spec.question_type)]  # fmt: skip
    if spec.question_type == MULTI_CHOICE:
        words.append(
            (
                "answer",
                f"a box, option {record['answer_index'] + 1}" if spec.aspect == "nearest" else spec.truth,
            )
        )
    elif spec.question_type == TRUE_OR_FALSE:
        words += [("value", spec.truth)] * bool(spec.truth) + [("answer", record["answer"])]
    return described(words)


def _dealt_like(
    generator: Any, record: Record, ours: Spec, spec: Spec, seed: int
) -> tuple[dict[str, Any], list[str], str] | None:
    """(variables, options, answer) of `spec` dealt as the released question was, or None if it
    cannot be (a value the twin's distractors do not hold)."""
    variables = dict(spec.variables)
    if spec.question_type == MULTI_CHOICE:
        size = len(record["options"])
        if spec.aspect == "nearest":  # boxes: the twin's own, the right one where the release had it
            if len(spec.pool) < size - 1:
                return None
            wrong = random.Random(derive_seed(seed, "photo-twin-options", record["id"])).sample(
                spec.pool, size - 1
            )
            position = int(record["answer_index"])
            return variables, wrong[:position] + [spec.truth] + wrong[position:], spec.truth
        if spec.truth != ours.truth or not set(record["options"]) - {spec.truth} <= set(spec.pool):
            return None
        return variables, list(record["options"]), spec.truth
    if spec.question_type == TRUE_OR_FALSE:
        if spec.truth:  # a statement about a value: the same value, or the same wrong one
            item = spec.truth if record["answer"] == "True" else _stated(generator, ours, record)
            if item is None or (item != spec.truth and item not in spec.pool):
                return None
            variables["item"] = item
        elif spec.answer != record["answer"]:
            return None
        return variables, ["True", "False"], record["answer"]
    return variables, [], spec.answer


def _stated(generator: Any, spec: Spec, record: Record) -> str | None:
    """The wrong value a released false statement names (the pool value its question words)."""
    for value in spec.pool:
        if (
            generator.templates.render("questions.j2", {**spec.variables, "item": value}, block=spec.block)
            == record["question"]
        ):
            return value
    return None
