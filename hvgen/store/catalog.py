"""The DuckDB catalog of a run (``<run>/catalog.duckdb``).

Tables:
  records           one row per question (columns = the benchmark schema's fields)
  images            one row per distinct image: id, prompt, negative prompt, seed, target path
  renders           rendered images, verified on disk (hvgen.store.work.sync_manifests)
  scenario_outputs  scenario results per image or per record, verified the same way
  drops             what `hvgen build` dropped and why (written by hvgen.stages.build.dedup)
  kept_images / kept_records   views the export reads (all rows until `build` runs)
  meta              key/value facts about the run (plan report, stage timings)

Only one process writes the catalog. Workers (possibly many, see `--shard`) log finished work to
append-only manifests; `hvgen.store.work.sync_manifests` checks each claim against the plan and
the disk and writes what holds into the catalog.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hvgen.errors import HvgenError
from hvgen.lazy_module import lazy_import
from hvgen.records import Record
from hvgen.store.layout import CATALOG_FILE, image_relpath  # noqa: F401 - image_relpath: re-exported

duckdb = lazy_import("duckdb")  # loaded on first use: `hvgen config` and refusals read no catalog

if TYPE_CHECKING:  # pyarrow (0.1 s) is imported by the functions that write arrow: `hvgen status` reads only
    import pyarrow as pa

RECORDS_HASH_KEY = "records_sha256"
"""Meta key: sha256 of the plan's records.jsonl (what the plan stage wrote; identifies the plan)."""


class CatalogBusyError(HvgenError):
    """Another process holds the catalog's write lock (DuckDB locks the file: while one process
    writes, no other may open it, not even read-only)."""


class CatalogCorruptError(HvgenError):
    """catalog.duckdb exists but DuckDB cannot read it (random bytes, a torn copy ...); `reason`
    is DuckDB's own words, on one line."""

    def __init__(self, message: str, reason: str = "", aside: Path | None = None) -> None:
        super().__init__(message)
        self.reason = reason or message
        self.aside = aside  # where the damaged file went, when it was already set aside


_CHECKED: set[tuple[str, int, int, int]] = set()
"""Catalog files (path, inode, size, mtime) this process has read whole: reopened unchanged, they
are not read whole again; any write (ours included) makes the next open read it again."""

_DAMAGE_SIGNS = (
    "corrupt database file",
    "could not read enough bytes",
    "checksum",
    "not a valid duckdb database file",
    "database has been invalidated",
    "serialization error",
)


def _is_damage(error: BaseException) -> bool:
    """Whether a DuckDB error raised while reading or writing the catalog says the file is damaged
    (a block that does not read back, a bad checksum), not that a query is wrong."""
    text = str(error).lower()
    return isinstance(error, duckdb.Error) and any(sign in text for sign in _DAMAGE_SIGNS)


@contextmanager
def open_catalog(run_dir: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection to the run's catalog, checked whole before use: a file shorter than the blocks
    its header counts, or any table whose blocks do not read back (checksums), raises
    `CatalogCorruptError`; so does damage found later, while the caller reads or writes, after the
    file is set aside (`set_catalog_aside`), so the next open rebuilds instead of failing again."""
    path = run_dir / CATALOG_FILE
    if read_only and not path.exists():
        raise HvgenError(
            f"{run_dir} has no {CATALOG_FILE}: run `hvgen plan {run_dir}` (or a benchmark command) first."
        )
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        if "lock" in str(error).lower():
            raise CatalogBusyError(
                f"cannot open {path}: another hvgen process is writing this run's catalog. "
                "Wait for it to finish (only one process at a time plans, builds or exports a run)."
            ) from None
        raise CatalogCorruptError(_corrupt_message(path, error), _reason(error)) from None
    except duckdb.Error as error:
        raise CatalogCorruptError(_corrupt_message(path, error), _reason(error)) from None
    damage: BaseException | None = None
    try:
        try:
            _check_whole(con, path)
        except duckdb.Error as error:
            raise CatalogCorruptError(_corrupt_message(path, error), _reason(error)) from None
        try:
            yield con
        except duckdb.Error as error:
            if not _is_damage(error):
                raise
            damage = error
    finally:
        con.close()
    if damage is not None:
        aside = set_catalog_aside(run_dir)
        moved = f"; moved it to {aside.name}" if aside else ""
        raise CatalogCorruptError(
            f"{path} turned out damaged while in use ({_reason(damage)}){moved}. Run the command again: it "
            "rebuilds the catalog from config.yaml and the manifests.",
            _reason(damage),
            aside,
        ) from None


def _check_whole(con: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Raise a DuckDB error unless, the first time this process opens the file, every table reads
    back whole (each block is checksummed on read, and a block past the end of a file cut short
    does not read at all).

    Opening reads only the headers and the table list, so a file cut short or with a damaged
    block would otherwise open fine and fail later, in the middle of a stage. (The file's length
    alone proves nothing: DuckDB trims trailing free blocks, so a healthy file may be shorter
    than its header's block count.) Measured: a full read of a synthetic catalog of
    600k questions and 900k scenario outputs (31 MB) takes 0.3-0.4 s on 2 cores; it is done once
    per open that follows a write."""
    if not path.exists():
        return
    info = path.stat()
    identity = (str(path.resolve()), info.st_ino, info.st_size, info.st_mtime_ns)
    if identity in _CHECKED:
        return
    tables = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main' AND table_type = 'BASE TABLE'"
    ).fetchall()
    for (name,) in tables:
        con.execute(f'SELECT bit_xor(hash(_hvgen_row)) FROM "{name}" AS _hvgen_row').fetchall()
    _CHECKED.add(identity)


def set_catalog_aside(run_dir: Path) -> Path | None:
    """Move a damaged catalog (and its write-ahead log) out of the way, kept for inspection, never
    deleted; returns where it went (None if another process moved it first)."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = run_dir / CATALOG_FILE
    aside = run_dir / f"{CATALOG_FILE}.corrupt-{stamp}"
    number = 1
    while aside.exists():
        number += 1
        aside = run_dir / f"{CATALOG_FILE}.corrupt-{stamp}-{number}"
    try:
        path.rename(aside)
    except FileNotFoundError:
        return None
    wal = run_dir / f"{CATALOG_FILE}.wal"
    if wal.exists():
        wal.rename(run_dir / f"{aside.name.replace(CATALOG_FILE, CATALOG_FILE + '.wal', 1)}")
    return aside


def _reason(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:160] if text else type(error).__name__


def _corrupt_message(path: Path, error: Exception) -> str:
    return (
        f"{path} is not a readable DuckDB catalog ({_reason(error)}). It can be rebuilt from config.yaml and the "
        f"manifests: rerun the benchmark command or `hvgen plan {path.parent}`, which moves it aside and rebuilds "
        "it (a build's dedup results are then recomputed by `hvgen build`)."
    )


def write_plan(con: duckdb.DuckDBPyConnection, records: list[Record] | pa.Table) -> None:
    """Replace the run's records and images with a new plan (one transaction)."""
    import pyarrow as pa

    table = records if isinstance(records, pa.Table) else pa.Table.from_pylist(records)
    with plan_writer(con) as add:
        add(table)


PLAN_MEMORY_LIMIT = "256MB"
"""DuckDB's memory while a plan is written; a larger records table spills to disk."""
PLAN_CHECKPOINT = "64MB"
"""DuckDB's write-ahead log before a checkpoint while a plan is written (its default, 16 MB, is
about one chunk of long records: each was compressed and written, then rewritten with the next
one; measured on a Dysca plan, 133k records: 2.3 → 1.6 CPU s, a 35 → 24 MB file)."""
PLANNED = "records_planned"  # the new plan's rows until they replace `records`


@dataclass(frozen=True)
class JsonRecords:
    """A written records.jsonl for the catalog to read itself: DuckDB's JSON reader parses and
    inserts it in parallel (C++, all cores), about half the CPU of arrow's JSON reader plus an
    insert of the arrow tables (measured on a Dysca plan, 133k records: 1.3 vs 2.5 CPU s). The
    columns are `schema`'s, typed as DuckDB types the same arrow table (the catalog is
    identical: types, rows, stored order); a key outside them is ignored, as `from_pylist` does.
    A value its column cannot hold is refused (a string in a number column), but DuckDB casts
    where arrow refused: a number in a string column is read as its text (the benchmarks' JSON
    schemas give each top-level field one kind, so only a loose schema's generator can differ)."""

    path: Path
    schema: pa.Schema
    longest: int  # bytes of the longest line: the reader's buffer must hold it whole


def _json_source(con: duckdb.DuckDBPyConnection, records: JsonRecords) -> tuple[str, list[Any]]:
    """The SQL (and parameters) reading `records` with the types its arrow schema maps to."""
    con.register("planned_schema", records.schema.empty_table())
    try:
        columns = {row[0]: str(row[1]) for row in con.execute("DESCRIBE planned_schema").fetchall()}
    finally:
        con.unregister("planned_schema")
    sql = "read_json(?, format = 'newline_delimited', columns = ?, maximum_object_size = ?)"
    return sql, [str(records.path), columns, max(1 << 20, records.longest + 1)]


@contextmanager
def plan_writer(con: duckdb.DuckDBPyConnection) -> Iterator[Callable[[pa.Table | JsonRecords], None]]:
    """Replace the run's records and images with a new plan: the caller adds the records as
    arrow tables of one schema, chunk by chunk and in id order (a large plan never exists as
    one table), or as the written records.jsonl (`JsonRecords`). Chunks go to a side table, each
    committed on its own (one transaction holding them all kept them in memory: ~850 MB for
    300k rows under a 256 MB limit, measured); on exit one short transaction swaps it in and
    rebuilds the images table and kept views, so a reader sees the old plan or the new one,
    never half of it."""
    started = False

    def add(table: pa.Table | JsonRecords) -> None:
        nonlocal started
        verb = (
            f"INSERT INTO {PLANNED} SELECT * FROM" if started else f"CREATE TABLE {PLANNED} AS SELECT * FROM"
        )
        if isinstance(table, JsonRecords):
            source, params = _json_source(con, table)
            try:
                con.execute(f"{verb} {source}", params)
            except duckdb.InvalidInputException as error:  # a value its column's type cannot hold
                raise HvgenError(
                    f"the plan's records disagree on a field's type ({_reason(error)}); fix the generator."
                ) from None
            started = True
            return
        con.register("planned_records", table)
        try:
            con.execute(f"{verb} planned_records")
            started = True
        finally:
            con.unregister("planned_records")

    con.execute(f"SET memory_limit = '{PLAN_MEMORY_LIMIT}'")
    con.execute(f"SET checkpoint_threshold = '{PLAN_CHECKPOINT}'")
    con.execute(f"DROP TABLE IF EXISTS {PLANNED}")  # a crashed plan's leftovers
    try:
        yield add
        if not started:
            raise HvgenError("internal: a plan was written without its records table.")
        con.execute("BEGIN")
        try:
            con.execute("DROP TABLE IF EXISTS records")
            con.execute(f"ALTER TABLE {PLANNED} RENAME TO records")
            # A record's extra images (`frames`: a verification pair's second face, a clip's
            # sampled frames) are planned images like its primary one: rendered or supplied,
            # verified and exported (as the `frame_images` column) the same way.
            types = {row[0]: str(row[1]) for row in con.execute("DESCRIBE records").fetchall()}
            frames = (
                " UNION ALL SELECT f.image_id, f.prompt, f.negative_prompt, f.image_seed"
                " FROM (SELECT unnest(frames) AS f FROM records)"
                if types.get("frames", "").startswith("STRUCT")
                else ""  # no record has frames (a list of nulls), or none has the column
            )
            con.execute(
                f"""
                CREATE OR REPLACE TABLE images AS
                SELECT image_id,
                       any_value(prompt) AS prompt,
                       any_value(negative_prompt) AS negative_prompt,
                       any_value(image_seed) AS image_seed,
                       'images/' || substr(image_id, 1, 2) || '/' || image_id || '.png' AS path,
                       count(*) AS num_records
                FROM (SELECT image_id, prompt, negative_prompt, image_seed FROM records{frames})
                GROUP BY image_id ORDER BY image_id
                """
            )
            con.execute("DROP TABLE IF EXISTS renders")
            con.execute("DROP TABLE IF EXISTS scenario_outputs")
            con.execute("DROP TABLE IF EXISTS drops")
            reset_kept_views(con)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.execute(f"DROP TABLE IF EXISTS {PLANNED}")
        con.execute("RESET checkpoint_threshold")


def reset_kept_views(con: duckdb.DuckDBPyConnection) -> None:
    """Before `build` runs, everything planned is kept — but for images whose source was
    skipped (a `renders` row with no file: it does not decode), and their questions: the
    export must not publish a question without its image, nor lose it without a count."""
    if table_exists(con, "renders"):
        skipped = "image_id NOT IN (SELECT image_id FROM renders WHERE path IS NULL)"
        con.execute(f"CREATE OR REPLACE VIEW kept_images AS SELECT * FROM images WHERE {skipped}")
        con.execute(f"CREATE OR REPLACE VIEW kept_records AS SELECT * FROM records WHERE {skipped}")
        return
    con.execute("CREATE OR REPLACE VIEW kept_images AS SELECT * FROM images")
    con.execute("CREATE OR REPLACE VIEW kept_records AS SELECT * FROM records")


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: Any) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value JSON)")
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, json.dumps(value, sort_keys=True)])


def get_meta(con: duckdb.DuckDBPyConnection, key: str, default: Any = None) -> Any:
    if not table_exists(con, "meta"):
        return default
    rows = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchall()  # read to the end
    return json.loads(rows[0][0]) if rows else default


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    rows = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
        [name],
    ).fetchall()
    return bool(rows and rows[0][0])


def query_arrow(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None
) -> pa.Table:
    """Run a query and return a pyarrow Table (DuckDB 2 renamed `fetch_arrow_table` to `to_arrow_table`)."""
    relation = con.sql(sql, params=params) if params else con.sql(sql)
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()
