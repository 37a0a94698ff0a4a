"""Render throughput: images/s of hvgen's render stage per batch size, against batch size 1
with synchronous PNG writing (the naive loop of the original generate_data.py), side by side.

On a GPU run it with the real model (`--model sdxl --steps 50`); on CPU the tiny model shows
the overheads (batching, PNG encoding off the main thread). Every configuration renders the same
prompts with the same per-image seeds, and the script checks that the images are identical
across batch sizes (one torch.Generator per image).

    python scripts/bench_render.py --model tiny --num 32 --batch-sizes 1,4,8
    python scripts/bench_render.py --model sdxl --num 64 --batch-sizes 1,4,8 --steps 50
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

from hvgen.config import RenderConfig, RunConfig
from hvgen.pipeline import prepare_run_dir, stage_plan
from hvgen.sharding import Shard
from hvgen.stages.render import load_pipeline, pending_jobs, render_batch, resolve_settings, run_render
from hvgen.store.atomic import save_png_atomic


def naive_loop(run_dir: Path, config: RenderConfig, pipeline) -> float:
    """Batch size 1, PNG written on the main thread before the next image starts."""
    jobs, _, _ = pending_jobs(run_dir, Shard())
    settings = resolve_settings(config)
    start = time.perf_counter()
    for job in jobs:
        (image,) = render_batch(pipeline, [job], settings, pipeline.device)
        save_png_atomic(image, run_dir / job.path)
    return time.perf_counter() - start


def planned_run(root: Path, name: str, args: argparse.Namespace, batch_size: int) -> tuple[Path, RunConfig]:
    config = RunConfig(benchmark="dysca", num=args.num, seed=args.seed, options={"question_types": "mc"})
    config.render = RenderConfig(
        model=args.model, steps=args.steps, batch_size=batch_size, device=args.device
    )
    run_dir = root / name
    prepare_run_dir(run_dir, config)
    stage_plan(run_dir, config)
    return run_dir, config


def digest(run_dir: Path) -> str:
    from PIL import Image

    h = hashlib.sha256()
    for path in sorted(run_dir.glob("images/*/*.png")):
        h.update(path.name.encode() + Image.open(path).tobytes())
    return h.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny")
    parser.add_argument("--num", type=int, default=32, help="images per configuration")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--batch-sizes", default="1,4,8")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        run_dir, config = planned_run(root, "naive", args, 1)
        pipeline = load_pipeline(config.render)
        render_batch(
            pipeline, pending_jobs(run_dir, Shard())[0][:1], resolve_settings(config.render), pipeline.device
        )
        baseline = naive_loop(run_dir, config.render, pipeline)
        rows = [("naive loop (batch 1, sync PNG)", baseline, digest(run_dir))]
        for size in [int(s) for s in args.batch_sizes.split(",")]:
            run_dir, config = planned_run(root, f"b{size}", args, size)
            summary = run_render(run_dir, config.render, Shard(), pipeline=pipeline)
            rows.append((f"hvgen render, batch {size}", summary.seconds, digest(run_dir)))

    print(f"\nmodel {args.model}, {args.num} images, device {pipeline.device}")
    print(f"{'configuration':34} {'s':>8} {'img/s':>8} {'vs naive':>9}  images")
    for name, seconds, fingerprint in rows:
        print(f"{name:34} {seconds:8.2f} {args.num / seconds:8.2f} {baseline / seconds:8.2f}x  {fingerprint}")
    same = len({fingerprint for _, _, fingerprint in rows}) == 1
    print(
        "identical images across batch sizes:",
        "yes" if same else "NO (numerical differences between batched kernels)",
    )


if __name__ == "__main__":
    main()
