"""Out-of-core sort of serialised records by id, for plans too large to hold in memory.

The plan stage writes `records.jsonl` sorted by id. A plan of millions of questions (HERM on
the full COCO train split) would need several GiB as Python dicts, so each record is
serialised once, staged in a scratch DuckDB database and read back in id order: DuckDB sorts
within `memory_limit` and spills the rest to its temp directory. The scratch folder is
removed on close.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa

SORT_MEMORY_LIMIT = "256MB"
"""What DuckDB may hold while staging and sorting; the rest spills to disk."""


class RecordSort:
    """Stage (id, line) pairs in any order; read them back sorted by id (byte order of the id,
    which is Python's `str` order for the ASCII ids `check_key` admits)."""

    def __init__(self, work_dir: Path, memory_limit: str = SORT_MEMORY_LIMIT) -> None:
        work_dir.mkdir(parents=True, exist_ok=True)
        self.folder = Path(tempfile.mkdtemp(prefix=".plan-sort-", dir=work_dir))
        self.con = duckdb.connect(str(self.folder / "sort.duckdb"))
        self.con.execute(f"SET memory_limit = '{memory_limit}'")
        self.con.execute(f"SET temp_directory = '{self.folder / 'spill'}'")
        self.con.execute("SET preserve_insertion_order = false")
        self.con.execute("SET threads = 2")
        self.con.execute("CREATE TABLE staged (id VARCHAR, line VARCHAR)")
        self.count = 0

    def add(self, ids: list[str], lines: list[str]) -> None:
        if not ids:
            return
        chunk = pa.table({"id": pa.array(ids, pa.string()), "line": pa.array(lines, pa.string())})
        self.con.register("chunk", chunk)
        try:
            self.con.execute("INSERT INTO staged SELECT id, line FROM chunk")
        finally:
            self.con.unregister("chunk")
        self.count += len(ids)

    def sorted_batches(self, rows: int = 20_000) -> Iterator[tuple[list[str], list[str]]]:
        """(ids, lines) in id order, `rows` at a time."""
        relation = self.con.sql("SELECT id, line FROM staged ORDER BY id")
        # DuckDB 2 renamed `fetch_arrow_reader` to `to_arrow_reader`
        reader = (getattr(relation, "to_arrow_reader", None) or relation.fetch_arrow_reader)(rows)
        for batch in reader:
            yield batch.column(0).to_pylist(), batch.column(1).to_pylist()

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> RecordSort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
