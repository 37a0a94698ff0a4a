"""Append-only work logs ("manifests").

Workers (render / scenario, possibly many processes) append one JSON line per finished item,
*after* the item's file has been renamed into place. The catalog ingests these logs with DuckDB;
only one process ever writes the catalog, so sharded workers never contend for it.

Each log has one writer: `ManifestWriter` holds an exclusive lock on it (a second process on
the same shard is refused with a clear error instead of interleaving lines). A crash can leave
a last line cut short; the writer cuts that fragment off before appending, so the next line
starts on a line of its own, and readers skip any line that is not complete JSON — the item it
described is simply pending again.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError

try:  # POSIX; elsewhere one writer per shard is the user's promise
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]


class ManifestBusyError(HvgenError):
    """Another process is appending to the same manifest (the same stage and shard)."""


class ManifestWriter:
    """Appends JSON lines, flushed and fsynced per batch so a crash loses at most a batch."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._handle = open(path, "a+b")  # noqa: SIM115 - closed in close()
        try:
            self._lock()
            self._cut_torn_tail()
        except BaseException:
            self._handle.close()
            raise

    def _lock(self) -> None:
        if fcntl is None:
            return
        try:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ManifestBusyError(
                f"another hvgen process is working on {self.path.name} of this run (same stage and shard). "
                "Wait for it to finish, or stop it; two processes must not do the same shard's work."
            ) from None

    def _cut_torn_tail(self) -> None:
        """Drop a last line without its newline (a crash mid-append): it never counted."""
        handle = self._handle
        size = handle.seek(0, os.SEEK_END)
        if size == 0:
            return
        handle.seek(size - 1)
        if handle.read(1) == b"\n":
            return
        # find the last newline, reading backwards in blocks
        position, keep = size, 0
        while position > 0:
            step = min(65536, position)
            position -= step
            handle.seek(position)
            block = handle.read(step)
            index = block.rfind(b"\n")
            if index >= 0:
                keep = position + index + 1
                break
        handle.truncate(keep)
        handle.flush()
        os.fsync(handle.fileno())

    def write_many(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        data = "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows).encode("utf-8")
        self._handle.seek(0, os.SEEK_END)
        self._handle.write(data)
        self._handle.flush()
        os.fsync(self._handle.fileno())

    def close(self) -> None:
        self._handle.close()  # releases the lock

    def __enter__(self) -> ManifestWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_manifest_rows(paths: list[Path]) -> list[dict[str, Any]]:
    """All complete lines of the given logs, in order (a torn or corrupt line is skipped)."""
    rows: list[dict[str, Any]] = []
    for path in paths:
        with open(path, "rb") as handle:
            for raw in handle:
                if not raw.endswith(b"\n"):
                    continue
                try:
                    row = json.loads(raw)
                except (json.JSONDecodeError, UnicodeDecodeError):
                    continue
                if isinstance(row, dict):
                    rows.append(row)
    return rows
