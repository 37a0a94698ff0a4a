"""Small PNG bar charts of the statistics, embedded in the dataset card."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hvgen.store.atomic import atomic_path

PLOT_DIR = "plots"


def save_figure(figure: Any, target: Path) -> None:
    """Write a matplotlib figure as a PNG atomically (a kill never leaves half a plot), then free it."""
    import matplotlib.pyplot as plt

    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="png", dpi=90)
    plt.close(figure)


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
        save_figure(figure, target)
        plots.append({"column": column, "path": relative})
    return plots


def write_forms_scatter(
    scores_a: dict[str, float], scores_b: dict[str, float], title: str, target: Path
) -> Path:
    """Each model's score on form A against form B, with the y = x line: points far from the
    line are models the two forms rank differently (`hvgen quality`)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = sorted(set(scores_a) & set(scores_b))
    xs, ys = [scores_a[m] for m in models], [scores_b[m] for m in models]
    figure, axis = plt.subplots(figsize=(5, 5))
    low, high = min(xs + ys, default=0.0), max(xs + ys, default=1.0)
    pad = (high - low) * 0.08 or 1.0
    axis.plot([low - pad, high + pad], [low - pad, high + pad], color="#999999", linewidth=1, zorder=1)
    axis.scatter(xs, ys, color="#4c72b0", zorder=2)
    for model, x, y in zip(models, xs, ys):
        axis.annotate(model, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8)
    axis.set_xlim(low - pad, high + pad)
    axis.set_ylim(low - pad, high + pad)
    axis.set_xlabel("score on form A")
    axis.set_ylabel("score on form B")
    axis.set_title(title, fontsize=9)
    figure.tight_layout()
    save_figure(figure, target)
    return target
