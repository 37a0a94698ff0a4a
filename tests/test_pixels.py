"""hvgen.store.pixels: PNG bytes → RGB arrays without PIL for the common case, and the same
pixels as Pillow's ``convert("RGB")`` for every kind of file."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from hvgen.store.pixels import decode_rgb, fast_png_kind, read_rgb, to_image


def _png(image: Image.Image, **params: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **params)
    return buffer.getvalue()


def _pillow_rgb(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def rgb() -> np.ndarray:
    rng = np.random.default_rng(7)
    arr = rng.integers(0, 256, (37, 53, 3), dtype=np.uint8)  # odd sizes, every channel different
    arr[0, 0] = (255, 0, 0)  # a pure red pixel pins the channel order
    return arr


def test_rgb_png_takes_the_fast_path_in_rgb_order(rgb: np.ndarray) -> None:
    data = _png(Image.fromarray(rgb))
    assert fast_png_kind(data) == 2
    out = decode_rgb(data)
    assert out.dtype == np.uint8 and out.shape == rgb.shape and out.flags.c_contiguous
    assert tuple(out[0, 0]) == (255, 0, 0)  # not BGR
    assert np.array_equal(out, rgb)


def test_rgba_alpha_is_dropped_like_pillow(rgb: np.ndarray) -> None:
    alpha = np.linspace(0, 255, rgb.shape[0] * rgb.shape[1]).astype(np.uint8).reshape(rgb.shape[:2])
    data = _png(Image.fromarray(np.dstack([rgb, alpha]), "RGBA"))
    assert fast_png_kind(data) == 6
    assert np.array_equal(decode_rgb(data), _pillow_rgb(data))
    assert np.array_equal(decode_rgb(data), rgb)  # not composited onto black or white


def test_rgb_with_transparent_colour_key(rgb: np.ndarray) -> None:
    data = _png(Image.fromarray(rgb), transparency=tuple(int(v) for v in rgb[1, 1]))
    assert fast_png_kind(data) == 2
    assert np.array_equal(decode_rgb(data), rgb)


def test_interlaced_and_compression_levels_decode_the_same(rgb: np.ndarray) -> None:
    for params in ({"compress_level": 0}, {"compress_level": 9}, {"optimize": True}):
        assert np.array_equal(decode_rgb(_png(Image.fromarray(rgb), **params)), rgb)
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "hvgen")  # ancillary chunks before the pixels
    assert np.array_equal(decode_rgb(_png(Image.fromarray(rgb), pnginfo=info)), rgb)


@pytest.mark.parametrize("mode", ["L", "LA", "P", "I;16", "1", "RGB16", "PT"])
def test_other_kinds_match_pillow_convert(mode: str, rgb: np.ndarray) -> None:
    base = Image.fromarray(rgb)
    if mode == "RGB16":  # 16-bit RGB: Pillow cannot write it, so craft it with OpenCV
        cv2 = pytest.importorskip("cv2")
        wide = rgb[..., ::-1].astype(np.uint16) * 257 + 3
        ok, encoded = cv2.imencode(".png", np.ascontiguousarray(wide))
        assert ok
        data = encoded.tobytes()
    elif mode == "PT":  # palette with a transparent index
        data = _png(base.convert("P"), transparency=0)
    elif mode == "I;16":
        data = _png(Image.fromarray(rgb[..., 0].astype(np.uint16) * 257))
    else:
        data = _png(base.convert(mode))
    assert fast_png_kind(data) is None  # anything but 8-bit RGB/RGBA goes through Pillow
    out = decode_rgb(data)
    assert out.dtype == np.uint8 and out.shape == rgb.shape and out.flags.writeable
    assert np.array_equal(out, _pillow_rgb(data))


def test_non_png_and_damaged_files(rgb: np.ndarray, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="JPEG", quality=90)
    assert fast_png_kind(buffer.getvalue()) is None
    assert np.array_equal(decode_rgb(buffer.getvalue()), _pillow_rgb(buffer.getvalue()))
    data = _png(Image.fromarray(rgb))
    with pytest.raises(OSError):
        decode_rgb(data[: len(data) // 2])  # truncated: Pillow's error, not a silent None
    path = tmp_path / "x.png"
    path.write_bytes(data)
    assert np.array_equal(read_rgb(path), rgb)


def test_deterministic_and_round_trips_through_pillow_encoder(rgb: np.ndarray) -> None:
    data = _png(Image.fromarray(rgb))
    first, second = decode_rgb(data), decode_rgb(data)
    assert np.array_equal(first, second)
    # The stage encodes arrays through Pillow: same bytes as encoding the PIL image.
    assert _png(to_image(first)) == data
    with pytest.raises(ValueError, match="HxWx3 uint8"):
        to_image(first.astype(np.float32))


def test_same_pixels_is_exact(rgb: np.ndarray) -> None:
    from hvgen.store.pixels import same_pixels

    assert same_pixels(rgb, rgb.copy())
    for index in (0, 4099, 5, rgb.size - 1):  # on and off the sampled positions
        other = rgb.copy().reshape(-1)
        other[index] ^= 1
        assert not same_pixels(rgb, other.reshape(rgb.shape))
    assert not same_pixels(rgb, rgb[:-1])
    assert not same_pixels(rgb, rgb.astype(np.uint16))
