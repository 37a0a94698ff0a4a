"""Record validation: the compiled validator (jsonschema-rs) that checks every record agrees
with the reference implementation (`jsonschema`) on valid and broken records, and a refusal
names the record and the field."""

from __future__ import annotations

import copy
import math
import random

import pytest
from jsonschema import Draft202012Validator

from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.records import fast_check, load_schema, validate_record


def plan(benchmark: str, num: int) -> list[dict]:
    return list(get_generator(benchmark)(PlanRequest(run_seed=5, num=num, options={})).plan().records)


@pytest.fixture(scope="module")
def dysca_records() -> list[dict]:
    return plan("dysca", 12)


def mutations(record: dict, rng: random.Random) -> list[dict]:
    """Broken copies of `record`: a field removed, of another type, out of its enum or range,
    an unknown field added, a nested value changed."""
    junk = [None, 7, -1, 1.5, "", "x", [], ["a", "a"], {}, True, "zz" * 9]
    out = []
    for key in record:
        out.append({k: v for k, v in record.items() if k != key})
        for value in rng.sample(junk, 4):
            out.append({**record, key: value})
    out.append({**record, "not_a_field": 1})
    for key, value in record.items():
        if isinstance(value, dict) and value:
            inner = copy.deepcopy(value)
            inner[next(iter(inner))] = 3
            out.append({**record, key: inner})
        if isinstance(value, list) and value:
            out.append({**record, key: [*value, value[0]]})
    return out


def test_compiled_and_reference_validators_agree(dysca_records: list[dict]) -> None:
    reference = Draft202012Validator(load_schema("dysca"))
    compiled = fast_check("dysca")
    rng = random.Random(0)
    checked = 0
    for record in dysca_records[:40]:
        assert compiled(record) and reference.is_valid(record)
        for broken in mutations(record, rng):
            assert compiled(broken) == reference.is_valid(broken), broken
            checked += 1
    assert checked > 1000


def test_a_refusal_names_the_record_and_the_field(dysca_records: list[dict]) -> None:
    record = dysca_records[0]
    with pytest.raises(
        HvgenError, match=rf"record '{record['id']}' violates schema 'dysca': field 'question_type'"
    ):
        validate_record({**record, "question_type": "essay"}, "dysca")
    with pytest.raises(HvgenError, match="field 'attributes/age'"):
        validate_record({**record, "attributes": {**record["attributes"], "age": 3}}, "dysca")
    missing = {k: v for k, v in record.items() if k != "truth"}
    with pytest.raises(HvgenError, match="field 'truth'.*required"):
        validate_record(missing, "dysca")


@pytest.mark.parametrize("value", [math.nan, math.inf, {"a", "b"}, object()])
def test_values_json_cannot_hold_are_refused(dysca_records: list[dict], value: object) -> None:
    """NaN and infinity (json.dumps would write invalid JSON), a set, an object: refused with
    the record named, whichever validator notices."""
    record = dysca_records[0]
    with pytest.raises(HvgenError, match=f"record '{record['id']}' violates schema 'dysca'"):
        validate_record({**record, "foreground": value}, "dysca")
