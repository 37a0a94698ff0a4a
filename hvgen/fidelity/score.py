"""One rendered image's control fidelity: re-extract its condition and score the agreement.

Which statistic a record's condition recipe gets (CtrLoRA evaluates each condition by its own):

* `pose` — the people are known (the record's keypoints, or the seeded ones the recipe drew):
  a pose estimator re-extracts them top-down from their boxes; score = mean OKS (`oks`).
* `extract` with the canny extractor — canny of the image with the record's thresholds against the
  condition's edges: edge F1 (`edge_f1`).
* other `extract` recipes (grayscale, blur, palette, pixelate, jpeg, outpaint, inpaint) — the same
  extractor with the same seed on the image, SSIM against the condition (`ssim`, clipped at 0;
  the masks of outpaint/inpaint are shared by both, so those scores run high).
* `shapes` — the condition is a picture: SSIM of the image against it.
* `landmarks` — the faces are known (the record's 68-point faces): a whole-body ViTPose
  re-estimates each top-down from its widened landmark box; its 68 face keypoints against the
  face's, NME over the inter-ocular distance, score = max(0, 1 − NME / 0.1)
  (`landmark_nme_score`). Five-point faces (the seeded stand-ins) and a model without a
  whole-body head leave the image unscored (score None).
* `boxes` — not scored (`none`): re-extracting them needs an object detector; such images are kept.

Every score is in [0, 1], higher = the image follows its condition more closely.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from hvgen.conditions.recipes import Recipe, condition_faces, condition_people, get_recipe, reextract
from hvgen.fidelity.metrics import edge_f1, face_agreement, pose_agreement, ssim
from hvgen.fidelity.pose_model import face_box, person_box

PoseEstimator = Callable[[Image.Image, list[list[float]]], list[list[list[float]]]]
"""(RGB image, person boxes [x, y, w, h]) → 17 keypoints [x, y, score] per box."""

FaceEstimator = Callable[[Image.Image, list[list[float]]], list[list[list[float]]] | None]
"""(RGB image, face boxes [x, y, w, h]) → 68 face keypoints [x, y, score] per box, or None when
the model cannot find faces (no whole-body head)."""

METRICS = ("oks", "edge_f1", "ssim", "landmark_nme_score", "none")
EDGE_LEVEL = 127
"""A pixel of an edge map (white on black) is an edge when its grey level is above this."""


@dataclass(frozen=True)
class Fidelity:
    metric: str  # one of METRICS
    score: float | None  # None: not scored


def metric_for(name: str, recipes: dict[str, Recipe]) -> str:
    """The statistic recipe `name` is scored with (see the module docstring)."""
    recipe = get_recipe(name, recipes)
    if recipe.kind == "pose":
        return "oks"
    if recipe.kind == "extract":
        return "edge_f1" if recipe.extractor == "canny" else "ssim"
    if recipe.kind == "landmarks":
        return "landmark_nme_score"
    return "ssim" if recipe.kind == "shapes" else "none"


def score_image(
    image: Image.Image,
    condition: Image.Image,
    name: str,
    params: dict[str, Any],
    seed: int,
    recipes: dict[str, Recipe],
    estimate: PoseEstimator | None = None,
    estimate_faces: FaceEstimator | None = None,
) -> Fidelity:
    """How well `image` follows `condition`, the image of recipe `name` drawn for a record with
    `params` from image seed `seed`. `estimate` is needed for pose recipes only, `estimate_faces`
    for landmark recipes with 68-point faces only."""
    image, condition = image.convert("RGB"), condition.convert("RGB")
    if image.size != condition.size:
        raise ValueError(f"image {image.size} and its condition {condition.size} differ in size")
    metric = metric_for(name, recipes)
    if metric == "oks":
        people = condition_people(name, params, seed, image.size, recipes) or []
        people = [person for person in people if any(point[2] > 0 for point in person)]
        if not people:
            return Fidelity(metric, None)
        if estimate is None:
            raise ValueError(f"condition '{name}' is a pose: scoring it needs a pose estimator")
        found = estimate(image, [person_box(person, image.size) for person in people])
        return Fidelity(metric, pose_agreement(people, found))
    if metric == "landmark_nme_score":
        faces = [
            face for face in condition_faces(name, params, seed, image.size, recipes) or [] if len(face) == 68
        ]
        if not faces:  # five-point faces: no 68-point truth to compare with
            return Fidelity(metric, None)
        if estimate_faces is None:
            raise ValueError(
                f"condition '{name}' is a landmark map: scoring it needs a whole-body pose estimator"
            )
        found = estimate_faces(image, [face_box(face, image.size) for face in faces])
        return Fidelity(metric, None if found is None else face_agreement(faces, found))
    if metric == "none":
        return Fidelity(metric, None)
    again = reextract(name, params, seed, image, recipes) or image
    if metric == "edge_f1":
        return Fidelity(metric, edge_f1(_grey(again) > EDGE_LEVEL, _grey(condition) > EDGE_LEVEL))
    return Fidelity(metric, max(0.0, ssim(_grey(again), _grey(condition))))


def _grey(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"))
