"""The licence gate of `hvgen push`: no image bytes of a source that forbids redistribution.

The convention, for any benchmark: a row with a boolean `redistributable` column that is false
may be exported for local use with its image, but must not be uploaded with it. The gate reads
the export itself (not the run's options), so what it checks is exactly what would be uploaded:
per-question rows (`image` bytes) and, in the image-once layout, the `<config>_images` rows
that a non-redistributable question names by `image_file`.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

REDISTRIBUTABLE_COLUMN = "redistributable"
_IMAGE_COLUMNS = ("image", "images", "frame_images")
_IMAGE_FILE = "image_file"
_FRAME_FILES = "frame_files"


def _schema_names(path: Path) -> list[str] | None:
    """The columns of a parquet file, or None for a file that is not parquet (it holds no rows
    any reader would show, so the gate has nothing to check in it)."""
    try:
        return pq.read_schema(path).names
    except (pa.ArrowInvalid, OSError):
        return None


def _has_bytes(column) -> list[bool]:
    """Per row: does this `datasets.Image` (or list of them) cell hold image bytes?"""
    rows = column.to_pylist()
    found = []
    for cell in rows:
        cells = cell if isinstance(cell, list) else [cell]
        found.append(any(isinstance(c, dict) and c.get("bytes") for c in cells))
    return found


def unredistributable_images(folder: Path) -> list[str]:
    """'<file>: N rows' for every export file that carries image bytes of rows (or, image-once,
    of pictures) marked `redistributable = false`; empty when the export may be uploaded."""
    files = [path for path in sorted((folder / "data").rglob("*.parquet")) if _schema_names(path) is not None]
    problems: list[str] = []
    restricted_files: set[str] = set()
    for path in files:
        names = _schema_names(path) or []
        if REDISTRIBUTABLE_COLUMN not in names:
            continue
        columns = [REDISTRIBUTABLE_COLUMN] + [c for c in (*_IMAGE_COLUMNS, _IMAGE_FILE) if c in names]
        table = pq.read_table(path, columns=columns)
        banned = pc.fill_null(pc.invert(table.column(REDISTRIBUTABLE_COLUMN)), False).to_pylist()
        if _IMAGE_FILE in names:
            files_of = table.column(_IMAGE_FILE).to_pylist()
            restricted_files |= {name for name, bad in zip(files_of, banned) if bad and name}
        if _FRAME_FILES in names:
            frames_of = pq.read_table(path, columns=[_FRAME_FILES]).column(_FRAME_FILES).to_pylist()
            restricted_files |= {name for row, bad in zip(frames_of, banned) if bad for name in row or []}
        for column in _IMAGE_COLUMNS:
            if column in names:
                count = sum(bad and has for bad, has in zip(banned, _has_bytes(table.column(column))))
                if count:
                    problems.append(f"{path.relative_to(folder)}: {count} rows")
    if restricted_files:
        for path in files:
            names = _schema_names(path) or []
            if _IMAGE_FILE in names and "image" in names and REDISTRIBUTABLE_COLUMN not in names:
                table = pq.read_table(path, columns=[_IMAGE_FILE, "image"])
                named = table.column(_IMAGE_FILE).to_pylist()
                count = sum(
                    name in restricted_files and has
                    for name, has in zip(named, _has_bytes(table.column("image")))
                )
                if count:
                    problems.append(f"{path.relative_to(folder)}: {count} pictures")
    return problems
