"""Shared plumbing of `hvgen score`: reading the questions back and writing reports."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from hvgen.errors import HvgenError
from hvgen.records import Record
from hvgen.store.atomic import write_text_atomic
from hvgen.store.catalog import CATALOG_FILE, open_catalog, query_arrow

_LETTER = re.compile(r"^\s*\(?([A-D])\s*[\).:]?(?:\s|$)")


def parse_choice(text: Any, options: list[str]) -> int | None:
    """The chosen option: a letter (A, "B.", "(C)") or the option's own text; None otherwise."""
    if not isinstance(text, str):
        return None
    letter = _LETTER.match(text)
    if letter and "ABCD".index(letter.group(1)) < len(options):
        return "ABCD".index(letter.group(1))
    cleaned = text.strip().strip(".").strip().lower()
    matches = [i for i, option in enumerate(options) if option.lower() == cleaned]
    if not matches:  # a sentence that names exactly one option
        matches = [
            i for i, option in enumerate(options) if re.search(rf"\b{re.escape(option.lower())}\b", cleaned)
        ]
    return matches[0] if len(matches) == 1 else None


def load_questions(source: Path) -> list[Record]:
    """Records from a run directory (its catalog) or an export folder (its parquet files, images dropped)."""
    from hvgen.store.decisions import check_build_current
    from hvgen.store.layout import CONFIG_BACKUP, CONFIG_FILE

    is_run = any((source / name).is_file() for name in (CONFIG_FILE, CONFIG_BACKUP, CATALOG_FILE))
    if is_run:  # commands repair a damaged catalog first (hvgen.cli.options.repair_run)
        with open_catalog(source, read_only=True) as con:
            check_build_current(source, con)  # a rebuilt catalog lost the build's drops: refused
            return query_arrow(con, "SELECT * FROM kept_records ORDER BY id").to_pylist()
    files = sorted(source.glob("data/**/*.parquet")) if source.is_dir() else []
    files = [f for f in files if not f.parent.name.endswith("_images")]  # image-once layout's pictures
    if not files:
        raise HvgenError(
            f"{source} is neither an hvgen run directory (no {CATALOG_FILE}) nor an export folder (no data/**/*.parquet)."
        )
    con = duckdb.connect()
    try:
        file_list = "[" + ", ".join(f"'{f.as_posix()}'" for f in files) + "]"
        table = query_arrow(
            con,
            f"SELECT DISTINCT ON (id) * FROM read_parquet({file_list}, union_by_name=true) ORDER BY id",
        )
    finally:
        con.close()
    if "image" in table.column_names:
        table = table.drop_columns(["image"])
    return table.to_pylist()


def check_benchmark(records: list[Record], benchmark: str, source: Path) -> None:
    """Refuse to score questions of another benchmark (each record names its `generator`): the
    scorer would otherwise stop at the first field that benchmark does not have."""
    if not records:
        raise HvgenError(f"{source} holds no questions to score (was everything dropped by `hvgen build`?).")
    found = sorted({str(r.get("generator")) for r in records if r.get("generator")})
    if not found or benchmark in found:
        return
    from hvgen.generator import get_generator

    other = found[0]
    try:
        has_scorer = get_generator(other).has_scorer()
    except HvgenError:
        has_scorer = False
    from hvgen.publish.formats import format_names

    if has_scorer:
        fix = f"score it with `hvgen score {other} {source} PREDICTIONS`"
    elif other in format_names():
        fix = f"hvgen has no scorer for {other}: its own evaluation code reads `hvgen export RUN --format {other}`"
    else:
        fix = f"hvgen has no scorer for {other}"
    raise HvgenError(
        f"{source} holds {', '.join(found)} questions, not {benchmark} ones: pass a {benchmark} run or export "
        f"folder instead ({fix})."
    )


def scorer_options(cls: Any, embedder: str | None, judge: Any = None) -> dict[str, Any]:
    """The keyword arguments `cls.score` takes: the embedder always, the judge (a
    `hvgen.judges.JudgeSpec` or None) only for benchmarks that grade with one."""
    if cls.uses_judge:
        return {"embedder": embedder, "judge": judge}
    if judge is not None:
        raise HvgenError(f"{cls.name} scores without an LLM judge: leave out --judge and --judge-model.")
    return {"embedder": embedder}


def write_report(report: dict[str, Any], path: Path) -> None:
    if path.suffix == ".csv":
        rows = report.get("table") or []
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        write_text_atomic(path, buffer.getvalue())
    else:
        write_text_atomic(path, json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")


DEFAULT_SCENARIO = "clean"


def item_key(record_id: str, scenario: str) -> str:
    """How an answer is named in reports: the question id, with "@scenario" off clean images."""
    return record_id if scenario == DEFAULT_SCENARIO else f"{record_id}@{scenario}"


@dataclass
class PredictionLines:
    """A predictions file as read, line by line, without giving up on a bad line.

    `texts` maps (question id, scenario) to the model's answer; a line without "scenario" is a
    clean-image answer. Bad lines are kept as "line N: why" in `malformed` and duplicates (the
    first answer wins) in `duplicates`, so a report can say how much of the file was not used.
    """

    texts: dict[tuple[str, str], Any] = field(default_factory=dict)
    malformed: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    lines: int = 0


PREDICTIONS_FORMAT = (
    'Pass a JSONL file with one {"id": "<question id>", "prediction": "<model answer>"} per line.'
)


def read_predictions_text(path: Path) -> str:
    """The text of a predictions file, refused in one line when it is not one: absent, a folder,
    binary, not UTF-8, or empty. A UTF-8 byte-order mark (Windows editors write one) is dropped."""
    path = Path(path)
    if not path.is_file():
        raise HvgenError(f"cannot read predictions file {path}: no such file. {PREDICTIONS_FORMAT}")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise HvgenError(f"cannot read predictions file {path}: {error.strerror}.") from None
    if b"\x00" in data[: 1 << 16]:
        raise HvgenError(f"predictions file {path} is binary, not text. {PREDICTIONS_FORMAT}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise HvgenError(
            f"predictions file {path} is not UTF-8 text (byte {error.start}). {PREDICTIONS_FORMAT}"
        ) from None
    if not text.strip():
        raise HvgenError(f"predictions file {path} is empty. {PREDICTIONS_FORMAT}")
    return text


def check_predictions_answer(path: Path, predicted: Iterable[str], questions: Iterable[str]) -> None:
    """Refuse predictions of which none answers one of the questions (another run's, or ids that
    are not question ids): scoring them would report accuracy 0 as if the model had answered."""
    predicted = set(predicted)
    if predicted and predicted.isdisjoint(questions):
        raise HvgenError(
            f"none of the {len(predicted)} predictions in {path} answers a question of these records (ids such as "
            f"{sorted(predicted)[:3]}): predictions are keyed by the question `id` of the run or its export "
            "(`hvgen_id` in a release format); score them against the run the model answered."
        )


def read_prediction_lines(path: Path, answer_types: tuple[type, ...] = (str,)) -> PredictionLines:
    """Read a JSONL predictions file: one {"id", "prediction" (or "answer"), "scenario"?} per line.

    Only a file that cannot be read at all, or holds no usable line, is an error: one broken
    line out of thousands should be counted and reported, not stop the scoring. An answer must be
    text, or one of `answer_types` (HERM takes a box as a list of numbers)."""
    text = read_predictions_text(path)
    result = PredictionLines()
    for number, line in _numbered_entries(text, path):
        if not line.strip():
            continue
        result.lines += 1
        problem, key, answer = _parse_prediction_line(line, answer_types)
        if problem:
            result.malformed.append(f"line {number}: {problem}")
        elif key in result.texts:
            result.duplicates.append(f"line {number}: id {key[0]!r} ({key[1]}) already answered")
        else:
            result.texts[key] = answer
    if not result.texts:
        first = result.malformed[0] if result.malformed else "the file is empty"
        raise HvgenError(
            f"no usable prediction in {path} ({first}). Each line must be a JSON object like "
            '{"id": "<question id>", "prediction": "<model answer>"} (optionally "scenario": "corruption").'
        )
    return result


RELEASE_ID_KEY = "hvgen_id"
"""The key under which release formats (`hvgen export --format <bench>`) keep hvgen's question id."""


def _numbered_entries(text: str, path: Path) -> list[tuple[int, str]]:
    """(number, JSON text) per prediction: the lines of a JSONL file, or the elements of a JSON
    list — a release format's records with the model's "answer" added, as the original
    benchmarks' own scripts read them — each keyed by its `hvgen_id` (the release's integer
    `id` is not ours)."""
    if not text.lstrip().startswith("["):
        return list(enumerate(text.splitlines(), start=1))
    try:
        entries = json.loads(text)
    except json.JSONDecodeError as error:
        raise HvgenError(
            f"{path} starts like a JSON list but is not valid JSON ({error.msg} at line {error.lineno}); pass a JSON "
            'list of records with "answer", or JSONL with one {"id": ..., "prediction": ...} per line.'
        ) from None
    numbered = []
    for number, entry in enumerate(entries, start=1):
        if isinstance(entry, dict) and RELEASE_ID_KEY in entry:
            entry = {**entry, "id": entry[RELEASE_ID_KEY]}
        numbered.append((number, json.dumps(entry)))
    return numbered


def _parse_prediction_line(
    line: str, answer_types: tuple[type, ...] = (str,)
) -> tuple[str | None, tuple[str, str], Any]:
    """(problem or None, (id, scenario), answer) of one JSONL line."""
    empty = ("", DEFAULT_SCENARIO)
    try:
        entry = json.loads(line)
    except json.JSONDecodeError as error:
        return f"not valid JSON ({error.msg} at column {error.colno})", empty, ""
    if not isinstance(entry, dict):
        return "not a JSON object", empty, ""
    answer_key = "prediction" if "prediction" in entry else "answer" if "answer" in entry else None
    if "id" not in entry or answer_key is None:
        return "needs keys 'id' and 'prediction'", empty, ""
    answer = "" if entry[answer_key] is None else entry[answer_key]
    scenario = entry.get("scenario", DEFAULT_SCENARIO)
    if not isinstance(answer, answer_types):
        return f"'{answer_key}' must be a string, not {type(answer).__name__}", empty, ""
    if not isinstance(scenario, str) or not scenario:
        return "'scenario' must be a scenario name", empty, ""
    return None, (str(entry["id"]), scenario), answer
