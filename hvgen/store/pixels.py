"""PNG files ↔ HxWx3 uint8 RGB arrays for scenarios that work on pixels (corruption).

Why: going through PIL costs a PIL image per step — Pillow keeps RGB as 4-byte RGBX, so every
``np.asarray(image)`` and ``Image.fromarray(array)`` repacks the pixels, and decoding a 1024²
PNG through Pillow and converting it takes longer than OpenCV's libpng decoder. The common case,
an 8-bit RGB or RGBA PNG (what the render stage writes), is decoded by OpenCV; every other
file (grey, palette, 16-bit, not a PNG, damaged) goes through Pillow's ``convert("RGB")`` as
before, so the pixels a scenario sees are the same whichever path read them: alpha is dropped
(not composited), exactly as ``convert("RGB")`` does.
"""

from __future__ import annotations

import io
import struct
from pathlib import Path

import numpy as np
from PIL import Image

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_RGB, _RGBA = 2, 6  # PNG colour types


def fast_png_kind(data: bytes) -> int | None:
    """The PNG colour type (2 = RGB, 6 = RGBA) when `data` is an 8-bit RGB/RGBA PNG that
    OpenCV decodes to the same pixels as Pillow, else None."""
    if len(data) < 33 or not data.startswith(_PNG_SIGNATURE) or data[12:16] != b"IHDR":
        return None
    bit_depth, colour_type = struct.unpack(">BB", data[24:26])
    return colour_type if bit_depth == 8 and colour_type in (_RGB, _RGBA) else None


def decode_rgb(data: bytes) -> np.ndarray:
    """PNG (or any Pillow-readable image) bytes → C-contiguous HxWx3 uint8 RGB array."""
    if fast_png_kind(data) is not None:
        import cv2  # installed with albumentations; imported here so light commands skip it

        # UNCHANGED: no EXIF rotation, no colour conversion; an RGB PNG with a tRNS colour key
        # comes back with an alpha channel, which is dropped like any other alpha.
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
        if decoded is not None and decoded.dtype == np.uint8 and decoded.ndim == 3:
            code = cv2.COLOR_BGR2RGB if decoded.shape[2] == 3 else cv2.COLOR_BGRA2RGB
            return cv2.cvtColor(decoded, code)
    return _decode_with_pillow(data)


def _decode_with_pillow(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        rgb = image.convert("RGB")
    return np.asarray(rgb).copy()  # writable, owns its memory


def read_rgb(path: Path) -> np.ndarray:
    """The image file at `path` as an HxWx3 uint8 RGB array (see `decode_rgb`)."""
    return decode_rgb(Path(path).read_bytes())


def to_image(array: np.ndarray) -> Image.Image:
    """An HxWx3 uint8 RGB array as a PIL image (for Pillow's PNG encoder, whose bytes the run
    directory's files have always been)."""
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"Expected an HxWx3 uint8 RGB array, got {array.dtype} {array.shape}.")
    return Image.fromarray(np.ascontiguousarray(array))


def same_pixels(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two arrays hold the same pixels. A corrupted image differs from its clean one
    almost everywhere, so a strided sample (~1/4099 of the values) settles most calls without
    a full pass; only a sample that agrees is followed by the full comparison. Exact either way."""
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    flat_a, flat_b = a.reshape(-1), b.reshape(-1)
    if not np.array_equal(flat_a[::4099], flat_b[::4099]):
        return False
    return bool(np.array_equal(flat_a, flat_b))
