"""Face QA (after Face-MLLM, arXiv 2410.20717): traditional face data sets reformulated as
questions — attributes, age, gender, expression (race only on request) — and synthetic faces
whose prompts' attributes are their labels.

Two kinds of run, not mixed: `--source NAME=DIR ...` supplies the sources' photographs (the
engine's supply stage copies them; no rendering), `--synthetic` renders faces with the render
stage. Every record carries its source, licence, whether its image may be redistributed, its
split and identity. Rows of a source that forbids redistribution are exported without image
bytes (their `file_name` names the file in the user's copy), and `hvgen push` refuses an export
that holds such bytes.

This module only wires data to the engine: readers in hvgen/readers/faces, splits in
`splits`, face selection in `sources`, questions in `questions`, synthetic planning in
`synthetic` (modules beside this one); vocabularies and wording in templates/faceqa/.
"""

from __future__ import annotations

import json
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import typer

from hvgen import ranges
from hvgen.errors import HvgenError
from hvgen.generator import ExportConfig, Generator, PlanRequest, PlanResult
from hvgen.privacy import public_value
from hvgen.readers.faces.base import FaceSample, SourceInfo, face_reader
from hvgen.readers.source_folder import SourceFolder
from hvgen.records import Record
from hvgen.seeding import stable_id
from hvgen.store.layout import image_relpath
from hvgen.synthetic_mode import SyntheticMode

from .questions import FREE_FORM, TASKS, QuestionPlanner, Worded, unseen_attributes
from .sources import (
    Face,
    SourceReport,
    absolute_source_spec,
    open_reader,
    open_readers,
    parse_source_specs,
    select_faces,
)
from .splits import hashed_split
from .synthetic import SYNTHETIC, synthetic_faces

RACE_HELP = (
    "Also ask race questions (FairFace's 7 groups). Off by default: race is a sensitive attribute, the labels "
    "are annotators' perceptions of social categories rather than facts about a person, and race recognition "
    "enables discriminatory uses; opt in for fairness audits of models, not to train race classifiers."
)

LANDMARK_KEYS = ("head_pose_angles", "face_box", "condition")  # only with --condition


class FaceQA(SyntheticMode, Generator):
    """Face QA: face data sets as questions (attributes, age, gender, expression, verification pairs, forgery and
    dynamic expression over sampled frames; race on request), or synthetic faces."""

    name = "faceqa"
    title = "Face QA"
    schema = "faceqa"
    template_version = "faceqa-1"
    default_num = 1000
    supported_scenarios = ("clean",)
    cli_option_groups = frozenset({"text_to_image"})  # --synthetic renders; no perturbation scenario
    stats_columns = ("task", "source", "split", "question_type")
    category_column = "task"
    condition_hint = "pass --synthetic --condition landmarks (faces rendered from landmark maps)"
    split_column = "split"  # each source's official partition, identities kept apart
    cli_example = "--source fairface=data/fairface --source celeba=data/celeba --out runs/face"

    @staticmethod
    def cli_options(
        source: Annotated[
            list[str] | None,
            typer.Option(
                metavar="NAME=DIR[,KEY=VALUE]",
                help="A face data set in its release format, e.g. fairface=data/fairface (repeat for several; "
                "`hvgen list faceqa-sources` names the readers). Reader options follow the folder: dfew=DIR,fold=2; "
                "ffpp=DIR,compression=c40,methods=Deepfakes+FaceSwap; frames_cache=DIR extracts frames of "
                ".mp4-only clips. --num N takes N faces per source.",
            ),
        ] = None,
        synthetic: Annotated[
            bool,
            typer.Option(
                "--synthetic",
                help="Render --num faces from attribute prompts (age group, gender, expression, hair, eyeglasses, "
                "hat, beard, head pose: the labels) with --model; needs no data. Not combined with --source.",
            ),
        ] = False,
        per_label: Annotated[
            int | None,
            typer.Option(
                metavar="N",
                help="Balanced sampling: up to N faces per label value of each task and source (N faces for the "
                "attribute tasks) instead of --num faces per source.",
                parser=ranges.PER_LABEL.parser("--per-label"),
            ),
        ] = None,
        include_race: Annotated[bool, typer.Option("--include-race", help=RACE_HELP)] = False,
        unseen_attributes: Annotated[
            str,
            typer.Option(
                metavar="A,B",
                help="Attributes held out for the zero-shot attribute task (CelebA names, comma-separated). "
                "[default: 8 picked by a fixed salt, the same in every release]",
            ),
        ] = "",
        frames: Annotated[
            int,
            typer.Option(
                metavar="N",
                help="Frames sampled uniformly from each video clip (forgery, dynamic expression): 8 as FFDBackbone, "
                "16 as S4D.",
                parser=ranges.FRAMES.parser("--frames"),
            ),
        ] = 8,
        verify_clip: Annotated[
            str,
            typer.Option(
                metavar="ID|DIR",
                help="--synthetic: check every rendered face with this CLIP model (id, folder, or tiny) and drop "
                "those whose gender, expression, eyeglasses or hat CLIP ranks below another value (build stage).",
            ),
        ] = "",
        captioner: Annotated[
            str,
            typer.Option(
                metavar="ID|DIR",
                help="Re-annotate every face with this image-text-to-text model (transformers id or folder; tiny = a "
                "random test model): a fine-grained caption and attribute list per face, stored apart from the source "
                "labels in `vlm_annotation` (marked model-generated) and asked as the `caption` task. Works on "
                "--source images=DIR (unlabelled faces, e.g. a LAION-Face subset).",
            ),
        ] = "",
        follow_symlinks: Annotated[
            bool,
            typer.Option(
                "--follow-symlinks",
                help="Also read files reached through a symbolic link that leads outside a --source folder (e.g. "
                "images kept on another disk and linked in); by default they are skipped, counted and named in a "
                "warning, since a downloaded archive can carry such links.",
            ),
        ] = False,
        condition: Annotated[
            str,
            typer.Option(
                metavar="RECIPE",
                help="--synthetic: give every face a landmark map (a recipe of templates/conditions/ that draws "
                "'faces', e.g. landmarks) of its head pose, drawn as angles in the pose label's ranges, and render "
                "it through --controlnet, so head pose and face layout are exact.",
            ),
        ] = "",
        no_images: Annotated[
            bool | None,
            typer.Option(
                "--no-images/--with-images",
                help="--no-images: export no image bytes at all (annotations + file_name). --with-images: embed every "
                "image, also of sources that forbid redistribution (local use only: `hvgen push` refuses such an "
                "export). [default: embed the images of redistributable sources only]",
            ),
        ] = None,
    ) -> None:
        """Face QA's own options (the engine adds the common ones)."""

    @classmethod
    def resolved_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """Each `--source NAME=DIR[,KEY=VALUE]` with DIR absolute (see `Generator.path_options`)."""
        resolved = super().resolved_options(options)
        if isinstance(resolved.get("source"), list):
            resolved["source"] = [absolute_source_spec(spec) for spec in resolved["source"]]
        return resolved

    def __init__(self, request: PlanRequest) -> None:
        super().__init__(request)
        options = self.resolved_options(request.options)
        self.source_specs = list(options["source"] or [])
        if self.choose_images(options) and self.source_specs:
            raise HvgenError(
                "--synthetic cannot be combined with --source: synthetic faces are rendered, source faces are copied, "
                "and one run does one or the other. Make two runs (e.g. --out runs/face-synthetic and runs/face)."
            )
        self.source_specs_parsed = parse_source_specs(self.source_specs)
        self.sources = {name: spec.root for name, spec in self.source_specs_parsed.items()}
        self.per_label = ranges.PER_LABEL.parse("--per-label", options["per_label"])
        self.include_race = bool(options["include_race"])
        self.no_images = options["no_images"]
        self.follow_symlinks = bool(options.get("follow_symlinks"))
        self._source_folders: dict[str, SourceFolder] = {}
        chosen = [a.strip() for a in str(options["unseen_attributes"] or "").split(",") if a.strip()]
        unknown = [a for a in chosen if a not in self.rules["attributes"]]
        if unknown:
            from hvgen.errors import did_you_mean

            raise HvgenError(
                f"--unseen-attributes: unknown attribute {unknown[0]!r}{did_you_mean(unknown[0], self.rules['attributes'])}; "
                "use CelebA's names (templates/faceqa/faceqa.yaml lists them)."
            )
        self.unseen = unseen_attributes([], self.rules, chosen)
        self.frames = ranges.FRAMES.parse("--frames", options["frames"])
        self.captioner = str(options["captioner"] or "")
        if self.captioner and self.synthetic:
            raise HvgenError(
                "--captioner re-annotates existing face images, and --synthetic faces are rendered after planning: "
                "run `hvgen annotate RUN/images --captioner MODEL` on the rendered faces instead."
            )
        if self.captioner:
            from hvgen.annotate import check_captioner

            check_captioner(self.captioner)
        self.condition = str(options.get("condition") or "")
        self._landmark_conditions: dict[str, dict[str, str]] = {}
        if self.condition:
            self._check_condition()
        self.verify_clip = str(options["verify_clip"] or "")
        if self.verify_clip and not self.synthetic:
            raise HvgenError(
                "--verify-clip checks rendered faces against the labels they were rendered from: use it with --synthetic."
            )

    def _check_condition(self) -> None:
        """--condition: synthetic faces only, a recipe that draws `faces`, sound landmark rules."""
        from hvgen.conditions.recipes import recipes_for_option

        from .synthetic import check_landmark_rules

        if not self.synthetic:
            raise HvgenError(
                f"--condition {self.condition}: landmark conditions are drawn for rendered faces; use it with "
                "--synthetic (source photographs are not rendered)."
            )
        recipes_for_option(self.condition, needs="faces")
        check_landmark_rules(self.rules["synthetic"])

    @staticmethod
    def check_inputs(sources: dict[str, Path], synthetic: bool) -> None:
        if not sources and not synthetic:
            raise HvgenError(
                "hvgen faceqa needs --source NAME=DIR (e.g. --source fairface=data/fairface) or --synthetic."
            )

    @cached_property
    def rules(self) -> dict[str, Any]:
        return self.templates.read_yaml("faceqa.yaml")

    def source_infos(self) -> list[SourceInfo]:
        if self.synthetic:
            return [SYNTHETIC]
        return [face_reader(name).info for name in self.sources]

    # ------------------------------------------------------------------ engine hooks
    def source_image(self, prompt: str) -> Path:
        source, _, relative = prompt.partition(":")
        if source not in self.sources:
            raise HvgenError(
                f"image {prompt!r} comes from source '{source}', which this run's --source options no longer name."
            )
        if source not in self._source_folders:  # one per source: its folders resolved once
            reader = open_reader(source, self.source_specs_parsed[source], self.follow_symlinks)
            self._source_folders[source] = reader.source_folder()
        return self._source_folders[source].locate(relative, f"--source {source}: file")

    def embeds_images(self) -> bool:
        return self.no_images is not True

    def embed_column(self) -> str | None:
        return None if self.no_images is False else "redistributable"  # --with-images embeds every row

    def label_checker(self) -> str | None:
        return self.verify_clip or None

    def label_checks(self, record: Record) -> list[tuple[list[str], int]]:
        """Gender, expression, eyeglasses and hat of a synthetic face, as CLIP zero-shot checks."""
        labels = json.loads(record["labels"])
        texts = self.rules["synthetic"]["verify_clip"]
        words = self.rules["expression_words"]
        expressions = list(self.rules["synthetic"]["expressions"])
        checks = [(list(texts["gender"].values()), list(texts["gender"]).index(labels["gender"])),
                  ([texts["expression"].format(word=words[e]) for e in expressions],
                   expressions.index(labels["expression"]))]  # fmt: skip
        for flag in ("Eyeglasses", "Wearing_Hat"):
            checks.append((list(texts[flag].values()), 0 if labels["attributes"][flag] else 1))
        return checks

    def export_configs(self, scenarios: list[str]) -> list[ExportConfig]:
        return [
            ExportConfig(name=task, scenario="clean", where=f"r.task = '{task}'", skip_if_empty=True)
            for task in TASKS
        ]

    @classmethod
    def photo_twin_options(cls, released: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        from .twins import twin_options

        return twin_options(released, given)

    def photo_twins(self, released: list[Record], twin_seed: int) -> Any:
        """Another face of the same source, split and label for each released question (`twins`)."""
        from .twins import face_twins

        return face_twins(self, released, twin_seed)

    def listings(self) -> dict[str, list[str]]:
        from hvgen.readers.faces.base import face_readers

        return {"tasks": list(TASKS), "sources": sorted(face_readers()),
                "attributes": sorted(self.rules["attributes"])}  # fmt: skip

    def card_context(self) -> dict[str, Any]:
        return {
            "tasks": TASKS,
            "sources": [info.__dict__ for info in self.source_infos()],
            "synthetic": self.synthetic,
            "unseen": self.unseen,
            "not_asked": list(self.rules["not_asked"]),
            "include_race": self.include_race,
            "no_images": self.no_images,
            "per_label": self.per_label,
            "race_reason": RACE_HELP,
            "frames": self.frames,
            "verify_clip": self.verify_clip,
            "condition": self.condition,
            "pose_angles": self.rules["synthetic"]["pose_angles"] if self.condition else {},
            "captioner": public_value(self.captioner) if self.captioner else "",
        }

    # ------------------------------------------------------------------ plan
    def plan(self) -> PlanResult:
        self.check_inputs(self.sources, self.synthetic)
        notes: list[str] = []
        idle: list[str] = []  # sources that add no question
        if self.synthetic:
            faces = synthetic_faces(self.request.num, self.request.run_seed, self.rules,
                                    lambda v: self.templates.render("prompt.j2", v),
                                    lambda sample_id: hashed_split(self.request.run_seed, self.rules["split_shares"],
                                                                   "synthetic", sample_id),
                                    landmarks=bool(self.condition))  # fmt: skip
            label_values = {SYNTHETIC.name: _synthetic_values(self.rules)}
            notes.append(f"{len(faces)} synthetic faces planned, each attribute axis balanced over the plan.")
        else:
            faces, label_values = [], {}
            for name, reader in open_readers(self.source_specs_parsed, self.follow_symlinks).items():
                chosen, report = select_faces(reader, self.request.run_seed, self.rules["split_shares"],
                                              self._tasks_of, _balance_key, self.request.num, self.per_label,
                                              self.frames)  # fmt: skip
                if not chosen and (
                    report.missing + report.undecodable or report.samples == report.unusable_shape
                ):
                    raise HvgenError(_no_face_message(report))  # the folder holds no face to read
                if not chosen:  # faces, but none with a label of an enabled task: said, not fatal
                    idle.append(
                        f"--source {name}: no face has a label of an enabled task; it adds no question."
                    )
                faces += chosen
                label_values[name] = report.label_values
                notes += _source_notes(report)
        annotations = self._annotate(faces) if self.captioner else {}
        if annotations:
            parsed = sum(1 for a in annotations.values() if a.caption)
            notes.append(
                f"{self.captioner} captioned {parsed} of {len(annotations)} faces (model-generated, `vlm_annotation`)."
            )
        captions = {prompt: a.caption for prompt, a in annotations.items() if a.caption}
        planner = QuestionPlanner(
            self.templates, self.rules, self.request.run_seed, set(self.unseen), label_values, captions
        )
        self._annotations = annotations
        specs = [spec for face in faces for spec in planner.specs(face)]
        records = [self._record(item) for item in planner.word_all(specs)]
        if self.unseen:
            notes.append(
                f"zero-shot attribute task: held out (never in the attribute task): {', '.join(self.unseen)}."
            )
        warnings = (
            idle if records else ["no question could be asked: no face has a label of an enabled task."]
        )
        return PlanResult(records=records, warnings=warnings, notes=notes)

    def _annotate(self, faces: list[Any]) -> dict[str, Any]:
        """Each single face's VLM annotation, keyed by the face's supply key. The log lives in the
        hvgen cache under a name from the captioner and the faces, so a rerun of the same plan
        reads it back instead of generating again (decoding is greedy: the same replies)."""
        import hashlib

        from hvgen.annotate import annotate_images
        from hvgen.models import cache_dir

        items = sorted(
            {(face.prompt, self.source_image(face.prompt)) for face in faces if face.sample.kind == "face"}
        )
        if not items:
            return {}
        digest = hashlib.sha256(json.dumps([self.captioner, [key for key, _ in items]]).encode()).hexdigest()[
            :20
        ]
        out_file = cache_dir() / "faceqa-annotations" / f"{digest}.jsonl"
        return annotate_images(items, self.captioner, out_file)

    def _tasks_of(self, sample: FaceSample) -> tuple[str, ...]:
        labels = sample.labels
        if sample.kind == "pair":
            return ("verification",) if labels.get("same_person") is not None else ()
        if sample.kind == "video":
            tasks = [
                t
                for t, key in (("forgery", "forgery"), ("dynamic_expression", "expression"))
                if labels.get(key) is not None
            ]
            if labels.get("forgery") == "fake" and labels.get("manipulation"):
                tasks.append("forgery_method")
            return tuple(tasks)
        tasks = ["caption"] if self.captioner else []
        attributes = labels.get("attributes") or {}
        if any(a not in self.unseen for a in attributes):
            tasks.append("attribute")
        if any(a in self.unseen for a in attributes):
            tasks.append("attribute_zero_shot")
        if any(labels.get(k) is not None for k in ("age_bin", "age_group", "age")):
            tasks.append("age")
        for task in ("gender", "expression", "head_pose") + (("race",) if self.include_race else ()):
            if labels.get(task) is not None:
                tasks.append(task)
        return tuple(tasks)

    # ------------------------------------------------------------------ records
    def _record(self, item: Worded) -> Record:
        spec = item.spec
        face = spec.face
        info = face.info
        f = self.face_fields(face)
        return {  # the keys in this order: the catalog's and the export's columns follow it
            "frames": f["frames"], "source_frames": f["source_frames"], "id": spec.id, "image_id": f["image_id"],
            "images": f["images"], "prompt": f["prompt"], "negative_prompt": f["negative_prompt"],
            "task": spec.task, "label_key": spec.label_key, "question": item.question,
            "instruction": item.instruction, "question_type": spec.question_type, "options": item.options,
            "answer": item.answer, "answer_index": item.answer_index, "answer_indices": item.answer_indices,
            "answer_value": spec.answer_value if spec.question_type == FREE_FORM else None,
            "attribute": item.attribute, "attribute_split": _attribute_split(spec.task), "source": info.name,
            "source_title": info.title, "licence": info.licence, "redistributable": info.redistributable,
            "split": face.split, "identity": f["identity"], "sample_id": f["sample_id"],
            "file_name": f["file_name"], "labels": f["labels"], "vlm_annotation": f["vlm_annotation"],
            "seed": self.record_seed(spec.id), "image_seed": f["image_seed"], "generator": self.name,
            "template_version": self.template_version, **{key: f[key] for key in LANDMARK_KEYS if key in f},
        }  # fmt: skip

    def face_fields(self, face: Face) -> Record:
        """The fields of a record that the face decides: its images, labels, identity (a
        photographic twin swaps exactly these)."""
        sample, info = face.sample, face.info
        if self.synthetic:
            image_id = self.image_id("faceqa-synthetic", sample.sample_id, face.prompt)
            negative = self.rules["synthetic"]["negative_prompt"]
        else:
            image_id = stable_id("faceqa-image", info.name, face.file_name)
            negative = ""
        frames: list[dict[str, Any]] = []  # every record has every key (arrow schema)
        if face.frame_files:  # several images: the engine supplies and exports them (`frame_images`)
            frame_ids = [stable_id("faceqa-image", info.name, name) for name in face.frame_files]
            frames = [{"image_id": frame_id, "prompt": f"{info.name}:{name}", "negative_prompt": "",
                       "image_seed": self.image_seed(frame_id)}
                      for frame_id, name in zip(frame_ids, face.frame_files)]  # fmt: skip
        return {
            "frames": frames,
            "source_frames": list(face.frame_files),
            "image_id": image_id,
            "images": [image_relpath(image_id)],
            "prompt": face.prompt,
            "negative_prompt": negative,
            "identity": sample.identity,
            "sample_id": sample.sample_id,
            "file_name": face.file_name,
            "labels": json.dumps(sample.labels, sort_keys=True, default=str),
            "vlm_annotation": self._vlm_annotation(face.prompt),
            "image_seed": self.image_seed(image_id),
            **self._landmark_fields(face),
        }

    def _landmark_fields(self, face: Face) -> Record:
        """With --condition: the face's drawn angles, face box and landmark condition (its
        projected landmarks kept in the params, so a check can compare re-detected ones)."""
        if not self.condition or face.pose is None:
            return {}
        from hvgen.conditions.recipes import condition_field

        cache = self._landmark_conditions  # a face's condition JSON, made once for all its questions
        if face.sample.sample_id not in cache:
            params = {
                "faces": [face.pose["landmarks"]],
                "canvas": list(self.rules["synthetic"]["landmark_canvas"]),
            }
            cache[face.sample.sample_id] = condition_field(self.condition, params)
        return {"head_pose_angles": dict(face.pose["angles"]), "face_box": list(face.pose["box"]),
                "condition": dict(cache[face.sample.sample_id])}  # fmt: skip

    def _vlm_annotation(self, prompt: str) -> str | None:
        """The face's VLM annotation as JSON (caption, attributes, generated_by, model_generated),
        apart from `labels`; None without --captioner."""
        annotation = getattr(self, "_annotations", {}).get(prompt)
        if annotation is None:
            return None
        row = {
            key: value for key, value in annotation.as_row().items() if key not in ("image", "key", "reply")
        }
        return json.dumps(row, sort_keys=True)

    @classmethod
    def score(
        cls, records: list[Record], predictions_path: Path, embedder: str | None = None
    ) -> dict[str, Any]:
        """Accuracy per task and source (letters or option text; "A, C" for "which apply"), mean
        absolute error for ages asked as a number (`embedder` is not used)."""
        from .scoring import score_predictions

        return score_predictions(records, predictions_path)


def _attribute_split(task: str) -> str | None:
    return {"attribute": "seen", "attribute_zero_shot": "unseen"}.get(task)


def _balance_key(sample: FaceSample, task: str) -> str | None:
    """The label value `--per-label` balances a task over (attribute tasks: one class)."""
    labels = sample.labels
    keys = {
        "verification": "same_person",
        "forgery_method": "manipulation",
        "dynamic_expression": "expression",
    }
    if task in keys:
        return None if labels.get(keys[task]) is None else str(labels[keys[task]])
    if task in ("attribute", "attribute_zero_shot"):
        return "any"
    if task == "age":
        for key in ("age_bin", "age_group"):
            if labels.get(key) is not None:
                return str(labels[key])
        return f"{int(labels['age']) // 10 * 10}s" if labels.get("age") is not None else None
    value = labels.get(task)
    return None if value is None else str(value)


def _synthetic_values(rules: dict[str, Any]) -> dict[str, list[str]]:
    axes = rules["synthetic"]
    return {"age_group": list(axes["age_groups"]), "gender": ["male", "female"],
            "expression": list(axes["expressions"]), "head_pose": list(axes["head_poses"])}  # fmt: skip


def _no_face_message(report: SourceReport) -> str:
    """Why a source gave no face to ask about, from its counts."""
    skipped = ", ".join(f"{count} {reason}" for reason, count in sorted(report.reader_skipped.items()))
    return (
        f"--source {report.info.name}: no usable face ({report.samples} samples read"
        + (f"; the reader skipped {skipped}" if skipped else "")
        + f"; {report.missing} missing and {report.undecodable} undecodable image files; "
        f"{report.unusable_shape} of a shape no task reads). Pass the folder of the unpacked {report.info.title} "
        "release, images included (README, 'Face sources', lists the files each source needs)."
    )


def _source_notes(report: SourceReport) -> list[str]:
    splits = report.splits
    by_split = ", ".join(f"{name} {count}" for name, count in sorted(splits.by_split.items()))
    partition = (
        "its release's partition" if splits.official else "a seeded hash per identity (no official partition)"
    )
    notes = [
        f"{report.info.name}: {report.faces} samples asked about of {report.samples} "
        f"({report.unusable_shape} of a shape no task reads; {report.missing} missing and "
        f"{report.undecodable} undecodable image files skipped; reader skipped {sum(report.reader_skipped.values())}: "
        f"{json.dumps(report.reader_skipped, sort_keys=True)}).",
        f"{report.info.name}: splits from {partition}; samples per split: {by_split}. Identity check: "
        f"{splits.identities} identities; {splits.crossing_identities} in more than one split of the release, moved "
        f"whole ({splits.moved_samples} samples) to their majority split; {splits.dropped_samples} pairs of people "
        "in different splits left out; 0 identities cross splits now.",
    ]
    return notes
