"""The end-of-run summary: what a run produced and what it cost, kept as ``RUN/summary.json``.

Benchmark commands end with it (so do `hvgen build` and `hvgen export`), so that a log file, a
Slurm job or CI shows the rows per export config, what was dropped and why, the wall time of each
stage and the size of the output without opening the catalog. It sits beside ``export/``, not in
it: it describes this machine's run, not the published data. A stage command updates its own
stage time and keeps those of earlier commands on the same run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvgen import __version__
from hvgen.interrupts import check as check_interrupt
from hvgen.store.atomic import write_text_atomic
from hvgen.store.catalog import CATALOG_FILE, open_catalog, table_exists
from hvgen.store.layout import EXPORT_DIR, FORMATS_DIR, SUMMARY_FILE


@dataclass
class StageTimes:
    """Wall time per stage, in the order the stages ran."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        check_interrupt()  # a Ctrl-C swallowed during the previous stage stops here
        start = time.monotonic()
        try:
            yield
        finally:
            self.seconds[name] = round(self.seconds.get(name, 0.0) + time.monotonic() - start, 2)


def read_summary(run_dir: Path) -> dict[str, Any]:
    """The run's previous summary, or {} (none yet, or unreadable: it is rewritten anyway)."""
    try:
        data = json.loads((run_dir / SUMMARY_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def folder_size(folder: Path) -> tuple[int, int]:
    """(files, bytes) under `folder`; (0, 0) when it does not exist."""
    files = [p for p in folder.rglob("*") if p.is_file()] if folder.is_dir() else []
    return len(files), sum(p.stat().st_size for p in files)


def _catalog_counts(run_dir: Path) -> dict[str, Any]:
    if not (run_dir / CATALOG_FILE).is_file():
        return {}
    with open_catalog(run_dir, read_only=True) as con:

        def count(sql: str) -> int:
            return int(con.execute(sql).fetchone()[0])

        counts: dict[str, Any] = {
            "questions_planned": count("SELECT count(*) FROM records"),
            "questions_kept": count("SELECT count(*) FROM kept_records"),
            "images_planned": count("SELECT count(DISTINCT image_id) FROM records"),
            "images_kept": count("SELECT count(DISTINCT image_id) FROM kept_records"),
            "drops": {},
        }
        if table_exists(con, "drops"):
            rows = con.execute("SELECT reason, count(*) FROM drops GROUP BY 1 ORDER BY 1").fetchall()
            counts["drops"] = {reason: n for reason, n in rows}
    return counts


def build_summary(
    run_dir: Path,
    benchmark: str,
    exported: list[Any],
    stages: StageTimes,
    warnings: list[str] | None = None,
) -> dict[str, Any]:
    """The summary of `run_dir` after an export (`exported`: the stage's ExportedConfig list)."""
    previous = read_summary(run_dir)
    export_dir = run_dir / EXPORT_DIR
    configs = []
    for item in exported:
        sizes = [(export_dir / f).stat().st_size for f in item.files if (export_dir / f).is_file()]
        configs.append(
            {
                "name": item.name,
                "scenario": item.scenario,
                "rows": item.rows,
                "files": len(sizes),
                "bytes": sum(sizes),
            }
        )
    files, size = folder_size(export_dir)
    formats_dir = run_dir / FORMATS_DIR
    formats = (
        {
            p.name: folder_size(p)[1]
            for p in sorted(formats_dir.iterdir())
            if p.is_dir() and not p.name.startswith(".")
        }
        if formats_dir.is_dir()
        else {}
    )
    stage_seconds = {**previous.get("stages", {}), **stages.seconds}
    return {
        "benchmark": benchmark,
        "hvgen_version": __version__,
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **_catalog_counts(run_dir),
        "configs": configs,
        "stages": stage_seconds,
        "wall_seconds": round(sum(stages.seconds.values()), 2),
        # up_to_date: a rerun found the export written from the same inputs and left it as it was
        "export": {
            "folder": EXPORT_DIR,
            "files": files,
            "bytes": size,
            "up_to_date": bool(getattr(exported, "up_to_date", False)),
        },
        "formats": formats,
        "warnings": list(warnings or []),
    }


def write_summary(run_dir: Path, summary: dict[str, Any]) -> Path:
    path = run_dir / SUMMARY_FILE
    # key order kept: stages are listed in the order they ran
    write_text_atomic(path, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return path


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TiB"  # pragma: no cover


def summary_table(summary: dict[str, Any]):  # -> rich.table.Table
    """The summary for the terminal: one section per kind of line."""
    from rich.table import Table

    table = Table(title="summary", show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    if "questions_planned" in summary:
        table.add_row(
            "questions kept / planned", f"{summary['questions_kept']:,} / {summary['questions_planned']:,}"
        )
        table.add_row("images kept / planned", f"{summary['images_kept']:,} / {summary['images_planned']:,}")
    table.add_section()
    for config in summary["configs"]:
        table.add_row(f"config {config['name']}", f"{config['rows']:,} rows, {human_bytes(config['bytes'])}")
    if summary.get("drops"):
        table.add_section()
        for reason, n in summary["drops"].items():
            table.add_row(f"dropped: {reason}", f"{n:,}")
    table.add_section()
    for stage, seconds in summary["stages"].items():
        table.add_row(f"time: {stage}", _duration(seconds))
    table.add_section()
    table.add_row(
        "export size",
        f"{human_bytes(summary['export']['bytes'])} in {summary['export']['files']} files"
        + (" (up to date)" if summary["export"].get("up_to_date") else ""),
    )
    for name, size in summary.get("formats", {}).items():
        table.add_row(f"format {name}", human_bytes(size))
    return table


def _duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"
