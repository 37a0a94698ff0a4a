"""Metadata records and their validation against ``schemas/<bench>.json``.

A record is a plain dict (one per question). Every record is validated before it is written,
so a broken template or vocabulary fails at plan time with the record id and field named,
not at evaluation time in someone else's lab.

Two validators, one schema: every record is checked by jsonschema-rs (compiled, in Rust: ~2 µs
a Dysca record where the pure-Python `jsonschema` took ~330 µs, 58–70 % of a whole plan), and
only a record it refuses goes through `jsonschema`, whose `best_match` names the field most
worth fixing. `tests/test_records_validation.py` checks that the two agree on valid and broken
records of every shipped schema.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from functools import cache
from typing import TYPE_CHECKING, Any

import jsonschema_rs

from hvgen.benchmark_data import schema_file
from hvgen.errors import HvgenError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError

Record = dict[str, Any]


@cache
def load_schema(name: str) -> dict[str, Any]:
    resource = schema_file(name)
    if not resource.is_file():
        raise HvgenError(f"no schema '{name}.json' in {resource.parent}.")
    schema = json.loads(resource.read_text(encoding="utf-8"))
    if not jsonschema_rs.meta.is_valid(schema):
        from jsonschema import Draft202012Validator  # its SchemaError says what is wrong, and where

        Draft202012Validator.check_schema(schema)
    return schema


@cache
def fast_check(name: str) -> Callable[[Any], bool]:
    """The compiled `is_valid` of a schema: True when the record conforms."""
    return jsonschema_rs.Draft202012Validator(load_schema(name)).is_valid


@cache
def _explainer(name: str) -> Any:
    """The pure-Python validator, built only to explain a refusal (imported on first need)."""
    from jsonschema import Draft202012Validator

    return Draft202012Validator(load_schema(name))


def _field_of(error: ValidationError) -> str:
    path = "/".join(str(p) for p in error.absolute_path)
    if not path and error.validator == "required":
        return str(error.message).split("'")[1] if "'" in error.message else "(record)"
    return path or "(record)"


def validate_record(record: Record, schema: str) -> None:
    """Raise `HvgenError` naming the record id and the offending field."""
    try:
        valid = fast_check(schema)(record)
    except ValueError:  # a value JSON cannot hold (a set, an object, a non-string key)
        valid = False
    if not valid:
        _refuse(record, schema)
    check_answer_consistency(record)


def _refuse(record: Record, schema: str) -> None:
    """Raise the error that names the field, found by the pure-Python validator (it reports
    errors the way users know them). Where it finds none, the record holds what JSON cannot
    (NaN, a set, a non-string key): the compiled validator's words say where."""
    from jsonschema.exceptions import best_match

    error = best_match(_explainer(schema).iter_errors(record))
    if error is not None:
        raise HvgenError(
            f"record '{record.get('id', '?')}' violates schema '{schema}': field '{_field_of(error)}': {error.message}"
        )
    try:
        found = next(iter(jsonschema_rs.Draft202012Validator(load_schema(schema)).iter_errors(record)), None)
        where = "/".join(str(p) for p in found.instance_path) if found else ""
        why = found.message if found else "not representable as JSON"
    except ValueError as error:
        where, why = "", f"not representable as JSON ({error})"
    raise HvgenError(
        f"record '{record.get('id', '?')}' violates schema '{schema}': field '{where or '(record)'}': {why}"
    )


LETTERS = "ABCDEFGHIJ"


def check_answer_consistency(record: Record) -> None:
    """What JSON Schema cannot say: the answer is the option at `answer_index` — or, for a
    question with several right options (`answer_indices`), their letters joined by ", "."""
    options = record.get("options") or []
    if not options:
        return
    several = record.get("answer_indices")
    if several:
        letters = ", ".join(LETTERS[i] for i in several if isinstance(i, int) and 0 <= i < len(options))
        if letters != record.get("answer") or len(letters.split(", ")) != len(several):
            raise HvgenError(
                f"record '{record.get('id', '?')}': field 'answer': '{record.get('answer')}' is not the letters of "
                f"options {several} of {options}."
            )
        return
    index = record.get("answer_index")
    if not isinstance(index, int) or not 0 <= index < len(options) or options[index] != record.get("answer"):
        raise HvgenError(
            f"record '{record.get('id', '?')}': field 'answer': '{record.get('answer')}' is not options[{index}] of {options}."
        )


def validate_records(records: Iterable[Record], schema: str) -> list[Record]:
    """Validate all records and check ids are unique; returns them as a list."""
    seen: set[str] = set()
    out = []
    for record in records:
        validate_record(record, schema)
        if record["id"] in seen:
            raise HvgenError(
                f"record id '{record['id']}' is planned twice: the generator must give each question a unique id."
            )
        seen.add(record["id"])
        out.append(record)
    return out
