"""VLBiasBench (Zhang, Cao et al., 2024, arXiv 2406.14194): social-bias questions about synthetic
images of people, in an open-ended part (free answers, scored by sentiment gaps between groups)
and a close-ended part (BBQ-style Yes / No / unknown questions in four sub-datasets).

This module only wires data to the engine: groups and scenarios are in
``templates/vlbias/categories/*.yaml`` and ``open_ended.yaml``, the generation rules in
``vlbias.yaml``, style controls in ``styles.yaml`` and all wording in ``*.j2``. The original
generation code is not public; the record layout follows the released json and evaluation code.

Plan, in short:

* ``--num`` images are dealt to (part, category, group) units so that every group of the plan
  gets the same number of images (±1), at least ``min_images_per_group`` each.
* Close-ended, per group: images alternate between a portrait (serves the Base and Text
  sub-datasets) and a scene image of one of the group's scenarios (Scene and Scene Text). Each
  (image, sub-dataset) gives one BBQ triple: an ambiguous record (answer: the unknown option)
  and two disambiguated ones (the evidence for Yes, the evidence for No). The triple shares one
  option order, so its three answers sit at three different positions: answer positions are
  balanced exactly over any plan. The two sub-datasets of an image ask the question in opposite
  polarities (negative / non-negative; which is which is seeded), rather than both polarities
  each: six questions per image, close to the original's ~5.
* Open-ended, per group: keyword images, each asked a few instructions, dealt in the same
  order for every group of a category so that sentiment gaps are not instruction effects.
  Profession has the original's two sub-sets (``variants`` in open_ended.yaml): an emotion-
  bearing person (``profession-emo``) and the empty workplace (``profession-nohuman``); a
  group's images alternate between them in the same order for every group.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import typer

from hvgen.errors import HvgenError, parse_name_list, unknown_name_error
from hvgen.generator import ExportConfig, Generator, PlanRequest, PlanResult, register_generator
from hvgen.publish.formats import register_format
from hvgen.records import Record
from hvgen.seeding import derive_seed, rng_for, stable_id
from hvgen.store.catalog import image_relpath

CLOSE_ENDED, OPEN_ENDED = "close_ended", "open_ended"
PARTS = (CLOSE_ENDED, OPEN_ENDED)
MULTI_CHOICE, FREE_FORM = "multi choice", "free form"
NEGATIVE, NONNEGATIVE = "negative", "nonnegative"
AMBIG, DISAMBIG = "ambig", "disambig"
PORTRAIT, SCENE, KEYWORDS = "portrait", "scene", "open"
# Which sub-datasets an image serves: (group not named, group named in the context) for the
# sub-dataset without / with a contrast group in the question.
SUB_DATASETS = {PORTRAIT: ("base", "text"), SCENE: ("scene", "scene_text")}
_NAMES_GROUP = {"scene", "scene_text"}
_RECORDS_PER_TRIPLE = 3  # ambiguous, evidence for Yes, evidence for No
_HAS_CONTRAST = {"text", "scene_text"}
QUESTION_CHOICES = {"all": PARTS, "close": (CLOSE_ENDED,), "open": (OPEN_ENDED,)}
QUESTION_ALIASES = {
    "both": "all",
    "close_ended": "close",
    "close-ended": "close",
    "closed": "close",
    "open_ended": "open",
    "open-ended": "open",
}
# Record-level attacks (print: a wrong option drawn on the image; adversarial: pushed away
# from the true option) need options; open-ended questions have none, so those scenarios skip
# them and export no open-ended config.
_SCENARIOS_NEEDING_OPTIONS = {"print", "adversarial"}

# `hvgen export --format vlbias`: the original release's data/ tree (generators/vlbias_release.py).
register_format("vlbias", "hvgen.generators.vlbias_release", "VLBiasReleaseFormat")


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


@register_generator
class VLBias(Generator):
    """VLBiasBench: social-bias questions, open-ended and BBQ-style, over synthetic images of people."""

    name = "vlbias"
    title = "VLBiasBench"
    schema = "vlbias"
    template_version = "vlbias-2"
    default_num = 400
    # Adversarial attacks need answer options a zero-shot classifier can separate; Yes / No /
    # Unknown are not image classes, so that scenario is meaningless here.
    supported_scenarios = ("clean", "corruption", "print")
    stats_columns = ("part", "category", "sub_dataset", "condition", "question_type", "group", "style")
    category_column = "category"

    @staticmethod
    def cli_options(
        categories: Annotated[
            str,
            typer.Option(
                help="Bias categories: 'all' (the 9 single categories) or a comma list, e.g. "
                "'age,gender,race_x_gender'. Open-ended questions exist for gender, race, "
                "religion and profession."
            ),
        ] = "all",
        intersections: Annotated[
            bool,
            typer.Option(
                "--intersections/--no-intersections",
                help="Add the intersectional categories race_x_gender and race_x_ses (close-ended only).",
            ),
        ] = False,
        question: Annotated[
            str,
            typer.Option(
                help="Question part: 'all', 'close' (BBQ-style multiple choice) or 'open' (free answers)."
            ),
        ] = "all",
    ) -> None:
        """VLBiasBench's own options (the engine adds the common ones)."""

    @classmethod
    def resolved_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Categories in one spelling ('SES', 'Disability status' → 'ses', 'disability_status'), so a
        rerun that spells a category differently is the same run."""
        resolved = super().resolved_options(options)
        value = resolved.get("categories")
        if isinstance(value, (str, list)):
            resolved["categories"] = ",".join(_category_key(item) for item in _as_list(value) if item.strip())
        return resolved

    def __init__(self, request: PlanRequest) -> None:
        super().__init__(request)
        options = request.options
        names = list(self.rules["categories"])
        self.selected_categories = self._parse_categories(
            options.get("categories", "all"), names, bool(options.get("intersections", False))
        )
        choice = str(options.get("question", "all")).strip().lower()
        choice = QUESTION_ALIASES.get(choice, choice)
        if choice not in QUESTION_CHOICES:
            raise unknown_name_error("question part", choice, QUESTION_CHOICES)
        self.question = choice
        self.parts = {
            CLOSE_ENDED: self.selected_categories if CLOSE_ENDED in QUESTION_CHOICES[choice] else [],
            OPEN_ENDED: [name for name in self.selected_categories if name in self.open_categories]
            if OPEN_ENDED in QUESTION_CHOICES[choice]
            else [],
        }
        if not any(self.parts.values()):
            raise HvgenError(
                f"no open-ended category selected: open-ended questions exist for "
                f"{', '.join(self.open_categories)}; add one to --categories or use --question all|close."
            )
        if request.num < 1:
            raise HvgenError(f"--num must be at least 1 (got {request.num}).")

    def canonical_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """The selection in one spelling: `categories` 'all' (plus any intersection named) when
        every single category is chosen, `intersections` true when every intersection is, and the
        question part without its aliases — so `--categories` listing every name, or 'ALL', is the
        same run as the default."""
        result = super().canonical_options(options)
        names = list(self.rules["categories"])
        joint = [name for name in names if self.category(name).intersection]
        singles = [name for name in names if name not in joint]
        chosen = set(self.selected_categories)
        every_joint = bool(joint) and set(joint) <= chosen
        listed = [name for name in names if name in chosen and not (every_joint and name in joint)]
        if set(singles) <= chosen:
            listed = ["all", *(name for name in listed if name not in singles)]
        result.update(categories=",".join(listed), intersections=every_joint, question=self.question)
        return result

    def listings(self) -> dict[str, list[str]]:
        return {
            "categories": list(self.rules["categories"]),
            "open-categories": list(self.open_categories),
        }

    def _parse_categories(self, value: Any, names: list[str], intersections: bool) -> list[str]:
        """'all' means the single categories; intersections come when named or with --intersections."""
        aliases = {str(k): str(v) for k, v in (self.rules.get("category_aliases") or {}).items()}
        singles = [name for name in names if not self.category(name).intersection]
        joint = [name for name in names if self.category(name).intersection]
        items = [_category_key(item) for item in _as_list("all" if value is None else value) if item.strip()]
        named = [item for item in items if aliases.get(item, item) != "all"]
        chosen = set(singles) if len(named) < len(items) or not items else set()
        if named:
            chosen |= set(parse_name_list(named, names, "category", aliases=aliases))
        if intersections:
            chosen |= set(joint)
        return [name for name in names if name in chosen]

    # ------------------------------------------------------------------ data
    @cached_property
    def rules(self) -> dict[str, Any]:
        return self.templates.read_yaml("vlbias.yaml")

    def category(self, name: str) -> Category:
        cache: dict[str, Category] = self.__dict__.setdefault("_categories", {})
        if name not in cache:
            cache[name] = _read_category(self.templates.read_yaml(f"categories/{name}.yaml"), name)
        return cache[name]

    @cached_property
    def open_data(self) -> dict[str, Any]:
        return self.templates.read_yaml("open_ended.yaml")

    @cached_property
    def open_categories(self) -> dict[str, Category]:
        result = {}
        for name, block in self.open_data["categories"].items():
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

    @cached_property
    def instructions(self) -> list[dict[str, str]]:
        return self.instruction_list("instructions")

    def instruction_list(self, key: str) -> list[dict[str, str]]:
        """An instruction list of open_ended.yaml (`instructions`, `nohuman_instructions`)."""
        if key not in self.open_data:
            raise HvgenError(f"open_ended.yaml: no instruction list '{key}' (a variant names it).")
        return [{"id": str(i["id"]), "text": str(i["text"])} for i in self.open_data[key]]

    @cached_property
    def emotions(self) -> list[str]:
        return [str(emotion) for emotion in self.open_data.get("emotions") or ()]

    @cached_property
    def styles(self) -> dict[str, dict[str, str]]:
        data = self.templates.read_yaml("styles.yaml")["styles"]
        return {name: {"name": name, **{k: str(v) for k, v in spec.items()}} for name, spec in data.items()}

    @cached_property
    def unknown_options(self) -> list[str]:
        return [str(o) for o in self.templates.read_yaml("unknown_options.yaml")["unknown_options"]]

    @property
    def instructions_per_image(self) -> int:
        return min(int(self.rules.get("open_ended_instructions_per_image", 1)), len(self.instructions))

    @property
    def yes(self) -> str:
        return str(self.rules["answers"]["yes"])

    @property
    def no(self) -> str:
        return str(self.rules["answers"]["no"])

    def _category_of(self, part: str, name: str) -> Category:
        return self.category(name) if part == CLOSE_ENDED else self.open_categories[name]

    # ------------------------------------------------------------------ allocation
    @cached_property
    def allocation(self) -> tuple[list[Allotment], list[str]]:
        """Deal `--num` images to (part, category, group) units, the same number to each (±1).

        Units are interleaved across categories in a seeded order, so when `--num` cannot cover
        every group with `min_images_per_group` images, the groups left out (and the ±1 extras)
        are spread over the categories instead of all falling on the last one.
        """
        seed = self.request.run_seed
        buckets: list[list[tuple[str, str, str]]] = []
        for part in PARTS:
            for name in self.parts[part]:
                ids = [group.id for group in self._category_of(part, name).groups]
                rng_for(seed, "vlbias-group-order", part, name).shuffle(ids)
                buckets.append([(part, name, group_id) for group_id in ids])
        units = [bucket[i] for i in range(max(map(len, buckets))) for bucket in buckets if i < len(bucket)]
        num, minimum = self.request.num, int(self.rules.get("min_images_per_group", 2))
        warnings = []
        if num >= minimum * len(units):
            base, extra = divmod(num, len(units))
            counts = [base + (index < extra) for index in range(len(units))]
        else:
            covered = max(num // minimum, 1)
            counts = [minimum if index < covered else 0 for index in range(len(units))]
            counts[0] += num - minimum * covered  # the remainder (< minimum), or 1 when num < minimum
            warnings.append(
                f"--num {num} covers {covered} of {len(units)} groups with at least {minimum} images each; "
                f"pass --num {minimum * len(units)} or more to plan every group of the selected categories."
            )
        if any(count == 1 for count in counts):
            warnings.append("a group has a single image: its results depend on one picture; raise --num.")
        if self.question == "all" and not self.parts[OPEN_ENDED]:
            warnings.append(
                "no open-ended questions: none of the selected categories has an open-ended part "
                f"(those are {', '.join(self.open_categories)})."
            )
        allotments = [Allotment(*unit, count) for unit, count in zip(units, counts) if count]
        return allotments, warnings

    # ------------------------------------------------------------------ plan
    def plan(self) -> PlanResult:
        allotments, warnings = self.allocation
        records: list[Record] = []
        for allotment in allotments:
            category = self._category_of(allotment.part, allotment.category)
            group = category.group(allotment.group)
            for image in self._images(allotment, category, group):
                if image.part == CLOSE_ENDED:
                    records.extend(self._close_records(image))
                else:
                    records.extend(self._open_records(image))
        return PlanResult(records=records, warnings=warnings)

    def _images(self, allotment: Allotment, category: Category, group: Group) -> list[PlannedImage]:
        seed = self.request.run_seed
        if allotment.part == OPEN_ENDED:
            return self._open_images(allotment, category, group)
        scenarios = category.scenarios_of(group.id)
        if not scenarios:
            raise HvgenError(f"category '{category.name}': group '{group.id}' is in no scenario.")
        rng_for(seed, "vlbias-scenario-order", category.name, group.id).shuffle(scenarios)
        # Portraits and scene images alternate; which comes first is seeded, so odd counts do
        # not always favour the same sub-datasets. Portrait k and scene image k share scenario k.
        first = derive_seed(seed, "vlbias-first-kind", category.name, group.id) % 2
        images, made = [], {PORTRAIT: 0, SCENE: 0}
        for j in range(allotment.images):
            kind = (PORTRAIT, SCENE)[(j + first) % 2]
            k = made[kind]
            made[kind] += 1
            scenario = scenarios[k % len(scenarios)]
            if kind == PORTRAIT:
                image = self._image(CLOSE_ENDED, category, group, kind, None, k)
                image.scenario = scenario  # the portrait does not show it; its questions use it
            else:
                image = self._image(CLOSE_ENDED, category, group, kind, scenario, k // len(scenarios))
            images.append(image)
        return images

    def _open_images(self, allotment: Allotment, category: Category, group: Group) -> list[PlannedImage]:
        """Keyword images; a category with variants alternates between them from a per-category
        seeded start, and deals emotions in a per-category seeded order, so every group of the
        category gets the same mix."""
        seed = self.request.run_seed
        if not category.variants:
            images = []
            for j in range(allotment.images):
                image = self._image(OPEN_ENDED, category, group, KEYWORDS, None, j)
                image.open_type, image.deal = category.original_type, j
                images.append(image)
            return images
        variants = category.variants
        first = derive_seed(seed, "vlbias-first-variant", category.name) % len(variants)
        emotions = list(self.emotions)
        if not emotions and any(variant.emotion for variant in variants):
            raise HvgenError(
                f"open_ended.yaml: category '{category.name}' has an emotion variant but no `emotions`."
            )
        rng_for(seed, "vlbias-emotion-order", category.name).shuffle(emotions)
        images, made = [], dict.fromkeys((v.name for v in variants), 0)
        for j in range(allotment.images):
            variant = variants[(j + first) % len(variants)]
            k = made[variant.name]
            made[variant.name] += 1
            emotion = emotions[k % len(emotions)] if variant.emotion else None
            image = self._image(OPEN_ENDED, category, group, KEYWORDS, None, j, variant, emotion)
            image.open_type, image.open_variant, image.emotion, image.deal = (
                variant.original_type,
                variant,
                emotion,
                k,
            )
            images.append(image)
        return images

    def _image(
        self,
        part: str,
        category: Category,
        group: Group,
        kind: str,
        scenario: Scenario | None,
        variant: int,
        open_variant: OpenVariant | None = None,
        emotion: str | None = None,
    ) -> PlannedImage:
        """One image: variants of the same descriptor rotate through the styles from a seeded
        offset, and differ in seed even when their prompts coincide."""
        seed = self.request.run_seed
        scenario_id = scenario.id if scenario else ""
        names = list(self.styles)
        offset = derive_seed(seed, "vlbias-style", part, category.name, group.id, kind, scenario_id)
        style = self.styles[names[(offset + variant) % len(names)]]
        variables: dict[str, Any] = {
            "style": style,
            "portrait": group.portrait,
            "scene": scenario.scene if scenario else "",
            "keywords": list(group.keywords),
            "workplace": list(group.workplace),
            "emotion": emotion or "",
            "no_people": bool(open_variant and open_variant.no_people),
        }
        if open_variant is not None:
            block = open_variant.prompt
        else:
            block = {PORTRAIT: "base", SCENE: "scene", KEYWORDS: "open"}[kind]
        prompt = self.templates.render("prompts.j2", variables, block=block)
        negative = self.templates.render("prompts.j2", variables, block="negative_prompt")
        image_id = self.image_id(part, category.name, group.id, kind, scenario_id, variant, prompt, negative)
        return PlannedImage(
            part=part,
            category=category,
            group=group,
            kind=kind,
            scenario=scenario,
            variant=variant,
            style=style,
            prompt=prompt,
            negative_prompt=negative,
            image_id=image_id,
            image_seed=self.image_seed(image_id),
        )

    # ------------------------------------------------------------------ close-ended
    def _close_records(self, image: PlannedImage) -> list[Record]:
        """Two sub-datasets per image, one BBQ triple (ambig, evidence for Yes, evidence for No)
        each. The two sub-datasets get opposite question polarities (which one is negative is
        seeded), so every image carries three negative and three non-negative questions."""
        seed = self.request.run_seed
        assert image.scenario is not None
        flip = derive_seed(seed, "vlbias-polarity", image.image_id) % 2
        records = []
        for index, sub_dataset in enumerate(SUB_DATASETS[image.kind]):
            polarity = (NEGATIVE, NONNEGATIVE)[(index + flip) % 2]
            rng = rng_for(seed, "vlbias-question", image.image_id, sub_dataset)
            records.extend(self._triple(image, sub_dataset, polarity, rng))
        return records

    def _triple(
        self, image: PlannedImage, sub_dataset: str, polarity: str, rng: random.Random
    ) -> list[Record]:
        """The ambiguous record and the two disambiguated ones of one question.

        `stereotyped_answer` (BBQ's biased answer, read by the scorer): for a group the
        scenario's stereotype targets, "Yes" to the negative question ("Did the person
        struggle?") and "No" to the non-negative one; the reverse for the other groups. The
        three records share the question, the unknown phrase and the option order, so their
        answers (unknown, Yes, No) take three different positions.
        """
        scenario, group = image.scenario, image.group
        assert scenario is not None
        is_target = group.id in scenario.target_groups
        contrast: Group | None = None
        if sub_dataset in _HAS_CONTRAST:
            # The contrast group sits on the other side of the stereotype, so the comparison
            # carries it: "Compared with the teenager, did the elderly person struggle?"
            pool = scenario.other_groups if is_target else scenario.target_groups
            contrast = image.category.group(rng.choice(sorted(pool)))
        unknown = rng.choice(self.unknown_options)
        options = [self.yes, self.no, unknown]
        rng.shuffle(options)
        # evidence_yes says the negative behaviour happened, evidence_no that it did not
        behaviour_answer, no_behaviour_answer = (
            (self.yes, self.no) if polarity == NEGATIVE else (self.no, self.yes)
        )
        stereotyped = behaviour_answer if is_target else no_behaviour_answer
        question_text = scenario.question_negative if polarity == NEGATIVE else scenario.question_nonnegative
        question = self.templates.render(
            "questions.j2",
            {"question": question_text, "contrast_label": contrast.label if contrast else ""},
            block="question",
        )
        records = []
        for condition, evidence_key, answer in (
            (AMBIG, "none", unknown),
            (DISAMBIG, "yes", behaviour_answer),
            (DISAMBIG, "no", no_behaviour_answer),
        ):
            evidence = {"none": "", "yes": scenario.evidence_yes, "no": scenario.evidence_no}[evidence_key]
            context = self.templates.render(
                "questions.j2",
                {
                    "group_named": sub_dataset in _NAMES_GROUP,
                    "label": group.label,
                    "context": scenario.context,
                    "evidence": evidence,
                },
                block="context",
            )
            instruction = self.templates.render(
                "instructions.j2",
                {"context": context, "question": question, "options": options},
                block=CLOSE_ENDED,
                one_line=False,
            )
            record_id = stable_id("vlbias", image.image_id, sub_dataset, condition, evidence_key)
            # A print attack draws the foil: in an ambiguous context the stereotyped answer (a
            # wrong answer that also tempts towards bias), otherwise the opposite answer.
            foil = stereotyped if condition == AMBIG else (self.no if answer == self.yes else self.yes)
            records.append(
                {
                    **self._common(image, record_id),
                    "question": question,
                    "instruction": instruction,
                    "question_type": MULTI_CHOICE,
                    "options": list(options),
                    "answer": answer,
                    "answer_index": options.index(answer),
                    "truth": answer,
                    "foil": foil,
                    "groups": [group.id, contrast.id] if contrast else [group.id],
                    "group_role": "target" if is_target else "other",
                    "sub_dataset": sub_dataset,
                    "condition": condition,
                    "question_polarity": polarity,
                    "scenario_id": scenario.id,
                    "stereotype": scenario.stereotype,
                    "context": context,
                    "unknown_option": unknown,
                    "stereotyped_answer": stereotyped,
                    # The released json's answer fields, as its evaluation code reads them
                    # (ans2 is the unknown option there).
                    "ans0": self.yes,
                    "ans1": self.no,
                    "ans2": unknown,
                    "label": [self.yes, self.no, unknown].index(answer),
                    "instruction_id": None,
                    "open_type": None,
                    "emotion": None,
                }
            )
        return records

    # ------------------------------------------------------------------ open-ended
    def _open_records(self, image: PlannedImage) -> list[Record]:
        """`instructions_per_image` instructions, dealt from the image's list (its variant's,
        or `instructions`) in one seeded order per category (and variant)."""
        variant = image.open_variant
        order = self.instruction_list(variant.instructions) if variant else list(self.instructions)
        per_image = min(self.instructions_per_image, len(order))
        key = ("vlbias-instruction-order", image.category.name) + ((variant.name,) if variant else ())
        rng_for(self.request.run_seed, *key).shuffle(order)
        records = []
        for t in range(per_image):
            chosen = order[(per_image * image.deal + t) % len(order)]
            record_id = stable_id("vlbias", image.image_id, chosen["id"])
            instruction = self.templates.render(
                "instructions.j2", {"instruction": chosen["text"]}, block=OPEN_ENDED, one_line=False
            )
            records.append(
                {
                    **self._common(image, record_id),
                    "question": chosen["text"],
                    "instruction": instruction,
                    "question_type": FREE_FORM,
                    "options": [],
                    "answer": None,
                    "answer_index": None,
                    "truth": None,
                    "foil": None,
                    "groups": [image.group.id],
                    "group_role": None,
                    "sub_dataset": None,
                    "condition": None,
                    "question_polarity": None,
                    "scenario_id": None,
                    "stereotype": None,
                    "context": None,
                    "unknown_option": None,
                    "stereotyped_answer": None,
                    "ans0": None,
                    "ans1": None,
                    "ans2": None,
                    "label": None,
                    "instruction_id": chosen["id"],
                    "open_type": image.open_type,
                    "emotion": image.emotion,
                }
            )
        return records

    def _common(self, image: PlannedImage, record_id: str) -> Record:
        """Fields every record has, whatever its part."""
        return {
            "id": record_id,
            "image_id": image.image_id,
            "images": [image_relpath(image.image_id)],
            "prompt": image.prompt,
            "negative_prompt": image.negative_prompt,
            "style": image.style["name"],
            "style_control": image.style["suffix"],
            "part": image.part,
            "category": image.category.name,
            "group": image.group.id,
            "image_kind": image.kind,
            "seed": self.record_seed(record_id),
            "image_seed": image.image_seed,
            "generator": self.name,
            "template_version": self.template_version,
        }

    # ------------------------------------------------------------------ export, card, score
    def export_configs(self, scenarios: list[str]) -> list[ExportConfig]:
        """`close_ended` / `open_ended` for the clean images, `<scenario>_<part>` for the others."""
        configs = []
        for scenario in scenarios:
            for part in PARTS:
                if not self.parts[part]:
                    continue
                if part == OPEN_ENDED and scenario in _SCENARIOS_NEEDING_OPTIONS:
                    continue
                name = part if scenario == "clean" else f"{scenario}_{part}"
                configs.append(ExportConfig(name=name, scenario=scenario, where=f"part = '{part}'"))
        return configs

    def card_context(self) -> dict[str, Any]:
        allotments, warnings = self.allocation
        rows = []
        for part in PARTS:
            for name in self.parts[part]:
                counts = [a.images for a in allotments if a.part == part and a.category == name]
                category = self._category_of(part, name)
                per_image = (
                    len(SUB_DATASETS[PORTRAIT]) * _RECORDS_PER_TRIPLE
                    if part == CLOSE_ENDED
                    else self.instructions_per_image
                )
                rows.append(
                    {
                        "part": part,
                        "category": name,
                        "title": category.title,
                        "groups": len(category.groups),
                        "groups_planned": len(counts),
                        "images": sum(counts),
                        "images_per_group": f"{min(counts)}–{max(counts)}" if counts else "0",
                        "questions": sum(counts) * per_image,
                    }
                )
        return {
            "categories": rows,
            "parts": [part for part in PARTS if self.parts[part]],
            "styles": list(self.styles),
            "allocation_warnings": warnings,
            "open_ended_instructions": len(self.instructions),
        }

    @classmethod
    def score(
        cls, records: list[Record], predictions_path: Path, embedder: str | None = None
    ) -> dict[str, Any]:
        """BBQ accuracy and bias per category × sub-dataset, VADER sentiment gaps per open category
        (free answers are scored by sentiment, so `embedder` is not used)."""
        try:
            from hvgen.generators.vlbias_scoring import score_predictions_file
        except ModuleNotFoundError:  # a checkout imported without installing
            from generators.vlbias_scoring import score_predictions_file  # type: ignore[no-redef]

        try:
            # hvgen ids, or the original loader's integers (its result.json, or a folder of them)
            report = score_predictions_file(records, predictions_path)
        except (OSError, ValueError) as error:
            raise HvgenError(f"cannot score {predictions_path}: {error}") from None
        return {"table": _score_table(report), **report}


def _score_table(report: dict[str, Any]) -> list[dict[str, Any]]:
    """One flat row per category × sub-dataset (plus per-category and overall rows), then one
    row per open-ended category with its largest sentiment gap; every row has the same keys."""

    def row(
        part: str, category: str, sub_dataset: str, metrics: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        metrics = metrics or {}
        return {
            "part": part,
            "category": category,
            "sub_dataset": sub_dataset,
            "acc_ambig": metrics.get("acc_ambig"),
            "acc_disambig": metrics.get("acc_disambig"),
            "bias_ambig": metrics.get("bias_ambig"),
            "bias_disambig": metrics.get("bias_disambig"),
            "sentiment_gap": None,
            "n": metrics.get("n_ambig", 0) + metrics.get("n_disambig", 0),
        }

    close = report["close_ended"]
    rows = []
    for category, by_sub in close["by_category_and_sub_dataset"].items():
        for sub_dataset, metrics in by_sub.items():
            rows.append(row(CLOSE_ENDED, category, sub_dataset, metrics))
        rows.append(row(CLOSE_ENDED, category, "all", close["by_category"][category]))
    if close["n_scored"]:
        rows.append(row(CLOSE_ENDED, "all", "all", close["overall"]))
    for category, result in report["open_ended"]["by_category"].items():
        open_row = row(OPEN_ENDED, category, "-")
        open_row["sentiment_gap"] = result["max_gap"]
        open_row["n"] = sum(group["n"] for group in result["groups"].values())
        rows.append(open_row)
    return rows


def _category_key(name: str) -> str:
    """A category as the README and the paper spell it ('disability status', 'SES', 'race × gender',
    'Physical-Appearance') → its file name ('disability_status', 'ses', 'race_x_gender')."""
    key = name.strip().lower().replace("×", " x ")
    return re.sub(r"[\s\-]+", "_", key)


def _as_list(value: Any) -> list[str]:
    return [v.strip() for v in value.split(",")] if isinstance(value, str) else [str(v) for v in value]


def _read_category(data: dict[str, Any], name: str) -> Category:
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


__all__ = ["VLBias"]
