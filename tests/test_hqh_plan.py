"""HQH planning: eight types, open items with closed twins, balance, determinism, clear errors."""

from __future__ import annotations

import json
from collections import Counter, defaultdict

import pytest

from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.records import validate_records

TYPES = {"attribute", "action", "count", "comparison", "environment", "existence", "OCR", "relation"}


def plan(num: int = 40, seed: int = 7, **options):
    generator = get_generator("hqh")(PlanRequest(run_seed=seed, num=num, options=options))
    return generator.plan().records


@pytest.fixture(scope="module")
def records():
    return validate_records(plan(), "hqh")


def test_all_eight_types_have_open_items_and_closed_twins(records) -> None:
    by_item = defaultdict(list)
    for record in records:
        by_item[record["item_id"]].append(record)
    assert {r["type"] for r in records} == TYPES
    assert len(by_item) == 40
    for twins in by_item.values():
        kinds = Counter(r["question_type"] for r in twins)
        existence = twins[0]["type"] == "existence"
        assert kinds == {"free form": 1, "yes/no": 2 if existence else 1, "multi choice": 1}
        assert len({r["image_id"] for r in twins}) == 1 and len({r["type"] for r in twins}) == 1
        if existence:
            assert {r["polarity"] for r in twins if r["question_type"] == "yes/no"} == {
                "positive",
                "negative",
            }


def test_answers_come_from_the_prompt(records) -> None:
    for record in records:
        truth = record["truth"]
        assert (
            truth.lower() in record["prompt"].lower()
            or record["type"] == "count"
            and truth in record["prompt"]
        )
        if record["question_type"] == "free form":
            assert record["answer"] == record["ground_truth"] and record["options"] == []
            assert record["instruction"].strip() == record["question"]
        elif record["question_type"] == "yes/no":
            assert record["answer"] == ("Yes" if record["asked"] == truth else "No")
            assert (record["polarity"] == "positive") == (record["answer"] == "Yes")
        else:
            assert record["options"][record["answer_index"]] == truth
            assert record["foil"] in record["options"] and record["foil"] != truth
        assert record["foil"] != truth


def test_closed_answers_are_balanced(records) -> None:
    yes_no = Counter(
        r["answer"] for r in records if r["question_type"] == "yes/no" and r["type"] != "existence"
    )
    assert abs(yes_no["Yes"] - yes_no["No"]) <= 1
    positions = Counter(
        r["answer_index"] for r in records if r["question_type"] == "multi choice" and len(r["options"]) == 4
    )
    assert max(positions.values()) - min(positions.values()) <= 1


def test_same_seed_same_records_other_seed_fresh_split() -> None:
    first, again, other = plan(16, seed=3), plan(16, seed=3), plan(16, seed=4)
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert not {r["id"] for r in first} & {r["id"] for r in other}


def test_type_and_twin_selection() -> None:
    chosen = plan(6, types="ocr,count", twins="none")
    assert {r["type"] for r in chosen} == {"OCR", "count"}
    assert {r["question_type"] for r in chosen} == {"free form"}
    assert all(r["task"] == "OCR" for r in chosen if r["type"] == "OCR")
    yes_no_only = plan(4, twins="yes-no")
    assert {r["question_type"] for r in yes_no_only} == {"free form", "yes/no"}


@pytest.mark.parametrize(
    ("options", "fragment"), [({"types": "colour"}, "colour"), ({"twins": "essay"}, "essay")]
)
def test_unknown_names_are_clear_errors(options, fragment) -> None:
    with pytest.raises(HvgenError, match=fragment):
        plan(4, **options)


def test_export_configs_separate_open_and_closed() -> None:
    generator = get_generator("hqh")(PlanRequest(run_seed=0, num=1, options={}))
    names = {c.name: c.where for c in generator.export_configs(["clean", "print"])}
    assert names == {
        "open": "form = 'open'",
        "closed": "form = 'closed'",
        "print_open": "form = 'open'",
        "print_closed": "form = 'closed'",
    }
