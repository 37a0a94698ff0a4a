"""Render stage: prompts → images with a diffusers text-to-image pipeline.

Reads top to bottom: pick the work (this shard's images not verifiably on disk yet) → load the
pipeline → render in batches of a fixed size, one seeded `torch.Generator` per image (so an
image never depends on its batch neighbours; short batches are padded, so not on the batch shape
either) → PNGs written by a thread pool (the accelerator never waits on encoding), each
atomically, and logged to this shard's manifest only once its file exists.

With a ControlNet (`render.controlnet`), each image's record names a condition recipe
(hvgen.conditions): its condition image is drawn here, seeded from the image seed, written
atomically to ``conditions/<xx>/<image_id>.png`` with the image, and fingerprinted in the same
manifest line, so a resumed run verifies and keeps (or redoes) both together. A CtrLoRA
(`ctrlora:BASE`, hvgen.ctrlora) renders one recipe's images at a time, with that recipe's LoRA.
"""

from __future__ import annotations

import functools
import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgen.config import RenderConfig
from hvgen.ctrlora.spec import is_ctrlora
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
from hvgen.store.layout import MANIFEST_DIR, condition_relpath
from hvgen.store.manifest import ManifestWriter
from hvgen.store.work import finished_renders


@dataclass(frozen=True)
class ImageJob:
    image_id: str
    prompt: str
    negative_prompt: str
    seed: int
    path: str
    condition: tuple[str, str] | None = None  # (recipe, params JSON) of its record's condition


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
        conditions = planned_conditions(con)
    mine = [ImageJob(*row, conditions.get(row[0])) for row in rows if shard.owns(row[0])]
    done = finished_renders(run_dir, {job.image_id: job.path for job in mine})
    todo = [job for job in mine if job.image_id not in done]
    return todo, len(mine), len(mine) - len(todo)


def planned_conditions(con: Any) -> dict[str, tuple[str, str]]:
    """image id → (recipe, params JSON) for the images whose records carry a `condition` (all
    records of an image share it: the planner derives it from the image)."""
    types = {row[0]: str(row[1]) for row in con.execute("DESCRIBE records").fetchall()}
    if not types.get("condition", "").startswith("STRUCT"):
        return {}
    rows = con.execute(
        "SELECT image_id, min(condition.recipe), min(condition.params) FROM records "
        "WHERE condition IS NOT NULL AND condition.recipe IS NOT NULL GROUP BY image_id"
    ).fetchall()
    return {image_id: (recipe, params or "{}") for image_id, recipe, params in rows}


def check_control(config: RenderConfig, todo: list[ImageJob], settings: RenderSettings) -> None:
    """A ControlNet needs every image's condition, and conditions need a ControlNet (an image
    that ignored its condition would be published beside it as if it followed it)."""
    conditioned = sum(job.condition is not None for job in todo)
    if config.controlnet and conditioned < len(todo):
        raise HvgenError(
            f"--controlnet {config.controlnet}: {len(todo) - conditioned} of {len(todo)} images have no condition in "
            "their records; plan them with one (e.g. `--condition pose`, see templates/conditions/)."
        )
    if conditioned and not config.controlnet:
        raise HvgenError(
            "the records carry condition images but no ControlNet is set: pass --controlnet MODEL "
            "(a Hub id, a local folder, or tiny for an offline test)."
        )
    missing = sorted({job.condition[0] for job in todo if job.condition} - set(config.ctrlora_loras))
    if is_ctrlora(config.controlnet) and missing:
        raise HvgenError(
            f"--controlnet {config.controlnet}: no CtrLoRA LoRA for condition recipe {', '.join(missing)} of the "
            f"records; pass --ctrlora-lora {missing[0]}=PATH for each (given: {', '.join(config.ctrlora_loras) or 'none'})."
        )
    if conditioned and not (settings.width and settings.height):
        raise HvgenError(
            "--controlnet: give the image size (--width, --height) so conditions are drawn at it."
        )


def run_render(
    run_dir: Path, config: RenderConfig, shard: Shard, pipeline: Any | None = None
) -> RenderSummary:
    started = time.perf_counter()
    manifest = run_dir / MANIFEST_DIR / f"render.{shard.tag}.jsonl"
    with ManifestWriter(manifest) as log:  # this shard's lock: one process per shard
        remove_stale_temps(run_dir / "images")
        remove_stale_temps(run_dir / "conditions")
        todo, total, done = pending_jobs(run_dir, shard)
        if not todo:
            return RenderSummary(total, done, 0, 0.0)
        settings = resolve_settings(config)
        check_control(config, todo, settings)
        recipes = _recipes() if config.controlnet else None
        ctrlora = is_ctrlora(config.controlnet)
        pipeline = pipeline or (_load_ctrlora(config) if ctrlora else load_pipeline(config))
        device = pipeline.device
        files = RunFiles(run_dir)
        writes: deque[tuple[Future, dict[str, Any]]] = deque()
        with (
            ThreadPoolExecutor(max_workers=config.writer_threads) as writer,
            progress_bar(f"render ({config.model})", len(todo)) as advance,
        ):
            for batch in (
                recipe_batches(todo, config.batch_size) if ctrlora else _batches(todo, config.batch_size)
            ):
                batch_started = time.perf_counter()
                if ctrlora:  # this recipe's LoRA (hvgen.ctrlora): one switch per recipe
                    pipeline.controlnet.use_condition(batch[0].condition[0])
                conditions = draw_conditions(batch, settings, recipes) if recipes is not None else None
                render = functools.partial(render_batch, conditions=conditions, config=config)
                if config.scan:
                    from hvgen.analysis.render_scan import scanned_batch

                    images, scans = scanned_batch(
                        render, pipeline, batch, settings, device, pad_to=config.batch_size
                    )
                else:
                    images = render(pipeline, batch, settings, device, pad_to=config.batch_size)
                    scans = [{} for _ in batch]
                seconds = (time.perf_counter() - batch_started) / len(batch)
                for index, (job, image, scan) in enumerate(zip(batch, images, scans)):
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
                    condition = None
                    if conditions is not None and job.condition is not None:
                        relpath = condition_relpath(job.image_id)
                        condition = (conditions[index], files.write_path(relpath))
                        row.update(condition_path=relpath, condition_recipe=job.condition[0])
                    writes.append(
                        (
                            writer.submit(_write_pair, image, target, condition, config.png_compress_level),
                            row,
                        )
                    )
                # Log finished files in order; the accelerator keeps rendering meanwhile.
                while writes and writes[0][0].done():
                    _log_write(writes.popleft(), log, advance)
            while writes:
                _log_write(writes.popleft(), log, advance)
    return RenderSummary(total, done, len(todo), time.perf_counter() - started)


def _load_ctrlora(config: RenderConfig) -> Any:
    from hvgen.ctrlora.model import load_ctrlora_pipeline

    return load_ctrlora_pipeline(config)


def _recipes() -> Any:
    from hvgen.conditions import load_recipes

    return load_recipes()


def draw_conditions(batch: list[ImageJob], settings: RenderSettings, recipes: Any) -> list[Any]:
    """Each job's condition image at the render size, seeded from its image seed."""
    from hvgen.conditions import make_condition, parse_condition

    images = []
    for job in batch:
        assert job.condition is not None  # check_control: every job has one
        recipe, params = parse_condition(
            {"recipe": job.condition[0], "params": job.condition[1]}, f"image {job.image_id}"
        )
        size = (settings.width or 0, settings.height or 0)
        images.append(make_condition(recipe, params, job.seed, size, recipes))
    return images


def _write_pair(image: Any, target: Path, condition: tuple[Any, Path] | None, level: int) -> dict[str, Any]:
    """Write the condition (first) and the image, atomically; their fingerprints as one row.
    The row is logged only after both exist, so a crash in between leaves the image pending."""
    row: dict[str, Any] = {}
    if condition is not None:
        written = save_png_atomic(condition[0], condition[1], level)
        row.update({f"condition_{key}": value for key, value in written.as_row().items()})
    return {**row, **save_png_atomic(image, target, level).as_row()}


def _log_write(item: tuple[Future, dict[str, Any]], log: ManifestWriter, advance: Any) -> None:
    future, row = item
    written = future.result()  # re-raise a failed write (disk full, ...)
    log.write_many([{**row, **written}])
    checkpoint("render.logged")
    advance(1)


def render_batch(
    pipeline: Any,
    batch: list[ImageJob],
    settings: RenderSettings,
    device: Any,
    pad_to: int = 0,
    conditions: list[Any] | None = None,
    config: RenderConfig | None = None,
) -> list[Any]:
    """One pipeline call for `batch`, one seeded generator per image. With `pad_to`, a short
    batch (the last of a shard, or of a resumed run) is padded with copies of its first job to
    that size and the copies dropped: every call then has the same tensor shapes, and batched
    kernels round an image the same way whichever images share its call — so a resumed or
    sharded run gives the bytes of an uninterrupted one. With `conditions` (one per job, padded
    alike) the pipeline is a ControlNet one, steered by `config`'s scale and start/end."""
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
    if conditions is not None:
        assert config is not None
        kwargs["image"] = conditions + [conditions[0]] * max(0, pad_to - real)
        kwargs["controlnet_conditioning_scale"] = config.controlnet_scale
        kwargs["control_guidance_start"] = config.control_start
        kwargs["control_guidance_end"] = config.control_end
    with torch.inference_mode():
        return pipeline(**kwargs).images[:real]


def recipe_batches(items: list[ImageJob], size: int) -> list[list[ImageJob]]:
    """Batches that each hold one condition recipe's images (a CtrLoRA renders a recipe with its
    own LoRA), recipe by recipe in name order; an image's bytes do not depend on its batch."""
    groups: dict[str, list[ImageJob]] = {}
    for job in items:
        groups.setdefault(job.condition[0] if job.condition else "", []).append(job)
    return [batch for recipe in sorted(groups) for batch in _batches(groups[recipe], size)]


def _batches(items: list[ImageJob], size: int) -> list[list[ImageJob]]:
    if size < 1:
        raise HvgenError(f"--batch-size must be >= 1 (got {size}).")
    return [items[i : i + size] for i in range(0, len(items), size)]
