"""The corruption kernels both presets are built from: seeded albumentations wrappers and the
hand-written OpenCV/numpy kernels (each docstring says why it is hand-written), plus the size
scaling that gives a small image the same relative damage as the reference size."""

from __future__ import annotations

import functools
import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

import cv2
import numpy as np

from hvgen.lazy_module import lazy_import
from hvgen.scenarios.corruption.fft_filter import correlator

# albumentations (which imports torch: seconds) is loaded when a kernel is first built: checking
# a run's corruption names and presets, as a dry run does, needs none of it.
A = lazy_import("albumentations")

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
class Entry:
    info: CorruptionInfo
    build: Builder


# --------------------------------------------------------------------------- helpers


def albu(transform: A.ImageOnlyTransform | A.DualTransform) -> Kernel:
    """Wrap an albumentations transform (built with p=1) as a seeded kernel.

    The transform's own generators are replaced before every call, so the output depends only
    on the seed and not on what the transform (or any other code) drew before.
    """

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        transform.set_random_state(rng, random.Random(int(rng.integers(1 << 62))))
        return transform(image=arr)["image"], {}

    return kernel


def odd(x: float, minimum: int = 3) -> int:
    """Nearest odd integer ≥ `minimum` (kernel sizes)."""
    k = max(minimum, int(round(x)))
    return k if k % 2 == 1 else k + 1


def to_uint8(x: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """float image in [0, 1] (times `scale`) → rounded, clipped uint8, without a float64 pass."""
    if scale != 1.0:
        x = np.multiply(x, np.float32(scale), dtype=np.float32)
    return np.clip(x, 0, 255, out=x).round(out=x).astype(np.uint8)


def nonnegative_to_uint8(x: np.ndarray, scale: float = 255.0) -> np.ndarray:
    """`to_uint8` for values known to be ≥ 0, in one OpenCV pass instead of four (scale in
    float32, round half to even, saturate: the same bytes; OpenCV takes |x|, hence ≥ 0 only)."""
    return cv2.convertScaleAbs(x, alpha=scale)


def unit_float(arr: np.ndarray) -> np.ndarray:
    """uint8 → float32 in [0, 1] in one pass (the same values as ``arr.astype(f32) * f32(1/255)``)."""
    return np.multiply(arr, np.float32(1 / 255), dtype=np.float32)


def channels3(plane: np.ndarray) -> np.ndarray:
    """An HxW plane as HxWx3 (three copies). NumPy broadcasting an HxWx1 operand against
    HxWx3 runs an inner loop of length 3 (5–10× slower than a plain elementwise op at 1024²);
    spreading the plane first keeps every op contiguous, with the same values."""
    return cv2.merge((plane, plane, plane))


def ic_scale(h: int, w: int) -> float:
    return min(h, w) / IMAGENET_C_REFERENCE_SIZE


def dysca_scale(h: int, w: int) -> float:
    return min(h, w) / DYSCA_REFERENCE_SIZE


def scaled_sigma(sigma: float, scale: float) -> float:
    """A blur σ scaled to the image, floored at half its reference value (and 0.5 px): scaled
    down to a small image, a 3.2 px blur would become 0.2 px and leave the image unchanged —
    a sample labelled "corrupted" that is not. The floor keeps severities ordered."""
    return max(sigma * scale, 0.5 * sigma, 0.5)


def reference_shape(h: int, w: int) -> tuple[int, int]:
    """The image's shape rescaled so its short side is the 224-px ImageNet-C reference."""
    s = ic_scale(h, w)
    return max(1, round(h / s)), max(1, round(w / s))


def resize_layer(layer: np.ndarray, h: int, w: int) -> np.ndarray:
    if layer.shape[:2] == (h, w):
        return layer
    shrink = layer.shape[0] > h
    return cv2.resize(layer, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def gaussian(x: np.ndarray, sigma: float) -> np.ndarray:
    """skimage.filters.gaussian (truncate 4σ, 'nearest' borders) with OpenCV, in float32."""
    ksize = 2 * int(4 * sigma + 0.5) + 1
    return cv2.GaussianBlur(x, (ksize, ksize), sigma, borderType=cv2.BORDER_REPLICATE)


# --------------------------------------------------------------------------- hand-written kernels


GUIDE_BUCKETS = 2048


def poisson_cdf(photons: float) -> tuple[np.ndarray, int]:
    """CDF rows of Poisson(v·photons/255) for v = 0..255 over k < kmax (256 × kmax, float64; the
    tail past kmax, under 1e-30, folded into the last column), shared by the exact sampler here
    and the quantile tables of `noise`."""
    rates = np.arange(256, dtype=np.float64) * (photons / 255.0)
    kmax = int(photons + 12 * math.sqrt(photons) + 25)
    pmf = np.empty((256, kmax), np.float64)
    pmf[:, 0] = np.exp(-rates)
    for k in range(1, kmax):
        pmf[:, k] = pmf[:, k - 1] * rates / k
    cdf = np.cumsum(pmf, axis=1)
    cdf[:, -1] = 1.0
    return cdf, kmax


@functools.lru_cache(maxsize=16)
def poisson_tables(photons: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Inverse-CDF tables for Poisson(v·photons/255), v = 0..255.

    uint8 input has only 256 distinct rates, so exact sampling reduces to table look-ups:
    `guide[v, j]` is the smallest k with CDF ≥ j/B, and `settled[v, j]` says the whole bucket
    maps to that k; only the few draws in unsettled buckets walk the CDF. ~5× faster than
    `Generator.poisson` per element, and exact (float64 uniforms, tail mass < 1e-30 dropped).
    """
    cdf, kmax = poisson_cdf(photons)
    edges = np.arange(GUIDE_BUCKETS + 1, dtype=np.float64) / GUIDE_BUCKETS
    bounds = np.stack([np.searchsorted(row, edges, side="left") for row in cdf]).clip(max=kmax - 1)
    guide = bounds[:, :-1].astype(np.uint16)
    settled = bounds[:, :-1] == bounds[:, 1:]
    return cdf.ravel(), guide.ravel(), settled.ravel(), kmax


def shot_noise(photons: float) -> Kernel:
    """Poisson noise with `photons` counts at full intensity, applied to the gamma-encoded
    values as ImageNet-C and skimage (Dysca) do. albumentations' ShotNoise linearises with
    gamma 2.2 first, which changes the noise level per severity, hence hand-written."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        cdf, guide, settled, kmax = poisson_tables(float(photons))
        flat = arr.reshape(-1)
        u = rng.random(flat.size)
        cell = flat.astype(np.int32) * GUIDE_BUCKETS
        cell += (u * GUIDE_BUCKETS).astype(np.int32)
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


def speckle_noise(std: float) -> Kernel:
    """Multiplicative Gaussian noise x·(1 + N(0, std)) (ImageNet-C / skimage "speckle");
    albumentations' MultiplicativeNoise draws uniform multipliers instead."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        noise = rng.standard_normal(arr.shape, dtype=np.float32)
        noise *= np.float32(std)
        noise += np.float32(1.0)
        noise *= arr
        return to_uint8(noise, 1.0), {}

    return kernel


def impulse_noise(amount: float) -> Kernel:
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


def ic_motion_kernel(radius: float, sigma: float, angle: float) -> np.ndarray:
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


def zoomed_noise(
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


def ic_snow(params: tuple[float, float, float, float, float, float, float]) -> Kernel:
    """ImageNet-C snow: zoomed, thresholded Gaussian flakes streaked by a motion kernel, plus a
    whitening of the scene. albumentations' RandomSnow bleaches bright regions instead.

    The flake layer is made at the 224-px reference resolution with Hendrycks' parameters and
    then resized to the image: its look depends on interpolation statistics (zoom, threshold)
    that do not survive rescaling the parameters themselves, and it is ~20× cheaper at 1024²."""
    loc, scale, zoom, threshold, radius, sigma, blend = params

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        h, w = arr.shape[:2]
        rh, rw = reference_shape(h, w)
        flakes = zoomed_noise(rng, rh, rw, zoom, loc, scale)
        flakes[flakes < threshold] = 0
        np.clip(flakes, 0, 1, out=flakes)
        angle = float(rng.uniform(-135, -45))
        flakes = cv2.filter2D(
            flakes, -1, ic_motion_kernel(radius, sigma, angle), borderType=cv2.BORDER_REPLICATE
        )
        flakes = resize_layer(np.round(flakes * 255) * np.float32(1 / 255), h, w)
        x = unit_float(arr)
        gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY) * np.float32(1.5) + np.float32(0.5)
        whitened = np.maximum(x, channels3(gray))
        whitened *= np.float32(1 - blend)
        x *= np.float32(blend)
        x += whitened
        x += channels3(flakes + flakes[::-1, ::-1])
        return nonnegative_to_uint8(x), {"angle": round(angle, 3)}

    return kernel


def ic_fog(strength: float, decay: float) -> Kernel:
    """ImageNet-C fog: add a plasma fractal and renormalise. The fractal comes from
    albumentations (`generate_plasma_pattern`, roughness = 1/decay); its RandomFog draws
    discrete fog blobs instead, so the blend is hand-written."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        x = unit_float(arr)
        max_val = float(x.max())
        plasma = A.augmentations.pixel.functional.generate_plasma_pattern(arr.shape[:2], 1.0 / decay, rng)
        x += channels3(np.float32(strength) * plasma)
        x *= np.float32(max_val / (max_val + strength))
        return nonnegative_to_uint8(x), {}

    return kernel


def saturate(factor: float, offset: float) -> Kernel:
    """ImageNet-C saturate: S ← S·factor + offset in HSV. albumentations only shifts S
    additively (HueSaturationValue) or blends with grey (ColorJitter)."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        hsv = cv2.cvtColor(unit_float(arr), cv2.COLOR_RGB2HSV)
        sat = hsv[..., 1]
        sat *= np.float32(factor)
        sat += np.float32(offset)
        np.clip(sat, 0, 1, out=sat)
        return nonnegative_to_uint8(cv2.cvtColor(hsv, cv2.COLOR_HSV2RGB)), {}

    return kernel


_DIRECTIONS = ((0, 1), (1, 1), (1, -1), (1, 0))


def _chains(points: set[tuple[int, int]], dy: int, dx: int) -> list[tuple[int, int, int]]:
    """(y, x, length) of the maximal runs p, p + d, p + 2d, … that partition `points`."""
    chains = []
    for y, x in sorted(points):
        if (y - dy, x - dx) in points:
            continue  # inside a run that starts earlier
        length = 1
        while (y + length * dy, x + length * dx) in points:
            length += 1
        chains.append((y, x, length))
    return chains


class _Sums(NamedTuple):
    """Run sums S over a region of the padded image: ``S[i, j] = array[i - top, j - left]``."""

    array: np.ndarray
    top: int
    left: int


_workspace = threading.local()


def _scratch(slot: int, shape: tuple[int, ...], dtype: type) -> np.ndarray:
    """A reusable array of this thread (one per slot, grown as needed). A fresh multi-MB array
    costs its page faults on every call (~2 ms at 1024², as much as several adds), so the
    run sums of `line_blur` live in buffers that stay mapped between images."""
    buffers: dict[int, np.ndarray] = _workspace.__dict__.setdefault("buffers", {})
    size = math.prod(shape) * np.dtype(dtype).itemsize
    buffer = buffers.get(slot)
    if buffer is None or buffer.size < size:
        buffer = buffers[slot] = np.empty(size, np.uint8)
    return buffer[:size].view(dtype).reshape(shape)


def _shifted_sum(a: _Sums, b: _Sums, oy: int, ox: int, slot: int) -> _Sums:
    """c[i, j] = a[i, j] + b[i + oy, j + ox] over the region where both exist."""
    top, left = max(a.top, b.top - oy), max(a.left, b.left - ox)
    bottom = min(a.top + a.array.shape[0], b.top - oy + b.array.shape[0])
    right = min(a.left + a.array.shape[1], b.left - ox + b.array.shape[1])
    first = a.array[top - a.top : bottom - a.top, left - a.left : right - a.left]
    second = b.array[top + oy - b.top : bottom + oy - b.top, left + ox - b.left : right + ox - b.left]
    out = _scratch(slot, first.shape, first.dtype.type)
    return _Sums(np.add(first, second, out=out), top, left)


def _passes(chains: list[tuple[int, int, int]]) -> int:
    """Array passes `line_blur` needs for these runs: doublings, sums of powers, one add per run."""
    lengths = {length for _, _, length in chains}
    return max(lengths).bit_length() - 1 + sum(ell.bit_count() - 1 for ell in lengths) + len(chains)


def line_blur(arr: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Correlate with an equal-weight sparse kernel (a motion line), exactly in integers.

    Same result as `cv2.filter2D(arr, -1, kernel / n)` with reflect-101 borders (±1 from
    rounding), at a fraction of a dense k×k pass: the kernel's points are split into runs
    along one lattice direction (horizontal, vertical or diagonal: whichever needs the fewest
    array passes, or none when single points are cheaper),
    run sums of every needed length come from doubling (S₂ₜ = Sₜ + Sₜ shifted by t steps), and
    each run then costs one add. A 67-point line at 20° is ~25 integer adds instead of 67."""
    ys, xs = np.nonzero(kernel)
    n = len(ys)
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    h, w = arr.shape[:2]
    padded = cv2.copyMakeBorder(arr, ry, ry, rx, rx, cv2.BORDER_REFLECT_101)
    padded = padded.astype(np.uint16 if n * 255 < (1 << 16) else np.int32)  # exact sums
    points = set(zip(ys.tolist(), xs.tolist(), strict=True))
    singletons = [(y, x, 1) for y, x in sorted(points)]  # the plain sum of shifted images
    options = [((0, 1), singletons)] + [(d, _chains(points, *d)) for d in _DIRECTIONS]
    (dy, dx), chains = min(options, key=lambda option: _passes(option[1]))
    powers, slots = {1: _Sums(padded, 0, 0)}, iter(range(1, 1 << 20))
    while 2 * max(powers) <= max(length for _, _, length in chains):
        t = max(powers)
        powers[2 * t] = _shifted_sum(powers[t], powers[t], t * dy, t * dx, next(slots))
    sums: dict[int, _Sums] = {}
    for length in sorted({length for _, _, length in chains}):
        total, done = None, 0
        for t in sorted(powers, reverse=True):
            if length - done >= t:
                total = (
                    powers[t]
                    if total is None
                    else _shifted_sum(total, powers[t], done * dy, done * dx, next(slots))
                )
                done += t
        sums[length] = total
    acc = _scratch(0, arr.shape, padded.dtype.type)
    for index, (y, x, length) in enumerate(chains):
        s = sums[length]
        view = s.array[y - s.top : y - s.top + h, x - s.left : x - s.left + w]
        if index == 0:
            np.copyto(acc, view)
        else:
            np.add(acc, view, out=acc)
    return cv2.convertScaleAbs(acc, alpha=1.0 / n)  # values ≥ 0: rounds and saturates


def motion_blur(size: int, angle_range: tuple[float, float], direction: float) -> Kernel:
    """albumentations' motion kernel (`create_motion_kernel`: a line of `size` points,
    `direction` 0 = centred, 1 = forward only), applied with `line_blur`."""

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        angle = float(rng.uniform(*angle_range)) if angle_range[0] != angle_range[1] else angle_range[0]
        line = A.augmentations.blur.functional.create_motion_kernel(
            size, angle, direction, False, random.Random(0)
        )
        return line_blur(arr, line), ({"angle": round(angle, 3)} if angle_range[0] != angle_range[1] else {})

    return kernel


FFT_MIN_KERNEL = 25
"""Kernel side from which `defocus` filters through `fft_filter` (at ≤ 224² every ImageNet-C
defocus kernel is smaller, so those outputs are filter2D's, byte for byte)."""


def defocus(radius: int, alias_blur: float, h: int, w: int) -> Kernel:
    """ImageNet-C / albumentations defocus: an anti-aliased disk. Same kernel as
    `A.Defocus`, but cropped to its non-zero support (both libraries pad it to ≥ 17×17) and
    filtered in float32, which OpenCV runs 2–4× faster than uint8 at these sizes; kernels of
    `FFT_MIN_KERNEL` px and more by one FFT per channel (`fft_filter`, ~2× faster at 1024²)."""
    side = np.arange(-max(8, radius), max(8, radius) + 1)
    x, y = np.meshgrid(side, side)
    disk = ((x**2 + y**2) <= radius**2).astype(np.float32)
    disk /= disk.sum()
    ksize = 3 if radius <= 8 else 5
    kern = cv2.GaussianBlur(disk, (ksize, ksize), sigmaX=alias_blur)
    rows = np.flatnonzero(kern.any(axis=1))
    lo, hi = min(rows[0], len(side) - 1 - rows[-1]), max(rows[-1], len(side) - 1 - rows[0])
    kern = np.ascontiguousarray(kern[lo : hi + 1, lo : hi + 1])
    if kern.shape[0] >= FFT_MIN_KERNEL:
        correlate = correlator(kern, h, w)

        def by_fft(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
            return correlate(arr), {}

        return by_fft

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        out = cv2.filter2D(arr.astype(np.float32), -1, kern, borderType=cv2.BORDER_REFLECT_101)
        return nonnegative_to_uint8(out, 1.0), {}

    return kernel


def jpeg(quality: int) -> Kernel:
    """JPEG re-encoding through OpenCV's libjpeg-turbo, called directly: the same two calls
    (and bytes) as albumentations' ImageCompression, without its per-call dispatch (~10 % of
    the time at 1024²). Like albumentations, the RGB array is handed to the BGR encoder as it
    is; the decoder hands it back in the same order."""
    params = (int(cv2.IMWRITE_JPEG_QUALITY), int(quality))

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        ok, encoded = cv2.imencode(".jpg", arr, params)
        if not ok:
            raise RuntimeError(f"OpenCV could not JPEG-encode a {arr.shape} image at quality {quality}.")
        return cv2.imdecode(encoded, cv2.IMREAD_UNCHANGED), {}

    return kernel


def pixelate(factor: float) -> Kernel:
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
