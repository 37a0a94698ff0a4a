"""The corruption kernels rewritten for speed: exact where the algorithm is unchanged (motion
lines, JPEG), within stated tolerances of imagecorruptions where sampling changed (noise)."""

from __future__ import annotations

import math
import random
import warnings

import cv2
import numpy as np
import pytest
from test_corruption import natural_image

from hvgen.scenarios.base import ScenarioInput
from hvgen.scenarios.corruption import CorruptionScenario, corrupt_array
from hvgen.scenarios.corruption.kernels import A, line_blur
from hvgen.scenarios.corruption.noise import table_shot_noise


def reference_line_blur(arr: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """The plain definition: the mean of the image shifted to every point of the kernel."""
    ys, xs = np.nonzero(kernel)
    ry, rx = kernel.shape[0] // 2, kernel.shape[1] // 2
    h, w = arr.shape[:2]
    padded = cv2.copyMakeBorder(arr, ry, ry, rx, rx, cv2.BORDER_REFLECT_101).astype(np.float32)
    acc = sum(padded[y : y + h, x : x + w] for y, x in zip(ys, xs, strict=True))
    return cv2.convertScaleAbs(acc, alpha=1.0 / len(ys))


@pytest.mark.parametrize("angle", [0.0, 12.0, -33.0, 44.9, 90.0, 135.0])
@pytest.mark.parametrize("size", [3, 21, 47])
def test_line_blur_is_exact(angle: float, size: int) -> None:
    arr = np.asarray(natural_image(61, width=83))
    line = A.augmentations.blur.functional.create_motion_kernel(size, angle, 1.0, False, random.Random(0))
    assert np.array_equal(line_blur(arr, line), reference_line_blur(arr, line))


def test_line_blur_any_point_set_and_wide_sums() -> None:
    rng = np.random.default_rng(3)
    arr = rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)
    for _ in range(5):
        kernel = (rng.random((15, 15)) < 0.3).astype(np.float32)
        kernel[7, 7] = 1
        assert np.array_equal(line_blur(arr, kernel), reference_line_blur(arr, kernel))
    full = np.ones((17, 17), np.float32)  # 289 points: sums leave uint16
    assert np.array_equal(line_blur(arr, full), reference_line_blur(arr, full))
    white = np.full((30, 30, 3), 255, np.uint8)
    assert np.array_equal(line_blur(white, full), white)


@pytest.mark.parametrize("severity", [1, 3, 5])
def test_jpeg_is_albumentations_image_compression(severity: int) -> None:
    arr = np.asarray(natural_image(96, width=80))
    quality = (25, 18, 15, 10, 7)[severity - 1]
    expected = A.ImageCompression(quality_range=(quality, quality), p=1.0)(image=arr)["image"]
    assert np.array_equal(corrupt_array(arr, "jpeg_compression", severity, seed=1), expected)


def test_shot_noise_table_is_the_poisson_law() -> None:
    """Flat images: the output histogram is the Poisson pmf at 16-bit resolution."""
    for photons, value in ((60, 77), (3, 200), (25, 1)):
        flat = np.full((300, 300, 3), value, np.uint8)
        out = table_shot_noise(photons)(flat, np.random.default_rng(5))[0].ravel()
        rate = value / 255 * photons
        expected: dict[int, float] = {}
        for k in range(int(rate + 12 * math.sqrt(rate) + 25)):
            level = min(255, round(k * 255 / photons))  # saturated counts share level 255
            expected[level] = expected.get(level, 0.0) + math.exp(-rate) * rate**k / math.factorial(k)
        for level, p in expected.items():
            observed = float(np.mean(out == level))
            assert abs(observed - p) < 4 * math.sqrt(p / out.size) + 2e-4, (photons, value, level)


@pytest.mark.parametrize("name", ["gaussian_noise", "speckle_noise", "shot_noise"])
def test_noise_matches_imagecorruptions(name: str) -> None:
    """Tolerance stated in the README: per severity, the noise (output − input) has the same
    standard deviation within 2 % and the same mean within 0.6 levels (imagecorruptions
    truncates to uint8, hvgen rounds: a 0.5-level offset)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ic = pytest.importorskip("imagecorruptions")
    arr = np.asarray(natural_image(224))
    for severity in range(1, 6):
        ours = corrupt_array(arr, name, severity, seed=severity).astype(np.float64) - arr
        np.random.seed(severity)
        theirs = ic.corrupt(arr, corruption_name=name, severity=severity).astype(np.float64) - arr
        assert abs(ours.mean() - theirs.mean()) < 0.6, (severity, ours.mean(), theirs.mean())
        assert ours.std() == pytest.approx(theirs.std(), rel=0.02), severity


def test_noise_is_deterministic_per_seed() -> None:
    arr = np.asarray(natural_image(64))
    for name in ("gaussian_noise", "speckle_noise", "shot_noise"):
        first = corrupt_array(arr, name, 3, seed=11)
        assert np.array_equal(first, corrupt_array(arr, name, 3, seed=11))
        assert not np.array_equal(first, corrupt_array(arr, name, 3, seed=12))


def test_scenario_array_inputs_give_the_pil_path_pixels() -> None:
    image = natural_image(72, width=90)
    scenario = CorruptionScenario("imagenet-c")
    pil = scenario.apply_batch([ScenarioInput(image=image, seed=s) for s in range(12)])
    arrays = scenario.apply_batch([ScenarioInput(image=np.array(image), seed=s) for s in range(12)])
    for a, b in zip(pil, arrays, strict=True):
        assert isinstance(b.image, np.ndarray) and a.params == b.params
        assert np.array_equal(np.asarray(a.image), b.image)


def test_fft_size_is_the_smallest_2a3b() -> None:
    from hvgen.scenarios.corruption.fft_filter import fft_size

    smooth = [n for n in range(1, 10000) if _only_2_3(n)]
    for n in (1, 2, 5, 100, 1116, 1153, 4097):
        assert fft_size(n) == min(m for m in smooth if m >= n)


def _only_2_3(n: int) -> bool:
    for p in (2, 3):
        while n % p == 0:
            n //= p
    return n == 1


@pytest.mark.parametrize("shape", [(300, 260), (97, 131)])
def test_large_defocus_by_fft_is_filter2d_within_one_level(shape: tuple[int, int]) -> None:
    from hvgen.scenarios.corruption.fft_filter import correlator

    arr = np.asarray(natural_image(shape[0], width=shape[1]))
    side = np.arange(-15, 16)
    x, y = np.meshgrid(side, side)
    kern = cv2.GaussianBlur(((x**2 + y**2) <= 14**2).astype(np.float32), (5, 5), 0.5)
    kern /= kern.sum()
    ours = correlator(kern, *shape)(arr)
    ref = cv2.filter2D(arr.astype(np.float32), -1, kern, borderType=cv2.BORDER_REFLECT_101)
    diff = np.abs(ours.astype(np.int16) - np.clip(np.rint(ref), 0, 255).astype(np.int16))
    assert diff.max() <= 1 and diff.mean() < 1e-3
    big = corrupt_array(np.asarray(natural_image(448)), "defocus_blur", 5, seed=0)  # radius 20: FFT path
    assert big.shape == (448, 448, 3) and big.dtype == np.uint8


@pytest.mark.parametrize("severity", [1, 5])
def test_elastic_is_albumentations_elastic_transform(severity: int) -> None:
    from hvgen.scenarios.corruption.imagenet_c import _IC_ELASTIC
    from hvgen.scenarios.corruption.kernels import albu, ic_scale

    arr = np.asarray(natural_image(90, width=120))
    side = 90
    transform = A.ElasticTransform(
        alpha=_IC_ELASTIC[severity - 1] * 0.005 * side * ic_scale(90, 120),
        sigma=max(1.0, 0.01 * side),
        noise_distribution="uniform",
        border_mode=cv2.BORDER_REFLECT_101,
        p=1.0,
    )
    expected, _ = albu(transform)(arr, np.random.default_rng(42))
    assert np.array_equal(corrupt_array(arr, "elastic_transform", severity, seed=42), expected)


def test_impulse_noise_is_the_bernoulli_law() -> None:
    """imagenet-c impulse noise (float32 geometric gaps): each value independently becomes 0 or
    255 with the severity's probability, half each; imagecorruptions' rate agrees within 3 %."""
    arr = np.full((400, 400, 3), 128, np.uint8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            import imagecorruptions as ic
        except ImportError:
            ic = None
    for severity, amount in enumerate((0.03, 0.06, 0.09, 0.17, 0.27), start=1):
        out = corrupt_array(arr, "impulse_noise", severity, seed=severity)
        hit = out != 128
        assert set(np.unique(out[hit]).tolist()) <= {0, 255}
        assert hit.mean() == pytest.approx(amount, rel=0.03)
        assert (out == 255).sum() / hit.sum() == pytest.approx(0.5, abs=0.01)
        rows = hit.any(axis=(1, 2)).mean()  # hits spread over the whole image, not a prefix
        assert rows > 0.99
        if ic is not None:
            np.random.seed(severity)
            theirs = ic.corrupt(arr, corruption_name="impulse_noise", severity=severity)
            assert hit.mean() == pytest.approx(np.isin(theirs, (0, 255)).mean(), rel=0.03)
    assert np.array_equal(
        corrupt_array(arr, "impulse_noise", 3, seed=9), corrupt_array(arr, "impulse_noise", 3, seed=9)
    )
