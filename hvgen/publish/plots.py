"""Small PNG bar charts of the statistics, embedded in the dataset card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hvgen.store.atomic import atomic_path

PLOT_DIR = "plots"


def write_plots(stats: dict[str, Any], export_dir: Path, top: int = 30) -> list[dict[str, str]]:
    """One horizontal bar chart per counted column; returns [{"column", "path"}] relative to the export."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plots = []
    for column, rows in stats.get("counts", {}).items():
        if not rows:
            continue
        rows = rows[:top]
        labels = [label for label, _ in rows][::-1]
        values = [value for _, value in rows][::-1]
        figure, axis = plt.subplots(figsize=(7, max(2.0, 0.28 * len(rows) + 1)))
        axis.barh(labels, values, color="#4c72b0")
        axis.set_title(
            f"records per {column}" + (f" (top {top})" if len(stats["counts"][column]) > top else "")
        )
        axis.set_xlabel("records")
        figure.tight_layout()
        relative = f"{PLOT_DIR}/{column.replace(' ', '_')}.png"
        target = export_dir / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(target) as tmp:
            figure.savefig(tmp, format="png", dpi=90)
        plt.close(figure)
        plots.append({"column": column, "path": relative})
    return plots
