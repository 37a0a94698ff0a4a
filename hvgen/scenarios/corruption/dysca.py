"""The ``dysca`` preset: the 11 corruptions of the original Dysca ``corruption.py``, each at its
single fixed severity, pixel sizes scaled from the 1024² SDXL images it ran on."""

from __future__ import annotations

import math
from typing import Any

import cv2
import numpy as np

from hvgen.scenarios.corruption.kernels import (
    A,
    CorruptionInfo,
    Entry,
    Kernel,
    albu,
    dysca_scale,
    impulse_noise,
    motion_blur,
    odd,
    scaled_sigma,
    shot_noise,
    speckle_noise,
)


def _dysca_spatter(s: float) -> Kernel:
    """Dysca "spatter": filled circles of radius 1–5 px in random colours, 0.001·H·W of them at
    1024². Radii are scaled by `s` but cannot drop below 1 px, so the count is set to keep the
    original's covered fraction (0.001·π·E[r²] ≈ 3.5 %) instead of shrinking with s²."""
    radii_1024 = np.arange(1, 6)
    radii_scaled = np.maximum(1, np.rint(radii_1024 * s)).astype(int)
    density = 0.001 * float(np.mean(radii_1024**2)) / float(np.mean(radii_scaled**2))

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        h, w = arr.shape[:2]
        out = np.ascontiguousarray(arr).copy()
        n = max(1, int(density * h * w))
        xs, ys = rng.integers(0, w, n), rng.integers(0, h, n)
        radii = radii_scaled[rng.integers(0, 5, n)]
        colours = rng.integers(0, 256, (n, 3))
        for x, y, r, c in zip(xs.tolist(), ys.tolist(), radii.tolist(), colours.tolist(), strict=True):
            cv2.circle(out, (x, y), r, c, thickness=-1)
        return out, {}

    return kernel


def _dysca_rotate() -> Kernel:
    """Rotation by an integer angle in [10, 45]° on the same canvas (black corners)."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        angle = int(rng.integers(10, 46))
        t = A.Rotate(limit=(angle, angle), border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0)
        out, _ = albu(t)(arr, rng)
        return out, {"angle": angle}

    return kernel


def _dysca_shear() -> Kernel:
    """Shear by a factor in {0.10, …, 0.20} along both axes. The original applied
    [[1, s, 0], [s, 1, 0]] about the top-left corner; albumentations' Affine shears about the
    centre, which keeps the subject in frame (documented deviation)."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        factor = int(rng.integers(10, 21)) / 100
        deg = math.degrees(math.atan(factor))
        t = A.Affine(shear={"x": (deg, deg), "y": (deg, deg)}, border_mode=cv2.BORDER_CONSTANT, fill=0, p=1.0)
        out, _ = albu(t)(arr, rng)
        return out, {"shear": factor}

    return kernel


# --------------------------------------------------------------------------- Dysca preset


def _dysca_motion(sev: int, h: int, w: int) -> Kernel:
    # The original rotates np.diag(ones(20)) by 45° inside a 20×20 box: a horizontal line of
    # 20 px, normalised. (Its final NORM_MINMAX contrast stretch is not reproduced.)
    return motion_blur(odd(20 * dysca_scale(h, w)), (0.0, 0.0), 0.0)


def _dysca_gaussian_blur(sev: int, h: int, w: int) -> Kernel:
    # cv2.GaussianBlur(ksize=19, sigma=0) uses σ = 0.3·((19 − 1)/2 − 1) + 0.8 = 3.2 px.
    return albu(A.GaussianBlur(blur_limit=0, sigma_limit=(scaled_sigma(3.2, dysca_scale(h, w)),) * 2, p=1.0))


def _dysca_dropout(sev: int, h: int, w: int) -> Kernel:
    # 0.003·H·W black 5 px squares at 1024² cover 7.5 % of the image. The side scales with the
    # image (≥ 1 px) and the count keeps that covered fraction.
    side = max(1, round(5 * dysca_scale(h, w)))
    n = max(1, int(0.003 * 25 * h * w / side**2))
    return albu(
        A.CoarseDropout(
            num_holes_range=(n, n),
            hole_height_range=(side, side),
            hole_width_range=(side, side),
            fill=0,
            p=1.0,
        )
    )


DYSCA: dict[str, Entry] = {
    "gaussian_noise": Entry(
        CorruptionInfo("noise", "additive Gaussian noise, var 0.1 (albumentations GaussNoise)"),
        lambda sev, h, w: albu(A.GaussNoise(std_range=(math.sqrt(0.1),) * 2, mean_range=(0.0, 0.0), p=1.0)),
    ),
    "shot_noise": Entry(
        CorruptionInfo("noise", "Poisson noise at 256 levels as skimage 'poisson' (hand-written)"),
        lambda sev, h, w: shot_noise(256),
    ),
    "speckle_noise": Entry(
        CorruptionInfo("noise", "multiplicative Gaussian noise, var 0.1 (hand-written)"),
        lambda sev, h, w: speckle_noise(math.sqrt(0.1)),
    ),
    "salt_pepper": Entry(
        CorruptionInfo("noise", "salt-and-pepper per channel value, amount 0.1 (hand-written)"),
        lambda sev, h, w: impulse_noise(0.1),
    ),
    "motion_blur": Entry(
        CorruptionInfo("blur", "horizontal motion blur, 20 px at 1024² (albumentations motion kernel)"),
        _dysca_motion,
    ),
    "gaussian_blur": Entry(
        CorruptionInfo("blur", "Gaussian blur, 19 px kernel at 1024² (albumentations GaussianBlur)"),
        _dysca_gaussian_blur,
    ),
    "jpeg_compression": Entry(
        CorruptionInfo("digital", "JPEG quality 50 (albumentations ImageCompression)"),
        lambda sev, h, w: albu(A.ImageCompression(quality_range=(50, 50), p=1.0)),
    ),
    "spatter": Entry(
        CorruptionInfo(
            "occlusion", "random coloured dots, 1–5 px, 0.001·H·W at 1024² (hand-written, OpenCV)"
        ),
        lambda sev, h, w: _dysca_spatter(dysca_scale(h, w)),
    ),
    "coarse_dropout": Entry(
        CorruptionInfo("occlusion", "black 5 px squares, 0.003·H·W at 1024² (albumentations CoarseDropout)"),
        _dysca_dropout,
    ),
    "rotate": Entry(
        CorruptionInfo("geometric", "rotation by 10–45°, black corners (albumentations Rotate)"),
        lambda sev, h, w: _dysca_rotate(),
    ),
    "shear": Entry(
        CorruptionInfo("geometric", "shear 0.10–0.20 on both axes (albumentations Affine)"),
        lambda sev, h, w: _dysca_shear(),
    ),
}
