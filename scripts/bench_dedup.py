#!/usr/bin/env python
"""Benchmark hvgen's near-duplicate dedup on realistic pHashes at 1M / 4M / 10M, side by side
with the previous implementation and imagededup, checked against a brute force of the rule.

**Population** (`_dedup_population.py`): pHashes of rendered scenes in families of near-copies,
plus planted real image copies (Pillow + JPEG / resize / blur); ~20 us of CPU per hash, in a
process pool, cached (``--cache``). One population of the largest size is made; a size n is its
first n images in id order (ids are shuffled, so: a random subset of its families, as a growing
dataset is).

**What is timed**, each size in a fresh child process (so its peak RSS is its own):
``near_duplicate_drops`` = load the (id, pHash) table into DuckDB, read it back in id order,
decide, write the drops table — the whole near-duplicate pass of `hvgen build` — with CPU
seconds (``time.process_time``: all threads of the process) and wall seconds. The growth
exponent is the least-squares slope of log(CPU s) against log(n) over the measured sizes;
nothing is extrapolated. The previous implementation (DuckDB band join of all pairs + SQL
greedy, read from git at ``--old-ref``) runs at the sizes where it is feasible (``--old-sizes``),
in the same kind of child process, and both drop sets are compared whole.

**Correctness.** (1) Brute force of the rule (visit in id order, drop if within d of an earlier
kept hash) on ``--subsets`` random subsets of ``--subset-n`` hashes: kept set, named image and
distance must be equal. (2) At every size, on ``--sample`` random images: a kept image has no
earlier kept image within d, and a dropped one names the earliest kept image within d (numpy
popcount against the whole kept set). (3) imagededup 0.3.3 at ``--imagededup-n``:
``find_duplicates_to_remove`` visits images in the encoding map's order and removes the
duplicates of every image not yet removed, i.e. the same rule; its drop set must equal ours.

    python scripts/bench_dedup.py                                   # 1M, 4M, 10M (+ old at 250k, 1M)
    python scripts/bench_dedup.py --sizes 200000 1000000 --old-sizes 200000
    python scripts/bench_dedup.py --calibrate
"""

from __future__ import annotations

import argparse
import io
import itertools
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _dedup_population import LAYOUTS, TRANSFORMS, population  # noqa: E402
from _timing import growth_exponent, machine  # noqa: E402

from hvgen.stages.build.dedup import DEFAULT_HAMMING  # noqa: E402
from hvgen.stages.build.near_duplicates import greedy_near_duplicates  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- one timed run


def _ids(n: int) -> list[str]:
    return [f"img{i:08d}" for i in range(n)]


def _load_old(ref: str):
    """The dedup module as it was at git `ref` (the all-pairs DuckDB implementation)."""
    import importlib.util

    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:hvgen/stages/build/dedup.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"hvgen_old_dedup_{ref}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(f"hvgen_old_dedup_{ref}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def child(args: argparse.Namespace) -> None:
    """Time one implementation on the first `--n` hashes; print one JSON line."""
    import resource

    import duckdb
    import pyarrow as pa

    hashes = np.load(args.population)["hashes"][: args.n]
    con = duckdb.connect()
    started_cpu, started = time.process_time(), time.perf_counter()
    con.register("h_arrow", pa.table({"image_id": _ids(len(hashes)), "phash": hashes}))
    con.execute("CREATE TABLE hashes AS SELECT * FROM h_arrow")
    con.unregister("h_arrow")
    if args.impl == "new":
        from hvgen.stages.build.dedup import near_duplicate_drops

        plan = near_duplicate_drops(con, "hashes", args.hamming, into="drops")
    else:
        old = _load_old(args.old_ref)
        old.near_duplicate_pairs(con, "hashes", args.hamming, into="pairs")
        old.greedy_near_drops(con, "pairs", "drops")
        plan = "all pairs (DuckDB band join) + SQL greedy"
    rows = con.execute("SELECT id, collided_with, distance FROM drops").fetchnumpy()
    cpu, wall = time.process_time() - started_cpu, time.perf_counter() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2  # KiB -> GiB
    dropped = np.sort(np.array([int(s[3:]) for s in rows["id"]], dtype=np.int64))
    np.save(args.out, dropped)
    print(json.dumps({"cpu": cpu, "wall": wall, "rss_gib": rss, "dropped": len(dropped), "plan": plan}))


def run_child(impl: str, n: int, population_file: Path, args: argparse.Namespace) -> tuple[dict, np.ndarray]:
    out = Path(os.environ.get("TMPDIR", "/tmp")) / f"bench_dedup_{impl}_{n}_{os.getpid()}.npy"
    command = [sys.executable, __file__, "--child", impl, "--n", str(n), "--population", str(population_file)]
    command += ["--hamming", str(args.hamming), "--old-ref", args.old_ref, "--out", str(out)]
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    dropped = np.load(out)
    out.unlink()
    return result, dropped


# --------------------------------------------------------------------------- checks


def brute_rule(codes: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept_by, distance): visit in order, drop if within d of a kept one (the earliest named)."""
    u = codes.view(np.uint64)
    kept = np.empty(len(u), dtype=np.int64)
    count = 0
    kept_by = np.full(len(u), -1, dtype=np.int64)
    distance = np.zeros(len(u), dtype=np.int64)
    for i, code in enumerate(u):
        dist = np.bitwise_count(u[kept[:count]] ^ code)
        within = np.flatnonzero(dist <= d)
        if len(within):
            kept_by[i], distance[i] = kept[within[0]], dist[within[0]]
        else:
            kept[count] = i
            count += 1
    return kept_by, distance


def check_subsets(hashes: np.ndarray, d: int, subsets: int, size: int, seed: int) -> str:
    rng = np.random.default_rng(seed)
    for _ in range(subsets):
        pick = np.sort(rng.choice(len(hashes), size=min(size, len(hashes)), replace=False))
        ours = greedy_near_duplicates(hashes[pick], d)
        kept_by, distance = brute_rule(hashes[pick], d)
        if not (np.array_equal(ours.kept_by, kept_by) and np.array_equal(ours.distance, distance)):
            raise AssertionError(f"differs from the brute force on a subset of {len(pick):,}")
    return f"{subsets} random subsets of {size:,}: kept sets, named images and distances equal"


def check_sampled(hashes: np.ndarray, dropped: np.ndarray, d: int, sample: int, seed: int) -> str:
    """At full size: sampled images obey the rule against the whole kept set."""
    n = len(hashes)
    kept_mask = np.ones(n, dtype=bool)
    kept_mask[dropped] = False
    kept = np.flatnonzero(kept_mask)
    u = hashes.view(np.uint64)
    rng = np.random.default_rng(seed)
    for i in rng.choice(n, size=min(sample, n), replace=False):
        earlier = kept[kept < i]
        within = earlier[np.bitwise_count(u[earlier] ^ u[i]) <= d]
        if kept_mask[i] == bool(len(within)):
            raise AssertionError(f"image {i}: kept={kept_mask[i]} but {len(within)} earlier kept within {d}")
    return f"{min(sample, n):,} sampled images obey the rule against all {len(kept):,} kept"


def _imagededup_hamming(hash1: str, hash2: str) -> float:
    """imagededup's `Hashing.hamming_distance` (same semantics). Importing it from
    `imagededup.methods` would also import its CNN module, which downloads MobileNet weights at
    import time (impossible offline); the Cython brute force computes distances natively anyway."""
    return bin(int(hash1, 16) ^ int(hash2, 16)).count("1")


def imagededup_side_by_side(hashes: np.ndarray, d: int) -> str:
    import logging

    from imagededup.handlers.search.retrieval import HashEval
    from imagededup.utils.general_utils import get_files_to_remove

    from hvgen.stages.build.fingerprints import phash_to_hex

    logging.getLogger("imagededup.handlers.search.retrieval").setLevel(logging.WARNING)
    ids = _ids(len(hashes))
    cpu0, wall0 = time.process_time(), time.perf_counter()
    ours = greedy_near_duplicates(hashes, d)
    ours_cpu, ours_wall = time.process_time() - cpu0, time.perf_counter() - wall0
    encodings = {ids[i]: phash_to_hex(int(v)) for i, v in enumerate(hashes)}  # insertion order = id order
    cpu0, wall0 = time.process_time(), time.perf_counter()
    evaluator = HashEval(
        test=encodings,
        queries=encodings,
        distance_function=_imagededup_hamming,
        verbose=False,
        threshold=d,
        search_method="brute_force_cython",
        num_dist_workers=os.cpu_count() or 1,
    )
    removed = set(get_files_to_remove(evaluator.retrieve_results(scores=False)))
    theirs_wall = time.perf_counter() - wall0
    ours_removed = {ids[i] for i in np.flatnonzero(~ours.kept)}
    same = "identical" if removed == ours_removed else f"DIFFER ({len(ours_removed):,} vs {len(removed):,})"
    return (
        f"imagededup 0.3.3 find_duplicates_to_remove at n={len(hashes):,}: {theirs_wall:.1f} s wall "
        f"(its worker processes' CPU is not in our process_time); ours {ours_cpu:.2f} CPU s / {ours_wall:.2f} s "
        f"wall; ratio of wall times {theirs_wall / ours_wall:.0f}x; drop sets {same} ({len(removed):,} dropped)"
    )


# --------------------------------------------------------------------------- benchmark


def bench(args: argparse.Namespace) -> None:
    d = args.hamming
    print(f"# hvgen near-duplicate dedup benchmark — {machine()}, d = {d}")
    print(f"# load average at start: {os.getloadavg()[0]:.1f} (CPU seconds are the comparable numbers)")
    n_max = max(args.sizes + args.old_sizes)
    hashes, planted, kinds = population(
        n_max, pairs=args.pairs, family_size=args.family_size, jitter=args.jitter, seed=args.seed,
        layout=args.layout, cache=args.cache, workers=args.workers,
    )  # fmt: skip
    population_file = args.cache / "bench-current.npy.npz"
    args.cache.mkdir(parents=True, exist_ok=True)
    np.savez(population_file, hashes=hashes)
    within = (
        np.bitwise_count(hashes[planted[:, 0]].view(np.uint64) ^ hashes[planted[:, 1]].view(np.uint64)) <= d
    )
    per_kind = ", ".join(f"{name} {within[kinds == k].mean():.2f}" for k, name in enumerate(TRANSFORMS))
    print(f"planted real copies within d: {within.mean():.3f} ({per_kind})")

    print(f"\n{'impl':5s} {'n':>11s} {'CPU s':>8s} {'wall s':>8s} {'peak RSS':>9s} {'dropped':>11s}  plan")
    cpu: dict[str, dict[int, float]] = {"new": {}, "old": {}}
    drops: dict[tuple[str, int], np.ndarray] = {}
    for n in sorted(set(args.sizes) | set(args.old_sizes)):
        for impl in ("old", "new") if n in args.old_sizes else ("new",):
            if impl == "new" and n not in args.sizes:
                continue
            result, dropped = run_child(impl, n, population_file, args)
            cpu[impl][n], drops[impl, n] = result["cpu"], dropped
            print(
                f"{impl:5s} {n:>11,} {result['cpu']:8.1f} {result['wall']:8.1f} {result['rss_gib']:7.2f} GiB "
                f"{result['dropped']:>11,}  {result['plan']}",
                flush=True,
            )
        if n in args.old_sizes and n in args.sizes:
            same = np.array_equal(drops["old", n], drops["new", n])
            print(
                f"      old / new at n={n:,}: CPU {cpu['old'][n] / cpu['new'][n]:.1f}x; "
                f"drop sets {'identical' if same else 'DIFFER'}"
            )
        if n in args.sizes:
            print("      " + check_sampled(hashes[:n], drops["new", n], d, args.sample, args.seed + n))
    for impl, label in (("new", "this implementation"), ("old", "previous implementation")):
        sizes = sorted(cpu[impl])
        if len(sizes) >= 2:
            exponent = growth_exponent(sizes, [cpu[impl][n] for n in sizes])
            print(
                f"growth exponent of CPU time, {label}, n = {', '.join(f'{s:,}' for s in sizes)}: {exponent:.2f}"
            )
    print(check_subsets(hashes, d, args.subsets, args.subset_n, args.seed))
    if args.imagededup_n > 0:
        try:
            import imagededup  # noqa: F401
        except ImportError:
            print('imagededup not installed: pip install ".[bench]" (skipping the comparison)')
            return
        m = args.imagededup_n
        pick = np.sort(np.random.default_rng(args.seed + 1).choice(len(hashes), m, replace=False))
        print(imagededup_side_by_side(hashes[pick], d))


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
    dist = np.bitwise_count(u[:, None] ^ u[None, :])
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
    ap.add_argument("--sizes", type=int, nargs="+", default=[1_000_000, 4_000_000, 10_000_000])
    ap.add_argument("--old-sizes", type=int, nargs="*", default=[250_000, 1_000_000])
    ap.add_argument("--old-ref", default="8ed2b09", help="git revision of the previous implementation")
    ap.add_argument("--pairs", type=int, default=1000, help="planted real near-duplicate pairs")
    ap.add_argument(
        "--family-size", type=int, default=20, help="scenes per family (perturbations of one base)"
    )
    ap.add_argument(
        "--jitter", type=float, default=0.02, help="perturbation within a family (fraction of side)"
    )
    ap.add_argument(
        "--layout", choices=LAYOUTS, default="shuffled", help="family members spread or consecutive"
    )
    ap.add_argument("--hamming", type=int, default=DEFAULT_HAMMING)
    ap.add_argument("--sample", type=int, default=300, help="images checked against the whole kept set")
    ap.add_argument("--subsets", type=int, default=3, help="random subsets decided by brute force too")
    ap.add_argument("--subset-n", type=int, default=20_000, help="hashes per brute-force subset")
    ap.add_argument("--imagededup-n", type=int, default=20_000, help="hashes for the side-by-side (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None, help="processes that generate the population")
    ap.add_argument(
        "--cache",
        type=Path,
        default=Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "hvgen" / "bench-dedup",
        help="where generated hash populations are kept",
    )
    ap.add_argument("--calibrate", action="store_true", help="measure pHash distances for --hamming instead")
    ap.add_argument("--child", choices=["new", "old"], help=argparse.SUPPRESS)
    ap.add_argument("--n", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--population", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        args.impl = args.child
        child(args)
    elif args.calibrate:
        calibrate(args)
    else:
        bench(args)


if __name__ == "__main__":
    main()
