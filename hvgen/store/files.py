"""Reading files of a run directory without trusting it.

A run directory is data: a manifest line, a catalog row or a hand-edited file can name any
path, and an image can be replaced by a symbolic link. Whatever is read from a run dir may end
up in a published dataset, so every read goes through `RunFiles`, which accepts only relative
paths that stay inside the run dir and contain no symbolic link, and opens them with
``O_NOFOLLOW``.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path, PurePosixPath

from hvgen.errors import HvgenError


class UnsafePathError(HvgenError):
    """A path read from a run directory points outside it or through a symbolic link."""


def _relpath_parts(relpath: str, where: str = "run directory") -> list[str]:
    """The components of a relative POSIX path, refusing absolute paths, `..` and empty parts
    (string checks only: this runs once per image of an export)."""
    if not isinstance(relpath, str) or not relpath or "\\" in relpath or "\x00" in relpath:
        raise UnsafePathError(f"invalid path {relpath!r} in the {where}.")
    parts = relpath.split("/")
    if relpath.startswith("/") or any(part in ("", ".", "..") for part in parts):
        raise UnsafePathError(
            f"path {relpath!r} in the {where} leaves the run directory; hvgen only reads files inside it."
        )
    return parts


def checked_relpath(relpath: str, where: str = "run directory") -> PurePosixPath:
    """`relpath` as a normalised relative path, refusing absolute paths and `..`."""
    return PurePosixPath(*_relpath_parts(relpath, where))


class RunFiles:
    """The files of one run directory, addressed by run-dir-relative POSIX paths.

    Reading checks every component for a symbolic link. Folders already checked by this object
    are remembered (an export reads hundreds of thousands of files from a few hundred folders;
    checking each folder per file was most of its time), so keep an instance for one stage run;
    the file itself is checked on every access and opened with ``O_NOFOLLOW``."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir
        self.root = run_dir.resolve()
        self._root = str(self.root)
        self._checked_folders: set[str] = set()

    def _link_error(self, relpath: str, link: str) -> UnsafePathError:
        return UnsafePathError(
            f"{self.run_dir / relpath} is (or lies under) a symbolic link ({link}): hvgen never "
            "follows links inside a run directory, since the linked file would be published. "
            "Replace the link with the real file, or delete it and rerun the stage that made it."
        )

    def _folder_checked(self, relpath: str, parts: list[str]) -> str:
        """The absolute path of `relpath` (a string), its folders checked for links once."""
        folder = "/".join(parts[:-1])
        if folder not in self._checked_folders:
            current = self._root
            for part in parts[:-1]:
                current = os.path.join(current, part)
                if os.path.islink(current):
                    raise self._link_error(relpath, current)
            self._checked_folders.add(folder)
        return os.path.join(self._root, *parts)

    def _checked(self, relpath: str) -> str:
        full = self._folder_checked(relpath, _relpath_parts(relpath))
        if os.path.islink(full):
            raise self._link_error(relpath, full)
        return full

    def path(self, relpath: str) -> Path:
        """The absolute path of `relpath`, refusing anything outside the run dir or any symlink."""
        return Path(self._checked(relpath))

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

    def lstat(self, relpath: str) -> os.stat_result:
        """The status of `relpath` itself (a link at the file is not followed), its folders checked."""
        return os.lstat(self._folder_checked(relpath, _relpath_parts(relpath)))

    def size(self, relpath: str) -> int:
        info = self.lstat(relpath)
        if stat.S_ISLNK(info.st_mode):
            raise self._link_error(relpath, os.path.join(self._root, relpath))
        if not stat.S_ISREG(info.st_mode):
            raise UnsafePathError(f"{self.run_dir / relpath} is not a regular file.")
        return info.st_size

    def read_bytes(self, relpath: str) -> bytes:
        full = self._folder_checked(relpath, _relpath_parts(relpath))
        if not hasattr(os, "O_NOFOLLOW") and os.path.islink(full):  # pragma: no cover - Windows
            raise self._link_error(relpath, full)
        try:
            fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        except OSError as error:
            if error.errno == errno.ELOOP:  # the file itself is a link
                raise self._link_error(relpath, full) from None
            raise
        with os.fdopen(fd, "rb") as handle:
            if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
                raise UnsafePathError(f"{self.run_dir / relpath} is not a regular file.")
            return handle.read()

    def exists(self, relpath: str) -> bool:
        try:
            return stat.S_ISREG(os.lstat(self.path(relpath)).st_mode)
        except FileNotFoundError:
            return False
