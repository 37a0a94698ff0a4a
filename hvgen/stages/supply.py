"""Supply stage: the render stage of a generator whose images already exist (photographs of a
source data set). Each planned image is read from `generator.source_image(prompt)`, decoded
(a file that does not decode is an error naming it) and stored in the run directory as a
render is — PNG, atomically, logged to the shard's render manifest once its file exists — so
build, scenarios and export treat it as any rendered image.
"""

from __future__ import annotations

import time
from pathlib import Path

from hvgen.config import RenderConfig
from hvgen.errors import HvgenError
from hvgen.generator import Generator
from hvgen.progress import progress_bar
from hvgen.sharding import Shard
from hvgen.stages.render import RenderSummary, pending_jobs
from hvgen.store.atomic import remove_stale_temps, save_png_atomic
from hvgen.store.files import RunFiles
from hvgen.store.layout import MANIFEST_DIR
from hvgen.store.manifest import ManifestWriter


def load_source_image(path: Path):
    """The decoded RGB image at `path`, or an HvgenError saying which file is broken."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise HvgenError(
            f"{path}: the image does not decode ({error}); replace the file or remove it from the annotations."
        ) from None


def run_supply(run_dir: Path, generator: Generator, shard: Shard, config: RenderConfig) -> RenderSummary:
    started = time.perf_counter()
    manifest = run_dir / MANIFEST_DIR / f"render.{shard.tag}.jsonl"
    with ManifestWriter(manifest) as log:
        remove_stale_temps(run_dir / "images")
        todo, total, done = pending_jobs(run_dir, shard)
        files = RunFiles(run_dir)
        with progress_bar(f"copy images ({generator.name})", len(todo)) as advance:
            for job in todo:
                image = load_source_image(generator.source_image(job.prompt))
                written = save_png_atomic(image, files.write_path(job.path), config.png_compress_level)
                row = {"image_id": job.image_id, "path": job.path, "width": image.width,
                       "height": image.height, "model": "source", "seconds": 0.0}  # fmt: skip
                log.write_many([{**row, **written.as_row()}])
                advance(1)
    return RenderSummary(total, done, len(todo), time.perf_counter() - started)
