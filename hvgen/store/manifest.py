"""Append-only work logs ("manifests").

Workers (render / scenario, possibly many processes) append one JSON line per finished item,
*after* the item's file has been renamed into place. The catalog ingests these logs with DuckDB;
only one process ever writes the catalog, so sharded workers never contend for it. A line cut
short by a crash is ignored, which simply makes that item pending again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


class ManifestWriter:
    """Appends JSON lines, flushed and fsynced per batch so a crash loses at most a batch."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = open(path, "a", encoding="utf-8")

    def write_many(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self._handle.write("".join(json.dumps(row, sort_keys=True) + "\n" for row in rows))
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_manifest_rows(paths: list[Path]) -> list[dict[str, Any]]:
    """All complete lines of the given logs (a truncated or corrupt line is skipped)."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.endswith("\n"):
                    continue
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError:
                    continue
    return rows
