"""HERM `--synthetic`: people composed from a pose bank and rendered from their skeletons, so
every annotation is known by construction and no photograph is read.

Each scene (one image) takes a seeded number of people in `--people MIN-MAX`, composes them with
`hvgen.conditions.pose_scene` on a canvas of the render size, and becomes the same
`PersonImage` a COCO file gives (keypoints, boxes by the scene's box rule): HERM's question
rules (`levels`, `facts`) then apply unchanged, and the answers follow from the known skeletons
and boxes. No COCO objects or captions exist here, so no person-object relation or scene
caption is asked. The record's `condition` is the pose recipe with every person's keypoints and
the canvas: the render stage draws that skeleton and the ControlNet follows it.
"""

from __future__ import annotations

import random
from array import array
from functools import cached_property
from pathlib import Path
from typing import Any

from hvgen.conditions.pose_bank import PoseBank, load_pose_bank
from hvgen.conditions.pose_scene import PlacedPerson, compose_scene
from hvgen.errors import HvgenError
from hvgen.readers.coco import COCO_KEYPOINTS, CocoImage, CocoPeople, Person, PersonImage
from hvgen.seeding import derive_seed

from . import levels as L

LICENCE = "CC BY 4.0 (rendered by hvgen; the text-to-image model's and ControlNet's own licences also apply)"
POSE_RECIPE = "pose"
DEFAULT_CANVAS = (512, 512)  # when the render size is not known (the render stage then asks for it)
MAX_PEOPLE = 8  # herm.yaml's people_per_image: every person of a scene is asked about


def parse_people_range(min_people: int, max_people: int) -> tuple[int, int]:
    if min_people > max_people:
        raise HvgenError(
            f"--min-people {min_people} is above --max-people {max_people}; give a range with MIN <= MAX."
        )
    return min_people, max_people


def pose_bank_path(templates_dir: Path, poses: str) -> Path:
    return Path(poses).expanduser() if poses else templates_dir / "pose_bank.yaml"


def read_bank(path: Path, given: bool, follow_symlinks: bool) -> PoseBank:
    return load_pose_bank(path, option="--poses" if given else "pose bank", follow_symlinks=follow_symlinks)


def compose_scenes(num: int, run_seed: int, bank: PoseBank, people: tuple[int, int],
                   canvas: tuple[int, int]) -> list[list[PlacedPerson]]:  # fmt: skip
    """`num` scenes; scene i's count and people are drawn from derive_seed(run seed, i)."""
    scenes = []
    for index in range(num):
        rng = random.Random(derive_seed(run_seed, "herm-synthetic-scene", index))
        scenes.append(compose_scene(bank, rng, rng.randint(*people), canvas))
    return scenes


def scene_people(scenes: list[list[PlacedPerson]], canvas: tuple[int, int]) -> CocoPeople:
    """The scenes as the COCO reader's structures (image i+1, person ids 1000·(i+1) + j)."""
    width, height = canvas
    images: dict[int, PersonImage] = {}
    for index, placed in enumerate(scenes):
        image_id = index + 1
        image = CocoImage(image_id, f"synthetic/{index:06d}.png", width, height)
        entry = PersonImage(image)
        for j, person in enumerate(placed):
            values = array("d", [float(v) for point in person.keypoints for v in point])
            box = person.box
            entry.people.append(Person(1000 * image_id + j + 1, image_id, box, box[2] * box[3], False,
                                       COCO_KEYPOINTS, values))  # fmt: skip
        images[image_id] = entry
    people = sum(len(e.people) for e in images.values())
    counts = {"images": len(images), "person_annotations": people, "crowd_regions": 0, "tiny_persons": 0,
              "people": people, "images_planned": len(images)}  # fmt: skip
    return CocoPeople(images=images, licenses={}, counts=counts)


def prompt_variables(placed: list[PlacedPerson], width: int, rules: dict[str, Any], index: int,
                     run_seed: int) -> dict[str, Any]:  # fmt: skip
    """What templates/herm/synthetic.j2 words: the setting and each person's activity and place,
    left to right."""
    settings = rules["synthetic"]["settings"]
    setting = settings[derive_seed(run_seed, "herm-synthetic-setting", index) % len(settings)]
    ordered = sorted(placed, key=lambda p: p.box[0] + p.box[2] / 2)
    people = [{"activity": p.pose.activity, "position": L.horizontal_position(p.box, width)} for p in ordered]
    return {"count": len(placed), "people": people, "setting": setting}


def condition(placed: list[PlacedPerson], canvas: tuple[int, int]) -> dict[str, str]:
    """The record's condition: the pose recipe with every person's 17 [x, y, v] on the canvas."""
    from hvgen.conditions.recipes import condition_field

    return condition_field(POSE_RECIPE, {"people": [p.keypoints for p in placed], "canvas": list(canvas)})


def check_not_mixed(options: dict[str, Any]) -> None:
    """--synthetic renders people; the COCO / photograph options read them: one or the other."""
    photo = [flag for flag, key in (("--coco-keypoints", "coco_keypoints"), ("--coco-instances", "coco_instances"),
             ("--coco-captions", "coco_captions"), ("--images", "images"), ("--annotator", "annotator"),
             ("--grounder", "grounder"), ("--sam", "sam")) if options.get(key)]  # fmt: skip
    if photo:
        raise HvgenError(
            f"--synthetic cannot be combined with {', '.join(photo)}: synthetic people are rendered from pose "
            "conditions, COCO people are read from photographs. Drop them (or --synthetic), or make two runs."
        )


class SyntheticScenes:
    """A --synthetic run's scenes: composed once from (run seed, scene index), read as COCO people."""

    def __init__(self, generator: Any, options: dict[str, Any]) -> None:
        from hvgen import ranges

        check_not_mixed(options)
        self.generator = generator
        low = int(ranges.SCENE_PEOPLE.parse("--min-people", options["min_people"]))
        high = int(ranges.SCENE_PEOPLE.parse("--max-people", options["max_people"]))
        self.people_range = parse_people_range(low, high)
        self.poses_given = bool(options["poses"])
        from hvgen.templating import builtin_template_dir

        self.bank_path = pose_bank_path(builtin_template_dir(generator.name), str(options["poses"]))
        self.bank = read_bank(self.bank_path, self.poses_given, bool(options.get("follow_symlinks")))
        self.canvas = generator.request.image_size or DEFAULT_CANVAS

    @cached_property
    def scenes(self) -> list[list[PlacedPerson]]:
        request = self.generator.request
        return compose_scenes(request.num, request.run_seed, self.bank, self.people_range, self.canvas)

    def people(self) -> CocoPeople:
        return scene_people(self.scenes, self.canvas)

    def image_fields(self, image: CocoImage) -> dict[str, Any]:
        """A scene's record fields: its prompt, pose condition, image id (from both) and licence."""
        generator, index = self.generator, image.id - 1
        placed = self.scenes[index]
        rules = generator.rules
        variables = prompt_variables(placed, self.canvas[0], rules, index, generator.request.run_seed)
        prompt = generator.templates.render("synthetic.j2", variables)
        field = condition(placed, self.canvas)
        image_id = generator.image_id("herm-synthetic", index, prompt, field["params"])
        return {"image_id": image_id, "prompt": prompt, "negative_prompt": rules["synthetic"]["negative_prompt"],
                "license": LICENCE, "license_url": None, "condition": field}  # fmt: skip

    def notes(self, data: CocoPeople) -> list[str]:
        counts = data.counts
        return [
            f"{counts['images']} synthetic scenes of {self.people_range[0]}-{self.people_range[1]} people "
            f"({counts['people']} people) composed on a {self.canvas[0]}x{self.canvas[1]} canvas from "
            f"{len(self.bank.poses)} poses ({self.bank.source}); every answer follows from their known keypoints and boxes."
        ]

    def card(self) -> dict[str, Any]:
        from hvgen.conditions import pose_scene

        return {"poses": len(self.bank.poses), "pose_names": [p.name for p in self.bank.poses][:20],
                "bank_source": self.bank.source, "bank_file": self.bank_path.name if self.poses_given else "",
                "people": list(self.people_range), "canvas": list(self.canvas), "licence": LICENCE,
                "box_pad": pose_scene.BOX_PAD, "max_overlap": pose_scene.MAX_OVERLAP}  # fmt: skip
