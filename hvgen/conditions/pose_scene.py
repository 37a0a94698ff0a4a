"""People composed into a scene from a pose bank: each sampled pose scaled and placed on a canvas
without much overlap, so every keypoint and box of the scene is known by construction (the
skeletons are then the image's pose condition).

Rules (the dataset card and tests re-state them):

* a person's standing height is a seeded fraction of the canvas height (`HEIGHT_RANGE`, smaller
  ranges the more people), placed at a seeded spot; a spot whose box overlaps a placed person's
  box with IoU above `MAX_OVERLAP` is redrawn (`TRIES` times, then the person is shrunk);
* a keypoint outside the canvas gets v = 0 (not labelled, not drawn);
* a person's box is the extent of their labelled keypoints grown on every side by `BOX_PAD` of
  its longer side (a head reaches above the eyes, feet below the ankles), clipped to the canvas.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass

from hvgen.conditions.pose_bank import Pose, PoseBank

BOX_PAD = 0.08
MAX_OVERLAP = 0.25
TRIES = 40
HEIGHT_RANGE = {1: (0.55, 0.85), 2: (0.45, 0.75), 3: (0.4, 0.65)}
HEIGHT_MANY = (0.3, 0.55)  # four or more people
Box = tuple[float, float, float, float]


@dataclass(frozen=True)
class PlacedPerson:
    pose: Pose
    keypoints: list[list[float]]  # 17 [x, y, v] in canvas pixels (v = 0: not labelled)
    box: Box  # x, y, w, h in canvas pixels


def keypoint_box(keypoints: Sequence[Sequence[float]], width: float, height: float) -> Box | None:
    """The box rule: labelled keypoints' extent, grown by BOX_PAD of its longer side, clipped."""
    points = [(x, y) for x, y, v in keypoints if v > 0]
    if not points:
        return None
    x1, x2 = min(p[0] for p in points), max(p[0] for p in points)
    y1, y2 = min(p[1] for p in points), max(p[1] for p in points)
    pad = BOX_PAD * max(x2 - x1, y2 - y1)
    x1, y1 = max(0.0, x1 - pad), max(0.0, y1 - pad)
    x2, y2 = min(float(width), x2 + pad), min(float(height), y2 + pad)
    return (round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2))


def box_iou(a: Box, b: Box) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    inter = max(0.0, w) * max(0.0, h)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def compose_scene(
    bank: PoseBank, rng: random.Random, count: int, canvas: tuple[int, int]
) -> list[PlacedPerson]:
    """`count` people on a `canvas` (width, height), every choice drawn from `rng`."""
    width, height = canvas
    low, high = HEIGHT_RANGE.get(count, HEIGHT_MANY)
    placed: list[PlacedPerson] = []
    for _ in range(count):
        pose, points = bank.sample(rng)
        scale = height * rng.uniform(low, high)
        for attempt in range(TRIES * 4):
            if attempt and attempt % TRIES == 0:
                scale *= 0.8  # no free spot at this size: a smaller person
            person = _place(pose, points, scale, rng, width, height)
            if person is not None and all(box_iou(person.box, p.box) <= MAX_OVERLAP for p in placed):
                placed.append(person)
                break
    return placed


def _place(pose: Pose, points: list[list[float]], scale: float, rng: random.Random, width: int,
           height: int) -> PlacedPerson | None:  # fmt: skip
    """The pose at `scale` pixels a body height, shifted so its keypoints' extent lies in the
    canvas at a seeded spot (where it fits; else centred, its outside keypoints unlabelled)."""
    labelled = [(x * scale, y * scale) for x, y, v in points if v > 0]
    x1, x2 = min(p[0] for p in labelled), max(p[0] for p in labelled)
    y1, y2 = min(p[1] for p in labelled), max(p[1] for p in labelled)
    margin = BOX_PAD * max(x2 - x1, y2 - y1)
    dx = _offset(rng, x1 - margin, x2 + margin, width)
    dy = _offset(rng, y1 - margin, y2 + margin, height)
    keypoints = []
    for x, y, v in points:
        px, py = round(x * scale + dx, 2), round(y * scale + dy, 2)
        inside = 0 <= px < width and 0 <= py < height
        keypoints.append([px, py, int(v) if (v and inside) else 0])
    box = keypoint_box(keypoints, width, height)
    return None if box is None or box[2] < 1 or box[3] < 1 else PlacedPerson(pose, keypoints, box)


def _offset(rng: random.Random, low: float, high: float, size: int) -> float:
    """A shift putting [low, high] inside [0, size] at a uniform spot (centred if it cannot fit)."""
    if high - low >= size:
        return (size - (high + low)) / 2
    return rng.uniform(-low, size - high)
