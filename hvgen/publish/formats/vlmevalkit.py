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

Rows are split by `task_utils.question_kind`, the rule the lmms-eval export uses too. An image
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
from hvgen.publish.formats import ConfigSamples, ExportFormat, FormatContext
from hvgen.publish.formats.templates.task_utils import (
    KINDS,
    LETTERS,
    MCQ,
    VQA,
    YN,
    context_of,
    question_kind,
    yes_no_answer,
)
from hvgen.store.atomic import write_atomic, write_json_atomic, write_text_atomic
from hvgen.store.layout import FRAME_PATHS

# The VLMEvalKit class that reads each kind of file (vlmeval/dataset/__init__.py).
DATASET_CLASSES = {MCQ: "CustomMCQDataset", YN: "ImageYORNDataset", VQA: "CustomVQADataset"}
DATA_CONFIG_FILE = "data_config.json"

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
            for kind, rows in rows_by_kind(item).items():
                name = check_dataset_name(f"{prefix}_{item.name}_{kind}")
                write_vlmevalkit_tsv(
                    ctx.read_image, rows, kind, out / f"{name}.tsv", ctx.generator.category_column
                )
                written[name] = kind
        data_config = {
            name: {"class": DATASET_CLASSES[kind], "dataset": name} for name, kind in written.items()
        }
        write_json_atomic(out / DATA_CONFIG_FILE, data_config)
        write_text_atomic(out / "README.md", usage_notes(written))
        return [f"{name}.tsv" for name in written] + [DATA_CONFIG_FILE, "README.md"]

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
    header += (["hint"] if with_hint else []) + letters + (["answer"] if with_answer else []) + ["category"]

    def cells(index: int, row: dict[str, Any], image: str, image_path: str) -> list[str]:
        context, question = context_of(row), str(row["question"]).strip()
        values = {"index": str(index), "id": str(row["id"]), "image": image, "image_path": image_path}
        # Only the MCQ class prints `hint`; the others see the question text alone.
        values["question"] = question if kind == MCQ or not context else f"{context}\n{question}"
        values["hint"] = context
        options = [str(option) for option in row.get("options") or []]
        values.update({letter: options[i] if i < len(options) else "" for i, letter in enumerate(letters)})
        if kind == MCQ:
            values["answer"] = LETTERS[row["answer_index"]]
        elif kind == YN:
            values["answer"] = yes_no_answer(row)
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
        first: dict[tuple[str, ...], tuple[str, str]] = {}  # images → (index of their first row, image_path)
        for index, row in enumerate(rows):
            # a row with further images (a pair, a clip's frames) is a multi-image row: VLMEvalKit
            # reads a list in `image` and `image_path` (ImageBaseDataset: toliststr, dump_image)
            sources = (row["_image_path"], *(row.get(FRAME_PATHS) or []))
            if sources in first:
                image, image_path = first[sources]
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
                first[sources] = (str(index), image_path)
            writer.writerow(cells(index, row, image, image_path))
        text.flush()
        text.detach()

    write_atomic(target, write)
    return len(rows)


def _refuse_na_cells(
    values: Mapping[str, str], columns: Iterable[str], row: Mapping[str, Any], target: Path
) -> None:
    for column in columns:
        if values[column] in _PANDAS_NA:
            raise HvgenError(
                f"{target}: question {row['id']} has {column} = {values[column]!r}, which pandas (VLMEvalKit's "
                "TSV reader) reads as a missing value; reword it in the benchmark's templates or vocabulary."
            )


def usage_notes(written: Mapping[str, str]) -> str:
    """The README of the folder: which class reads each file, and the commands to run."""
    scored = [name for name, kind in written.items() if kind != VQA]
    free = [name for name, kind in written.items() if kind == VQA]
    lines = [
        "# VLMEvalKit data sets",
        "",
        "Copy the `.tsv` files into `$LMUData` (VLMEvalKit's data folder, `~/LMUData` by default) and run",
        "VLMEvalKit's `run.py` from its checkout. `data_config.json` tells `run.py` which class reads each file.",
        "",
        "| file | VLMEvalKit class | scoring |",
        "|---|---|---|",
    ]
    scoring = {
        MCQ: "option letter, exact matching",
        YN: "Yes / No, exact matching",
        VQA: "none (inference only)",
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
