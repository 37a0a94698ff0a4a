"""Files read from a folder the user named stay inside that folder.

A downloaded archive can carry symbolic links (`train/1.jpg -> ~/private/me.jpg`, or a folder
linking to `/`); following them would read, and export, files the user never pointed hvgen at.
As rsync's `--safe-links` does, a file whose real location is outside the source folder is
skipped and counted, and one warning names the skipped files and how to opt in
(`--follow-symlinks`: data sets kept on another disk and linked in are common). The folder the
user named may itself be a link: it is resolved once, and every file is judged against where it
really is. A file is named by its path relative to the folder as listed (never its resolved
path), so no machine path reaches a row, a card or a log.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path, PurePosixPath

from hvgen.errors import HvgenError

FOLLOW_SYMLINKS_OPTION = "--follow-symlinks"
LISTED = 5
"""How many skipped files the warning names."""


class SourceFolder:
    """The folders a reader may read (a source folder, and any the user named beside it, such as a
    frames cache), each resolved once; `admit(path)` says whether a file may be read."""

    def __init__(self, roots: Path | Sequence[Path], *, follow_symlinks: bool = False) -> None:
        listed = [Path(roots)] if isinstance(roots, (str, os.PathLike)) else [Path(r) for r in roots]
        self.roots = [(root, Path(os.path.realpath(root))) for root in listed]
        self.follow_symlinks = follow_symlinks
        self.outside: list[str] = []
        self._refused: set[str] = set()
        self._real_parents: dict[str, str] = {}
        self._tops = [(str(real), str(real).rstrip(os.sep) + os.sep) for _, real in self.roots]

    @property
    def root(self) -> Path:
        return self.roots[0][0]

    def real_path(self, path: Path | str) -> str:
        """Where `path` really is. Folders are resolved once each (a source has few folders and
        many files): a file costs one lstat unless it is itself a link. Strings, not pathlib: this
        runs once per file of a 200k-file source."""
        text = os.fspath(path)
        if os.path.islink(text):
            return os.path.realpath(text)
        parent, name = os.path.split(text)
        real = self._real_parents.get(parent)
        if real is None:
            real = self._real_parents[parent] = os.path.realpath(parent)
        return os.path.join(real, name)

    def contains(self, path: Path | str) -> bool:
        """Whether `path` really lies inside one of the folders (always, with follow_symlinks)."""
        if self.follow_symlinks:
            return True
        real = self.real_path(path)
        return any(real == top or real.startswith(prefix) for top, prefix in self._tops)

    def admit(self, path: Path) -> bool:
        """`contains(path)`, remembering the name of a file that is refused (for `warning`)."""
        if self.contains(path):
            return True
        self._refuse(self.name(path))
        return False

    def _refuse(self, name: str) -> None:
        if name not in self._refused:  # a file in several samples (LFW pairs) is named once
            self._refused.add(name)
            self.outside.append(name)

    def name(self, path: Path) -> str:
        """`path` relative to the folder that lexically holds it, with forward slashes: how rows,
        cards and messages name a source file. Never an absolute path (last resort: the file name)."""
        path = Path(path)
        for root, real in self.roots:
            for base in (root, real):
                try:
                    return path.relative_to(base).as_posix()
                except ValueError:
                    continue
        return path.name

    def locate(self, name: str, what: str) -> Path:
        """The file a row's `name` refers to: the first folder that holds it; a name that is
        absolute or climbs out ('..') is refused, and so is a file that really lies outside."""
        parts = PurePosixPath(name.replace("\\", "/")).parts
        if not name or PurePosixPath(name).is_absolute() or ".." in parts or (parts and ":" in parts[0]):
            raise HvgenError(f"{what} {name!r} is not a path inside its source folder; replan the run.")
        candidates = [root.joinpath(*parts) for root, _ in self.roots]
        path = next((c for c in candidates if c.exists()), candidates[0])
        if not self.contains(path):
            raise HvgenError(
                f"{what} {name!r} is reached through a symbolic link that leads outside its source folder; "
                f"hvgen reads only files inside the folders it is given. If the link is yours, pass "
                f"{FOLLOW_SYMLINKS_OPTION}."
            )
        return path

    def walk(self, top: Path | None = None) -> Iterator[tuple[Path, list[str], list[str]]]:
        """`os.walk` below `top` (default: the folder), in sorted order. A linked folder is entered
        only with follow_symlinks (each real folder once: a link to an ancestor does not loop);
        without, one that leads outside is remembered as refused, as a file would be."""
        seen: set[str] = set()
        for name, subfolders, files in os.walk(top or self.root, followlinks=self.follow_symlinks):
            folder = Path(name)
            real = os.path.realpath(folder)
            if real in seen:
                subfolders[:] = []
                continue
            seen.add(real)
            subfolders.sort()
            if not self.follow_symlinks:
                for sub in subfolders:
                    if os.path.islink(folder / sub) and not self.contains(folder / sub):
                        self._refuse(self.name(folder / sub) + "/")
            yield folder, subfolders, sorted(files)

    def files(self, top: Path | None = None) -> Iterator[Path]:
        """Every file below `top` (default: the folder), as `walk` finds them."""
        for folder, _, names in self.walk(top):
            for name in names:
                yield folder / name

    def forget_refused(self) -> None:
        self.outside.clear()
        self._refused.clear()

    def warning(self, label: str) -> str | None:
        """One warning about every refused file (None when there is none)."""
        if not self.outside:
            return None
        shown = ", ".join(self.outside[:LISTED]) + (", ..." if len(self.outside) > LISTED else "")
        return (
            f"{label}: skipped {len(self.outside)} file(s) reached through a symbolic link that leads outside the "
            f"folder ({shown}); hvgen reads only files inside the folders it is given. If the links are yours "
            f"(e.g. a data set kept on another disk), rerun with {FOLLOW_SYMLINKS_OPTION}."
        )
