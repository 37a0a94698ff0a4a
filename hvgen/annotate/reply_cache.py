"""A content-keyed, crash-safe cache of model replies (a JSONL log under the hvgen cache).

A reply is stored under a hash of everything that decides it — the model, the exact prompt, the
image's bytes, the region asked about, the decoding — so a rerun (after a kill, or with a
different plan that asks the same question) reads it back instead of running the model, and a
changed prompt or image never reuses an old reply. Rows are appended per batch through
`ManifestWriter` (locked, fsynced, a torn last line cut off): a kill loses at most a batch.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError
from hvgen.store.manifest import ManifestBusyError, ManifestWriter, read_manifest_rows


def reply_key(*parts: Any) -> str:
    """The cache key of a reply: a SHA-256 of its deciding parts (JSON, keys sorted)."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_digest(path: Path) -> str:
    """SHA-256 of a file's bytes (an image's identity in reply keys: a renamed copy still hits)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class ReplyCache:
    """`get(key)` → the stored value or None; `put_many({key: value})` appends one batch.

    One log per use (`name`), opened for the cache's lifetime; the values are JSON data. Use it
    as a context manager so the log's lock is released."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self._writer = ManifestWriter(path)  # creates the folder, takes the lock, cuts a torn tail
        except ManifestBusyError:
            raise HvgenError(
                f"another hvgen process is writing the reply cache {path}: wait for it to finish, or give this "
                "one its own cache (HVGEN_CACHE=DIR)."
            ) from None
        self._values: dict[str, Any] = {}
        for row in read_manifest_rows([path]):
            if isinstance(row.get("key"), str) and "value" in row:
                self._values.setdefault(row["key"], row["value"])
        self.hits = 0
        self.stored = 0

    def get(self, key: str) -> Any:
        value = self._values.get(key)
        if value is not None:
            self.hits += 1
        return value

    def __contains__(self, key: str) -> bool:
        return key in self._values

    def put_many(self, values: dict[str, Any]) -> None:
        new = {key: value for key, value in values.items() if key not in self._values}
        self._writer.write_many([{"key": key, "value": value} for key, value in new.items()])
        self._values.update(new)
        self.stored += len(new)

    def close(self) -> None:
        self._writer.close()

    def __enter__(self) -> ReplyCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
