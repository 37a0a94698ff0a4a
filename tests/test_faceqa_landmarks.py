"""Face QA `--synthetic --condition landmarks`: each face's head pose is drawn as angles and its
68 landmarks are projected at that pose into a seeded face box, so the head-pose answer is exact
for the landmark map the ControlNet renders from.

The rule restated (templates/faceqa/faceqa.yaml `pose_angles`, degrees): frontal yaw in [-8, 8],
turned left yaw in [20, 45], turned right yaw in [-45, -20]; pitch in [-10, 10] and roll in
[-8, 8] for all. yaw > 0 is the person turning to their own left: the nose tip moves to the
image's right (+x).
"""

from __future__ import annotations

import json
import math
import os
import random
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hvgen.conditions.face_geometry import (
    MEAN_FACE_68,
    MIRROR_PAIRS_68,
    NOSE_TIP,
    PIVOT,
    check_pose_ranges,
    draw_face_box,
    pose_label,
    posed_face,
    project_face,
    shaped,
)
from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.stages.plan import plan_records

RULE = {  # the label ↔ angle rule, restated here so a change of the YAML shows up as a failure
    "frontal": {"yaw": [-8, 8], "pitch": [-10, 10], "roll": [-8, 8]},
    "turned left": {"yaw": [20, 45], "pitch": [-10, 10], "roll": [-8, 8]},
    "turned right": {"yaw": [-45, -20], "pitch": [-10, 10], "roll": [-8, 8]},
}
BOX = [100.0, 50.0, 200.0, 200.0]


def test_the_template_is_68_symmetric_points_with_the_nose_tip_in_front() -> None:
    assert len(MEAN_FACE_68) == 68
    midline = {8, 27, 28, 29, 30, 33, 51, 57, 62, 66}  # chin, nose, lip centres
    paired = {i for pair in MIRROR_PAIRS_68 for i in pair}
    assert len(paired) == 58 and paired | midline == set(range(68))
    assert all(MEAN_FACE_68[i][0] == 0 for i in midline)
    for i, j in MIRROR_PAIRS_68:
        (xi, yi, zi), (xj, yj, zj) = MEAN_FACE_68[i], MEAN_FACE_68[j]
        assert (xi, yi, zi) == (-xj, yj, zj) and xi != 0, (i, j)
    assert max(range(68), key=lambda i: MEAN_FACE_68[i][2]) == NOSE_TIP


def test_yaw_turns_the_nose_toward_the_image_right_by_hand_computed_amounts() -> None:
    """Nose tip (0, 0.33, 0.22) is (0, -0.02, 0.67) from the pivot (0, 0.35, -0.45). At yaw 30°
    it moves by 0.67 · sin 30° = 0.335 face widths to +x; the box's scale is its side over the
    diameter of the head sphere (twice the farthest landmark's distance from the pivot, + 8 %)."""
    reach = 1.08 * max(math.dist(p, PIVOT) for p in MEAN_FACE_68)
    scale = 200 / (2 * reach)
    centre_x, centre_y = 200.0, 150.0
    frontal = project_face(0, 0, 0, BOX)[NOSE_TIP]
    assert frontal == pytest.approx([centre_x, centre_y - 0.02 * scale], abs=0.01)
    left = project_face(30, 0, 0, BOX)[NOSE_TIP]  # the person's own left
    assert left == pytest.approx([centre_x + 0.335 * scale, centre_y - 0.02 * scale], abs=0.01)
    right = project_face(-30, 0, 0, BOX)[NOSE_TIP]
    assert right == pytest.approx([centre_x - 0.335 * scale, centre_y - 0.02 * scale], abs=0.01)
    # pitch 30° (chin up): y = -0.02·cos 30° - 0.67·sin 30° = -0.3523 (up the image)
    up = project_face(0, 30, 0, BOX)[NOSE_TIP]
    assert up == pytest.approx([centre_x, centre_y - 0.3523 * scale], abs=0.01)
    # roll 90° (crown to the image right): (x, y) = (0, -0.02) → (x cos - y sin, x sin + y cos)
    # = (0.02, 0): the nose tip, just above the centre, swings to the image right
    rolled = project_face(0, 0, 90, BOX)[NOSE_TIP]
    assert rolled == pytest.approx([centre_x + 0.02 * scale, centre_y], abs=0.01)
    # the person's right eye (36-41, image left) is left of their left eye when frontal
    points = project_face(0, 0, 0, BOX)
    assert np.mean([p[0] for p in points[36:42]]) < np.mean([p[0] for p in points[42:48]])


def test_every_projected_point_is_inside_its_box_at_any_pose() -> None:
    rng = random.Random(7)
    for _ in range(300):
        angles = [rng.uniform(-90, 90) for _ in range(3)]
        box = [rng.uniform(0, 300), rng.uniform(0, 300), rng.uniform(10, 400), rng.uniform(10, 400)]
        for x, y in project_face(*angles, box):
            assert box[0] <= x <= box[0] + box[2] and box[1] <= y <= box[1] + box[3], (angles, box)


def test_bad_angles_boxes_and_ranges_are_refused() -> None:
    with pytest.raises(HvgenError, match=r"yaw must be a finite number of degrees in \[-90, 90\]"):
        project_face(float("nan"), 0, 0, BOX)
    with pytest.raises(HvgenError, match=r"a face box is \[x, y, w, h\]"):
        project_face(0, 0, 0, [0, 0, 0, 10])
    overlapping = {**RULE, "turned left": {**RULE["turned left"], "yaw": [5, 45]}}
    with pytest.raises(HvgenError, match="yaw ranges of 'frontal' and 'turned left' overlap"):
        check_pose_ranges(overlapping, "pose_angles")
    with pytest.raises(HvgenError, match="'frontal' roll must be"):
        check_pose_ranges({"frontal": {**RULE["frontal"], "roll": [3, -3]}}, "pose_angles")
    with pytest.raises(HvgenError, match="exactly yaw, pitch, roll"):
        check_pose_ranges({"frontal": {"yaw": [0, 1]}}, "pose_angles")
    check_pose_ranges(RULE, "pose_angles")


def test_a_posed_face_is_its_seeds_and_its_labels() -> None:
    a = posed_face(random.Random(3), RULE, "turned left", (512, 512), (0.55, 0.85))
    assert a == posed_face(random.Random(3), RULE, "turned left", (512, 512), (0.55, 0.85))
    assert a != posed_face(random.Random(4), RULE, "turned left", (512, 512), (0.55, 0.85))
    assert 20 <= a["angles"]["yaw"] <= 45 and pose_label(a["angles"]["yaw"], RULE) == "turned left"
    x, y, w, h = a["box"]
    assert w == h and 0.55 * 512 <= w <= 0.85 * 512 and x >= 0 and y >= 0 and x + w <= 512 and y + h <= 512
    assert pose_label(0, RULE) == "frontal" and pose_label(-20, RULE) == "turned right"
    with pytest.raises(HvgenError, match="yaw 12 is in no head-pose label's range"):
        pose_label(12, RULE)
    with pytest.raises(HvgenError, match="face box side must be a fraction"):
        draw_face_box(random.Random(1), (512, 512), (0.5, 1.5))
    with pytest.raises(HvgenError, match=r"landmark canvas must be \[width, height\]"):
        draw_face_box(random.Random(1), (512, float("inf")), (0.5, 0.8))


def test_shapes_move_a_landmark_and_its_mirror_and_refuse_bad_moves() -> None:
    face = shaped({48: [-0.02, -0.04], 57: [0, 0.05]})
    assert face[48] == pytest.approx(
        (MEAN_FACE_68[48][0] - 0.02, MEAN_FACE_68[48][1] - 0.04, MEAN_FACE_68[48][2])
    )
    assert face[54] == pytest.approx(
        (MEAN_FACE_68[54][0] + 0.02, MEAN_FACE_68[54][1] - 0.04, MEAN_FACE_68[54][2])
    )
    assert face[57][1] == pytest.approx(MEAN_FACE_68[57][1] + 0.05)
    assert sum(a != b for a, b in zip(face, MEAN_FACE_68)) == 3
    for moves, message in (
        ({48: [0, 0.1], 54: [0, 0.1]}, "give one side of a mirrored pair"),
        ({57: [0.01, 0]}, "move a midline landmark only up or down"),
        ({68: [0, 0]}, r"a landmark move is INDEX \(0-67\)"),
        ({8: [0, float("nan")]}, "a landmark move is INDEX"),
        ({8: [0, 0.2]}, "beyond the head's sphere"),
    ):
        with pytest.raises(HvgenError, match=message):
            shaped(moves)


def test_the_expression_shapes_the_mouth_and_brows_of_the_map() -> None:
    """Frontal, same box: a smile lifts the mouth corners (48, 54) above the neutral face's, and
    surprise opens the mouth (inner lips 62 and 66 apart) and raises the brows."""
    generator = get_generator("faceqa")(PlanRequest(1, 1, {"synthetic": True}))
    moves = generator.rules["synthetic"]["expression_landmarks"]
    assert set(moves) <= set(generator.rules["synthetic"]["expressions"]) and "neutral" not in moves
    neutral = project_face(0, 0, 0, BOX)
    smile = project_face(0, 0, 0, BOX, shaped(moves["happiness"]))
    surprise = project_face(0, 0, 0, BOX, shaped(moves["surprise"]))
    for corner in (48, 54):
        assert smile[corner][1] < neutral[corner][1] - 4  # 0.04 face widths at ~124 px each
    assert smile[54][0] - smile[48][0] > neutral[54][0] - neutral[48][0]  # wider
    assert surprise[66][1] - surprise[62][1] > (neutral[66][1] - neutral[62][1]) + 8  # 0.08 wider
    assert all(surprise[i][1] < neutral[i][1] - 4 for i in range(17, 27))  # every brow point raised


def plan(seed: int, num: int = 9) -> list[dict]:
    options = {"synthetic": True, "condition": "landmarks"}
    return plan_records(get_generator("faceqa")(PlanRequest(run_seed=seed, num=num, options=options)))


def test_the_plan_records_angles_box_and_landmarks_and_answers_from_the_angles() -> None:
    records = plan(11)
    generator = get_generator("faceqa")(PlanRequest(1, 1, {"synthetic": True}))
    assert generator.rules["synthetic"]["pose_angles"] == RULE
    faces = {}
    for record in records:
        labels = json.loads(record["labels"])
        angles = record["head_pose_angles"]
        assert pose_label(angles["yaw"], RULE) == labels["head_pose"]
        for name in ("yaw", "pitch", "roll"):
            low, high = RULE[labels["head_pose"]][name]
            assert low <= angles[name] <= high
        assert record["condition"]["recipe"] == "landmarks"
        params = json.loads(record["condition"]["params"])
        assert params["canvas"] == [512, 512] and len(params["faces"]) == 1
        template = shaped(generator.rules["synthetic"]["expression_landmarks"].get(labels["expression"], {}))
        assert params["faces"][0] == project_face(
            angles["yaw"], angles["pitch"], angles["roll"], record["face_box"], template
        )
        if record["task"] == "head_pose":
            assert record["answer"] == labels["head_pose"]
        faces.setdefault(record["image_id"], (angles, record["face_box"], record["condition"]))
        assert faces[record["image_id"]] == (angles, record["face_box"], record["condition"])  # one per image
    assert len(faces) == 9
    assert sorted(
        json.loads(r["labels"])["head_pose"] for r in records if r["task"] == "head_pose"
    ) == sorted(["frontal", "turned left", "turned right"] * 3)  # still balanced
    assert [(r["id"], r["condition"]) for r in plan(11)] == [(r["id"], r["condition"]) for r in records]
    assert [r["face_box"] for r in plan(12)] != [r["face_box"] for r in records]
    plain = get_generator("faceqa")(PlanRequest(run_seed=11, num=9, options={"synthetic": True}))
    assert not {"condition", "head_pose_angles", "face_box"} & set(plan_records(plain)[0])


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("turned left: {yaw: [20, 45]", "turned left: {yaw: [5, 45]", "yaw ranges of 'frontal' and 'turned left' overlap"),
        ("landmark_canvas: [512, 512]", "landmark_canvas: [512, .nan]", "the landmark canvas must be [width, height]"),
        ("      48: [-0.025, -0.04]", "      48: [-0.025, -0.04]\n      54: [0, 0]", "give one side of a mirrored pair"),
        ("    frontal: {yaw: [-8, 8], pitch: [-10, 10], roll: [-8, 8]}\n", "", "angle ranges for exactly the head_poses"),
    ],
)  # fmt: skip
def test_a_bad_faceqa_yaml_is_refused_before_planning(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    from hvgen.benchmark_data import template_dir

    text = (template_dir("faceqa") / "faceqa.yaml").read_text()
    assert text.count(old) == 1
    (tmp_path / "faceqa.yaml").write_text(text.replace(old, new))
    request = PlanRequest(1, 2, {"synthetic": True, "condition": "landmarks"}, templates_dir=tmp_path)
    with pytest.raises(HvgenError, match=re.escape(message)):
        get_generator("faceqa")(request)


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "hvgen", "faceqa", *args],
        cwd=cwd, capture_output=True, text=True, timeout=600, env={**os.environ},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--condition", "landmarks"], "--condition landmarks: landmark conditions are drawn for rendered faces; use it with --synthetic"),
        (["--synthetic", "--condition", "landmark"], "unknown condition recipe 'landmark' (did you mean 'landmarks'?)"),
        (["--synthetic", "--condition", "pose"], "--condition pose: this benchmark's conditions are 'faces' data"),
    ],
)  # fmt: skip
def test_bad_combinations_are_refused_in_one_line_before_the_run(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = run_cli(tmp_path, *args, "--model", "tiny", "--controlnet", "tiny", "--num", "2", "--out", "RUN")
    assert result.returncode != 0 and message in result.stderr, result.stderr
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and not (tmp_path / "RUN").exists()


@pytest.mark.heavy
def test_end_to_end_the_export_holds_each_faces_landmark_map(tiny_cache: Path, tmp_path: Path) -> None:
    from datasets import load_dataset
    from PIL import Image

    from hvgen.conditions import load_recipes, make_condition

    result = run_cli(tmp_path, "--synthetic", "--condition", "landmarks", "--model", "tiny", "--controlnet", "tiny",
                     "--num", "8", "--steps", "2", "--out", "RUN", "--quiet")  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    run = tmp_path / "RUN"
    data = load_dataset(str(run / "export"), "head_pose", split=_splits(run)[0])
    assert {"condition_image", "head_pose_angles", "face_box", "condition"} <= set(data.column_names)
    assert type(data.features["condition_image"]).__name__ == "Image"
    seen = 0
    for split in _splits(run):
        for row in load_dataset(str(run / "export"), "head_pose", split=split):
            seen += 1
            assert row["answer"] == pose_label(row["head_pose_angles"]["yaw"], RULE)
            params = json.loads(row["condition"]["params"])
            expected = make_condition("landmarks", params, row["image_seed"], (64, 64), load_recipes())
            on_disk = Image.open(run / "conditions" / row["image_id"][:2] / f"{row['image_id']}.png")
            assert np.array_equal(np.asarray(row["condition_image"].convert("RGB")), np.asarray(expected))
            assert np.array_equal(np.asarray(on_disk.convert("RGB")), np.asarray(expected))
            assert np.asarray(expected).max() == 255 and row["image"].size == (64, 64)
    assert seen == 8
    card = (run / "export" / "README.md").read_text()
    assert "**Landmarks-conditioned head pose** (`--condition landmarks`)" in card
    assert "| turned left | 20 to 45 | -10 to 10 | -8 to 8 |" in card and "own left" in card


def _splits(run: Path) -> list[str]:
    return sorted({p.name.split("-")[0] for p in (run / "export" / "data" / "head_pose").glob("*.parquet")})
