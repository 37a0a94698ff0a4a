"""What the commands print, in one place: one line per stage result on stderr (hidden by -q),
tables of data on stdout (`data_console`), never wrapped or cut in a pipe. Imported by the
command modules of `hvgen.cli`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hvgen.progress import QUIET, console, info, verbosity, warn


def data_console() -> Console:
    """A console for a command's data: wide enough off a terminal that tables are never cut."""
    return Console() if sys.stdout.isatty() else Console(width=400)


def print_plan(run_dir: Path, summary: Any) -> None:
    if summary is None:
        info("plan: up to date (resuming).")
        return
    kinds = ", ".join(f"{count} {kind}" for kind, count in summary.by_question_type.items())
    info(f"plan: {summary.records} questions over {summary.images} images" + (f" ({kinds})" if kinds else ""))
    if summary.position_balance and verbosity() > QUIET:
        table = Table(title="answer-position balance", show_lines=False)
        for column in ("question type", "options", "answers per position", "chi² p"):
            table.add_column(column)
        for row in summary.position_balance:
            table.add_row(
                row["question_type"],
                str(row["options"]),
                " / ".join(map(str, row["counts"])),
                str(row["chi2_p"]),
            )
        console.print(table)
    for note in summary.notes:
        info(note, highlight=False)
    for warning in summary.warnings:
        warn(warning)


def print_render(summary: Any) -> None:
    info(
        f"render: {summary.rendered} rendered, {summary.already_done} already done, "
        f"{summary.total_in_shard} in this shard ({summary.seconds:.1f} s)"
    )


def print_scenario(summary: Any) -> None:
    info(
        f"scenario {summary.scenario}: {summary.written} written, {summary.skipped} not applicable, "
        f"{summary.already_done} already done"
        + (
            f"; redid {summary.outdated} output(s) of another version of the {summary.scenario} algorithm"
            if summary.outdated
            else ""
        )
    )


def print_export(run_dir: Path, exported: list[Any]) -> None:
    for item in exported:
        info(f"export: config '{item.name}': {item.rows} rows in {len(item.files)} file(s)")
    info(
        f"done: load it with datasets.load_dataset('{run_dir / 'export'}', '{exported[0].name if exported else 'clean'}')"
    )


def print_build(result: Any) -> list[str]:
    """The build stage's result (dedup table, filters' drops); returns its warnings (printed too)."""
    if verbosity() > QUIET:
        console.print(result.dedup.summary_table())
    if result.clip:
        info(
            f"clip filter ({result.clip['model']}, score <= {result.clip['threshold']}): "
            f"{result.clip['dropped_images']} image(s) dropped"
        )
    if result.fidelity:
        fidelity = result.fidelity
        spread = ", ".join(
            f"{row['metric']} median {row['median']} (min {row['min']}, max {row['max']})"
            for row in fidelity["metrics"]
        )
        info(
            f"fidelity filter ({fidelity['model']}, score < {fidelity['threshold']}): {fidelity['dropped_images']} of "
            f"{fidelity['scored_images']} scored image(s) dropped"
            + (f"; {spread}" if spread else "")
            + (
                f"; {fidelity['unscored_images']} not scorable (boxes, five-point faces, no labelled keypoint, no whole-body head), kept"
                if fidelity["unscored_images"]
                else ""
            )
        )
    if result.labels:
        info(
            f"label check ({result.labels['model']}): {result.labels['dropped_images']} of "
            f"{result.labels['checked_images']} image(s) dropped (CLIP ranks another label first)"
        )
    if result.scan:
        scan = result.scan
        info(
            f"backdoor scan (FTT < {scan['threshold']['ftt']}, {scan['threshold']['source']}): "
            f"{scan['flagged_images']} of {scan['scanned_images']} image(s) flagged"
            + (
                ", dropped"
                if scan["dropped"]
                else ", kept (--keep-flagged)"
                if scan["flagged_images"]
                else ""
            )
        )
    warnings = result.dedup.warnings() + (result.warnings or [])
    for message in warnings:
        warn(message)
    return warnings


def print_format_steps(run_dir: Path, requested: list[str], benchmark: str) -> None:
    """Where each extra format went and how to run its consumer (`ExportFormat.next_steps`)."""
    from hvgen.publish.formats import FORMATS_DIR, parse_formats

    for fmt in parse_formats(requested, benchmark):
        out = run_dir / FORMATS_DIR / fmt.name
        steps = fmt.next_steps(out)
        # unwrapped and without markup: the lines are commands to copy
        info(
            f"format {fmt.name}: {out}" + (f"\n{steps}" if steps else ""),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def print_listing(name: str, items: list[str]) -> None:
    """One list on one line, never wrapped: it is data (grep, cut), whatever its length."""
    data_console().print(
        f"[bold]{name}[/] ({len(items)}): {escape(', '.join(items))}", highlight=False, soft_wrap=True
    )


def print_score_table(title: str, rows: list[dict[str, Any]], to_stdout: bool) -> None:
    """A scorer's table (`report["table"]`); on stderr when stdout holds the JSON report."""
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(str(column))
    for row in rows:
        table.add_row(*(_cell(v) for v in row.values()))
    (console if to_stdout else data_console()).print(table)


def _cell(value: Any) -> str:
    """A score table cell: 4 decimals, and '–' where a metric does not apply (never 'None')."""
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)
