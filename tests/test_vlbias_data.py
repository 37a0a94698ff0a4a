"""Structure checks of the VLBiasBench template data (templates/vlbias/).

The generator trusts these files blindly, so everything it relies on is checked here: keys,
counts, unique ids, group references, and that the texts never name a group themselves (the
generator inserts the group labels; a label inside a context would leak the answer or mix
groups).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

VLBIAS_DIR = Path(__file__).resolve().parent.parent / "templates" / "vlbias"
CATEGORY_DIR = VLBIAS_DIR / "categories"

SINGLE_CATEGORIES = [
    "age",
    "disability_status",
    "gender",
    "nationality",
    "physical_appearance",
    "race",
    "religion",
    "profession",
    "ses",
]
INTERSECTIONS = {"race_x_gender": ["race", "gender"], "race_x_ses": ["race", "ses"]}
ALL_CATEGORIES = SINGLE_CATEGORIES + list(INTERSECTIONS)

SCENARIO_KEYS = {
    "id",
    "stereotype",
    "target_groups",
    "other_groups",
    "scene",
    "context",
    "evidence_yes",
    "evidence_no",
    "question_negative",
    "question_nonnegative",
}
TEXT_KEYS = ["context", "evidence_yes", "evidence_no", "question_negative", "question_nonnegative"]
SNAKE = re.compile(r"^[a-z][a-z0-9]*(?:_[a-z0-9]+)*$")
# The person's gender is never given by the text (it comes from the image or the label), so
# the shared texts must not use gendered pronouns.
GENDERED_PRONOUNS = re.compile(r"\b(he|she|him|his|her|hers|himself|herself)\b", re.IGNORECASE)
GENDER_WORDS = re.compile(r"\b(man|woman|men|women|male|female|boy|girl|gentleman|lady)\b", re.IGNORECASE)
PERSON = "the person in the image"
EXPECTED_UNKNOWNS = [
    "Unknown",
    "Cannot be determined",
    "Can't be determined",
    "Not answerable",
    "Not known",
    "Not enough info",
    "Not enough information",
    "Cannot answer",
    "Can't answer",
    "Undetermined",
]


def load(path: Path) -> Any:
    """yaml.safe_load one file (safe_load only: templates are data, never code)."""
    with path.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def category(name: str) -> dict[str, Any]:
    return load(CATEGORY_DIR / f"{name}.yaml")


def label_pattern(label: str) -> re.Pattern[str]:
    """Whole-word, case-insensitive pattern of a label without its leading article."""
    core = re.sub(r"^(the|a|an)\s+", "", label.strip(), flags=re.IGNORECASE)
    return re.compile(r"(?<!\w)" + re.escape(core) + r"(?!\w)", re.IGNORECASE)


def test_category_files_are_exactly_the_expected_ones() -> None:
    found = sorted(path.stem for path in CATEGORY_DIR.glob("*.yaml"))
    assert found == sorted(ALL_CATEGORIES)


@pytest.mark.parametrize("name", ALL_CATEGORIES)
def test_category_header(name: str) -> None:
    data = category(name)
    assert data["name"] == name
    assert isinstance(data["title"], str) and data["title"]
    if name in INTERSECTIONS:
        assert data["kind"] == "intersection"
        assert data["axes"] == INTERSECTIONS[name]
    else:
        assert data["kind"] == "single"
        assert "axes" not in data


@pytest.mark.parametrize("name", ALL_CATEGORIES)
def test_groups(name: str) -> None:
    groups = category(name)["groups"]
    assert len(groups) >= (6 if name in INTERSECTIONS else 4)
    ids = [group["id"] for group in groups]
    labels = [group["label"].lower() for group in groups]
    assert len(set(ids)) == len(ids), "duplicate group id"
    assert len(set(labels)) == len(labels), "duplicate group label"
    gendered_axis = name == "gender" or "gender" in INTERSECTIONS.get(name, [])
    for group in groups:
        assert set(group) == {"id", "label", "portrait"}, group
        assert SNAKE.match(group["id"]), group["id"]
        assert group["label"].startswith("the "), group["label"]
        assert group["portrait"].strip() and not group["portrait"].endswith("."), group["portrait"]
        if not gendered_axis:
            assert not GENDER_WORDS.search(group["label"]), f"label not gender-neutral: {group['label']}"
            assert not GENDER_WORDS.search(group["portrait"]), (
                f"portrait not gender-neutral: {group['portrait']}"
            )


@pytest.mark.parametrize("name", ALL_CATEGORIES)
def test_scenarios(name: str) -> None:
    data = category(name)
    group_ids = {group["id"] for group in data["groups"]}
    scenarios = data["scenarios"]
    assert len(scenarios) >= 20
    ids = [scenario["id"] for scenario in scenarios]
    assert len(set(ids)) == len(ids), "duplicate scenario id"
    used: set[str] = set()
    for scenario in scenarios:
        where = scenario["id"]
        assert set(scenario) == SCENARIO_KEYS, where
        assert SNAKE.match(scenario["id"]), where
        assert scenario["stereotype"].endswith("."), where
        targets, others = scenario["target_groups"], scenario["other_groups"]
        assert targets and others, where
        assert set(targets) <= group_ids, f"{where}: unknown target group {set(targets) - group_ids}"
        assert set(others) <= group_ids, f"{where}: unknown other group {set(others) - group_ids}"
        assert not set(targets) & set(others), f"{where}: group both target and contrast"
        used |= set(targets) | set(others)
        scene = scenario["scene"]
        assert scene.strip() and scene[0].islower() and not scene.endswith("."), where
        for key in ("context", "evidence_yes", "evidence_no"):
            assert scenario[key].endswith("."), f"{where}.{key}"
        for key in ("question_negative", "question_nonnegative"):
            assert scenario[key].endswith("?"), f"{where}.{key}"
            assert scenario[key][0].isupper(), f"{where}.{key}"
        for key in TEXT_KEYS:
            text = scenario[key]
            assert PERSON in text.lower(), f"{where}.{key} must refer to '{PERSON}'"
            assert not GENDERED_PRONOUNS.search(text), f"{where}.{key}: gendered pronoun in {text!r}"
            assert "  " not in text and text == text.strip(), f"{where}.{key}: stray whitespace"
        assert scenario["evidence_yes"] != scenario["evidence_no"], where
        assert scenario["question_negative"] != scenario["question_nonnegative"], where
    assert used == group_ids, f"groups never used by a scenario: {group_ids - used}"


@pytest.mark.parametrize("name", ALL_CATEGORIES)
def test_texts_do_not_name_groups(name: str) -> None:
    """No group label inside the shared texts or scenes: the generator inserts labels."""
    data = category(name)
    patterns = {group["label"]: label_pattern(group["label"]) for group in data["groups"]}
    for scenario in data["scenarios"]:
        for key in [*TEXT_KEYS, "scene"]:
            for label, pattern in patterns.items():
                assert not pattern.search(scenario[key]), f"{scenario['id']}.{key} names group {label!r}"


def test_scenario_ids_unique_across_categories() -> None:
    seen: dict[str, str] = {}
    for name in ALL_CATEGORIES:
        for scenario in category(name)["scenarios"]:
            assert scenario["id"] not in seen, f"{scenario['id']} in {name} and {seen.get(scenario['id'])}"
            seen[scenario["id"]] = name


def descriptors(name: str) -> list[str]:
    """The group descriptors of a single category: "the Black person" -> "black"."""
    out = []
    for group in category(name)["groups"]:
        core = re.sub(r"^the\s+", "", group["label"].lower())
        out.append(re.sub(r"\s+person$", "", core))
    return out


@pytest.mark.parametrize("name", list(INTERSECTIONS))
def test_intersection_groups_combine_both_axes(name: str) -> None:
    """Each intersection label carries a descriptor of each axis (so the cross product is real)."""
    axes = INTERSECTIONS[name]
    # Grammatical gender of Spanish-derived descriptors: "Latina woman" pairs with "Latino".
    aliases = {"latino": ["latino", "latina"]}
    for group in category(name)["groups"]:
        label = group["label"].lower()
        for axis in axes:
            words = [alias for word in descriptors(axis) for alias in aliases.get(word, [word])]
            assert any(re.search(r"(?<!\w)" + re.escape(word) + r"(?!\w)", label) for word in words), (
                f"{name}: label {group['label']!r} has no {axis} descriptor"
            )


def test_open_ended() -> None:
    data = load(VLBIAS_DIR / "open_ended.yaml")
    assert sorted(data["categories"]) == ["gender", "profession", "race", "religion"]
    for name, block in data["categories"].items():
        groups = block["groups"]
        assert len(groups) >= 4, name
        ids = [group["id"] for group in groups]
        assert len(set(ids)) == len(ids), name
        for group in groups:
            assert {"id", "label", "keywords", "portrait"} <= set(group), group
            assert SNAKE.match(group["id"]), group["id"]
            assert group["label"].startswith("the "), group
            assert isinstance(group["keywords"], list) and len(group["keywords"]) >= 2, group
            assert all(isinstance(word, str) and word.strip() for word in group["keywords"]), group
            assert group["portrait"].strip(), group
    instructions = data["instructions"]
    assert len(instructions) >= 10
    ids = [instruction["id"] for instruction in instructions]
    assert len(set(ids)) == len(ids)
    for instruction in instructions:
        assert set(instruction) == {"id", "text"}, instruction
        assert SNAKE.match(instruction["id"]), instruction
        assert instruction["text"].strip() and instruction["text"][-1] in ".?", instruction
        assert not GENDERED_PRONOUNS.search(instruction["text"]), instruction


def test_open_ended_variants() -> None:
    """Profession's two sub-sets (the original's profession-emo / profession-nohuman files)."""
    data = load(VLBIAS_DIR / "open_ended.yaml")
    prompts = (VLBIAS_DIR / "prompts.j2").read_text(encoding="utf-8")
    types = [block["original_type"] for block in data["categories"].values() if "variants" not in block]
    for name, block in data["categories"].items():
        for variant in (block.get("variants") or {}).values():
            assert {"original_type", "prompt", "instructions"} <= set(variant), name
            assert "{% block " + variant["prompt"] + " %}" in prompts, variant
            assert variant["instructions"] in data, variant
            types.append(variant["original_type"])
    # the open-ended types of the original evaluation code (evaluation/dataset/open_ended.py)
    assert sorted(types) == ["gender", "profession-emo", "profession-nohuman", "race", "religious_ideology"]
    profession = data["categories"]["profession"]
    for group in profession["groups"]:
        # nohuman images show the workplace only: no word of it names the profession
        noun = group["keywords"][0]
        assert len(group["workplace"]) >= 2, group["id"]
        assert not any(re.search(rf"\b{re.escape(noun)}\b", word) for word in group["workplace"]), group["id"]
    assert len(data["emotions"]) == len(set(data["emotions"])) >= 8
    for instruction in data["nohuman_instructions"]:
        assert set(instruction) == {"id", "text"} and SNAKE.match(instruction["id"]), instruction
        assert not GENDERED_PRONOUNS.search(instruction["text"]), instruction
    ids = [i["id"] for i in data["instructions"] + data["nohuman_instructions"]]
    assert len(ids) == len(set(ids))


def test_styles() -> None:
    styles = load(VLBIAS_DIR / "styles.yaml")["styles"]
    assert set(styles) == {"draw", "cinematic_photo", "cinematic_film"}
    assert styles["draw"]["suffix"].startswith("maximalist masterpiece, painted, acrylic painting")
    assert styles["cinematic_photo"]["suffix"].startswith(
        "photorealistic, extreme detail, lifelike, crisp, precise"
    )
    for style in styles.values():
        assert style["suffix"].strip() and style["negative_prompt"].strip()


def test_unknown_options() -> None:
    assert load(VLBIAS_DIR / "unknown_options.yaml")["unknown_options"] == EXPECTED_UNKNOWNS
