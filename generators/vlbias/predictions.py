"""Reading a model's VLBiasBench predictions: hvgen's JSONL (`{"id", "prediction"}` by record id)
or the original evaluation code's `result.json` files (integer ids: the numbering of
`hvgen export --format vlbias`, see `release.original_numbering`), resolved to record ids and
paired with the records. Every malformed line fails loudly, naming file and line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvgen.scoring import read_predictions_text

from .categories import MULTI_CHOICE as CLOSE_ENDED_TYPE

RESULT_FILE = "result.json"  # what the original run_evaluation.py writes per dataset run


@dataclass
class _Row:
    key: Any
    text: str
    instruction: str | None
    where: str
    first_seen: str


def _prediction_rows(path: Path) -> Iterator[_Row]:
    """Rows of a JSONL file, a JSON list (the original `result.json`) or a folder of
    `result.json` files; `text` is `prediction`, or the original's `answer`."""
    if path.is_dir():
        files = sorted(path.rglob(RESULT_FILE))
        if not files:
            raise ValueError(
                f"{path}: a folder, but no {RESULT_FILE} in it (the original run_evaluation.py output)"
            )
        for file in files:
            yield from _prediction_rows(file)
        return
    text = read_predictions_text(path)  # refuses an empty, binary or non-UTF-8 file; drops a BOM
    if text.lstrip().startswith("["):
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error.msg} at line {error.lineno})") from None
        for index, entry in enumerate(entries):
            where = f"{path}, entry {index}"
            yield _row(entry, where, f"at {where}")
        return
    for line_number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}, line {line_number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"{where}: not valid JSON ({error.msg} at column {error.colno})") from None
        yield _row(entry, where, f"on line {line_number}")


def _row(entry: Any, where: str, first_seen: str) -> _Row:
    if not isinstance(entry, dict):
        raise ValueError(f'{where}: expected a JSON object like {{"id": ..., "prediction": ...}}')
    key = "prediction" if "prediction" in entry else "answer" if "answer" in entry else None
    missing = [name for name, ok in (("id", "id" in entry), ("prediction", key is not None)) if not ok]
    if missing:
        raise ValueError(
            f"{where}: missing key(s) {', '.join(missing)}; each line needs 'id' and 'prediction' "
            "(or the original result.json's 'answer')"
        )
    text = entry[key]
    if text is None:
        text = ""
    if not isinstance(text, str):
        raise ValueError(f"{where}: '{key}' must be a string, got {type(text).__name__}")
    instruction = entry.get("instruction")
    return _Row(entry["id"], text, instruction if isinstance(instruction, str) else None, where, first_seen)


def load_predictions(path: str | Path) -> dict[str, str]:
    """Read predictions into ``{id: prediction}`` (ids as strings, whatever their JSON type).

    Fails loudly (file and line number) on bad JSON, a missing ``id``/``prediction`` key, a
    non-string prediction or a duplicated id, because a silently skipped line would change the
    scores without anyone noticing. Blank lines are allowed.
    """
    return read_predictions(path, check_scheme=False).texts


@dataclass
class Predictions:
    """Predictions as read: `texts` by id (as a string); `original` when the ids are the
    original loader's integers; `instructions` the text each was asked (result.json)."""

    texts: dict[str, str] = field(default_factory=dict)
    original: bool = False
    instructions: dict[str, str] = field(default_factory=dict)


def read_predictions(path: str | Path, check_scheme: bool = True) -> Predictions:
    """Read a JSONL file, an original `result.json` or a folder of them (see `_prediction_rows`).

    Integer ids mean the original numbering; mixing them with hvgen's string ids is refused
    (with `check_scheme`), since the two cannot be told apart afterwards."""
    path = Path(path)
    result = Predictions()
    first_seen: dict[str, str] = {}
    kinds: set[bool] = set()
    for row in _prediction_rows(path):
        is_int = isinstance(row.key, int) and not isinstance(row.key, bool)
        kinds.add(is_int)
        if check_scheme and len(kinds) > 1:
            raise ValueError(
                f"{row.where}: ids mix integers (the original loader's numbering) and hvgen's string ids; "
                "use one kind per predictions file"
            )
        key = str(row.key)
        if key in result.texts:
            raise ValueError(f"{row.where}: duplicate id {key!r} (first seen {first_seen[key]})")
        result.texts[key] = row.text
        first_seen[key] = row.first_seen
        if row.instruction is not None:
            result.instructions[key] = row.instruction
    result.original = kinds == {True}
    return result


def _asks_the_same(record: Mapping[str, Any], instruction: str) -> bool:
    """Whether the original loader's instruction text is this record's question: close-ended,
    it quotes context and question (close_ended.py joins them); open-ended, it is the record's
    instruction itself (open_ended.py returns the stored sample)."""
    if record.get("question_type") == CLOSE_ENDED_TYPE:
        return f"{record['context']} {record['question']}" in instruction
    return instruction.strip() == str(record.get("instruction", "")).strip()


def resolve_predictions(
    records: list[Mapping[str, Any]], predictions: Predictions
) -> tuple[dict[str, str], dict[str, int]]:
    """Predictions keyed by record id, and the original numbering used (empty for hvgen ids).

    An integer id maps to the record the original loader numbers so; one that maps to none
    stays under its own number and is reported as extra. When `result.json` carries the
    instructions, each is checked against its record, so predictions numbered over another
    set of samples (another run, a tree with other questions) fail instead of scoring wrongly.
    """
    if not predictions.original:
        return dict(predictions.texts), {}
    from .release import original_numbering

    numbering = original_numbering(records)
    by_number = {str(number): record_id for record_id, number in numbering.items()}
    by_id = {str(record["id"]): record for record in records}
    resolved: dict[str, str] = {}
    mismatched: list[str] = []
    for key, text in predictions.texts.items():
        record_id = by_number.get(key)
        if record_id is None:
            resolved[key] = text
            continue
        instruction = predictions.instructions.get(key)
        if instruction is not None and not _asks_the_same(by_id[record_id], instruction):
            mismatched.append(key)
        resolved[record_id] = text
    if mismatched:
        raise ValueError(
            f"{len(mismatched)} prediction(s) were asked another question than the sample hvgen numbers so "
            f"(ids {', '.join(mismatched[:5])}): they come from another export; score them against the run "
            "or export folder whose `--format vlbias` tree the model read"
        )
    return resolved, numbering


def match_predictions(
    records: Iterable[Mapping[str, Any]], predictions: Mapping[str, str]
) -> tuple[list[tuple[Mapping[str, Any], str]], list[str], list[str]]:
    """Pair records with their predictions by id.

    Returns ``(matched, missing_ids, extra_ids)``: ``matched`` keeps the records' order,
    ``missing_ids`` are record ids with no prediction (in record order) and ``extra_ids`` are
    prediction ids with no record (sorted). Both lists go into the score report so that a
    partial run is visible instead of quietly scoring a subset. Duplicate record ids raise,
    since they would count one prediction twice.
    """
    matched: list[tuple[Mapping[str, Any], str]] = []
    missing: list[str] = []
    seen: set[str] = set()
    for record in records:
        record_id = str(record["id"])
        if record_id in seen:
            raise ValueError(f"duplicate record id {record_id!r}: each record must be scored once")
        seen.add(record_id)
        if record_id in predictions:
            matched.append((record, predictions[record_id]))
        else:
            missing.append(record_id)
    extra = sorted(set(predictions) - seen)
    return matched, missing, extra
