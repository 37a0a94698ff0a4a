"""`hvgen herm --synthetic`: people composed from a pose bank and rendered from their skeletons.
Every answer is re-derived here from the record's pose condition (keypoints and canvas) by a
re-statement of the rules, not by calling hvgen's functions."""

from __future__ import annotations

import json
import math
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hvgen.conditions.pose_bank import FLIP, load_pose_bank
from hvgen.conditions.pose_scene import compose_scene, keypoint_box
from hvgen.errors import HvgenError
from hvgen.templating import builtin_template_dir

BANK = builtin_template_dir("herm") / "pose_bank.yaml"
NAMES = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
         "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
         "right_knee", "left_ankle", "right_ankle")  # fmt: skip
BOX = re.compile(r"\[(\d\.\d{3}), (\d\.\d{3}), (\d\.\d{3}), (\d\.\d{3})\]")
CLI = [sys.executable, "-m", "hvgen", "herm", "--synthetic", "--model", "tiny", "--controlnet", "tiny"]


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)


# ------------------------------------------------------------------ the pose bank
def test_the_shipped_bank_loads_and_its_poses_are_what_they_say() -> None:
    """Each pose's mean skeleton falls in the class its name says under HERM's pose rule."""
    from hvgen.generators.herm import levels as L

    bank = load_pose_bank(BANK)
    assert len(bank.poses) >= 10 and "not computed from COCO" in bank.source
    expected = {"standing": "standing", "walking": "standing", "sitting": "sitting", "sitting side": "sitting",
                "bending": "bending", "lying": "lying", "arms raised": "standing"}  # fmt: skip
    for pose in bank.poses:
        kp = {n: (x * 200, y * 200, v) for n, (x, y, v) in zip(NAMES, pose.keypoints) if v}
        if pose.name in expected:
            assert L.pose_class(kp) == expected[pose.name], pose.name
    assert FLIP[NAMES.index("left_wrist")] == NAMES.index("right_wrist") and FLIP[0] == 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("poses: []\n", "non-empty 'poses' list"),
        ("poses:\n  - {name: a, keypoints: [[0, 0, 2]]}\n", "17 [x, y, v]"),
        ("poses:\n  - {name: a, spread: 0.5, keypoints: " + json.dumps([[0, 0.1 * i, 2] for i in range(17)]) + "}\n",
         "'spread'"),
        ("poses:\n  - {name: a, keypoints: " + json.dumps([[0, 0.1 * i, 7] for i in range(17)]) + "}\n", "v 0, 1 or 2"),
        (": : not yaml [", "not readable"),
    ],
)  # fmt: skip
def test_a_bad_bank_is_one_line_naming_the_fix(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bank.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HvgenError, match=re.escape(message)):
        load_pose_bank(path)


def test_a_coco_keypoints_file_is_a_bank_and_a_link_is_refused(tmp_path: Path) -> None:
    from herm_coco import write_coco

    coco = write_coco(tmp_path / "coco")
    bank = load_pose_bank(coco["keypoints"])
    assert bank.poses and all(p.name.startswith("coco-") for p in bank.poses)
    link = tmp_path / "link.json"
    link.symlink_to(coco["keypoints"])
    with pytest.raises(HvgenError, match="symbolic link"):
        load_pose_bank(link)


# ------------------------------------------------------------------ composition
def test_composition_is_seeded_and_keeps_people_apart() -> None:
    bank = load_pose_bank(BANK)
    one = compose_scene(bank, random.Random(7), 3, (512, 384))
    again = compose_scene(bank, random.Random(7), 3, (512, 384))
    other = compose_scene(bank, random.Random(8), 3, (512, 384))
    assert [p.keypoints for p in one] == [p.keypoints for p in again]
    assert [p.keypoints for p in one] != [p.keypoints for p in other]
    for people in (one, other):
        for i, a in enumerate(people):
            assert a.box == box_rule(a.keypoints, 512, 384)
            for x, y, v in a.keypoints:
                assert v == 0 or (0 <= x < 512 and 0 <= y < 384)
            for b in people[i + 1 :]:
                assert iou(a.box, b.box) <= 0.25


def test_the_box_rule() -> None:
    points = [[10, 20, 2], [110, 220, 2], [500, 500, 0]] + [[50, 50, 1]] * 14
    # extent x 10-110, y 20-220; pad 0.08 x 200 = 16; clipped at 0 on the left
    assert keypoint_box(points, 640, 480) == (0.0, 4.0, 126.0, 232.0)
    assert keypoint_box([[1, 1, 0]] * 17, 64, 64) is None


def box_rule(keypoints: list[list[float]], width: float, height: float) -> tuple[float, ...]:
    xs = [x for x, _, v in keypoints if v]
    ys = [y for _, y, v in keypoints if v]
    pad = 0.08 * max(max(xs) - min(xs), max(ys) - min(ys))
    x1, y1 = max(0, min(xs) - pad), max(0, min(ys) - pad)
    x2, y2 = min(width, max(xs) + pad), min(height, max(ys) + pad)
    return (round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2))


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0, w) * max(0, h)
    return inter / (a[2] * a[3] + b[2] * b[3] - inter)


# ------------------------------------------------------------------ every answer, re-derived
@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    root = tmp_path_factory.mktemp("herm-synthetic-plan")
    result = run(root, "--num", "20", "--max-people", "4", "--out", "RUN", "--dry-run")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in (root / "RUN" / "records.jsonl").read_text().splitlines()]


def scene(record: dict) -> tuple[list[dict], int, int]:
    """The record's people from its condition: keypoints by name and the normalised box text."""
    params = json.loads(record["condition"]["params"])
    width, height = params["canvas"]
    assert (width, height) == (record["width"], record["height"])
    people = []
    for points in params["people"]:
        x, y, w, h = box_rule(points, width, height)
        norm = (x / width, y / height, w / width, h / height)
        kp = {n: p for n, p in zip(NAMES, points) if p[2]}
        people.append({"kp": kp, "box": (x, y, w, h), "norm": norm})
    return people, width, height


def who(people: list[dict], text: str) -> dict:
    """The person whose box the text names (3 decimals: within half a thousandth, plus float noise)."""
    box = [float(v) for v in BOX.fullmatch(text).groups()]
    found = [p for p in people if all(abs(a - b) <= 0.0006 for a, b in zip(box, p["norm"]))]
    assert len(found) == 1, (text, [p["norm"] for p in people])
    return found[0]


def arms(kp: dict) -> str:
    left = kp["left_wrist"][1] < kp["left_shoulder"][1]
    right = kp["right_wrist"][1] < kp["right_shoulder"][1]
    return (
        "both arms"
        if left and right
        else "left arm only"
        if left
        else "right arm only"
        if right
        else "neither arm"
    )


def centre(box: tuple[float, ...]) -> tuple[float, float]:
    return (box[0] + box[2] / 2, box[1] + box[3] / 2)


def position(box: tuple[float, ...], width: int) -> str:
    centre = (box[0] + box[2] / 2) / width
    return "left" if centre < 1 / 3 else "right" if centre > 2 / 3 else "center"


def test_every_question_is_answered_by_the_known_skeletons(planned: list[dict]) -> None:
    checked: dict[str, int] = {}
    for r in planned:
        assert r["condition"]["recipe"] == "pose" and r["license"].startswith("CC BY 4.0")
        people, width, height = scene(r)
        if r["person_box"] is not None:  # the person asked about is one of the condition's people
            who(people, "[" + ", ".join(f"{v:.3f}" for v in r["person_box"]) + "]")
        key = f"{r['task']}/{r['aspect']}/{r['question_type']}"
        if r["task"] == "counting":
            assert r["answer"] == str(len(people))
        elif r["task"] == "inst_rec":
            who(people, r["answer"])
        elif r["aspect"] in ("arms", "position") and r["task"] == "pose":
            person = who(people, BOX.search(r["question"]).group(0))
            truth = arms(person["kp"]) if r["aspect"] == "arms" else position(person["box"], width)
            if r["question_type"] == "multi choice":
                assert r["answer"] == truth
            else:
                said = re.search(r"raises (.*) above|is in the (\w+) part", r["question"])
                item = said.group(1) or said.group(2)
                assert r["answer"] == ("True" if item == truth else "False"), r["question"]
        elif r["aspect"] in ("left_of", "overlapping", "in_front_of"):
            a, b = (who(people, m.group(0))["box"] for m in BOX.finditer(r["question"]))
            if r["aspect"] == "left_of":
                delta = (b[0] + b[2] / 2) - (a[0] + a[2] / 2)
                assert abs(delta) > 0.25 * min(a[2], b[2])
                truth = delta > 0
            elif r["aspect"] == "in_front_of":  # lower box bottom = closer, by 5 % of the image height
                delta = (a[1] + a[3]) - (b[1] + b[3])
                assert abs(delta) > 0.05 * height
                truth = delta > 0
            else:
                truth = iou(a, b) > 0
            assert r["answer"] == ("True" if truth else "False"), r["question"]
        elif r["aspect"] == "nearest":  # the other person whose box centre is nearest
            person = who(people, BOX.search(r["question"]).group(0))
            others = [p for p in people if p is not person]
            distance = sorted(
                (math.dist(centre(p["box"]), centre(person["box"])), i) for i, p in enumerate(others)
            )
            assert len(distance) == 1 or distance[0][0] < distance[1][0]
            assert who(people, r["answer"]) is others[distance[0][1]], r["question"]
            assert r["answer"] in r["options"] and len(r["options"]) == len(others)
        else:
            continue
        checked[key] = checked.get(key, 0) + 1
    assert {"counting/count/multi choice", "inst_rec/referring/grounding"} <= set(checked), checked
    assert any(k.startswith("pose/arms") for k in checked) and any(k.startswith("relation/") for k in checked)
    assert {"relation/in_front_of/true or false", "relation/nearest/multi choice"} <= set(checked), checked
    assert not [r for r in planned if r["aspect"] == "person_object"]  # no objects in a synthetic scene


def test_scenes_differ_per_seed_and_repeat_per_seed(tmp_path: Path) -> None:
    prompts = []
    for seed in ("1", "1", "2"):
        out = tmp_path / f"run{len(prompts)}"
        assert run(tmp_path, "--num", "3", "--seed", seed, "--out", str(out), "--dry-run").returncode == 0
        prompts.append((out / "records.jsonl").read_text())
    assert prompts[0] == prompts[1] != prompts[2]


# ------------------------------------------------------------------ refusals
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--min-people", "0"], "--min-people"),
        (["--max-people", "9"], "--max-people"),
        (["--min-people", "4", "--max-people", "2"], "MIN <= MAX"),
        (["--poses", "missing.yaml"], "--poses"),
        (["--coco-keypoints", "x.json"], "cannot be combined with --coco-keypoints"),
    ],
)
def test_bad_input_is_refused_in_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = run(tmp_path, "--num", "2", "--out", "RUN", *args)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert not (tmp_path / "RUN").exists()


def test_poses_without_synthetic_is_refused(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, "-m", "hvgen", "herm", "--poses", str(BANK), "--out", "RUN"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert result.returncode != 0 and "add --synthetic" in result.stderr, result.stderr


# ------------------------------------------------------------------ end to end
@pytest.mark.heavy
def test_end_to_end_renders_exports_and_writes_herms_layout(tmp_path: Path) -> None:
    import datasets
    import hcm_contract as C

    result = run(tmp_path, "--num", "20", "--out", "RUN")
    assert result.returncode == 0, result.stderr
    export = tmp_path / "RUN" / "export"
    loaded = datasets.load_dataset(str(export), "pose", split="test")
    assert (
        len(loaded) > 0 and loaded[0]["image"].size == (64, 64) and loaded[0]["condition_image"] is not None
    )
    card = (export / "README.md").read_text()
    assert "rendered from pose conditions" in card.lower() or "pose condition" in card
    assert "ControlNet: `tiny`" in card and "CC BY 4.0" in card
    formatted = subprocess.run([sys.executable, "-m", "hvgen", "export", "RUN", "--format", "herm"], cwd=tmp_path,
                               capture_output=True, text=True, timeout=600)  # fmt: skip
    assert formatted.returncode == 0, formatted.stderr
    report = C.check_export(tmp_path / "RUN" / "formats" / "herm")
    assert report.problems == [], [str(p) for p in report.problems]
