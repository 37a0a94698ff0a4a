"""The card's reliability section: what `hvgen quality` measured on this run, with its plot.

`hvgen quality RUN_A RUN_B …` leaves ``RUN_A/quality/quality.json`` and the form A vs form B
scatter; when both are there, `hvgen export RUN_A` copies the plot into the export (so `push`
uploads it) and the card quotes the headline numbers. Without them the card says nothing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hvgen.publish.plots import PLOT_DIR
from hvgen.store.atomic import write_bytes_atomic
from hvgen.store.layout import QUALITY_PLOT, QUALITY_REPORT

CARD_PLOT = f"{PLOT_DIR}/parallel-forms.png"


def quality_summary(run_dir: Path, export_dir: Path) -> dict[str, Any] | None:
    """The card's view of the run's quality report (None when there is none or it cannot be read)."""
    report_path, plot_path = run_dir / QUALITY_REPORT, run_dir / QUALITY_PLOT
    if not (report_path.is_file() and plot_path.is_file()):
        return None
    try:
        report = json.loads(report_path.read_text(encoding="utf-8"))
        forms = report["parallel_forms"]
    except (OSError, ValueError, KeyError, TypeError):
        return None
    write_bytes_atomic(export_dir / CARD_PLOT, plot_path.read_bytes())
    consistency = (report.get("internal_consistency") or {}).get("form_a") or {}
    retest = report.get("test_retest") or {}
    return {
        "plot": CARD_PLOT,
        "models": len(report.get("models") or {}),
        "pearson": forms.get("pearson"),
        "pearson_ci": forms.get("pearson_ci"),
        "spearman": forms.get("spearman"),
        "spearman_ci": forms.get("spearman_ci"),
        "retest_pearson": retest.get("pearson"),
        "kr20": consistency.get("kr20"),
        "alpha": consistency.get("cronbach_alpha"),
    }
