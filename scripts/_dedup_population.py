"""Realistic pHash populations for `bench_dedup.py`, fast enough for 10M hashes.

Uniform random 64-bit hashes are the best case for any band / bucket lookup; pHashes of
generated images are not uniform (at d = 6, two *different* scenes of this population collide
~300,000x more often than two uniform hashes do), and images made from one prompt template form
*families* of near-copies. So each hash is the pHash of a rendered scene:

* **scenes**: a gradient background and 2-6 filled ellipses / rectangles (`family_params`);
  a family is a base scene and its members perturb it (shapes moved and resized by `jitter`
  of the side, colours shifted), as images from one prompt template and style are;
* **rendering** (`render_grey`): straight to the 32x32 greyscale thumbnail that
  `imagehash.phash` works on (ITU-R 601 luma of the colours, anti-aliased edges from the
  distance to the edge in pixels), vectorised over a chunk and sorted by shape count so that
  absent shapes cost nothing: ~14 us per scene on one core;
* **hash**: the 8x8 low-frequency block of the 2-D DCT-II (two small matrix products), plus
  sensor noise drawn in the DCT domain with exactly the distribution i.i.d. pixel noise of
  sigma 3 has there (drawing 1,024 pixel normals per scene would cost more than the render),
  compared with its median; bit 63 is the first bit, as in hvgen's signed int64 pHash.
  `check_against_imagehash` verifies the maths bit for bit against `imagehash.phash` on
  rendered thumbnails at every run.

The population is built in chunks of whole families, each from its own seed (seed, chunk), in
a process pool: the same arguments give the same hashes whatever the number of workers. Ids
are then shuffled (`layout="shuffled"`, members spread over the id range) or kept in family
order (`layout="contiguous"`, the worst case for a batch that meets a whole family at once).
**Planted near-duplicates** are real image copies: scenes drawn with Pillow at 256x256, each
copied through a real transform (resize x0.5, JPEG q90 / q75, Gaussian blur r=1, resize + JPEG),
both hashed by `imagehash.phash` itself.
"""

from __future__ import annotations

import io
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

THUMB = 32  # imagehash.phash: hash_size 8 x highfreq_factor 4
MAX_SHAPES = 6
NOISE_SIGMA = 3.0  # grey levels of per-pixel sensor noise
TRANSFORMS = ("resize x0.5", "JPEG q90", "JPEG q75", "blur r1", "resize x0.5 + JPEG q75")
LAYOUTS = ("shuffled", "contiguous")
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_GRID = (np.arange(THUMB, dtype=np.float32) + 0.5) / THUMB
_DCT8 = 2 * np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(THUMB)[None, :] + 1) / (2 * THUMB))
"""The first 8 rows of scipy.fftpack's unnormalised DCT-II matrix for 32 samples."""
# DCT rows are orthogonal with squared norms 4N (k = 0) and 2N: i.i.d. pixel noise of sigma s
# gives independent coefficient (k, l) noise of sigma s * sqrt(norm_k * norm_l).
_ROW_NORM2 = (_DCT8**2).sum(axis=1)
_NOISE_STD = (NOISE_SIGMA * np.sqrt(np.outer(_ROW_NORM2, _ROW_NORM2))).ravel()
_CHUNK_FAMILIES = 16_384
_RENDER_BATCH = 64


def family_params(rng: np.random.Generator, n: int, family_size: int, jitter: float) -> dict[str, np.ndarray]:
    """Scene parameters for `n` images in families of `family_size` (coordinates in [0, 1])."""
    families = -(-n // family_size)
    base = {
        "angle": rng.uniform(0, 2 * np.pi, families),
        "colour0": rng.uniform(0, 255, (families, 3)),
        "colour1": rng.uniform(0, 255, (families, 3)),
        "count": rng.integers(2, MAX_SHAPES + 1, families),
        "ellipse": rng.random((families, MAX_SHAPES)) < 0.5,
        "centre": rng.uniform(0.1, 0.9, (families, MAX_SHAPES, 2)),
        "half": rng.uniform(0.05, 0.25, (families, MAX_SHAPES, 2)),
        "fill": rng.uniform(0, 255, (families, MAX_SHAPES, 3)),
    }
    member = np.repeat(np.arange(families), family_size)[:n]
    params = {key: value[member] for key, value in base.items()}
    params["angle"] = params["angle"] + rng.normal(0, jitter * np.pi, n)
    params["colour0"] = params["colour0"] + rng.normal(0, 400 * jitter, (n, 3))
    params["colour1"] = params["colour1"] + rng.normal(0, 400 * jitter, (n, 3))
    params["centre"] = params["centre"] + rng.normal(0, jitter, (n, MAX_SHAPES, 2))
    params["half"] = params["half"] * np.exp(rng.normal(0, 2 * jitter, (n, MAX_SHAPES, 2)))
    params["fill"] = params["fill"] + rng.normal(0, 400 * jitter, (n, MAX_SHAPES, 3))
    params["noise_seed"] = rng.integers(0, 2**31, n)
    return params


def _take(params: dict[str, np.ndarray], index: np.ndarray | slice) -> dict[str, np.ndarray]:
    return {key: value[index] for key, value in params.items()}


def render_grey(params: dict[str, np.ndarray]) -> np.ndarray:
    """(B, 32, 32) float32 noiseless greyscale thumbnails, rounded and clipped to 0..255."""
    order = np.argsort(-params["count"], kind="stable")  # most shapes first: shape k is a prefix

    def f32(key: str) -> np.ndarray:
        return params[key][order].astype(np.float32)

    angle = f32("angle")
    cos, sin = np.cos(angle), np.sin(angle)
    corners = np.stack([cos * x + sin * y for x in (_GRID[0], _GRID[-1]) for y in (_GRID[0], _GRID[-1])])
    low = corners.min(axis=0)
    slope = (f32("colour1") @ _LUMA - f32("colour0") @ _LUMA) / (corners.max(axis=0) - low + 1e-6)
    image = (
        (f32("colour0") @ _LUMA - slope * low)[:, None, None]
        + (slope * cos)[:, None, None] * _GRID[None, None, :]
        + (slope * sin)[:, None, None] * _GRID[None, :, None]
    )
    fill, centre, half = f32("fill") @ _LUMA, f32("centre"), f32("half")
    ellipse, count = params["ellipse"][order], params["count"][order]
    for k in range(MAX_SHAPES):
        m = int((count > k).sum())
        if m == 0:
            break
        hx, hy = half[:m, k, 0, None], half[:m, k, 1, None]
        dx = np.abs(_GRID[None, :] - centre[:m, k, 0, None])
        dy = np.abs(_GRID[None, :] - centre[:m, k, 1, None])
        # coverage from the signed distance to the edge in pixels (+0.5: half a pixel of ramp)
        alpha = np.minimum(((hx - dx) * THUMB + 0.5)[:, None, :], ((hy - dy) * THUMB + 0.5)[:, :, None])
        rows = np.flatnonzero(ellipse[:m, k])
        if len(rows):  # ellipse: radial approximation of the distance to the edge
            scale = np.minimum(hx[rows], hy[rows])[:, :, None] * THUMB
            radial = ((dx[rows] / hx[rows]) ** 2)[:, None, :] + ((dy[rows] / hy[rows]) ** 2)[:, :, None]
            alpha[rows] = scale + 0.5 - scale * np.sqrt(radial)
        np.clip(alpha, 0, 1, out=alpha)
        below = image[:m]
        below += alpha * (fill[:m, k, None, None] - below)
    np.clip(np.rint(image), 0, 255, out=image)
    out = np.empty_like(image)
    out[order] = image
    return out


def dct_block(grey: np.ndarray) -> np.ndarray:
    """(B, 64) low-frequency DCT-II coefficients of (B, 32, 32) thumbnails, row-major."""
    return (_DCT8 @ grey.astype(np.float64) @ _DCT8.T).reshape(len(grey), 64)


def hash_bits(coefficients: np.ndarray) -> np.ndarray:
    """pHash bits (coefficient > median) packed as hvgen's signed int64, first bit = bit 63."""
    bits = coefficients > np.median(coefficients, axis=1)[:, None]
    return np.packbits(bits, axis=1).view(">u8").astype(np.uint64).view(np.int64).ravel()


def check_against_imagehash(grey: np.ndarray) -> None:
    """Our DCT + median maths must equal imagehash.phash bit for bit on rendered thumbnails."""
    import imagehash
    from PIL import Image

    from hvgen.stages.build.fingerprints import phash_to_hex, phash_to_int

    ours = hash_bits(dct_block(grey))
    for thumb, value in zip(grey, ours):
        expected = phash_to_int(imagehash.phash(Image.fromarray(thumb.astype(np.uint8), "L")))
        if expected != int(value):
            raise AssertionError(
                f"vectorised pHash {phash_to_hex(int(value))} != imagehash {phash_to_hex(expected)}"
            )


def _chunk(args: tuple[int, int, int, float, int]) -> np.ndarray:
    """Hashes of one chunk of whole families, from its own seed."""
    seed, index, count, jitter, family_size = args
    rng = np.random.default_rng([seed, index])
    params = family_params(rng, count, family_size, jitter)
    out = np.empty(count, dtype=np.int64)
    for start in range(0, count, _RENDER_BATCH):
        part = _take(params, slice(start, start + _RENDER_BATCH))
        coefficients = dct_block(render_grey(part))
        coefficients += rng.standard_normal(coefficients.shape) * _NOISE_STD
        out[start : start + len(coefficients)] = hash_bits(coefficients)
    return out


def render_full(params: dict[str, np.ndarray], index: int, size: int = 256):
    """One scene drawn with Pillow at size x size, in colour (for the planted near-duplicates)."""
    from PIL import Image, ImageDraw

    grid = (np.arange(size, dtype=np.float32) + 0.5) / size
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    angle = params["angle"][index]
    t = np.cos(angle) * xx + np.sin(angle) * yy
    t = (t - t.min()) / (np.ptp(t) + 1e-6)
    arr = params["colour0"][index] * (1 - t[..., None]) + params["colour1"][index] * t[..., None]
    image = Image.fromarray(np.clip(np.rint(arr), 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for k in range(int(params["count"][index])):
        (cx, cy), (hx, hy) = params["centre"][index, k] * size, params["half"][index, k] * size
        fill = tuple(int(v) for v in np.clip(np.rint(params["fill"][index, k]), 0, 255))
        box = (cx - hx, cy - hy, cx + hx, cy + hy)
        (draw.ellipse if params["ellipse"][index, k] else draw.rectangle)(box, fill=fill)
    noisy = np.asarray(image).astype(np.float32)
    noisy += np.random.default_rng(int(params["noise_seed"][index])).normal(0, 6, noisy.shape)
    return Image.fromarray(np.clip(np.rint(noisy), 0, 255).astype(np.uint8))


def transformed(image, kind: str):
    """A real near-duplicate of `image`."""
    from PIL import Image, ImageFilter

    def jpeg(im, quality: int):
        buffer = io.BytesIO()
        im.save(buffer, "JPEG", quality=quality)
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")

    half = (image.width // 2, image.height // 2)
    if kind == "resize x0.5":
        return image.resize(half, Image.BICUBIC)
    if kind == "JPEG q90":
        return jpeg(image, 90)
    if kind == "JPEG q75":
        return jpeg(image, 75)
    if kind == "blur r1":
        return image.filter(ImageFilter.GaussianBlur(1))
    return jpeg(image.resize(half, Image.BICUBIC), 75)


def population(
    n: int,
    *,
    pairs: int = 1000,
    family_size: int = 20,
    jitter: float = 0.02,
    seed: int = 0,
    layout: str = "shuffled",
    cache: Path | None = None,
    workers: int | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hashes[n] in id order, planted (source, copy) id pairs, the transform of each pair)."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")
    name = f"phash-n{n}-p{pairs}-f{family_size}-j{jitter:g}-s{seed}-{layout}-v2.npz"
    if cache is not None and (cache / name).is_file():
        data = np.load(cache / name)
        return data["hashes"], data["planted"], data["kinds"]
    import imagehash

    from hvgen.stages.build.fingerprints import phash_to_int

    started = time.perf_counter()
    pairs = min(pairs, n // 2)
    generated = n - 2 * pairs
    check_rng = np.random.default_rng([seed, 1 << 20])
    check_against_imagehash(render_grey(family_params(check_rng, 64, family_size, jitter)))
    per_chunk = _CHUNK_FAMILIES * family_size
    jobs = [
        (seed, index, min(per_chunk, generated - start), jitter, family_size)
        for index, start in enumerate(range(0, generated, per_chunk))
    ]
    workers = workers or min(len(jobs), len(os.sched_getaffinity(0))) or 1
    if workers > 1:
        with ProcessPoolExecutor(workers) as pool:
            parts = list(pool.map(_chunk, jobs))
    else:
        parts = [_chunk(job) for job in jobs]
    hashes = np.concatenate(parts + [np.empty(2 * pairs, np.int64)])
    rng = np.random.default_rng([seed, 1 << 21])
    params = family_params(rng, pairs, 1, jitter)
    kinds = np.arange(pairs) % len(TRANSFORMS)
    for p in range(pairs):
        image = render_full(params, p)
        hashes[generated + 2 * p] = phash_to_int(imagehash.phash(image))
        hashes[generated + 2 * p + 1] = phash_to_int(
            imagehash.phash(transformed(image, TRANSFORMS[kinds[p]]))
        )
    planted = generated + 2 * np.arange(pairs)[:, None] + np.array([0, 1])
    if layout == "shuffled":  # members (and planted copies) spread over the id range
        order = rng.permutation(n)
        where = np.empty(n, dtype=np.int64)
        where[order] = np.arange(n)
        hashes = hashes[order]
        planted = np.sort(where[planted], axis=1)
    print(f"  generated {n:,} pHashes ({layout}) in {time.perf_counter() - started:.1f} s wall", flush=True)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache / name, hashes=hashes, planted=planted, kinds=kinds)
    return hashes, planted, kinds
