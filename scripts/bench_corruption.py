"""Throughput of hvgen's ImageNet-C corruption kernels vs the `imagecorruptions` package.

Both run in this one process on the same images, severities (cycled 1–5) and seeds, one type
at a time, timed in CPU seconds (`time.process_time`: all threads of this process, so a busy
shared machine and OpenCV's worker threads are both accounted for). Per type there are three
configurations — **hvgen stage**: what the scenario stage does per image between decoding and
encoding the PNG (it decodes to an array, `hvgen.store.pixels`, calls the array kernel and
compares the result with the clean pixels); **PIL API**: `apply_corruption` on a PIL image,
with its PIL↔numpy conversions; **imagecorruptions** on numpy arrays (its native input, seeded
through `np.random.seed`, the only RNG it uses) — each warmed up, then timed in alternated
rounds (`_timing.py`). The table shows min and median images/s and the speed-up of the stage
path over imagecorruptions on the min times; the summary gives the geometric mean of the
per-type speed-ups (the typical factor; every type counts once) and the ratio of total times
(dominated by the slowest types). A last table times the PNG decoding and encoding the stage
pays per image on either side of the kernel (the same for every type, and for any library).

**Where the two sides do different work.** The ImageNet-C tables were calibrated at 224². At any
other size hvgen scales the pixel-sized parameters by min(H, W)/224 (blur kernels, elastic field,
glass-blur shifts) or draws a layer at 224² and resizes it (snow, spatter), so that a 1024² image
gets the same *relative* damage, while imagecorruptions applies the 224² numbers as they are (a
blur of a few pixels on a 1024² image, full-size snow layers). At 224² both do the same
computation; at other sizes the rows marked `*` compare different computations (hvgen does more
work for the scaled kernels and less for the 224² layers), and the summary also gives the
geometric mean over the like-for-like types only.

imagecorruptions 1.1.2 needs ``setuptools<81`` (it imports pkg_resources); on numpy 2 /
scikit-image ≥ 0.19 three of its corruptions raise (glass_blur, gaussian_blur: `multichannel`;
fog: `np.float_`). Each type is probed once: types that raise are timed for hvgen only and
listed. `frost` is not compared (hvgen does not ship the frost photographs).

    pip install ".[bench]"
    python scripts/bench_corruption.py --num 200 --size 224
    python scripts/bench_corruption.py --num 10 --size 1024 --goal 10
    python scripts/bench_corruption.py --num 20 --size 1024 --types gaussian_noise,motion_blur
"""

from __future__ import annotations

import argparse
import io
import os
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFilter

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Config, compare, geometric_mean, machine  # noqa: E402

from hvgen.scenarios.corruption import PRESETS, apply_corruption, corrupt_array  # noqa: E402
from hvgen.store.atomic import encode_png  # noqa: E402
from hvgen.store.pixels import decode_rgb, same_pixels, to_image  # noqa: E402

SCALED_WITH_SIZE = {
    "defocus_blur": "disk radius × min(H,W)/224",
    "glass_blur": "blur σ and pixel shifts × min(H,W)/224",
    "motion_blur": "kernel length × min(H,W)/224",
    "gaussian_blur": "σ × min(H,W)/224",
    "elastic_transform": "displacement α and σ × min(H,W)/224",
    "snow": "flake layer drawn at 224² and resized (imagecorruptions: full size)",
    "spatter": "liquid layer drawn at 224² and resized (imagecorruptions: full size)",
}
"""Types whose work at sizes other than 224² differs between the two sides (see the docstring)."""


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


def _loop(function: Callable[[int], object], count: int) -> Callable[[], float]:
    """One round: `function(i)` for every image, in CPU seconds of this process."""

    def run() -> float:
        start = time.process_time()
        for i in range(count):
            function(i)
        return time.process_time() - start

    return run


def stage_path(arrays: list[np.ndarray], name: str) -> Callable[[int], object]:
    """The scenario stage's per-image pixel work (`CorruptionScenario.apply_batch` on an array
    input, then the stage's "identical to the clean image?" check), for a fixed type."""

    def run(i: int) -> bool:
        return same_pixels(corrupt_array(arrays[i], name, i % 5 + 1, seed=i), arrays[i])

    return run


def configs_for(name: str, images: list[Image.Image], arrays: list[np.ndarray], corrupt) -> list[Config]:
    """The configurations of one type; `corrupt` is None when imagecorruptions cannot run it."""
    count = len(images)
    result = [
        Config("hvgen", _loop(stage_path(arrays, name), count)),
        Config("PIL API", _loop(lambda i: apply_corruption(images[i], name, i % 5 + 1, seed=i), count)),
    ]
    if corrupt is not None:

        def theirs(i: int) -> None:
            np.random.seed(i)
            corrupt(arrays[i], corruption_name=name, severity=i % 5 + 1)

        result.append(Config("imagecorruptions", _loop(theirs, count)))
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=200, help="images per corruption type")
    parser.add_argument("--size", type=int, default=224, help="image side (ImageNet-C tables assume 224)")
    parser.add_argument("--types", default="all", help="comma-separated subset of imagenet-c types")
    parser.add_argument("--goal", type=float, default=3.0, help="target speed-up")
    parser.add_argument("--repeats", type=int, default=3, help="alternated timing rounds per type (>= 3)")
    parser.add_argument("--warmup", type=int, default=1, help="discarded warm-up runs per configuration")
    args = parser.parse_args(argv)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from imagecorruptions import corrupt, get_corruption_names

    theirs_names = set(get_corruption_names("all"))
    names = list(PRESETS["imagenet-c"]) if args.types == "all" else args.types.split(",")
    images = make_images(args.num, args.size)
    arrays = [np.array(im) for im in images]
    different = args.size != 224

    print(f"# corruption benchmark — {machine()}, cv2 threads={cv2.getNumThreads()}")
    print(f"load average at start: {_load()}")
    print(
        f"{args.num} images of {args.size}x{args.size} per type, severities cycled 1-5; {args.warmup} warm-up + "
        f"{args.repeats} alternated rounds per configuration; images per CPU second as min-time / median-time"
    )
    header = (
        f"{'corruption':<19} {'hvgen stage':>16} {'(PIL API)':>16} {'imagecorr img/s':>16} {'speed-up':>9}"
    )
    print(header)
    print("-" * len(header))
    broken: list[str] = []
    below: list[str] = []
    ratios: dict[str, float] = {}
    totals = {"hvgen": 0.0, "imagecorruptions": 0.0}
    warnings.simplefilter("ignore")
    for name in names:
        runs_theirs = name in theirs_names
        if runs_theirs:
            try:
                corrupt(arrays[0], corruption_name=name, severity=3)
            except Exception as exc:  # the package's numpy-2 incompatibilities
                broken.append(f"{name} ({type(exc).__name__}: {str(exc)[:60]})")
                runs_theirs = False
        results = compare(
            configs_for(name, images, arrays, corrupt if runs_theirs else None),
            repeats=args.repeats,
            warmup=args.warmup,
        )

        def rate(config: str, results=results) -> str:
            timing = results[config]
            return f"{args.num / timing.min:7.1f}/{args.num / timing.median:<7.1f}"

        mark = "*" if different and name in SCALED_WITH_SIZE else ""
        label = f"{name}{mark}"
        if not runs_theirs:
            print(f"{label:<19} {rate('hvgen'):>16} {rate('PIL API'):>16} {'n/a':>16}")
            continue
        ratio = results["imagecorruptions"].min / results["hvgen"].min
        ratios[name] = ratio
        totals["hvgen"] += results["hvgen"].min
        totals["imagecorruptions"] += results["imagecorruptions"].min
        if ratio < args.goal:
            below.append(name)
        print(
            f"{label:<19} {rate('hvgen'):>16} {rate('PIL API'):>16} {rate('imagecorruptions'):>16} {ratio:>8.2f}x"
        )
    print("-" * len(header))
    if ratios:
        print(
            f"speed-up over {len(ratios)} compared types: geometric mean {geometric_mean(list(ratios.values())):.2f}x, "
            f"total time {totals['imagecorruptions']:.2f} s / {totals['hvgen']:.2f} s = "
            f"{totals['imagecorruptions'] / totals['hvgen']:.2f}x, "
            f"range {min(ratios.values()):.1f}x ({min(ratios, key=ratios.get)}) – "
            f"{max(ratios.values()):.1f}x ({max(ratios, key=ratios.get)})"
        )
        if different:
            same = [r for n, r in ratios.items() if n not in SCALED_WITH_SIZE]
            print(
                f"  like-for-like types only (no * row): geometric mean {geometric_mean(same):.2f}x over {len(same)}"
            )
            print("  * different work at this size:")
            for type_name, how in SCALED_WITH_SIZE.items():
                if type_name in ratios:
                    print(f"    {type_name}: hvgen {how}")
    if broken:
        print("not comparable (imagecorruptions raises):", "; ".join(broken))
    missing = [n for n in names if n not in theirs_names]
    if missing:
        print("not in imagecorruptions:", ", ".join(missing))
    print(f"below the {args.goal:g}x goal:", ", ".join(below) if below else "none")
    slower = [n for n, r in ratios.items() if r < 1.0]
    print("slower than imagecorruptions:", ", ".join(slower) if slower else "none")
    png_io(images, arrays, args)
    print(f"load average at end: {_load()}")


def png_io(images: list[Image.Image], arrays: list[np.ndarray], args: argparse.Namespace) -> None:
    """CPU time of the PNG decoding/encoding around the kernel, per image (same for all types)."""
    count = len(images)
    data = [encode_png(im) for im in images]

    def pil_decode(i: int) -> np.ndarray:
        with Image.open(io.BytesIO(data[i])) as image:
            return np.asarray(image.convert("RGB"))

    results = compare(
        [
            Config("decode: Pillow convert(RGB) + asarray (before)", _loop(pil_decode, count)),
            Config("decode: hvgen.store.pixels (OpenCV libpng)", _loop(lambda i: decode_rgb(data[i]), count)),
            Config(
                "encode: Pillow PNG level 6 (both)", _loop(lambda i: encode_png(to_image(arrays[i])), count)
            ),
        ],
        repeats=args.repeats,
        warmup=args.warmup,
    )
    print(f"PNG I/O per {args.size}x{args.size} image (CPU ms, min / median):")
    for name, timing in results.items():
        print(f"  {name:<50} {1000 * timing.min / count:8.2f} / {1000 * timing.median / count:.2f}")


def _load() -> str:
    return " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"


if __name__ == "__main__":
    main()
