"""Dysca plans fast without changing a byte: renders remembered by what the template reads
(`MemoRenders`) give what rendering every time gives, and the plan's records are the ones the
plan made before those shortcuts (the hashes below were made by the code without them)."""

from __future__ import annotations

import hashlib
import itertools
import random
from pathlib import Path

import pytest
from hvgen.generators.dysca.questions import Without
from hvgen.generators.dysca.renders import MemoRenders

from hvgen.config import RunConfig
from hvgen.stages.plan import build_generator, plan_records, serialise_records
from hvgen.templating import TemplateSet

# (num, seed, options) → sha256 of records.jsonl, as planned before images were streamed and
# renders remembered: per-image variables, the tried draws, the skipped exhausted draws and the
# in-place vocabularies must leave every record as it was.
PLANS = [
    (300, 11, {}, "3b42d13aebf50ac031a3e7b32156cb40c88b1507607b39ad87e0e5f794f83ad0"),
    (300, 12, {"thin": True, "question_types": "mc,ff"}, "1940bd824bcc0f5ee10183d2b5f045403faa0fc5e4cefdf4f3ce02e4f5f8c14b"),
    # 2 styles: the tightest foregrounds run out (random draws skipped, then walked)
    (700, 13, {"allow_short": True, "styles": "art nouveau,constructivist"},
     "6ec126acfbf2916e8352b320bf22cc7072432f20d41f223d2d2c1419d63ee2be"),
]  # fmt: skip


@pytest.mark.parametrize(("num", "seed", "options", "sha256"), PLANS)
def test_the_plan_is_byte_identical_to_the_plan_before(
    num: int, seed: int, options: dict, sha256: str
) -> None:
    config = RunConfig(benchmark="dysca", num=num, seed=seed, options=options)
    text = serialise_records(plan_records(build_generator(config)))
    assert hashlib.sha256(text.encode()).hexdigest() == sha256


def _templates(tmp_path: Path, files: dict[str, str]) -> TemplateSet:
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    return TemplateSet("dysca", tmp_path)


USER_TEMPLATES = {
    # reads `race` only through an include, `gender` only in one block, `range` as a variable
    "questions/age.j2": '{% block multi_choice %}{{ subtask }} {% include "questions/_who.j2" %}{% endblock %}'
    "{% block true_or_false %}{{ item }} {{ gender }} {{ range }}{% endblock %}",
    "questions/_who.j2": "{{ race }}",
    # a block that renders another: what that one reads counts
    "questions/gender.j2": "{% block multi_choice %}{{ race }}{% endblock %}"
    "{% block true_or_false %}{{ self.multi_choice() }} {{ item }}{% endblock %}",
    # a block only the extended template has
    "questions/race.j2": '{% extends "questions/_base.j2" %}{% block multi_choice %}{{ item }}{% endblock %}',
    "questions/_base.j2": "{% block true_or_false %}{{ race }} {{ subtask }}{% endblock %}",
    # a template named by a variable: nothing is known, so nothing is remembered
    "questions/color.j2": "{% block true_or_false %}{% include which %}{% endblock %}",
}


@pytest.mark.parametrize(
    ("name", "block"),
    [
        ("questions/age.j2", "multi_choice"),
        ("questions/age.j2", "true_or_false"),
        ("questions/gender.j2", "true_or_false"),
        ("questions/race.j2", "true_or_false"),
        ("questions/race.j2", "multi_choice"),
        ("questions/color.j2", "true_or_false"),
    ],
)
def test_a_remembered_render_is_the_render(tmp_path: Path, name: str, block: str) -> None:
    templates = _templates(tmp_path, USER_TEMPLATES)
    memo = MemoRenders(templates)
    values = ["a", "b", 1, True, None]
    for subtask, item, gender, race, shadow in itertools.product(
        values[:2], values, values[:2], values, values[:2]
    ):
        variables = {"subtask": subtask, "item": item, "gender": gender, "race": race, "range": shadow}
        variables["which"] = "questions/_who.j2"
        assert memo.render(name, variables, block=block) == templates.render(name, variables, block=block)


def test_what_a_render_reads(tmp_path: Path) -> None:
    memo = MemoRenders(_templates(tmp_path, USER_TEMPLATES))
    assert memo.reads("questions/age.j2", "multi_choice") == ("race", "subtask")
    assert memo.reads("questions/age.j2", "true_or_false") == ("gender", "item", "range")
    assert memo.reads("questions/gender.j2", "true_or_false") == ("item", "race")
    assert memo.reads("questions/race.j2", "true_or_false") == ("race", "subtask")
    assert memo.reads("questions/color.j2", "true_or_false") is None
    assert memo.reads("prompt.j2", "negative_prompt") == ("style",)  # shipped: the style alone


def test_a_vocabulary_read_without_its_truth_draws_as_the_copy() -> None:
    values = tuple(f"item {n}" for n in range(200))
    for index in (0, 57, 199):
        copy = [value for value in values if value != values[index]]
        view = Without(values, index)
        assert (
            len(view) == len(copy) and list(view) == copy and view[-1] == copy[-1] and view[3:9] == copy[3:9]
        )
        for seed in range(20):
            a, b = random.Random(seed), random.Random(seed)
            assert a.sample(copy, 3) == b.sample(view, 3) and a.choice(copy) == b.choice(view)
