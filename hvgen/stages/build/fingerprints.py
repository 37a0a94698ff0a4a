"""Image fingerprints for dedup and leak checks: exact pixel hash + 64-bit perceptual hash.

Why two hashes:

* ``pixel_sha256`` is the sha256 of the *decoded* RGB pixels and the image size, not of the
  file: the same pixels written as PNG with another compression level, with other metadata,
  or as any other lossless format hash the same. (Lossy re-encodings such as JPEG change the
  pixels and are caught by the perceptual hash instead.)
* ``phash`` is ``imagehash.phash`` (DCT of a 32x32 greyscale thumbnail, 8x8 low-frequency
  block compared with its median) stored as a **signed** int64 so it fits a DuckDB
  ``BIGINT``; the Hamming distance of two hashes is ``bit_count(xor(a, b))`` in SQL. Bit 63
  (the sign bit) is imagehash's first bit, so ``phash_to_hex`` gives imagehash's own hex
  string and ``imagehash.hex_to_hash`` reads it back.

`fingerprint_images` fills the catalog table ``fingerprints(image_id, pixel_sha256, phash)``
for every image row that has none yet, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

import duckdb
import imagehash
import numpy as np
import pyarrow as pa
from PIL import Image

from hvgen.cpu_budget import available_cpus
from hvgen.progress import progress_bar

__all__ = [
    "Fingerprint",
    "FINGERPRINTS_DDL",
    "fingerprint_image",
    "fingerprint_images",
    "map_fingerprints",
    "phash_from_hex",
    "phash_to_hex",
    "phash_to_int",
]

ImageSource = str | os.PathLike | Image.Image | bytes
T = TypeVar("T")

FINGERPRINTS_DDL = """
CREATE TABLE IF NOT EXISTS fingerprints (
    image_id VARCHAR PRIMARY KEY,
    pixel_sha256 VARCHAR NOT NULL,
    phash BIGINT NOT NULL
)
"""

_BATCH = 256  # rows per catalog insert: small enough that an interruption loses little work


@dataclass(frozen=True)
class Fingerprint:
    """`pixel_sha256`: hex sha256 of size + RGB pixels; `phash`: signed 64-bit pHash."""

    pixel_sha256: str
    phash: int

    @property
    def phash_hex(self) -> str:
        return phash_to_hex(self.phash)


def phash_to_int(h: imagehash.ImageHash) -> int:
    """imagehash's 8x8 bit array → signed int64 (first bit = most significant = sign bit)."""
    bits = h.hash.flatten()
    if bits.size != 64:
        raise ValueError(f"expected a 64-bit hash (hash_size=8), got {bits.size} bits")
    return int.from_bytes(np.packbits(bits.astype(bool)).tobytes(), "big", signed=True)


def phash_to_hex(value: int) -> str:
    """Signed int64 → the 16-hex-digit string imagehash prints for the same hash."""
    return f"{value & 0xFFFFFFFFFFFFFFFF:016x}"


def phash_from_hex(text: str) -> int:
    """16 hex digits (imagehash's ``str(hash)``) → signed int64."""
    text = text.strip().lower()
    if len(text) != 16:
        raise ValueError(f"a pHash is 16 hex digits, got {len(text)} characters: {text!r}")
    value = int(text, 16)
    return value - (1 << 64) if value >= (1 << 63) else value


def _open(src: ImageSource) -> Image.Image:
    if isinstance(src, Image.Image):
        return src
    if isinstance(src, bytes | bytearray | memoryview):
        img = Image.open(io.BytesIO(bytes(src)))
    else:
        img = Image.open(src)
    img.load()
    return img


def fingerprint_image(src: ImageSource) -> Fingerprint:
    """Fingerprint one image given as a path, encoded bytes or a PIL image.

    Alpha is dropped (``convert("RGB")``) because every exporter we feed writes RGB, and an
    RGBA copy of an RGB image should still count as the same picture.
    """
    img = _open(src)
    rgb = img if img.mode == "RGB" else img.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return Fingerprint(pixel_sha256=digest.hexdigest(), phash=phash_to_int(imagehash.phash(rgb)))


def _fingerprint_or_error(src: ImageSource) -> Fingerprint | str:
    # Return errors as text so one unreadable file does not kill a whole process pool batch.
    try:
        return fingerprint_image(src)
    except Exception as exc:  # noqa: BLE001 - reported with the image id by the caller
        return f"{type(exc).__name__}: {exc}"


def _make_executor(kind: Literal["thread", "process"], workers: int) -> Executor:
    if kind == "process":
        import multiprocessing as mp

        # spawn: never fork a process that holds an open DuckDB connection.
        return ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"))
    return ThreadPoolExecutor(max_workers=workers)


def map_fingerprints(
    items: Iterable[tuple[T, ImageSource]],
    *,
    workers: int | None = None,
    executor: Literal["thread", "process"] = "thread",
    chunk: int = 64,
) -> Iterator[tuple[T, Fingerprint | str]]:
    """Fingerprint ``(key, source)`` items in parallel, yielding ``(key, fingerprint | error)``
    in input order with a bounded number of images in flight (memory stays flat).

    Threads are the default: Pillow's decoders, resize and hashlib release the GIL, so threads
    scale on decoding-bound work without pickling image bytes between processes.
    """
    workers = workers or available_cpus()
    pending: deque[tuple[T, Future]] = deque()
    with _make_executor(executor, workers) as pool:
        window = max(chunk, 4 * workers)
        for key, src in items:
            pending.append((key, pool.submit(_fingerprint_or_error, src)))
            if len(pending) >= window:
                k, fut = pending.popleft()
                yield k, fut.result()
        for k, fut in pending:
            yield k, fut.result()


def _insert_batch(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, int]]) -> None:
    if not rows:
        return
    batch = pa.table(
        {
            "image_id": pa.array([r[0] for r in rows], pa.string()),
            "pixel_sha256": pa.array([r[1] for r in rows], pa.string()),
            "phash": pa.array([r[2] for r in rows], pa.int64()),
        }
    )
    con.register("_hvgen_fp_batch", batch)
    try:
        con.execute("INSERT OR REPLACE INTO fingerprints SELECT * FROM _hvgen_fp_batch")
    finally:
        con.unregister("_hvgen_fp_batch")


def fingerprint_images(
    con: duckdb.DuckDBPyConnection,
    run_dir: str | os.PathLike,
    table: str = "images",
    *,
    id_column: str = "image_id",
    path_column: str = "path",
    workers: int | None = None,
    executor: Literal["thread", "process"] = "thread",
    progress: bool = True,
    on_batch: Callable[[int], None] | None = None,
) -> int:
    """Fingerprint every row of `table` that has no ``fingerprints`` row yet; returns how many
    were computed.

    Rows are committed in batches, so an interrupted run keeps what it finished and the next
    call only does the rest. Paths are relative to `run_dir` (absolute paths also work).
    Unreadable images are reported together at the end (after the readable ones are saved)
    in one `ValueError` naming the image ids and files. `on_batch(done)` is called after each
    committed batch (for callers that log progress elsewhere than the rich bar).
    """
    run_dir = Path(run_dir)
    con.execute(FINGERPRINTS_DDL)
    todo = con.execute(
        f"""SELECT t.{id_column}, t.{path_column} FROM {table} t
            WHERE NOT EXISTS (SELECT 1 FROM fingerprints f WHERE f.image_id = t.{id_column})
            ORDER BY t.{id_column}"""
    ).fetchall()
    if not todo:
        return 0

    errors: list[str] = []
    done = 0
    rows: list[tuple[str, str, int]] = []

    def sources() -> Iterator[tuple[str, ImageSource]]:
        for image_id, rel in todo:
            if rel is None:
                errors.append(f"{image_id}: no path in {table}.{path_column}")
                continue
            p = Path(rel)
            yield image_id, (p if p.is_absolute() else run_dir / p)

    paths = dict(todo)
    with progress_bar("fingerprints", len(todo), enabled=progress) as advance:
        for image_id, fp in map_fingerprints(sources(), workers=workers, executor=executor):
            if isinstance(fp, str):
                errors.append(f"{image_id} ({run_dir / paths[image_id]}): {fp}")
            else:
                rows.append((image_id, fp.pixel_sha256, fp.phash))
            if len(rows) >= _BATCH:
                _insert_batch(con, rows)
                done += len(rows)
                if on_batch:
                    on_batch(done)
                rows = []
            advance(1)
        _insert_batch(con, rows)
        done += len(rows)
    if errors:
        shown = "\n  ".join(errors[:10])
        more = f"\n  … and {len(errors) - 10} more" if len(errors) > 10 else ""
        raise ValueError(
            f"could not fingerprint {len(errors)} of {len(todo)} images listed in table {table!r} "
            f"(run dir {run_dir}):\n  {shown}{more}\n"
            "Re-render the missing/corrupt images (the render stage skips finished ones) or remove "
            "their rows, then run again: the fingerprints already computed are kept."
        )
    return done
