"""VLMEvalKit TSVs: one file per benchmark × export config × question kind.

VLMEvalKit finds a custom data set by file name (``$LMUData/<name>.tsv``) and picks its class
from the columns (``build_dataset`` in vlmeval/dataset/__init__.py): option columns A and B →
`CustomMCQDataset`, anything else → `CustomVQADataset`. Yes/no questions are scored by
`ImageYORNDataset`, which ``run.py --data-config`` builds for a custom name. Hence:

* ``<Prefix>_<config>_MCQ.tsv`` — index, id, image, image_path, question, hint (the record's
  context), A, B, …, answer (the letter), category: `CustomMCQDataset`, exact-matching scorer;
* ``<Prefix>_<config>_YN.tsv`` — …, question (context first), answer (Yes / No), category:
  `ImageYORNDataset` (Yes/No and True/False option pairs);
* ``<Prefix>_<config>_VQA.tsv`` — …, question (context first), answer (the reference, when
  there is one), category: `CustomVQADataset`, which has no scorer (its `evaluate` raises
  NotImplementedError): run it with ``--mode infer`` and score the predictions elsewhere.
* ``<Prefix>_<config>_BOX.tsv`` — grounding questions (a reference box): …, question (context
  first, then the box instruction the lmms-eval task gives too), answer (the box as
  ``[x1, y1, x2, y2]`` in 0-1), box_x1 … box_y2 (the same numbers), width / height (the row's
  image in pixels, for answers in pixels), category: `CustomVQADataset` with ``--mode infer``,
  scored by the ``score_grounding.py`` written beside the TSVs (HERM's rule, IoU > 0.5, with
  hvgen's box reading pasted in). VLMEvalKit's own box scorer, `RefCOCODataset`, is not used:
  it reads the first four numbers of an answer on a scale guessed from their size (HERM's
  0-100 grid and pixel boxes of images under 1000 px become 0-1000) and counts IoU >= 0.5.

Rows are split by `task_utils.question_kind`, the rule the lmms-eval export uses too, and only
the evaluated split's rows go in (`formats.harness_split`: the split the lmms-eval tasks read). An image
repeated within a file is stored once: later rows hold the index of the first row carrying it,
which VLMEvalKit resolves (`ImageBaseDataset.__init__`: an ``image`` of at most 64 characters
is another row's index). ``image_path`` names the decoded file after the image's content hash,
so VLMEvalKit's image cache (``$LMUData/images/<name>/``) never hands out a picture of another
run exported under the same name.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import IO, Any

from hvgen.errors import HvgenError
from hvgen.generator import Generator
from hvgen.publish.formats import ConfigSamples, ExportFormat, FormatContext, evaluated_split, in_split
from hvgen.publish.formats.embedded import self_contained
from hvgen.publish.formats.templates.task_utils import (
    BOX,
    DEFAULT_PROMPTS,
    KINDS,
    LETTERS,
    MCQ,
    VQA,
    YN,
    box_text,
    context_of,
    question_kind,
    reference_box,
    yes_no_answer,
)
from hvgen.store.atomic import write_atomic, write_json_atomic, write_text_atomic
from hvgen.store.layout import FRAME_PATHS

# The VLMEvalKit class that reads each kind of file (vlmeval/dataset/__init__.py).
DATASET_CLASSES = {
    MCQ: "CustomMCQDataset",
    YN: "ImageYORNDataset",
    VQA: "CustomVQADataset",
    BOX: "CustomVQADataset",
}
DATA_CONFIG_FILE = "data_config.json"
GROUNDING_SCORER = "score_grounding.py"  # templates/score_grounding.py, self-contained
BOX_COLUMNS = ("box_x1", "box_y1", "box_x2", "box_y2")

# VLMEvalKit changes how it scores a data set whose *name* contains one of these (vlmeval/
# dataset/image_mcq.py evaluate_heuristic: circular evaluation, MMMU/MMT/MMSci/LEGO rules;
# image_yorn.py evaluate: MME/POPE/... ratings; __init__.py DATASET_TYPE: 'openended';
# image_base.py img_root_map). Lower-case ones are matched against the lower-cased name.
_NAME_MARKERS_LOWER = ("mmbench", "ccbench", "circular", "mmcr", "openended")
_NAME_MARKERS = ("MMMU", "MMT", "MMSci", "MMVP", "LEGO", "MME", "POPE", "AMBER", "Hallusion", "VSR-zeroshot")
_NAME_MARKERS += ("MM_NIAH", "CRPE", "OCRVQA", "QSpatial", "COCO_VAL", "BLINK", "WeMath")
# pandas.read_csv (VLMEvalKit's TSV loader) turns these cell values into missing values by default.
_PANDAS_NA = frozenset(
    [
        "#N/A",
        "#N/A N/A",
        "#NA",
        "-1.#IND",
        "-1.#QNAN",
        "-NaN",
        "-nan",
        "1.#IND",
        "1.#QNAN",
        "<NA>",
        "N/A",
        "NA",
        "NULL",
        "NaN",
        "None",
        "n/a",
        "nan",
        "null",
    ]
)


class VLMEvalKitFormat(ExportFormat):
    name = "vlmevalkit"
    description = "VLMEvalKit custom-dataset TSVs, one per config and question kind (MCQ / YN / VQA)"

    def write(self, ctx: FormatContext, configs: list[ConfigSamples], out: Path) -> list[str]:
        prefix = dataset_prefix(ctx.generator)
        written: dict[str, str] = {}  # dataset name → question kind
        for item in configs:
            for kind, rows in rows_by_kind(in_split(ctx, item)).items():
                name = check_dataset_name(f"{prefix}_{item.name}_{kind}")
                write_vlmevalkit_tsv(
                    ctx.read_image, rows, kind, out / f"{name}.tsv", ctx.generator.category_column
                )
                written[name] = kind
        data_config = {
            name: {"class": DATASET_CLASSES[kind], "dataset": name} for name, kind in written.items()
        }
        write_json_atomic(out / DATA_CONFIG_FILE, data_config)
        extra = []
        if BOX in written.values():
            write_text_atomic(out / GROUNDING_SCORER, self_contained(GROUNDING_SCORER))
            extra.append(GROUNDING_SCORER)
        write_text_atomic(out / "README.md", usage_notes(written, evaluated_split(ctx)))
        return [f"{name}.tsv" for name in written] + [DATA_CONFIG_FILE, *extra, "README.md"]

    def next_steps(self, out: Path) -> str:
        return f"copy {out}/*.tsv into $LMUData and run VLMEvalKit as {out}/README.md says"


def dataset_prefix(generator: type[Generator] | Generator) -> str:
    """The benchmark's title without spaces or punctuation ("My Bench" → "MyBench"): VLMEvalKit and
    lmms-eval identify data sets by name alone, so every name starts with the benchmark's."""
    prefix = re.sub(r"[^A-Za-z0-9]+", "", generator.title)
    if not prefix:
        raise HvgenError(
            f"benchmark '{generator.name}' has no letters or digits in its title {generator.title!r}."
        )
    return prefix


def check_dataset_name(name: str) -> str:
    """Refuse names VLMEvalKit would score by another data set's rules."""
    hits = [m for m in _NAME_MARKERS_LOWER if m in name.lower()] + [m for m in _NAME_MARKERS if m in name]
    if hits:
        raise HvgenError(
            f"VLMEvalKit data set name '{name}' contains {hits[0]!r}, which VLMEvalKit treats as another "
            "benchmark (special scoring rules keyed on the name); give the benchmark or config another name."
        )
    return name


def rows_by_kind(samples: ConfigSamples) -> dict[str, list[dict[str, Any]]]:
    """The config's rows grouped by question kind (MCQ, YN, VQA order; empty kinds left out)."""
    groups: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    for row in samples.table.to_pylist():
        try:
            groups[question_kind(row)].append(row)
        except ValueError as error:
            raise HvgenError(f"export config '{samples.name}': {error}") from None
    return {kind: rows for kind, rows in groups.items() if rows}


def write_vlmevalkit_tsv(
    read_image: Callable[[str], bytes],
    rows: list[dict[str, Any]],
    kind: str,
    target: Path,
    category_column: str,
) -> int:
    """Write `rows` (export rows of one question kind, with `_image_path`) as one VLMEvalKit TSV,
    streaming, so only the first row of each image holds its base64 text; returns the row count."""
    width = max((len(row["options"]) for row in rows), default=0) if kind == MCQ else 0
    letters = list(LETTERS[:width])
    with_hint = kind == MCQ and any(context_of(row) for row in rows)
    with_answer = kind != VQA or any(row.get("answer") for row in rows)
    header = ["index", "id", "image", "image_path", "question"]
    header += (["hint"] if with_hint else []) + letters + (["answer"] if with_answer else [])
    header += [*BOX_COLUMNS, "width", "height"] if kind == BOX else []
    header += ["category"]

    def cells(
        index: int, row: dict[str, Any], image: str, image_path: str, size: tuple[int, int]
    ) -> list[str]:
        context, question = context_of(row), str(row["question"]).strip()
        values = {"index": str(index), "id": str(row["id"]), "image": image, "image_path": image_path}
        # Only the MCQ class prints `hint`; the others see the question text alone.
        values["question"] = question if kind == MCQ or not context else f"{context}\n{question}"
        if kind == BOX:  # the instruction the lmms-eval task appends: both harnesses ask alike
            values["question"] += DEFAULT_PROMPTS["box_post_prompt"]
            reference = reference_box(row)
            values.update({column: f"{value:.6f}" for column, value in zip(BOX_COLUMNS, reference)})
            values["width"], values["height"] = str(size[0]), str(size[1])
        values["hint"] = context
        options = [str(option) for option in row.get("options") or []]
        values.update({letter: options[i] if i < len(options) else "" for i, letter in enumerate(letters)})
        if kind == MCQ:
            values["answer"] = LETTERS[row["answer_index"]]
        elif kind == YN:
            values["answer"] = yes_no_answer(row)
        elif kind == BOX:
            values["answer"] = box_text(reference)
        else:
            values["answer"] = str(row.get("answer") or "")
        category = row.get(category_column)
        values["category"] = "" if category is None else str(category)
        _refuse_na_cells(values, ("question", "hint", "answer", *letters), row, target)
        return [values[column] for column in header]

    def write(handle: IO[bytes]) -> None:
        text = io.TextIOWrapper(handle, encoding="utf-8", newline="")
        writer = csv.writer(text, delimiter="\t", lineterminator="\n")
        writer.writerow(header)
        # images → (index of their first row, image_path, first image's size in pixels)
        first: dict[tuple[str, ...], tuple[str, str, tuple[int, int]]] = {}
        for index, row in enumerate(rows):
            # a row with further images (a pair, a clip's frames) is a multi-image row: VLMEvalKit
            # reads a list in `image` and `image_path` (ImageBaseDataset: toliststr, dump_image)
            sources = (row["_image_path"], *(row.get(FRAME_PATHS) or []))
            if sources in first:
                image, image_path, size = first[sources]
            else:
                datas = [read_image(source) for source in sources]
                encoded = [base64.b64encode(data).decode("ascii") for data in datas]
                names = [
                    hashlib.sha256(data).hexdigest()[:24] + (PurePosixPath(source).suffix or ".png")
                    for data, source in zip(datas, sources)
                ]
                image, image_path = (
                    (encoded[0], names[0]) if len(sources) == 1 else (str(encoded), str(names))
                )
                size = _image_size(datas[0], sources[0]) if kind == BOX else (0, 0)
                first[sources] = (str(index), image_path, size)
            writer.writerow(cells(index, row, image, image_path, size))
        text.flush()
        text.detach()

    write_atomic(target, write)
    return len(rows)


def _image_size(data: bytes, source: str) -> tuple[int, int]:
    """Width and height of an image from its header: what an answer in pixels is relative to."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError) as error:
        raise HvgenError(
            f"{source}: cannot read the image's size ({error}); rerun the stage that wrote it."
        ) from None


def _refuse_na_cells(
    values: Mapping[str, str], columns: Iterable[str], row: Mapping[str, Any], target: Path
) -> None:
    for column in columns:
        if values[column] in _PANDAS_NA:
            raise HvgenError(
                f"{target}: question {row['id']} has {column} = {values[column]!r}, which pandas (VLMEvalKit's "
                "TSV reader) reads as a missing value; reword it in the benchmark's templates or vocabulary."
            )


def usage_notes(written: Mapping[str, str], split: str = "test") -> str:
    """The README of the folder: which class reads each file, the split they hold, the commands to run."""
    scored = [name for name, kind in written.items() if kind not in (VQA, BOX)]
    free = [name for name, kind in written.items() if kind in (VQA, BOX)]
    boxes = [name for name, kind in written.items() if kind == BOX]
    lines = [
        "# VLMEvalKit data sets",
        "",
        "Copy the `.tsv` files into `$LMUData` (VLMEvalKit's data folder, `~/LMUData` by default) and run",
        "VLMEvalKit's `run.py` from its checkout. `data_config.json` tells `run.py` which class reads each file.",
        "",
        f"The files hold the `{split}` split only, the one the lmms-eval tasks evaluate too (`hvgen export --split`",
        "picks another).",
        "",
        "| file | VLMEvalKit class | scoring |",
        "|---|---|---|",
    ]
    scoring = {
        MCQ: "option letter, exact matching",
        YN: "Yes / No, exact matching",
        VQA: "none (inference only)",
        BOX: f"inference only; then `{GROUNDING_SCORER}`: IoU > 0.5 (HERM's rule)",
    }
    lines += [
        f"| `{name}.tsv` | `{DATASET_CLASSES[kind]}` | {scoring[kind]} |" for name, kind in written.items()
    ]
    lines += ["", "```bash", 'cp *.tsv "${LMUData:-$HOME/LMUData}/"']
    if scored:
        lines.append(
            f"python run.py --model MODEL --data {' '.join(scored)} "
            f'--data-config "$(cat {DATA_CONFIG_FILE})" --judge exact_matching'
        )
    if free:
        lines.append(
            f'python run.py --model MODEL --data {" ".join(free)} --data-config "$(cat {DATA_CONFIG_FILE})" --mode infer'
        )
    lines += ["```", ""]
    if boxes:
        lines += [
            f"Grounding answers (`*_BOX` files) are scored by `{GROUNDING_SCORER}` in this folder, as HERM scores them: the",
            "answer's first box against the reference, right when IoU > 0.5. It reads MiniGPT-v2 / HERM's",
            "`{<x1><y1><x2><y2>}` (0-100 grid), Qwen-VL's `<box>(x1,y1),(x2,y2)</box>`, Qwen2-VL's `<|box_start|>` form",
            "(0-1000 grid), InternVL's `<box>[[...]]</box>` and a bare `[x1, y1, x2, y2]` in 0-1 or in pixels, and counts",
            "the answers where no box could be read. VLMEvalKit's own box scorer (`RefCOCODataset`) guesses a box's",
            "scale from its numbers (HERM's grid and small pixel boxes come out wrong), so it is not used.",
            "",
            "```bash",
            f"python {GROUNDING_SCORER} outputs/MODEL/*/MODEL_{boxes[0]}.xlsx --output grounding.json",
            "```",
            "",
        ]
    if free:
        lines += [
            "VLMEvalKit has no scorer for custom free-answer sets. Its prediction file keeps the `id` column, so",
            "`hvgen score` can read the answers once they are one JSON line each:",
            "",
            "```python",
            "import pandas as pd",
            'pd.read_excel("PREDICTIONS.xlsx")[["id", "prediction"]].to_json("predictions.jsonl", orient="records", lines=True)',
            "```",
            "",
        ]
    return "\n".join(lines)
