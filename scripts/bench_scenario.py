"""Scenario-stage throughput at full resolution: image I/O in a thread pool vs one image at a time.

At 1024² a PNG encode costs 100–400 ms of CPU and a decode ~70 ms, far more than a corruption
kernel (~17 ms) or, on a GPU, an attack step: the stage is I/O-bound unless decoding and encoding
run in parallel and overlap the attack. This benchmark plans a real Dysca run (tiny model
settings, so nothing is downloaded), writes stand-in renders at the chosen size (smooth
gradients + texture + noise, encoded like real renders and logged in the render manifest, so the
stage sees a finished render), then times `hvgen scenario` per scenario:

* serial  — ``HVGEN_IO_THREADS=0``: each image decoded, transformed, encoded and written in turn
  (the stage before the I/O pool);
* pooled  — the default: decoding and encoding in a thread pool, writes overlapping the next
  batch's work.

Each configuration is warmed up once, then the two alternate for ``--repeats`` rounds (outputs
deleted between runs); min and median wall time and samples/s are printed, and the ratio of the
medians. The adversarial scenario uses the tiny random CLIP surrogate: its attack is cheap, so
this isolates the engine's I/O, which is what the GPU would otherwise wait on. By default only
the adversarial scenario is timed: corruption and print run one process per core that does its
own I/O, the same code in both configurations (`--scenarios corruption,print` shows the noise).

    python scripts/bench_scenario.py --num 12 --size 1024 --repeats 3
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from hvgen.cli import main as hvgen_main
from hvgen.store.atomic import save_png_atomic
from hvgen.store.catalog import open_catalog
from hvgen.store.manifest import ManifestWriter


def stand_in(size: int, seed: int) -> Image.Image:
    """A picture that compresses like a rendered one (not flat, not pure noise)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    a, b, c = rng.uniform(2, 9, 3)
    base = np.stack([np.sin(a * x + b * y), np.cos(b * y - c * x), np.sin(c * x * y + a)], -1) * 0.5 + 0.5
    texture = rng.normal(0, 0.03, (size, size, 3))
    return Image.fromarray((np.clip(base + texture, 0, 1) * 255).astype(np.uint8))


def make_run(root: Path, num: int, size: int) -> Path:
    run = root / "run"
    hvgen_main(
        ["dysca", "--model", "tiny", "--num", str(num), "--scenario", "all", "--out", str(run), "--dry-run"]
    )
    with open_catalog(run, read_only=True) as con:
        images = con.execute("SELECT image_id, path FROM images ORDER BY image_id").fetchall()
    with ManifestWriter(run / "manifests" / "render.00000-of-00001.jsonl") as log:
        for index, (image_id, path) in enumerate(images):
            written = save_png_atomic(stand_in(size, index), run / path)
            log.write_many(
                [
                    {
                        "image_id": image_id,
                        "path": path,
                        "width": size,
                        "height": size,
                        "model": "stand-in",
                        "seconds": 0.0,
                        **written.as_row(),
                    }
                ]  # fmt: skip
            )
    return run


def time_stage(run: Path, scenario: str, io_threads: str | None) -> tuple[float, int]:
    """Wall seconds of `hvgen scenario RUN --scenario S` in a fresh process, and samples made."""
    shutil.rmtree(run / "scenarios" / scenario, ignore_errors=True)
    for manifest in (run / "manifests").glob(f"scenario-{scenario}.*.jsonl"):
        manifest.unlink()
    env = {**os.environ, "HVGEN_NO_PROGRESS": "1"}
    env.pop("HVGEN_IO_THREADS", None)
    if io_threads is not None:
        env["HVGEN_IO_THREADS"] = io_threads
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "hvgen", "scenario", str(run), "--scenario", scenario],
        env=env, cwd=run.parent, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"hvgen scenario {scenario} failed (exit {done.returncode}):\n{done.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    return seconds, len(list((run / "scenarios" / scenario).rglob("*.png")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=12, help="images to plan (each has ~7 questions)")
    parser.add_argument("--size", type=int, default=1024, help="stand-in render size (pixels)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--scenarios",
        default="adversarial",
        help="scenarios to time (corruption and print do their I/O in their process pool, so both "
        "configurations run the same code for them: their ratio shows run-to-run noise)",
    )
    args = parser.parse_args()
    configs = {"serial": "0", "pooled": None}
    with tempfile.TemporaryDirectory(prefix="hvgen-bench-scenario-") as tmp:
        run = make_run(Path(tmp), args.num, args.size)
        print(
            f"{os.cpu_count()} CPU cores; {args.num} images at {args.size}²; {args.repeats} rounds per config"
        )
        print(f"{'scenario':<12} {'config':<7} {'samples':>7} {'min s':>7} {'median s':>8} {'samples/s':>9}")
        for scenario in args.scenarios.split(","):
            times: dict[str, list[float]] = {name: [] for name in configs}
            counts: dict[str, int] = {}
            for io in configs.values():  # warm-up (imports, tiny models, file cache)
                time_stage(run, scenario, io)
            for round_number in range(args.repeats):
                order = list(configs.items())
                for name, io in order if round_number % 2 == 0 else reversed(order):
                    seconds, counts[name] = time_stage(run, scenario, io)
                    times[name].append(seconds)
            for name in configs:
                median = statistics.median(times[name])
                print(
                    f"{scenario:<12} {name:<7} {counts[name]:>7} {min(times[name]):>7.2f} {median:>8.2f} "
                    f"{counts[name] / median:>9.1f}"
                )
            ratio = statistics.median(times["serial"]) / statistics.median(times["pooled"])
            print(
                f"{scenario:<12} pooled is {ratio:.2f}x the serial stage (median wall time, process start included)"
            )


if __name__ == "__main__":
    main()
