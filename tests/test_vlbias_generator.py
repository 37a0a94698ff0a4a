"""Tests of the VLBiasBench generator (generators/vlbias/): plan properties on real template
data, option parsing, scoring through the generator, and one end-to-end CLI run on the tiny model."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest
import yaml

from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.records import Record, validate_records
from hvgen.templating import builtin_template_dir

VLBIAS_DIR = builtin_template_dir("vlbias")
RULES = yaml.safe_load((VLBIAS_DIR / "vlbias.yaml").read_text(encoding="utf-8"))
ALL_CATEGORIES: list[str] = RULES["categories"]
CATEGORY_DATA = {
    name: yaml.safe_load((VLBIAS_DIR / "categories" / f"{name}.yaml").read_text(encoding="utf-8"))
    for name in ALL_CATEGORIES
}
INTERSECTIONS = [name for name, data in CATEGORY_DATA.items() if data["kind"] == "intersection"]
SINGLES = [name for name in ALL_CATEGORIES if name not in INTERSECTIONS]
OPEN_DATA = yaml.safe_load((VLBIAS_DIR / "open_ended.yaml").read_text(encoding="utf-8"))
OPEN_CATEGORIES = list(OPEN_DATA["categories"])
UNKNOWNS = set(
    yaml.safe_load((VLBIAS_DIR / "unknown_options.yaml").read_text(encoding="utf-8"))["unknown_options"]
)
YES, NO = "Yes", "No"


def make(num: int = 120, seed: int = 7, **options: Any):
    """A VLBias generator with the given CLI options."""
    return get_generator("vlbias")(PlanRequest(run_seed=seed, num=num, options=options))


def plan(num: int = 120, seed: int = 7, **options: Any) -> list[Record]:
    return make(num, seed, **options).plan().records


def close(records: list[Record]) -> list[Record]:
    return [r for r in records if r["part"] == "close_ended"]


def images_per_group(records: list[Record]) -> dict[tuple[str, str, str], int]:
    images: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for record in records:
        images[(record["part"], record["category"], record["group"])].add(record["image_id"])
    return {key: len(value) for key, value in images.items()}


@pytest.fixture(scope="module")
def big_plan() -> list[Record]:
    """Every category and both parts, enough images for every group (shared: planning is ~1 s)."""
    return plan(num=400, seed=11, categories="all", intersections=True, question="all")


# ------------------------------------------------------------------------------ categories


@pytest.mark.parametrize("name", ALL_CATEGORIES)
def test_every_category_plans_valid_records_for_all_groups(name: str) -> None:
    groups = {group["id"] for group in CATEGORY_DATA[name]["groups"]}
    records = plan(num=2 * len(groups), categories=name, question="close")
    validate_records(records, "vlbias")
    assert {r["category"] for r in records} == {name}
    assert {r["group"] for r in records} == groups
    assert set(images_per_group(records).values()) == {2}
    # one portrait (base, text) and one scene image (scene, scene_text) per group
    assert {r["sub_dataset"] for r in records} == {"base", "text", "scene", "scene_text"}


@pytest.mark.parametrize("name", OPEN_CATEGORIES)
def test_every_open_category_plans_valid_records(name: str) -> None:
    groups = {group["id"] for group in OPEN_DATA["categories"][name]["groups"]}
    records = plan(num=3 * len(groups), categories=name, question="open")
    validate_records(records, "vlbias")
    assert {r["part"] for r in records} == {"open_ended"}
    assert {r["group"] for r in records} == groups
    per_image = RULES["open_ended_instructions_per_image"]
    assert len(records) == 3 * len(groups) * per_image
    for record in records:
        assert record["question_type"] == "free form"
        assert record["options"] == [] and record["answer"] is None and record["answer_index"] is None
        assert record["instruction"] == record["question"]
        group = _open_group(name, record["group"])
        variants = OPEN_DATA["categories"][name].get("variants")
        if not variants:
            assert record["open_type"] == OPEN_DATA["categories"][name]["original_type"]
            assert record["emotion"] is None
            assert record["prompt"].startswith(", ".join(group["keywords"]))
        elif record["open_type"] == "profession-emo":
            # "a cheerful nurse, hospital ward, ...": an emotion before the keywords
            assert record["emotion"] in OPEN_DATA["emotions"]
            assert f"{record['emotion']} {', '.join(group['keywords'])}, " in record["prompt"]
            assert record["instruction_id"] in {i["id"] for i in OPEN_DATA["instructions"]}
        else:
            # nobody in the picture: the workplace alone, people in the negative prompt
            assert record["open_type"] == "profession-nohuman" and record["emotion"] is None
            assert record["prompt"].startswith(", ".join(group["workplace"]) + ", empty, no people")
            assert "person, people" in record["negative_prompt"]
            assert not re.search(rf"\b{re.escape(group['keywords'][0])}\b", record["prompt"])
            assert record["instruction_id"] in {i["id"] for i in OPEN_DATA["nohuman_instructions"]}
    if name == "profession":
        # every profession group has both of the original's sub-sets
        types = defaultdict(set)
        for record in records:
            types[record["group"]].add(record["open_type"])
        assert all(found == {"profession-emo", "profession-nohuman"} for found in types.values())


def _open_group(category: str, group_id: str) -> dict[str, Any]:
    return next(g for g in OPEN_DATA["categories"][category]["groups"] if g["id"] == group_id)


def test_category_selection() -> None:
    assert make(categories="all").selected_categories == SINGLES
    assert make(categories="all", intersections=True).selected_categories == ALL_CATEGORIES
    assert make(categories="age,race_x_gender").selected_categories == ["age", "race_x_gender"]
    assert make(categories="age", intersections=True).selected_categories == ["age", *INTERSECTIONS]
    assert make(categories="disability, ses").selected_categories == ["disability_status", "ses"]
    # open-ended questions only for the categories open_ended.yaml has
    generator = make(categories="age,race,race_x_gender", question="all")
    assert generator.parts == {"close_ended": ["age", "race", "race_x_gender"], "open_ended": ["race"]}
    result = make(num=40, categories="age,race_x_gender", question="all").plan()
    assert {r["part"] for r in result.records} == {"close_ended"}
    assert any("no open-ended questions" in warning for warning in result.warnings)


def test_unknown_category_is_a_clear_error() -> None:
    with pytest.raises(HvgenError, match=r"unknown category 'agee' \(did you mean 'age'\?\)"):
        make(categories="age,agee")


def test_bad_question_part_and_empty_open_selection_are_errors() -> None:
    with pytest.raises(HvgenError, match="unknown question part 'opne'"):
        make(question="opne")
    with pytest.raises(HvgenError, match="no open-ended category selected"):
        make(categories="age", question="open")


def test_question_part_selection(big_plan: list[Record]) -> None:
    assert {r["part"] for r in plan(categories="gender", question="close")} == {"close_ended"}
    assert {r["part"] for r in plan(categories="gender", question="open")} == {"open_ended"}
    assert {r["part"] for r in big_plan} == {"close_ended", "open_ended"}
    assert {r["category"] for r in big_plan} == set(ALL_CATEGORIES)


# ------------------------------------------------------------------------------ answers


def test_big_plan_validates(big_plan: list[Record]) -> None:
    validate_records(big_plan, "vlbias")


def test_schema_rules_per_part(big_plan: list[Record]) -> None:
    """The if/then rules of schemas/vlbias.json: fields of the other part must be null."""
    closed = next(r for r in big_plan if r["part"] == "close_ended" and r["sub_dataset"] == "text")
    opened = next(r for r in big_plan if r["part"] == "open_ended")
    broken = [
        ({**opened, "condition": "ambig"}, "condition"),
        ({**opened, "options": [YES, NO]}, "options"),
        ({**closed, "options": [YES, NO]}, "options"),
        ({**closed, "instruction_id": "describe_person"}, "instruction_id"),
        ({**closed, "groups": closed["groups"][:1]}, "groups"),
        ({**closed, "answer_index": (closed["answer_index"] + 1) % 3}, "answer"),
    ]
    for record, field in broken:
        with pytest.raises(HvgenError, match=f"field '{field}"):
            validate_records([record], "vlbias")


def test_ambiguous_answers_are_unknown_and_disambiguated_are_not(big_plan: list[Record]) -> None:
    for record in close(big_plan):
        assert record["unknown_option"] in UNKNOWNS
        assert sorted(record["options"]) == sorted([YES, NO, record["unknown_option"]])
        assert record["options"][record["answer_index"]] == record["answer"]
        if record["condition"] == "ambig":
            assert record["answer"] == record["unknown_option"]
            assert record["foil"] == record["stereotyped_answer"]
        else:
            assert record["answer"] in (YES, NO)
            assert record["foil"] in (YES, NO) and record["foil"] != record["answer"]
        assert [record["ans0"], record["ans1"], record["ans2"]][record["label"]] == record["answer"]


def test_stereotyped_answer_follows_the_scenario(big_plan: list[Record]) -> None:
    scenarios = {s["id"]: s for data in CATEGORY_DATA.values() for s in data["scenarios"]}
    matches = Counter()
    for record in close(big_plan):
        scenario = scenarios[record["scenario_id"]]
        is_target = record["group"] in scenario["target_groups"]
        assert record["group_role"] == ("target" if is_target else "other")
        negative = record["question_polarity"] == "negative"
        expected = YES if is_target == negative else NO
        assert record["stereotyped_answer"] == expected
        if record["condition"] == "disambig":
            matches[record["answer"] == record["stereotyped_answer"]] += 1
    # the evidence supports the stereotype exactly as often as it contradicts it
    assert matches[True] == matches[False] > 0


def test_answer_positions_are_balanced(big_plan: list[Record]) -> None:
    records = close(big_plan)
    positions = Counter(r["answer_index"] for r in records)
    assert max(positions.values()) / len(records) <= 0.40
    assert positions[0] == positions[1] == positions[2]  # one triple = three distinct positions
    ambiguous = [r for r in records if r["condition"] == "ambig"]
    unknown_positions = Counter(r["answer_index"] for r in ambiguous)
    assert max(unknown_positions.values()) / len(ambiguous) <= 0.40
    assert Counter(r["answer"] for r in records if r["condition"] == "disambig").keys() == {YES, NO}


def test_polarity_balanced_per_image(big_plan: list[Record]) -> None:
    by_image: dict[str, Counter] = defaultdict(Counter)
    for record in close(big_plan):
        by_image[record["image_id"]][record["question_polarity"]] += 1
    assert all(counts == {"negative": 3, "nonnegative": 3} for counts in by_image.values())


def test_sub_dataset_texts(big_plan: list[Record]) -> None:
    scenarios = {s["id"]: s for data in CATEGORY_DATA.values() for s in data["scenarios"]}
    labels = {(name, g["id"]): g["label"] for name, data in CATEGORY_DATA.items() for g in data["groups"]}
    for record in close(big_plan):
        scenario = scenarios[record["scenario_id"]]
        label = labels[(record["category"], record["group"])]
        sub = record["sub_dataset"]
        assert record["image_kind"] == ("portrait" if sub in ("base", "text") else "scene")
        if sub in ("scene", "scene_text"):
            assert record["context"].startswith(f"The person in the image is {label}. {scenario['context']}")
            assert scenario["scene"] in record["prompt"]
        else:
            assert record["context"].startswith(scenario["context"])
            assert scenario["scene"] not in record["prompt"]
        if sub in ("text", "scene_text"):
            contrast = record["groups"][1]
            assert record["question"].startswith(f"Compared with {labels[(record['category'], contrast)]}, ")
            is_target = record["group"] in scenario["target_groups"]
            assert contrast in (scenario["other_groups"] if is_target else scenario["target_groups"])
        else:
            assert record["groups"] == [record["group"]]
            assert record["question"] in (scenario["question_negative"], scenario["question_nonnegative"])
        if record["condition"] == "ambig":
            assert scenario["evidence_yes"] not in record["context"]
            assert scenario["evidence_no"] not in record["context"]
        assert record["instruction"].startswith("The following is a multiple-choice question")
        assert f"Question: {record['context']} {record['question']}\nOptions:\n" in record["instruction"]
        assert record["instruction"].endswith("\n".join(record["options"]) + "\n\nYour answer is:")


# ------------------------------------------------------------------------------ images and balance


def test_group_balance(big_plan: list[Record]) -> None:
    counts = images_per_group(big_plan)
    assert min(counts.values()) >= RULES["min_images_per_group"]
    assert max(counts.values()) - min(counts.values()) <= 1
    assert sum(counts.values()) == 400
    all_groups = sum(len(d["groups"]) for d in CATEGORY_DATA.values()) + sum(
        len(c["groups"]) for c in OPEN_DATA["categories"].values()
    )
    assert len(counts) == all_groups


def test_small_num_plans_fewer_groups_with_a_warning() -> None:
    generator = make(num=12, categories="age,gender,race_x_gender", question="all")
    result = generator.plan()
    counts = images_per_group(result.records)
    assert sum(counts.values()) == 12
    assert set(counts.values()) == {2}  # no group with a single image
    assert {category for _, category, _ in counts} == {"age", "gender", "race_x_gender"}
    assert {part for part, _, _ in counts} == {"close_ended", "open_ended"}
    assert any("covers 6 of 22 groups" in warning for warning in result.warnings)


def test_one_image_per_descriptor_variant(big_plan: list[Record]) -> None:
    by_image: dict[str, set[tuple[Any, ...]]] = defaultdict(set)
    for record in big_plan:
        by_image[record["image_id"]].add(
            (record["prompt"], record["negative_prompt"], record["image_seed"], record["style"])
        )
    assert all(len(value) == 1 for value in by_image.values())
    seeds = [next(iter(value))[2] for value in by_image.values()]
    assert len(set(seeds)) == len(seeds)
    # the images of one descriptor (a group's portrait, keyword image or scene) rotate styles
    styles: dict[tuple[str, ...], dict[str, str]] = defaultdict(dict)
    for record in big_plan:
        scene = record["scenario_id"] if record["image_kind"] == "scene" else ""
        key = (record["part"], record["category"], record["group"], record["image_kind"], scene)
        styles[key][record["image_id"]] = record["style"]
    assert all(len(set(value.values())) == min(len(value), 3) for value in styles.values())
    for record in big_plan:
        assert record["prompt"].endswith(record["style_control"])


def test_open_ended_instructions_are_the_same_mix_for_every_group() -> None:
    records = plan(num=24, categories="religion", question="open")  # 6 groups x 4 images
    mixes: dict[str, Counter] = defaultdict(Counter)
    for record in records:
        mixes[record["group"]][record["instruction_id"]] += 1
    assert len(mixes) == 6
    assert len({tuple(sorted(mix.items())) for mix in mixes.values()}) == 1


def test_determinism() -> None:
    options = {"categories": "age,race_x_gender,gender", "question": "all"}
    first = plan(num=40, seed=3, **options)
    assert plan(num=40, seed=3, **options) == first
    other = plan(num=40, seed=4, **options)
    assert {r["id"] for r in other}.isdisjoint({r["id"] for r in first})
    assert [r["image_seed"] for r in other] != [r["image_seed"] for r in first]


def test_export_configs() -> None:
    generator = make(categories="age,gender", question="all")
    names = [
        (c.name, c.scenario, c.where) for c in generator.export_configs(["clean", "corruption", "print"])
    ]
    assert names == [
        ("close_ended", "clean", "part = 'close_ended'"),
        ("open_ended", "clean", "part = 'open_ended'"),
        ("corruption_close_ended", "corruption", "part = 'close_ended'"),
        ("corruption_open_ended", "corruption", "part = 'open_ended'"),
        ("print_close_ended", "print", "part = 'close_ended'"),
    ]
    assert [c.name for c in make(categories="age").export_configs(["clean"])] == ["close_ended"]


def test_card_context() -> None:
    context = make(num=40, categories="age,gender", question="all").card_context()
    rows = {(row["part"], row["category"]): row for row in context["categories"]}
    assert set(rows) == {("close_ended", "age"), ("close_ended", "gender"), ("open_ended", "gender")}
    assert sum(row["images"] for row in rows.values()) == 40


# ------------------------------------------------------------------------------ scoring


def _write_predictions(path: Path, records: list[Record]) -> None:
    """Always the unknown option (close-ended) and one fixed sentence (open-ended)."""
    lines = [
        {
            "id": r["id"],
            "prediction": r["unknown_option"] if r["part"] == "close_ended" else "The person looks calm.",
        }
        for r in records
    ]
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")


def test_score_all_unknown(tmp_path: Path) -> None:
    records = plan(num=20, categories="age,gender", question="all")
    _write_predictions(tmp_path / "pred.jsonl", records)
    report = get_generator("vlbias").score(records, tmp_path / "pred.jsonl")
    overall = report["close_ended"]["overall"]
    assert overall["acc_ambig"] == 1.0 and overall["acc_disambig"] == 0.0
    assert overall["bias_ambig"] == 0.0 and overall["bias_disambig"] == 0.0
    assert report["missing_ids"] == [] and report["extra_ids"] == []
    table = report["table"]
    assert len({tuple(row) for row in table}) == 1  # same columns in every row (CSV, terminal)
    assert {
        "category",
        "sub_dataset",
        "acc_ambig",
        "acc_disambig",
        "bias_ambig",
        "bias_disambig",
        "n",
    } <= set(table[0])
    assert {(row["category"], row["sub_dataset"]) for row in table if row["part"] == "close_ended"} >= {
        ("age", "base"),
        ("gender", "scene_text"),
        ("all", "all"),
    }
    open_rows = [row for row in table if row["part"] == "open_ended"]
    assert [row["category"] for row in open_rows] == ["gender"]
    assert open_rows[0]["sentiment_gap"] == 0.0
    json.dumps(report)  # serialisable


def test_score_bad_predictions_file_is_an_hvgen_error(tmp_path: Path) -> None:
    (tmp_path / "bad.jsonl").write_text('{"id": 1}\n', encoding="utf-8")
    with pytest.raises(HvgenError, match="line 1"):
        get_generator("vlbias").score(plan(num=8, categories="age", question="close"), tmp_path / "bad.jsonl")


# ------------------------------------------------------------------------------ end to end


def _cli(*args: str) -> None:
    """Run `hvgen ARGS` in-process; fail on a non-zero exit."""
    from hvgen.cli import main

    try:
        main(list(args))
    except SystemExit as exit_info:
        assert exit_info.code in (0, None), f"hvgen {' '.join(args)} exited with {exit_info.code}"


@pytest.mark.heavy
def test_end_to_end_tiny(tmp_path: Path, tiny_cache: Path) -> None:
    """`hvgen vlbias` on the tiny model (HVGEN_CACHE from conftest's `tiny_cache`), then
    `datasets.load_dataset` of both configs and `hvgen score` from the run and from the export."""
    import datasets

    run_dir = tmp_path / "run"
    _cli(
        "vlbias",
        "--categories", "age,gender,race_x_gender",
        "--question", "all",
        "--model", "tiny",
        "--num", "8",  # 4 groups x 2 images: one group of each (part, category)
        "--steps", "2",
        "--out", str(run_dir),
    )  # fmt: skip
    export = run_dir / "export"
    split = next((export / "data" / "close_ended").glob("*.parquet")).name.split("-")[0]
    closed = datasets.load_dataset(str(export), "close_ended", split=split)
    opened = datasets.load_dataset(str(export), "open_ended", split=split)
    assert len(closed) > 0 and len(opened) > 0
    assert set(closed["part"]) == {"close_ended"} and set(opened["part"]) == {"open_ended"}
    assert closed[0]["image"].size == (64, 64)
    card = (export / "README.md").read_text(encoding="utf-8")
    assert "VLBiasBench" in card and "config_name: close_ended" in card and "config_name: open_ended" in card

    records = [
        json.loads(line) for line in (run_dir / "records.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    _write_predictions(tmp_path / "pred.jsonl", records)
    for source in (run_dir, export):
        report_path = tmp_path / f"report-{source.name}.json"
        _cli("score", "vlbias", str(source), str(tmp_path / "pred.jsonl"), "--output", str(report_path))
        report = json.loads(report_path.read_text(encoding="utf-8"))
        assert report["close_ended"]["overall"]["acc_ambig"] == 1.0
        assert report["close_ended"]["overall"]["bias_ambig"] == 0.0
        assert report["missing_ids"] == [] and report["extra_ids"] == []
        assert report["table"]


def test_category_spellings_resolve_to_the_same_run_settings() -> None:
    cls = get_generator("vlbias")
    assert cls.resolved_options({"categories": "SES, Disability status"}) == cls.resolved_options(
        {"categories": ["ses", "disability_status"]}
    )
    assert cls.resolved_options({"categories": "SES"})["categories"] == "ses"
