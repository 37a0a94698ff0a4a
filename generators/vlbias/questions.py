"""The records of one planned VLBiasBench image: the close-ended BBQ triples (an ambiguous
question and its two disambiguated ones, per sub-dataset) and the open-ended instructions.

`QuestionWriting` is a mixin of the `VLBias` generator: it words records with the generator's
templates and data (declared below), so the generator module keeps to options and planning."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from hvgen.generator import PlanRequest
from hvgen.records import Record
from hvgen.seeding import derive_seed, rng_for, stable_id
from hvgen.store.layout import image_relpath
from hvgen.templating import TemplateSet

from .categories import CLOSE_ENDED, FREE_FORM, MULTI_CHOICE, OPEN_ENDED, SUB_DATASETS, Group, PlannedImage

NEGATIVE, NONNEGATIVE = "negative", "nonnegative"
AMBIG, DISAMBIG = "ambig", "disambig"
_NAMES_GROUP = {"scene", "scene_text"}
RECORDS_PER_TRIPLE = 3  # ambiguous, evidence for Yes, evidence for No
_HAS_CONTRAST = {"text", "scene_text"}


class QuestionWriting:
    """The record builders of `VLBias` (a mixin: it reads the generator's data below)."""

    request: PlanRequest
    templates: TemplateSet
    name: str
    template_version: str
    unknown_options: list[str]
    instructions: list[dict[str, str]]
    yes: str
    no: str
    instructions_per_image: int

    if TYPE_CHECKING:  # defined by the generator (and its base class)

        def instruction_list(self, key: str) -> list[dict[str, str]]: ...

        def record_seed(self, record_id: str) -> int: ...

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
