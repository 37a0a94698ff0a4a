"""Control-fidelity statistics as pure functions: how well a re-extracted condition agrees with
the condition an image was rendered from (CtrLoRA's evaluation: re-extract, then compare).

* `oks` / `match_people` / `pose_agreement` — COCO's object keypoint similarity with COCO's
  per-keypoint sigmas, people matched greedily by OKS; a person with no match scores 0.
* `edge_f1` — precision/recall of edge pixels with a distance tolerance (BSDS's 0.75 % of the
  image diagonal by default, at least 1 pixel; `edge_tolerance`).
* `ssim` — the standard Gaussian SSIM of Wang et al. 2004 (11×11 window, σ 1.5, K1 0.01, K2 0.03).
* `landmark_nme` — the normalised mean error of face landmarks; `face_agreement` turns the NME of
  68-point faces (over the inter-ocular distance, outer eye corners 36 and 45, as 300-W) into a
  score, `landmark_score`.

No model and no I/O here, so every number can be checked on hand-made arrays.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

COCO_SIGMAS = (
    np.array(
        [0.26, 0.25, 0.25, 0.35, 0.35, 0.79, 0.79, 0.72, 0.72, 0.62, 0.62, 1.07, 1.07, 0.87, 0.87, 0.89, 0.89]
    )
    / 10.0
)
"""COCO's per-keypoint OKS sigmas (pycocotools cocoeval.py), in COCO keypoint order."""

Person = Sequence[Sequence[float]]  # 17 × [x, y, v] (v: 0 not labelled, 1 occluded, 2 visible)


def person_area(person: Person) -> float:
    """Area (w × h) of the box around the person's labelled keypoints (v > 0): COCO scales OKS by
    the segment area, which synthetic keypoints do not have, so the tight keypoint box stands in."""
    points = np.asarray([p[:2] for p in person if p[2] > 0], dtype=np.float64)
    if len(points) == 0:
        return 0.0
    width, height = points.max(axis=0) - points.min(axis=0)
    return float(width * height)


def oks(truth: Person, predicted: Sequence[Sequence[float]], area: float | None = None) -> float | None:
    """COCO's OKS of one predicted person against one true person: the mean over the true
    person's labelled keypoints (v > 0) of exp(-d² / (2 · area · (2σ)²)); unlabelled keypoints are
    ignored. `area` defaults to `person_area(truth)`. None when the person has no labelled keypoint."""
    truth_array = np.asarray(truth, dtype=np.float64)
    if truth_array.shape != (len(COCO_SIGMAS), 3):
        raise ValueError(
            f"a true person is {len(COCO_SIGMAS)} keypoints [x, y, v], got shape {truth_array.shape}"
        )
    pred_array = np.asarray(predicted, dtype=np.float64)
    if pred_array.ndim != 2 or pred_array.shape[0] != len(COCO_SIGMAS) or pred_array.shape[1] < 2:
        raise ValueError(
            f"a predicted person is {len(COCO_SIGMAS)} keypoints [x, y, ...], got {pred_array.shape}"
        )
    labelled = truth_array[:, 2] > 0
    if not labelled.any():
        return None
    scale = person_area(truth) if area is None else area
    squared = ((pred_array[:, :2] - truth_array[:, :2]) ** 2).sum(axis=1)
    variances = (2 * COCO_SIGMAS) ** 2
    similarity = np.exp(-squared / variances / (scale + np.spacing(1)) / 2)
    return float(similarity[labelled].mean())


def match_people(truth: Sequence[Person], predicted: Sequence[Sequence[Sequence[float]]]) -> list[float]:
    """One OKS per true person (people without labelled keypoints left out): pairs are taken
    greedily, highest OKS first, each predicted person used at most once; a true person left
    without a prediction scores 0. Extra predicted people do not lower the score."""
    people = [person for person in truth if any(point[2] > 0 for point in person)]
    pairs = sorted(
        (
            (oks(person, guess) or 0.0, -t, -p)
            for t, person in enumerate(people)
            for p, guess in enumerate(predicted)
        ),
        reverse=True,
    )  # ties: the lower indices first
    scores = [0.0] * len(people)
    used_truth: set[int] = set()
    used_pred: set[int] = set()
    for value, t, p in pairs:
        if -t in used_truth or -p in used_pred:
            continue
        scores[-t] = value
        used_truth.add(-t)
        used_pred.add(-p)
    return scores


def pose_agreement(truth: Sequence[Person], predicted: Sequence[Sequence[Sequence[float]]]) -> float | None:
    """The mean of `match_people` over the true people (None when no one has a labelled keypoint)."""
    scores = match_people(truth, predicted)
    return float(np.mean(scores)) if scores else None


def edge_tolerance(height: int, width: int) -> float:
    """BSDS's match distance, 0.75 % of the image diagonal, but at least one pixel."""
    return max(1.0, 0.0075 * math.hypot(height, width))


def edge_f1(predicted: np.ndarray, truth: np.ndarray, tolerance: float | None = None) -> float:
    """F1 of edge pixels: an edge pixel of one map counts as matched when the other map has an edge
    pixel within `tolerance` pixels (Euclidean; default `edge_tolerance`). Matching is by distance,
    not BSDS's one-to-one assignment, so F1 is slightly generous on doubled edges. Two empty maps
    agree (1); one empty map against edges scores 0."""
    from scipy import ndimage

    pred, true = np.asarray(predicted, dtype=bool), np.asarray(truth, dtype=bool)
    if pred.shape != true.shape or pred.ndim != 2:
        raise ValueError(f"edge maps must be two 2-D arrays of one shape, got {pred.shape} and {true.shape}")
    radius = edge_tolerance(*true.shape) if tolerance is None else tolerance
    if not pred.any() and not true.any():
        return 1.0
    if not pred.any() or not true.any():
        return 0.0
    to_true = ndimage.distance_transform_edt(~true)
    to_pred = ndimage.distance_transform_edt(~pred)
    precision = float((to_true[pred] <= radius).mean())
    recall = float((to_pred[true] <= radius).mean())
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


SSIM_SIGMA, SSIM_RADIUS, SSIM_K1, SSIM_K2 = 1.5, 5, 0.01, 0.03


def ssim(first: np.ndarray, second: np.ndarray, data_range: float = 255.0) -> float:
    """Mean SSIM of two grey images (Wang et al. 2004): Gaussian-weighted local means, variances
    and covariance (σ 1.5, 11×11), C1 = (0.01 L)², C2 = (0.03 L)², averaged over the pixels whose
    window lies inside the image. In [-1, 1]; 1 for identical images."""
    from scipy import ndimage

    x, y = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"SSIM needs two 2-D grey images of one shape, got {x.shape} and {y.shape}")
    if min(x.shape) < 2 * SSIM_RADIUS + 1:
        raise ValueError(f"SSIM needs images of at least {2 * SSIM_RADIUS + 1} pixels a side, got {x.shape}")

    def blur(array: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(array, SSIM_SIGMA, mode="reflect", truncate=SSIM_RADIUS / SSIM_SIGMA)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    index = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x**2 + mu_y**2 + c1) * (var_x + var_y + c2))
    inner = index[SSIM_RADIUS:-SSIM_RADIUS, SSIM_RADIUS:-SSIM_RADIUS]
    return float(inner.mean())


def landmark_nme(
    predicted: Sequence[Sequence[float]], truth: Sequence[Sequence[float]], norm: float
) -> float:
    """Normalised mean error of face landmarks: the mean point-to-point distance over `norm` (the
    inter-ocular distance or the face box's diagonal, as the benchmark states). 0 is perfect."""
    pred, true = np.asarray(predicted, dtype=np.float64), np.asarray(truth, dtype=np.float64)
    if pred.shape != true.shape or pred.ndim != 2 or pred.shape[1] != 2:
        raise ValueError(
            f"landmarks must be two N × 2 arrays of one shape, got {pred.shape} and {true.shape}"
        )
    if not norm > 0:
        raise ValueError(f"the NME's normaliser must be > 0, got {norm}")
    return float(np.linalg.norm(pred - true, axis=1).mean() / norm)


NME_FAILURE = 0.1
"""The NME at which a face scores 0 (hvgen's choice: a mean error of a tenth of the eye span
means the face was not followed)."""
OUTER_EYE_CORNERS = (36, 45)
"""iBUG-68 indices of the outer eye corners, whose distance normalises the NME (300-W's inter-ocular)."""


def landmark_score(nme: float) -> float:
    """An NME as a 0-1 agreement score: max(0, 1 - NME / `NME_FAILURE`); 1 is perfect."""
    if not nme >= 0:
        raise ValueError(f"an NME is >= 0, got {nme}")
    return max(0.0, 1.0 - nme / NME_FAILURE)


def interocular(face: Sequence[Sequence[float]]) -> float:
    """The distance between the outer eye corners of a 68-point face."""
    (x1, y1), (x2, y2) = (face[i][:2] for i in OUTER_EYE_CORNERS)
    return math.hypot(x2 - x1, y2 - y1)


def face_agreement(
    truth: Sequence[Sequence[Sequence[float]]], predicted: Sequence[Sequence[Sequence[float]]]
) -> float | None:
    """Mean `landmark_score` over 68-point faces, face i against prediction i (estimated from its
    own box, so no matching); None when no face has 68 points with its eye corners apart."""
    scores = []
    for face, found in zip(truth, predicted, strict=True):
        if len(face) != 68 or not interocular(face) > 0:
            continue
        nme = landmark_nme([p[:2] for p in found], [p[:2] for p in face], interocular(face))
        scores.append(landmark_score(nme))
    return float(np.mean(scores)) if scores else None
