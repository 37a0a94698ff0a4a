"""Whether a finished export can be kept as it is: a rerun of a finished command must not
rewrite it.

The export's stamp (`EXPORT_STAMP`, see `hvgen.store.decisions`) holds, besides the decision
state `hvgen push` checks, what else the export was written from and what it wrote:

* `inputs`: one sha256 of the decision state (plan hash, kept questions and images, drops,
  every verified image with its sha256, the scenarios), the work manifests (size and mtime of
  each: any line added, even one that remade a file byte for byte, writes the export again), the
  resolved run config (which decides the card, the layout and the shard sizes), the card's
  statistics and hvgen's version;
* `listing`: a sha256 of the export folder's files (path, size, mtime), so an edited or deleted
  shard is noticed;
* `formats`: each extra format written with it (`RUN/formats/<name>`) and its listing;
* `configs`: the export's configs (names, rows, files), for the summary of a rerun.

An export is up to date when its inputs are the same, its files are as written and every format
asked for now was written with it (a format asked for before and not now is left as it is).
Anything else, including an older stamp without these fields, writes the export again.
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
from hvgen.store.layout import EXPORT_DIR, EXPORT_STAMP, FORMATS_DIR, MANIFEST_DIR

STAMP_FIELDS = ("inputs", "listing", "formats", "configs")


def export_inputs(
    run_dir: Path, state: str, config: Any, incomplete: str | None, stats: dict[str, Any] | None
) -> str:
    """The sha256 of what an export is written from (module docstring)."""
    parts = {
        "decision_state": state,
        "manifests": folder_listing(run_dir / MANIFEST_DIR),
        "config": asdict(config),
        "incomplete": incomplete,
        "stats": stats,
        "hvgen": __version__,
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def folder_listing(folder: Path) -> str | None:
    """sha256 of every file under `folder` (relative path, size, mtime), the stamp left out; None
    for a folder that is missing or a link."""
    if folder.is_symlink() or not folder.is_dir():
        return None
    entries = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        for name in sorted(files):
            path = Path(root, name)
            relative = path.relative_to(folder).as_posix()
            if relative == EXPORT_STAMP:
                continue
            info = path.lstat()
            entries.append(f"{relative}\t{info.st_size}\t{info.st_mtime_ns}")
    return hashlib.sha256("\n".join(entries).encode()).hexdigest()


def read_stamp(folder: Path) -> dict[str, Any]:
    path = folder / EXPORT_STAMP
    try:
        if path.is_symlink() or not path.is_file():
            return {}
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def stamp_export(folder: Path, inputs: str, configs: Iterable[Any]) -> None:
    """Add the inputs, the listing and the configs to the stamp of the export just swapped in
    (`folder` = RUN/export); its formats are added as each is written."""
    data = read_stamp(folder)
    data.update(
        inputs=inputs,
        listing=folder_listing(folder),
        formats={},
        configs=[asdict(item) for item in configs],
    )
    write_json_atomic(folder / EXPORT_STAMP, data)


def stamp_format(run_dir: Path, name: str) -> None:
    """Record format `name` (just written to RUN/formats/<name>) in the export's stamp."""
    folder = run_dir / EXPORT_DIR
    data = read_stamp(folder)
    if not isinstance(data.get("formats"), dict):
        return
    data["formats"][name] = folder_listing(run_dir / FORMATS_DIR / name)
    write_json_atomic(folder / EXPORT_STAMP, data)


def current_configs(run_dir: Path, inputs: str, formats: Iterable[str]) -> list[dict[str, Any]] | None:
    """The configs of RUN/export if it is up to date for `inputs` and `formats` (module
    docstring); None if it must be written again."""
    folder = run_dir / EXPORT_DIR
    data = read_stamp(folder)
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
