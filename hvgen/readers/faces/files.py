"""Finding a release's files: the one place that says "file missing: here is where the release
puts it", so every reader's `check()` fails the same clear way before any work starts."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from hvgen.errors import HvgenError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")
"""File endings read as images (compared lower-case)."""


def missing_error(root: Path, expected: Sequence[str], what: str, how: str) -> HvgenError:
    """The standard message for a required file or folder that is absent."""
    tried = " or ".join(f"'{name}'" for name in expected)
    return HvgenError(f"{root}: no {tried} ({what}). {how}")


def find_path(root: Path, candidates: Sequence[str], what: str, how: str, *, folder: bool = False) -> Path:
    """The first of `candidates` (paths relative to `root`) that exists as a file (or folder)."""
    for name in candidates:
        path = root / name
        if path.is_dir() if folder else path.is_file():
            return path
    raise missing_error(root, candidates, what, how)


def find_optional(root: Path, candidates: Sequence[str], *, folder: bool = False) -> Path | None:
    """The first of `candidates` that exists, or None (for files a release may leave out)."""
    for name in candidates:
        path = root / name
        if path.is_dir() if folder else path.is_file():
            return path
    return None


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def relative(path: Path, root: Path) -> str:
    """`path` relative to `root` with forward slashes: the stable sample id of a file."""
    return path.relative_to(root).as_posix()


def listed_path(root: Path, name: str, listing: Path, line: int) -> Path:
    """`root / name` for a file name read from `listing` at `line`; a name that is empty,
    absolute or climbs out of the source folder ('..') is an error, not a path to follow."""
    parts = name.replace("\\", "/").split("/")
    if not name or name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
        raise HvgenError(
            f"{listing}:{line}: file name {name!r} is not a path inside the source folder. "
            "Is the list the release's own, unedited?"
        )
    return root.joinpath(*parts)
