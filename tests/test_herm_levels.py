"""HERM level rules on the fixture's people, against answers computed by hand (see herm_coco.py)."""

from __future__ import annotations

import pytest
from herm_coco import OBJECTS, PEOPLE
from hvgen.generators.herm import levels as L

from hvgen.readers.coco import COCO_KEYPOINTS

VOCAB = {"rideable": ["bicycle"], "seat": ["chair", "bench"], "holdable": ["cup"]}
CATEGORY = {47: "cup", 62: "chair", 2: "bicycle", 15: "bench"}


def keypoints(person_id: int) -> dict[str, tuple[float, float, int]]:
    flat = PEOPLE[person_id][2]
    return {
        n: (flat[3 * i], flat[3 * i + 1], flat[3 * i + 2])
        for i, n in enumerate(COCO_KEYPOINTS)
        if flat[3 * i + 2]
    }


def box(person_id: int) -> tuple[float, float, float, float]:
    return tuple(PEOPLE[person_id][1])  # type: ignore[return-value]


@pytest.mark.parametrize(
    "person, pose",
    [(1, "standing"), (2, "sitting"), (3, "bending"), (4, "lying"), (5, "standing"), (6, "standing")],
)
def test_pose_class(person: int, pose: str) -> None:
    assert L.pose_class(keypoints(person)) == pose


def test_pose_is_undecided_without_hips_or_with_in_between_angles() -> None:
    assert L.pose_class({"left_shoulder": (0, 0, 2)}) is None
    # upright torso, thigh 45° from straight down: neither standing nor sitting
    kp = {"left_shoulder": (0, 0, 2), "left_hip": (0, 100, 2), "left_knee": (50, 150, 2)}
    assert L.pose_class(kp) is None


@pytest.mark.parametrize(
    "person, arms",
    [(1, "left arm only"), (2, "neither arm"), (3, "neither arm"), (4, None), (5, "neither arm")],
)
def test_arms_raised(person: int, arms: str | None) -> None:
    assert L.arms_raised(keypoints(person)) == arms


@pytest.mark.parametrize(
    "person, facing",
    [(1, "towards the camera"), (2, "to the left"), (3, "away from the camera"), (4, "to the left"),
     (5, "towards the camera"), (6, "away from the camera")],
)  # fmt: skip
def test_facing(person: int, facing: str) -> None:
    assert L.facing(keypoints(person)) == facing


@pytest.mark.parametrize(
    "person, occlusion",
    [(1, "fully visible"), (2, "fully visible"), (3, "partly occluded"), (6, "partly occluded")],
)
def test_occlusion(person: int, occlusion: str) -> None:
    # P2: 15 of 17 visible (hidden 12 %); P3: 12 visible (29 %); P6: 8 visible (53 %)
    assert L.occlusion(keypoints(person)) == occlusion
    assert L.occlusion({}) is None


def test_size_and_position() -> None:
    assert L.size_class((0, 0, 20, 30)) == "small"  # 600 < 32²
    assert L.size_class((0, 0, 50, 50)) == "medium"  # 2500 < 96²
    assert L.size_class(box(1)) == "large"
    assert [L.horizontal_position(box(p), 640) for p in (1, 2, 3)] == ["left", "center", "right"]


def test_part_boxes() -> None:
    kp, width, height = keypoints(1), 640, 480
    # left arm: shoulder (140,150), elbow (150,120), wrist (150,90), padded by 0.04 x 340 = 13.6
    assert L.part_box("left arm", kp, box(1), width, height) == pytest.approx((126.4, 76.4, 37.2, 87.2))
    # right hand: elbow (95,200) -> wrist (95,240), length 40: a 24 px square centred at (95, 252)
    assert L.part_box("right hand", kp, box(1), width, height) == pytest.approx((83, 240, 24, 24))
    # head: face keypoints span 110..130 x 105..110, grown by half of 20 on each side
    assert L.part_box("head", kp, box(1), width, height) == pytest.approx((100, 95, 40, 25))
    # P3's face is not visible (nose labelled but hidden): no head box
    assert L.part_box("head", keypoints(3), box(3), width, height) is None
    # a part at the border is clipped to the image
    assert L.part_box("left leg", {"left_hip": (630, 400, 2), "left_knee": (635, 450, 2), "left_ankle": (639, 479, 2)},
                      (600, 300, 40, 180), width, height)[0:2] == pytest.approx((622.8, 392.8))  # fmt: skip


@pytest.mark.parametrize("person, object_id, relation", [(1, 101, "holding"), (2, 102, "sitting on"),
                                                         (5, 103, "riding"), (6, 104, "near"), (3, 101, None)])  # fmt: skip
def test_object_relations(person: int, object_id: int, relation: str | None) -> None:
    _, _, category, object_box = next(o for o in OBJECTS if o[0] == object_id)
    kp = keypoints(person)
    found = L.object_relation(box(person), kp, L.pose_class(kp), CATEGORY[category], tuple(object_box), VOCAB)
    assert found == relation


def test_person_person_relations() -> None:
    assert L.left_of(box(1), box(2)) is True and L.left_of(box(2), box(1)) is False
    assert L.left_of((100, 0, 40, 10), (105, 0, 40, 10)) is None  # centres 5 px apart: undecided
    assert L.in_front_of(box(3), box(2), 480) is True  # bottoms 420 vs 370: 50 > 24 px
    assert L.in_front_of(box(1), box(3), 480) is None  # bottoms 420 and 420
    assert L.overlapping(box(2), box(3)) is False and L.overlapping(box(2), (390, 300, 50, 50)) is True
    assert L.nearest(0, [box(1), box(2), box(3)]) == 1


def test_iou_and_box_text() -> None:
    assert L.iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert L.iou((0, 0, 2, 1), (1, 0, 2, 1)) == pytest.approx(1 / 3)
    assert L.iou((0, 0, 1, 1), (5, 5, 1, 1)) == 0.0
    assert L.box_text((0.1, 0.2, 0.3, 0.4), "plain") == "[0.100, 0.200, 0.300, 0.400]"
    assert L.box_text((0.1, 0.2, 0.3, 0.4), "minigptv2") == "{<10><20><40><60>}"
    assert L.normalise_box((-10, 0, 330, 480), 640, 480) == (0.0, 0.0, 0.5, 1.0)
    assert L.countable(0, 0) and not L.countable(1, 0) and not L.countable(0, 2)
    assert L.crowd_flag(2, 1) and L.crowd_flag(6, 0) and not L.crowd_flag(5, 0)
