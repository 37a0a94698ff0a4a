"""Reading annotation lists (csv and whitespace-separated txt) with line numbers, so a bad row is
one HvgenError saying file, line, what is wrong and how to fix it."""

from __future__ import annotations

import csv
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from hvgen.errors import HvgenError


def line_error(path: Path, line: int, problem: str, fix: str = "") -> HvgenError:
    """The standard message for a malformed line: file:line, the problem, the fix."""
    message = f"{path}:{line}: {problem}."
    if fix:
        message += f" {fix}"
    return HvgenError(message)


@dataclass(frozen=True)
class Row:
    """One data row: its 1-based line number in the file and its fields by column name."""

    line: int
    fields: dict[str, str]

    def __getitem__(self, column: str) -> str:
        return self.fields[column]


def _open_text(path: Path):
    try:
        return open(path, newline="", encoding="utf-8-sig")
    except OSError as error:
        raise HvgenError(f"{path}: cannot be read ({error.strerror}).") from None


def csv_rows(path: Path, header: Sequence[str], fix: str = "") -> Iterator[Row]:
    """The rows of a csv whose first line must start with the columns `header` (in that order;
    extra columns after them are allowed). Blank lines are skipped."""
    with _open_text(path) as handle:
        reader = csv.reader(handle)
        try:
            first = next(reader, None)
            found = [name.strip() for name in first or []]
            if found[: len(header)] != list(header):
                raise line_error(
                    path,
                    1,
                    f"header is {','.join(found) or '(empty)'!r}, expected {','.join(header)!r}",
                    fix or "Is this the release's own file, unedited?",
                )
            for fields in reader:
                if not fields or all(not value.strip() for value in fields):
                    continue
                if len(fields) < len(header):
                    raise line_error(
                        path,
                        reader.line_num,
                        f"has {len(fields)} fields, expected {len(header)} ({','.join(header)})",
                        "The file may be truncated; download it again.",
                    )
                yield Row(reader.line_num, {name: value.strip() for name, value in zip(header, fields)})
        except csv.Error as error:
            raise line_error(path, reader.line_num, f"not valid csv ({error})") from None
        except UnicodeDecodeError:
            raise HvgenError(f"{path}: not a UTF-8 text file; is it the right file?") from None


def text_rows(path: Path, start: int = 1) -> Iterator[tuple[int, list[str]]]:
    """(line number, whitespace-separated fields) of a text list from line `start` (1-based) on;
    blank lines are skipped."""
    with _open_text(path) as handle:
        try:
            for number, text in enumerate(handle, start=1):
                if number < start:
                    continue
                fields = text.split()
                if fields:
                    yield number, fields
        except UnicodeDecodeError:
            raise HvgenError(f"{path}: not a UTF-8 text file; is it the right file?") from None


def first_line(path: Path) -> list[str]:
    """The fields of a text list's first line (a count or a header), [] for an empty file."""
    for number, fields in text_rows(path):
        if number == 1:
            return fields
        break
    return []


def parse_int(path: Path, line: int, value: str, what: str) -> int:
    """`value` as an integer, or an error naming file, line and field."""
    try:
        return int(value)
    except ValueError:
        raise line_error(
            path, line, f"{what} {value!r} is not an integer", "Is the file complete and unedited?"
        ) from None
