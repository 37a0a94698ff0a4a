"""The plan stage streams: a generator may yield its records, the stage validates and stages
them a chunk at a time and sorts them by id out of core, with the same bytes as in memory."""

from __future__ import annotations

import weakref
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from hvgen.config import RunConfig
from hvgen.errors import HvgenError
from hvgen.generator import PlanResult
from hvgen.stages import plan as plan_stage
from hvgen.stages.plan import build_generator, plan_records, run_plan, serialise_records
from hvgen.store.catalog import JsonRecords, plan_writer

CONFIG = RunConfig(benchmark="dysca", num=40, seed=3)
CHUNK = 25


class Tracked(dict):
    """A record whose lifetime a test can watch (plain dicts take no weak references)."""


def streaming(config: RunConfig, alive: list, peak: list[int], duplicate: bool = False):
    """The Dysca generator, yielding its records one by one (largest id first) and noting how
    many earlier records the stage still holds each time it asks for the next."""
    base = build_generator(config)

    class Streaming(type(base)):
        def plan(self) -> PlanResult:
            result = super().plan()
            records = sorted(result.records, key=lambda r: r["id"], reverse=True)
            if duplicate:
                records.insert(len(records) // 2, dict(records[3]))

            def stream():
                while records:
                    record = Tracked(records.pop())
                    alive.append(weakref.ref(record))
                    peak[0] = max(peak[0], sum(ref() is not None for ref in alive))
                    yield record

            return PlanResult(records=stream(), warnings=result.warnings, notes=["streamed"])

    return Streaming(base.request)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(plan_stage, "CHUNK_RECORDS", CHUNK)


def test_a_yielded_plan_is_held_a_chunk_at_a_time_and_written_as_in_memory(
    tmp_path: Path, small_chunks
) -> None:
    expected = serialise_records(plan_records(build_generator(CONFIG)))
    assert expected.count("\n") > 4 * CHUNK  # several chunks, so the sort really merges them
    alive: list = []
    peak = [0]
    summary = run_plan(tmp_path, CONFIG, streaming(CONFIG, alive, peak))
    assert (tmp_path / "records.jsonl").read_text(encoding="utf-8") == expected
    assert peak[0] <= CHUNK + 1, f"the plan stage held {peak[0]} records at once"
    assert summary.records == expected.count("\n") and summary.notes == ["streamed"]
    assert not list(tmp_path.glob(".plan-sort.*")), "the scratch sort folder is removed"


def test_the_catalog_of_a_streamed_plan_equals_the_in_memory_table(tmp_path: Path, small_chunks) -> None:
    records = plan_records(build_generator(CONFIG))
    run_plan(tmp_path, CONFIG, streaming(CONFIG, [], [0]))
    con = duckdb.connect(str(tmp_path / "catalog.duckdb"), read_only=True)
    try:
        con.register("expected", pa.Table.from_pylist(records))
        assert con.execute("DESCRIBE records").fetchall() == con.execute("DESCRIBE expected").fetchall()
        assert (
            con.execute("SELECT * FROM records").fetchall()
            == con.execute("SELECT * FROM expected").fetchall()
        )
        assert con.execute("SELECT count(*) FROM images").fetchone() == (CONFIG.num,)
    finally:
        con.close()


def test_a_repeated_id_in_a_yielded_plan_is_an_error_and_writes_nothing(tmp_path: Path, small_chunks) -> None:
    with pytest.raises(HvgenError, match="is planned twice"):
        run_plan(tmp_path, CONFIG, streaming(CONFIG, [], [0], duplicate=True))
    assert not (tmp_path / "records.jsonl").exists()
    assert not list(tmp_path.glob(".plan-sort.*"))


def test_a_generator_returning_a_list_plans_as_before(tmp_path: Path, small_chunks) -> None:
    summary = run_plan(tmp_path, CONFIG)
    assert summary.images == CONFIG.num
    expected = serialise_records(plan_records(build_generator(CONFIG)))
    assert (tmp_path / "records.jsonl").read_text(encoding="utf-8") == expected


def test_the_sort_merges_runs_written_to_disk(tmp_path: Path) -> None:
    """More lines than one run holds: several sorted runs on disk, merged back in id order."""
    import hashlib

    from hvgen.store.record_sort import RecordSort

    ids = [hashlib.blake2b(str(i).encode(), digest_size=8).hexdigest() for i in range(30_000)]
    with RecordSort(tmp_path, run_bytes=200_000) as sort:
        for start in range(0, len(ids), 1_000):
            chunk = ids[start : start + 1_000]
            sort.add(chunk, [f'{{"id": "{i}", "pad": "\\t{i * 3}"}}\n' for i in chunk])
        batches = list(sort.sorted_batches(7_000))
        assert len(sort.runs) >= 5, "one run: the test does not test the merge"
    assert [i.decode() for batch_ids, _ in batches for i in batch_ids] == sorted(ids)
    assert all(
        line.decode() == f'{{"id": "{i.decode()}", "pad": "\\t{i.decode() * 3}"}}\n'
        for b in batches
        for i, line in zip(*b)
    )
    assert [len(batch_ids) for batch_ids, _ in batches] == [7_000] * 4 + [2_000]
    assert not list(tmp_path.glob(".plan-sort.*"))


def test_a_killed_plans_sort_folder_is_removed_by_the_next(tmp_path: Path) -> None:
    import subprocess
    import sys

    from hvgen.store.atomic import scratch_tag
    from hvgen.store.record_sort import RecordSort

    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    host = scratch_tag().rsplit(".", 1)[0]
    stale = tmp_path / f".plan-sort.{host}.{dead.stdout.strip()}.abc"
    live = tmp_path / f".plan-sort.{scratch_tag()}.def"
    other_host = tmp_path / f".plan-sort.elsewhere.{dead.stdout.strip()}.ghi"
    for folder in (stale, live, other_host):
        folder.mkdir()
        (folder / "run-00000.tsv").write_text("x\ty\n")
    with RecordSort(tmp_path):
        assert not stale.exists() and live.exists() and other_host.exists()


def test_the_catalog_read_from_records_jsonl_equals_from_pylist(tmp_path: Path) -> None:
    """The catalog's rows come from DuckDB's JSON reader (`JsonRecords`): the same table, types
    and stored order as inserting `json.loads` + `from_pylist`, for nulls, empty lists, structs,
    63-bit ints, -0.0, line separators inside strings, a key outside the schema (dropped) and a
    line longer than a reader's default block."""
    import json

    records = [
        {
            "id": "a",
            "options": [],
            "x": None,
            "s": {"k": None},
            "n": 2**62,
            "f": 1.0,
            "u": "é\u2028x\r\u0085y",
        },
        {"id": "b", "options": ["p"], "x": None, "s": {"k": "v"}, "n": 5, "f": 2.5, "u": "z" * (3 << 20)},
        {"id": "c", "options": [], "s": {}, "n": 0, "f": -0.0, "u": "", "extra": 1},
    ]
    for record in records:  # the columns the images table is made of
        record.update(image_id="i", prompt="p", negative_prompt="n", image_seed=1)
    lines = [plan_stage.record_line(record).encode() for record in records]
    path = tmp_path / "records.jsonl"
    path.write_bytes(b"".join(lines))
    schema = pa.Table.from_pylist(records[:2]).schema
    expected = pa.Table.from_pylist([json.loads(line) for line in lines], schema=schema)
    read = duckdb.connect(str(tmp_path / "read.duckdb"))
    with plan_writer(read) as add:
        add(JsonRecords(path, schema, max(map(len, lines))))
    inserted = duckdb.connect(str(tmp_path / "inserted.duckdb"))
    with plan_writer(inserted) as add:
        add(expected)
    assert read.execute("DESCRIBE records").fetchall() == inserted.execute("DESCRIBE records").fetchall()
    rows = read.execute("SELECT * FROM records").fetchall()  # stored order
    assert (
        rows
        == inserted.execute("SELECT * FROM records").fetchall()
        == [tuple(r.values()) for r in expected.to_pylist()]
    )


def test_arrow_types_are_from_pylists_for_every_kind_of_value() -> None:
    """The catalog's column types come from `pa.infer_type`: what `from_pylist` of all the records
    gives, with nulls promoted, ints widened to floats, empty and nested lists, struct fields in the
    order first seen (in any record, nested in lists too), and dict subclasses read as dicts."""

    class Sub(dict):
        pass

    records = [
        {"id": "a", "n": None, "f": 1, "l": [], "s": {"y": 1}, "ls": [{"q": 1}], "ll": [[]], "b": True},
        {
            "id": "b",
            "n": "x",
            "f": 2.5,
            "l": [None],
            "s": {"x": None, "y": 2},
            "ls": [],
            "ll": [[1.5]],
            "b": None,
        },
        Sub(id="c", n=None, f=3, l=["z"], s={"z": "w", "x": "v"}, ls=[{"r": "t"}, {"q": 2}], ll=[], b=False),
    ]
    expected = pa.Table.from_pylist([dict(record) for record in records]).schema
    assert plan_stage.arrow_types(records) == expected
    assert plan_stage.arrow_types(records).field("s").type.names == ["y", "x", "z"]


def test_records_that_disagree_on_a_type_fail_with_the_field_named(tmp_path: Path) -> None:
    """A column whose values share no type fails the plan: where arrow's inference sees it
    (within a chunk, across chunks) before anything is written; where it does not (it infers
    from the first kinds seen), when the catalog reads records.jsonl."""
    from hvgen.stages.plan import SortedPlan, column_types, merge_types

    with pytest.raises(HvgenError, match="cannot be typed"):
        plan_stage.arrow_types([{"id": "a", "n": [1]}, {"id": "b", "n": {"k": 1}}])
    records = [{"id": "a", "n": 1, "image_id": "i", "prompt": "p", "negative_prompt": "n", "image_seed": 1}]
    records.append(
        {**records[0], "id": "b", "n": "x"}
    )  # `pa.infer_type` says int64: arrow infers, not checks
    path = tmp_path / "records.jsonl"
    path.write_text("".join(map(plan_stage.record_line, records)))
    with (
        duckdb.connect(str(tmp_path / "c.duckdb")) as con,
        pytest.raises(HvgenError, match=r"disagree on a field's type.*line 2"),
        plan_writer(con) as add,
    ):
        add(JsonRecords(path, plan_stage.arrow_types(records), 100))
    types = column_types([{"id": "a", "n": 1}])
    merge_types(types, column_types([{"id": "b", "n": "x"}]))
    with pytest.raises(HvgenError, match="disagree on the type of field 'n'"):
        SortedPlan(None, None, ["id", "n"], types).arrow_schema()  # type: ignore[arg-type]


def test_a_key_outside_the_catalogs_columns_may_disagree_as_from_pylist_lets_it(tmp_path: Path) -> None:
    """`from_pylist` types only the first record's keys: a key the smallest id's record lacks may
    mix kinds (within a chunk or across chunks) without failing the plan; a column may not."""
    from hvgen.stages.plan import SortedPlan, column_types, merge_types

    first = [{"id": "a", "n": 1}, {"id": "b", "n": None, "x": [1]}, {"id": "c", "n": 2, "x": "s"}]
    later = [{"id": "d", "n": 2.5, "x": {"k": 1}}]
    types = column_types(first)
    assert isinstance(types["x"], str) and types["n"] == pa.field("n", pa.int64())
    merge_types(types, column_types(later))
    plan = SortedPlan(None, None, ["id", "n"], types)  # type: ignore[arg-type]
    assert plan.arrow_schema() == pa.Table.from_pylist(first + later).schema
    with pytest.raises(HvgenError, match="disagree on the type of field 'x'"):
        SortedPlan(None, None, ["id", "x"], types).arrow_schema()  # type: ignore[arg-type]
