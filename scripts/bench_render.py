"""Render throughput: hvgen's render stage per batch size vs the naive per-image loop vs raw
diffusers calls, on the same prompts and per-image seeds.

Configurations (each warmed up on a one-batch plan, then timed in alternated rounds with
`_timing.py`, min and median; every timed run starts from a fresh copy of the same planned run
directory, which is not timed):

* **naive loop** — batch size 1, each PNG written on the main thread before the next image
  starts (the original generate_data.py's loop), through hvgen's `render_batch`;
* **hvgen render, batch B** — `run_render`: batches of B padded to B, one torch.Generator per
  image, PNGs written by a thread pool while the next batch renders, manifest logging;
* **raw diffusers, batch B** — the pipeline called directly on lists of B prompts with a list of
  generators, each PNG saved synchronously with `Image.save` (what a user writes by hand);
* with `--compile`, both of the latter again with the UNet under `torch.compile`
  (`mode="reduce-overhead", fullgraph=True`, as `hvgen --compile` does).

All configurations share one pipeline (one set of weights) in one dtype; attention goes through
PyTorch SDPA (diffusers' `AttnProcessor2_0`, printed). Models: `tiny` (hvgen's built-in random
64² pipeline: the overheads, on CPU), `sdxl-random` (SDXL base 1.0's architecture with random
weights from its published configs, `sdxl_random.py`: the real cost at 1024² without a download;
it goes through hvgen's real `load_pipeline`, only the weights' source is replaced), or any
diffusers model id / folder.

    python scripts/bench_render.py                                             # CPU, tiny
    python scripts/bench_render.py --model sdxl-random --size 128 --steps 1 --num 2 --batch-sizes 1,2
    python scripts/bench_render.py --model sdxl-random --device cuda --dtype bf16 --steps 50 \\
        --num 8 --batch-sizes 1,4 --compile                                     # a GPU
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from unittest import mock

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HVGEN_NO_PROGRESS", "1")

from _timing import Config, compare, machine  # noqa: E402

from hvgen.config import RenderConfig, RunConfig  # noqa: E402
from hvgen.models import _quiet_tiny_model_warnings  # noqa: E402
from hvgen.pipeline import prepare_run_dir, stage_plan  # noqa: E402
from hvgen.sharding import Shard  # noqa: E402
from hvgen.stages.render import (  # noqa: E402
    load_pipeline,
    pending_jobs,
    pick_device,
    pick_dtype,
    render_batch,
    resolve_settings,
    run_render,
)
from hvgen.store.atomic import save_png_atomic  # noqa: E402


def planned_run(root: Path, name: str, num: int, seed: int) -> Path:
    """A planned (not rendered) Dysca run of `num` images: the template every timed run copies."""
    config = RunConfig(benchmark="dysca", num=num, seed=seed, options={"question_types": "mc"})
    config.render = RenderConfig(model="tiny")  # the plan does not depend on the model
    run_dir = root / name
    prepare_run_dir(run_dir, config)
    stage_plan(run_dir, config)
    return run_dir


class Workspace:
    """Fresh copies of the planned templates, so every run renders everything."""

    def __init__(self, root: Path, templates: dict[str, Path]) -> None:
        self.root, self.templates, self.count = root, templates, 0

    def fresh(self, which: str) -> Path:
        self.count += 1
        target = self.root / f"run-{self.count}"
        shutil.copytree(self.templates[which], target)
        return target

    def drop(self, run_dir: Path) -> None:
        shutil.rmtree(run_dir, ignore_errors=True)


def digest(run_dir: Path) -> str:
    from PIL import Image

    h = hashlib.sha256()
    for path in sorted(run_dir.glob("images/*/*.png")):
        h.update(path.name.encode() + Image.open(path).tobytes())
    return h.hexdigest()[:16]


def synchronize(pipeline: Any) -> None:
    import torch

    if getattr(pipeline.device, "type", "") == "cuda":
        torch.cuda.synchronize()


def naive_loop(run_dir: Path, config: RenderConfig, pipeline: Any) -> None:
    """Batch size 1, PNG written on the main thread before the next image starts."""
    jobs, _, _ = pending_jobs(run_dir, Shard())
    settings = resolve_settings(config)
    for job in jobs:
        (image,) = render_batch(pipeline, [job], settings, pipeline.device)
        save_png_atomic(image, run_dir / job.path)


def raw_diffusers(run_dir: Path, config: RenderConfig, pipeline: Any, batch_size: int) -> None:
    """The pipeline called directly: lists of prompts, a generator per image, synchronous saves."""
    import torch

    jobs, _, _ = pending_jobs(run_dir, Shard())
    settings = resolve_settings(config)
    for start in range(0, len(jobs), batch_size):
        batch = jobs[start : start + batch_size]
        with torch.inference_mode():
            images = pipeline(
                prompt=[job.prompt for job in batch],
                negative_prompt=[job.negative_prompt for job in batch],
                generator=[torch.Generator(device=pipeline.device).manual_seed(job.seed) for job in batch],
                num_inference_steps=settings.steps,
                guidance_scale=settings.guidance,
                width=settings.width,
                height=settings.height,
            ).images
        for job, image in zip(batch, images):
            path = run_dir / job.path
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path)


def sdxl_random_source(device: str, seed: int) -> Callable[..., Any]:
    """A stand-in for `AutoPipelineForText2Image.from_pretrained` that returns the SDXL-shaped
    random pipeline (built once per dtype; every call gets its own pipeline object sharing the
    modules, so compiling one pipeline's UNet leaves the others alone)."""
    from diffusers import StableDiffusionXLPipeline
    from sdxl_random import build_sdxl_random, parameter_count

    built: dict[Any, Any] = {}

    def from_pretrained(source: str, torch_dtype: Any = None, **_: Any) -> Any:
        if torch_dtype not in built:
            started = time.perf_counter()
            built[torch_dtype] = build_sdxl_random(device=device, dtype=torch_dtype, seed=seed)
            counts = ", ".join(f"{k} {v / 1e9:.2f} B" for k, v in parameter_count(built[torch_dtype]).items())
            print(
                f"built sdxl-random ({counts} parameters) in {time.perf_counter() - started:.0f} s",
                flush=True,
            )
        return StableDiffusionXLPipeline(**built[torch_dtype].components)

    return from_pretrained


def load(args: argparse.Namespace, compile_unet: bool) -> tuple[Any, RenderConfig]:
    """The pipeline through hvgen's own `load_pipeline` (dtype, device, compile)."""
    from diffusers import AutoPipelineForText2Image

    model = "sdxl" if args.model == "sdxl-random" else args.model
    config = RenderConfig(
        model=model,
        steps=args.steps,
        width=args.size,
        height=args.size,
        dtype=args.dtype,
        device=args.device,
        compile=compile_unet,
    )
    if args.model != "sdxl-random":
        return load_pipeline(config), config
    _quiet_tiny_model_warnings()  # the stand-in tokenizer makes every prompt "too long"
    with mock.patch.object(AutoPipelineForText2Image, "from_pretrained", new=args.source):
        return load_pipeline(config), config


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="tiny", help="tiny, sdxl-random, or a diffusers model id / folder")
    parser.add_argument("--num", type=int, default=16, help="images per configuration and round")
    parser.add_argument("--steps", type=int, default=None, help="default: the model's (tiny 4, SDXL 50)")
    parser.add_argument("--size", type=int, default=None, help="image side (default: the model's; SDXL 1024)")
    parser.add_argument(
        "--batch-sizes", default="1,4", help="hvgen render batch sizes; raw diffusers uses the largest"
    )
    parser.add_argument("--dtype", default="auto", help="auto (fp16 on CUDA, else fp32), bf16, fp16, fp32")
    parser.add_argument("--device", default="auto")
    parser.add_argument(
        "--compile", action="store_true", help="also time hvgen and raw diffusers with torch.compile"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.batch_sizes.split(",")]
    largest = max(sizes)
    device = pick_device(args.device)
    if args.model == "sdxl-random":
        args.source = sdxl_random_source(device, args.seed)

    with tempfile.TemporaryDirectory(prefix="hvgen-bench-render-") as tmp:
        root = Path(tmp)
        templates = {
            "main": planned_run(root, "template-main", args.num, args.seed),
            "warm": planned_run(root, "template-warm", largest, args.seed + 1),
        }
        space = Workspace(root, templates)
        pipeline, config = load(args, compile_unet=False)
        compiled = load(args, compile_unet=True) if args.compile else None
        fingerprints: dict[str, str] = {}

        def make(name: str, work: Callable[[Path], None]) -> Config:
            def once(which: str) -> float:
                run_dir = space.fresh(which)
                synchronize(pipeline)
                started = time.perf_counter()
                work(run_dir)
                synchronize(pipeline)
                seconds = time.perf_counter() - started
                if which == "main":
                    fingerprints[name] = digest(run_dir)
                space.drop(run_dir)
                return seconds

            return Config(name, lambda: once("main"), warm=lambda: once("warm"))

        configs = [make("naive loop (batch 1, sync PNG)", lambda d: naive_loop(d, config, pipeline))]
        for size in sizes:
            batch_config = RenderConfig(**{**config.__dict__, "batch_size": size})
            configs.append(
                make(
                    f"hvgen render, batch {size}",
                    lambda d, c=batch_config: run_render(d, c, Shard(), pipeline),
                )
            )
        configs.append(
            make(f"raw diffusers, batch {largest}", lambda d: raw_diffusers(d, config, pipeline, largest))
        )
        if compiled is not None:
            compiled_pipeline, compiled_config = compiled
            batch_config = RenderConfig(**{**compiled_config.__dict__, "batch_size": largest})
            configs.append(
                make(
                    f"hvgen render, batch {largest}, compile",
                    lambda d: run_render(d, batch_config, Shard(), compiled_pipeline),
                )
            )
            configs.append(
                make(
                    f"raw diffusers, batch {largest}, compile",
                    lambda d: raw_diffusers(d, compiled_config, compiled_pipeline, largest),
                )
            )
        results = compare(configs, repeats=args.repeats, warmup=args.warmup)

    settings = resolve_settings(config)
    processor = type(next(iter(pipeline.unet.attn_processors.values()))).__name__
    print(f"\n# render benchmark — {machine()}")
    print(
        f"model {args.model}, {args.num} images of {settings.width}x{settings.height}, {settings.steps} steps, "
        f"guidance {settings.guidance}, device {pipeline.device}, dtype {pick_dtype(args.dtype, device)}, "
        f"attention {processor}; {args.warmup} warm-up + {args.repeats} alternated rounds"
    )
    naive = results[configs[0].name].min
    print(f"{'configuration':40} {'min s':>8} {'median s':>9} {'img/s':>7} {'vs naive':>9}  images")
    for item in configs:
        timing = results[item.name]
        print(
            f"{item.name:40} {timing.min:8.2f} {timing.median:9.2f} {args.num / timing.min:7.2f} "
            f"{naive / timing.min:8.2f}x  {fingerprints[item.name]}"
        )
    print(
        "img/s and 'vs naive' use the min times. Images: a digest of the decoded pixels; batch shapes may round "
        "differently, so equal digests across batch sizes are not expected."
    )


if __name__ == "__main__":
    main()
