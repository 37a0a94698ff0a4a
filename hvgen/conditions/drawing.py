"""Conditions drawn from data: OpenPose-style skeletons from COCO keypoints, box layouts per
class, face landmark maps, and seeded random shapes (a scene for the extractors when a
benchmark has no picture to start from).

Coordinates are pixels of a `canvas` (width, height; default: the image being drawn), scaled to
the output size, so a planner can give keypoints in whatever frame it composed the scene in.
Drawing is plain PIL on a black background, no model: the same data gives the same bytes.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw

from hvgen.errors import HvgenError

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
    "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
"""The 17 keypoints of COCO person annotations, in COCO's order (what `people` lists)."""

_NECK = -1  # OpenPose's neck is not a COCO keypoint: the midpoint of the shoulders

# OpenPose's 17 limbs (BODY_18 without the neck→hip lines drawn twice) as (from, to) COCO indices,
# with the colour OpenPose draws each in (the ControlNet openpose annotator's palette).
POSE_LIMBS: tuple[tuple[int, int, tuple[int, int, int]], ...] = (
    (_NECK, 6, (255, 0, 0)),  # neck - right shoulder
    (_NECK, 5, (255, 85, 0)),  # neck - left shoulder
    (6, 8, (255, 170, 0)),  # right shoulder - right elbow
    (8, 10, (255, 255, 0)),  # right elbow - right wrist
    (5, 7, (170, 255, 0)),  # left shoulder - left elbow
    (7, 9, (85, 255, 0)),  # left elbow - left wrist
    (_NECK, 12, (0, 255, 0)),  # neck - right hip
    (12, 14, (0, 255, 85)),  # right hip - right knee
    (14, 16, (0, 255, 170)),  # right knee - right ankle
    (_NECK, 11, (0, 255, 255)),  # neck - left hip
    (11, 13, (0, 170, 255)),  # left hip - left knee
    (13, 15, (0, 85, 255)),  # left knee - left ankle
    (_NECK, 0, (0, 0, 255)),  # neck - nose
    (0, 2, (85, 0, 255)),  # nose - right eye
    (2, 4, (170, 0, 255)),  # right eye - right ear
    (0, 1, (255, 0, 255)),  # nose - left eye
    (1, 3, (255, 0, 170)),  # left eye - left ear
)

Keypoint = Sequence[float]  # (x, y, visibility): COCO's v=0 not labelled, 1 occluded, 2 visible


@dataclass(frozen=True)
class Canvas:
    """The frame coordinates are given in, and the image size they are drawn at."""

    width: int
    height: int
    frame: tuple[float, float]

    def point(self, x: float, y: float) -> tuple[float, float]:
        return x * self.width / self.frame[0], y * self.height / self.frame[1]

    @property
    def scale(self) -> float:
        return min(self.width, self.height) / 512


def make_canvas(size: tuple[int, int], frame: Sequence[float] | None) -> Canvas:
    width, height = size
    if frame is None:
        return Canvas(width, height, (float(width), float(height)))
    if len(frame) != 2 or not all(isinstance(v, int | float) and v > 0 for v in frame):
        raise HvgenError(f"condition canvas must be [width, height] in pixels (> 0), got {list(frame)!r}.")
    return Canvas(width, height, (float(frame[0]), float(frame[1])))


def _check_person(person: Sequence[Keypoint], index: int) -> None:
    if len(person) != len(COCO_KEYPOINTS):
        raise HvgenError(
            f"pose condition: person {index} has {len(person)} keypoints; COCO order has {len(COCO_KEYPOINTS)} "
            f"({', '.join(COCO_KEYPOINTS)}), each [x, y, visibility]."
        )
    for point in person:
        if len(point) != 3 or not all(isinstance(v, int | float) for v in point):
            raise HvgenError(
                f"pose condition: person {index} has keypoint {list(point)!r}; each is [x, y, visibility]."
            )


def _neck(person: Sequence[Keypoint]) -> Keypoint | None:
    left, right = person[5], person[6]
    if left[2] > 0 and right[2] > 0:
        return ((left[0] + right[0]) / 2, (left[1] + right[1]) / 2, min(left[2], right[2]))
    return None


def draw_pose(
    people: Sequence[Sequence[Keypoint]],
    size: tuple[int, int],
    canvas: Sequence[float] | None = None,
    line_width: float = 4.0,
    point_radius: float = 4.0,
) -> Image.Image:
    """An OpenPose-style skeleton image of `people` (each 17 COCO keypoints [x, y, v]): limbs in
    OpenPose's colours between keypoints with v > 0, then a dot on every such keypoint (in the
    colour of its first limb). Widths are given for a 512-pixel image and scale with the size."""
    frame = make_canvas(size, canvas)
    image = Image.new("RGB", size, (0, 0, 0))
    pen = ImageDraw.Draw(image)
    width = max(1, round(line_width * frame.scale))
    radius = max(1.0, point_radius * frame.scale)
    for index, person in enumerate(people):
        _check_person(person, index)
        neck = _neck(person)
        joints = {i: person[i] for i in range(len(person))}
        joints[_NECK] = neck
        for start, end, colour in POSE_LIMBS:
            a, b = joints[start], joints[end]
            if a is None or b is None or a[2] <= 0 or b[2] <= 0:
                continue
            pen.line([frame.point(a[0], a[1]), frame.point(b[0], b[1])], fill=colour, width=width)
        for key, joint in joints.items():
            if joint is None or joint[2] <= 0:
                continue
            colour = next(c for s, e, c in POSE_LIMBS if key in (s, e))
            x, y = frame.point(joint[0], joint[1])
            pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=colour)
    return image


def class_colour(label: str) -> tuple[int, int, int]:
    """A fixed, bright colour per class name (a hash, so any vocabulary gets stable colours)."""
    digest = hashlib.sha256(label.encode("utf-8")).digest()
    return tuple(64 + digest[i] * 191 // 255 for i in range(3))  # type: ignore[return-value]


def draw_boxes(
    boxes: Sequence[dict],
    size: tuple[int, int],
    canvas: Sequence[float] | None = None,
    colours: dict[str, Sequence[int]] | None = None,
    fill: bool = True,
    line_width: float = 4.0,
) -> Image.Image:
    """A box layout: each `{"label": name, "box": [x, y, w, h]}` (COCO's xywh, pixels of the
    canvas) filled (or outlined) in its class's colour, later boxes on top."""
    frame = make_canvas(size, canvas)
    image = Image.new("RGB", size, (0, 0, 0))
    pen = ImageDraw.Draw(image)
    width = max(1, round(line_width * frame.scale))
    for index, item in enumerate(boxes):
        if not isinstance(item, dict) or not isinstance(item.get("label"), str) or "box" not in item:
            raise HvgenError(
                f"boxes condition: box {index} must be {{label: NAME, box: [x, y, w, h]}}, got {item!r}."
            )
        box = item["box"]
        if len(box) != 4 or not all(isinstance(v, int | float) for v in box) or box[2] <= 0 or box[3] <= 0:
            raise HvgenError(
                f"boxes condition: box {index} ({item['label']}) must be [x, y, w, h] with w, h > 0."
            )
        colour = tuple((colours or {}).get(item["label"]) or class_colour(item["label"]))
        x0, y0 = frame.point(box[0], box[1])
        x1, y1 = frame.point(box[0] + box[2], box[1] + box[3])
        if fill:
            pen.rectangle([x0, y0, x1 - 1, y1 - 1], fill=colour)
        else:
            pen.rectangle([x0, y0, x1 - 1, y1 - 1], outline=colour, width=width)
    return image


# The 68-point (iBUG / dlib) face landmark groups, drawn as open or closed polylines.
LANDMARK_GROUPS_68 = (
    (range(0, 17), False),  # jaw
    (range(17, 22), False),  # right brow
    (range(22, 27), False),  # left brow
    (range(27, 31), False),  # nose bridge
    (range(31, 36), False),  # nose base
    (range(36, 42), True),  # right eye
    (range(42, 48), True),  # left eye
    (range(48, 60), True),  # outer lips
    (range(60, 68), True),  # inner lips
)


def draw_landmarks(
    faces: Sequence[Sequence[Sequence[float]]],
    size: tuple[int, int],
    canvas: Sequence[float] | None = None,
    point_radius: float = 3.0,
    line_width: float = 2.0,
    connect: bool = True,
) -> Image.Image:
    """A face landmark map: a white dot per landmark [x, y]; 68-point faces (iBUG order) also get
    their contours (jaw, brows, nose, eyes, lips) as white lines when `connect`."""
    frame = make_canvas(size, canvas)
    image = Image.new("RGB", size, (0, 0, 0))
    pen = ImageDraw.Draw(image)
    radius = max(1.0, point_radius * frame.scale)
    width = max(1, round(line_width * frame.scale))
    for index, face in enumerate(faces):
        points = []
        for point in face:
            if len(point) < 2 or not all(isinstance(v, int | float) for v in point[:2]):
                raise HvgenError(f"landmarks condition: face {index} has point {point!r}; each is [x, y].")
            points.append(frame.point(point[0], point[1]))
        if connect and len(points) == 68:
            for group, closed in LANDMARK_GROUPS_68:
                line = [points[i] for i in group]
                pen.line(line + ([line[0]] if closed else []), fill=(255, 255, 255), width=width)
        for x, y in points:
            pen.ellipse([x - radius, y - radius, x + radius, y + radius], fill=(255, 255, 255))
    return image


# ---------------------------------------------------------------- seeded stand-ins for data

# A standing person, facing the viewer, in a unit box (x right, y down): COCO order.
_STANDING = (
    (0.50, 0.08), (0.53, 0.06), (0.47, 0.06), (0.57, 0.08), (0.43, 0.08), (0.64, 0.22), (0.36, 0.22),
    (0.70, 0.38), (0.30, 0.38), (0.72, 0.52), (0.28, 0.52), (0.58, 0.54), (0.42, 0.54), (0.59, 0.74),
    (0.41, 0.74), (0.60, 0.95), (0.40, 0.95),
)  # fmt: skip

# Five landmarks of a frontal face in a unit box: eyes, nose tip, mouth corners.
_FACE5 = ((0.35, 0.40), (0.65, 0.40), (0.50, 0.58), (0.38, 0.75), (0.62, 0.75))


def random_people(
    rng: random.Random, size: tuple[int, int], count: int, jitter: float
) -> list[list[list[float]]]:
    """`count` standing people side by side, each keypoint moved by up to `jitter` of the
    person's height: a pose condition for a benchmark whose records carry no keypoints."""
    width, height = size
    slot = width / count
    people = []
    for index in range(count):
        tall = height * rng.uniform(0.6, 0.9)
        wide = min(slot * 0.9, tall * 0.6)
        left = index * slot + rng.uniform(0, slot - wide)
        top = rng.uniform(0, height - tall)
        person = []
        for x, y in _STANDING:
            dx, dy = rng.uniform(-jitter, jitter), rng.uniform(-jitter, jitter)
            person.append([left + (x + dx) * wide, top + (y + dy) * tall, 2])
        people.append(person)
    return people


def random_boxes(rng: random.Random, size: tuple[int, int], labels: Sequence[str]) -> list[dict]:
    """One box per label at a random place (10-60 % of each side), in label order."""
    width, height = size
    boxes = []
    for label in labels:
        w, h = width * rng.uniform(0.1, 0.6), height * rng.uniform(0.1, 0.6)
        boxes.append({"label": label, "box": [rng.uniform(0, width - w), rng.uniform(0, height - h), w, h]})
    return boxes


def random_faces(
    rng: random.Random, size: tuple[int, int], count: int, jitter: float
) -> list[list[list[float]]]:
    """`count` five-point frontal faces of random size and place."""
    width, height = size
    faces = []
    for _ in range(count):
        side = min(width, height) * rng.uniform(0.3, 0.7)
        left, top = rng.uniform(0, width - side), rng.uniform(0, height - side)
        faces.append(
            [
                [
                    left + (x + rng.uniform(-jitter, jitter)) * side,
                    top + (y + rng.uniform(-jitter, jitter)) * side,
                ]
                for x, y in _FACE5
            ]
        )
    return faces


def random_shapes(rng: random.Random, size: tuple[int, int], count: int) -> Image.Image:
    """A seeded scene of `count` filled rectangles, ellipses and triangles on a random background:
    the picture extractors (canny, palette ...) work on when a benchmark supplies none."""
    width, height = size
    image = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    pen = ImageDraw.Draw(image)
    for _ in range(count):
        colour = tuple(rng.randrange(256) for _ in range(3))
        x0, y0 = rng.uniform(0, width * 0.8), rng.uniform(0, height * 0.8)
        x1, y1 = x0 + rng.uniform(width * 0.1, width * 0.5), y0 + rng.uniform(height * 0.1, height * 0.5)
        kind = rng.randrange(3)
        if kind == 0:
            pen.rectangle([x0, y0, x1, y1], fill=colour)
        elif kind == 1:
            pen.ellipse([x0, y0, x1, y1], fill=colour)
        else:
            pen.polygon([(x0, y1), ((x0 + x1) / 2, y0), (x1, y1)], fill=colour)
    return image
