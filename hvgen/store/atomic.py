"""Crash-safe file writes: write to a temp name in the same folder, then rename.

A reader (or a resumed run) therefore never sees a half-written file under its final name.
Temp names carry the host and process id (``.<name>.<host>.<pid>.<random>.tmp``), so a later
run can tell a temp file left by a killed process (same host, process gone: removed by
`remove_stale_temps`) from one a live process is writing — possibly another shard on the
same shared file system, whose files are left alone.

Files end with the mode an ordinary ``open()`` would have given them (0666 minus the umask),
not ``mkstemp``'s 0600: teammates on a shared cluster must be able to read an export.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import secrets
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

_TEMP_SUFFIX = ".tmp"


def _host_tag() -> str:
    """This host's name, made safe for a file name (dots would confuse the temp-name parser)."""
    return "".join(c if c.isalnum() or c == "-" else "-" for c in socket.gethostname())[:40] or "host"


def _umask() -> int:
    """The process umask (cached). Linux reports it in /proc; elsewhere it can only be read by
    setting it, which is done once, before any writer thread starts."""
    global _UMASK
    if _UMASK is None:
        try:
            status = Path("/proc/self/status").read_text()
            _UMASK = int(
                next(line.split()[1] for line in status.splitlines() if line.startswith("Umask:")), 8
            )
        except (OSError, StopIteration, ValueError, IndexError):
            current = os.umask(0o022)
            os.umask(current)
            _UMASK = current
    return _UMASK


_UMASK: int | None = None


def _temp_path(path: Path) -> Path:
    return path.parent / f".{path.name}.{_host_tag()}.{os.getpid()}.{secrets.token_hex(4)}{_TEMP_SUFFIX}"


@contextmanager
def atomic_path(path: Path) -> Iterator[Path]:
    """Yield a temp path beside `path`; on success it is renamed to `path`, on error removed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(path)
    try:
        yield tmp
        if tmp.exists():
            os.chmod(tmp, 0o666 & ~_umask())
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


@dataclass(frozen=True)
class WrittenFile:
    """What a stage records about a file it wrote, so a later run can tell whether the file on
    disk is still that file: size, mtime and ctime for a cheap check, sha256 for a certain one.
    The ctime matters: `os.utime` can put an old mtime back on rewritten content, but nothing
    short of changing the clock puts back a ctime, which every write (and utime) moves."""

    bytes: int
    sha256: str
    mtime_ns: int
    ctime_ns: int | None = None

    def as_row(self) -> dict[str, Any]:
        row: dict[str, Any] = {"bytes": self.bytes, "sha256": self.sha256, "mtime_ns": self.mtime_ns}
        if self.ctime_ns is not None:
            row["ctime_ns"] = self.ctime_ns
        return row


def write_bytes_atomic(path: Path, data: bytes) -> WrittenFile:
    write_atomic(path, lambda handle: handle.write(data))
    info = os.stat(path)  # after the rename, which moves the ctime too
    return WrittenFile(len(data), hashlib.sha256(data).hexdigest(), info.st_mtime_ns, info.st_ctime_ns)


def encode_png(image: Any, compress_level: int = 6) -> bytes:
    """A PIL image as PNG bytes (lossless, so adversarial perturbations survive)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=compress_level)
    return buffer.getvalue()


def save_png_atomic(image: Any, path: Path, compress_level: int = 6) -> WrittenFile:
    return write_bytes_atomic(path, encode_png(image, compress_level))


def remove_stale_temps(root: Path) -> int:
    """Remove temp files under `root` left by dead processes of this host; returns how many.

    A temp file of a live process, or of another host (a shard on a shared file system), is
    left alone: removing it would make that process's rename fail."""
    if not root.is_dir():
        return 0
    host, removed = _host_tag(), 0
    for folder, _, names in os.walk(root):
        for name in names:
            if not (name.startswith(".") and name.endswith(_TEMP_SUFFIX)):
                continue
            parts = name[: -len(_TEMP_SUFFIX)].rsplit(".", 3)
            if len(parts) != 4 or parts[1] != host or not parts[2].isdigit():
                continue
            if _process_alive(int(parts[2])):
                continue
            try:
                os.unlink(os.path.join(folder, name))
                removed += 1
            except FileNotFoundError:
                pass
    return removed


def left_by_dead_process(host: str, pid: int) -> bool:
    """Whether a scratch file named with (`host`, `pid`) was left by a process of this host
    that is gone (one of another host, or alive, must be left alone)."""
    return host == _host_tag() and not _process_alive(pid)


def scratch_tag() -> str:
    """`<host>.<pid>`: what scratch names carry so `left_by_dead_process` can judge them."""
    return f"{_host_tag()}.{os.getpid()}"


def _process_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
