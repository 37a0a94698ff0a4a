"""The DuckDB catalog of a run (``<run>/catalog.duckdb``).

Tables:
  records           one row per question (columns = the benchmark schema's fields)
  images            one row per distinct image: id, prompt, negative prompt, seed, target path
  renders           images that exist on disk (ingested from render manifests)
  scenario_outputs  scenario results per image or per record (ingested from scenario manifests)
  drops             what `hvgen build` dropped and why (written by hvgen.stages.build.dedup)
  kept_images / kept_records   views the export reads (all rows until `build` runs)
  meta              key/value facts about the run (plan report, stage timings)

Only one process writes the catalog. Workers (possibly many, see `--shard`) log finished work to
append-only manifests, which `sync_manifests` ingests with DuckDB's JSON reader.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from hvgen.errors import HvgenError
from hvgen.records import Record

CATALOG_FILE = "catalog.duckdb"
MANIFEST_DIR = "manifests"

RENDER_MANIFEST_COLUMNS = {
    "image_id": "VARCHAR",
    "path": "VARCHAR",
    "width": "INTEGER",
    "height": "INTEGER",
    "model": "VARCHAR",
    "seconds": "DOUBLE",
}
SCENARIO_MANIFEST_COLUMNS = {
    "scenario": "VARCHAR",
    "level": "VARCHAR",
    "key": "VARCHAR",
    "path": "VARCHAR",
    "params": "JSON",
    "skip_reason": "VARCHAR",
}


def image_relpath(image_id: str) -> str:
    """Where an image lives inside the run dir: bucketed by id prefix to keep folders small."""
    return f"images/{image_id[:2]}/{image_id}.png"


@contextmanager
def open_catalog(run_dir: Path, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    path = run_dir / CATALOG_FILE
    if read_only and not path.exists():
        raise HvgenError(
            f"{run_dir} has no {CATALOG_FILE}: run `hvgen plan {run_dir}` (or a benchmark command) first."
        )
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as error:
        raise HvgenError(
            f"cannot open {path}: {error}. Another hvgen process may be writing this run."
        ) from None
    try:
        yield con
    finally:
        con.close()


def write_plan(con: duckdb.DuckDBPyConnection, records: list[Record]) -> None:
    """Replace the run's records and images with a new plan (one transaction)."""
    table = pa.Table.from_pylist(records)
    con.register("planned_records", table)
    try:
        con.execute("BEGIN")
        con.execute("CREATE OR REPLACE TABLE records AS SELECT * FROM planned_records")
        con.execute(
            """
            CREATE OR REPLACE TABLE images AS
            SELECT image_id,
                   any_value(prompt) AS prompt,
                   any_value(negative_prompt) AS negative_prompt,
                   any_value(image_seed) AS image_seed,
                   'images/' || substr(image_id, 1, 2) || '/' || image_id || '.png' AS path,
                   count(*) AS num_records
            FROM records GROUP BY image_id ORDER BY image_id
            """
        )
        con.execute("DROP TABLE IF EXISTS drops")
        reset_kept_views(con)
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise
    finally:
        con.unregister("planned_records")


def reset_kept_views(con: duckdb.DuckDBPyConnection) -> None:
    """Before `build` runs, everything planned is kept."""
    con.execute("CREATE OR REPLACE VIEW kept_images AS SELECT * FROM images")
    con.execute("CREATE OR REPLACE VIEW kept_records AS SELECT * FROM records")


def set_meta(con: duckdb.DuckDBPyConnection, key: str, value: Any) -> None:
    con.execute("CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value JSON)")
    con.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", [key, json.dumps(value, sort_keys=True)])


def get_meta(con: duckdb.DuckDBPyConnection, key: str, default: Any = None) -> Any:
    if not table_exists(con, "meta"):
        return default
    row = con.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
    return json.loads(row[0]) if row else default


def table_exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    row = con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main'",
        [name],
    ).fetchone()
    return bool(row and row[0])


def _ingest(
    con: duckdb.DuckDBPyConnection, table: str, pattern: Path, columns: dict[str, str], key: str
) -> None:
    """(Re)build `table` from manifest JSON lines; the last line per key wins, torn lines are skipped."""
    column_sql = ", ".join(f"{name} {kind}" for name, kind in columns.items())
    files = sorted(pattern.parent.glob(pattern.name)) if pattern.parent.exists() else []
    if not files:
        con.execute(f"CREATE OR REPLACE TABLE {table} ({column_sql})")
        return
    columns_struct = "{" + ", ".join(f"'{name}': '{kind}'" for name, kind in columns.items()) + "}"
    file_list = "[" + ", ".join(f"'{f.as_posix()}'" for f in files) + "]"
    con.execute(
        f"""
        CREATE OR REPLACE TABLE {table} AS
        SELECT * EXCLUDE (rn) FROM (
            SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY filename DESC) AS rn
            FROM read_json({file_list}, format='newline_delimited', columns={columns_struct},
                           ignore_errors=true, filename=true)
            WHERE {key.split(",")[-1].strip()} IS NOT NULL
        ) WHERE rn = 1
        """
    )
    con.execute(f"ALTER TABLE {table} DROP COLUMN filename")


def sync_manifests(con: duckdb.DuckDBPyConnection, run_dir: Path) -> None:
    """Ingest what workers finished (render + scenarios) into the catalog."""
    manifests = run_dir / MANIFEST_DIR
    _ingest(con, "renders", manifests / "render.*.jsonl", RENDER_MANIFEST_COLUMNS, "image_id")
    _ingest(
        con, "scenario_outputs", manifests / "scenario-*.jsonl", SCENARIO_MANIFEST_COLUMNS, "scenario, key"
    )


def query_arrow(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any] | None = None
) -> pa.Table:
    """Run a query and return a pyarrow Table (DuckDB 2 renamed `fetch_arrow_table` to `to_arrow_table`)."""
    relation = con.sql(sql, params=params) if params else con.sql(sql)
    fetch = getattr(relation, "to_arrow_table", None) or relation.arrow
    return fetch()
