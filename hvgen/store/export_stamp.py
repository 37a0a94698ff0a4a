"""Whether a finished export can be kept as it is: a rerun of a finished command must not
rewrite it.

Beside the export (`RUN/EXPORT_STATE`, not inside it: the export folder holds only what is the
same for the same config and seed, and its own stamp of the decisions `hvgen push` checks) the
export stage records what the export was written from and what it wrote:

* `inputs`: one sha256 of the decision state (plan hash, kept questions and images, drops,
  every verified image with its sha256, the scenarios), the work manifests (size and mtime of
  each: any line added, even one that remade a file byte for byte, writes the export again), the
  resolved run config (which decides the card, the layout and the shard sizes), the files the
  benchmark reads besides the run (its path options: COCO annotations, label files ...), the
  run's quality report (shown in the card), the card's statistics and hvgen's version;
* `listing`: a sha256 of the export folder's files (path, size, mtime), so an edited, deleted
  or replaced file is noticed;
* `formats`: each extra format written with it (`RUN/formats/<name>`) and its listing;
* `configs`: the export's configs (names, rows, files), for the summary of a rerun.

An export is up to date when its inputs are the same, its files are as written and every format
asked for now was written with it (a format asked for before and not now is left as it is).
Anything else, including a missing or older state file, writes the export again.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from hvgen import __version__
from hvgen.store.atomic import write_json_atomic
from hvgen.store.layout import EXPORT_DIR, EXPORT_STATE, FORMATS_DIR, MANIFEST_DIR, QUALITY_REPORT

STAMP_FIELDS = ("inputs", "listing", "formats", "configs")


def export_inputs(
    run_dir: Path,
    state: str,
    config: Any,
    incomplete: str | None,
    stats: dict[str, Any] | None,
    source_files: Iterable[str] = (),
) -> str:
    """The sha256 of what an export is written from (module docstring); `source_files` are the
    files and folders the benchmark reads besides the run (its path options)."""
    parts = {
        "decision_state": state,
        "manifests": folder_listing(run_dir / MANIFEST_DIR),
        "config": asdict(config),
        "sources": [_stat(Path(path)) for path in sorted(source_files)],
        "quality": _stat(run_dir / QUALITY_REPORT),
        "incomplete": incomplete,
        "stats": stats,
        "hvgen": __version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def _stat(path: Path) -> list[Any] | None:
    """(path, size, mtime) of a file or folder; None when it is not there."""
    try:
        info = path.stat()
    except OSError:
        return None
    return [str(path), info.st_size, info.st_mtime_ns]


def folder_listing(folder: Path) -> str | None:
    """sha256 of every file under `folder` (relative path, size, mtime); None for a folder that is
    missing or a link."""
    if folder.is_symlink() or not folder.is_dir():
        return None
    entries = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            relative = path.relative_to(folder).as_posix()
            info = path.lstat()
            entries.append(f"{relative}\t{info.st_size}\t{info.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def read_state(run_dir: Path) -> dict[str, Any]:
    path = run_dir / EXPORT_STATE
    try:
        if path.is_symlink() or not path.is_file():
            return {}
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stamp_export(folder: Path, inputs: str, configs: Iterable[Any]) -> None:
    """Record the inputs, the listing and the configs of the export just swapped in (`folder` =
    RUN/export); its formats are added as each is written."""
    state = {"inputs": inputs, "listing": folder_listing(folder), "formats": {}}
    state["configs"] = [asdict(item) for item in configs]
    write_json_atomic(folder.parent / EXPORT_STATE, state)


def stamp_format(run_dir: Path, name: str) -> None:
    """Record format `name` (just written to RUN/formats/<name>) as written with the export."""
    data = read_state(run_dir)
    if not isinstance(data.get("formats"), dict):
        return
    data["formats"][name] = folder_listing(run_dir / FORMATS_DIR / name)
    write_json_atomic(run_dir / EXPORT_STATE, data)


def current_configs(run_dir: Path, inputs: str, formats: Iterable[str]) -> list[dict[str, Any]] | None:
    """The configs of RUN/export if it is up to date for `inputs` and `formats` (module
    docstring); None if it must be written again."""
    folder = run_dir / EXPORT_DIR
    data = read_state(run_dir)
    if any(key not in data for key in STAMP_FIELDS) or data["inputs"] != inputs:
        return None
    written = data["formats"]
    if not isinstance(written, dict) or not isinstance(data["configs"], list):
        return None
    for name in formats:
        if name not in written or written[name] != folder_listing(run_dir / FORMATS_DIR / name):
            return None
    if data["listing"] != folder_listing(folder):
        return None
    return data["configs"]
