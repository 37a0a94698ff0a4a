"""Reading files of a run directory without trusting it.

A run directory is data: a manifest line, a catalog row or a hand-edited file can name any
path, and an image can be replaced by a symbolic link. Whatever is read from a run dir may end
up in a published dataset, so every read goes through `RunFiles`, which accepts only relative
paths that stay inside the run dir and contain no symbolic link, and opens them with
``O_NOFOLLOW``.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path, PurePosixPath

from hvgen.errors import HvgenError


class UnsafePathError(HvgenError):
    """A path read from a run directory points outside it or through a symbolic link."""


def checked_relpath(relpath: str, where: str = "run directory") -> PurePosixPath:
    """`relpath` as a normalised relative path, refusing absolute paths and `..`."""
    if not isinstance(relpath, str) or not relpath or "\\" in relpath or "\x00" in relpath:
        raise UnsafePathError(f"invalid path {relpath!r} in the {where}.")
    path = PurePosixPath(relpath)
    if path.is_absolute() or any(part in ("", ".", "..") for part in relpath.split("/")):
        raise UnsafePathError(
            f"path {relpath!r} in the {where} leaves the run directory; hvgen only reads files inside it."
        )
    return path


class RunFiles:
    """The files of one run directory, addressed by run-dir-relative POSIX paths."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.root = run_dir.resolve()

    def path(self, relpath: str) -> Path:
        """The absolute path of `relpath`, refusing anything outside the run dir or any symlink."""
        parts = checked_relpath(relpath).parts
        current = self.root
        for part in parts:
            current = current / part
            if current.is_symlink():
                raise UnsafePathError(
                    f"{self.run_dir / relpath} is (or lies under) a symbolic link ({current}): hvgen never "
                    "follows links inside a run directory, since the linked file would be published. "
                    "Replace the link with the real file, or delete it and rerun the stage that made it."
                )
        return current

    def write_path(self, relpath: str) -> Path:
        """Where to write `relpath`: its folders must not be links (a link at the file itself is
        fine to write: the atomic rename replaces the link, not its target)."""
        parts = checked_relpath(relpath).parts
        current = self.root
        for part in parts[:-1]:
            current = current / part
            if current.is_symlink():
                raise UnsafePathError(
                    f"{current} in the run directory is a symbolic link: hvgen writes only inside the run "
                    "directory. Replace the link with a real folder."
                )
        return current / parts[-1]

    def size(self, relpath: str) -> int:
        info = os.lstat(self.path(relpath))
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"{self.run_dir / relpath} is not a regular file.")
        return info.st_size

    def read_bytes(self, relpath: str) -> bytes:
        path = self.path(relpath)
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0)
        fd = os.open(path, flags)
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise UnsafePathError(f"{self.run_dir / relpath} is not a regular file.")
            return handle.read()

    def exists(self, relpath: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.path(relpath)).st_mode)
        except FileNotFoundError:
            return False
