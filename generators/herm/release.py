"""`hvgen export RUN --format herm`: the files Human-Centric-MLLM (HERM-7B's code) trains and
evaluates on, under ``RUN/formats/herm/``.

HERM's data is unreleased; its code (ZJHTerry18/Human-Centric-MLLM @ 98d6961) fixes what its
dataset classes and ``eval_inference.py`` read — the file names, fields and box arithmetic
re-stated in ``tests/hcm_contract.py``, whose names `READERS` and the file constants here must
equal (a test says so). The per-person records come from the facts hvgen computes from the COCO
annotations (`facts.person_facts`), re-read at export time and checked against the planned
records; every text is a template of ``templates/herm/release.j2``.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hvgen.errors import HvgenError
from hvgen.publish.formats import ConfigSamples, ExportFormat, FormatContext
from hvgen.store.atomic import write_atomic, write_text_atomic
from hvgen.store.files import checked_relpath

from . import levels as L
from .annotator import apply_annotation
from .questions import GROUNDING, MULTI_CHOICE

if TYPE_CHECKING:
    from .facts import Facts
    from .generator import Herm

HCM_COMMIT = "98d6961"
IMAGES = "images"
DENSE_CAPTION = "dense_caption.jsonl"
INSTANCE = "instance_annotation.jsonl"
PARSING = "part_parsing.jsonl"
INSTRUCTION = "instruction_tuning.jsonl"
TEMPLATES = "templates"
EVAL_BBOX = "eval/grounding_bbox.jsonl"
EVAL_MULTI_BBOX = "eval/grounding_multi_bbox.jsonl"
EVAL_MULTICHOICE = "eval/multichoice.jsonl"
GRID = 100
IOU_THRESHOLD = 0.5
CHOICE_KEYS = ("A", "B", "C", "D")
WHOLE_BODY = "whole body"


@dataclass(frozen=True)
class Reader:
    """One dataset config of HERM's training: its key, yaml, class, task, file and template."""

    key: str
    config: str
    cls: str
    task: str
    file: str
    template: str | None


_INST = "minigpt4/configs/datasets/instance_tasks"
READERS = (
    Reader("coco_dense_caption", "minigpt4/configs/datasets/dense_caption/coco.yaml", "DenseCaptionDataset",
           "dense_caption", DENSE_CAPTION, "dense_caption_template.json"),
    Reader("coco_inst_app", f"{_INST}/appearance/coco_inst_app.yaml", "InstanceCaptionDataset", "appearance",
           INSTANCE, "appearance_template.json"),
    Reader("coco_inst_pose", f"{_INST}/pose/coco_inst_pose.yaml", "InstanceCaptionDataset", "pose", INSTANCE,
           "pose_template.json"),
    Reader("coco_inst_mod", f"{_INST}/modality/coco_inst_mod.yaml", "InstanceCaptionDataset", "modality",
           INSTANCE, "modality_template.json"),
    Reader("coco_inst_rel", f"{_INST}/relation/coco_inst_rel.yaml", "InstanceCaptionDataset", "relation",
           INSTANCE, "relation_template.json"),
    Reader("coco_inst_grounding", f"{_INST}/grounding/coco_inst_grounding.yaml", "InstanceGroundingDataset",
           "appearance", INSTANCE, "appearance_grounding_template.json"),
    Reader("coco_inst_rec", f"{_INST}/rec/coco_inst_rec.yaml", "InstanceRECDataset", "inst_rec", INSTANCE,
           "inst_rec_template.json"),
    Reader("coco_inst_part_rec", f"{_INST}/rec/coco_inst_part_rec.yaml", "InstancePartRECDataset", "part_rec",
           INSTANCE, "part_rec_template.json"),
    Reader("coco_instruct_tuning", "minigpt4/configs/datasets/instruct_tuning/coco.yaml", "InstructTuningDataset",
           "instruction_tuning", INSTRUCTION, None),
    Reader("cihp_parsing_rec", f"{_INST}/rec/cihp_part.yaml", "ParsingRECDataset", "part_rec", PARSING,
           "part_rec_template.json"),
)  # fmt: skip
EVAL_TYPES = {EVAL_BBOX: "bbox", EVAL_MULTI_BBOX: "multi_bbox", EVAL_MULTICHOICE: "multichoice"}
EVAL_CLASSES = {"bbox": "BBoxEvalDataset", "multi_bbox": "MultiBBoxEvalDataset",
                "multichoice": "MultiChoiceEvalDataset"}  # fmt: skip


# ------------------------------------------------------------------ HERM's box arithmetic
def herm_grid_box(box: Sequence[float]) -> list[int]:
    """A normalised [x, y, w, h] as HERM's processors write it: corners clipped to 0-1, int(v * 100)."""
    corners = (box[0], box[1], box[0] + box[2], box[1] + box[3])
    return [int(min(1.0, max(0.0, v)) * GRID) for v in corners]


def herm_box_text(box: Sequence[float]) -> str:
    return "{" + "".join(f"<{v}>" for v in herm_grid_box(box)) + "}"


def grid_iou(box: Sequence[float]) -> float:
    """IoU of a box with its own grid text read back: the best a HERM model can score on it."""
    x1, y1, x2, y2 = (v / GRID for v in herm_grid_box(box))
    inter = max(0.0, min(x2, box[0] + box[2]) - max(x1, box[0])) * max(
        0.0, min(y2, box[1] + box[3]) - max(y1, box[1])
    )
    union = (x2 - x1) * (y2 - y1) + box[2] * box[3] - inter
    return inter / union if union > 0 else 0.0


def _jsonl(rows: list[dict[str, Any]]) -> str:
    """JSON lines with no blank line anywhere (HERM's loader calls json.loads on every line)."""
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)


# ------------------------------------------------------------------ the format
class HermReleaseFormat(ExportFormat):
    """Human-Centric-MLLM's training jsonl files, question templates and eval files."""

    name = "herm"
    description = (
        "Human-Centric-MLLM's own training / eval files (HERM-7B's dataset classes, eval_inference.py)"
    )
    benchmarks = ("herm",)

    def write(self, ctx: FormatContext, configs: list[ConfigSamples], out: Path) -> list[str]:
        generator: Herm = ctx.generator  # type: ignore[assignment]
        rows = sorted((row for item in configs for row in item.table.to_pylist()), key=lambda r: r["id"])
        if not rows:
            raise HvgenError("the run has no kept question: nothing to export in HERM's format.")
        writer = _Writer(generator, rows)
        files: list[str] = []
        for image_id, path in sorted(writer.image_paths.items()):
            data = ctx.read_image(path)
            target = out / IMAGES / writer.image_name(image_id)
            write_atomic(target, lambda handle, data=data: handle.write(data))
            files.append(f"{IMAGES}/{writer.image_name(image_id)}")
        outputs = {
            DENSE_CAPTION: writer.dense_captions(),
            INSTANCE: writer.instances(),
            INSTRUCTION: writer.instructions(),
            EVAL_BBOX: writer.grounding(),
            EVAL_MULTICHOICE: writer.multichoice(),
        }
        for name, records in outputs.items():
            write_text_atomic(out / name, _jsonl(records))
            files.append(name)
        questions = generator.templates.read_yaml("release_questions.yaml")
        for reader in READERS:
            if reader.template is None or reader.file not in outputs:
                continue
            name = f"{TEMPLATES}/{reader.template}"
            if name in files:
                continue
            body = {"question": list(questions[reader.template]), "answer": []}
            write_text_atomic(out / name, json.dumps(body, ensure_ascii=False, indent=2) + "\n")
            files.append(name)
        counts = {name: len(records) for name, records in outputs.items()}
        readme = generator.templates.render(
            "release_readme.md.j2", writer.readme_context(counts), one_line=False
        )
        write_text_atomic(out / "README.md", readme + "\n")
        files.append("README.md")
        return files

    def next_steps(self, out: Path) -> str:
        return (
            f"train or evaluate with Human-Centric-MLLM: export HERM_EXPORT={out} and follow {out / 'README.md'} "
            f"(the datasets: block for its train config; eval_inference.py on {out / 'eval'})"
        )


class _Writer:
    """Builds every file's records from the planned rows and the re-read COCO facts."""

    def __init__(self, generator: Herm, rows: list[dict[str, Any]]) -> None:
        self.generator = generator
        self.rows = rows
        self.notes: list[str] = []
        self.image_paths: dict[str, str] = {}
        coco_ids: dict[str, int] = {}
        for row in rows:
            self.image_paths.setdefault(
                row["image_id"], str(checked_relpath(row["_image_path"], "export rows"))
            )
            coco_ids[row["image_id"]] = row["coco_image_id"]
        try:
            data = generator.people_data()
        except HvgenError as error:
            raise HvgenError(f"--format herm re-reads the people the run was planned from: {error}") from None
        self.people: dict[str, list[Facts]] = {}
        self.expressions: dict[str, dict[int, str]] = {}
        self.sizes: dict[str, tuple[int, int]] = {}
        for image_id, coco_id in sorted(coco_ids.items()):
            entry = data.images.get(coco_id)
            if entry is None:
                raise HvgenError(
                    f"COCO image {coco_id} of the run is not in {generator.keypoints_path.name} any more: "
                    "export from the annotations the run was planned from."
                )
            people = generator.facts(entry)
            whole = L.countable(entry.crowd, entry.tiny) and len(people) == len(entry.people)
            self.people[image_id] = people
            self.expressions[image_id] = generator.referring_expressions(people) if whole else {}
            self.sizes[image_id] = (entry.image.width, entry.image.height)
        self._check_against_plan()
        # model-written text (`hvgen herm --annotator`), carried by each image's dense-caption record
        self.model_text = {(row["image_id"], item["person_id"]): item for row in rows
                           for item in row.get("person_annotations") or []}  # fmt: skip

    def _check_against_plan(self) -> None:
        """Every planned person must be a re-read person at the same box (else the files changed)."""
        boxes = {
            (image_id, f.person.id): list(f.box) for image_id, people in self.people.items() for f in people
        }
        for row in self.rows:
            if row.get("person_id") is None:
                continue
            found = boxes.get((row["image_id"], row["person_id"]))
            if found is None or any(abs(a - b) > 1e-6 for a, b in zip(found, row["person_box"])):
                raise HvgenError(
                    f"record {row['id']}: person {row['person_id']} is not where the run planned it in the COCO "
                    "annotations read now: export from the annotations the run was planned from."
                )

    def render(self, block: str, **variables: Any) -> str:
        return self.generator.templates.render("release.j2", variables, block=block)

    @staticmethod
    def image_name(image_id: str) -> str:
        """The picture's path under images/ (the run's own bucketed name, without its root)."""
        return f"{image_id[:2]}/{image_id}.png"

    def person_name(self, image_id: str, facts: Facts) -> str:
        return self.render("at", box=herm_box_text(facts.box))

    # -------------------------------------------------------------- training files
    def dense_captions(self) -> list[dict[str, Any]]:
        return [{"image": self.image_name(row["image_id"]), "dense_caption": row["answer"]}
                for row in self.rows if row["task"] == "dense_caption"]  # fmt: skip

    def instructions(self) -> list[dict[str, Any]]:
        return [{"image": self.image_name(row["image_id"]), "question": row["question"], "answer": row["answer"]}
                for row in self.rows if row["question_type"] == "free form"]  # fmt: skip

    def instances(self) -> list[dict[str, Any]]:
        records = []
        for image_id, people in sorted(self.people.items()):
            boxes = [f.person.bbox for f in people]
            for index, facts in enumerate(people):
                records.append(self._instance(image_id, people, boxes, index, facts))
        return records

    def _instance(
        self, image_id: str, people: list[Facts], boxes: list[Any], index: int, facts: Facts
    ) -> dict:
        person = facts.person
        width, height = self.sizes[image_id]
        refer = [self.person_name(image_id, facts)]
        expression = self.expressions[image_id].get(person.id)
        if expression:
            refer.insert(0, expression)
        phrases, part_boxes = [], []
        for part in sorted(facts.parts):  # the visible parts, each with its pixel box
            box = L.part_box(part, person.keypoints, person.bbox, width, height)
            if box is not None:
                phrases.append(part)
                part_boxes.append([list(box)])
        if not phrases:  # HERM's grounding classes drop a record without a box: box the whole body
            part_boxes = [[list(person.bbox)]]
        others = []
        for j, other in enumerate(people):
            if j == index:
                continue
            left = L.left_of(person.bbox, other.person.bbox)
            front = L.in_front_of(person.bbox, other.person.bbox, height)
            others.append({
                "name": self.expressions[image_id].get(other.person.id) or self.person_name(image_id, other),
                "side": None if left is None else ("left" if left else "right"),
                "depth": None if front is None else ("front" if front else "behind"),
                "overlapping": L.overlapping(person.bbox, other.person.bbox),
            })  # fmt: skip
        near = L.nearest(index, boxes) if len(people) >= 2 else None
        nearest = None
        if near is not None:
            nearest = self.expressions[image_id].get(people[near].person.id) or self.person_name(
                image_id, people[near]
            )
        objects = [o for o in facts.objects if o["relation"] != "near"]
        record = {
            "image": self.image_name(image_id),
            "bbox": list(person.bbox),
            "refer": refer,
            "appearance": self.render("appearance", f=facts, phrases=phrases),
            "appearance_boxes": part_boxes,
            "pose": self.render("pose", f=facts),
            "modality": self.render("modality", objects=objects),
            "relation": self.render("relation", others=others, nearest=nearest),
        }
        return apply_annotation(record, self.model_text.get((image_id, person.id)))

    def _annotation_mode(self) -> dict[str, str]:
        context = self.generator.card_context()
        mode = "models" if self.model_text else "templates"
        return {"mode": mode, "annotator": context["annotator"], "grounder": context["grounder"]}

    # -------------------------------------------------------------- eval files
    def grounding(self) -> list[dict[str, Any]]:
        records, small = [], 0
        for row in self.rows:
            if row["question_type"] != GROUNDING:
                continue
            box = [float(v) for v in row["answer_box"]]
            if grid_iou(box) <= IOU_THRESHOLD:
                small += 1
                continue
            records.append({"id": row["id"], "image": f"{IMAGES}/{self.image_name(row['image_id'])}",
                            "question": row["question"], "answer": box})  # fmt: skip
        if small:
            self.notes.append(self.render("note_small_boxes", count=small, file=EVAL_BBOX))
        return records

    def multichoice(self) -> list[dict[str, Any]]:
        records = []
        skipped: Counter[int] = Counter()
        for row in self.rows:
            if row["question_type"] != MULTI_CHOICE:
                continue
            options = list(row["options"] or [])
            if len(options) != len(CHOICE_KEYS):
                skipped[len(options)] += 1
                continue
            choices = dict(zip(CHOICE_KEYS, options))
            records.append({
                "id": row["id"],
                "image": f"{IMAGES}/{self.image_name(row['image_id'])}",
                "question": self.render("multichoice", question=row["question"], choices=choices),
                "choices": choices,
                "answer": CHOICE_KEYS[options.index(row["answer"])],
            })  # fmt: skip
        for count, number in sorted(skipped.items()):
            self.notes.append(
                self.render("note_few_options", count=number, options=count, file=EVAL_MULTICHOICE)
            )
        true_false = sum(1 for row in self.rows if row["question_type"] == "true or false")
        if true_false:
            self.notes.append(self.render("note_true_false", count=true_false, file=EVAL_MULTICHOICE))
        return records

    # -------------------------------------------------------------- README
    def readme_context(self, counts: dict[str, int]) -> dict[str, Any]:
        readers = [{**reader.__dict__, "rows": counts.get(reader.file, 0), "kept": counts.get(reader.file, 0)}
                   for reader in READERS if reader.file in counts]  # fmt: skip
        evals = [{"name": name, "dataset_type": kind, "rows": counts[name], "cls": EVAL_CLASSES[kind]}
                 for name, kind in EVAL_TYPES.items() if name in counts]  # fmt: skip
        by_format = defaultdict(int)
        for row in self.rows:
            by_format[row["box_format"]] += 1
        notes = [*self.notes, self.render("note_no_parsing", file=PARSING)]
        if "plain" in by_format:
            notes.append(self.render("note_box_format"))
        return {
            "commit": HCM_COMMIT,
            "images": len(self.image_paths),
            "readers": readers,
            "parsing_rows": 0,
            "evals": evals,
            "annotation": self._annotation_mode(),
            "notes": notes,
        }
