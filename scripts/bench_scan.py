"""Cost of the T2IShield backdoor scan: per image, render with `--scan` vs plain render, and the
standalone `hvgen scan` pass (latents only, no VAE decode).

Configurations (warmed up, then alternated rounds with `_timing.py`, min and median; the same
prompts and per-image seeds in every configuration; nothing is written to disk):

* **plain render** — hvgen's `render_batch` (the render stage's pipeline call);
* **render + scan** — the same call inside `render_scan.scanned_batch`: the chosen
  cross-attention layers also compute the conditional branch's attention probabilities (one extra
  QKᵀ-softmax per scanned layer and step), then FTT and spectrum scores per image;
* **scan only** — `scan.scan_prompts`, what `hvgen scan` runs per prompt (no VAE decode).

On a CPU the clock is the process's CPU time (a shared machine's neighbours inflate wall time
far more than the work's own cost); on an accelerator, wall time after a synchronise. On a shared
CPU use `--threads 1`: with several threads, CPU time also counts their spinning while they wait
for each other, which neighbours make long (on a loaded 2-core machine that noise was ±50 %; with
one thread, under 10 %).

The script also checks that render + scan gives the plain render's pixels. Models as in
bench_render.py: `tiny` (CPU, overheads), `sdxl-random` (SDXL's architecture, random weights) or
any diffusers id / folder.

    python scripts/bench_scan.py --threads 1                                   # CPU, tiny
    python scripts/bench_scan.py --model sdxl-random --device cuda --dtype fp16 --steps 50 --num 4
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HVGEN_NO_PROGRESS", "1")

from _timing import Config, compare, machine  # noqa: E402
from bench_render import load, sdxl_random_source, synchronize  # noqa: E402

from hvgen.analysis.render_scan import pixel_size, scanned_batch  # noqa: E402
from hvgen.analysis.scan import ScanSettings, scan_prompts  # noqa: E402
from hvgen.seeding import derive_seed  # noqa: E402
from hvgen.stages.render import ImageJob, render_batch, resolve_settings  # noqa: E402

SUBJECTS = ["a red fox", "a bowl of ramen", "an old lighthouse", "a violin", "a city tram", "a sunflower"]
STYLE = ", watercolor painting, soft light, highly detailed"


def jobs(num: int, seed: int) -> list[ImageJob]:
    prompts = [SUBJECTS[i % len(SUBJECTS)] + f" number {i}" + STYLE for i in range(num)]
    return [
        ImageJob(f"img{i}", p, "blurry", derive_seed(seed, p), f"images/{i}.png")
        for i, p in enumerate(prompts)
    ]


def torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny", help="tiny, sdxl-random, or a diffusers model id / folder")
    parser.add_argument("--num", type=int, default=8, help="images per configuration and round")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--steps", type=int, default=None, help="default: the model's (tiny 4, SDXL 50)")
    parser.add_argument("--size", type=int, default=None, help="image side (default: the model's)")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    args = parser.parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    args.source = sdxl_random_source(args.device, args.seed) if args.model == "sdxl-random" else None

    pipeline, config = load(args, compile_unet=False)
    settings = resolve_settings(config)
    width, height = pixel_size(pipeline, settings.width, settings.height)
    scan_settings = ScanSettings(settings.steps, settings.guidance, width, height, args.seed, args.batch_size)
    work = jobs(args.num, args.seed)
    batches = [work[i : i + args.batch_size] for i in range(0, len(work), args.batch_size)]
    device = pipeline.device

    def plain() -> list:
        return [
            img
            for b in batches
            for img in render_batch(pipeline, b, settings, device, pad_to=args.batch_size)
        ]

    def scanned() -> list:
        out = []
        for b in batches:
            out += scanned_batch(render_batch, pipeline, b, settings, device, args.batch_size)[0]
        return out

    def scan_only() -> None:
        scan_prompts(pipeline, [job.prompt for job in work], scan_settings)

    # On a CPU the process's CPU time (all its threads) is the cost, and it is far less disturbed
    # than wall time by neighbours on a shared machine; on an accelerator, wall time.
    on_cpu = getattr(device, "type", str(device)) == "cpu"
    clock = time.process_time if on_cpu else time.perf_counter

    def timed(function) -> float:
        synchronize(pipeline)
        start = clock()
        function()
        synchronize(pipeline)
        return clock() - start

    same = [a.tobytes() for a in plain()] == [b.tobytes() for b in scanned()]
    print(f"machine: {machine()}")
    print(
        f"model {args.model}, {width}×{height}, {settings.steps} steps, {args.num} images in batches of "
        f"{args.batch_size}, device {device}; render + scan gives the plain render's pixels: {same}"
    )
    print(f"clock: {'process CPU time' if on_cpu else 'wall time'}")
    configs = [
        Config("plain render", lambda: timed(plain)),
        Config("render + scan", lambda: timed(scanned)),
        Config("scan only", lambda: timed(scan_only)),
    ]
    results = compare(configs, repeats=args.repeats, warmup=args.warmup)
    for name, timing in results.items():
        per = [s / args.num for s in timing.seconds]
        print(f"{name:>14}: {min(per):.4f} s/image min, {sorted(per)[len(per) // 2]:.4f} s/image median")
    if on_cpu:
        print(f"(process CPU seconds per image, {torch_threads()} torch threads)")
    plain_min, scan_min = results["plain render"].min, results["render + scan"].min
    print(f"scan overhead during render: {100 * (scan_min - plain_min) / plain_min:+.1f}% (min vs min)")
    if not same:
        raise SystemExit("render + scan changed the images")


if __name__ == "__main__":
    main()
