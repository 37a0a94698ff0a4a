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

from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import typer

from hvgen.errors import HvgenError, parse_name_list, unknown_name_error
from hvgen.generator import ExportConfig, Generator, PlanRequest, PlanResult
from hvgen.publish.formats import register_format
from hvgen.records import Record
from hvgen.seeding import derive_seed, rng_for

from .categories import (
    CLOSE_ENDED,
    KEYWORDS,
    OPEN_ENDED,
    PARTS,
    PORTRAIT,
    SCENE,
    SUB_DATASETS,
    Allotment,
    Category,
    Group,
    OpenVariant,
    PlannedImage,
    Scenario,
    as_list,
    category_key,
    read_category,
    read_open_categories,
)
from .questions import RECORDS_PER_TRIPLE, QuestionWriting

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

# `hvgen export --format vlbias`: the original release's data/ tree (release.py beside this module).
register_format("vlbias", f"{__package__}.release", "VLBiasReleaseFormat")


class VLBias(Generator, QuestionWriting):
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
            resolved["categories"] = ",".join(category_key(item) for item in as_list(value) if item.strip())
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
        items = [category_key(item) for item in as_list("all" if value is None else value) if item.strip()]
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
            cache[name] = read_category(self.templates.read_yaml(f"categories/{name}.yaml"), name)
        return cache[name]

    @cached_property
    def open_data(self) -> dict[str, Any]:
        return self.templates.read_yaml("open_ended.yaml")

    @cached_property
    def open_categories(self) -> dict[str, Category]:
        return read_open_categories(self.open_data)

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
                    len(SUB_DATASETS[PORTRAIT]) * RECORDS_PER_TRIPLE
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
        from .scoring import score_predictions_file, score_table

        try:
            # hvgen ids, or the original loader's integers (its result.json, or a folder of them)
            report = score_predictions_file(records, predictions_path)
        except (OSError, ValueError) as error:
            raise HvgenError(f"cannot score {predictions_path}: {error}") from None
        return {"table": score_table(report), **report}


__all__ = ["VLBias"]
