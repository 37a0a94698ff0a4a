"""A bank of COCO-17 body poses to sample skeletons from, so a planner can compose people whose
every keypoint is known before the image is rendered (the skeleton is the pose condition).

A bank is a list of named poses, each 17 keypoints [x, y, v] in units of the person's standing
height (x = 0 on the body's centre line, y down) with a per-keypoint spread (the standard
deviation of the jitter a sample adds). It comes from a YAML / JSON bank file (the shipped
``templates/herm/pose_bank.yaml``, or any file of that shape) or from a COCO person keypoints
file, whose fully enough labelled people become poses as they were annotated (spread 0).
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from hvgen.conditions.drawing import COCO_KEYPOINTS
from hvgen.errors import HvgenError

Point = tuple[float, float, int]
MIN_LABELLED = 12
"""A COCO person becomes a pose only with at least this many of its 17 keypoints labelled."""
MAX_SPREAD = 0.1
FLIP = {i: COCO_KEYPOINTS.index(n.replace("left", "@").replace("right", "left").replace("@", "right"))
        for i, n in enumerate(COCO_KEYPOINTS)}  # fmt: skip
"""Keypoint index → the index of its mirror image (left ↔ right; the nose stays)."""


@dataclass(frozen=True)
class Pose:
    """One pose: its name, what a prompt calls it, and its keypoints and spreads."""

    name: str
    activity: str
    keypoints: tuple[Point, ...]
    spread: tuple[float, ...]


@dataclass(frozen=True)
class PoseBank:
    poses: tuple[Pose, ...]
    source: str  # how the bank was made (for the dataset card)

    def sample(self, rng: random.Random) -> tuple[Pose, list[list[float]]]:
        """A pose drawn uniformly, its keypoints jittered by their spreads and mirrored half the
        time (x negated, left / right swapped): keypoints [x, y, v] in height units."""
        pose = self.poses[rng.randrange(len(self.poses))]
        points = [
            [x + rng.gauss(0, s), y + rng.gauss(0, s), v] for (x, y, v), s in zip(pose.keypoints, pose.spread)
        ]
        if rng.random() < 0.5:
            points = [
                [-points[FLIP[i]][0], points[FLIP[i]][1], points[FLIP[i]][2]] for i in range(len(points))
            ]
        return pose, points


def load_pose_bank(path: Path, *, option: str = "--poses", follow_symlinks: bool = False) -> PoseBank:
    """The bank in `path`: a pose bank file (YAML or JSON with `poses`) or a COCO person keypoints
    JSON (with `annotations` and `categories`). A bad file is one line naming it and the fix."""
    where = f"{option} {path}"
    if not path.is_file():
        raise HvgenError(f"{where}: no such file (a pose bank YAML/JSON or a COCO person keypoints JSON).")
    if path.is_symlink() and not follow_symlinks:
        raise HvgenError(
            f"{where}: is a symbolic link (to {os.path.realpath(path)}); pass the file itself, or --follow-symlinks."
        )
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text) if path.suffix.lower() == ".json" else yaml.safe_load(text)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError) as error:
        reason = " ".join(str(error).split())[:160]
        raise HvgenError(f"{where}: not readable as {path.suffix or 'YAML'} ({reason}).") from None
    if isinstance(data, dict) and "annotations" in data and "categories" in data:
        return _coco_bank(path, where, option)
    return parse_pose_bank(data, where)


def parse_pose_bank(data: Any, where: str) -> PoseBank:
    if not isinstance(data, dict) or not isinstance(data.get("poses"), list) or not data["poses"]:
        raise HvgenError(
            f"{where}: a pose bank is a mapping with a non-empty 'poses' list (see templates/herm/pose_bank.yaml), "
            "or pass a COCO person keypoints JSON."
        )
    poses, names = [], set()
    for index, item in enumerate(data["poses"]):
        pose = _parse_pose(item, f"{where}: pose {index + 1}")
        if pose.name in names:
            raise HvgenError(f"{where}: pose name {pose.name!r} is used twice; give each pose its own name.")
        names.add(pose.name)
        poses.append(pose)
    return PoseBank(tuple(poses), str(data.get("source") or "a pose bank file"))


def _parse_pose(item: Any, where: str) -> Pose:
    if not isinstance(item, dict):
        raise HvgenError(f"{where}: must be a mapping with name, activity, keypoints and spread.")
    name, activity = item.get("name"), item.get("activity", item.get("name"))
    if not isinstance(name, str) or not name.strip() or not isinstance(activity, str):
        raise HvgenError(f"{where}: 'name' and 'activity' must be text.")
    points = _points(item.get("keypoints"), f"{where} ({name})")
    spread = item.get("spread", 0.0)
    spreads = [spread] * len(COCO_KEYPOINTS) if not isinstance(spread, list) else spread
    if len(spreads) != len(COCO_KEYPOINTS) or not all(_number(s) and 0 <= s <= MAX_SPREAD for s in spreads):
        raise HvgenError(
            f"{where} ({name}): 'spread' must be one number or 17, each in [0, {MAX_SPREAD}] (height units), "
            f"got {spread!r}."
        )
    return Pose(name.strip(), activity.strip(), points, tuple(float(s) for s in spreads))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _points(value: Any, where: str) -> tuple[Point, ...]:
    if not isinstance(value, list) or len(value) != len(COCO_KEYPOINTS):
        raise HvgenError(
            f"{where}: 'keypoints' must list 17 [x, y, v] in COCO order ({', '.join(COCO_KEYPOINTS)})."
        )
    points = []
    for name, point in zip(COCO_KEYPOINTS, value):
        if not (isinstance(point, list) and len(point) == 3 and _number(point[0]) and _number(point[1])
                and point[2] in (0, 1, 2) and not isinstance(point[2], bool)):  # fmt: skip
            raise HvgenError(f"{where}: keypoint '{name}' must be [x, y, v] with v 0, 1 or 2, got {point!r}.")
        if abs(point[0]) > 2 or abs(point[1]) > 2:
            raise HvgenError(f"{where}: keypoint '{name}' {point!r} is outside [-2, 2] body heights.")
        points.append((float(point[0]), float(point[1]), int(point[2])))
    if sum(1 for p in points if p[2]) < MIN_LABELLED:
        raise HvgenError(f"{where}: fewer than {MIN_LABELLED} of 17 keypoints are labelled (v > 0).")
    return tuple(points)


def _coco_bank(path: Path, where: str, option: str) -> PoseBank:
    """Every non-crowd person of a COCO keypoints file with MIN_LABELLED keypoints labelled, as a
    pose: centred on its box, scaled to its box height (spread 0: the annotation as it is)."""
    from hvgen.readers.coco import read_people

    try:
        data = read_people(path)
    except HvgenError as error:
        raise HvgenError(f"{option}: {error}") from None
    poses = []
    for entry in sorted(data.images.values(), key=lambda e: e.image.id):
        for person in entry.people:
            kp = person.keypoints
            x, y, w, h = person.bbox
            if len(kp) < MIN_LABELLED or h < 1:
                continue
            points = tuple(
                ((kp[n][0] - x - w / 2) / h, (kp[n][1] - y) / h, kp[n][2]) if n in kp else (0.0, 0.0, 0)
                for n in COCO_KEYPOINTS
            )
            poses.append(Pose(f"coco-{person.id}", "", points, (0.0,) * len(COCO_KEYPOINTS)))
    if not poses:
        raise HvgenError(
            f"{where}: no person with {MIN_LABELLED}+ labelled keypoints; pass a COCO person keypoints file "
            "(e.g. person_keypoints_val2017.json) or a pose bank YAML."
        )
    return PoseBank(
        tuple(poses), f"{len(poses)} annotated people of a COCO person keypoints file ({path.name})"
    )
