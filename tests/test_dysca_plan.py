"""Dysca planning: faithful content, determinism, validation and clear errors."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from hvgen.config import RunConfig
from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.records import validate_record
from hvgen.stages.plan import run_plan

SUBTASKS_20 = {
    "background",
    "style",
    "color",
    "animal",
    "object",
    "plant",
    "food",
    "age",
    "gender",
    "expression",
    "race",
    "celebrity",
    "action",
    "text",
    "clothes",
    "movie",
    "anime",
    "landmark",
    "profession",
    "tv show",
}


def plan(num: int = 200, seed: int = 2024, **options):
    generator = get_generator("dysca")(PlanRequest(run_seed=seed, num=num, options=options))
    return generator.plan().records


@pytest.fixture(scope="module")
def full_plan():
    return plan(num=200)


def test_full_plan_covers_all_styles_subtasks_and_question_types(full_plan) -> None:
    assert len({r["style"] for r in full_plan}) == 57
    assert {r["subtask"] for r in full_plan} - {"face"} == SUBTASKS_20
    assert {r["question_type"] for r in full_plan} == {"multi choice", "true or false", "image caption"}
    assert len({r["image_id"] for r in full_plan}) == 200


def test_every_record_is_schema_valid_and_answer_is_an_option(full_plan) -> None:
    for record in full_plan:
        validate_record(record, "dysca")
        if record["options"]:
            assert record["options"][record["answer_index"]] == record["answer"]
            assert record["foil"] != record["answer"] or record["question_type"] == "true or false"
        assert record["foil"] != record["truth"]


def test_option_counts_follow_the_original(full_plan) -> None:
    sizes = {(r["subtask"], len(r["options"])) for r in full_plan if r["question_type"] == "multi choice"}
    by_subtask = dict(sizes)
    assert by_subtask["gender"] == 2 and by_subtask["expression"] == 3
    assert all(n == 4 for subtask, n in sizes if subtask not in ("gender", "expression"))
    assert all(r["options"] == ["True", "False"] for r in full_plan if r["question_type"] == "true or false")
    assert all(r["options"] == [] for r in full_plan if r["question_type"] == "image caption")


def test_prompt_assembly_matches_the_original_rule(full_plan) -> None:
    face = next(r for r in full_plan if r["foreground_type"] == "face")
    a = face["attributes"]
    assert face["prompt"].startswith(
        f"face portrait of a {a['age']} {a['gender']}, {a['race']}, {a['expression']}, {face['background']}, "
    )
    styles = {
        s["name"]: s
        for s in json.loads(
            Path(__file__).parent.parent.joinpath("templates/dysca/vocab/styles.json").read_text()
        )
    }
    style = styles[face["style"]]
    assert face["prompt"].endswith(style["prompt"].replace(" {}.", ","))
    assert face["negative_prompt"] == style["negative_prompt"]


def test_questions_share_one_image_per_prompt(full_plan) -> None:
    prompts_per_image = {}
    for record in full_plan:
        prompts_per_image.setdefault(record["image_id"], set()).add(record["prompt"])
    assert all(len(p) == 1 for p in prompts_per_image.values())
    assert len({next(iter(p)) for p in prompts_per_image.values()}) == len(prompts_per_image)


def test_answer_positions_and_true_false_are_balanced() -> None:
    records = plan(num=600)
    four = Counter(
        r["answer_index"] for r in records if r["question_type"] == "multi choice" and len(r["options"]) == 4
    )
    total = sum(four.values())
    assert all(0.2 < n / total < 0.3 for n in four.values()), four
    tf = Counter(r["answer"] for r in records if r["question_type"] == "true or false")
    assert 0.4 < tf["True"] / sum(tf.values()) < 0.6


def test_same_seed_gives_byte_identical_records(tmp_path: Path) -> None:
    outputs = []
    for name in ("a", "b"):
        run_dir = tmp_path / name
        run_dir.mkdir()
        run_plan(run_dir, RunConfig(benchmark="dysca", num=60, seed=7))
        outputs.append((run_dir / "records.jsonl").read_bytes())
    assert outputs[0] == outputs[1]


def test_another_seed_gives_a_fresh_split() -> None:
    a, b = plan(num=60, seed=1), plan(num=60, seed=2)
    assert not {r["image_id"] for r in a} & {r["image_id"] for r in b}
    assert [r["prompt"] for r in a] != [r["prompt"] for r in b]
    distractors = lambda rs: {tuple(r["options"]) for r in rs if r["question_type"] == "multi choice"}  # noqa: E731
    assert distractors(a) != distractors(b)


def test_subset_selection() -> None:
    records = plan(num=30, styles="watercolor,pixel art", subtasks="animal,color", question_types="mc")
    assert {r["style"] for r in records} == {"watercolor", "pixel art"}
    assert {r["subtask"] for r in records} == {"animal", "color"}
    assert {r["question_type"] for r in records} == {"multi choice"}
    assert {r["foreground_type"] for r in records} <= {"animal", "object", "clothes"}


@pytest.mark.parametrize("name", ["image caption", "caption", "free form", "free-form", "ff"])
def test_free_form_aliases_select_the_released_image_caption_type(name: str) -> None:
    # Dysca_compute.py scores a free-form answer only under question_type == "image caption"
    records = plan(num=5, question_types=name)
    assert records and {r["question_type"] for r in records} == {"image caption"}
    assert all(r["options"] == [] and r["answer_index"] is None for r in records)
    for record in records:
        validate_record(record, "dysca")
    with pytest.raises(HvgenError, match="question_type"):
        validate_record(dict(records[0], question_type="free form"), "dysca")


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"styles": "watercolour"}, "unknown style 'watercolour' (did you mean 'watercolor'?)"),
        ({"subtasks": "animals"}, "unknown subtask 'animals' (did you mean 'animal'?)"),
        ({"question_types": "essay"}, "unknown question type 'essay'"),
    ],
)
def test_unknown_names_are_clear_errors(options, fragment) -> None:
    with pytest.raises(HvgenError) as error:
        plan(num=5, **options)
    assert fragment in str(error.value)
    assert "Valid" in str(error.value)


def test_schema_violation_names_record_and_field(full_plan) -> None:
    record = dict(full_plan[0], question_type="essay")
    with pytest.raises(HvgenError) as error:
        validate_record(record, "dysca")
    assert record["id"] in str(error.value) and "question_type" in str(error.value)
    broken = dict(full_plan[0], answer="not an option")
    if broken["options"]:
        with pytest.raises(HvgenError, match="answer"):
            validate_record(broken, "dysca")


def test_user_vocabulary_replaces_the_shipped_list(tmp_path: Path) -> None:
    (tmp_path / "animal.txt").write_text("# my animals\naxolotl\nquokka\nnarwhal\npangolin\nokapi\n")
    generator = get_generator("dysca")(
        PlanRequest(run_seed=3, num=20, options={"subtasks": "animal"}, vocab_dir=tmp_path)
    )
    records = generator.plan().records
    assert records and {r["truth"] for r in records} <= {"axolotl", "quokka", "narwhal", "pangolin", "okapi"}
    assert all(
        set(r["options"]) <= {"axolotl", "quokka", "narwhal", "pangolin", "okapi"}
        for r in records
        if r["question_type"] == "multi choice"
    )


def test_exhausted_vocabulary_warns_instead_of_looping() -> None:
    generator = get_generator("dysca")(
        PlanRequest(
            run_seed=3, num=40, options={"subtasks": "landmark", "styles": "watercolor", "allow_short": True}
        )
    )
    result = generator.plan()
    assert len({r["image_id"] for r in result.records}) == 23  # 23 landmarks × 1 style
    assert any("landmark" in warning for warning in result.warnings)


def test_thinning_reproduces_the_released_pattern() -> None:
    full, thin = plan(num=300, seed=1), plan(num=300, seed=1, thin=True)
    assert thin == plan(num=300, seed=1, thin=True)  # deterministic
    assert {r["id"] for r in thin} < {r["id"] for r in full}
    faces = [r for r in thin if r["foreground_type"] == "face"]
    per_subtask = Counter(r["subtask"] for r in faces)
    face_images = len({r["image_id"] for r in faces})
    # released data: every face image keeps exactly one age, gender, expression and race question
    assert all(per_subtask[s] == face_images for s in ("age", "gender", "expression", "race"))
    assert 0 < per_subtask["face"] < face_images  # the lone caption survives with p = 1/3
    assert max(Counter((r["image_id"], r["subtask"]) for r in thin).values()) <= 2
