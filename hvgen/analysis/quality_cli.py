"""What `hvgen quality` prints and writes: two tables, notes, the JSON report and the scatter plot."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console

from hvgen.analysis.quality_report import assess, notes, parse_predictions, score_rows, summary_rows
from hvgen.config import CONFIG_FILE
from hvgen.progress import QUIET, info, verbosity, warn
from hvgen.report_tables import print_rows
from hvgen.store.atomic import write_text_atomic
from hvgen.store.layout import QUALITY_PLOT, QUALITY_REPORT

PLOT_FILE = Path(QUALITY_PLOT)
JSON_FILE = Path(QUALITY_REPORT)


def run_quality(
    form_a: Path,
    form_b: Path,
    predictions: list[str],
    retest: list[str],
    criterion: Path | None,
    json_path: Path | None,
    plot: Path | None,
    embedder: str | None,
    seed: int,
    n_bootstrap: int,
    judge: Any = None,
) -> dict[str, Any]:
    models = parse_predictions(predictions, retest)
    report = assess(
        form_a,
        form_b,
        models,
        criterion=criterion,
        embedder=embedder,
        judge=judge,
        seed=seed,
        n_bootstrap=n_bootstrap,
    )
    in_run = (form_a / CONFIG_FILE).is_file()  # a run directory keeps its report and plot in quality/
    target = plot or (form_a / PLOT_FILE if in_run else None)
    if target is not None:
        from hvgen.publish.plots import write_forms_scatter

        forms = report["parallel_forms"]
        ci = forms["pearson_ci"]
        title = f"{report['benchmark']}: parallel forms, Pearson r = " + (
            f"{forms['pearson']:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")
            if forms["pearson"] is not None
            else "undefined"
        )
        scores = {
            form: {m: row[form]["score"] for m, row in report["models"].items()}
            for form in ("form_a", "form_b")
        }
        report["plot"] = str(write_forms_scatter(scores["form_a"], scores["form_b"], title, target))
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    if json_path is not None and str(json_path) == "-":
        sys.stdout.write(text)
        return report
    console = Console() if sys.stdout.isatty() else Console(width=400)
    asked_for_json = json_path is not None
    json_path = json_path or (form_a / JSON_FILE if in_run else None)
    if verbosity() > QUIET or not asked_for_json:
        for title, rows in (
            (f"{report['benchmark']} scores per model", score_rows(report)),
            ("benchmark quality (correlations across models)", summary_rows(report)),
        ):
            print_rows(console, title, rows)
        for line in notes(report):
            console.print(line, highlight=False)
    shared = report["shared_questions"]
    if shared["count"]:
        warn(
            f"the forms share {shared['count']} question ids ({shared['share_of_form_a']:.0%} of form A, "
            f"{shared['share_of_form_b']:.0%} of form B): {shared['why']}"
        )
    for model, row in report["models"].items():
        for form, counts in row.items():
            unscored = {k: counts[k] for k in ("n_missing", "n_extra", "n_malformed_lines") if counts.get(k)}
            if unscored:
                details = ", ".join(
                    f"{n} {k.removeprefix('n_').replace('_', ' ')}" for k, n in unscored.items()
                )
                warn(
                    f"{model} {form.replace('form_', 'form ').replace(' a', ' A').replace(' b', ' B')}: {details} (see `hvgen score` on that file for the ids)."
                )
    if json_path is not None:
        write_text_atomic(json_path, text)
        info(f"report written to {json_path}")
    if report.get("plot"):
        info(f"plot written to {report['plot']}")
    else:
        info(
            f"no plot: {form_a} is not a run directory; pass --plot FILE.png for the form A vs form B scatter."
        )
    return report
