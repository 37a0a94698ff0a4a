"""`hvgen pose-bank`: a pose bank derived from a COCO keypoints file by normalising and clustering
its people (hvgen.conditions.pose_statistics). A file made of three known poses, each drawn many
times at random sizes and places with a little noise, must give those three poses back."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from hvgen.cli import main
from hvgen.conditions.drawing import COCO_KEYPOINTS
from hvgen.conditions.pose_bank import load_pose_bank
from hvgen.conditions.pose_statistics import TORSO, complete_people, normalise

SHIPPED = Path(__file__).resolve().parents[1] / "templates" / "herm" / "pose_bank.yaml"
SOURCES = ("standing", "sitting", "arms raised")
PER_POSE = 40


def _source_poses() -> dict[str, np.ndarray]:
    bank = load_pose_bank(SHIPPED, option="bank")
    return {p.name: np.array([[x, y] for x, y, _ in p.keypoints]) for p in bank.poses if p.name in SOURCES}


def _write_coco(path: Path, poses: dict[str, np.ndarray], noise: float = 0.004, seed: int = 3) -> None:
    """Each pose PER_POSE times: scaled to 80-240 px tall, placed at random, jittered; plus one
    crowd person and one with a keypoint missing, which the derivation must leave out."""
    rng = random.Random(seed)
    images, annotations = [], []
    for index in range(PER_POSE * len(poses) + 2):
        name = sorted(poses)[index % len(poses)]
        height = rng.uniform(80, 240)
        x0, y0 = rng.uniform(0, 300), rng.uniform(0, 200)
        points = [(x0 + (x + rng.gauss(0, noise)) * height, y0 + (y + rng.gauss(0, noise)) * height)
                  for x, y in poses[name]]  # fmt: skip
        flat = [v for x, y in points for v in (round(x, 2), round(y, 2), 2)]
        if index == PER_POSE * len(poses) + 1:
            flat[3 * 9 + 2] = flat[3 * 9] = flat[3 * 9 + 1] = 0  # left wrist not labelled
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        bbox = [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)]
        images.append({"id": index + 1, "file_name": f"{index + 1:06d}.jpg", "width": 640, "height": 480})
        annotations.append({"id": 1000 + index, "image_id": index + 1, "category_id": 1, "bbox": bbox,
                            "area": bbox[2] * bbox[3], "iscrowd": int(index == PER_POSE * len(poses)),
                            "keypoints": flat, "num_keypoints": 17})  # fmt: skip
    category = {
        "id": 1,
        "name": "person",
        "supercategory": "person",
        "keypoints": list(COCO_KEYPOINTS),
        "skeleton": [],
    }
    path.write_text(json.dumps({"images": images, "annotations": annotations, "categories": [category]}))


def test_normalising_puts_the_hips_at_half_height_and_the_torso_at_its_proportion() -> None:
    points = np.zeros((17, 2))
    i = COCO_KEYPOINTS.index
    points[i("left_shoulder")], points[i("right_shoulder")] = (110, 40), (90, 40)
    points[i("left_hip")], points[i("right_hip")] = (106, 120), (94, 120)
    out = normalise(points)
    assert out is not None
    assert np.allclose((out[i("left_hip")] + out[i("right_hip")]) / 2, (0, 0.5))
    assert np.allclose((out[i("left_shoulder")] + out[i("right_shoulder")]) / 2, (0, 0.5 - TORSO))
    assert np.isclose(out[i("left_shoulder")][0], 10 * TORSO / 80)  # 10 px right of centre, torso 80 px
    points[i("left_hip")] = points[i("left_shoulder")]
    points[i("right_hip")] = points[i("right_shoulder")]
    assert normalise(points) is None  # no torso: no scale


def test_three_poses_drawn_many_times_come_back_as_three_poses(tmp_path: Path) -> None:
    poses = _source_poses()
    assert sorted(poses) == sorted(SOURCES)
    coco, out = tmp_path / "person_keypoints.json", tmp_path / "bank.yaml"
    _write_coco(coco, poses)
    assert len(complete_people(coco)) == PER_POSE * len(poses)  # the crowd and incomplete people left out

    main(["pose-bank", str(coco), "--out", str(out), "--clusters", "3", "--seed", "1", "--quiet"])
    bank = load_pose_bank(out, option="bank")
    assert len(bank.poses) == 3 and "120 people" in bank.source and "person_keypoints.json" in bank.source
    assert str(tmp_path) not in out.read_text()  # no machine path in the file
    expected = {name: normalise(points * 100) for name, points in poses.items()}
    derived = [np.array([[x, y] for x, y, _ in p.keypoints]) for p in bank.poses]
    for name, target in expected.items():  # each source pose is one derived mean, to a few thousandths
        assert min(float(np.abs(d - target).max()) for d in derived) < 0.01, name
    for pose in bank.poses:  # the spread is the noise (0.004 of the height, rescaled by the torso)
        assert all(0.0005 < s < 0.02 for s in pose.spread), pose.spread


def test_the_same_file_and_seed_give_the_same_bank(tmp_path: Path) -> None:
    coco = tmp_path / "k.json"
    _write_coco(coco, _source_poses())
    texts = []
    for name in ("a.yaml", "b.yaml"):
        main(["pose-bank", str(coco), "--out", str(tmp_path / name), "--clusters", "3", "--quiet"])
        texts.append((tmp_path / name).read_text())
    assert texts[0] == texts[1]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--clusters", "500"], "fewer than --clusters 500"),
        (["--clusters", "0"], "--clusters must be a whole number from 1 to 1,024"),
        (["--clusters", "nan"], "--clusters must be a whole number"),
    ],
)
def test_bad_requests_are_refused_in_one_line_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], fragment: str
) -> None:
    coco = tmp_path / "k.json"
    _write_coco(coco, _source_poses())
    with pytest.raises(SystemExit) as exited:
        main(["pose-bank", str(coco), "--out", str(tmp_path / "bank.yaml"), *args])
    assert exited.value.code != 0
    assert fragment in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "bank.yaml").exists()


def test_an_existing_bank_or_a_linked_file_is_not_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    coco, out = tmp_path / "k.json", tmp_path / "bank.yaml"
    _write_coco(coco, _source_poses())
    out.write_text("mine")
    with pytest.raises(SystemExit):
        main(["pose-bank", str(coco), "--out", str(out), "--clusters", "3"])
    assert out.read_text() == "mine" and "pass --force" in capsys.readouterr().err
    link = tmp_path / "link.json"
    link.symlink_to(coco)
    with pytest.raises(SystemExit):
        main(["pose-bank", str(link), "--out", str(tmp_path / "other.yaml"), "--clusters", "3"])
    assert "--follow-symlinks" in capsys.readouterr().err and not (tmp_path / "other.yaml").exists()
