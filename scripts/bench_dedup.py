#!/usr/bin/env python
"""Benchmark hvgen's near-duplicate search (DuckDB, multi-index bands) and calibrate --hamming.

Default mode:
  1. N (default 1,000,000) random 64-bit hashes with P planted near-duplicate pairs (each a copy
     of a random hash with 0..d random bits flipped): time of `near_duplicate_pairs` and recall
     on the planted pairs (goal: <= 60 s on 2 cores, recall >= 0.99).
  2. The same task side by side with imagededup 0.3.3 (`PHash().find_duplicates(encoding_map=...,
     max_distance_threshold=d)`, a quadratic brute-force search) at --imagededup-n hashes
     (default 20,000: 100,000 takes ~15 min here). Its time is extrapolated quadratically to
     --compare-n (default 100,000), where ours is measured, and the printout says so.

--calibrate: pHash distances of transformed copies (resize, JPEG, noise, blur, ...) vs distinct
images, the measurement behind hvgen.dedup.DEFAULT_HAMMING.

    python scripts/bench_dedup.py                       # 1M + imagededup side by side
    python scripts/bench_dedup.py --n 100000 --imagededup-n 5000
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hvgen.stages.build.dedup import DEFAULT_HAMMING, near_duplicate_pairs, plan_bands  # noqa: E402
from hvgen.stages.build.fingerprints import phash_to_hex  # noqa: E402


def make_hashes(n: int, planted: int, d: int, seed: int) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """n random signed int64 hashes; `planted` pairs (src, dst) with dst = src ^ (<= d bits)."""
    planted = min(planted, n // 2)
    rng = np.random.default_rng(seed)
    h = rng.integers(np.iinfo(np.int64).min, np.iinfo(np.int64).max, size=n, dtype=np.int64, endpoint=True)
    idx = rng.permutation(n)[: 2 * planted]
    pairs = []
    u = h.view(np.uint64)
    for src, dst in zip(idx[:planted], idx[planted:], strict=True):
        k = int(rng.integers(0, d + 1))
        mask = 0
        for b in rng.choice(64, size=k, replace=False):
            mask |= 1 << int(b)
        u[dst] = u[src] ^ np.uint64(mask)
        pairs.append((int(min(src, dst)), int(max(src, dst))))
    return h, pairs


def duckdb_search(h: np.ndarray, d: int, bands: int | None) -> tuple[set[tuple[int, int]], float, float, str]:
    con = duckdb.connect()
    t0 = time.perf_counter()
    con.register("h_arrow", pa.table({"image_id": np.arange(len(h), dtype=np.int64), "phash": h}))
    con.execute("CREATE TABLE hashes AS SELECT * FROM h_arrow")
    t1 = time.perf_counter()
    plan = plan_bands(d, bands, n=len(h))
    rel = near_duplicate_pairs(con, "hashes", d, bands)
    found = {(int(a), int(b)) for a, b, _ in rel.fetchall()}
    t2 = time.perf_counter()
    con.close()
    desc = plan.describe()
    return found, t1 - t0, t2 - t1, desc


def _imagededup_hamming(hash1: str, hash2: str) -> float:
    """imagededup's `Hashing.hamming_distance` (same semantics). Importing it from
    `imagededup.methods` would also import its CNN module, which downloads MobileNet weights at
    import time (impossible offline); the Cython brute force computes distances natively anyway."""
    return bin(int(hash1, 16) ^ int(hash2, 16)).count("1")


def imagededup_search(h: np.ndarray, d: int, method: str) -> tuple[set[tuple[int, int]], float]:
    """What `PHash().find_duplicates(encoding_map=..., max_distance_threshold=d)` runs:
    `HashEval(test=enc, queries=enc, ...)` with all CPU cores."""
    import logging

    from imagededup.handlers.search.retrieval import HashEval

    logging.getLogger("imagededup.handlers.search.retrieval").setLevel(logging.WARNING)
    enc = {str(i): phash_to_hex(int(v)) for i, v in enumerate(h)}
    t0 = time.perf_counter()
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
    dt = time.perf_counter() - t0
    found = {(min(int(a), int(b)), max(int(a), int(b))) for a, bs in dups.items() for b in bs}
    return found, dt


def bench(args: argparse.Namespace) -> None:
    d = args.hamming
    print(
        f"# hvgen near-duplicate search benchmark (d = {d}, {os.cpu_count()} CPU cores, duckdb {duckdb.__version__})"
    )
    h, planted = make_hashes(args.n, args.pairs, d, args.seed)
    found, t_load, t_search, desc = duckdb_search(h, d, args.bands)
    recall = sum(p in found for p in planted) / max(len(planted), 1)
    print(
        f"duckdb   n={args.n:>9,}  {desc}: load {t_load:.2f} s, search {t_search:.2f} s, "
        f"pairs found {len(found):,}, recall on {len(planted):,} planted pairs = {recall:.4f}"
    )
    if args.imagededup_n <= 0:
        return
    try:
        import imagededup  # noqa: F401
    except ImportError:
        print(
            "imagededup not installed: pip install imagededup==0.3.3 'setuptools<81' (skipping the comparison)"
        )
        return
    m = args.imagededup_n
    hs, planted_s = make_hashes(m, max(1, args.pairs * m // args.n), d, args.seed + 1)
    ours_s, _, t_ours_s, _ = duckdb_search(hs, d, args.bands)
    theirs_s, t_theirs_s = imagededup_search(hs, d, args.imagededup_method)
    agree = "identical" if ours_s == theirs_s else f"DIFFER (ours {len(ours_s)}, imagededup {len(theirs_s)})"
    print(
        f"at n={m:,}: duckdb {t_ours_s:.2f} s, imagededup ({args.imagededup_method}) {t_theirs_s:.2f} s "
        f"(ratio {t_theirs_s / t_ours_s:.1f}x); pair sets {agree}"
    )
    c = args.compare_n
    hc, _ = make_hashes(c, max(1, args.pairs * c // args.n), d, args.seed + 2)
    _, _, t_ours_c, _ = duckdb_search(hc, d, args.bands)
    if m >= c:
        t_theirs_c, how = t_theirs_s, "measured"
    else:
        t_theirs_c, how = (
            t_theirs_s * (c / m) ** 2,
            f"EXTRAPOLATED from n={m:,} as t*(n/{m:,})^2 (quadratic search)",
        )
    print(
        f"at n={c:,}: duckdb {t_ours_c:.2f} s (measured), imagededup {t_theirs_c:.1f} s ({how}) "
        f"-> duckdb is {t_theirs_c / t_ours_c:.0f}x faster"
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
    ap.add_argument("--hamming", type=int, default=DEFAULT_HAMMING)
    ap.add_argument("--bands", type=int, default=None, help="force the number of bands (default: cost model)")
    ap.add_argument("--imagededup-n", type=int, default=20_000, help="hashes for imagededup (0: skip)")
    ap.add_argument(
        "--imagededup-method",
        default="brute_force_cython",
        choices=["brute_force_cython", "bktree", "brute_force"],
        help="imagededup search method (its default on Linux: brute_force_cython)",
    )
    ap.add_argument("--compare-n", type=int, default=100_000, help="size of the side-by-side comparison")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--calibrate", action="store_true", help="measure pHash distances for --hamming instead")
    args = ap.parse_args(argv)
    if args.calibrate:
        calibrate(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
