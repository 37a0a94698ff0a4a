"""Vocabularies: the word lists a generator draws from.

A vocabulary is a data file beside the templates (``templates/<bench>/vocab/<name>.txt``: one
item per line, ``#`` comments; or ``<name>.json`` / ``<name>.yaml`` for structured entries such as
style presets). `--vocab DIR` overlays a user folder: a file there replaces the shipped file of
the same name, so users can make splits with more variety than the original lists allow.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from hvgen.errors import HvgenError
from hvgen.readers.source_folder import SourceFolder
from hvgen.templating import builtin_template_dir
from hvgen.yaml_data import load_yaml_data

_SUFFIXES = (".txt", ".json", ".yaml", ".yml")
MAX_ENTRY_CHARS = 1000
"""Longest vocabulary entry accepted: entries end up in prompts and questions (CLIP reads 77
tokens), so a longer line is a broken file, and it would be copied into every record."""


MAX_OPTIONS = 4
"""The most options a multiple-choice question draws from one vocabulary (Dysca, HQH, HERM: 4)."""


class Vocabulary:
    """Loads and caches a benchmark's vocabularies, user overrides first."""

    def __init__(self, benchmark: str, override_dir: Path | None = None) -> None:
        self.benchmark = benchmark
        self.builtin_dir = builtin_template_dir(benchmark) / "vocab"
        self.override_dir = override_dir
        self._cache: dict[str, tuple[Any, ...]] = {}
        self._overrides_used: dict[str, Path] = {}
        if override_dir is not None and not override_dir.is_dir():
            raise HvgenError(
                f"--vocab {override_dir}: not a folder. Pass a folder of vocabulary files (e.g. animal.txt)."
            )
        if override_dir is not None:
            self._check_override_names(override_dir)

    def names(self) -> list[str]:
        """The vocabularies this benchmark ships (what `--vocab DIR` files may replace)."""
        if not self.builtin_dir.is_dir():
            return []
        return sorted({p.stem for p in self.builtin_dir.iterdir() if p.suffix in _SUFFIXES})

    def _check_override_names(self, folder: Path) -> None:
        """A file in --vocab that replaces nothing is a misspelling: say so instead of ignoring it."""
        from hvgen.errors import did_you_mean

        known = self.names()
        if not known:  # nothing to replace: the benchmark's data are templates (--templates DIR)
            raise HvgenError(
                f"--vocab {folder}: this benchmark ships no vocabulary files, so --vocab has nothing to replace; "
                f"its word lists are data in its templates ({self.builtin_dir.parent}): copy and change them "
                "there and pass --templates DIR."
            )
        for path in sorted(folder.iterdir()):
            if path.suffix in _SUFFIXES and not path.name.startswith(".") and path.stem not in known:
                raise HvgenError(
                    f"--vocab {folder}: {path.name} replaces no vocabulary{did_you_mean(path.stem, known)}. "
                    f"Files must be named after a shipped vocabulary: {', '.join(known)}."
                )

    def path(self, name: str) -> Path:
        for folder in (self.override_dir, self.builtin_dir):
            if folder is None:
                continue
            for suffix in _SUFFIXES:
                candidate = folder / f"{name}{suffix}"
                if candidate.is_file():
                    return self._inside(folder, candidate)
        raise HvgenError(
            f"vocabulary '{name}' not found in {self.builtin_dir}"
            + (f" or {self.override_dir}" if self.override_dir else "")
            + "."
        )

    def _inside(self, folder: Path, path: Path) -> Path:
        """A --vocab file reached through a symbolic link that leads out of the folder is refused: an
        archive's link could otherwise put any file's lines into the published questions."""
        if folder == self.override_dir and not SourceFolder(folder).contains(path):
            raise HvgenError(
                f"--vocab {folder.name}/{path.name} is reached through a symbolic link that leads outside the "
                "folder; hvgen reads only files inside the folders it is given: copy the file into the folder."
            )
        return path

    def items(self, name: str) -> list[Any]:
        """The entries of a vocabulary, in file order, de-duplicated; empty lists are an error."""
        return list(self._load(name))

    def _load(self, name: str) -> tuple[Any, ...]:
        if name not in self._cache:
            path = self.path(name)
            self._cache[name] = tuple(_read(path))
            if not self._cache[name]:
                raise HvgenError(f"vocabulary file {path} is empty: add at least one item (one per line).")
            if self.override_dir is not None and path.parent == self.override_dir:
                self._overrides_used[name] = path
        return self._cache[name]

    def overrides_read(self) -> dict[str, Path]:
        """The --vocab files read so far (vocabulary → file): what a plan worker process reports."""
        return dict(self._overrides_used)

    def note_overrides_read(self, read: dict[str, Path]) -> None:
        """Count files a plan worker read as read here (`short_override_warnings` covers them)."""
        for name in read:
            self._load(name)

    def short_override_warnings(self, limit: int = MAX_OPTIONS) -> list[str]:
        """A --vocab file the plan read that is shorter than the options its questions draw from
        it: it silently turns 4-option questions into 2-option ones (chance 50 % instead of
        25 %), so name the file. Measured against the shipped list, so lists short by nature
        (Dysca's gender 2, expression 3) are not warned about."""
        warnings = []
        for name, path in sorted(self._overrides_used.items()):
            shipped = Vocabulary(self.benchmark)
            have = min(limit, len(self._cache[name]))
            expected = min(limit, len(shipped.items(name)))
            if have < expected:
                warnings.append(
                    f"vocabulary file {path} has {len(self._cache[name])} item(s), so multiple-choice questions "
                    f"drawing their options from it get {have} options instead of {expected}; add at least "
                    f"{expected - have} more item(s) to it (one per line)."
                )
        return warnings


def _read(path: Path) -> list[Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise HvgenError(
            f"vocabulary file {path} is not UTF-8 text: one item per line, plain text."
        ) from None
    if path.suffix == ".txt":
        items: dict[str, None] = {}
        for number, line in enumerate(text.splitlines(), start=1):
            item = line.strip()
            if len(item) > MAX_ENTRY_CHARS:
                raise HvgenError(
                    f"vocabulary file {path} line {number}: an entry of {len(item):,} characters (at most "
                    f"{MAX_ENTRY_CHARS} allowed); put one item per line."
                )
            if item and not item.startswith("#"):
                items.setdefault(item, None)
        return list(items)
    try:
        data = json.loads(text) if path.suffix == ".json" else load_yaml_data(text)
    except (json.JSONDecodeError, yaml.YAMLError) as error:
        raise HvgenError(f"cannot parse vocabulary file {path}: {error}") from None
    if not isinstance(data, list):
        raise HvgenError(f"vocabulary file {path} must hold a list of entries, got {type(data).__name__}.")
    return data
