"""Model answers as the evaluation harnesses write them, turned into hvgen's predictions lines.

`hvgen score` reads JSONL (`{"id", "prediction", "scenario"?}`). Harnesses write other things;
each is mapped back to the question ids of the split it was run on, using that split's export
(the row order the harness saw), then scored by the benchmark's own scorer, so "right" means
what `hvgen score` says:

* **VLMEvalKit** (`run.py`, `infer_data_job`): ``<model>_<dataset>.xlsx`` (or ``.tsv`` / ``.json``
  with ``PRED_FORMAT``) — the TSV's columns without ``image``, plus ``prediction``. The dataset
  name ``<Prefix>_<config>_<MCQ|YN|VQA|BOX>`` (hvgen's ``--format vlmevalkit``) gives the config, and
  ``index`` the row: hvgen numbers each kind's rows of a config from 0 in export order. The ``id``
  column, when it survived the spreadsheet as text, must agree.
* **lmms-eval** ``--log_samples`` (``<date>_samples_<task>.jsonl``): one line per document with
  ``doc_id``, ``filtered_resps`` and the task's metrics; hvgen's task (``--format lmms-eval``) puts the
  question id in its ``predictions`` metric. The task ``<Prefix>_<config>`` gives the config; without
  the id, ``doc_id`` is the row of that config in export order (``load_dataset`` order). Its own
  predictions writer (``submissions/<task>_predictions.jsonl``) is read too.
* **Dysca's scorer** (``Dysca_compute.py``'s model output, ``MODEL_<config>.json``): a json list of
  ``{"id": <integer id of --format dysca>, "answer"}`` (the integers number all questions of the
  export in id order from 1), or, without ids, in the order of ``Dysca_<config>.json``.
* **HQH's evaluate.py** answers and **VLBiasBench's** ``result.json`` (the original scorers' model
  answers over ``hvgen export --format hqh`` / ``--format vlbias``): see `scorer_outputs`.
* hvgen's own JSONL and json lists (``hvgen_id``) pass through unchanged.

A folder stands for every file in it that one of these readers recognises.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from hvgen.analysis.scorer_outputs import (
    HQH_ANSWERS,
    VLBIAS_RESULT,
    read_hqh_answers,
    read_vlbias_result,
    scorer_reader_of,
)
from hvgen.boxes import xyxy_to_xywh
from hvgen.errors import HvgenError
from hvgen.progress import warn
from hvgen.publish.formats import harness_split
from hvgen.publish.formats.templates.task_utils import BOX, question_kind, score_box
from hvgen.readers.source_folder import FOLLOW_SYMLINKS_OPTION, SourceFolder
from hvgen.store.layout import EXPORT_DIR

VLMEVALKIT, LMMS_EVAL, DYSCA_OUTPUT, HVGEN = "VLMEvalKit", "lmms-eval", "Dysca scorer input", "hvgen"
_SPREADSHEETS = (".xlsx", ".tsv", ".csv")
_ROW_COLUMNS = (
    "id", "scenario", "form", "instruction", "options", "answer_index", "answer_indices", "answer_box", "width", "height", "split",
)  # fmt: skip
"""What decides a row's question kind (`question_kind`), how a box answer is read (the image size
for pixel boxes), which split a harness evaluated (`split`: rows of data sets with official
partitions), and what the original scorers' files are checked against (HQH's `form`, `instruction`)."""


@dataclass
class SplitRows:
    """One split's export, as harnesses saw it: each config's rows (id, scenario, what decides
    the question kind) in export order."""

    prefix: str
    configs: dict[str, list[dict[str, Any]]]
    root: Path | None = None  # the run or export folder: release-format trees (VLBiasBench) are found from it

    def scenario(self, config: str) -> str:
        rows = self.configs[config]
        return str(rows[0].get("scenario") or "clean") if rows else config

    def kind_ids(self, config: str, kind: str) -> list[str]:
        """The ids of `config`'s questions of one kind, in the order VLMEvalKit's TSV numbers them."""
        return [str(row["id"]) for row in self.configs[config] if question_kind(row) == kind]

    def numbering(self) -> dict[int, str]:
        """`--format dysca`'s integer ids: every question of the export, in id order, from 1."""
        ids = sorted({str(row["id"]) for rows in self.configs.values() for row in rows})
        return {number: hex_id for number, hex_id in enumerate(ids, start=1)}


@dataclass
class Converted:
    """A model's answers on one split, as hvgen predictions lines, and what could not be mapped."""

    lines: list[dict[str, str]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)  # "file (reader)"
    unmapped: list[str] = field(default_factory=list)
    seen: dict[tuple[str, str], str] = field(default_factory=dict)


def split_rows(source: Path, prefix: str, eval_split: str | None = None) -> SplitRows:
    """The export of a run directory (``RUN/export``) or an export folder, without its images: the
    rows of the split the harness formats evaluate (`eval_split`, as `hvgen export --split`; by
    default the one they pick), for the exports whose rows name their split."""
    export = source / EXPORT_DIR if (source / EXPORT_DIR).is_dir() else source
    configs: dict[str, list[dict[str, Any]]] = {}
    data = export / "data"
    folders = sorted(p for p in data.iterdir() if p.is_dir()) if data.is_dir() else []
    for folder in folders:
        if folder.name.endswith("_images"):
            continue
        rows: list[dict[str, Any]] = []
        for file in sorted(folder.glob("*.parquet")):
            names = pq.read_schema(file).names
            rows += pq.read_table(file, columns=[c for c in _ROW_COLUMNS if c in names]).to_pylist()
        configs[folder.name] = rows
    splits = {str(row["split"]) for rows in configs.values() for row in rows if row.get("split") is not None}
    if splits:
        chosen = harness_split(eval_split, splits)
        configs = {
            name: [row for row in rows if row.get("split") == chosen] for name, rows in configs.items()
        }
    return SplitRows(prefix, configs, source)


def convert(paths: Iterable[Path], split: SplitRows) -> Converted:
    """Every answer in `paths` (files, or folders of them) as {"id", "prediction", "scenario"}."""
    out = Converted()
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            # only files really inside the folder: a link out of it is skipped and named
            folder = SourceFolder(path)
            found = sorted(
                p for p in folder.files() if folder.admit(p) and p.is_file() and _predictions_file(p)
            )
            if folder.warning(str(path)):
                warn(
                    folder.warning(str(path)).replace(
                        f"rerun with {FOLLOW_SYMLINKS_OPTION}", "name the file itself"
                    )
                )
            if not found:
                raise HvgenError(
                    f"{path}: no predictions file in it (VLMEvalKit .xlsx/.tsv/.json, lmms-eval samples_*.jsonl, "
                    "Dysca's MODEL_<config>.json, HQH's answers json, VLBiasBench's result.json, or hvgen JSONL)."
                )
            files += found
        elif path.is_file():
            files.append(path)
        else:
            raise HvgenError(f"predictions {path}: no such file or folder.")
    for file in files:
        reader = _reader_of(file) or HVGEN
        before = len(out.lines)
        if reader in (HQH_ANSWERS, VLBIAS_RESULT):
            _original_scorer(file, split, out, reader)
        else:
            {VLMEVALKIT: _vlmevalkit, LMMS_EVAL: _lmms_eval, DYSCA_OUTPUT: _dysca_output, HVGEN: _hvgen}[
                reader
            ](file, split, out)
        out.sources.append(f"{file.name} ({reader}, {len(out.lines) - before} answers)")
    if not out.lines:
        raise HvgenError(
            f"no answer could be read from {', '.join(str(p) for p in paths)}: " + "; ".join(out.unmapped[:3])
        )
    return out


def _reader_of(file: Path) -> str | None:
    """Which reader a file is for, from its name and first bytes (None: not a predictions file)."""
    suffix = file.suffix.lower()
    if suffix in _SPREADSHEETS:
        return VLMEVALKIT if suffix == ".xlsx" or "prediction" in _first_line(file) else None
    if suffix == ".jsonl":
        first = _first_line(file)
        return LMMS_EVAL if '"doc_id"' in first else HVGEN if '"id"' in first else None
    if suffix == ".json":
        head = _first_line(file, 4000)
        if scorer_reader_of(head):  # before hvgen_id: hqh records carry it too, with their own scenario
            return scorer_reader_of(head)
        if '"hvgen_id"' in head:
            return HVGEN
        if '"prediction"' in head and '"index"' in head:
            return VLMEVALKIT
        return DYSCA_OUTPUT if '"answer"' in head else None
    return None


def _predictions_file(file: Path) -> bool:
    """Whether a file found in a folder holds answers: harness folders also hold their scores
    (VLMEvalKit's `..._MCQ_exact_matching_result.xlsx`, `_acc.csv`; lmms-eval's results json)
    and settings (VLBiasBench's `config.json`), which are skipped by name."""
    reader = _reader_of(file)
    if reader == VLMEVALKIT:
        return re.search(r"_(MCQ|YN|VQA|BOX)$", file.stem) is not None
    if reader == LMMS_EVAL:
        return re.search(r"(^|_)samples_", file.stem) is not None
    if file.name == "config.json" and (file.parent / "result.json").is_file():
        return False  # VLBiasBench's run folder: the model's and dataset's settings beside its answers
    return reader is not None


def _first_line(file: Path, size: int = 100_000) -> str:
    try:
        with open(file, encoding="utf-8", errors="replace") as handle:
            text = handle.read(size)
    except OSError:
        return ""
    return text if size <= 4000 else text.split("\n", 1)[0]


def _config_in_name(file: Path, split: SplitRows, pattern: str) -> str:
    """The export config a harness file is for, found in its name (`pattern` wraps the config)."""
    matches = [
        config
        for config in split.configs
        if re.search(pattern.format(prefix=re.escape(split.prefix), config=re.escape(config)), file.stem)
    ]
    if not matches:
        raise HvgenError(
            f"{file}: its name names none of the split's configs ({', '.join(split.configs)}): harness files are "
            f"named after the data set, e.g. MODEL_{split.prefix}_clean_MCQ.xlsx (VLMEvalKit), "
            f"<date>_samples_{split.prefix}_clean.jsonl (lmms-eval), MODEL_clean.json (Dysca's scorer)."
        )
    return max(matches, key=len)


def _add(out: Converted, question_id: str, answer: Any, scenario: str) -> None:
    """One answer; the same answer read twice (lmms-eval's samples and its task's predictions
    file, both under --output_path) counts once, a different second answer is reported."""
    text = "" if answer is None or (isinstance(answer, float) and math.isnan(answer)) else str(answer)
    key = (question_id, scenario)
    if key in out.seen:
        if out.seen[key] != text:
            out.unmapped.append(
                f"question {question_id} ({scenario}) answered twice, differently: the first is kept"
            )
        return
    out.seen[key] = text
    out.lines.append({"id": question_id, "prediction": text, "scenario": scenario})


# ------------------------------------------------------------------ VLMEvalKit


def _vlmevalkit(file: Path, split: SplitRows, out: Converted) -> None:
    match = None
    for config in sorted(split.configs, key=len, reverse=True):
        found = re.search(rf"{re.escape(split.prefix)}_{re.escape(config)}_(MCQ|YN|VQA|BOX)$", file.stem)
        if found:
            match = (config, found.group(1))
            break
    if match is None:
        _config_in_name(file, split, r"{prefix}_{config}_(MCQ|YN|VQA|BOX)$")  # raises with the naming rule
        return
    config, kind = match
    ids = split.kind_ids(config, kind)
    rows_by_id = {str(row["id"]): row for row in split.configs[config]}
    for number, row in enumerate(_table_rows(file), start=2):
        index = _integer(row.get("index"))
        if index is None or not 0 <= index < len(ids) or "prediction" not in row:
            out.unmapped.append(
                f"{file.name} row {number}: no index of this split's {config} {kind} questions"
            )
            continue
        stated = row.get("id")
        if isinstance(stated, str) and stated and _integer(stated) is None and stated != ids[index]:
            # (an all-digit id may have been turned into a number by the spreadsheet: not compared)
            raise HvgenError(
                f"{file.name} row {number}: index {index} is question {ids[index]} of this split, but the file says "
                f"{stated}: these predictions are for another split (release and twins swapped?)."
            )
        answer = row["prediction"]
        if kind == BOX:  # the harness prompt asks for corners: read as its scorer reads them
            answer = _box_answer(rows_by_id[ids[index]], answer)
        _add(out, ids[index], answer, split.scenario(config))


def _box_answer(row: dict[str, Any], response: Any) -> Any:
    """A box answer in the records' terms (normalised [x, y, w, h], as lmms-eval's task writes it),
    read from the model's words the way the export's `score_grounding.py` reads them; the words
    themselves when no box can be read (the scorer then counts them unreadable)."""
    scored = score_box(row, "" if response is None else str(response))
    return json.dumps([round(value, 6) for value in xyxy_to_xywh(scored.box)]) if scored.box else response


def _table_rows(file: Path) -> list[dict[str, Any]]:
    import pandas as pd

    try:
        if file.suffix.lower() == ".xlsx":
            frame = pd.read_excel(file, dtype={"id": str, "prediction": str})
        elif file.suffix.lower() == ".json":
            return [row for row in json.loads(file.read_text(encoding="utf-8")) if isinstance(row, dict)]
        else:
            sep = "\t" if file.suffix.lower() == ".tsv" else ","
            frame = pd.read_csv(file, sep=sep, dtype={"id": str, "prediction": str}, keep_default_na=False)
    except Exception as error:  # pandas raises many kinds for a file it cannot read
        raise HvgenError(f"{file}: cannot read it as a VLMEvalKit predictions file ({error}).") from None
    return frame.to_dict("records")


def _integer(value: Any) -> int | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return int(number) if math.isfinite(number) and number == int(number) else None


# ------------------------------------------------------------------ lmms-eval


def _lmms_eval(file: Path, split: SplitRows, out: Converted) -> None:
    config = _config_in_name(file, split, r"(^|_)samples_{prefix}_{config}$")
    rows = split.configs[config]
    for number, line in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            sample = json.loads(line)
        except json.JSONDecodeError:
            out.unmapped.append(f"{file.name} line {number}: not JSON")
            continue
        logged = sample.get("predictions") if isinstance(sample.get("predictions"), dict) else {}
        question_id = logged.get("id")
        doc = _integer(sample.get("doc_id"))
        if question_id is None and doc is not None and 0 <= doc < len(rows):
            question_id = rows[doc]["id"]
        if question_id is None:
            out.unmapped.append(f"{file.name} line {number}: no question id and no doc_id of this split")
            continue
        answer = logged["prediction"] if "prediction" in logged else _response(sample.get("filtered_resps"))
        _add(out, str(question_id), answer, split.scenario(config))


def _response(value: Any) -> Any:
    """The text of `filtered_resps`: a string, or the first of a (nested) list."""
    while isinstance(value, list) and value:
        value = value[0]
    return value


# ------------------------------------------------------------------ Dysca's scorer input and hvgen's own


def _dysca_output(file: Path, split: SplitRows, out: Converted) -> None:
    config = _config_in_name(file, split, r"(^|_){config}$")
    try:
        entries = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HvgenError(f"{file}: not a json list of model outputs ({error}).") from None
    if not isinstance(entries, list):
        raise HvgenError(f'{file}: Dysca\'s model output is a json list of {{"id", "answer"}}.')
    numbering = split.numbering()
    rows = split.configs[config]
    for position, entry in enumerate(entries):
        number = _integer(entry.get("id")) if isinstance(entry, dict) else None
        if number is not None and number in numbering:
            question_id = numbering[number]
        elif number is None and isinstance(entry, dict) and position < len(rows):  # paired by position
            question_id = str(rows[position]["id"])
        else:
            out.unmapped.append(
                f"{file.name} entry {position + 1}: id {entry!r:.60} is not one of this split's"
            )
            continue
        _add(out, question_id, entry.get("answer"), split.scenario(config))


def _original_scorer(file: Path, split: SplitRows, out: Converted, reader: str) -> None:
    """HQH's answers or VLBiasBench's result.json, mapped by `scorer_outputs`."""
    if reader == HQH_ANSWERS:
        mapped = read_hqh_answers(file, split.configs)
    else:
        mapped = read_vlbias_result(file, split.configs, split.root)
    for question_id, answer, scenario in mapped.answers:
        _add(out, question_id, answer, scenario)
    out.unmapped += mapped.unmapped


def _hvgen(file: Path, split: SplitRows, out: Converted) -> None:
    """hvgen's JSONL (or a json list with `hvgen_id`); lmms-eval's `<task>_predictions.jsonl`
    lines carry no scenario, which the task name in the file name gives."""
    from hvgen.scoring import read_prediction_lines

    scenario = None
    if file.stem.endswith("_predictions"):
        scenario = split.scenario(_config_in_name(file, split, r"{prefix}_{config}_predictions$"))
    lines = read_prediction_lines(file)
    explicit = _explicit_scenarios(file)
    for (question_id, line_scenario), answer in lines.texts.items():
        chosen = line_scenario if (scenario is None or question_id in explicit) else scenario
        _add(out, question_id, answer, chosen)
    out.unmapped += [f"{file.name} {problem}" for problem in lines.malformed]


def _explicit_scenarios(file: Path) -> set[str]:
    """Ids of JSONL lines that name their scenario themselves (they keep it)."""
    if file.suffix.lower() != ".jsonl":
        return set()
    found = set()
    for line in file.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict) and "scenario" in entry and "id" in entry:
            found.add(str(entry["id"]))
    return found
