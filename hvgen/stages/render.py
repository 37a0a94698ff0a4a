"""Render stage: prompts → images with a diffusers text-to-image pipeline.

Reads top to bottom: pick the work (this shard's images not verifiably on disk yet) → load the
pipeline → render in batches of a fixed size, one seeded `torch.Generator` per image (so an
image never depends on its batch neighbours; short batches are padded, so not on the batch shape
either) → PNGs written by a thread pool (the accelerator never waits on encoding), each
atomically, and logged to this shard's manifest only once its file exists.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgen.config import RenderConfig
from hvgen.errors import HvgenError
from hvgen.faults import checkpoint
from hvgen.models import (  # noqa: F401 - RenderSettings, resolve_settings, pick_*, load_pipeline: re-exported
    RenderSettings,
    load_pipeline,
    pick_device,
    pick_dtype,
    resolve_settings,
    seeded_generators,
)
from hvgen.progress import progress_bar
from hvgen.sharding import Shard
from hvgen.store.atomic import remove_stale_temps, save_png_atomic
from hvgen.store.catalog import open_catalog
from hvgen.store.files import RunFiles
from hvgen.store.layout import MANIFEST_DIR
from hvgen.store.manifest import ManifestWriter
from hvgen.store.work import finished_renders


@dataclass(frozen=True)
class ImageJob:
    image_id: str
    prompt: str
    negative_prompt: str
    seed: int
    path: str


@dataclass
class RenderSummary:
    total_in_shard: int
    already_done: int
    rendered: int
    seconds: float


def pending_jobs(run_dir: Path, shard: Shard) -> tuple[list[ImageJob], int, int]:
    """This shard's planned images that are not verifiably on disk yet (+ totals)."""
    with open_catalog(run_dir, read_only=True) as con:
        rows = con.execute(
            "SELECT image_id, prompt, negative_prompt, image_seed, path FROM images ORDER BY image_id"
        ).fetchall()
    mine = [ImageJob(*row) for row in rows if shard.owns(row[0])]
    done = finished_renders(run_dir, {job.image_id: job.path for job in mine})
    todo = [job for job in mine if job.image_id not in done]
    return todo, len(mine), len(mine) - len(todo)


def run_render(
    run_dir: Path, config: RenderConfig, shard: Shard, pipeline: Any | None = None
) -> RenderSummary:
    started = time.perf_counter()
    manifest = run_dir / MANIFEST_DIR / f"render.{shard.tag}.jsonl"
    with ManifestWriter(manifest) as log:  # this shard's lock: one process per shard
        remove_stale_temps(run_dir / "images")
        todo, total, done = pending_jobs(run_dir, shard)
        if not todo:
            return RenderSummary(total, done, 0, 0.0)
        settings = resolve_settings(config)
        pipeline = pipeline or load_pipeline(config)
        device = pipeline.device
        files = RunFiles(run_dir)
        writes: deque[tuple[Future, dict[str, Any]]] = deque()
        with (
            ThreadPoolExecutor(max_workers=config.writer_threads) as writer,
            progress_bar(f"render ({config.model})", len(todo)) as advance,
        ):
            for batch in _batches(todo, config.batch_size):
                batch_started = time.perf_counter()
                if config.scan:
                    from hvgen.analysis.render_scan import scanned_batch

                    images, scans = scanned_batch(
                        render_batch, pipeline, batch, settings, device, pad_to=config.batch_size
                    )
                else:
                    images = render_batch(pipeline, batch, settings, device, pad_to=config.batch_size)
                    scans = [{} for _ in batch]
                seconds = (time.perf_counter() - batch_started) / len(batch)
                for job, image, scan in zip(batch, images, scans):
                    row = {
                        **scan,
                        "image_id": job.image_id,
                        "path": job.path,
                        "width": image.width,
                        "height": image.height,
                        "model": config.model,
                        "seconds": round(seconds, 4),
                    }
                    target = files.write_path(job.path)
                    writes.append(
                        (writer.submit(save_png_atomic, image, target, config.png_compress_level), row)
                    )
                # Log finished files in order; the accelerator keeps rendering meanwhile.
                while writes and writes[0][0].done():
                    _log_write(writes.popleft(), log, advance)
            while writes:
                _log_write(writes.popleft(), log, advance)
    return RenderSummary(total, done, len(todo), time.perf_counter() - started)


def _log_write(item: tuple[Future, dict[str, Any]], log: ManifestWriter, advance: Any) -> None:
    future, row = item
    written = future.result()  # re-raise a failed write (disk full, ...)
    log.write_many([{**row, **written.as_row()}])
    checkpoint("render.logged")
    advance(1)


def render_batch(
    pipeline: Any, batch: list[ImageJob], settings: RenderSettings, device: Any, pad_to: int = 0
) -> list[Any]:
    """One pipeline call for `batch`, one seeded generator per image. With `pad_to`, a short
    batch (the last of a shard, or of a resumed run) is padded with copies of its first job to
    that size and the copies dropped: every call then has the same tensor shapes, and batched
    kernels round an image the same way whichever images share its call — so a resumed or
    sharded run gives the bytes of an uninterrupted one."""
    import torch

    real = len(batch)
    batch = batch + [batch[0]] * max(0, pad_to - real)
    generators = seeded_generators(device, [job.seed for job in batch])
    kwargs: dict[str, Any] = {
        "prompt": [job.prompt for job in batch],
        "negative_prompt": [job.negative_prompt for job in batch],
        "generator": generators,
        "num_inference_steps": settings.steps,
        "guidance_scale": settings.guidance,
    }
    if settings.width and settings.height:
        kwargs["width"], kwargs["height"] = settings.width, settings.height
    with torch.inference_mode():
        return pipeline(**kwargs).images[:real]


def _batches(items: list[ImageJob], size: int) -> list[list[ImageJob]]:
    if size < 1:
        raise HvgenError(f"--batch-size must be >= 1 (got {size}).")
    return [items[i : i + size] for i in range(0, len(items), size)]
