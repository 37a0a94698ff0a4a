"""What Human-Centric-MLLM (HERM's code, ZJHTerry18/Human-Centric-MLLM @ 98d6961) reads, re-stated.

`hvgen export --format herm` must write files HERM's own dataset classes and ``eval_inference.py``
iterate without a KeyError, an IndexError, or — worst — silently dropping a record. The real
classes run only with a checkout (`tests/hcm_driver.py --hcm DIR`); this module states the same
reading rules without one, so every CI run checks an export against them. `check_export(folder)`
returns every problem (file, line, what breaks in which class) and how many items each class ×
task would yield, which the real run compares against.

Sources of each rule (paths in the HERM repository):
* ``minigpt4/datasets/datasets/multitask_qa_datasets.py`` — the dataset classes: `image` joined to
  the config's ``image_path``; `bbox` [x, y, w, h] pixels divided by the image size; `refer`
  through `random.choice`; `item[task]`; InstanceGroundingDataset / InstancePartRECDataset keep
  only records *with* a non-empty `appearance_boxes` (silently: the others vanish);
  ParsingRECDataset keeps only records with a non-empty part in `segmentation`; EvalDataset
  variants open `image` as given (no root) and read `answer` / `choices`.
* ``minigpt4/processors/blip_inst_text_processors.py`` — the i-th ``<p>phrase</p>`` of
  `appearance` takes the i-th entry of `appearance_boxes` (grounding: IndexError when boxes are
  fewer; part REC: IndexError when boxes are more); boxes become ``{<x1><y1><x2><y2>}`` as
  ``int(v * 100)`` of the clipped corners; questions replace ``<person>`` and ``<class>``.
* ``minigpt4/processors/blip_multitask_qa_image_processors.py`` — a parsing record's
  `segmentation` is read part by part in the order of the config's ``all_parts_list``
  (``configs/datasets/instance_tasks/rec/cihp_part.yaml``, CIHP's 19 parts).
* ``eval_inference.py`` — ``bbox``: `answer` [x, y, w, h] in 0-1, right when IoU > 0.5 with the
  first ``{<..>}`` box of the output (0-100 grid); ``multi_bbox``: a list of such boxes;
  ``multichoice``: `choices` {A..D} and a letter `answer`, batched by torch's default collate,
  which needs the same keys in every item of a batch.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

# ------------------------------------------------------------------ the export folder's layout
IMAGES = "images"  # the image root: `image_path` of every dataset config
DENSE_CAPTION = "dense_caption.jsonl"
INSTANCE = "instance_annotation.jsonl"
PARSING = "part_parsing.jsonl"  # optional: written only where part masks exist
INSTRUCTION = "instruction_tuning.jsonl"
TEMPLATES = "templates"
EVAL_BBOX = "eval/grounding_bbox.jsonl"
EVAL_MULTI_BBOX = "eval/grounding_multi_bbox.jsonl"  # optional
EVAL_MULTICHOICE = "eval/multichoice.jsonl"
REQUIRED = (DENSE_CAPTION, INSTANCE, INSTRUCTION, EVAL_BBOX, EVAL_MULTICHOICE)

CIHP_PARTS = (
    "hat", "hair", "glove", "sunglasses", "upperclothes", "dress", "coat", "socks", "pants",
    "torso skin", "scarf", "skirt", "face", "left arm", "right arm", "left leg", "right leg",
    "left shoe", "right shoe",
)  # fmt: skip
"""``all_parts_list`` of cihp_part.yaml: `segmentation[i]` is the polygons of part i."""
INSTANCE_TEXTS = ("appearance", "pose", "modality", "relation")
INSTANCE_FIELDS = ("image", "bbox", "refer", *INSTANCE_TEXTS, "appearance_boxes")
CHOICE_KEYS = ("A", "B", "C", "D")
PERSON, CLASS = "<person>", "<class>"
GRID = 100  # quantize_bins
IOU_THRESHOLD = 0.5
_PHRASE = re.compile(r"<p>(.*?)</p>")


@dataclass(frozen=True)
class Reader:
    """One dataset config of HERM's training: the class that reads a file, with which task."""

    key: str  # the config key (train_configs/hcm_multitask/*.yaml `datasets:`)
    config: str  # its dataset yaml in the HERM repository
    cls: str
    task: str  # `task:` of the key in the train config
    file: str
    template: str | None  # the file the export ships for `template_path` (None: not read)
    placeholders: tuple[str, ...] = ()  # what every question of the template must contain
    needs_boxes: bool = False  # keeps only records with a non-empty appearance_boxes
    needs_parts: bool = False  # keeps only records with a non-empty segmentation part


_INST = "minigpt4/configs/datasets/instance_tasks"
READERS = (
    Reader("coco_dense_caption", "minigpt4/configs/datasets/dense_caption/coco.yaml", "DenseCaptionDataset",
           "dense_caption", DENSE_CAPTION, "dense_caption_template.json"),
    Reader("coco_inst_app", f"{_INST}/appearance/coco_inst_app.yaml", "InstanceCaptionDataset", "appearance",
           INSTANCE, "appearance_template.json", (PERSON,)),
    Reader("coco_inst_pose", f"{_INST}/pose/coco_inst_pose.yaml", "InstanceCaptionDataset", "pose", INSTANCE,
           "pose_template.json", (PERSON,)),
    Reader("coco_inst_mod", f"{_INST}/modality/coco_inst_mod.yaml", "InstanceCaptionDataset", "modality",
           INSTANCE, "modality_template.json", (PERSON,)),
    Reader("coco_inst_rel", f"{_INST}/relation/coco_inst_rel.yaml", "InstanceCaptionDataset", "relation",
           INSTANCE, "relation_template.json", (PERSON,)),
    Reader("coco_inst_grounding", f"{_INST}/grounding/coco_inst_grounding.yaml", "InstanceGroundingDataset",
           "appearance", INSTANCE, "appearance_grounding_template.json", (PERSON,), needs_boxes=True),
    Reader("coco_inst_rec", f"{_INST}/rec/coco_inst_rec.yaml", "InstanceRECDataset", "inst_rec", INSTANCE,
           "inst_rec_template.json", (PERSON,)),
    Reader("coco_inst_part_rec", f"{_INST}/rec/coco_inst_part_rec.yaml", "InstancePartRECDataset", "part_rec",
           INSTANCE, "part_rec_template.json", (PERSON, CLASS), needs_boxes=True),
    Reader("coco_instruct_tuning", "minigpt4/configs/datasets/instruct_tuning/coco.yaml", "InstructTuningDataset",
           "instruction_tuning", INSTRUCTION, None),
    Reader("cihp_parsing_rec", f"{_INST}/rec/cihp_part.yaml", "ParsingRECDataset", "part_rec", PARSING,
           "part_rec_template.json", (PERSON, CLASS), needs_parts=True),
)  # fmt: skip
# dataset_type of eval_inference.py (run.dataset_type of its eval config) for each eval file.
EVAL_TYPES = {EVAL_BBOX: "bbox", EVAL_MULTI_BBOX: "multi_bbox", EVAL_MULTICHOICE: "multichoice"}


@dataclass(frozen=True)
class Problem:
    file: str
    line: int | None  # 1-based line of a jsonl file; None for the file as a whole
    message: str

    def __str__(self) -> str:
        return f"{self.file}{f':{self.line}' if self.line else ''}: {self.message}"


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    lines: dict[str, int] = field(default_factory=dict)  # records per file
    items: dict[str, int] = field(default_factory=dict)  # reader key → items its class yields

    def to_json(self) -> dict[str, Any]:
        return {"problems": [str(p) for p in self.problems], "lines": self.lines, "items": self.items}


# ------------------------------------------------------------------ HERM's arithmetic, re-stated
def herm_grid_box(box: list[float] | tuple[float, ...]) -> list[int]:
    """A normalised [x, y, w, h] as the processors write it: corners, clipped to 0-1, int(v * 100)."""
    corners = [box[0], box[1], box[0] + box[2], box[1] + box[3]]
    return [int(min(1.0, max(0.0, v)) * GRID) for v in corners]


def herm_box_text(box: list[float] | tuple[float, ...]) -> str:
    return "{" + "".join(f"<{v}>" for v in herm_grid_box(box)) + "}"


def herm_iou(a: list[float] | tuple[float, ...], b: list[float] | tuple[float, ...]) -> float:
    """eval_inference.py compute_IoU: two [x, y, w, h] boxes (no guard against an empty union)."""
    width = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    height = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, width) * max(0.0, height)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


def grid_iou(box: list[float]) -> float:
    """IoU of a box with its own 0-100 grid text read back (eval_inference.py `transfer`): a
    perfect HERM model cannot do better on this box."""
    x1, y1, x2, y2 = (v / GRID for v in herm_grid_box(box))
    return herm_iou([x1, y1, x2 - x1, y2 - y1], box)


# ------------------------------------------------------------------ checks
class _Checker:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.report = Report()
        self._sizes: dict[Path, tuple[int, int] | None] = {}

    def problem(self, file: str, line: int | None, message: str) -> None:
        self.report.problems.append(Problem(file, line, message))

    def records(self, name: str) -> list[tuple[int, dict[str, Any]]]:
        path = self.root / name
        if not path.is_file():
            if name in REQUIRED:
                self.problem(name, None, "missing (HERM's config points at this file)")
            return []
        rows = []
        for number, text in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not text.strip():
                self.problem(name, number, "blank line: json.loads('') raises in VisionQADataset.__init__")
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as error:
                self.problem(name, number, f"not JSON ({error.msg}): VisionQADataset.__init__ raises")
                continue
            if not isinstance(value, dict):
                self.problem(name, number, f"a {type(value).__name__}, not an object")
                continue
            rows.append((number, value))
        self.report.lines[name] = len(rows)
        return rows

    def image(self, name: str, line: int, value: Any, base: Path) -> tuple[int, int] | None:
        """The size of the picture `value` names under `base`, or None (with a problem)."""
        if not isinstance(value, str) or not value:
            self.problem(name, line, f"image {value!r}: not a path (osp.join / Image.open need a string)")
            return None
        path = PurePosixPath(value)
        if path.is_absolute() or ".." in path.parts or "\\" in value:
            self.problem(name, line, f"image {value!r}: must be a relative path inside the export")
            return None
        full = base / value
        if full not in self._sizes:
            from PIL import Image

            try:
                with Image.open(full) as picture:
                    self._sizes[full] = picture.size
            except (OSError, ValueError):
                self._sizes[full] = None
        if self._sizes[full] is None:
            self.problem(name, line, f"image {value!r}: no readable picture at {full.relative_to(self.root)}")
        return self._sizes[full]

    def text(self, name: str, line: int, row: dict[str, Any], key: str, reader: str) -> str | None:
        value = row.get(key)
        if key not in row:
            self.problem(name, line, f"no '{key}': KeyError in {reader}")
        elif not isinstance(value, str) or not value.strip():
            self.problem(name, line, f"'{key}' = {value!r}: {reader} needs non-empty text")
        else:
            unmatched = _PHRASE.sub("", value)
            if "<p>" in unmatched or "</p>" in unmatched or any("<p>" in p for p in _PHRASE.findall(value)):
                self.problem(name, line, f"'{key}': unbalanced <p>…</p> tags")
            if any(not phrase.strip() for phrase in _PHRASE.findall(value)):
                self.problem(name, line, f"'{key}': an empty <p></p> phrase")
            return value
        return None

    def pixel_box(self, name: str, line: int, box: Any, size: tuple[int, int] | None, what: str) -> bool:
        """[x, y, w, h] in pixels, inside the picture (the loader divides by its size and clips to 0-1)."""
        if not _numbers(box, 4):
            self.problem(name, line, f"{what} {box!r}: not [x, y, w, h] (four finite numbers)")
            return False
        x, y, w, h = box
        if w <= 0 or h <= 0:
            self.problem(name, line, f"{what} {box!r}: width and height must be positive")
            return False
        if size is not None:
            width, height = size
            if x < -1 or y < -1 or x + w > width + 1 or y + h > height + 1:
                self.problem(
                    name, line, f"{what} {box!r}: outside the {width}×{height} picture (pixels, not 0-1?)"
                )
                return False
        return True

    def unit_box(self, name: str, line: int, box: Any, what: str) -> bool:
        """[x, y, w, h] in 0-1 (eval_inference.py compares model boxes / 100 with it)."""
        if not _numbers(box, 4):
            self.problem(name, line, f"{what} {box!r}: not [x, y, w, h] (four finite numbers)")
            return False
        x, y, w, h = box
        if w <= 0 or h <= 0 or x < 0 or y < 0 or x + w > 1 + 1e-6 or y + h > 1 + 1e-6:
            self.problem(name, line, f"{what} {box!r}: not a box inside the image in 0-1 (pixels?)")
            return False
        if grid_iou(box) <= IOU_THRESHOLD:
            self.problem(name, line, f"{what} {box!r}: too small for the 0-100 grid (a perfect answer scores "
                         f"IoU {grid_iou(box):.2f} ≤ {IOU_THRESHOLD})")  # fmt: skip
            return False
        return True

    def refer(self, name: str, line: int, row: dict[str, Any], reader: str) -> None:
        value = row.get("refer")
        if "refer" not in row:
            self.problem(name, line, f"no 'refer': KeyError in {reader}")
        elif isinstance(value, str):
            if not value.strip():
                self.problem(name, line, "'refer' is empty text")
        elif not isinstance(value, list) or not value:
            self.problem(name, line, f"'refer' = {value!r}: random.choice needs a non-empty list")
        elif any(not isinstance(v, str) or not v.strip() for v in value):
            self.problem(name, line, "'refer': every expression must be non-empty text")


def _numbers(value: Any, count: int) -> bool:
    return (
        isinstance(value, (list, tuple))
        and len(value) == count
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in value)
    )


def check_export(root: Path) -> Report:
    """Every problem HERM's classes would hit on the export at `root`, and their item counts."""
    c = _Checker(root)
    images = root / IMAGES
    if not images.is_dir():
        c.problem(IMAGES, None, "missing: the image root of every dataset config")
    _check_dense(c, images)
    _check_instances(c, images)
    _check_parsing(c, images)
    _check_instructions(c, images)
    _check_templates(c)
    _check_eval(c)
    return c.report


def _check_dense(c: _Checker, images: Path) -> None:
    rows = c.records(DENSE_CAPTION)
    for line, row in rows:
        c.image(DENSE_CAPTION, line, row.get("image"), images)
        c.text(DENSE_CAPTION, line, row, "dense_caption", "DenseCaptionDataset")
    c.report.items["coco_dense_caption"] = len(rows)


def _check_instances(c: _Checker, images: Path) -> None:
    name = INSTANCE
    rows = c.records(name)
    kept = 0
    for line, row in rows:
        size = c.image(name, line, row.get("image"), images)
        if "bbox" not in row:
            c.problem(name, line, "no 'bbox': KeyError in every instance class")
        else:
            c.pixel_box(name, line, row["bbox"], size, "bbox")
        c.refer(name, line, row, "the instance text processors")
        texts = {key: c.text(name, line, row, key, f"InstanceCaptionDataset ({key}), InstanceRECDataset")
                 for key in INSTANCE_TEXTS}  # fmt: skip
        if "appearance_boxes" not in row:
            c.problem(name, line, "no 'appearance_boxes': InstanceGroundingDataset and InstancePartRECDataset "
                      "silently drop this record")  # fmt: skip
            continue
        boxes = row["appearance_boxes"]
        if not isinstance(boxes, list) or not all(isinstance(entry, list) for entry in boxes):
            c.problem(name, line, "'appearance_boxes' must be a list (one per <p> phrase) of lists of boxes")
            continue
        if not any(boxes):
            c.problem(name, line, "'appearance_boxes' has no box: InstanceGroundingDataset and "
                      "InstancePartRECDataset silently drop this record")  # fmt: skip
            continue
        kept += 1
        for i, entry in enumerate(boxes):
            for j, box in enumerate(entry):
                c.pixel_box(name, line, box, size, f"appearance_boxes[{i}][{j}]")
        phrases = _PHRASE.findall(texts["appearance"] or "")
        if len(phrases) != len(boxes):
            c.problem(name, line, f"{len(phrases)} <p> phrases in 'appearance' but {len(boxes)} entries in "
                      "'appearance_boxes': the i-th phrase takes the i-th entry (IndexError in the grounding / "
                      "part REC processors)")  # fmt: skip
        boxed = [p for p, entry in zip(phrases, boxes) if entry]
        if len(set(boxed)) != len(boxed):
            c.problem(name, line, "a <p> phrase repeats: the grounding processor boxes every copy with the first "
                      "one's boxes")  # fmt: skip
    for reader in READERS:
        if reader.file == INSTANCE:
            c.report.items[reader.key] = kept if reader.needs_boxes else len(rows)


def _check_parsing(c: _Checker, images: Path) -> None:
    if not (c.root / PARSING).is_file():
        return
    rows = c.records(PARSING)
    kept = 0
    for line, row in rows:
        size = c.image(PARSING, line, row.get("image"), images)
        if "bbox" not in row:
            c.problem(PARSING, line, "no 'bbox': KeyError in ParsingRECDataset")
        else:
            c.pixel_box(PARSING, line, row["bbox"], size, "bbox")
        c.refer(PARSING, line, row, "blip2_text_parsingrec_*")
        parts = row.get("segmentation")
        if not isinstance(parts, list) or len(parts) != len(CIHP_PARTS):
            c.problem(PARSING, line, f"'segmentation' must list {len(CIHP_PARTS)} parts in CIHP's order "
                      "(cihp_part.yaml all_parts_list): part i is named by its position")  # fmt: skip
            continue
        for i, polygons in enumerate(parts):
            if not isinstance(polygons, list):
                c.problem(PARSING, line, f"segmentation[{i}] ({CIHP_PARTS[i]}): not a list of polygons")
                continue
            for polygon in polygons:
                if not (_numbers(polygon, len(polygon)) and len(polygon) >= 6 and len(polygon) % 2 == 0):
                    c.problem(PARSING, line, f"segmentation[{i}] ({CIHP_PARTS[i]}): a polygon must be "
                              "[x1, y1, x2, y2, …] in pixels, at least 3 points")  # fmt: skip
        if not any(parts):
            c.problem(PARSING, line, "no part has a polygon: ParsingRECDataset silently drops this record")
            continue
        kept += 1
    c.report.items["cihp_parsing_rec"] = kept


def _check_instructions(c: _Checker, images: Path) -> None:
    rows = c.records(INSTRUCTION)
    for line, row in rows:
        c.image(INSTRUCTION, line, row.get("image"), images)
        for key in ("question", "answer"):
            c.text(INSTRUCTION, line, row, key, "InstructTuningDataset")
    c.report.items["coco_instruct_tuning"] = len(rows)


def _check_templates(c: _Checker) -> None:
    for reader in READERS:
        if reader.template is None or not (c.root / reader.file).is_file():
            continue
        name = f"{TEMPLATES}/{reader.template}"
        path = c.root / name
        if not path.is_file():
            c.problem(name, None, f"missing: {reader.key}'s template_path (HERM ships none)")
            continue
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as error:
            c.problem(name, None, f"not JSON ({error.msg})")
            continue
        questions = data.get("question") if isinstance(data, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("answer"), list):
            c.problem(name, None, 'must be {"question": [...], "answer": [...]} (VisionQADataset reads both)')
        if not isinstance(questions, list) or not questions or not all(isinstance(q, str) for q in questions):
            c.problem(name, None, "'question' must be a non-empty list of text (random.choice)")
            continue
        for placeholder in reader.placeholders:
            if any(placeholder not in q for q in questions):
                c.problem(name, None, f"every question must contain {placeholder} ({reader.cls} fills it in)")


def _check_eval(c: _Checker) -> None:
    for name, kind in EVAL_TYPES.items():
        rows = c.records(name)
        seen: set[Any] = set()
        for line, row in rows:
            c.image(name, line, row.get("image"), c.root)  # opened as given: relative to the export folder
            if not isinstance(row.get("id"), (str, int)) or isinstance(row.get("id"), bool):
                c.problem(name, line, "'id' must be text or an integer")
            elif row["id"] in seen:
                c.problem(name, line, f"'id' {row['id']!r} repeats")
            else:
                seen.add(row["id"])
            c.text(name, line, row, "question", "EvalDataset")
            answer = row.get("answer")
            if kind == "bbox":
                c.unit_box(name, line, answer, "answer")
            elif kind == "multi_bbox":
                if not isinstance(answer, list) or not answer:
                    c.problem(name, line, "'answer' must be a non-empty list of [x, y, w, h] boxes in 0-1")
                else:
                    for i, box in enumerate(answer):
                        c.unit_box(name, line, box, f"answer[{i}]")
            else:
                _check_choices(c, name, line, row)


def _check_choices(c: _Checker, name: str, line: int, row: dict[str, Any]) -> None:
    choices = row.get("choices")
    if not isinstance(choices, dict) or tuple(sorted(choices)) != CHOICE_KEYS:
        keys = sorted(choices) if isinstance(choices, dict) else choices
        c.problem(name, line, f"'choices' {keys!r}: exactly A, B, C, D (a batch mixing option counts crashes "
                  "torch's default collate)")  # fmt: skip
        return
    values = list(choices.values())
    if any(not isinstance(v, str) or not v.strip() for v in values):
        c.problem(name, line, "every choice must be non-empty text")
    elif len({v.strip().lower() for v in values}) != len(values):
        c.problem(name, line, "two choices read the same")
    if row.get("answer") not in CHOICE_KEYS:
        c.problem(name, line, f"'answer' {row.get('answer')!r}: must be the letter of a choice")
