#!/usr/bin/env python
"""Benchmark hvgen's near-duplicate search (DuckDB, multi-index bands) on realistic pHashes, side
by side with imagededup, and calibrate --hamming.

**Hashes.** Uniform random 64-bit hashes are the best case for band lookups (every band value
is equally rare); pHashes of synthetic scenes are not uniform, and similar scenes make many
true pairs. So the population is pHashes of generated scenes (gradient backgrounds, 2–6 filled
ellipses / rectangles, noise) in *families*: each family is a base scene and its members are
perturbations of it (shapes moved and resized by `--jitter` of the side, colours shifted), as
images from the same prompt template and style are. Most scenes are generated directly as the
32×32 thumbnail pHash works on (2× supersampled, box-filtered), hashed with imagehash's phash
maths in a vectorised form (checked bit for bit against `imagehash.phash` on a sample at every
run). **Planted near-duplicates** are real: `--pairs` scenes are drawn with Pillow at 256², and
each gets a copy through a real transform (resize ×0.5, JPEG q90 / q75, Gaussian blur r=1, or
resize + JPEG), both hashed with `imagehash.phash` itself. Populations are cached (`--cache`).

**What is timed.** DuckDB = load (arrow table → DuckDB table) + `near_duplicate_pairs` + fetching
the pairs; imagededup 0.3.3 = `HashEval(...).retrieve_results` (what `PHash().find_duplicates(
encoding_map=..., max_distance_threshold=d)` runs; quadratic, all cores). Each configuration is
warmed up (on a 20k subset for large n: imports and start-up), then timed in alternated rounds
(`_timing.py`), min and median. Every ratio printed is of two measured min times at the same n;
nothing is extrapolated (imagededup at 100k takes ~15 min here: ask for it with
`--imagededup-n 100000`).

**Correctness.** Recall against brute force: for a random sample of `--sample` hashes, every pair
within d of a sampled hash (numpy popcount over the whole population) must be among DuckDB's
pairs; every DuckDB pair is re-checked to be within d (precision); planted copies within d are
counted separately; at the side-by-side size the two pair sets are compared whole.

    python scripts/bench_dedup.py                                  # 1M + imagededup at 20k
    python scripts/bench_dedup.py --n 200000 --imagededup-n 5000
    python scripts/bench_dedup.py --calibrate
"""

from __future__ import annotations

import argparse
import io
import itertools
import os
import sys
import time
from pathlib import Path

import duckdb
import numpy as np
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Config, compare, machine  # noqa: E402

from hvgen.stages.build.dedup import DEFAULT_HAMMING, near_duplicate_pairs, plan_bands  # noqa: E402
from hvgen.stages.build.fingerprints import phash_to_hex, phash_to_int  # noqa: E402

THUMB = 32  # imagehash.phash: hash_size 8 × highfreq_factor 4
MAX_SHAPES = 6
TRANSFORMS = ("resize x0.5", "JPEG q90", "JPEG q75", "blur r1", "resize x0.5 + JPEG q75")


# --------------------------------------------------------------------------- scenes


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


def render_thumbnails(params: dict[str, np.ndarray]) -> np.ndarray:
    """(B, 32, 32, 3) uint8 thumbnails of the scenes, with anti-aliased shape edges (coverage
    from the distance to the edge in pixels, as a downscale of a sharp drawing would give)."""
    count = len(params["angle"])
    grid = (np.arange(THUMB, dtype=np.float32) + 0.5) / THUMB
    yy, xx = np.meshgrid(grid, grid, indexing="ij")
    f32 = {key: value.astype(np.float32) for key, value in params.items() if value.dtype.kind == "f"}
    t = np.cos(f32["angle"])[:, None, None] * xx + np.sin(f32["angle"])[:, None, None] * yy
    t = ((t - t.min(axis=(1, 2), keepdims=True)) / (np.ptp(t, axis=(1, 2), keepdims=True) + 1e-6))[..., None]
    image = f32["colour0"][:, None, None, :] * (1 - t) + f32["colour1"][:, None, None, :] * t
    for k in range(MAX_SHAPES):
        hx = f32["half"][:, k, 0, None, None]
        hy = f32["half"][:, k, 1, None, None]
        dx = np.abs(xx - f32["centre"][:, k, 0, None, None])
        dy = np.abs(yy - f32["centre"][:, k, 1, None, None])
        # signed distance to the edge in pixels (ellipse: radial approximation)
        radial = (np.sqrt((dx / hx) ** 2 + (dy / hy) ** 2) - 1) * np.minimum(hx, hy)
        box = np.maximum(dx - hx, dy - hy)
        inside = np.where(params["ellipse"][:, k, None, None], radial, box) * -THUMB
        alpha = np.clip(inside + 0.5, 0, 1) * (k < params["count"])[:, None, None]
        image += alpha[..., None] * (f32["fill"][:, k, None, None, :] - image)
    seed = int(params["noise_seed"][0]) if count else 0
    image += np.random.default_rng(seed).normal(0, 3, (count, THUMB, THUMB, 1)).astype(np.float32)
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def render_full(params: dict[str, np.ndarray], index: int, size: int = 256):
    """One scene drawn with Pillow at size² (for the planted near-duplicates)."""
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


_DCT8 = 2 * np.cos(np.pi * np.arange(8)[:, None] * (2 * np.arange(THUMB)[None, :] + 1) / (2 * THUMB))
"""The first 8 rows of scipy.fftpack's unnormalised DCT-II matrix for 32 samples."""


def phash_batch(thumbnails: np.ndarray) -> np.ndarray:
    """imagehash.phash of (B, 32, 32, 3) uint8 images, vectorised: Pillow's RGB→L conversion
    (ITU-R 601-2, integer), the 8×8 low-frequency block of the 2-D DCT-II (as two matrix
    products instead of scipy.fftpack's full transform), compared with its median, bits row-major
    with the first as the sign bit (hvgen's signed int64)."""
    rgb = thumbnails.astype(np.uint32)
    grey = ((rgb[..., 0] * 19595 + rgb[..., 1] * 38470 + rgb[..., 2] * 7471 + 0x8000) >> 16).astype(
        np.float64
    )
    coefficients = (_DCT8 @ grey @ _DCT8.T).reshape(len(grey), 64)
    bits = coefficients > np.median(coefficients, axis=1)[:, None]
    return np.packbits(bits, axis=1).view(">u8").astype(np.uint64).view(np.int64).ravel()


def check_phash_batch(thumbnails: np.ndarray, hashes: np.ndarray) -> None:
    """The vectorised hash must equal imagehash.phash bit for bit."""
    import imagehash
    from PIL import Image

    for thumb, value in zip(thumbnails, hashes):
        expected = phash_to_int(imagehash.phash(Image.fromarray(thumb)))
        if expected != int(value):
            raise AssertionError(
                f"vectorised pHash {phash_to_hex(int(value))} != imagehash {phash_to_hex(expected)}"
            )


def population(
    n: int, pairs: int, family_size: int, jitter: float, seed: int, cache: Path | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hashes[n], planted (source, copy) index pairs, the transform index of each pair)."""
    name = f"phash-n{n}-p{pairs}-f{family_size}-j{jitter:g}-s{seed}-v1.npz"
    if cache is not None and (cache / name).is_file():
        data = np.load(cache / name)
        return data["hashes"], data["planted"], data["kinds"]
    import imagehash

    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    pairs = min(pairs, n // 2)
    params = family_params(rng, n - pairs, family_size, jitter)
    hashes = np.empty(n, dtype=np.int64)
    generated = n - 2 * pairs
    for start in range(0, generated, 8192):
        stop = min(start + 8192, generated)
        thumbs = render_thumbnails(_take(params, slice(start, stop)))
        hashes[start:stop] = phash_batch(thumbs)
        if start == 0:
            check_phash_batch(thumbs[:200], hashes[start : start + 200])
    planted = np.empty((pairs, 2), dtype=np.int64)
    kinds = np.arange(pairs) % len(TRANSFORMS)
    for p in range(pairs):
        source, copy = generated + 2 * p, generated + 2 * p + 1
        image = render_full(params, generated + p)
        hashes[source] = phash_to_int(imagehash.phash(image))
        hashes[copy] = phash_to_int(imagehash.phash(transformed(image, TRANSFORMS[kinds[p]])))
        planted[p] = (source, copy)
    order = rng.permutation(n)  # planted items spread over the id range
    where = np.empty(n, dtype=np.int64)
    where[order] = np.arange(n)
    hashes = hashes[order]
    planted = np.sort(where[planted], axis=1)
    print(f"  generated {n:,} pHashes in {time.perf_counter() - started:.0f} s", flush=True)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        np.savez(cache / name, hashes=hashes, planted=planted, kinds=kinds)
    return hashes, planted, kinds


# --------------------------------------------------------------------------- searches


def encode(a: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """Pairs (a < b) as sorted int64 codes a·n + b."""
    low, high = np.minimum(a, b), np.maximum(a, b)
    return np.unique(low.astype(np.int64) * n + high.astype(np.int64))


def popcount_distance(h: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.bitwise_count(h[a].view(np.uint64) ^ h[b].view(np.uint64))


def duckdb_search(h: np.ndarray, d: int, bands: int | None) -> tuple[np.ndarray, float, float]:
    """(pair codes, load seconds, search + fetch seconds)."""
    con = duckdb.connect()
    try:
        started = time.perf_counter()
        con.register("h_arrow", pa.table({"image_id": np.arange(len(h), dtype=np.int64), "phash": h}))
        con.execute("CREATE TABLE hashes AS SELECT * FROM h_arrow")
        loaded = time.perf_counter()
        pairs = near_duplicate_pairs(con, "hashes", d, bands).fetchnumpy()
        done = time.perf_counter()
    finally:
        con.close()
    return encode(pairs["id_a"], pairs["id_b"], len(h)), loaded - started, done - loaded


def _imagededup_hamming(hash1: str, hash2: str) -> float:
    """imagededup's `Hashing.hamming_distance` (same semantics). Importing it from
    `imagededup.methods` would also import its CNN module, which downloads MobileNet weights at
    import time (impossible offline); the Cython brute force computes distances natively anyway."""
    return bin(int(hash1, 16) ^ int(hash2, 16)).count("1")


def imagededup_search(h: np.ndarray, d: int, method: str) -> np.ndarray:
    """What `PHash().find_duplicates(encoding_map=..., max_distance_threshold=d)` runs:
    `HashEval(test=enc, queries=enc, ...)` with all CPU cores."""
    import logging

    from imagededup.handlers.search.retrieval import HashEval

    logging.getLogger("imagededup.handlers.search.retrieval").setLevel(logging.WARNING)
    enc = {str(i): phash_to_hex(int(v)) for i, v in enumerate(h)}
    ev = HashEval(
        test=enc,
        queries=enc,
        distance_function=_imagededup_hamming,
        verbose=False,
        threshold=d,
        search_method=method,
        num_dist_workers=os.cpu_count() or 1,
    )
    dups = ev.retrieve_results(scores=False)
    a = np.array([int(k) for k, vs in dups.items() for _ in vs], dtype=np.int64)
    b = np.array([int(v) for vs in dups.values() for v in vs], dtype=np.int64)
    return encode(a, b, len(h)) if len(a) else np.empty(0, dtype=np.int64)


def brute_force(h: np.ndarray, sample: np.ndarray, d: int) -> np.ndarray:
    """Every pair (as codes) within d that involves a sampled hash, by exhaustive popcount."""
    u = h.view(np.uint64)
    codes = []
    for start in range(0, len(sample), 64):
        rows = sample[start : start + 64]
        distance = np.bitwise_count(u[rows][:, None] ^ u[None, :])
        i, j = np.nonzero(distance <= d)
        keep = rows[i] != j
        codes.append(encode(rows[i][keep], j[keep], len(h)))
    return np.unique(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)


def involving(codes: np.ndarray, sample: np.ndarray, n: int) -> np.ndarray:
    return codes[np.isin(codes // n, sample) | np.isin(codes % n, sample)]


# --------------------------------------------------------------------------- benchmark


def bench(args: argparse.Namespace) -> None:
    d = args.hamming
    print(f"# hvgen near-duplicate search benchmark — {machine()}, duckdb {duckdb.__version__}, d = {d}")
    h, planted, kinds = population(args.n, args.pairs, args.family_size, args.jitter, args.seed, args.cache)
    n = len(h)
    plan = plan_bands(d, args.bands, n=n)
    last: dict[str, float] = {}

    def duckdb_config(hashes: np.ndarray, warm_subset: bool) -> Config:
        def run() -> float:
            codes, load, search = duckdb_search(hashes, d, args.bands)
            last.update(load=load, search=search, pairs=len(codes))
            last_codes[len(hashes)] = codes
            return load + search

        warm = (lambda: duckdb_search(hashes[:20_000], d, args.bands)) if warm_subset else None
        return Config(f"duckdb n={len(hashes):,}", run, warm)

    last_codes: dict[int, np.ndarray] = {}
    results = compare([duckdb_config(h, n > 50_000)], repeats=args.repeats, warmup=args.warmup)
    timing = results[f"duckdb n={n:,}"]
    found = last_codes[n]
    print(
        f"duckdb   n={n:>9,}  {plan.describe()}: load + search {timing.describe()} "
        f"(last run: load {last['load']:.2f} s, search {last['search']:.2f} s); {len(found):,} pairs within {d}"
    )
    a, b = found // n, found % n
    bad = int((popcount_distance(h, a, b) > d).sum()) if len(found) else 0
    rng = np.random.default_rng(args.seed + 7)
    sample = np.sort(rng.choice(n, size=min(args.sample, n), replace=False))
    truth = brute_force(h, sample, d)
    ours = involving(found, sample, n)
    recall = np.isin(truth, ours).mean() if len(truth) else 1.0
    print(
        f"  recall vs brute force on {len(sample):,} sampled hashes: {recall:.4f} ({len(truth):,} true pairs; "
        f"{len(truth) / len(sample):.2f} neighbours within {d} per hash); pairs farther than {d}: {bad}"
    )
    planted_codes = planted[:, 0] * n + planted[:, 1]
    within = popcount_distance(h, planted[:, 0], planted[:, 1]) <= d
    planted_found = np.isin(planted_codes[within], found).mean() if within.any() else 1.0
    per_kind = ", ".join(
        f"{name} {within[kinds == k].mean():.3f}" for k, name in enumerate(TRANSFORMS) if (kinds == k).any()
    )
    print(
        f"  planted copies: {int(within.sum()):,} of {len(planted):,} within {d} ({per_kind}); "
        f"found {planted_found:.4f} of those"
    )
    if args.imagededup_n <= 0:
        return
    try:
        import imagededup  # noqa: F401
    except ImportError:
        print('imagededup not installed: pip install ".[bench]" (skipping the comparison)')
        return
    m = args.imagededup_n
    hs, _, _ = population(
        m, max(1, args.pairs * m // args.n), args.family_size, args.jitter, args.seed + 1, args.cache
    )
    theirs_codes: dict[str, np.ndarray] = {}

    def theirs_run() -> float:
        started = time.perf_counter()
        theirs_codes["last"] = imagededup_search(hs, d, args.imagededup_method)
        return time.perf_counter() - started

    configs = [
        duckdb_config(hs, False),
        Config(
            f"imagededup n={m:,}",
            theirs_run,
            warm=lambda: imagededup_search(hs[:1000], d, args.imagededup_method),
        ),
    ]
    side = compare(configs, repeats=args.repeats, warmup=args.warmup)
    ours_t, theirs_t = side[configs[0].name], side[configs[1].name]
    ours_codes = last_codes[m]
    agree = (
        "identical"
        if np.array_equal(ours_codes, theirs_codes["last"])
        else f"DIFFER (duckdb {len(ours_codes):,}, imagededup {len(theirs_codes['last']):,})"
    )
    print(
        f"at n={m:,} (both measured): duckdb load + search {ours_t.describe()}; imagededup "
        f"({args.imagededup_method}) {theirs_t.describe()}; ratio of min times {theirs_t.min / ours_t.min:.1f}x; "
        f"pair sets {agree} ({len(ours_codes):,} pairs)"
    )


# --------------------------------------------------------------------------- calibration


def _distinct_images() -> dict[str, object]:
    from PIL import Image, ImageDraw

    out: dict[str, Image.Image] = {}
    try:
        import skimage.data as sd

        root = Path(sd.__file__).parent
        skip = ("chessboard", "no_time", "lbp", "multipage", "phantom")
        for p in sorted(itertools.chain(root.glob("*.png"), root.glob("*.jpg"))):
            if p.name.startswith(skip):
                continue
            im = Image.open(p).convert("RGB")
            out[p.name] = im
            w, h = im.size
            if min(w, h) >= 400:  # 3x3 crops: different content, same photographic style
                for i, j in itertools.product(range(3), range(3)):
                    out[f"{p.name}_c{i}{j}"] = im.crop(
                        (i * w // 3, j * h // 3, (i + 1) * w // 3, (j + 1) * h // 3)
                    )
        faces = np.load(root / "lfw_subset.npy")  # 200 tiny grey faces: many similar images
        for i, f in enumerate(faces):
            out[f"lfw{i}"] = (
                Image.fromarray((f * 255).astype(np.uint8)).convert("RGB").resize((100, 100), Image.BICUBIC)
            )
    except ImportError:
        print("(scikit-image not installed: synthetic images only)")
    for s in range(300):
        rng = np.random.default_rng(s)
        size = 256
        y, x = np.mgrid[0:size, 0:size] / size
        a = rng.uniform(0, 2 * np.pi)
        t = np.cos(a) * x + np.sin(a) * y
        t = (t - t.min()) / (t.max() - t.min())
        arr = rng.integers(0, 256, 3) * (1 - t[..., None]) + rng.integers(0, 256, 3) * t[..., None]
        im = Image.fromarray(arr.astype(np.uint8))
        draw = ImageDraw.Draw(im)
        for _ in range(int(rng.integers(2, 6))):
            x0, y0 = rng.integers(0, size - 40, 2)
            box = (int(x0), int(y0), int(x0 + rng.integers(20, 150)), int(y0 + rng.integers(20, 150)))
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            (draw.ellipse if rng.integers(0, 2) else draw.rectangle)(box, fill=fill)
        noisy = np.asarray(im).astype(float) + rng.normal(0, 6, (size, size, 3))
        out[f"syn{s}"] = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return out


def calibrate(args: argparse.Namespace) -> None:
    from PIL import Image, ImageEnhance, ImageFilter

    from hvgen.stages.build.fingerprints import fingerprint_image

    def jpeg(im, q):
        b = io.BytesIO()
        im.save(b, "JPEG", quality=q)
        return Image.open(io.BytesIO(b.getvalue())).convert("RGB")

    def noise(im, s):
        a = np.asarray(im).astype(float)
        a = a + np.random.default_rng(0).normal(0, s, a.shape)
        return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))

    def rs(im, f):
        return im.resize((max(8, int(im.width * f)), max(8, int(im.height * f))), Image.BICUBIC)

    def crop(im, f):
        dx, dy = int(im.width * f), int(im.height * f)
        return im.crop((dx, dy, im.width - dx, im.height - dy))

    transforms = {
        "resize x0.5": lambda im: rs(im, 0.5),
        "resize x0.25": lambda im: rs(im, 0.25),
        "resize x2": lambda im: rs(im, 2),
        "JPEG q90": lambda im: jpeg(im, 90),
        "JPEG q75": lambda im: jpeg(im, 75),
        "JPEG q50": lambda im: jpeg(im, 50),
        "noise sigma 3": lambda im: noise(im, 3),
        "noise sigma 8": lambda im: noise(im, 8),
        "blur r1": lambda im: im.filter(ImageFilter.GaussianBlur(1)),
        "brightness x1.1": lambda im: ImageEnhance.Brightness(im).enhance(1.1),
        "resize+q75+noise3": lambda im: noise(jpeg(rs(im, 0.5), 75), 3),
        "crop 2% (not a dup)": lambda im: crop(im, 0.02),
    }
    images = _distinct_images()
    names = list(images)
    hashes = {k: fingerprint_image(v).phash for k, v in images.items()}
    u = np.array([hashes[k] for k in names], dtype=np.int64).view(np.uint64)
    x = u[:, None] ^ u[None, :]
    dist = np.zeros(x.shape, dtype=np.int64)
    for b in range(64):
        dist += ((x >> np.uint64(b)) & np.uint64(1)).astype(np.int64)
    iu = np.triu_indices(len(names), 1)
    dd = dist[iu]
    print(
        f"{len(names)} distinct images, {len(dd):,} pairs: median {np.median(dd):.0f}, "
        f"0.1% quantile {np.quantile(dd, 0.001):.0f}, min {dd.min()}"
    )
    print("  distinct pairs within d: " + ", ".join(f"{t}: {(dd <= t).sum()}" for t in (2, 4, 6, 8, 10, 12)))
    for c in np.argsort(dd, kind="stable")[:5]:
        print(f"    closest: {names[iu[0][c]]} ~ {names[iu[1][c]]}: {dd[c]}")
    print(f"{'copy':22s} {'max':>4s} {'p99':>5s} {'mean':>5s}   share within d = 4 / 6 / 8 / 10")
    for tname, f in transforms.items():
        ds = np.array(
            [
                bin((hashes[k] ^ fingerprint_image(f(im)).phash) & (2**64 - 1)).count("1")
                for k, im in images.items()
            ]
        )
        shares = " / ".join(f"{np.mean(ds <= t):.3f}" for t in (4, 6, 8, 10))
        print(f"{tname:22s} {ds.max():4d} {np.quantile(ds, 0.99):5.1f} {ds.mean():5.2f}   {shares}")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000, help="hashes for the main run")
    ap.add_argument("--pairs", type=int, default=10_000, help="planted near-duplicate pairs at --n")
    ap.add_argument(
        "--family-size", type=int, default=20, help="scenes per family (perturbations of one base)"
    )
    ap.add_argument(
        "--jitter", type=float, default=0.02, help="perturbation within a family (fraction of side)"
    )
    ap.add_argument("--hamming", type=int, default=DEFAULT_HAMMING)
    ap.add_argument("--bands", type=int, default=None, help="force the number of bands (default: cost model)")
    ap.add_argument("--sample", type=int, default=2000, help="hashes whose pairs are checked by brute force")
    ap.add_argument("--imagededup-n", type=int, default=20_000, help="hashes for the side-by-side (0: skip)")
    ap.add_argument(
        "--imagededup-method",
        default="brute_force_cython",
        choices=["brute_force_cython", "bktree", "brute_force"],
        help="imagededup search method (its default on Linux: brute_force_cython)",
    )
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hvgen" / "bench-dedup",
        help="where generated hash populations are kept",
    )
    ap.add_argument("--calibrate", action="store_true", help="measure pHash distances for --hamming instead")
    args = ap.parse_args(argv)
    if args.calibrate:
        calibrate(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
