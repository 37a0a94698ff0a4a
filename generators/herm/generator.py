"""HERM-100K (Li et al., 2024, arXiv 2410.06777): human-centric questions at several levels —
image, instance, part and relation — from COCO-format people (photographs the supply stage copies)
or, with --synthetic, from people composed of pose skeletons and rendered through a ControlNet.

HERM's data is unreleased; its code fixes the structure this generator follows: the task names
(`dense_caption`, `inst_rec`, `part_rec`, `pose`, `relation`), [x, y, w, h] boxes, MiniGPT-v2's
`{<x1><y1><x2><y2>}` box text on a 0-100 grid, four-option multiple choice and grounding scored
at IoU > 0.5. Every fact is computed from the annotations by the rules in `levels`
(nothing is guessed); a fact the annotations do not decide gets no question.

This module only wires data to the engine: rules in ``templates/herm/herm.yaml``, wording in ``*.j2``.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import typer

from hvgen import ranges
from hvgen.errors import HvgenError
from hvgen.generator import ExportConfig, Generator, ItemRecords, PlanRequest, PlanResult
from hvgen.privacy import public_value
from hvgen.publish.formats import register_format
from hvgen.readers.coco import CocoPeople, PersonImage, read_people
from hvgen.readers.source_folder import SourceFolder
from hvgen.records import Record
from hvgen.seeding import balanced_slot, stable_id
from hvgen.stages.plan_workers import map_in_workers
from hvgen.store.layout import image_relpath
from hvgen.synthetic_mode import SyntheticMode

from . import levels as L
from .annotator import DEFAULT_MAX_NEW_TOKENS, DEFAULT_THRESHOLD, AnnotatorSettings
from .facts import Facts, person_facts, referring_expressions
from .model_pass import model_records
from .photos import choose_images
from .questions import (
    BLOCKS,
    BOX_FORMATS,
    BOX_HINTS,
    LEVELS,
    MULTI_CHOICE,
    TASKS,
    TRUE_OR_FALSE,
    DealOrder,
    Spec,
    deal_key,
)
from .specs import image_specs


class Herm(SyntheticMode, Generator):
    """HERM-100K: human-centric image / instance / part / relation questions from COCO-format people, or
    from synthetic people rendered from pose conditions (--synthetic)."""

    name = "herm"
    title = "HERM-100K"
    schema = "herm"
    template_version = "herm-1"
    default_num = 1000
    supported_scenarios = ("clean",)
    supplies_images = True
    path_options = frozenset({"coco_keypoints", "coco_instances", "coco_captions", "images", "poses"})
    cli_option_groups = frozenset({"text_to_image"})  # --synthetic renders; no perturbation scenario
    cli_example = (
        "--coco-keypoints person_keypoints_val2017.json --coco-instances instances_val2017.json "
        "--images val2017/ --out runs/herm"
    )
    stats_columns = ("task", "level", "aspect", "question_type")
    category_column = "task"
    synthetic_condition = "pose"
    condition_hint = "pass --synthetic (people rendered from pose skeletons)"

    @staticmethod
    def cli_options(
        coco_keypoints: Annotated[
            str,
            typer.Option(
                metavar="FILE", help="COCO person keypoints json (e.g. person_keypoints_val2017.json)."
            ),
        ] = "",
        coco_instances: Annotated[
            str,
            typer.Option(metavar="FILE", help="COCO instances json, for person-object relations (optional)."),
        ] = "",
        coco_captions: Annotated[
            str, typer.Option(metavar="FILE", help="COCO captions json, for scene descriptions (optional).")
        ] = "",
        images: Annotated[
            str, typer.Option(metavar="DIR", help="Folder holding the images' file_name paths.")
        ] = "",
        min_area: Annotated[
            int,
            typer.Option(
                metavar="PX",
                help="Persons with a smaller box (w*h, pixels) are counted, not asked about.",
                parser=ranges.MIN_AREA.parser("--min-area"),
            ),
        ] = 1024,
        box_format: Annotated[
            str,
            typer.Option(
                help="Box text in questions and answers: 'plain' ([x, y, w, h] in 0-1) or 'minigptv2' "
                "({<x1><y1><x2><y2>} on a 0-100 grid, HERM's own)."
            ),
        ] = "plain",
        sam: Annotated[
            str,
            typer.Option(
                metavar="MODEL",
                help="Segment every grounding answer with this SAM model (transformers "
                "SamModel: a Hub id such as facebook/sam-vit-base or a local folder); masks are stored as COCO RLE.",
            ),
        ] = "",
        annotator: Annotated[
            str,
            typer.Option(
                metavar="MODEL",
                help="Write every person's appearance / pose / modality / relation text with this image-text-to-text "
                "model (transformers: a Hub id, a local folder, or 'tiny'), shown the photo with the person's box "
                "drawn, one prompt per aspect (templates/herm/annotator.j2), greedy decoding, replies cached. The "
                "text replaces the template's in `hvgen export --format herm` and is marked model-generated "
                "(`annotation_source`).",
            ),
        ] = "",
        grounder: Annotated[
            str,
            typer.Option(
                metavar="MODEL",
                help="Box every <p>phrase</p> of the --annotator's appearance text inside the person with this "
                "zero-shot detector (OWL-ViT / OWLv2 / Grounding DINO through transformers: a Hub id, a local "
                "folder, or 'tiny'): the person is cropped, the phrase is the text query, the best box is kept.",
            ),
        ] = "",
        grounder_threshold: Annotated[
            float,
            typer.Option(
                metavar="SCORE",
                help="The --grounder score (0-1) a phrase's best box needs; weaker phrases stay without a box (counted).",
                parser=ranges.GROUNDER_THRESHOLD.parser("--grounder-threshold"),
            ),
        ] = 0.1,
        annotator_max_new_tokens: Annotated[
            int,
            typer.Option(
                metavar="N",
                help="The longest --annotator reply per aspect, in tokens.",
                parser=ranges.ANNOTATOR_TOKENS.parser("--annotator-max-new-tokens"),
            ),
        ] = 128,
        follow_symlinks: Annotated[
            bool,
            typer.Option(
                "--follow-symlinks",
                help="Also read images reached through a symbolic link that leads outside --images (e.g. kept on "
                "another disk); by default they are skipped, counted and named in a warning.",
            ),
        ] = False,
        no_images: Annotated[
            bool,
            typer.Option(
                "--no-images/--with-images",
                help="Export rows with file_name / coco_url instead of image bytes (images keep their licences).",
            ),
        ] = False,
        synthetic: Annotated[
            bool,
            typer.Option(
                "--synthetic",
                help="Compose --num scenes of people from a pose bank and render each with --model through "
                "--controlnet from its skeleton (the pose condition): every answer follows from the known "
                "keypoints and boxes; no COCO file or photograph is read. Not combined with --coco-*, --images.",
            ),
        ] = False,
        poses: Annotated[
            str,
            typer.Option(
                metavar="FILE",
                help="--synthetic: sample people from this file instead of the shipped pose bank "
                "(templates/herm/pose_bank.yaml): a COCO person keypoints json or a pose bank YAML/JSON.",
            ),
        ] = "",
        min_people: Annotated[
            int,
            typer.Option(
                metavar="N",
                help="--synthetic: the fewest people in a scene.",
                parser=ranges.SCENE_PEOPLE.parser("--min-people"),
            ),
        ] = 1,
        max_people: Annotated[
            int,
            typer.Option(
                metavar="N",
                help="--synthetic: the most people in a scene.",
                parser=ranges.SCENE_PEOPLE.parser("--max-people"),
            ),
        ] = 3,
    ) -> None:
        """HERM's own options (the engine adds the common ones)."""

    def __init__(self, request: PlanRequest) -> None:
        super().__init__(request)
        options = self.resolved_options(request.options)
        self.keypoints_path = Path(options["coco_keypoints"]).expanduser()
        self.instances_path = (
            Path(options["coco_instances"]).expanduser() if options["coco_instances"] else None
        )
        self.captions_path = Path(options["coco_captions"]).expanduser() if options["coco_captions"] else None
        self.images_dir = Path(options["images"]).expanduser()
        self.follow_symlinks = bool(options.get("follow_symlinks"))
        if self.choose_images(options):
            from .synthetic import SyntheticScenes

            self.scenes = SyntheticScenes(self, options)
        elif options["poses"]:
            raise HvgenError("--poses FILE poses --synthetic people: add --synthetic, or drop --poses.")
        elif options["coco_keypoints"] or options["images"]:  # a run (`hvgen list` builds one with no inputs)
            self.check_inputs(options)
        if options["box_format"] not in BOX_FORMATS:
            raise HvgenError(
                f"--box-format must be one of {', '.join(BOX_FORMATS)}, got {options['box_format']!r}."
            )
        self.box_format = str(options["box_format"])
        self.min_area = int(ranges.MIN_AREA.parse("--min-area", options["min_area"]))
        self.no_images = bool(options["no_images"])
        self.sam = str(options["sam"])
        self.annotation = AnnotatorSettings(
            str(options.get("annotator") or ""), str(options.get("grounder") or ""),
            options.get("grounder_threshold", DEFAULT_THRESHOLD),
            options.get("annotator_max_new_tokens", DEFAULT_MAX_NEW_TOKENS),
        )  # fmt: skip
        self.annotation.check()

    @staticmethod
    def check_inputs(options: dict[str, Any]) -> None:
        if not options["coco_keypoints"]:
            raise HvgenError("hvgen herm needs --coco-keypoints FILE (COCO person keypoints) or --synthetic.")
        if not options["images"]:
            raise HvgenError("hvgen herm needs --images DIR (the folder of the COCO images).")
        for flag, value in (("--coco-keypoints", options["coco_keypoints"]), ("--coco-instances", options["coco_instances"]),
                            ("--coco-captions", options["coco_captions"])):  # fmt: skip
            if value and not Path(value).expanduser().is_file():
                raise HvgenError(f"{flag} {value}: no such file.")
        if not Path(options["images"]).expanduser().is_dir():
            raise HvgenError(f"--images {options['images']}: no such folder.")

    # ------------------------------------------------------------------ engine hooks
    def source_image(self, prompt: str) -> Path:
        return self.images_folder().locate(prompt, "--images: file")

    def images_folder(self) -> SourceFolder:
        return SourceFolder(self.images_dir, follow_symlinks=self.follow_symlinks)

    @classmethod
    def plans_at_image_size(cls, options: dict[str, Any]) -> bool:
        return bool(options.get("synthetic"))  # the scenes are composed on a canvas of the image size

    def embeds_images(self) -> bool:
        return not self.no_images

    def export_configs(self, scenarios: list[str]) -> list[ExportConfig]:
        return [
            ExportConfig(name=task, scenario="clean", where=f"r.task = '{task}'", skip_if_empty=True)
            for task in TASKS
        ]

    @classmethod
    def publish_warnings(cls, run_dir: Path, options: dict[str, Any]) -> list[str]:
        """Warn when the export embeds images whose licence forbids commercial use or derivatives
        (COCO's Flickr NonCommercial / NoDerivs licences)."""
        from .licences import licence_warnings

        return [] if options.get("no_images") or options.get("synthetic") else licence_warnings(run_dir)

    @classmethod
    def photo_twin_options(cls, released: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        from .twins import twin_options

        return twin_options(released, given)

    def photo_twins(self, released: list[Record], twin_seed: int) -> Any:
        """A question of the same task, aspect and answer about another photograph (`twins`)."""
        from .twins import herm_twins

        return herm_twins(self, released, twin_seed)

    def listings(self) -> dict[str, list[str]]:
        return {"tasks": list(TASKS), "parts": list(L.PARTS), "poses": list(L.POSES)}

    def card_context(self) -> dict[str, Any]:
        return {"tasks": TASKS, "levels": LEVELS, "box_format": self.box_format, "no_images": self.no_images,
                "min_area": self.min_area, "parts": list(L.PARTS), "rules": self.rules,
                "sam": public_value(self.sam) if self.sam else "",
                "annotator": public_value(self.annotation.annotator_id) if self.annotation.annotator else "",
                "grounder": public_value(self.annotation.grounder_id) if self.annotation.grounder else "",
                "grounder_threshold": self.annotation.threshold,
                "synthetic": self.scenes.card() if self.synthetic else None}  # fmt: skip

    @cached_property
    def rules(self) -> dict[str, Any]:
        return self.templates.read_yaml("herm.yaml")

    # ------------------------------------------------------------------ plan
    def plan(self) -> PlanResult:
        """Reads the annotations, chooses the images and counts the questions eagerly; the
        records themselves are yielded image by image (the engine sorts them by id on disk)."""
        if self.synthetic:
            data = self.scenes.people()
            chosen = sorted(data.images.values(), key=lambda e: e.image.id)
            order = self._deal_order(chosen)
            notes = self.scenes.notes(data)
            return PlanResult(records=self._records(chosen, data, order, notes), notes=notes)
        self.check_inputs(self.resolved_options(self.request.options))
        self.annotation.check_models()
        data = read_people(self.keypoints_path, self.instances_path, self.captions_path, self.min_area)
        if not data.counts["people"]:
            counts = data.counts
            raise HvgenError(
                f"--coco-keypoints {self.keypoints_path.name}: no person to ask about ({counts['person_annotations']} "
                f"person annotations: {counts['crowd_regions']} crowd regions, {counts['tiny_persons']} boxes under "
                f"--min-area {self.min_area} px²). Pass a COCO person keypoints file with people"
                + (", or a smaller --min-area." if counts["tiny_persons"] else ".")
            )
        chosen, notes = choose_images(self, data)
        order = self._deal_order(chosen)
        notes.insert(
            0,
            f"{data.counts['images']} images with people; {data.counts['people']} persons eligible for questions, "
            f"{data.counts['crowd_regions']} crowd regions and {data.counts['tiny_persons']} persons under "
            f"{self.min_area} px² counted but not asked about.",
        )
        warnings = [] if order.questions else ["no question could be asked: check the keypoint annotations."]
        return PlanResult(records=self._records(chosen, data, order, notes), warnings=warnings, notes=notes)

    def _deal_order(self, chosen: list[PersonImage]) -> DealOrder:
        """First pass: the id of every question whose answer position (multiple choice) or truth
        (true/false) is dealt, per dealing key, so that the second pass can deal image by image
        exactly as if the whole plan were walked in id order (8 bytes a question, not a spec).
        Image ranges are collected in forked plan workers on a large plan, then merged."""
        order = DealOrder()
        for part in map_in_workers(chosen, self._deal_part):
            order.merge(part)
        order.freeze()
        return order

    def _deal_part(self, entries: Sequence[PersonImage]) -> DealOrder:
        """The deal of `entries`, from their questions unworded (the ids and dealing keys are
        the worded ones', `specs.image_specs`; a third of the cost)."""
        part = DealOrder()
        for entry in entries:
            for spec in self._image_specs(entry, worded=False):
                part.add(spec.id, deal_key(spec))
        return part

    def _records(self, chosen: list[PersonImage], data: CocoPeople, order: DealOrder,
                 notes: list[str]) -> Iterable[Record]:  # fmt: skip
        """Second pass: one image's specs at a time, masked (--sam), worded, and — with
        --annotator — the image's dense-caption record carrying every person's model-written text.
        Without models an image's records depend on it and the frozen deal alone: an `ItemRecords`,
        which forked plan workers word in parallel (the same records.jsonl)."""
        from .masks import SamMasker

        if not self.sam and not self.annotation.annotator:
            return ItemRecords(
                chosen, lambda entry: self.image_records(entry, self._image_specs(entry), data, order)
            )
        return model_records(self, chosen, data, order, notes, SamMasker(self.sam) if self.sam else None)

    def image_records(self, entry: PersonImage, specs: list[Spec], data: CocoPeople, order: DealOrder,
                       annotations: Any = None) -> list[Record]:  # fmt: skip
        fields = self._image_fields(entry.image, data)  # the same for every question of the image
        records = [
            self._finalise(spec, order.rank(spec.id, deal_key(spec)), data, fields)
            for spec in sorted(specs, key=lambda s: s.id)
        ]
        for record in records:
            if record["task"] == "dense_caption":
                record["person_annotations"] = annotations
        return records

    # ------------------------------------------------------------------ facts
    def facts(self, entry: PersonImage) -> list[Facts]:
        return person_facts(entry, self.rules)

    def _box(self, box: tuple[float, float, float, float]) -> str:
        return L.box_text(box, self.box_format)

    def _person(self, facts: Facts) -> str:
        return f"the person at {self._box(facts.box)}"

    def describe(self, facts: Facts) -> str:
        objects = [o for o in facts.objects if o["relation"] != "near"]
        return self.templates.render(
            "captions.j2", {"f": {**facts.__dict__, "objects": objects}}, block="person"
        )

    # ------------------------------------------------------------------ specs
    def _image_specs(self, entry: PersonImage, worded: bool = True) -> list[Spec]:
        return image_specs(self, entry, worded)

    def referring_expressions(self, people: list[Facts], worded: bool = True) -> dict[int, str]:
        """Unworded (the deal pass): who has an expression, each named by its block alone."""

        def render(block: str, **variables: Any) -> str:
            return self.templates.render("expressions.j2", variables, block=block) if worded else block

        return referring_expressions(people, render, self.request.run_seed)

    # ------------------------------------------------------------------ records
    def _finalise(self, spec: Spec, dealt: int, data: CocoPeople, fields: Record) -> Record:
        """Deal the answer position (multiple choice) or truth value (true/false) — `dealt` is the
        spec's rank among its key's specs in id order, so each is balanced exactly over the
        plan — then word the question. `fields`: the image's (`_image_fields`)."""
        seed = self.record_seed(spec.id)
        options: list[str] = []
        variables = spec.variables  # read only: a statement's item is added to a copy
        answer = spec.answer
        if spec.question_type == MULTI_CHOICE:
            rng = random.Random(seed)
            wrong = rng.sample(spec.pool, min(3, len(spec.pool)))
            size = len(wrong) + 1
            position = balanced_slot(dealt, size, self.request.run_seed, "herm-positions", (spec.block, size))
            options = wrong[:position] + [spec.truth] + wrong[position:]
            answer = spec.truth
        elif spec.question_type == TRUE_OR_FALSE:
            options = ["True", "False"]
            if spec.truth:  # a statement about a value: true, or false with a distractor
                true = balanced_slot(dealt, 2, self.request.run_seed, "herm-positions", (spec.block, 2)) == 0
                variables = {
                    **variables,
                    "item": spec.truth if true else random.Random(seed).choice(spec.pool),
                }
                answer = "True" if true else "False"
        return self.worded(spec, variables, options, answer, data, fields, seed)

    def worded(self, spec: Spec, variables: dict[str, Any], options: list[str], answer: str, data: CocoPeople,
               fields: Record | None = None, seed: int | None = None) -> Record:  # fmt: skip
        """The record of `spec` with its answer dealt: question and instruction worded (`fields`
        and `seed`, when given, are the image's fields and the record's seed)."""
        question = (
            spec.conversation[0]["value"] if spec.conversation
            else self.templates.render("questions.j2", variables, block=spec.block)
        )  # fmt: skip
        if spec.answer_box is not None:
            answer = self._box(spec.answer_box)
        instruction = self.templates.render(
            "instructions.j2",
            {"question": question, "options": options, "box_hint": BOX_HINTS[self.box_format]},
            block=BLOCKS[spec.question_type],
            one_line=False,
        )
        return self._record(spec, question, instruction, options, answer, data, fields, seed)

    def people_data(self) -> CocoPeople:
        """The run's people again (`--format herm`): its scenes recomposed, or its COCO files re-read."""
        if self.synthetic:
            return self.scenes.people()
        self.check_inputs(self.resolved_options(self.request.options))
        return read_people(self.keypoints_path, self.instances_path, self.captions_path, self.min_area)

    def _image_fields(self, image: Any, data: CocoPeople) -> Record:
        """What every record of `image` shares (its id, prompt, licence, image seed, ...)."""
        if self.synthetic:
            fields = self.scenes.image_fields(image)
        else:
            licence = data.licenses.get(image.license) if image.license is not None else None
            fields = {"image_id": stable_id("herm-image", image.id, image.file_name), "prompt": image.file_name,
                      "negative_prompt": "", "license": licence["name"] if licence else None,
                      "license_url": licence["url"] if licence else None}  # fmt: skip
        fields["image_path"] = image_relpath(fields["image_id"])
        fields["image_seed"] = self.image_seed(fields["image_id"])
        return fields

    def _record(self, spec: Spec, question: str, instruction: str, options: list[str], answer: str,
                data: CocoPeople, fields: Record | None = None, seed: int | None = None) -> Record:  # fmt: skip
        image = spec.image.image
        fields = fields or self._image_fields(image, data)
        image_id = fields["image_id"]
        facts = spec.person
        return {
            "id": spec.id,
            "image_id": image_id,
            "images": [fields["image_path"]],
            "prompt": fields["prompt"],
            "negative_prompt": fields["negative_prompt"],
            "task": spec.task,
            "level": LEVELS[spec.task],
            "aspect": spec.aspect,
            "question": question,
            "instruction": instruction,
            "question_type": spec.question_type,
            "options": options,
            "answer": answer,
            "answer_index": options.index(answer) if options else None,
            "answer_box": list(spec.answer_box) if spec.answer_box is not None else None,
            "answer_mask": spec.mask,
            "person_annotations": None,
            "person_box": list(facts.box) if facts is not None else None,
            "person_id": facts.person.id if facts is not None else None,
            "conversations": spec.conversation,
            "box_format": self.box_format,
            "coco_image_id": image.id,
            "file_name": image.file_name,
            "coco_url": image.coco_url,
            "width": image.width,
            "height": image.height,
            "license": fields["license"],
            "license_url": fields["license_url"],
            "seed": self.record_seed(spec.id) if seed is None else seed,
            "image_seed": fields["image_seed"],
            "generator": self.name,
            "template_version": self.template_version,
            **({"condition": fields["condition"]} if "condition" in fields else {}),
        }

    @classmethod
    def score(
        cls, records: list[Record], predictions_path: Path, embedder: str | None = None
    ) -> dict[str, Any]:
        """Multiple-choice accuracy and grounding (IoU > 0.5, mean IoU) per task and level
        (no free-form answer is scored by similarity, so `embedder` is not used)."""
        from .scoring import score_predictions

        return score_predictions(records, predictions_path)


register_format("herm", f"{__package__}.release", "HermReleaseFormat")
