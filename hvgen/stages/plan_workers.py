"""The plan stage's worker processes: a large plan whose records come item by item
(`hvgen.generator.ItemRecords`: an image and its questions) is made by several processes, each
generating, validating and serialising the records of a contiguous range of items into sorted
runs of the plan's out-of-core sort (hvgen.store.record_sort). The parent merges the runs as it
does its own, so records.jsonl is byte-identical to a plan made in one process: every record
depends on its item alone, and the file is sorted by id whatever order the records came in.
A pass a generator makes over its items before the records (HERM's deal of answer positions)
is shared the same way (`map_in_workers`). Items that are still being made (an `ItemRecords`
over an iterator: Dysca draws its images one after the other) are streamed instead: the workers
start at once and take the items in chunks from a queue as this process makes them.

Workers are forked, not spawned: a spawned worker would import hvgen again and rebuild the
generator (its vocabularies and templates) and the items, a second or more of the work it is
meant to share; a forked one starts with them. The plan stage forks before it opens the catalog
(DuckDB must not be forked with a connection open), and the workers print nothing. Their number
comes from `hvgen.cpu_budget.available_cpus()` (`HVGEN_CPUS=1`: one process); other systems than
Linux plan in one process (forking is not safe on macOS).
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from hvgen.cpu_budget import available_cpus
from hvgen.errors import HvgenError
from hvgen.generator import Generator, ItemRecords
from hvgen.records import Record
from hvgen.store.record_sort import RecordSort
from hvgen.workers import die_with_parent

T = TypeVar("T")
R = TypeVar("R")
Stage = Callable[[Iterable[Record], str, RecordSort], Any]
"""How records are staged (`hvgen.stages.plan.stage_records`): (records, schema, sort) → what it learnt."""

MIN_ITEMS_PER_WORKER = 500
"""Fewer items per worker are planned in this process: forking and merging would cost more than
the second core saves (a Dysca image is ~7 records, ~0.7 ms of work)."""
PARTS_PER_WORKER = 2
"""Item ranges per worker: a worker that finishes early takes another range."""
STREAM_CHUNK = 100
"""Items of a streamed plan sent to a worker at a time (a Dysca image pickles in ~10 µs)."""

_FORKED: tuple[Generator, ItemRecords, RecordSort, Stage] | None = None
"""The generator, its items and the sort, set before the pool forks (workers inherit them)."""
_STREAM: tuple[Any, Any] | None = None
"""A streamed plan's queue of item chunks and its stop event, likewise."""
_MAPPED: tuple[Sequence[Any], Callable[[Sequence[Any]], Any]] | None = None
"""`map_in_workers`'s items and work, likewise."""


def plan_workers(items: int) -> int:
    """How many processes make a plan of `items` items (1: this process alone)."""
    if not sys.platform.startswith("linux"):  # fork is safe on Linux; macOS's system libraries are not
        return 1
    return max(1, min(available_cpus(), items // MIN_ITEMS_PER_WORKER))


def stage_in_workers(
    generator: Generator,
    records: Iterable[Record],
    sort: RecordSort,
    stage: Callable[[Iterable[Record], str, RecordSort], T],
) -> list[T] | None:
    """`stage` the records into `sort` in worker processes, one item range each; returns what
    each range's staging learnt, or None when the records are not an `ItemRecords` plan or too
    few to share (the caller stages them here). The --vocab files the workers read count as read
    here (`Vocabulary.short_override_warnings`)."""
    global _FORKED
    if not isinstance(records, ItemRecords):
        return None
    workers = plan_workers(records.size)
    if workers < 2:
        return None
    _FORKED = (generator, records, sort, stage)
    try:
        if records.streamed:
            results = _stream_to_workers(workers, records)
        else:
            results = _forked_map(
                workers, _stage_range, _ranges(len(records.items), workers * PARTS_PER_WORKER)
            )
    finally:
        _FORKED = None
    learnt = []
    for runs, count, part, vocab_read in results:
        sort.adopt(runs, count)
        generator.vocab.note_overrides_read(vocab_read)
        learnt.append(part)
    return learnt


def map_in_workers(items: Sequence[T], work: Callable[[Sequence[T]], R]) -> list[R]:
    """`work` over contiguous ranges of `items`, the results in item order: in forked workers
    when the items are as many as `plan_workers` shares, else once over all of them here. For a
    pass that must end before the records are made (HERM's deal: the id of every question), so
    `work` must depend on its items alone and return something picklable."""
    global _MAPPED
    workers = plan_workers(len(items))
    if workers < 2:
        return [work(items)]
    _MAPPED = (items, work)
    try:
        return _forked_map(workers, _map_range, _ranges(len(items), workers * PARTS_PER_WORKER))
    finally:
        _MAPPED = None


def _map_range(bounds: tuple[int, int]) -> Any:
    assert _MAPPED is not None, "a plan worker runs in a process forked by map_in_workers"
    items, work = _MAPPED
    return work(items[bounds[0] : bounds[1]])


def _forked_map(
    workers: int, function: Callable[[tuple[int, int]], R], ranges: list[tuple[int, int]]
) -> list[R]:
    """`function` of each range in `workers` forked processes (they inherit what it reads)."""
    with ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("fork"),
        initializer=die_with_parent,
        initargs=(os.getpid(),),
    ) as pool:
        return list(pool.map(function, ranges))


def _ranges(items: int, parts: int) -> list[tuple[int, int]]:
    """`items` split into `parts` contiguous (start, stop) ranges, the first ones one longer."""
    base, extra = divmod(items, parts)
    bounds, start = [], 0
    for index in range(parts):
        stop = start + base + (1 if index < extra else 0)
        if stop > start:
            bounds.append((start, stop))
        start = stop
    return bounds


def _stream_to_workers(workers: int, records: ItemRecords) -> list[Any]:
    """Stage a streamed plan's records in `workers` forked processes that take its items, a
    chunk at a time, from a queue this process fills as it makes them (they start on the first
    chunk, not after the last item). A worker stages all it takes into one part of the sort."""
    global _STREAM
    context = multiprocessing.get_context("fork")
    chunks: Any = context.Queue()  # unbounded: making items never waits on the workers
    stop = context.Event()
    _STREAM = (chunks, stop)
    sent = False
    try:
        with ProcessPoolExecutor(
            max_workers=workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
        ) as pool:
            try:
                futures = [pool.submit(_stage_stream, index) for index in range(workers)]  # all forked now
                for chunk in records.chunks(STREAM_CHUNK):
                    chunks.put(chunk)
                    for future in futures:
                        if future.done():  # a worker ends only after the last chunk: it failed
                            future.result()
                for _ in futures:
                    chunks.put(None)
                sent = True
                return [future.result() for future in futures]
            except BaseException:
                stop.set()  # the workers drop what is left and end (the caller removes their runs)
                for _ in range(workers):
                    chunks.put(None)
                raise
    finally:
        _STREAM = None
        if not sent:
            chunks.cancel_join_thread()  # chunks nobody will take must not hold this process
        chunks.close()


def _stage_stream(index: int) -> tuple[list[Path], int, Any, dict[str, Path]]:
    """In a worker: stage the records of the chunks it takes from the queue until the end mark."""
    assert _FORKED is not None and _STREAM is not None, (
        "a plan worker runs in a process forked by stage_in_workers"
    )
    generator, records, sort, stage = _FORKED
    chunks, stop = _STREAM

    def taken() -> Iterator[Any]:
        while (chunk := chunks.get()) is not None:
            if stop.is_set():
                raise HvgenError("the plan stopped")
            yield from chunk

    part = sort.part(f"stream{index:04d}")
    learnt = stage(records.records_from(taken()), generator.schema, part)
    runs, count = part.finish()
    return runs, count, learnt, generator.vocab.overrides_read()


def _stage_range(bounds: tuple[int, int]) -> tuple[list[Path], int, Any, dict[str, Path]]:
    """In a worker: stage the records of items[start:stop] into sorted runs of the shared sort's
    folder; returns the runs, their line count, what staging learnt and the --vocab files read."""
    assert _FORKED is not None, "a plan worker runs in a process forked by stage_in_workers"
    generator, records, sort, stage = _FORKED
    part = sort.part(f"{bounds[0]:010d}")
    learnt = stage(records.records_in(*bounds), generator.schema, part)
    runs, count = part.finish()
    return runs, count, learnt, generator.vocab.overrides_read()
