"""Face landmarks of a known head pose: a 3D mean face of the 68 iBUG points, rotated by (yaw,
pitch, roll) and projected (weak perspective) into a face box, so a landmark-conditioned render
shows the head pose a plan chose, and the pose label is exact by construction.

**Provenance of the template.** `MEAN_FACE_68` is *not* a measured mean face: hvgen's authors
constructed it by hand from textbook facial proportions (face width at the ears 1 unit; eyes
about 0.2 wide with their outer corners ±0.31 apart; nose tip 0.33 below the eye line and 0.22
in front of it; mouth corners ±0.18 at 0.54 below the eye line; chin at 0.86), laid out in the
iBUG 300-W 68-point order. It is approximate and symmetric. It is meant to give a ControlNet a
plausible face layout, not to stand in for anthropometric data.

**Conventions.** Head coordinates: x to the image right of a frontal face (the person's own
left), y down, z toward the camera, origin between the eyes on the eye line. Angles in degrees:

* yaw > 0: the head turns to the person's own **left**, so the nose tip moves to the image
  **right** (+x); yaw < 0 turns it to the person's right (nose toward the image left);
* pitch > 0: the head tilts **up** (chin up), the nose tip moves up the image (-y);
* roll > 0: the crown tilts toward the person's left shoulder (the image right): in the image
  the face turns clockwise.

The rotation is ``Rz(roll) · Rx(pitch) · Ry(yaw)`` about `PIVOT` (roughly the centre of the
head, behind the face), followed by an orthographic projection scaled so the sphere around the
pivot through the farthest landmark (plus 8 %, room for `shaped` moves such as an expression's)
fits the box: every landmark lies inside the box at any pose.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any

from hvgen.errors import HvgenError

Point3 = tuple[float, float, float]
ANGLES = ("yaw", "pitch", "roll")
# Each pair (i, j): landmark j is landmark i mirrored across the face's midline (x → -x).
MIRROR_PAIRS_68 = (
    *((j, 16 - j) for j in range(8)),
    *((17 + k, 26 - k) for k in range(5)),
    (31, 35), (32, 34), (36, 45), (37, 44), (38, 43), (39, 42), (40, 47), (41, 46),
    (48, 54), (49, 53), (50, 52), (55, 59), (56, 58), (60, 64), (61, 63), (65, 67),
)  # fmt: skip
NOSE_TIP = 30
PIVOT: Point3 = (0.0, 0.35, -0.45)  # about the centre of the head: rotations turn about it


def _jaw() -> list[Point3]:
    """Points 0-16: from the person's right ear (image left) round the chin to the left ear."""
    points = []
    for j in range(17):
        t = math.pi * j / 16
        c = math.cos(t)
        points.append(
            (-0.5 * math.copysign(abs(c) ** 0.8, c), 0.05 + 0.81 * math.sin(t), -0.05 - 0.5 * c * c)
        )
    return points


def _mirror(points: Sequence[Point3]) -> list[Point3]:
    return [(-x, y, z) for x, y, z in points]


def _mean_face() -> tuple[Point3, ...]:
    right_brow = [(-0.40, -0.13, -0.15), (-0.33, -0.18, -0.07), (-0.25, -0.20, -0.01), (-0.17, -0.19, 0.02),
                  (-0.09, -0.16, 0.03)]  # fmt: skip  # 17-21, outer to inner
    bridge = [(0.0, 0.0, 0.02), (0.0, 0.11, 0.09), (0.0, 0.22, 0.16), (0.0, 0.33, 0.22)]  # 27-30
    base = [(-0.11, 0.38, 0.08), (-0.055, 0.395, 0.12), (0.0, 0.40, 0.14)]  # 31-33 (34, 35 mirrored)
    right_eye = [(-0.31, 0.0, -0.10), (-0.245, -0.035, -0.02), (-0.175, -0.035, 0.0), (-0.11, 0.0, -0.02),
                 (-0.175, 0.03, 0.0), (-0.245, 0.03, -0.02)]  # fmt: skip  # 36-41
    left_eye = [(-x, y, z) for x, y, z in (right_eye[i] for i in (3, 2, 1, 0, 5, 4))]  # 42-47

    def lip(x: float, y: float) -> Point3:
        return (x, y, 0.10 - 0.10 * (x / 0.18) ** 2)

    outer = [lip(-0.18, 0.54), lip(-0.12, 0.505), lip(-0.045, 0.49), lip(0.0, 0.50), lip(0.045, 0.49),
             lip(0.12, 0.505), lip(0.18, 0.54), lip(0.12, 0.585), lip(0.06, 0.61), lip(0.0, 0.615),
             lip(-0.06, 0.61), lip(-0.12, 0.585)]  # fmt: skip  # 48-59
    inner = [lip(-0.15, 0.54), lip(-0.05, 0.53), lip(0.0, 0.53), lip(0.05, 0.53), lip(0.15, 0.54),
             lip(0.05, 0.55), lip(0.0, 0.55), lip(-0.05, 0.55)]  # fmt: skip  # 60-67
    points = [*_jaw(), *right_brow, *_mirror(right_brow)[::-1], *bridge, *base, *_mirror(base[:2])[::-1],
              *right_eye, *left_eye, *outer, *inner]  # fmt: skip
    return tuple((round(x, 4), round(y, 4), round(z, 4)) for x, y, z in points)


MEAN_FACE_68: tuple[Point3, ...] = _mean_face()
"""The hand-made 3D template (see the module docstring): 68 (x, y, z) in face widths, iBUG order."""

# The head sphere the face box holds: about the pivot, through the farthest template landmark,
# 8 % larger so expression moves (`shaped`) stay inside it.
REACH = 1.08 * max(math.dist(point, PIVOT) for point in MEAN_FACE_68)


def shaped(
    moves: Mapping[Any, Sequence[float]], template: Sequence[Point3] = MEAN_FACE_68
) -> tuple[Point3, ...]:
    """`template` with landmarks moved (face widths, before rotation): each `index: [dx, dy]` moves
    that landmark, and its mirror across the midline by `[-dx, dy]`, so a shape stays symmetric
    (an expression: mouth corners up for a smile, brows up and the jaw down for surprise ...)."""
    mirror = {i: j for pair in MIRROR_PAIRS_68 for i, j in (pair, pair[::-1])}
    points = [list(point) for point in template]
    indices = {int(key) for key in moves if isinstance(key, int | str) and str(key).isdigit()}
    for key, move in moves.items():
        index = int(key) if isinstance(key, int | str) and str(key).isdigit() else -1
        ok = (
            isinstance(move, Sequence)
            and len(move) == 2
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) and abs(v) <= 0.2
                for v in move
            )
        )
        if not 0 <= index < len(points) or not ok:
            raise HvgenError(
                f"face geometry: a landmark move is INDEX (0-{len(points) - 1}): [dx, dy] with |dx|, |dy| <= 0.2 "
                f"face widths, got {key!r}: {move!r}."
            )
        other = mirror.get(index)
        if other in indices or (other is None and move[0] != 0):
            raise HvgenError(
                f"face geometry: landmark {index}: give one side of a mirrored pair (its mirror {other} follows), "
                "and move a midline landmark only up or down (dx 0)."
            )
        points[index][0] += move[0]
        points[index][1] += move[1]
        if other is not None:
            points[other][0] -= move[0]
            points[other][1] += move[1]
    result = tuple((round(x, 4), round(y, 4), round(z, 4)) for x, y, z in points)
    beyond = [i for i, point in enumerate(result) if math.dist(point, PIVOT) > REACH]
    if beyond:
        raise HvgenError(
            f"face geometry: the moves take landmark {beyond[0]} beyond the head's sphere (radius {REACH:.3f} about "
            "the pivot) that the face box holds; move it less."
        )
    return result


def rotation(yaw: float, pitch: float, roll: float) -> tuple[Point3, Point3, Point3]:
    """The rows of ``Rz(roll) · Rx(pitch) · Ry(yaw)`` (degrees): yaw about y first, then pitch
    about x, then roll about z (the conventions of the module docstring)."""
    a, b, c = (math.radians(v) for v in (yaw, pitch, roll))
    ca, sa, cb, sb, cc, sc = math.cos(a), math.sin(a), math.cos(b), math.sin(b), math.cos(c), math.sin(c)
    ry = ((ca, 0.0, sa), (0.0, 1.0, 0.0), (-sa, 0.0, ca))
    rx = ((1.0, 0.0, 0.0), (0.0, cb, -sb), (0.0, sb, cb))
    rz = ((cc, -sc, 0.0), (sc, cc, 0.0), (0.0, 0.0, 1.0))
    return _product(rz, _product(rx, ry))


def _product(m: tuple[Point3, ...], n: tuple[Point3, ...]) -> tuple[Point3, Point3, Point3]:
    return tuple(tuple(sum(m[i][k] * n[k][j] for k in range(3)) for j in range(3)) for i in range(3))  # type: ignore[return-value]


def rotate(point: Point3, yaw: float, pitch: float, roll: float) -> Point3:
    """`point` (head coordinates about the origin) turned by the angles, in degrees."""
    return _apply(rotation(yaw, pitch, roll), point)


def _apply(matrix: tuple[Point3, Point3, Point3], point: Sequence[float]) -> Point3:
    x, y, z = point
    return tuple(row[0] * x + row[1] * y + row[2] * z for row in matrix)  # type: ignore[return-value]


def project_face(
    yaw: float, pitch: float, roll: float, box: Sequence[float], template: Sequence[Point3] = MEAN_FACE_68
) -> list[list[float]]:
    """The template's landmarks [x, y] in pixels for a head at (yaw, pitch, roll) degrees whose
    head sphere fills `box` [x, y, w, h] (the smaller side): weak perspective, i.e. an
    orthographic view scaled uniformly, the pivot at the box centre. Rounded to 0.01 pixel."""
    for name, value in zip(ANGLES, (yaw, pitch, roll), strict=True):
        if not (isinstance(value, int | float) and math.isfinite(value) and -90 <= value <= 90):
            raise HvgenError(
                f"face geometry: {name} must be a finite number of degrees in [-90, 90], got {value!r}."
            )
    left, top, width, height = _checked_box(box)
    scale = min(width, height) / (2 * REACH)
    cx, cy = left + width / 2, top + height / 2
    matrix = rotation(yaw, pitch, roll)
    px, py, pz = PIVOT
    points = []
    for x0, y0, z0 in template:
        x, y, _ = _apply(matrix, (x0 - px, y0 - py, z0 - pz))
        points.append([round(cx + scale * x, 2), round(cy + scale * y, 2)])
    return points


def _checked_box(box: Sequence[float]) -> tuple[float, float, float, float]:
    if (
        len(box) != 4
        or not all(isinstance(v, int | float) and math.isfinite(v) for v in box)
        or min(box[2:]) <= 0
    ):
        raise HvgenError(
            f"face geometry: a face box is [x, y, w, h] in pixels with w, h > 0, got {list(box)!r}."
        )
    return float(box[0]), float(box[1]), float(box[2]), float(box[3])


# ---------------------------------------------------------------- seeded poses and layouts

AngleRanges = Mapping[str, Mapping[str, Sequence[float]]]  # label → angle → [low, high] degrees


def check_pose_ranges(ranges: AngleRanges, where: str) -> None:
    """Each label gives yaw, pitch and roll as [low, high] degrees within [-90, 90], and no two
    labels' yaw ranges overlap, so a yaw names exactly one label (`pose_label`)."""
    if not isinstance(ranges, Mapping) or not ranges:
        raise HvgenError(
            f"{where}: give each head-pose label its angle ranges ({{label: {{yaw: [lo, hi], ...}}}})."
        )
    for label, angles in ranges.items():
        if not isinstance(angles, Mapping) or set(angles) != set(ANGLES):
            raise HvgenError(
                f"{where}: '{label}' must give exactly {', '.join(ANGLES)} as [low, high] degrees."
            )
        for name in ANGLES:
            pair = angles[name]
            ok = (
                isinstance(pair, Sequence)
                and len(pair) == 2
                and all(
                    isinstance(v, int | float)
                    and not isinstance(v, bool)
                    and math.isfinite(v)
                    and -90 <= v <= 90
                    for v in pair
                )
            )
            if not ok or pair[0] > pair[1]:
                raise HvgenError(
                    f"{where}: '{label}' {name} must be [low, high] with -90 <= low <= high <= 90 degrees, got {pair!r}."
                )
    spans = sorted((angles["yaw"][0], angles["yaw"][1], label) for label, angles in ranges.items())
    for (_, high, first), (low, _, second) in zip(spans, spans[1:]):
        if low <= high:
            raise HvgenError(
                f"{where}: the yaw ranges of '{first}' and '{second}' overlap; a yaw must name one label."
            )


def draw_angles(rng: random.Random, ranges: AngleRanges, label: str) -> dict[str, float]:
    """Yaw, pitch and roll (degrees, 0.01 apart) drawn uniformly in `label`'s ranges."""
    return {name: round(rng.uniform(*ranges[label][name]), 2) for name in ANGLES}


def pose_label(yaw: float, ranges: AngleRanges) -> str:
    """The label whose yaw range holds `yaw` (the rule a record's head-pose answer follows)."""
    for label, angles in ranges.items():
        if angles["yaw"][0] <= yaw <= angles["yaw"][1]:
            return label
    raise HvgenError(f"face geometry: yaw {yaw} is in no head-pose label's range.")


def check_layout(canvas: Any, side: Any, where: str = "face geometry") -> None:
    """The canvas is [width, height] pixels (finite, 1 to 16384) and the box side a fraction
    [low, high] with 0 < low <= high <= 1 of its smaller side."""

    def numbers(value: Any) -> bool:
        return (
            isinstance(value, Sequence)
            and len(value) == 2
            and all(
                isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v) for v in value
            )
        )

    if not numbers(canvas) or not all(1 <= v <= 16384 for v in canvas):
        raise HvgenError(
            f"{where}: the landmark canvas must be [width, height] in pixels (1-16384), got {canvas!r}."
        )
    if not numbers(side) or not 0 < side[0] <= side[1] <= 1:
        raise HvgenError(
            f"{where}: the face box side must be a fraction [low, high], 0 < low <= high <= 1, got {side!r}."
        )


def draw_face_box(rng: random.Random, canvas: Sequence[float], side: Sequence[float]) -> list[float]:
    """A square face box [x, y, w, h] (pixels, 0.01 apart) whose side is a uniform fraction in
    `side` [low, high] of the canvas' smaller side, at a uniform place inside the canvas."""
    check_layout(canvas, side)
    width, height = float(canvas[0]), float(canvas[1])
    size = round(min(width, height) * rng.uniform(side[0], side[1]), 2)
    return [round(rng.uniform(0, width - size), 2), round(rng.uniform(0, height - size), 2), size, size]


def posed_face(rng: random.Random, ranges: AngleRanges, label: str, canvas: Sequence[float],
               side: Sequence[float], moves: Mapping[Any, Sequence[float]] | None = None) -> dict[str, Any]:  # fmt: skip
    """One face of head-pose `label`: its angles, its box and the 68 landmarks of the template
    (`shaped` by `moves`, if any) projected at those angles into that box."""
    angles = draw_angles(rng, ranges, label)
    box = draw_face_box(rng, canvas, side)
    template = shaped(moves) if moves else MEAN_FACE_68
    return {"angles": angles, "box": box,
            "landmarks": project_face(angles["yaw"], angles["pitch"], angles["roll"], box, template)}  # fmt: skip
