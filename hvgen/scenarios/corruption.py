"""Corruption scenario: common image corruptions at controlled severities.

Two presets:

* ``dysca`` — the 11 corruptions of the original Dysca ``corruption.py`` at its single fixed
  severity each; one type is drawn per image. The original ran on 1024² SDXL images, so every
  parameter given in pixels (blur kernels, dot radii, hole sizes) is scaled by
  ``min(H, W) / 1024``: a 64² test image gets the same *relative* damage as a 1024² one.
* ``imagenet-c`` — the ImageNet-C families (Hendrycks & Dietterich 2019, parameter tables of the
  ``imagecorruptions`` package) at severities 1–5. Those tables were calibrated at 224², so
  pixel-sized parameters are scaled by ``min(H, W) / 224`` for the same reason. ``frost`` is not
  offered: it needs the six frost photographs shipped with ImageNet-C, and a procedural stand-in
  would silently differ from the benchmark people know.

Backends: albumentations wherever it implements the *same* corruption (GaussNoise, GlassBlur,
ZoomBlur, GaussianBlur, HueSaturationValue, ElasticTransform, ImageCompression, CoarseDropout,
Rotate, Affine, plus its motion and defocus kernels and plasma fractal); its RNG is replaced
per call through ``set_random_state``, never read from global state. Hand-written
OpenCV/numpy kernels where albumentations lacks the corruption or models a different process:
Poisson noise without gamma linearisation, Gaussian speckle, per-channel salt-and-pepper,
ImageNet-C snow / fog blend / spatter / contrast / saturate / pixelate, the Dysca coloured
dots. Each catalogue description names its backend; each hand-written kernel's docstring says
why. Against imagecorruptions 1.1.2 at 224² (mean PSNR over 8 synthetic scenes, severities
1–5) every shared type agrees within 0.6 dB except motion blur, ~1 dB stronger (a uniform line
with Hendrycks' mean squared displacement instead of his half-Gaussian weights).

Throughput: see ``scripts/bench_corruption.py`` (same images, side by side with
imagecorruptions).

Determinism: ``apply_corruption(image, name, severity, seed)`` is a pure function of its
arguments (same inputs → identical bytes), and the scenario calls it with the record seed, so a
stored ``(corruption, severity)`` plus the seed reproduces the sample.
"""

from __future__ import annotations

import difflib
import functools
import math
import random
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import cv2
import numpy as np
from PIL import Image

from hvgen.lazy_module import lazy_import
from hvgen.scenarios.base import ScenarioInput, ScenarioOutput

# albumentations (which imports torch: seconds) is loaded when a kernel is first built: checking
# a run's corruption names and presets, as a dry run does, needs none of it.
A = lazy_import("albumentations")

__all__ = [
    "CORRUPTIONS",
    "PRESETS",
    "CorruptionInfo",
    "CorruptionScenario",
    "apply_corruption",
    "corrupt_array",
]

DYSCA_REFERENCE_SIZE = 1024
"""Image side the original Dysca pixel parameters assume (SDXL default output)."""
IMAGENET_C_REFERENCE_SIZE = 224
"""Image side the ImageNet-C severity tables were calibrated at."""
SEVERITIES = (1, 2, 3, 4, 5)


class CorruptionInfo(NamedTuple):
    """Catalogue entry: a family (noise, blur, weather, digital, geometric, occlusion) and a
    one-line description, shown by the CLI and written to the dataset card."""

    family: str
    description: str


# A kernel maps (uint8 HxWx3 RGB array, seeded generator) to (uint8 array, drawn parameters).
Kernel = Callable[[np.ndarray, np.random.Generator], tuple[np.ndarray, dict[str, Any]]]
# A builder makes the kernel for (severity, height, width); built kernels are cached per thread.
Builder = Callable[[int, int, int], Kernel]


@dataclass(frozen=True)
class _Entry:
    info: CorruptionInfo
    build: Builder


# --------------------------------------------------------------------------- helpers


def _albu(transform: A.ImageOnlyTransform | A.DualTransform) -> Kernel:
    """Wrap an albumentations transform (built with p=1) as a seeded kernel.

    The transform's own generators are replaced before every call, so the output depends only
    on the seed and not on what the transform (or any other code) drew before.
    """

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        transform.set_random_state(rng, random.Random(int(rng.integers(1 << 62))))
        return transform(image=arr)["image"], {}

    return kernel


def _odd(x: float, minimum: int = 3) -> int:
    """Nearest odd integer ≥ `minimum` (kernel sizes)."""
    k = max(minimum, int(round(x)))
    return k if k % 2 == 1 else k + 1


def _to_uint8(x: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """float image in [0, 1] (times `scale`) → rounded, clipped uint8, without a float64 pass."""
    if scale != 1.0:
        x = np.multiply(x, np.float32(scale), dtype=np.float32)
    return np.clip(x, 0, 255, out=x).round(out=x).astype(np.uint8)


def _ic_scale(h: int, w: int) -> float:
    return min(h, w) / IMAGENET_C_REFERENCE_SIZE


def _dysca_scale(h: int, w: int) -> float:
    return min(h, w) / DYSCA_REFERENCE_SIZE


def _scaled_sigma(sigma: float, scale: float) -> float:
    """A blur σ scaled to the image, floored at half its reference value (and 0.5 px): scaled
    down to a small image, a 3.2 px blur would become 0.2 px and leave the image unchanged —
    a sample labelled "corrupted" that is not. The floor keeps severities ordered."""
    return max(sigma * scale, 0.5 * sigma, 0.5)


def _reference_shape(h: int, w: int) -> tuple[int, int]:
    """The image's shape rescaled so its short side is the 224-px ImageNet-C reference."""
    s = _ic_scale(h, w)
    return max(1, round(h / s)), max(1, round(w / s))


def _resize_layer(layer: np.ndarray, h: int, w: int) -> np.ndarray:
    if layer.shape[:2] == (h, w):
        return layer
    shrink = layer.shape[0] > h
    return cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """skimage.filters.gaussian (truncate 4σ, 'nearest' borders) with OpenCV, in float32."""
    ksize = 2 * int(4 * sigma + 0.5) + 1
    return cv2.GaussianBlur(x, (ksize, ksize), sigma, borderType=cv2.BORDER_REPLICATE)


# --------------------------------------------------------------------------- hand-written kernels


_GUIDE_BUCKETS = 2048


@functools.lru_cache(maxsize=16)
def _poisson_tables(photons: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Inverse-CDF tables for Poisson(v·photons/255), v = 0..255.

    uint8 input has only 256 distinct rates, so exact sampling reduces to table look-ups:
    `guide[v, j]` is the smallest k with CDF ≥ j/B, and `settled[v, j]` says the whole bucket
    maps to that k; only the few draws in unsettled buckets walk the CDF. ~5× faster than
    `Generator.poisson` per element, and exact (float64 uniforms, tail mass < 1e-30 dropped).
    """
    rates = np.arange(256, dtype=np.float64) * (photons / 255.0)
    kmax = int(photons + 12 * math.sqrt(photons) + 25)
    pmf = np.empty((256, kmax), np.float64)
    pmf[:, 0] = np.exp(-rates)
    for k in range(1, kmax):
        pmf[:, k] = pmf[:, k - 1] * rates / k
    cdf = np.cumsum(pmf, axis=1)
    cdf[:, -1] = 1.0
    edges = np.arange(_GUIDE_BUCKETS + 1, dtype=np.float64) / _GUIDE_BUCKETS
    bounds = np.stack([np.searchsorted(row, edges, side="left") for row in cdf]).clip(max=kmax - 1)
    guide = bounds[:, :-1].astype(np.uint16)
    settled = bounds[:, :-1] == bounds[:, 1:]
    return cdf.ravel(), guide.ravel(), settled.ravel(), kmax


def _shot_noise(photons: float) -> Kernel:
    """Poisson noise with `photons` counts at full intensity, applied to the gamma-encoded
    values as ImageNet-C and skimage (Dysca) do. albumentations' ShotNoise linearises with
    gamma 2.2 first, which changes the noise level per severity, hence hand-written."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        cdf, guide, settled, kmax = _poisson_tables(float(photons))
        flat = arr.reshape(-1)
        u = rng.random(flat.size)
        cell = flat.astype(np.int32) * _GUIDE_BUCKETS
        cell += (u * _GUIDE_BUCKETS).astype(np.int32)
        counts = guide[cell]
        open_ = np.flatnonzero(~settled[cell])
        if open_.size:
            k = counts[open_].astype(np.intp)
            uu, base = u[open_], flat[open_].astype(np.intp) * kmax
            while True:
                step = cdf[base + k] < uu
                if not step.any():
                    break
                k += step
            counts[open_] = k
        lut = np.clip(np.rint(np.arange(kmax) * (255.0 / photons)), 0, 255).astype(np.uint8)
        return lut[counts].reshape(arr.shape), {}

    return kernel


def _speckle_noise(std: float) -> Kernel:
    """Multiplicative Gaussian noise x·(1 + N(0, std)) (ImageNet-C / skimage "speckle");
    albumentations' MultiplicativeNoise draws uniform multipliers instead."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        noise = rng.standard_normal(arr.shape, dtype=np.float32)
        noise *= np.float32(std)
        noise += np.float32(1.0)
        noise *= arr
        return _to_uint8(noise, 1.0), {}

    return kernel


def _impulse_noise(amount: float) -> Kernel:
    """Salt-and-pepper on individual channel values, as skimage's ``s&p`` (used by ImageNet-C
    and Dysca): each value independently becomes 0 or 255 (half each) with probability
    `amount`. albumentations' SaltAndPepper replaces whole pixels (white/black instead of
    coloured impulses) and draws a permutation of all pixels. The Bernoulli process is sampled
    through its geometric gaps, so the cost grows with the number of impulses, not pixels."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        flat = arr.reshape(-1).copy()
        n = flat.size
        expected = n * amount
        chunk = int(expected + 6 * math.sqrt(expected) + 16)
        positions = np.cumsum(rng.geometric(amount, size=chunk)) - 1
        while positions[-1] < n - 1:  # rare: the first chunk ended early
            positions = np.concatenate(
                [positions, positions[-1] + np.cumsum(rng.geometric(amount, size=chunk))]
            )
        positions = positions[positions < n]
        flat[positions] = rng.integers(0, 2, positions.size, dtype=np.uint8) * np.uint8(255)
        return flat.reshape(arr.shape), {}

    return kernel


def _ic_motion_kernel(radius: float, sigma: float, angle: float) -> np.ndarray:
    """The ImageNet-C one-sided motion kernel (half-Gaussian weights along a line) as a 2-D
    filter, so one `cv2.filter2D` replaces the per-shift Python loop of the original."""
    width = int(2 * round(radius) + 1)
    weights = np.exp(-(np.arange(width, dtype=np.float64) ** 2) / (2 * sigma**2))
    weights /= weights.sum()
    py, px = width * math.sin(math.radians(angle)), width * math.cos(math.radians(angle))
    hyp = math.hypot(py, px)
    kernel = np.zeros((2 * width + 1, 2 * width + 1), np.float32)
    for i in range(width):
        dy = -math.ceil(i * py / hyp - 0.5)
        dx = -math.ceil(i * px / hyp - 0.5)
        kernel[width - dy, width - dx] += weights[i]
    return kernel


def _zoomed_noise(
    rng: np.random.Generator, h: int, w: int, zoom: float, loc: float, scale: float
) -> np.ndarray:
    """Gaussian noise magnified `zoom`× (≥ 1): ImageNet-C draws H×W noise and zooms its central
    1/zoom crop back to H×W (`clipped_zoom`); drawing only the crop is equivalent and needs
    zoom² fewer samples."""
    gh, gw = max(1, math.ceil(h / zoom)), max(1, math.ceil(w / zoom))
    grid = rng.standard_normal((gh, gw), dtype=np.float32)
    grid *= np.float32(scale)
    grid += np.float32(loc)
    return cv2.resize(grid, (w, h), interpolation=cv2.INTER_LINEAR)


def _ic_snow(params: tuple[float, float, float, float, float, float, float]) -> Kernel:
    """ImageNet-C snow: zoomed, thresholded Gaussian flakes streaked by a motion kernel, plus a
    whitening of the scene. albumentations' RandomSnow bleaches bright regions instead.

    The flake layer is made at the 224-px reference resolution with Hendrycks' parameters and
    then resized to the image: its look depends on interpolation statistics (zoom, threshold)
    that do not survive rescaling the parameters themselves, and it is ~20× cheaper at 1024²."""
    loc, scale, zoom, threshold, radius, sigma, blend = params

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        h, w = arr.shape[:2]
        rh, rw = _reference_shape(h, w)
        flakes = _zoomed_noise(rng, rh, rw, zoom, loc, scale)
        flakes[flakes < threshold] = 0
        np.clip(flakes, 0, 1, out=flakes)
        angle = float(rng.uniform(-135, -45))
        flakes = cv2.filter2D(
            flakes, -1, _ic_motion_kernel(radius, sigma, angle), borderType=cv2.BORDER_REPLICATE
        )
        flakes = _resize_layer(np.round(flakes * 255) * np.float32(1 / 255), h, w)
        x = arr.astype(np.float32) * np.float32(1 / 255)
        gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY)[..., None] * np.float32(1.5) + np.float32(0.5)
        x = np.float32(blend) * x + np.float32(1 - blend) * np.maximum(x, gray)
        x += (flakes + flakes[::-1, ::-1])[..., None]
        return _to_uint8(x), {"angle": round(angle, 3)}

    return kernel


def _ic_fog(strength: float, decay: float) -> Kernel:
    """ImageNet-C fog: add a plasma fractal and renormalise. The fractal comes from
    albumentations (`generate_plasma_pattern`, roughness = 1/decay); its RandomFog draws
    discrete fog blobs instead, so the blend is hand-written."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        x = arr.astype(np.float32) * np.float32(1 / 255)
        max_val = float(x.max())
        plasma = A.augmentations.pixel.functional.generate_plasma_pattern(arr.shape[:2], 1.0 / decay, rng)
        x += np.float32(strength) * plasma[..., None]
        x *= np.float32(max_val / (max_val + strength))
        return _to_uint8(x), {}

    return kernel


def _saturate(factor: float, offset: float) -> Kernel:
    """ImageNet-C saturate: S ← S·factor + offset in HSV. albumentations only shifts S
    additively (HueSaturationValue) or blends with grey (ColorJitter)."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        hsv = cv2.cvtColor(arr.astype(np.float32) * np.float32(1 / 255), cv2.COLOR_RGB2HSV)
        sat = hsv[..., 1]
        sat *= np.float32(factor)
        sat += np.float32(offset)
        np.clip(sat, 0, 1, out=sat)
        return _to_uint8(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)), {}

    return kernel


def _line_blur(arr: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate with an equal-weight sparse kernel (a motion line) as a sum of shifted views.

    Same result as `cv2.filter2D(arr, -1, kernel / n)` with reflect-101 borders (±1 from
    rounding), but costs one add per kernel point instead of a dense k×k pass: 10–20× faster
    for the 9–51 px line kernels used here."""
    ys, xs = np.nonzero(kernel)
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    h, w = arr.shape[:2]
    padded = cv2.copyMakeBorder(arr, ry, ry, rx, rx, cv2.BORDER_REFLECT_101)
    acc = np.zeros(arr.shape, np.float32)
    for y, x in zip(ys.tolist(), xs.tolist(), strict=True):
        cv2.accumulate(padded[y : y + h, x : x + w], acc)
    return cv2.convertScaleAbs(acc, alpha=1.0 / len(ys))  # values ≥ 0: rounds and saturates


def _motion_blur(size: int, angle_range: tuple[float, float], direction: float) -> Kernel:
    """albumentations' motion kernel (`create_motion_kernel`: a line of `size` points,
    `direction` 0 = centred, 1 = forward only), applied with `_line_blur`."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        angle = float(rng.uniform(*angle_range)) if angle_range[0] != angle_range[1] else angle_range[0]
        line = A.augmentations.blur.functional.create_motion_kernel(
            size, angle, direction, False, random.Random(0)
        )
        return _line_blur(arr, line), ({"angle": round(angle, 3)} if angle_range[0] != angle_range[1] else {})

    return kernel


def _defocus(radius: int, alias_blur: float) -> Kernel:
    """ImageNet-C / albumentations defocus: an anti-aliased disk. Same kernel as
    `A.Defocus`, but cropped to its non-zero support (both libraries pad it to ≥ 17×17) and
    filtered in float32, which OpenCV runs 2–4× faster than uint8 at these sizes."""
    side = np.arange(-max(8, radius), max(8, radius) + 1)
    x, y = np.meshgrid(side, side)
    disk = ((x**2 + y**2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    ksize = 3 if radius <= 8 else 5
    kern = cv2.GaussianBlur(disk, (ksize, ksize), sigmaX=alias_blur)
    rows = np.flatnonzero(kern.any(axis=1))
    lo, hi = min(rows[0], len(side) - 1 - rows[-1]), max(rows[-1], len(side) - 1 - rows[0])
    kern = np.ascontiguousarray(kern[lo : hi + 1, lo : hi + 1])

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        out = cv2.filter2D(arr.astype(np.float32), -1, kern, borderType=cv2.BORDER_REFLECT_101)
        return _to_uint8(out, 1.0), {}

    return kernel


def _pixelate(factor: float) -> Kernel:
    """ImageNet-C pixelate: box-downscale to int(side·factor), nearest-upscale back.
    albumentations' Downscale resizes with fx=factor, so its sampling grid drifts from the
    rounded target size (−2.8 dB PSNR vs Hendrycks at severity 1, 224²)."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        h, w = arr.shape[:2]
        small = cv2.resize(
            arr, (max(1, int(w * factor)), max(1, int(h * factor))), interpolation=cv2.INTER_AREA
        )
        # NEAREST_EXACT samples pixel centres like PIL's NEAREST; plain NEAREST is shifted.
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST_EXACT), {}

    return kernel


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
        out, _ = _albu(t)(arr, rng)
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
        out, _ = _albu(t)(arr, rng)
        return out, {"shear": factor}

    return kernel


# --------------------------------------------------------------------------- ImageNet-C tables
# Values from imagecorruptions 1.1.2 (Hendrycks' tables), severity 1..5.

_IC_GAUSSIAN = (0.08, 0.12, 0.18, 0.26, 0.38)
_IC_SHOT = (60, 25, 12, 5, 3)
_IC_IMPULSE = (0.03, 0.06, 0.09, 0.17, 0.27)
_IC_SPECKLE = (0.15, 0.2, 0.35, 0.45, 0.6)
_IC_GAUSSIAN_BLUR = (1, 2, 3, 4, 6)
_IC_GLASS = ((0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2))
_IC_DEFOCUS = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))
_IC_MOTION = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # (radius, sigma)
_IC_ZOOM = ((1.11, 0.01), (1.16, 0.01), (1.21, 0.02), (1.26, 0.02), (1.31, 0.03))
_IC_SNOW = (
    (0.1, 0.3, 3, 0.5, 10, 4, 0.8),
    (0.2, 0.3, 2, 0.5, 12, 4, 0.7),
    (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
    (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65),
    (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55),
)
_IC_FOG = ((1.5, 2), (2.0, 2), (2.5, 1.7), (2.5, 1.5), (3.0, 1.4))
_IC_BRIGHTNESS = (0.1, 0.2, 0.3, 0.4, 0.5)
_IC_SPATTER = (  # mean, std, gauss_sigma, threshold, intensity (rain) / mud blur σ, mode
    (0.65, 0.3, 4, 0.69, 0.6, "rain"),
    (0.65, 0.3, 3, 0.68, 0.6, "rain"),
    (0.65, 0.3, 2, 0.68, 0.5, "rain"),
    (0.65, 0.3, 1, 0.65, 1.5, "mud"),
    (0.67, 0.4, 1, 0.65, 1.5, "mud"),
)
_IC_CONTRAST = (0.4, 0.3, 0.2, 0.1, 0.05)
_IC_ELASTIC = tuple(250 * f for f in (0.05, 0.065, 0.085, 0.1, 0.12))
_IC_PIXELATE = (0.6, 0.5, 0.4, 0.3, 0.25)
_IC_JPEG = (25, 18, 15, 10, 7)
_IC_SATURATE = ((0.3, 0.0), (0.1, 0.0), (2.0, 0.0), (5.0, 0.1), (20.0, 0.2))


def _ic_glass(sev: int, h: int, w: int) -> Kernel:
    sigma, delta, iterations = _IC_GLASS[sev - 1]
    s = _ic_scale(h, w)
    delta = max(1, min(int(round(delta * s)), (min(h, w) - 1) // 2 - 1))
    return _albu(A.GlassBlur(sigma=sigma * s, max_delta=delta, iterations=iterations, mode="fast", p=1.0))


def _ic_motion(sev: int, h: int, w: int) -> Kernel:
    # Hendrycks' kernel is one-sided with half-Gaussian weights (σ), angle uniform in ±45°.
    # A one-sided uniform line of L points with the same mean squared displacement
    # (σ² = L²/3) has L ≈ 1.73 σ; albumentations' forward-only (direction 1) kernel of size
    # 2L − 1 holds L points.
    _, sigma = _IC_MOTION[sev - 1]
    points = max(2, round(1.73 * sigma * _ic_scale(h, w)))
    return _motion_blur(2 * points - 1, (-45.0, 45.0), 1.0)


def _ic_elastic(sev: int, h: int, w: int) -> Kernel:
    # Hendrycks: displacement = gaussian(U(−0.005·H, 0.005·H), σ = 0.01·H) · alpha;
    # albumentations: gaussian(U(−1, 1), σ) · alpha  →  alpha_A = alpha · 0.005 · H. That field
    # moves pixels by the same number of pixels at any H, so alpha is also scaled by H/224 to
    # keep the distortion relative, like every other pixel-sized parameter here.
    side = min(h, w)
    return _albu(
        A.ElasticTransform(
            alpha=_IC_ELASTIC[sev - 1] * 0.005 * side * _ic_scale(h, w),
            sigma=max(1.0, 0.01 * side),  # albumentations requires σ ≥ 1
            noise_distribution="uniform",
            border_mode=cv2.BORDER_REFLECT_101,
            p=1.0,
        )
    )


_EMBOSS = np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]], np.float32)


def _ic_spatter(sev: int, h: int, w: int) -> Kernel:
    """ImageNet-C spatter, ported to float32 OpenCV: water drops (severities 1–3, pale
    turquoise, embossed by a distance transform) or mud (4–5, brown blobs).

    albumentations' Spatter started from the same code but redesigned the drop shading; at
    224² it is up to 9 dB (PSNR) stronger than Hendrycks' at the same parameters, so the
    original is ported instead. Like snow, the liquid layer is made at the 224-px reference
    resolution (its thresholded-noise statistics do not survive rescaling σ) and resized."""
    mean, std, sigma, threshold, strength, mode = _IC_SPATTER[sev - 1]

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        h, w = arr.shape[:2]
        rh, rw = _reference_shape(h, w)
        liquid = rng.standard_normal((rh, rw), dtype=np.float32)
        liquid *= np.float32(std)
        liquid += np.float32(mean)
        liquid = _gaussian(liquid, sigma)
        liquid[liquid < threshold] = 0
        x = arr.astype(np.float32) * np.float32(1 / 255)
        if mode == "rain":
            liquid_u8 = (liquid * 255).astype(np.uint8)
            dist = cv2.distanceTransform(255 - cv2.Canny(liquid_u8, 50, 150), cv2.DIST_L2, 5)
            _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
            dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
            dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, _EMBOSS), (3, 3)).astype(np.float32)
            m = liquid_u8 * dist
            peak = float(m.max())
            m *= np.float32(strength / peak) if peak > 0 else np.float32(0)
            m = _resize_layer(m, h, w)
            x += m[..., None] * (np.array([175, 238, 238], np.float32) / 255)
        else:
            m = _gaussian((liquid > threshold).astype(np.float32), strength)
            m[m < 0.8] = 0
            m = _resize_layer(m, h, w)[..., None]
            x *= 1 - m
            x += m * (np.array([63, 42, 20], np.float32) / 255)
        return _to_uint8(x), {}

    return kernel


def _ic_contrast(contrast: float) -> Kernel:
    """ImageNet-C contrast: (x − mean_c)·c + mean_c with per-channel means, as one 3-channel
    LUT. albumentations' RandomBrightnessContrast can only pull towards one mean for all
    channels (~1 dB stronger, greys out colours)."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        means = np.asarray(cv2.mean(arr)[:3], np.float64)
        levels = np.arange(256, dtype=np.float64)[:, None]
        lut = np.clip(np.rint(levels * contrast + means * (1 - contrast)), 0, 255).astype(np.uint8)
        return cv2.LUT(arr, lut.reshape(256, 1, 3)), {}

    return kernel


_IMAGENET_C: dict[str, _Entry] = {
    "gaussian_noise": _Entry(
        CorruptionInfo("noise", "additive Gaussian noise (albumentations GaussNoise)"),
        lambda sev, h, w: _albu(
            A.GaussNoise(std_range=(_IC_GAUSSIAN[sev - 1],) * 2, mean_range=(0.0, 0.0), p=1.0)
        ),
    ),
    "shot_noise": _Entry(
        CorruptionInfo("noise", "Poisson (photon) noise, exact table sampling (hand-written, numpy)"),
        lambda sev, h, w: _shot_noise(_IC_SHOT[sev - 1]),
    ),
    "impulse_noise": _Entry(
        CorruptionInfo("noise", "salt-and-pepper per channel value (hand-written, numpy)"),
        lambda sev, h, w: _impulse_noise(_IC_IMPULSE[sev - 1]),
    ),
    "speckle_noise": _Entry(
        CorruptionInfo("noise", "multiplicative Gaussian noise (hand-written, numpy)"),
        lambda sev, h, w: _speckle_noise(_IC_SPECKLE[sev - 1]),
    ),
    "defocus_blur": _Entry(
        CorruptionInfo("blur", "anti-aliased disk kernel (albumentations Defocus kernel, cropped)"),
        lambda sev, h, w: _defocus(
            max(1, round(_IC_DEFOCUS[sev - 1][0] * _ic_scale(h, w))), _IC_DEFOCUS[sev - 1][1]
        ),
    ),
    "glass_blur": _Entry(
        CorruptionInfo("blur", "blur + local pixel shuffling (albumentations GlassBlur)"), _ic_glass
    ),
    "motion_blur": _Entry(
        CorruptionInfo("blur", "linear motion blur, angle ±45° (albumentations motion kernel)"), _ic_motion
    ),
    "zoom_blur": _Entry(
        CorruptionInfo("blur", "average of centre zooms (albumentations ZoomBlur)"),
        lambda sev, h, w: _albu(
            A.ZoomBlur(max_factor=(_IC_ZOOM[sev - 1][0],) * 2, step_factor=(_IC_ZOOM[sev - 1][1],) * 2, p=1.0)
        ),
    ),
    "gaussian_blur": _Entry(
        CorruptionInfo("blur", "Gaussian blur (albumentations GaussianBlur)"),
        lambda sev, h, w: _albu(
            A.GaussianBlur(
                blur_limit=0,
                sigma_limit=(_scaled_sigma(_IC_GAUSSIAN_BLUR[sev - 1], _ic_scale(h, w)),) * 2,
                p=1.0,
            )
        ),
    ),
    "snow": _Entry(
        CorruptionInfo("weather", "streaked snow flakes + whitening (hand-written, OpenCV)"),
        lambda sev, h, w: _ic_snow(_IC_SNOW[sev - 1]),
    ),
    "fog": _Entry(
        CorruptionInfo("weather", "plasma-fractal haze (albumentations plasma, hand-written blend)"),
        lambda sev, h, w: _ic_fog(*_IC_FOG[sev - 1]),
    ),
    "brightness": _Entry(
        CorruptionInfo("weather", "HSV value shift (albumentations HueSaturationValue)"),
        lambda sev, h, w: _albu(
            A.HueSaturationValue(
                hue_shift_limit=(0, 0),
                sat_shift_limit=(0, 0),
                val_shift_limit=(_IC_BRIGHTNESS[sev - 1] * 255,) * 2,
                p=1.0,
            )
        ),
    ),
    "spatter": _Entry(
        CorruptionInfo("weather", "water drops (1–3) / mud (4–5) (ImageNet-C port, OpenCV)"), _ic_spatter
    ),
    "contrast": _Entry(
        CorruptionInfo("digital", "contrast reduction towards per-channel means (hand-written, LUT)"),
        lambda sev, h, w: _ic_contrast(_IC_CONTRAST[sev - 1]),
    ),
    "elastic_transform": _Entry(
        CorruptionInfo("digital", "smooth random displacement field (albumentations ElasticTransform)"),
        _ic_elastic,
    ),
    "pixelate": _Entry(
        CorruptionInfo("digital", "area downscale + nearest upscale (hand-written, OpenCV)"),
        lambda sev, h, w: _pixelate(_IC_PIXELATE[sev - 1]),
    ),
    "jpeg_compression": _Entry(
        CorruptionInfo("digital", "JPEG re-encoding (albumentations ImageCompression)"),
        lambda sev, h, w: _albu(A.ImageCompression(quality_range=(_IC_JPEG[sev - 1],) * 2, p=1.0)),
    ),
    "saturate": _Entry(
        CorruptionInfo("digital", "HSV saturation scale + offset (hand-written, OpenCV)"),
        lambda sev, h, w: _saturate(*_IC_SATURATE[sev - 1]),
    ),
}


# --------------------------------------------------------------------------- Dysca preset


def _dysca_motion(sev: int, h: int, w: int) -> Kernel:
    # The original rotates np.diag(ones(20)) by 45° inside a 20×20 box: a horizontal line of
    # 20 px, normalised. (Its final NORM_MINMAX contrast stretch is not reproduced.)
    return _motion_blur(_odd(20 * _dysca_scale(h, w)), (0.0, 0.0), 0.0)


def _dysca_gaussian_blur(sev: int, h: int, w: int) -> Kernel:
    # cv2.GaussianBlur(ksize=19, sigma=0) uses σ = 0.3·((19 − 1)/2 − 1) + 0.8 = 3.2 px.
    return _albu(
        A.GaussianBlur(blur_limit=0, sigma_limit=(_scaled_sigma(3.2, _dysca_scale(h, w)),) * 2, p=1.0)
    )


def _dysca_dropout(sev: int, h: int, w: int) -> Kernel:
    # 0.003·H·W black 5 px squares at 1024² cover 7.5 % of the image. The side scales with the
    # image (≥ 1 px) and the count keeps that covered fraction.
    side = max(1, round(5 * _dysca_scale(h, w)))
    n = max(1, int(0.003 * 25 * h * w / side**2))
    return _albu(
        A.CoarseDropout(
            num_holes_range=(n, n),
            hole_height_range=(side, side),
            hole_width_range=(side, side),
            fill=0,
            p=1.0,
        )
    )


_DYSCA: dict[str, _Entry] = {
    "gaussian_noise": _Entry(
        CorruptionInfo("noise", "additive Gaussian noise, var 0.1 (albumentations GaussNoise)"),
        lambda sev, h, w: _albu(A.GaussNoise(std_range=(math.sqrt(0.1),) * 2, mean_range=(0.0, 0.0), p=1.0)),
    ),
    "shot_noise": _Entry(
        CorruptionInfo("noise", "Poisson noise at 256 levels as skimage 'poisson' (hand-written)"),
        lambda sev, h, w: _shot_noise(256),
    ),
    "speckle_noise": _Entry(
        CorruptionInfo("noise", "multiplicative Gaussian noise, var 0.1 (hand-written)"),
        lambda sev, h, w: _speckle_noise(math.sqrt(0.1)),
    ),
    "salt_pepper": _Entry(
        CorruptionInfo("noise", "salt-and-pepper per channel value, amount 0.1 (hand-written)"),
        lambda sev, h, w: _impulse_noise(0.1),
    ),
    "motion_blur": _Entry(
        CorruptionInfo("blur", "horizontal motion blur, 20 px at 1024² (albumentations motion kernel)"),
        _dysca_motion,
    ),
    "gaussian_blur": _Entry(
        CorruptionInfo("blur", "Gaussian blur, 19 px kernel at 1024² (albumentations GaussianBlur)"),
        _dysca_gaussian_blur,
    ),
    "jpeg_compression": _Entry(
        CorruptionInfo("digital", "JPEG quality 50 (albumentations ImageCompression)"),
        lambda sev, h, w: _albu(A.ImageCompression(quality_range=(50, 50), p=1.0)),
    ),
    "spatter": _Entry(
        CorruptionInfo(
            "occlusion", "random coloured dots, 1–5 px, 0.001·H·W at 1024² (hand-written, OpenCV)"
        ),
        lambda sev, h, w: _dysca_spatter(_dysca_scale(h, w)),
    ),
    "coarse_dropout": _Entry(
        CorruptionInfo("occlusion", "black 5 px squares, 0.003·H·W at 1024² (albumentations CoarseDropout)"),
        _dysca_dropout,
    ),
    "rotate": _Entry(
        CorruptionInfo("geometric", "rotation by 10–45°, black corners (albumentations Rotate)"),
        lambda sev, h, w: _dysca_rotate(),
    ),
    "shear": _Entry(
        CorruptionInfo("geometric", "shear 0.10–0.20 on both axes (albumentations Affine)"),
        lambda sev, h, w: _dysca_shear(),
    ),
}

_REGISTRY: dict[str, dict[str, _Entry]] = {"dysca": _DYSCA, "imagenet-c": _IMAGENET_C}

PRESETS: dict[str, tuple[str, ...]] = {preset: tuple(table) for preset, table in _REGISTRY.items()}
"""Preset name → corruption names it offers (in catalogue order)."""

CORRUPTIONS: dict[str, CorruptionInfo] = {}
"""Corruption name → (family, description), over all presets (ImageNet-C wording first)."""
for _table in (_IMAGENET_C, _DYSCA):
    for _name, _entry in _table.items():
        CORRUPTIONS.setdefault(_name, _entry.info)


# --------------------------------------------------------------------------- public API


def _suggest(kind: str, name: str, valid: Sequence[str]) -> ValueError:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Valid: {', '.join(valid)}.")


def _check(preset: str, name: str, severity: int | None) -> None:
    if preset not in _REGISTRY:
        raise _suggest("corruption preset", preset, list(_REGISTRY))
    if name not in _REGISTRY[preset]:
        raise _suggest(f"corruption for preset {preset!r}", name, PRESETS[preset])
    if preset == "dysca":
        if severity is not None:
            raise ValueError("The 'dysca' preset has one fixed severity per corruption; pass severity=None.")
    elif severity not in SEVERITIES:
        raise ValueError(f"Severity must be an integer 1–5 for preset {preset!r}, got {severity!r}.")


_local = threading.local()


def _kernel(preset: str, name: str, severity: int | None, h: int, w: int) -> Kernel:
    """Build (once per thread) the kernel for this configuration: albumentations transforms are
    validated at construction (~0.1 ms) and keep mutable RNG state, so they are cached per thread
    rather than shared."""
    cache: dict[tuple[Any, ...], Kernel] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    key = (preset, name, severity, h, w)
    kernel = cache.get(key)
    if kernel is None:
        if len(cache) > 512:
            cache.clear()
        kernel = cache[key] = _REGISTRY[preset][name].build(severity or 1, h, w)
    return kernel


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(int(seed) % (1 << 64))


def _corrupt(
    arr: np.ndarray, name: str, severity: int | None, seed: int, preset: str
) -> tuple[np.ndarray, dict[str, Any]]:
    _check(preset, name, severity)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"Expected an HxWx3 uint8 RGB array, got {arr.dtype} {arr.shape}.")
    h, w = arr.shape[:2]
    out, drawn = _kernel(preset, name, severity, h, w)(np.ascontiguousarray(arr), _rng(seed))
    return out, drawn


def corrupt_array(
    arr: np.ndarray, name: str, severity: int | None, seed: int, *, preset: str = "imagenet-c"
) -> np.ndarray:
    """Array form of `apply_corruption` (HxWx3 uint8 RGB in and out), for benchmarks and callers
    that already hold decoded pixels."""
    return _corrupt(arr, name, severity, seed, preset)[0]


def apply_corruption(
    image: Image.Image, name: str, severity: int | None, seed: int, *, preset: str = "imagenet-c"
) -> Image.Image:
    """Corrupt `image` with corruption `name` at `severity` (1–5; ``None`` for the fixed-severity
    ``dysca`` preset). A pure function of its arguments: same inputs → identical pixels.
    The output is RGB (other modes are converted first)."""
    arr = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    return Image.fromarray(_corrupt(arr, name, severity, seed, preset)[0])


class CorruptionScenario:
    """One corruption per image, drawn from the record seed.

    ``corruptions`` restricts the draw to a subset of the preset; ``severity`` fixes the
    severity (``imagenet-c`` only), else it is drawn uniformly from 1–5. The draw uses a stream
    separate from the corruption's own randomness, and the corruption is applied with the input
    seed itself, so ``apply_corruption(img, p["corruption"], p["severity"], seed,
    preset=p["preset"])`` reproduces a stored sample.
    """

    name: ClassVar[str] = "corruption"
    level: ClassVar[Literal["image", "record"]] = "image"
    # Pure per-image CPU work: the stage may spread it over processes.
    cpu_bound: ClassVar[bool] = True

    def __init__(
        self, preset: str = "dysca", corruptions: list[str] | None = None, severity: int | None = None
    ) -> None:
        if preset not in _REGISTRY:
            raise _suggest("corruption preset", preset, list(_REGISTRY))
        names = list(corruptions) if corruptions else list(PRESETS[preset])
        for n in names:
            if n not in _REGISTRY[preset]:
                raise _suggest(f"corruption for preset {preset!r}", n, PRESETS[preset])
        if preset == "dysca" and severity is not None:
            raise ValueError(
                "The 'dysca' preset has one fixed severity per corruption; do not pass --severity."
            )
        if severity is not None and severity not in SEVERITIES:
            raise ValueError(f"Severity must be an integer 1–5, got {severity!r}.")
        self.preset = preset
        self.corruptions = tuple(dict.fromkeys(names))
        self.severity = severity

    def choose(self, seed: int) -> tuple[str, int | None]:
        """The (corruption, severity) this seed selects."""
        rng = np.random.default_rng([int(seed) % (1 << 64), 0x636F7272])  # separate stream
        name = self.corruptions[int(rng.integers(len(self.corruptions)))]
        if self.preset == "dysca":
            return name, None
        severity = self.severity if self.severity is not None else int(rng.integers(1, 6))
        return name, severity

    def apply_batch(self, inputs: list[ScenarioInput]) -> list[ScenarioOutput]:
        outputs = []
        for item in inputs:
            name, severity = self.choose(item.seed)
            image = item.image.convert("RGB") if item.image.mode != "RGB" else item.image
            arr, drawn = _corrupt(np.asarray(image), name, severity, item.seed, self.preset)
            params: dict[str, Any] = {"corruption": name, "severity": severity, "preset": self.preset}
            params.update(drawn)
            outputs.append(ScenarioOutput(image=Image.fromarray(arr), params=params))
        return outputs
