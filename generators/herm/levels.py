"""HERM's annotation levels, computed from COCO annotations only (no guessed facts).

Pure functions: a person's box and keypoints (and the image's other boxes) in, a fact or None
out. None means "the annotations do not decide it" and no question is asked about it. Image
coordinates: x to the right, y down. `left` / `right` in keypoint names are the person's own
sides (COCO's convention); positions and facing directions are the viewer's.

Thresholds are module constants so tests and the dataset card can name them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Box = tuple[float, float, float, float]  # x, y, w, h (pixels, or normalised)
Keypoints = dict[str, tuple[float, float, int]]  # name -> (x, y, v); v: 1 labelled, 2 visible

VISIBLE = 2
SMALL_AREA, MEDIUM_AREA = 32**2, 96**2  # COCO's small / medium / large thresholds (box area, px²)
POSES = ("standing", "sitting", "lying", "bending")
UPRIGHT_TORSO_DEG = 30.0  # torso within 30° of vertical: upright
LYING_DEG = 60.0  # torso and thigh both >= 60° from vertical: lying
SITTING_THIGH_DEG = 55.0  # upright torso, thigh >= 55° from straight down: sitting
STRAIGHT_THIGH_DEG = 30.0  # thigh within 30° of straight down: standing (or bending, torso tilted)
SHORT_THIGH = 0.35  # thigh shorter than 0.35 torso lengths (seen end-on): sitting
LONG_THIGH = 0.6  # standing needs a thigh of at least 0.6 torso lengths
OCCLUSION_CLASSES = ("fully visible", "partly occluded", "mostly occluded")
ARMS = ("both arms", "left arm only", "right arm only", "neither arm")
FACING = ("towards the camera", "away from the camera", "to the left", "to the right")
SIZES = ("small", "medium", "large")
POSITIONS = ("left", "center", "right")

PARTS: dict[str, tuple[str, ...]] = {
    "head": ("nose", "left_eye", "right_eye", "left_ear", "right_ear"),
    "upper body": ("left_shoulder", "right_shoulder", "left_hip", "right_hip"),
    "lower body": ("left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"),
    "left arm": ("left_shoulder", "left_elbow", "left_wrist"),
    "right arm": ("right_shoulder", "right_elbow", "right_wrist"),
    "left leg": ("left_hip", "left_knee", "left_ankle"),
    "right leg": ("right_hip", "right_knee", "right_ankle"),
    "left hand": ("left_elbow", "left_wrist"),
    "right hand": ("right_elbow", "right_wrist"),
    "left foot": ("left_knee", "left_ankle"),
    "right foot": ("right_knee", "right_ankle"),
}
"""Keypoint groups of each part; a part is visible when all its keypoints are (head: 3 of 5)."""
PART_PAD = 0.04  # limb and body boxes grow by 4 % of the person's box height on every side
HEAD_PAD = 0.5  # the face keypoints' box grows by half its larger side (a face is not a head)
END_SIDE = 0.6  # a hand / foot box is a square of 0.6 forearm / shin lengths ...
END_SHIFT = 0.3  # ... centred 0.3 of that length beyond the wrist / ankle

HOLD_REACH = 0.1  # a wrist within the object's box grown by 10 % of its size: holding
NEAR_GAP = 0.5  # boxes closer than half the person's height: near
LEFT_MARGIN = 0.25  # centres must differ by a quarter of the narrower box: left of
FRONT_MARGIN = 0.05  # box bottoms must differ by 5 % of the image height: in front of


# ------------------------------------------------------------------ geometry
def normalise_box(box: Box, width: int, height: int) -> tuple[float, float, float, float]:
    """[x, y, w, h] in pixels → fractions of the image, clipped to it, rounded to 3 places (the
    precision of the plain box text, so a box read back from its text is the same box)."""
    x1, y1 = max(0.0, box[0]), max(0.0, box[1])
    x2, y2 = min(float(width), box[0] + box[2]), min(float(height), box[1] + box[3])
    return (
        round(x1 / width, 3),
        round(y1 / height, 3),
        round(max(0.0, x2 - x1) / width, 3),
        round(max(0.0, y2 - y1) / height, 3),
    )


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two [x, y, w, h] boxes (0 when both are empty)."""
    inter = _intersection(a, b)
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def _intersection(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0])
    h = min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1])
    return max(0.0, w) * max(0.0, h)


def box_gap(a: Box, b: Box) -> float:
    """Shortest distance between two boxes (0 when they touch or overlap)."""
    dx = max(0.0, max(a[0], b[0]) - min(a[0] + a[2], b[0] + b[2]))
    dy = max(0.0, max(a[1], b[1]) - min(a[1] + a[3], b[1] + b[3]))
    return math.hypot(dx, dy)


def _centre(box: Box) -> tuple[float, float]:
    return box[0] + box[2] / 2, box[1] + box[3] / 2


def _mid(kp: Keypoints, *names: str) -> tuple[float, float] | None:
    """The mean of the labelled keypoints among `names` (None when none is labelled)."""
    points = [kp[n][:2] for n in names if n in kp]
    if not points:
        return None
    return sum(p[0] for p in points) / len(points), sum(p[1] for p in points) / len(points)


def _angle_from(vector: tuple[float, float], reference: tuple[float, float]) -> float:
    """Angle in degrees (0-180) between two vectors."""
    norm = math.hypot(*vector) * math.hypot(*reference)
    if norm == 0:
        return 0.0
    cosine = (vector[0] * reference[0] + vector[1] * reference[1]) / norm
    return math.degrees(math.acos(max(-1.0, min(1.0, cosine))))


# ------------------------------------------------------------------ image level
def crowd_flag(people: int, crowd_regions: int, threshold: int = 6) -> bool:
    """An image is a crowd scene when COCO marks a crowd region or it shows `threshold`+ people."""
    return crowd_regions > 0 or people >= threshold


def countable(crowd_regions: int, tiny: int) -> bool:
    """A count question has one right answer only when every person is annotated one by one
    and none was left out as too small."""
    return crowd_regions == 0 and tiny == 0


# ------------------------------------------------------------------ instance level
def size_class(box: Box) -> str:
    """COCO's size classes on the box area: small < 32², medium < 96², large otherwise."""
    area = box[2] * box[3]
    return "small" if area < SMALL_AREA else "medium" if area < MEDIUM_AREA else "large"


def horizontal_position(box: Box, width: int) -> str:
    """Which third of the image the box centre lies in: left, center or right."""
    cx = _centre(box)[0] / width
    return "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else "center"


def occlusion(kp: Keypoints, total: int = 17) -> str | None:
    """From keypoint visibility: the share of the 17 keypoints not visible (occluded, or out of
    the picture) — ≤ 20 % fully visible, ≤ 60 % partly occluded, more mostly occluded. None when
    the person has no keypoint annotation at all (nothing to judge from)."""
    if not kp:
        return None
    hidden = 1 - sum(1 for v in kp.values() if v[2] == VISIBLE) / total
    return "fully visible" if hidden <= 0.2 else "partly occluded" if hidden <= 0.6 else "mostly occluded"


def pose_class(kp: Keypoints) -> str | None:
    """Standing / sitting / lying / bending from keypoint geometry, or None when undecided.

    Torso = hip midpoint → shoulder midpoint; thigh = hip midpoint → knee midpoint (labelled
    keypoints, visible or not). Angles are measured from straight up (torso) and straight down
    (thigh), in degrees.

    * lying: torso ≥ 60° and thigh ≥ 60° (body horizontal); with no knees, torso ≥ 60° alone;
    * bending: torso ≥ 30° while the thigh stays within 30° of straight down;
    * sitting: torso upright (< 30°) and the thigh ≥ 55° from straight down (knees raised to
      hip height), or shorter than 0.35 torso lengths (a thigh seen end-on);
    * standing: torso upright and the thigh within 30° of straight down and ≥ 0.6 torso lengths;
    * anything else (a torso with no hips, knees missing for an upright torso, in-between
      angles) is None.
    """
    shoulders = _mid(kp, "left_shoulder", "right_shoulder")
    hips = _mid(kp, "left_hip", "right_hip")
    if shoulders is None or hips is None:
        return None
    torso = (shoulders[0] - hips[0], shoulders[1] - hips[1])
    torso_length = math.hypot(*torso)
    if torso_length < 1.0:
        return None
    torso_tilt = _angle_from(torso, (0.0, -1.0))
    knees = _mid(kp, "left_knee", "right_knee")
    if knees is None:
        return "lying" if torso_tilt >= LYING_DEG else None
    thigh = (knees[0] - hips[0], knees[1] - hips[1])
    thigh_tilt = _angle_from(thigh, (0.0, 1.0))
    thigh_ratio = math.hypot(*thigh) / torso_length
    if torso_tilt >= LYING_DEG and thigh_tilt >= LYING_DEG:
        return "lying"
    if torso_tilt >= UPRIGHT_TORSO_DEG:
        return "bending" if thigh_tilt <= STRAIGHT_THIGH_DEG and thigh_ratio >= LONG_THIGH else None
    if thigh_tilt >= SITTING_THIGH_DEG or thigh_ratio < SHORT_THIGH:
        return "sitting"
    if thigh_tilt <= STRAIGHT_THIGH_DEG and thigh_ratio >= LONG_THIGH:
        return "standing"
    return None


def arms_raised(kp: Keypoints) -> str | None:
    """Which arms are raised: a wrist above (smaller y than) its own shoulder. Needs both
    shoulders and both wrists labelled; None otherwise."""
    needed = ("left_shoulder", "right_shoulder", "left_wrist", "right_wrist")
    if not all(n in kp for n in needed):
        return None
    left = kp["left_wrist"][1] < kp["left_shoulder"][1]
    right = kp["right_wrist"][1] < kp["right_shoulder"][1]
    return ARMS[0] if left and right else ARMS[1] if left else ARMS[2] if right else ARMS[3]


def facing(kp: Keypoints) -> str | None:
    """Facing direction from which face keypoints are visible (the viewer's left / right).

    * towards the camera: nose and both eyes visible;
    * away from the camera: no face keypoint (nose, eyes) visible, both shoulders labelled;
    * to the left / right: nose visible with exactly one ear visible: the nose lies on the
      side the person faces (nose left of that ear in the image: to the left);
    * otherwise None.
    """
    seen = {name for name, value in kp.items() if value[2] == VISIBLE}
    face = {"nose", "left_eye", "right_eye"}
    if face <= seen:
        return FACING[0]
    if not face & seen and {"left_shoulder", "right_shoulder"} <= kp.keys():
        return FACING[1]
    ears = [name for name in ("left_ear", "right_ear") if name in seen]
    if "nose" in seen and len(ears) == 1:
        return FACING[2] if kp["nose"][0] < kp[ears[0]][0] else FACING[3]
    return None


# ------------------------------------------------------------------ part level
def part_box(part: str, kp: Keypoints, person_box: Box, width: int, height: int) -> Box | None:
    """The pixel box of a body part from its keypoint group (see PARTS), padded, clipped to the
    image; None when the part is not visible (a keypoint of its group is not visible; the head
    needs 3 of its 5)."""
    corners = part_corners(part, visible_keypoints(kp), kp, person_box, width, height)
    return None if corners is None else rounded_box(corners)


def visible_keypoints(kp: Keypoints) -> set[str]:
    return {name for name, value in kp.items() if value[2] == VISIBLE}


def part_corners(
    part: str, seen: set[str], kp: Keypoints, person_box: Box, width: int, height: int
) -> tuple[float, float, float, float] | None:
    """`part_box` before rounding, as clipped corners (x1, y1, x2, y2); `seen` are the visible
    keypoints (`visible_keypoints`), found once for all of a person's parts."""
    names, kind = _PART_KINDS[part]
    if kind == "head":
        visible = [n for n in names if n in seen]
        if len(visible) < 3:
            return None
    elif seen.issuperset(names):
        visible = names
    else:
        return None
    if kind == "end":
        (ax, ay), (bx, by) = kp[names[0]][:2], kp[names[1]][:2]  # elbow→wrist, knee→ankle
        length = math.hypot(bx - ax, by - ay)
        if length < 1.0:
            return None
        cx, cy = bx + END_SHIFT * (bx - ax), by + END_SHIFT * (by - ay)
        side = END_SIDE * length
        return _clipped((cx - side / 2, cy - side / 2, side, side), width, height)
    xs = [kp[n][0] for n in visible]
    ys = [kp[n][1] for n in visible]
    x1, y1, x2, y2 = min(xs), min(ys), max(xs), max(ys)
    pad = HEAD_PAD * max(x2 - x1, y2 - y1) if kind == "head" else PART_PAD * person_box[3]
    return _clipped((x1 - pad, y1 - pad, x2 - x1 + 2 * pad, y2 - y1 + 2 * pad), width, height)


_PART_KINDS = {
    part: (names, "head" if part == "head" else "end" if part.endswith(("hand", "foot")) else "group")
    for part, names in PARTS.items()
}
"""Each part's keypoints and how its box is drawn: around 3+ face keypoints, a square beyond a
limb's end (hand, foot), or around all its keypoints."""


def _clipped(box: Box, width: int, height: int) -> tuple[float, float, float, float] | None:
    x1, y1 = max(0.0, box[0]), max(0.0, box[1])
    x2, y2 = min(float(width), box[0] + box[2]), min(float(height), box[1] + box[3])
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return x1, y1, x2, y2


def rounded_box(corners: tuple[float, float, float, float]) -> Box:
    """Clipped corners → the [x, y, w, h] pixel box, rounded to 2 places."""
    x1, y1, x2, y2 = corners
    return (round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2))


# ------------------------------------------------------------------ relations
def left_of(a: Box, b: Box) -> bool | None:
    """A is left of B when A's centre is left of B's by a quarter of the narrower box; None when
    the centres are closer than that (neither is clearly left)."""
    margin = LEFT_MARGIN * min(a[2], b[2])
    delta = _centre(b)[0] - _centre(a)[0]
    return True if delta > margin else False if delta < -margin else None


def in_front_of(a: Box, b: Box, image_height: int) -> bool | None:
    """A is in front of B (closer to the camera) when A's box bottom is lower in the image by 5 %
    of the image height (people on one ground plane); None when the bottoms are that close."""
    delta = (a[1] + a[3]) - (b[1] + b[3])
    margin = FRONT_MARGIN * image_height
    return True if delta > margin else False if delta < -margin else None


def overlapping(a: Box, b: Box) -> bool:
    return _intersection(a, b) > 0


def nearest(index: int, boxes: Sequence[Box]) -> int | None:
    """The index of the box whose centre is nearest box `index`'s; None with a tie or alone."""
    cx, cy = _centre(boxes[index])
    distances = sorted(
        (math.hypot(_centre(box)[0] - cx, _centre(box)[1] - cy), j)
        for j, box in enumerate(boxes)
        if j != index
    )
    if not distances or (len(distances) > 1 and distances[0][0] == distances[1][0]):
        return None
    return distances[0][1]


@dataclass(frozen=True)
class ObjectRelation:
    relation: str  # holding | riding | sitting on | near
    category: str
    box: Box


def object_relation(
    person_box: Box,
    kp: Keypoints,
    pose: str | None,
    category: str,
    object_box: Box,
    vocab: dict[str, Sequence[str]],
) -> str | None:
    """How a person relates to an object box, first rule that holds, or None (no relation):

    * riding: the category is rideable, the hip midpoint lies within the object's x-range and
      above its centre, the object's box meets the lower half of the person's box, not lying;
    * sitting on: the category is a seat, the pose is sitting and the hip midpoint lies in the
      object's box grown by 10 %;
    * holding: the category is holdable and a labelled wrist lies in the object's box grown by
      10 % of its size on each side;
    * near: the boxes are closer than half the person's box height.

    `vocab` names the categories: {"rideable": [...], "seat": [...], "holdable": [...]}.
    """
    hips = _mid(kp, "left_hip", "right_hip")
    ox, oy, ow, oh = object_box
    lower_half = (person_box[0], person_box[1] + person_box[3] / 2, person_box[2], person_box[3] / 2)
    if (
        category in vocab["rideable"]
        and hips is not None
        and pose != "lying"
        and ox <= hips[0] <= ox + ow
        and hips[1] < oy + oh / 2
        and overlapping(lower_half, object_box)
    ):
        return "riding"
    grown = (ox - HOLD_REACH * ow, oy - HOLD_REACH * oh, ow * (1 + 2 * HOLD_REACH), oh * (1 + 2 * HOLD_REACH))
    if category in vocab["seat"] and pose == "sitting" and hips is not None and _inside(hips, grown):
        return "sitting on"
    if category in vocab["holdable"] and any(
        _inside(kp[w][:2], grown) for w in ("left_wrist", "right_wrist") if w in kp
    ):
        return "holding"
    if box_gap(person_box, object_box) < NEAR_GAP * person_box[3]:
        return "near"
    return None


def _inside(point: Sequence[float], box: Box) -> bool:
    return box[0] <= point[0] <= box[0] + box[2] and box[1] <= point[1] <= box[1] + box[3]


# ------------------------------------------------------------------ box text
def box_text(box: Sequence[float], fmt: str) -> str:
    """A normalised [x, y, w, h] box as text: `plain` → "[0.120, 0.300, 0.250, 0.500]";
    `minigptv2` → HERM / MiniGPT-v2's "{<x1><y1><x2><y2>}" on a 0-100 grid."""
    if fmt == "minigptv2":
        corners = (box[0], box[1], box[0] + box[2], box[1] + box[3])
        return "{" + "".join(f"<{min(100, max(0, round(v * 100)))}>" for v in corners) + "}"
    return "[" + ", ".join(f"{v:.3f}" for v in box) + "]"
