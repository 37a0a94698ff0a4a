"""Dysca's vocabulary capacity: how many distinct images the vocabularies allow per foreground,
a --num beyond it refused (unless --allow-short), and a plan that reaches it exactly."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

import pytest

from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator

TWO_STYLES = "watercolor,pixel art"


def small_vocab(folder: Path) -> Path:
    """3 landmarks and 2 professions: capacities 3 × styles and 2 × styles."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "landmark.txt").write_text("# test\nEiffel Tower\nBig Ben\nColosseum\n", encoding="utf-8")
    (folder / "profession.txt").write_text("Doctor\nBaker\n", encoding="utf-8")
    return folder


def dysca(vocab: Path | None, num: int, templates: Path | None = None, **options):
    options = {"subtasks": "landmark,profession", "styles": TWO_STYLES, **options}
    return get_generator("dysca")(
        PlanRequest(run_seed=5, num=num, options=options, vocab_dir=vocab, templates_dir=templates)
    )


def images_by_foreground(records: list[dict]) -> Counter:
    return Counter(foreground for foreground, _ in {(r["foreground_type"], r["image_id"]) for r in records})


def test_capacity_is_the_product_of_vocabularies_and_styles(tmp_path: Path) -> None:
    generator = dysca(small_vocab(tmp_path), num=4)
    assert generator.capacity() == {"landmark": 6, "profession": 4}
    # even split, landmark first: ceil(n/2) <= 6 and floor(n/2) <= 4
    assert generator.max_num() == 9
    full = get_generator("dysca")(PlanRequest(run_seed=5, num=10, options={}))
    capacity = full.capacity()
    assert capacity["profession"] == len(full.values("profession")) * 57
    face = [full.values(name) for name in ("age", "gender", "race", "expression", "background")]
    assert capacity["face"] == 57 * len(face[0]) * len(face[1]) * len(face[2]) * len(face[3]) * len(face[4])


def test_plan_at_capacity_yields_every_distinct_image(tmp_path: Path) -> None:
    records = dysca(small_vocab(tmp_path), num=9).plan().records
    counts = images_by_foreground(records)
    assert counts == {"landmark": 5, "profession": 4}  # profession: all 2 × 2 combinations
    prompts = {r["image_id"]: r["prompt"] for r in records}
    assert len(set(prompts.values())) == 9
    again = dysca(small_vocab(tmp_path / "again"), num=9).plan().records
    assert records == again  # deterministic, fallback walk included


def test_the_plan_reaches_capacity_even_when_styles_are_dealt_unevenly(tmp_path: Path) -> None:
    # 3 landmarks × 57 styles = 171: random draws alone cannot find the last free combinations,
    # and the style cycle does not give every style exactly 3 landmark images.
    vocab = small_vocab(tmp_path)
    generator = get_generator("dysca")(
        PlanRequest(run_seed=1, num=171, options={"subtasks": "landmark"}, vocab_dir=vocab)
    )
    result = generator.plan()
    assert images_by_foreground(result.records) == {"landmark": 171}
    styles = Counter(r["style"] for r in result.records if r["question_type"] == "image caption")
    assert len(styles) == 57 and set(styles.values()) == {3}
    assert not [
        w for w in result.warnings if "not planned" in w
    ]  # (3 landmarks: the short-list warning stays)
    assert "landmark 171 of 171" in result.notes[0]


def test_num_beyond_capacity_is_an_error_naming_foreground_and_limit(tmp_path: Path) -> None:
    with pytest.raises(HvgenError) as error:
        dysca(small_vocab(tmp_path), num=10)
    message = str(error.value)
    assert "'profession' 5 > 4" in message and "profession 2 × 2 styles" in message
    assert "'landmark'" not in message  # 5 of 6: it fits
    assert "largest --num that fits is 9" in message
    assert "--vocab" in message and "--allow-short" in message


def test_allow_short_plans_what_the_vocabularies_allow_and_warns(tmp_path: Path) -> None:
    result = dysca(small_vocab(tmp_path), num=20, allow_short=True).plan()
    assert images_by_foreground(result.records) == {"landmark": 6, "profession": 4}
    short = [w for w in result.warnings if "not planned" in w]
    assert len(short) == 2
    assert any("'profession': 6 image(s) not planned" in w and "capacity 4" in w for w in result.warnings)


def test_templates_that_merge_draws_are_reported_not_silently_short(tmp_path: Path) -> None:
    templates = tmp_path / "templates"
    (templates / "content").mkdir(parents=True)
    (templates / "content" / "landmark.j2").write_text(
        "a famous landmark\n", encoding="utf-8"
    )  # drops the name
    generator = dysca(small_vocab(tmp_path / "vocab"), num=4, templates=templates, subtasks="landmark")
    with pytest.raises(HvgenError, match="render some different draws as the same prompt"):
        list(generator.plan().records)  # the images are drawn as the plan stage reads them


def test_more_vocabulary_items_raise_the_capacity(tmp_path: Path) -> None:
    vocab = small_vocab(tmp_path)
    (vocab / "profession.txt").write_text("Doctor\nBaker\nPilot\nFarmer\n", encoding="utf-8")
    generator = dysca(vocab, num=10)
    assert generator.capacity()["profession"] == 8
    assert images_by_foreground(generator.plan().records) == {"landmark": 5, "profession": 5}


def test_cli_refuses_before_writing_and_allow_short_goes_through(tmp_path: Path) -> None:
    vocab = small_vocab(tmp_path / "vocab")
    out = tmp_path / "run"
    base = [
        sys.executable,
        "-c",
        "from hvgen.cli import main; main()",
        "dysca",
        "--model",
        "tiny",
        "--num",
        "10",
        "--subtasks",
        "landmark,profession",
        "--styles",
        TWO_STYLES,
        "--vocab",
        str(vocab),
        "--out",
        str(out),
        "--dry-run",
    ]
    refused = subprocess.run(base, capture_output=True, text=True, cwd=tempfile.gettempdir())
    assert refused.returncode != 0
    assert "largest --num that fits is 9" in refused.stderr + refused.stdout
    assert not out.exists()
    done = subprocess.run([*base, "--allow-short"], capture_output=True, text=True, cwd=tempfile.gettempdir())
    assert done.returncode == 0, done.stderr
    text = done.stdout + done.stderr
    assert "vocabulary capacity" in text and "profession 4 of 4" in text
    assert "plan: " in text and "over 10 images" not in text
