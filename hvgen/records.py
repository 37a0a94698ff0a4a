"""Metadata records and their validation against ``schemas/<bench>.json``.

A record is a plain dict (one per question). Every record is validated before it is written,
so a broken template or vocabulary fails at plan time with the record id and field named,
not at evaluation time in someone else's lab.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import cache
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

from hvgen.benchmark_data import schema_file
from hvgen.errors import HvgenError

Record = dict[str, Any]


@cache
def load_schema(name: str) -> dict[str, Any]:
    resource = schema_file(name)
    if not resource.is_file():
        raise HvgenError(f"no schema '{name}.json' in {resource.parent}.")
    schema = json.loads(resource.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return schema


@cache
def _validator(name: str) -> Draft202012Validator:
    return Draft202012Validator(load_schema(name))


def _field_of(error: ValidationError) -> str:
    path = "/".join(str(p) for p in error.absolute_path)
    if not path and error.validator == "required":
        return str(error.message).split("'")[1] if "'" in error.message else "(record)"
    return path or "(record)"


def validate_record(record: Record, schema: str) -> None:
    """Raise `HvgenError` naming the record id and the offending field."""
    validator = _validator(schema)
    if validator.is_valid(record):  # the common case: no error to search for (several times faster)
        check_answer_consistency(record)
        return
    error = best_match(validator.iter_errors(record))
    if error is not None:
        raise HvgenError(
            f"record '{record.get('id', '?')}' violates schema '{schema}': field '{_field_of(error)}': {error.message}"
        )
    check_answer_consistency(record)


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
