"""Supply stage: the render stage of a generator whose images already exist (photographs of a
source data set). Each planned image is read from `generator.source_image(prompt)`, decoded
and stored in the run directory as a render is — PNG, atomically, logged to the shard's render
manifest once its file exists — so build, scenarios and export treat it as any rendered image.

A source file that does not decode (truncated download, not an image) is skipped, not fatal:
one bad photograph in 100k must not stop a run. The skip is logged in the manifest like a
finished image (`path: null` + `skip_reason`), so a resume does not retry it and every shard
sees the same decision; `hvgen build` drops the image and its questions (reason
`unreadable_source`), and the card counts them. To retry after fixing the file, rerun with
--overwrite.
"""

from __future__ import annotations

import time
from pathlib import Path

from hvgen.config import RenderConfig
from hvgen.errors import HvgenError
from hvgen.generator import Generator
from hvgen.progress import progress_bar, warn
from hvgen.readers.images import strict_decoding
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
        with strict_decoding(), Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError) as error:
        raise UnreadableSourceError(
            f"{path}: the image does not decode ({error}); replace the file or remove it from the annotations."
        ) from None


class UnreadableSourceError(HvgenError):
    """A source image that does not decode."""


def skip_row(image_id: str, source: Path, error: HvgenError) -> dict[str, object]:
    """The manifest line of a source image that was skipped (no file; see the module docstring)."""
    return {"image_id": image_id, "path": None, "skip_reason": str(error), "source": str(source)}


def run_supply(run_dir: Path, generator: Generator, shard: Shard, config: RenderConfig) -> RenderSummary:
    started = time.perf_counter()
    manifest = run_dir / MANIFEST_DIR / f"render.{shard.tag}.jsonl"
    with ManifestWriter(manifest) as log:
        remove_stale_temps(run_dir / "images")
        todo, total, done = pending_jobs(run_dir, shard)
        files = RunFiles(run_dir)
        with progress_bar(f"copy images ({generator.name})", len(todo)) as advance:
            skipped = 0
            for job in todo:
                source = generator.source_image(job.prompt)
                try:
                    image = load_source_image(source)
                except UnreadableSourceError as error:
                    log.write_many([skip_row(job.image_id, source, error)])
                    skipped += 1
                    advance(1)
                    continue
                written = save_png_atomic(image, files.write_path(job.path), config.png_compress_level)
                row = {"image_id": job.image_id, "path": job.path, "width": image.width,
                       "height": image.height, "model": "source", "seconds": 0.0}  # fmt: skip
                log.write_many([{**row, **written.as_row()}])
                advance(1)
    if skipped:
        warn(
            f"{skipped} source image(s) do not decode and were skipped (their questions are dropped by build)."
        )
    return RenderSummary(total, done, len(todo) - skipped, time.perf_counter() - started)
