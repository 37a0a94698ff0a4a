"""Crash-safe file writes: write to a temp name in the same folder, then rename.

A reader (or a resumed run) therefore never sees a half-written file under its final name.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is renamed to `path`, on error removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_atomic(path: Path, writer: Callable[[IO[bytes]], Any]) -> None:
    """Call `writer(file)` on a temp file, fsync, then rename over `path`."""
    with atomic_path(path) as tmp, open(tmp, "wb") as handle:
        writer(handle)
        handle.flush()
        os.fsync(handle.fileno())


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda handle: handle.write(text.encode("utf-8")))


def write_json_atomic(path: Path, data: Any) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def save_png_atomic(image: Any, path: Path) -> None:
    """Save a PIL image as PNG (lossless, so adversarial perturbations survive)."""
    write_atomic(path, lambda handle: image.save(handle, format="PNG"))
