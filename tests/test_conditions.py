"""Conditions from data, no model (hvgen.conditions): skeletons, box layouts and landmark maps
checked pixel by pixel on hand-made keypoints; every extractor deterministic under its seed;
recipe files refused with one clear line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hvgen.conditions import (
    COCO_KEYPOINTS,
    EXTRACTORS,
    POSE_LIMBS,
    condition_field,
    draw_boxes,
    draw_landmarks,
    draw_pose,
    extract,
    load_recipes,
    make_condition,
    parse_condition,
    parse_recipe,
)
from hvgen.conditions import extractors as extractor_module
from hvgen.conditions.drawing import class_colour
from hvgen.errors import HvgenError


def _person(**moved: tuple[float, float]) -> list[list[float]]:
    """A person with every keypoint not labelled (v=0) except those given."""
    person = [[0.0, 0.0, 0] for _ in COCO_KEYPOINTS]
    for name, (x, y) in moved.items():
        person[COCO_KEYPOINTS.index(name)] = [x, y, 2]
    return person


def _pixel(image: Image.Image, x: float, y: float) -> tuple[int, int, int]:
    return image.getpixel((round(x), round(y)))


def test_a_limb_is_drawn_in_its_openpose_colour_at_its_midpoint() -> None:
    person = _person(right_shoulder=(40, 40), right_elbow=(40, 120), left_hip=(150, 60), left_knee=(150, 180))
    image = draw_pose([person], (256, 256))
    colours = {(s, e): c for s, e, c in POSE_LIMBS}
    assert _pixel(image, 40, 80) == colours[(6, 8)] == (255, 170, 0)  # right upper arm: orange
    assert _pixel(image, 150, 120) == colours[(11, 13)] == (0, 170, 255)  # left thigh: light blue
    assert _pixel(image, 100, 200) == (0, 0, 0)  # background stays black
    assert image.size == (256, 256) and image.mode == "RGB"


def test_the_neck_is_the_midpoint_of_the_shoulders_and_unlabelled_joints_draw_nothing() -> None:
    person = _person(left_shoulder=(160, 60), right_shoulder=(60, 60), nose=(110, 20))
    image = draw_pose([person], (256, 256), point_radius=1, line_width=2)
    assert _pixel(image, 110, 40) == (0, 0, 255)  # neck (110, 60) → nose: blue
    assert _pixel(image, 85, 60) == (255, 0, 0)  # neck → right shoulder: red
    assert _pixel(image, 135, 60) == (255, 85, 0)  # neck → left shoulder
    only_nose = draw_pose([_person(nose=(10, 10))], (64, 64))
    assert np.asarray(only_nose)[40:, :].max() == 0  # no limb: just the nose's dot


def test_keypoints_are_scaled_from_their_canvas() -> None:
    person = _person(right_knee=(100, 100), right_ankle=(100, 300))
    image = draw_pose([person], (128, 128), canvas=[400, 400])
    assert _pixel(image, 32, 64) == (0, 255, 170)  # knee → ankle at (32, 32) → (32, 96)


def test_a_person_with_the_wrong_number_of_keypoints_is_refused() -> None:
    with pytest.raises(HvgenError, match="17"):
        draw_pose([[[1, 2, 2]] * 5], (64, 64))


def test_boxes_are_filled_in_their_class_colour() -> None:
    boxes = [{"label": "dog", "box": [10, 10, 30, 20]}, {"label": "cat", "box": [40, 40, 20, 20]}]
    image = draw_boxes(boxes, (64, 64))
    assert _pixel(image, 25, 20) == class_colour("dog")
    assert _pixel(image, 50, 50) == class_colour("cat") != class_colour("dog")
    assert _pixel(image, 5, 60) == (0, 0, 0)
    outlined = draw_boxes(boxes, (64, 64), fill=False, line_width=1)
    assert _pixel(outlined, 25, 20) == (0, 0, 0) and _pixel(outlined, 10, 20) == class_colour("dog")
    with pytest.raises(HvgenError, match=r"\[x, y, w, h\]"):
        draw_boxes([{"label": "dog", "box": [0, 0, -1, 5]}], (64, 64))


def test_landmarks_are_white_dots_and_68_point_faces_get_contours() -> None:
    image = draw_landmarks([[[10, 10], [50, 40]]], (64, 64), point_radius=1)
    assert _pixel(image, 10, 10) == (255, 255, 255) and _pixel(image, 50, 40) == (255, 255, 255)
    assert _pixel(image, 30, 25) == (0, 0, 0)  # five points are not joined
    jaw = [[10 + 5 * i, 100.0] for i in range(17)]
    rest = [[200.0, 200.0] for _ in range(51)]
    face = draw_landmarks([jaw + rest], (256, 256), point_radius=1, line_width=2)
    assert _pixel(face, 12, 100) == (255, 255, 255)  # between jaw points 0 and 1: the contour


@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_each_extractor_is_deterministic_under_its_seed(name: str) -> None:
    source = make_condition("shapes", {}, 7, (96, 96), load_recipes())
    first = extract(name, source, 123)
    assert first.size == source.size and first.mode == "RGB"
    assert first.tobytes() == extract(name, source, 123).tobytes()


@pytest.mark.parametrize("name", ["blur", "jpeg", "pixelate", "outpaint", "inpaint"])
def test_random_extractors_draw_their_choices_from_the_seed(name: str) -> None:
    source = make_condition("shapes", {}, 7, (96, 96), load_recipes())
    outputs = {extract(name, source, seed).tobytes() for seed in range(8)}
    assert len(outputs) > 1


def test_outpaint_keeps_a_centred_crop_and_grayscale_has_equal_channels() -> None:
    source = Image.new("RGB", (100, 100), (200, 100, 50))
    kept = np.asarray(extract("outpaint", source, 1))
    assert tuple(kept[50, 50]) == (200, 100, 50) and kept[0, 0].max() == 0
    gray = np.asarray(extract("grayscale", source, 1))
    assert (gray[..., 0] == gray[..., 1]).all() and (gray[..., 1] == gray[..., 2]).all()


def test_canny_finds_the_edge_of_a_square_with_either_backend(monkeypatch: pytest.MonkeyPatch) -> None:
    source = Image.new("RGB", (64, 64), (0, 0, 0))
    source.paste((255, 255, 255), (16, 16, 48, 48))
    edges = np.asarray(extract("canny", source, 0))[..., 0] > 0
    monkeypatch.setattr(extractor_module, "canny_backend", lambda: "numpy")
    numpy_edges = np.asarray(extract("canny", source, 0))[..., 0] > 0
    for found in (edges, numpy_edges):
        assert found[32, 14:19].any() and found[32, 45:50].any()  # left and right sides
        assert not found[32, 24:40].any() and not found[2:10, 2:10].any()  # inside and outside


def test_the_shipped_recipes_load_and_draw_the_same_bytes_for_the_same_seed() -> None:
    recipes = load_recipes()
    assert {"pose", "boxes", "landmarks", "shapes", *EXTRACTORS} <= set(recipes)
    for name in recipes:
        one = make_condition(name, {}, 42, (64, 48), recipes)
        assert one.size == (64, 48)
        assert one.tobytes() == make_condition(name, {}, 42, (64, 48), recipes).tobytes()
    assert (
        make_condition("pose", {}, 1, (64, 64), recipes).tobytes()
        != make_condition("pose", {}, 2, (64, 64), recipes).tobytes()
    )


def test_a_records_params_override_the_recipe_and_reach_an_extractors_source() -> None:
    recipes = load_recipes()
    person = _person(right_shoulder=(10, 10), right_elbow=(10, 50))
    image = make_condition("pose", {"people": [person], "line_width": 8}, 0, (64, 64), recipes)
    assert _pixel(image, 10, 30) == (255, 170, 0)
    boxes = [{"label": "dog", "box": [16, 16, 32, 32]}]
    edges = np.asarray(make_condition("canny-boxes", {"boxes": boxes}, 0, (64, 64), recipes))[..., 0] > 0
    assert edges[32, 13:20].any() and not edges[32, 24:40].any()


def test_condition_field_round_trips() -> None:
    field = condition_field("pose", {"people": [_person(nose=(1, 2))]})
    assert set(field) == {"recipe", "params"} and isinstance(field["params"], str)
    recipe, params = parse_condition(field)
    assert recipe == "pose" and params["people"][0][0] == [1, 2, 2]
    with pytest.raises(HvgenError, match="condition"):
        parse_condition({"params": "{}"})


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"name": "x", "kind": "posee"}, "unknown kind 'posee' (did you mean 'pose'?)"),
        ({"name": "x", "kind": "pose", "colour": 1}, "unknown key 'colour'"),
        ({"name": "X Y", "kind": "pose"}, "'name' must be"),
        ({"name": "x", "kind": "extract", "extractor": "cany", "source": "shapes"}, "did you mean 'canny'"),
        ({"name": "x", "kind": "extract", "extractor": "canny"}, "needs 'source'"),
        ({"name": "x", "kind": "pose", "source": "shapes"}, "belong to kind 'extract'"),
        ({"name": "x", "kind": "pose", "parameters": {"line_widht": 3}}, "did you mean 'line_width'"),
        (
            {"name": "x", "kind": "pose", "parameters": {"line_width": float("nan")}},
            "finite number in [0.5, 64]",
        ),
        ({"name": "x", "kind": "pose", "parameters": {"line_width": float("inf")}}, "finite number"),
        ({"name": "x", "kind": "pose", "parameters": {"people_count": 2.5}}, "whole number"),
        ({"name": "x", "kind": "boxes", "parameters": {"fill": "yes"}}, "true or false"),
        (
            {
                "name": "x",
                "kind": "extract",
                "extractor": "canny",
                "source": "shapes",
                "parameters": {"low": 300, "high": 100},
            },
            "low (300) must not exceed high (100)",
        ),
        (
            {
                "name": "x",
                "kind": "extract",
                "extractor": "jpeg",
                "source": "shapes",
                "parameters": {"quality_min": -1},
            },
            "[1, 100]",
        ),
        (["not", "a", "mapping"], "is a mapping"),
    ],
)
def test_a_bad_recipe_is_refused_in_one_line(data: object, fragment: str) -> None:
    with pytest.raises(HvgenError) as caught:
        parse_recipe(data, "my.yaml")
    message = str(caught.value)
    assert fragment in message and message.startswith("my.yaml") and "\n" not in message


def test_a_recipe_folder_with_a_missing_source_or_a_cycle_is_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\nkind: extract\nextractor: blur\nsource: nowhere\n")
    with pytest.raises(HvgenError, match="source recipe 'nowhere'"):
        load_recipes(tmp_path)
    (tmp_path / "a.yaml").write_text("name: a\nkind: extract\nextractor: blur\nsource: b\n")
    (tmp_path / "b.yaml").write_text("name: b\nkind: extract\nextractor: jpeg\nsource: a\n")
    with pytest.raises(HvgenError, match="cycle"):
        load_recipes(tmp_path)
    (tmp_path / "b.yaml").write_text("name: b\nkind: [oops\n")
    with pytest.raises(HvgenError, match="not a YAML recipe"):
        load_recipes(tmp_path)


def test_a_user_recipe_folder_adds_recipes(tmp_path: Path) -> None:
    (tmp_path / "thick-pose.yaml").write_text("name: thick-pose\nkind: pose\nparameters:\n  line_width: 12\n")
    recipes = load_recipes(tmp_path)
    assert recipes["thick-pose"].parameters == {"line_width": 12} and "pose" in recipes


def test_a_records_bad_params_are_refused_when_drawn() -> None:
    recipes = load_recipes()
    with pytest.raises(HvgenError, match="has no parameter 'peeple'"):
        make_condition("pose", {"peeple": []}, 0, (64, 64), recipes)
    with pytest.raises(HvgenError, match="unknown condition recipe 'posse'"):
        make_condition("posse", {}, 0, (64, 64), recipes)


def test_recipes_ship_in_the_wheel() -> None:
    """pyproject's package-data ships templates/** (so templates/conditions/*.yaml) and the
    package list names hvgen.conditions."""
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    setuptools = project["tool"]["setuptools"]
    assert "hvgen.conditions" in setuptools["packages"]
    assert setuptools["package-data"]["hvgen.templates"] == ["**/*"]
    shipped = sorted(
        p.stem for p in (Path(__file__).resolve().parents[1] / "templates" / "conditions").glob("*.yaml")
    )
    assert shipped == sorted(load_recipes())


def test_a_records_condition_is_checked_with_its_source_chain() -> None:
    from hvgen.conditions.recipes import check_record_condition

    recipes = load_recipes()
    check_record_condition(
        condition_field("canny-boxes", {"labels": ["dog"], "low": 50}), recipes, "record x"
    )
    with pytest.raises(
        HvgenError, match=r"record x: condition 'canny-boxes' \(its source 'boxes'\).*'lables'"
    ):
        check_record_condition(condition_field("canny-boxes", {"lables": ["dog"]}), recipes, "record x")
    with pytest.raises(HvgenError, match="record x: condition 'pose'.*line_width"):
        check_record_condition(condition_field("pose", {"line_width": 1000}), recipes, "record x")
    with pytest.raises(HvgenError, match="unknown condition recipe"):
        check_record_condition(condition_field("nope"), recipes, "record x")


def test_a_benchmarks_own_condition_field_is_not_a_controlnet_recipe(tmp_path: Path) -> None:
    """VLBias's records have their own `condition` (ambig / disambig, from the original): the plan
    stage checks only ControlNet conditions ({recipe, params}) as recipes."""
    import json

    from hvgen.cli import main

    out = tmp_path / "run"
    main(["vlbias", "--model", "tiny", "--num", "4", "--dry-run", "--quiet", "--out", str(out)])
    conditions = {json.loads(line)["condition"] for line in (out / "records.jsonl").read_text().splitlines()}
    assert conditions and conditions <= {"ambig", "disambig", None}
