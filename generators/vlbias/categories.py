"""VLBiasBench's data model: the categories, groups and scenarios read from the template data
(``templates/vlbias/categories/*.yaml``, ``open_ended.yaml``), and the images a plan deals to
the groups. Reading only: no randomness, no wording."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hvgen.errors import HvgenError

CLOSE_ENDED, OPEN_ENDED = "close_ended", "open_ended"
PARTS = (CLOSE_ENDED, OPEN_ENDED)
MULTI_CHOICE, FREE_FORM = "multi choice", "free form"  # the question type of each part
PORTRAIT, SCENE, KEYWORDS = "portrait", "scene", "open"
# Which sub-datasets an image serves: (group not named, group named in the context) for the
# sub-dataset without / with a contrast group in the question.
SUB_DATASETS = {PORTRAIT: ("base", "text"), SCENE: ("scene", "scene_text")}


@dataclass(frozen=True)
class Group:
    id: str
    label: str
    portrait: str
    keywords: tuple[str, ...] = ()
    workplace: tuple[str, ...] = ()


@dataclass(frozen=True)
class OpenVariant:
    """One open-ended sub-set of a category (profession's emo / nohuman in the original)."""

    name: str
    original_type: str
    prompt: str
    instructions: str
    emotion: bool = False  # the prompt shows one of open_ended.yaml's `emotions`
    no_people: bool = False  # the image must show nobody (people go into the negative prompt)


@dataclass(frozen=True)
class Scenario:
    """One BBQ-style template: a stereotype, the groups it targets and its texts."""

    id: str
    stereotype: str
    target_groups: tuple[str, ...]
    other_groups: tuple[str, ...]
    scene: str
    context: str
    evidence_yes: str
    evidence_no: str
    question_negative: str
    question_nonnegative: str


@dataclass(frozen=True)
class Category:
    name: str
    title: str
    intersection: bool
    groups: tuple[Group, ...]
    scenarios: tuple[Scenario, ...] = ()
    # Open-ended only: the original release's type name (its folder / annotation file), and the
    # sub-sets the category's images are split into (none: one set named `original_type`).
    original_type: str = ""
    variants: tuple[OpenVariant, ...] = ()

    def group(self, group_id: str) -> Group:
        return next(group for group in self.groups if group.id == group_id)

    def scenarios_of(self, group_id: str) -> list[Scenario]:
        return [s for s in self.scenarios if group_id in s.target_groups or group_id in s.other_groups]


@dataclass(frozen=True)
class Allotment:
    """How many images one group of one category gets in one part."""

    part: str
    category: str
    group: str
    images: int


@dataclass
class PlannedImage:
    part: str
    category: Category
    group: Group
    kind: str
    scenario: Scenario | None
    variant: int
    style: dict[str, str]
    prompt: str
    negative_prompt: str
    image_id: str
    image_seed: int
    # Open-ended: the original type the image belongs to, the variant that built it, the
    # emotion it shows (profession-emo) and its index among its variant's images (instructions
    # are dealt by it).
    open_type: str | None = None
    open_variant: OpenVariant | None = None
    emotion: str | None = None
    deal: int = 0


def read_open_categories(open_data: dict[str, Any]) -> dict[str, Category]:
    """open_ended.yaml's `categories` → Category per open-ended category (groups with their
    keywords and workplaces, and the sub-sets its images are split into)."""
    result = {}
    for name, block in open_data["categories"].items():
        groups = tuple(
            Group(
                g["id"],
                g["label"],
                g["portrait"],
                tuple(str(k) for k in g["keywords"]),
                tuple(str(w) for w in g.get("workplace") or ()),
            )
            for g in block["groups"]
        )
        variants = tuple(
            OpenVariant(
                name=str(variant),
                original_type=str(spec["original_type"]),
                prompt=str(spec["prompt"]),
                instructions=str(spec["instructions"]),
                emotion=bool(spec.get("emotion", False)),
                no_people=bool(spec.get("no_people", False)),
            )
            for variant, spec in (block.get("variants") or {}).items()
        )
        result[name] = Category(
            name,
            block.get("title", name),
            False,
            groups,
            original_type=str(block.get("original_type", name)),
            variants=variants,
        )
    return result


def category_key(name: str) -> str:
    """A category as the README and the paper spell it ('disability status', 'SES', 'race × gender',
    'Physical-Appearance') → its file name ('disability_status', 'ses', 'race_x_gender')."""
    key = name.strip().lower().replace("×", " x ")
    return re.sub(r"[\s\-]+", "_", key)


def as_list(value: Any) -> list[str]:
    return [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v) for v in value]


def read_category(data: dict[str, Any], name: str) -> Category:
    """A close-ended category file → Category (tests/test_vlbias_data.py checks the files' shape)."""
    try:
        groups = tuple(Group(g["id"], g["label"], g["portrait"]) for g in data["groups"])
        scenarios = tuple(
            Scenario(
                id=s["id"],
                stereotype=s["stereotype"],
                target_groups=tuple(s["target_groups"]),
                other_groups=tuple(s["other_groups"]),
                scene=s["scene"],
                context=s["context"],
                evidence_yes=s["evidence_yes"],
                evidence_no=s["evidence_no"],
                question_negative=s["question_negative"],
                question_nonnegative=s["question_nonnegative"],
            )
            for s in data["scenarios"]
        )
    except (KeyError, TypeError) as error:
        raise HvgenError(f"categories/{name}.yaml: missing or malformed key {error}.") from None
    known = {group.id for group in groups}
    for scenario in scenarios:
        unknown = set(scenario.target_groups + scenario.other_groups) - known
        if unknown:
            raise HvgenError(
                f"categories/{name}.yaml: scenario '{scenario.id}' names unknown group(s) {sorted(unknown)}."
            )
    return Category(
        name=name,
        title=str(data.get("title", name)),
        intersection=data.get("kind") == "intersection",
        groups=groups,
        scenarios=scenarios,
    )
