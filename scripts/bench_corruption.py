"""Throughput of hvgen's ImageNet-C corruption kernels vs the `imagecorruptions` package.

Both run in this one process on the same images, severities (cycled 1–5) and seeds, one type
at a time, and the table reports images/s and our speed-up. Ours is timed through the public
PIL API (`apply_corruption`, including the PIL↔numpy conversions the scenario stage pays);
imagecorruptions gets numpy arrays (its native input) and is seeded through `np.random.seed`
(it only uses the global RNG).

imagecorruptions 1.1.2 needs ``setuptools<81`` (it imports pkg_resources); on numpy 2 /
scikit-image ≥ 0.19 three of its corruptions raise (glass_blur, gaussian_blur: `multichannel`;
fog: `np.float_`). Each type is probed once: types that raise are timed for hvgen only and
listed. `frost` is not compared (hvgen does not ship the frost photographs). The speed-up uses
the PIL API; the "(array API)" column is `corrupt_array` on the same arrays imagecorruptions
gets, i.e. without Pillow's ~0.25 ms of conversions per 224² image.

    pip install imagecorruptions==1.1.2 'setuptools<81'
    PYTHONPATH=. python scripts/bench_corruption.py --num 200 --size 224
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from hvgen.scenarios.corruption import PRESETS, apply_corruption, corrupt_array


def make_images(num: int, size: int, seed: int = 0) -> list[Image.Image]:
    """Natural-ish test images: smooth colour gradients, filled shapes, mild texture."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    images = []
    for _ in range(num):
        c0, c1, c2 = rng.uniform(0, 255, (3, 3))
        base = xx[..., None] * c0 + yy[..., None] * c1 + (1 - xx * yy)[..., None] * c2 / 2
        base += rng.normal(0, 6, base.shape).astype(np.float32)
        im = Image.fromarray(np.clip(base, 0, 255).astype(np.uint8))
        draw = ImageDraw.Draw(im)
        for _ in range(int(rng.integers(3, 8))):
            x0, y0 = rng.uniform(0, size * 0.8, 2)
            w, h = rng.uniform(size * 0.1, size * 0.5, 2)
            fill = tuple(int(v) for v in rng.integers(0, 256, 3))
            box = [x0, y0, x0 + w, y0 + h]
            (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=fill)
        images.append(im.filter(ImageFilter.GaussianBlur(0.7)))
    return images


def time_ours(images: list[Image.Image], name: str) -> float:
    start = time.perf_counter()
    for i, im in enumerate(images):
        apply_corruption(im, name, i % 5 + 1, seed=i)
    return time.perf_counter() - start


def time_ours_array(arrays: list[np.ndarray], name: str) -> float:
    start = time.perf_counter()
    for i, arr in enumerate(arrays):
        corrupt_array(arr, name, i % 5 + 1, seed=i)
    return time.perf_counter() - start


def time_theirs(arrays: list[np.ndarray], name: str, corrupt) -> float:
    start = time.perf_counter()
    for i, arr in enumerate(arrays):
        np.random.seed(i)
        corrupt(arr, corruption_name=name, severity=i % 5 + 1)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=200, help="images per corruption type")
    parser.add_argument("--size", type=int, default=224, help="image side (ImageNet-C tables assume 224)")
    parser.add_argument("--types", default="all", help="comma-separated subset of imagenet-c types")
    parser.add_argument("--goal", type=float, default=3.0, help="target speed-up")
    parser.add_argument(
        "--rounds", type=int, default=3, help="alternating timing rounds per type; the best round counts"
    )
    args = parser.parse_args()

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from imagecorruptions import corrupt, get_corruption_names

    theirs_names = set(get_corruption_names("all"))
    names = list(PRESETS["imagenet-c"]) if args.types == "all" else args.types.split(",")
    images = make_images(args.num, args.size)
    arrays = [np.asarray(im) for im in images]

    print(
        f"{args.num} images of {args.size}x{args.size}, severities cycled 1-5, best of {args.rounds} rounds; "
        f"cpus={os.cpu_count()} cv2 threads={cv2.getNumThreads()}"
    )
    header = (
        f"{'corruption':<18} {'hvgen img/s':>12} {'(array API)':>12} {'imagecorr img/s':>16} {'speed-up':>9}"
    )
    print(header)
    print("-" * len(header))
    total_ours = total_theirs = 0.0
    broken: list[str] = []
    below: list[str] = []
    warnings.simplefilter("ignore")
    for name in names:
        # warm-up (kernel construction, lazy imports) is excluded from both timings
        apply_corruption(images[0], name, 3, seed=0)
        runs_theirs = name in theirs_names
        if runs_theirs:
            try:
                corrupt(arrays[0], corruption_name=name, severity=3)
            except Exception as exc:  # the package's numpy-2 incompatibilities
                broken.append(f"{name} ({type(exc).__name__}: {str(exc)[:60]})")
                runs_theirs = False
        # Alternate the two implementations and keep each one's best round, so a burst of load
        # from other processes on the machine does not decide the comparison.
        ours_runs, array_runs, theirs_runs = [], [], []
        for _ in range(args.rounds):
            ours_runs.append(time_ours(images, name))
            array_runs.append(time_ours_array(arrays, name))
            if runs_theirs:
                theirs_runs.append(time_theirs(arrays, name, corrupt))
        ours, ours_array = min(ours_runs), min(array_runs)
        theirs = min(theirs_runs) if theirs_runs else None
        if theirs is None:
            print(f"{name:<18} {args.num / ours:>12.1f} {args.num / ours_array:>12.1f} {'n/a':>16} {'':>9}")
            continue
        total_ours += ours
        total_theirs += theirs
        ratio = theirs / ours
        if ratio < args.goal:
            below.append(name)
        print(
            f"{name:<18} {args.num / ours:>12.1f} {args.num / ours_array:>12.1f} "
            f"{args.num / theirs:>16.1f} {ratio:>8.1f}x"
        )
    print("-" * len(header))
    if total_ours:
        n_types = len(names) - len(broken) - sum(n not in theirs_names for n in names)
        print(
            f"{'all compared':<18} {args.num * n_types / total_ours:>12.1f} {'':>12} "
            f"{args.num * n_types / total_theirs:>16.1f} {total_theirs / total_ours:>8.1f}x"
        )
    if broken:
        print("not comparable (imagecorruptions raises):", "; ".join(broken))
    missing = [n for n in names if n not in theirs_names]
    if missing:
        print("not in imagecorruptions:", ", ".join(missing))
    print(f"below the {args.goal:g}x goal:", ", ".join(below) if below else "none")


if __name__ == "__main__":
    main()
