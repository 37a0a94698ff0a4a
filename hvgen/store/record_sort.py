"""Out-of-core sort of serialised records by id, for plans too large to hold in memory.

The plan stage writes `records.jsonl` sorted by id. A plan of millions of questions (one built
from a large annotated source) would need several GiB as Python dicts, so each record is
serialised once and staged here: lines are buffered up to `run_bytes`, sorted, and written as a
sorted run file; reading merges the runs (`heapq.merge`, one buffered reader per run), so memory
is one run buffer while staging and a few KiB per run while merging — whatever the plan's size.

Why not DuckDB's ORDER BY: with long lines as payload (~1.3 KB records), DuckDB 2.0.1 ran out
of its memory limit instead of spilling (110 MB of lines under a 64 MB limit; 680 MB under
256 MB with two threads), so its bound was not one we could state. A merge of sorted runs has a
hard bound. The scratch folder is removed on close.
"""

from __future__ import annotations

import heapq
import shutil
import tempfile
from collections.abc import Iterator
from itertools import islice
from pathlib import Path

from hvgen.store.atomic import left_by_dead_process, scratch_tag

_PREFIX = ".plan-sort."
RUN_BYTES = 64 * 2**20
"""Text buffered (and sorted in memory) before it is written as one sorted run."""


class RecordSort:
    """Stage (id, line) pairs in any order; read them back sorted by id (Python `str` order).
    Ids must be `check_key` ids (letters, digits, '-' and '_': all sort above the tab that ends
    them in a run, so "id<TAB>line" texts sort as the pairs do); lines end with one newline."""

    def __init__(self, work_dir: Path, run_bytes: int = RUN_BYTES) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        remove_dead_sorts(work_dir)
        self.folder = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{scratch_tag()}.", dir=work_dir))
        self.run_bytes = run_bytes
        self.runs: list[Path] = []
        self.buffer: list[str] = []  # "id<TAB>line"
        self.buffered = 0
        self.count = 0
        self.tag = ""  # run file names: a part's (a worker's) carry its tag

    def add(self, ids: list[str], lines: list[str]) -> None:
        self.buffer += [f"{record_id}\t{line}" for record_id, line in zip(ids, lines)]
        self.buffered += sum(map(len, lines))
        self.count += len(ids)
        if self.buffered >= self.run_bytes:
            self._write_run()

    def part(self, tag: str) -> RecordSort:
        """A sort that writes its runs into this one's folder (named after `tag`, unique per part),
        for a worker process: `finish()` there, then `adopt` the runs it returns here."""
        part = RecordSort.__new__(RecordSort)
        part.folder, part.run_bytes, part.tag = self.folder, self.run_bytes, f"{tag}-"
        part.runs, part.buffer, part.buffered, part.count = [], [], 0, 0
        return part

    def finish(self) -> tuple[list[Path], int]:
        """A part's sorted runs, all written, and how many lines they hold."""
        self._write_run()
        return self.runs, self.count

    def adopt(self, runs: list[Path], count: int) -> None:
        """Merge a part's runs (`finish`) with this sort's."""
        self.runs.extend(runs)
        self.count += count

    def _write_run(self) -> None:
        if not self.buffer:
            return
        self.buffer.sort()  # as (id, line) pairs: see `sorted_batches`
        path = self.folder / f"run-{self.tag}{len(self.runs):05d}.tsv"
        with open(path, "w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(self.buffer)
        self.runs.append(path)
        self.buffer, self.buffered = [], 0

    def sorted_batches(self, rows: int = 10_000) -> Iterator[tuple[list[bytes], list[bytes]]]:
        """(ids, lines) in id order, `rows` at a time, as UTF-8 bytes: records.jsonl and the
        catalog's JSON reader take bytes, so the lines are never decoded and encoded again (that
        was most of the merge's cost). The runs' lines ("id<TAB>line") are merged whole, as bytes:
        ids are ASCII letters, digits, '-' and '_' (`check_key`), all above the tab, so the bytes
        sort as (id, line) pairs do."""
        self._write_run()
        handles = [open(path, "rb") for path in self.runs]
        try:
            merged: Iterator[bytes] = handles[0] if len(handles) == 1 else heapq.merge(*handles)
            while batch := list(islice(merged, rows)):
                pairs = [text.partition(b"\t") for text in batch]
                yield [pair[0] for pair in pairs], [pair[2] for pair in pairs]
        finally:
            for handle in handles:
                handle.close()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RecordSort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def remove_dead_sorts(work_dir: Path) -> None:
    """Remove the scratch folders of sorts whose process died (killed mid-plan) on this host;
    a live process's folder, or another host's, is left alone."""
    for folder in work_dir.glob(f"{_PREFIX}*"):
        parts = folder.name[len(_PREFIX) :].split(".")
        if len(parts) >= 3 and parts[1].isdigit() and left_by_dead_process(parts[0], int(parts[1])):
            shutil.rmtree(folder, ignore_errors=True)
