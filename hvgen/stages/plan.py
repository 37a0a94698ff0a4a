"""Plan stage: generator → schema-valid records → catalog (+ ``records.jsonl``).

Deterministic: the same config and seed give byte-identical ``records.jsonl``. The plan report
(counts, answer-position balance) is stored in the catalog and printed by the CLI.
"""

from __future__ import annotations

import hashlib
import json
import operator
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from hvgen.config import RunConfig
from hvgen.errors import HvgenError
from hvgen.generator import Generator, PlanRequest, get_generator
from hvgen.lazy_module import lazy_import
from hvgen.records import Record, validate_record
from hvgen.stages.plan_workers import stage_in_workers
from hvgen.store.atomic import write_atomic
from hvgen.store.catalog import RECORDS_HASH_KEY, JsonRecords, open_catalog, plan_writer, set_meta
from hvgen.store.layout import RECORDS_FILE, check_key
from hvgen.store.record_sort import RecordSort

pa = lazy_import("pyarrow")  # loaded when a plan is staged: the run's checks (`hvgen config`) need none


@dataclass
class PlanSummary:
    records: int
    images: int
    by_question_type: dict[str, int]
    position_balance: list[dict[str, Any]]
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def build_generator(config: RunConfig) -> Generator:
    """Instantiate (and so validate the options of) the run's generator."""
    cls = get_generator(config.benchmark)
    request = PlanRequest(
        run_seed=config.seed,
        num=config.num,
        options=dict(config.options),
        vocab_dir=Path(config.vocab_dir) if config.vocab_dir else None,
        templates_dir=Path(config.templates_dir) if config.templates_dir else None,
        image_size=config.planned_image_size(),
    )
    return cls(request)


def plan_generator(run_dir: Path, config: RunConfig) -> Generator:
    """What the plan stage plans with: the run's generator, or — for a twin split
    (`config.twins`) — its planner that redraws the release copied into the run."""
    generator = build_generator(config)
    if config.twins is None:
        return generator
    from hvgen.stages.twin_plan import TwinPlanner, TwinSpec

    return TwinPlanner(generator, run_dir, TwinSpec.from_config(config.twins))  # type: ignore[return-value]


PLAN_FINGERPRINT_KEY = "plan_fingerprint"


def plan_records(generator: Generator) -> list[Record]:
    """The generator's records, schema-validated, with file-safe ids, sorted by id, in memory
    (tests and benchmarks; `run_plan` streams instead)."""
    result = generator.plan()
    records = list(_checked(result.records, generator.schema))
    records.sort(key=lambda record: record["id"])
    _check_unique(record["id"] for record in records)
    generator.last_warnings = _with_vocabulary_warnings(generator, result.warnings)
    generator.last_notes = result.notes
    return records


def _with_vocabulary_warnings(generator: Generator, warnings: list[str]) -> list[str]:
    """The plan's warnings plus the engine's about --vocab files too short for their questions'
    options (known once every record is made: the plan reads vocabularies as it goes)."""
    return [*warnings, *(w for w in generator.vocab.short_override_warnings() if w not in warnings)]


def _checked(records: Iterable[Record], schema: str) -> Iterator[Record]:
    recipes: dict[str, Any] | None = None
    for record in records:
        validate_record(record, schema)
        check_key(record["id"], "record id")
        check_key(record["image_id"], "image id")
        # A ControlNet condition ({recipe, params}): a bad recipe or parameter fails now, not
        # mid-render. A plain value is the benchmark's own field (VLBias's ambig / disambig).
        if isinstance(record.get("condition"), dict):
            from hvgen.conditions.recipes import check_record_condition, load_recipes

            recipes = recipes if recipes is not None else load_recipes()
            check_record_condition(record["condition"], recipes, f"record {record['id']}")
        for frame in record.get("frames") or []:  # a record's extra images become files too
            check_key(frame["image_id"], "frame image id")
        yield record


def _check_unique(sorted_ids: Iterable[str | bytes]) -> None:
    ids = list(sorted_ids)
    if any(map(operator.eq, ids, islice(ids, 1, None))):  # neighbours compared in C
        record_id = next(a for a, b in zip(ids, ids[1:]) if a == b)
        shown = record_id.decode() if isinstance(record_id, bytes) else record_id
        raise HvgenError(
            f"record id '{shown}' is planned twice: the generator must give each question a unique id."
        )


_ENCODER = json.JSONEncoder(sort_keys=True, ensure_ascii=False)
"""records.jsonl's encoder, made once (`json.dumps` with options builds one per call: ~1 µs a record)."""


def record_line(record: Record) -> str:
    """One line of records.jsonl: the record as sorted-key JSON (what `json.dumps(record,
    sort_keys=True, ensure_ascii=False)` writes)."""
    return _ENCODER.encode(record) + "\n"


def serialise_records(records: list[Record]) -> str:
    """records.jsonl's text: one sorted-key JSON object per line (byte-identical per config)."""
    return "".join(record_line(record) for record in records)


@dataclass
class SortedPlan:
    """A validated plan staged for an out-of-core sort: its summary, and what the catalog table
    needs to type its columns as `pa.Table.from_pylist(all records)` would."""

    sort: RecordSort
    summary: PlanSummary
    first_keys: list[str]  # the smallest id's record's keys: the catalog's columns, in order
    types: ColumnTypes  # every key's arrow field over all chunks (`merge_types`)

    def batches(self) -> Iterator[tuple[list[bytes], list[bytes]]]:
        """(ids, lines) in id order, as UTF-8 bytes (`RecordSort.sorted_batches`); a repeated id
        is an error."""
        previous: list[bytes] = []
        for ids, lines in self.sort.sorted_batches(CHUNK_RECORDS):
            _check_unique(previous[-1:] + ids)
            previous = ids
            yield ids, lines

    def arrow_schema(self) -> pa.Schema:
        """The catalog's columns (the smallest id's record's keys), typed over all records. A
        key no other column needs may disagree, as `from_pylist` lets it (it reads no such key)."""
        fields = []
        for key in self.first_keys:
            found = self.types.get(key)
            if not isinstance(found, pa.Field):
                raise HvgenError(
                    f"the plan's records disagree on the type of field '{key}' ({found}); fix the generator."
                )
            fields.append(found)
        return pa.schema(fields)


CHUNK_RECORDS = 10_000
"""Records validated and staged at a time: memory is bounded by a chunk, not by the plan."""


ColumnTypes = dict[str, "pa.Field | str"]
"""Each key's arrow field over some records, or why its values share no type."""


@dataclass
class Staged:
    """What staging some records learnt: their summary tally, the smallest id's record's keys,
    and their keys' arrow types. Workers return one each; `merge` joins them."""

    tally: PlanTally = field(default_factory=lambda: PlanTally())
    first: tuple[str, list[str]] | None = None
    types: ColumnTypes = field(default_factory=dict)

    def merge(self, other: Staged) -> None:
        self.tally.merge(other.tally)
        if other.first is not None and (self.first is None or other.first[0] < self.first[0]):
            self.first = other.first
        merge_types(self.types, other.types)


def merge_types(types: ColumnTypes, more: ColumnTypes) -> None:
    """Widen `types` by `more` as arrow's inference over both sets of records would (null to any
    type, integers to floats, struct fields added), key by key; a disagreement is kept as such."""
    for key, other in more.items():
        mine = types.get(key)
        if mine is None or isinstance(mine, str):
            types[key] = other if mine is None else mine
        elif isinstance(other, str):
            types[key] = other
        elif not mine.equals(other):
            try:
                types[key] = pa.unify_schemas(
                    [pa.schema([mine]), pa.schema([other])], promote_options="permissive"
                )[0]
            except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
                types[key] = str(error)


def stage_records(records: Iterable[Record], schema: str, sort: RecordSort) -> Staged:
    """Validate `records` chunk by chunk, serialise each once into `sort`, and tally them."""
    staged = Staged()
    chunk: list[Record] = []

    def flush() -> None:
        if chunk:
            merge_types(staged.types, column_types(chunk))
            encode = _ENCODER.encode  # record_line's, without a call per record
            sort.add([record["id"] for record in chunk], [encode(record) + "\n" for record in chunk])
            chunk.clear()

    for record in _checked(records, schema):
        staged.tally.add(record)
        if staged.first is None or record["id"] < staged.first[0]:
            staged.first = (record["id"], list(record))
        chunk.append(record)
        if len(chunk) >= CHUNK_RECORDS:
            flush()
    flush()
    return staged


def column_types(records: list[Record]) -> ColumnTypes:
    """The arrow field `pa.Table.from_pylist(records)` would give each key's column, for every key
    of the records (the catalog keeps the smallest id's: `SortedPlan.arrow_schema`). `pa.infer_type`
    runs the inference `from_pylist` runs on each column (kinds of value seen, null promoted,
    struct fields in the order first seen) in C++, without building the arrays (~18 µs a record, a
    sixth of a plan) or walking each record in Python for its shape (~6 µs, what this once did).
    Where some key's values cannot share a type, the keys are typed one by one, and that key's
    entry says why. Every value is seen (each chunk here, chunks joined by `merge_types`), so a
    column's type holds all its values when the catalog reads records.jsonl (`JsonRecords`)."""
    try:
        return {found.name: found for found in pa.infer_type(records)}
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        pass
    types: ColumnTypes = {}
    for key in dict.fromkeys(key for record in records for key in record):
        try:
            types[key] = pa.field(key, pa.infer_type([record.get(key) for record in records]))
        except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError) as error:
            types[key] = str(error)
    return types


def arrow_types(records: list[Record]) -> pa.Schema:
    """`column_types` as a schema, for records that must all be typed."""
    types = column_types(records)
    for key, found in types.items():
        if isinstance(found, str):
            raise HvgenError(
                f"the plan's records cannot be typed for the catalog (field '{key}': {found}); fix the generator."
            )
    return pa.schema(list(types.values()))


def stage_plan_records(generator: Generator, sort: RecordSort) -> SortedPlan:
    """Validate the generator's records (a list or an iterator) chunk by chunk, serialise each
    once into `sort`, and tally the plan summary on the way. A large `ItemRecords` plan is made
    by several worker processes (hvgen.stages.plan_workers): the same records, so the same file."""
    result = generator.plan()
    parts = stage_in_workers(generator, result.records, sort, stage_records)
    if parts is None:
        staged = stage_records(result.records, generator.schema, sort)
    else:
        staged = Staged()
        for part in parts:
            staged.merge(part)
    generator.last_warnings = _with_vocabulary_warnings(generator, result.warnings)
    generator.last_notes = result.notes
    if not staged.tally.records:  # an empty input: one line saying why, not a run that cannot be built
        why = "; ".join(result.warnings) or "the inputs hold nothing to ask about"
        raise HvgenError(f"{generator.name}: the plan holds no question ({why}). Check the inputs.")
    summary = staged.tally.summary(generator.last_warnings, result.notes)
    return SortedPlan(sort, summary, staged.first[1] if staged.first else [], staged.types)


def write_sorted_records(
    path: Path, plan: SortedPlan, on_batch: Callable[[list[bytes], list[bytes]], None] | None = None
) -> str:
    """Write records.jsonl from the sorted stage, atomically; returns its sha256. `on_batch(ids,
    lines)` sees each batch too (the catalog is filled in the same pass)."""
    digest = hashlib.sha256()

    def write(handle: Any) -> None:
        for ids, lines in plan.batches():
            data = b"".join(lines)
            digest.update(data)
            handle.write(data)
            if on_batch is not None:
                on_batch(ids, lines)

    write_atomic(path, write)
    return digest.hexdigest()


def run_plan(run_dir: Path, config: RunConfig, generator: Generator | None = None) -> PlanSummary:
    """Plan, validate and write the records (records.jsonl + catalog), remembering the plan's
    fingerprint and the file's hash so a resumed run can tell the plan is current and intact.
    Streams: records are staged in chunks and sorted by id out of core (hvgen.store.record_sort)."""
    generator = generator or plan_generator(run_dir, config)
    with RecordSort(run_dir) as sort:
        plan = stage_plan_records(generator, sort)
        schema = plan.arrow_schema()  # before the file is written: a plan that cannot be typed writes nothing
        longest = 0

        def measure(ids: list[bytes], lines: list[bytes]) -> None:
            nonlocal longest
            longest = max(longest, *map(len, lines))

        with open_catalog(run_dir) as con:
            records_hash = write_sorted_records(run_dir / RECORDS_FILE, plan, measure)
            with plan_writer(con) as add_table:  # DuckDB reads the file itself, on all cores
                add_table(JsonRecords(run_dir / RECORDS_FILE, schema, longest))
            # after the swap, as before streaming: a crash in between leaves the old fingerprint
            set_meta(con, "plan", plan.summary.__dict__)
            set_meta(con, PLAN_FINGERPRINT_KEY, config.plan_fingerprint())
            set_meta(con, RECORDS_HASH_KEY, records_hash)
    return plan.summary


def rewrite_records_file(run_dir: Path, config: RunConfig, expected_sha256: str) -> bool:
    """Replan (streaming) and rewrite records.jsonl if the plan still hashes to
    `expected_sha256`; False (file untouched) if it no longer does."""
    generator = plan_generator(run_dir, config)
    scratch = run_dir / f"{RECORDS_FILE}.replan"
    with RecordSort(run_dir) as sort:
        digest = write_sorted_records(scratch, stage_plan_records(generator, sort))
    if digest != expected_sha256:
        scratch.unlink(missing_ok=True)
        return False
    scratch.replace(run_dir / RECORDS_FILE)
    return True


class PlanTally:
    """The plan summary, counted record by record (no record is kept)."""

    def __init__(self) -> None:
        self.records = 0
        self.images: set[str] = set()
        self.by_type: Counter[str] = Counter()
        self.positions: dict[tuple[str, int], Counter[int]] = {}

    def add(self, record: Record) -> None:
        self.records += 1
        self.images.add(record["image_id"])
        frames = record.get("frames")
        if frames:
            self.images.update(frame["image_id"] for frame in frames)
        question_type = record.get("question_type", "?")
        self.by_type[question_type] += 1
        options = record.get("options")
        index = record.get("answer_index")
        if options and isinstance(index, int):
            key = (question_type, len(options))
            counts = self.positions.get(key)
            if counts is None:
                counts = self.positions[key] = Counter()
            counts[index] += 1

    def merge(self, other: PlanTally) -> None:
        """Add another tally's counts (a worker's): the same as adding its records here."""
        self.records += other.records
        self.images |= other.images
        self.by_type.update(other.by_type)
        for key, counts in other.positions.items():
            self.positions.setdefault(key, Counter()).update(counts)

    def summary(self, warnings: list[str], notes: list[str] | None = None) -> PlanSummary:
        return PlanSummary(
            records=self.records,
            images=len(self.images),
            by_question_type=dict(sorted(self.by_type.items())),
            position_balance=_balance_rows(self.positions),
            warnings=warnings,
            notes=list(notes or []),
        )


def summarise_plan(records: list[Record], warnings: list[str], notes: list[str] | None = None) -> PlanSummary:
    tally = PlanTally()
    for record in records:
        tally.add(record)
    return tally.summary(warnings, notes)


def answer_position_balance(records: list[Record]) -> list[dict[str, Any]]:
    """Answer-position counts per (question type, number of options), with a chi-square test
    against uniform: a small p-value means some position is favoured (a shortcut for models)."""
    tally = PlanTally()
    for record in records:
        tally.add(record)
    return _balance_rows(tally.positions)


def uniform_chi2_p(observed: list[int]) -> float:
    """The p-value of Pearson's chi-square test of `observed` counts against equal expected
    counts: what `scipy.stats.chisquare(observed).pvalue` computes (the same formula, and the
    same `chdtrc` for the tail), from `scipy.special`, which imports in a third of the time of
    `scipy.stats` (a plan's start-up)."""
    import numpy as np
    from scipy.special import chdtrc

    counts = np.asarray(observed, dtype=np.float64)
    expected = counts.mean()
    statistic = ((counts - expected) ** 2 / expected).sum()
    return float(chdtrc(len(counts) - 1, statistic))


def _balance_rows(groups: dict[tuple[str, int], Counter[int]]) -> list[dict[str, Any]]:
    rows = []
    for (question_type, size), counts in sorted(groups.items()):
        observed = [counts.get(i, 0) for i in range(size)]
        p_value = uniform_chi2_p(observed) if sum(observed) and size > 1 else 1.0
        rows.append(
            {
                "question_type": question_type,
                "options": size,
                "counts": observed,
                "shares": [round(c / sum(observed), 3) for c in observed],
                "chi2_p": round(p_value, 4),
            }
        )
    return rows
