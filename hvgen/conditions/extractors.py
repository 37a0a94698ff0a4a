"""Model-free condition extractors: an image in, a condition image out (CtrLoRA's cheap ones).

Each extractor is `f(image, rng, **params) -> image` on RGB PIL images; any random choice
(a blur kernel, a JPEG quality, mask rectangles) comes from `rng`, which the caller seeds from
(run seed, item id), so an extractor's output is a function of its input and the seed. Pixel
sizes are given for a 512-pixel image (CtrLoRA's working size) and scale with the image.
Canny uses OpenCV when it is installed (hvgen does not depend on it), else the same algorithm
in NumPy/SciPy; `canny_backend()` says which, and the run records it.
"""

from __future__ import annotations

import io
import random
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image, ImageFilter

Extractor = Callable[..., Image.Image]


def canny_backend() -> str:
    """'opencv' when cv2 imports, else 'numpy' (the two differ in a few edge pixels)."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return "numpy"
    return "opencv"


def canny(image: Image.Image, rng: random.Random, low: float = 100, high: float = 200) -> Image.Image:
    """White edges on black: Sobel gradients, non-maximum suppression, hysteresis between `low`
    and `high` (CtrLoRA: cv2.Canny 100/200)."""
    gray = np.asarray(image.convert("L"))
    if canny_backend() == "opencv":
        import cv2

        edges = cv2.Canny(gray, low, high)
    else:
        edges = _canny_numpy(gray, low, high)
    return Image.fromarray(edges).convert("RGB")


def _canny_numpy(gray: np.ndarray, low: float, high: float) -> np.ndarray:
    from scipy import ndimage

    data = gray.astype(np.float64)
    gx = ndimage.sobel(data, axis=1, mode="nearest")
    gy = ndimage.sobel(data, axis=0, mode="nearest")
    magnitude = np.abs(gx) + np.abs(gy)  # OpenCV's default (L1) gradient
    angle = (np.rad2deg(np.arctan2(gy, gx)) + 180.0) % 180.0
    direction = np.digitize(angle, [22.5, 67.5, 112.5, 157.5]) % 4  # 0: -, 1: /, 2: |, 3: \
    padded = np.pad(magnitude, 1)
    height, width = magnitude.shape
    offsets = {0: (0, 1), 1: (-1, 1), 2: (1, 0), 3: (1, 1)}
    keep = np.zeros_like(magnitude, dtype=bool)
    for code, (dy, dx) in offsets.items():
        ahead = padded[1 + dy : 1 + dy + height, 1 + dx : 1 + dx + width]
        behind = padded[1 - dy : 1 - dy + height, 1 - dx : 1 - dx + width]
        keep |= (direction == code) & (magnitude >= ahead) & (magnitude > behind)
    thin = np.where(keep, magnitude, 0.0)
    strong, weak = thin >= high, thin >= low
    labels, _count = ndimage.label(weak, structure=np.ones((3, 3)))
    connected = np.unique(labels[strong])
    edges = np.isin(labels, connected[connected > 0])
    return (edges * 255).astype(np.uint8)


def grayscale(image: Image.Image, rng: random.Random) -> Image.Image:
    return image.convert("L").convert("RGB")


def _scaled(image: Image.Image, pixels: float) -> float:
    return pixels * min(image.size) / 512


def blur(image: Image.Image, rng: random.Random, kernel_min: int = 11, kernel_max: int = 101) -> Image.Image:
    """Gaussian blur with an odd kernel drawn from [kernel_min, kernel_max] (OpenCV's sigma for
    that kernel size), scaled to the image."""
    kernel = rng.randrange(kernel_min, kernel_max + 1) | 1
    sigma = 0.3 * ((kernel - 1) * 0.5 - 1) + 0.8
    return image.filter(ImageFilter.GaussianBlur(radius=max(0.1, _scaled(image, sigma))))


def jpeg(image: Image.Image, rng: random.Random, quality_min: int = 10, quality_max: int = 30) -> Image.Image:
    """The image after a JPEG round trip at a quality drawn from [quality_min, quality_max]."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=rng.randint(quality_min, quality_max))
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


def palette(image: Image.Image, rng: random.Random, factor: int = 64) -> Image.Image:
    """Colour blocks: a bicubic downsample by `factor`, then a nearest-neighbour upsample."""
    small = (max(1, image.width // factor), max(1, image.height // factor))
    return image.resize(small, Image.Resampling.BICUBIC).resize(image.size, Image.Resampling.NEAREST)


def pixelate(
    image: Image.Image,
    rng: random.Random,
    colors_min: int = 8,
    colors_max: int = 16,
    scale_min: int = 4,
    scale_max: int = 8,
) -> Image.Image:
    """Pixel art: the image quantised to 8-16 colours and downscaled 4-8x (both drawn), then
    upscaled with nearest neighbours."""
    colours, scale = rng.randint(colors_min, colors_max), rng.randint(scale_min, scale_max)
    small = (max(1, image.width // scale), max(1, image.height // scale))
    reduced = image.convert("RGB").quantize(colours, method=Image.Quantize.MEDIANCUT).convert("RGB")
    return reduced.resize(small, Image.Resampling.NEAREST).resize(image.size, Image.Resampling.NEAREST)


def outpaint(
    image: Image.Image, rng: random.Random, keep_min: float = 0.2, keep_max: float = 0.8
) -> Image.Image:
    """Only a centred crop of 20-80 % of the height and width (drawn) kept; the rest black."""
    keep_w = round(image.width * rng.uniform(keep_min, keep_max))
    keep_h = round(image.height * rng.uniform(keep_min, keep_max))
    left, top = (image.width - keep_w) // 2, (image.height - keep_h) // 2
    result = Image.new("RGB", image.size, (0, 0, 0))
    result.paste(image.convert("RGB").crop((left, top, left + keep_w, top + keep_h)), (left, top))
    return result


def inpaint(
    image: Image.Image,
    rng: random.Random,
    holes_min: int = 1,
    holes_max: int = 4,
    size_min: float = 0.1,
    size_max: float = 0.4,
) -> Image.Image:
    """Random rectangles (1-4, each 10-40 % of each side, drawn) blacked out: an inpainting mask."""
    result = image.convert("RGB").copy()
    for _ in range(rng.randint(holes_min, holes_max)):
        w = round(image.width * rng.uniform(size_min, size_max))
        h = round(image.height * rng.uniform(size_min, size_max))
        left, top = rng.randint(0, image.width - w), rng.randint(0, image.height - h)
        result.paste((0, 0, 0), (left, top, left + w, top + h))
    return result


EXTRACTORS: dict[str, Extractor] = {
    "canny": canny,
    "grayscale": grayscale,
    "blur": blur,
    "jpeg": jpeg,
    "palette": palette,
    "pixelate": pixelate,
    "outpaint": outpaint,
    "inpaint": inpaint,
}


def extract(name: str, image: Image.Image, seed: int, **params: Any) -> Image.Image:
    """Apply extractor `name` to `image`, its random choices seeded by `seed` (derive it from
    the run seed and the item id). Used by recipes, and to re-extract a condition from a render."""
    return EXTRACTORS[name](image.convert("RGB"), random.Random(seed), **params)
