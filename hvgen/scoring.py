"""Shared plumbing of `hvgen score`: reading the questions back and writing reports."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import duckdb

from hvgen.errors import HvgenError
from hvgen.records import Record
from hvgen.store.atomic import write_text_atomic
from hvgen.store.catalog import CATALOG_FILE, open_catalog, query_arrow


def load_questions(source: Path) -> list[Record]:
    """Records from a run directory (its catalog) or an export folder (its parquet files, images dropped)."""
    if (source / CATALOG_FILE).is_file():
        with open_catalog(source, read_only=True) as con:
            return query_arrow(con, "SELECT * FROM kept_records ORDER BY id").to_pylist()
    files = sorted(source.glob("data/**/*.parquet")) if source.is_dir() else []
    files = [f for f in files if not f.parent.name.endswith("_images")]  # image-once layout's pictures
    if not files:
        raise HvgenError(
            f"{source} is neither an hvgen run directory (no {CATALOG_FILE}) nor an export folder (no data/**/*.parquet)."
        )
    con = duckdb.connect()
    try:
        file_list = "[" + ", ".join(f"'{f.as_posix()}'" for f in files) + "]"
        table = query_arrow(
            con,
            f"SELECT DISTINCT ON (id) * FROM read_parquet({file_list}, union_by_name=true) ORDER BY id",
        )
    finally:
        con.close()
    if "image" in table.column_names:
        table = table.drop_columns(["image"])
    return table.to_pylist()


def check_benchmark(records: list[Record], benchmark: str, source: Path) -> None:
    """Refuse to score questions of another benchmark (each record names its `generator`): the
    scorer would otherwise stop at the first field that benchmark does not have."""
    if not records:
        raise HvgenError(f"{source} holds no questions to score (was everything dropped by `hvgen build`?).")
    found = sorted({str(r.get("generator")) for r in records if r.get("generator")})
    if not found or benchmark in found:
        return
    from hvgen.generator import Generator, get_generator

    other = found[0]
    try:
        has_scorer = get_generator(other).score.__func__ is not Generator.score.__func__
    except HvgenError:
        has_scorer = False
    from hvgen.publish.formats import format_names

    if has_scorer:
        fix = f"score it with `hvgen score {other} {source} PREDICTIONS`"
    elif other in format_names():
        fix = f"hvgen has no scorer for {other}: its own evaluation code reads `hvgen export RUN --format {other}`"
    else:
        fix = f"hvgen has no scorer for {other}"
    raise HvgenError(
        f"{source} holds {', '.join(found)} questions, not {benchmark} ones: pass a {benchmark} run or export "
        f"folder instead ({fix})."
    )


def write_report(report: dict[str, Any], path: Path) -> None:
    if path.suffix == ".csv":
        rows = report.get("table") or []
        buffer = io.StringIO()
        if rows:
            writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        write_text_atomic(path, buffer.getvalue())
    else:
        write_text_atomic(path, json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
