"""The ``imagenet-c`` preset: the ImageNet-C families (Hendrycks & Dietterich 2019) at severities
1–5, with the parameter tables of the ``imagecorruptions`` package (calibrated at 224²)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from hvgen.scenarios.corruption.kernels import (
    A,
    CorruptionInfo,
    Entry,
    Kernel,
    albu,
    channels3,
    defocus,
    gaussian,
    ic_fog,
    ic_scale,
    ic_snow,
    jpeg,
    motion_blur,
    nonnegative_to_uint8,
    pixelate,
    reference_shape,
    resize_layer,
    saturate,
    scaled_sigma,
    unit_float,
)
from hvgen.scenarios.corruption.noise import (
    gap_impulse_noise,
    table_gaussian_noise,
    table_shot_noise,
    table_speckle_noise,
)

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
    s = ic_scale(h, w)
    delta = max(1, min(int(round(delta * s)), (min(h, w) - 1) // 2 - 1))
    return albu(A.GlassBlur(sigma=sigma * s, max_delta=delta, iterations=iterations, mode="fast", p=1.0))


def _ic_motion(sev: int, h: int, w: int) -> Kernel:
    # Hendrycks' kernel is one-sided with half-Gaussian weights (σ), angle uniform in ±45°.
    # A one-sided uniform line of L points with the same mean squared displacement
    # (σ² = L²/3) has L ≈ 1.73 σ; albumentations' forward-only (direction 1) kernel of size
    # 2L − 1 holds L points.
    _, sigma = _IC_MOTION[sev - 1]
    points = max(2, round(1.73 * sigma * ic_scale(h, w)))
    return motion_blur(2 * points - 1, (-45.0, 45.0), 1.0)


def _ic_elastic(sev: int, h: int, w: int) -> Kernel:
    """ImageNet-C elastic transform, as albumentations' ElasticTransform (uniform noise, the same
    draws, Gaussian blur and remap: the same bytes) without its float64 coordinate grids and
    stacked copies (~25 % of its time at 1024²).

    Hendrycks: displacement = gaussian(U(−0.005·H, 0.005·H), σ = 0.01·H) · alpha;
    albumentations: gaussian(U(−1, 1), σ) · alpha  →  alpha_A = alpha · 0.005 · H. That field
    moves pixels by the same number of pixels at any H, so alpha is also scaled by H/224 to
    keep the distortion relative, like every other pixel-sized parameter here."""
    side = min(h, w)
    alpha = np.float32(_IC_ELASTIC[sev - 1] * 0.005 * side * ic_scale(h, w))
    sigma = max(1.0, 0.01 * side)  # albumentations requires σ ≥ 1
    columns = np.arange(w, dtype=np.float32)[None, :]
    rows = np.arange(h, dtype=np.float32)[:, None]

    def kernel(arr: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
        rng.integers(1 << 62)  # the draw `albu` spends on albumentations' Python RNG
        fields = rng.uniform(-1, 1, size=(2, h, w)).astype(np.float32)
        flat = fields.reshape(-1, w)  # both fields blurred as one image, as albumentations does
        cv2.GaussianBlur(flat, (0, 0), sigma, dst=flat, borderType=cv2.BORDER_REPLICATE)
        fields *= alpha
        grid = np.empty((h, w, 2), np.float32)
        np.add(fields[0], columns, out=grid[..., 0])
        np.add(fields[1], rows, out=grid[..., 1])
        out = cv2.remap(arr, grid, None, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
        return out, {}

    return kernel


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
        rh, rw = reference_shape(h, w)
        liquid = rng.standard_normal((rh, rw), dtype=np.float32)
        liquid *= np.float32(std)
        liquid += np.float32(mean)
        liquid = gaussian(liquid, sigma)
        liquid[liquid < threshold] = 0
        x = unit_float(arr)
        if mode == "rain":
            liquid_u8 = (liquid * 255).astype(np.uint8)
            dist = cv2.distanceTransform(255 - cv2.Canny(liquid_u8, 50, 150), cv2.DIST_L2, 5)
            _, dist = cv2.threshold(dist, 20, 20, cv2.THRESH_TRUNC)
            dist = cv2.equalizeHist(cv2.blur(dist, (3, 3)).astype(np.uint8))
            dist = cv2.blur(cv2.filter2D(dist, cv2.CV_8U, _EMBOSS), (3, 3)).astype(np.float32)
            m = liquid_u8 * dist
            peak = float(m.max())
            m *= np.float32(strength / peak) if peak > 0 else np.float32(0)
            m = resize_layer(m, h, w)
            x += channels3(m) * (np.array([175, 238, 238], np.float32) / 255)
        else:
            m = gaussian((liquid > threshold).astype(np.float32), strength)
            m[m < 0.8] = 0
            m = channels3(resize_layer(m, h, w))
            x *= 1 - m
            x += m * (np.array([63, 42, 20], np.float32) / 255)
        return nonnegative_to_uint8(x), {}  # drops and mud only add: x ≥ 0

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


IMAGENET_C: dict[str, Entry] = {
    "gaussian_noise": Entry(
        CorruptionInfo("noise", "additive Gaussian noise (hand-written, quantile-table sampling)"),
        lambda sev, h, w: table_gaussian_noise(_IC_GAUSSIAN[sev - 1]),
    ),
    "shot_noise": Entry(
        CorruptionInfo("noise", "Poisson (photon) noise, inverse-CDF table sampling (hand-written, numpy)"),
        lambda sev, h, w: table_shot_noise(_IC_SHOT[sev - 1]),
    ),
    "impulse_noise": Entry(
        CorruptionInfo("noise", "salt-and-pepper per channel value (hand-written, float32 geometric gaps)"),
        lambda sev, h, w: gap_impulse_noise(_IC_IMPULSE[sev - 1]),
    ),
    "speckle_noise": Entry(
        CorruptionInfo("noise", "multiplicative Gaussian noise (hand-written, quantile-table sampling)"),
        lambda sev, h, w: table_speckle_noise(_IC_SPECKLE[sev - 1]),
    ),
    "defocus_blur": Entry(
        CorruptionInfo("blur", "anti-aliased disk kernel (albumentations Defocus kernel, cropped)"),
        lambda sev, h, w: defocus(
            max(1, round(_IC_DEFOCUS[sev - 1][0] * ic_scale(h, w))), _IC_DEFOCUS[sev - 1][1], h, w
        ),
    ),
    "glass_blur": Entry(
        CorruptionInfo("blur", "blur + local pixel shuffling (albumentations GlassBlur)"), _ic_glass
    ),
    "motion_blur": Entry(
        CorruptionInfo("blur", "linear motion blur, angle ±45° (albumentations motion kernel)"), _ic_motion
    ),
    "zoom_blur": Entry(
        CorruptionInfo("blur", "average of centre zooms (albumentations ZoomBlur)"),
        lambda sev, h, w: albu(
            A.ZoomBlur(max_factor=(_IC_ZOOM[sev - 1][0],) * 2, step_factor=(_IC_ZOOM[sev - 1][1],) * 2, p=1.0)
        ),
    ),
    "gaussian_blur": Entry(
        CorruptionInfo("blur", "Gaussian blur (albumentations GaussianBlur)"),
        lambda sev, h, w: albu(
            A.GaussianBlur(
                blur_limit=0,
                sigma_limit=(scaled_sigma(_IC_GAUSSIAN_BLUR[sev - 1], ic_scale(h, w)),) * 2,
                p=1.0,
            )
        ),
    ),
    "snow": Entry(
        CorruptionInfo("weather", "streaked snow flakes + whitening (hand-written, OpenCV)"),
        lambda sev, h, w: ic_snow(_IC_SNOW[sev - 1]),
    ),
    "fog": Entry(
        CorruptionInfo("weather", "plasma-fractal haze (albumentations plasma, hand-written blend)"),
        lambda sev, h, w: ic_fog(*_IC_FOG[sev - 1]),
    ),
    "brightness": Entry(
        CorruptionInfo("weather", "HSV value shift (albumentations HueSaturationValue)"),
        lambda sev, h, w: albu(
            A.HueSaturationValue(
                hue_shift_limit=(0, 0),
                sat_shift_limit=(0, 0),
                val_shift_limit=(_IC_BRIGHTNESS[sev - 1] * 255,) * 2,
                p=1.0,
            )
        ),
    ),
    "spatter": Entry(
        CorruptionInfo("weather", "water drops (1–3) / mud (4–5) (ImageNet-C port, OpenCV)"), _ic_spatter
    ),
    "contrast": Entry(
        CorruptionInfo("digital", "contrast reduction towards per-channel means (hand-written, LUT)"),
        lambda sev, h, w: _ic_contrast(_IC_CONTRAST[sev - 1]),
    ),
    "elastic_transform": Entry(
        CorruptionInfo("digital", "smooth random displacement field (as albumentations ElasticTransform)"),
        _ic_elastic,
    ),
    "pixelate": Entry(
        CorruptionInfo("digital", "area downscale + nearest upscale (hand-written, OpenCV)"),
        lambda sev, h, w: pixelate(_IC_PIXELATE[sev - 1]),
    ),
    "jpeg_compression": Entry(
        CorruptionInfo(
            "digital", "JPEG re-encoding (OpenCV libjpeg-turbo, as albumentations ImageCompression)"
        ),
        lambda sev, h, w: jpeg(_IC_JPEG[sev - 1]),
    ),
    "saturate": Entry(
        CorruptionInfo("digital", "HSV saturation scale + offset (hand-written, OpenCV)"),
        lambda sev, h, w: saturate(*_IC_SATURATE[sev - 1]),
    ),
}
