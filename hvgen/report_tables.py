"""Rich tables from rows of plain dicts (the first row's keys are the columns): how the analysis
commands (quality, contamination) print their reports."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.console import Console
from rich.table import Table


def print_rows(console: Console, title: str, rows: Sequence[Mapping[str, str]]) -> None:
    """One table titled `title`; nothing for no rows."""
    if not rows:
        return
    table = Table(title=title)
    for column in rows[0]:
        table.add_column(column)
    for row in rows:
        table.add_row(*row.values())
    console.print(table)
