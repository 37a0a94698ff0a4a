"""What `hvgen contamination` prints and draws: the model table, the subtask table, one verdict
line per model, notes on what the numbers cannot say, and a plot of the gaps."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hvgen.analysis.contamination.assess import EVIDENCE, SHARED_GAP
from hvgen.publish.plots import save_figure


def _pp(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:+.1f}"


def _ci(interval: list[float] | None) -> str:
    return "" if not interval else f" [{100 * interval[0]:+.1f}, {100 * interval[1]:+.1f}]"


def _log(value: float | None) -> str:
    return "–" if value is None else f"{value:+.2f}"


def _log_ci(interval: list[float] | None) -> str:
    return "" if not interval else f" [{interval[0]:+.2f}, {interval[1]:+.2f}]"


def _p(value: float | None) -> str:
    if value is None:
        return "–"
    return f"{value:.2g}" if value >= 1e-4 else f"{value:.1e}"


def model_rows(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """Per model: accuracies, gap (percentage points) with its interval, the tests, the verdict."""
    rows = []
    for model, row in report["models"].items():
        overall, relative = row["overall"], row["relative"] or {}
        if not overall.get("n_items"):
            rows.append({"model": model, "items": "0", "verdict": "no paired answers"})
            continue
        rows.append(
            {
                "model": model,
                "items": f"{overall['n_items']} ({overall['n_images']} images)",
                "release %": f"{100 * overall['release_accuracy']:.1f}",
                "twins %": f"{100 * overall['twin_accuracy']:.1f}",
                "gap pp [CI]": _pp(overall["gap"]) + _ci(overall["gap_ci"]),
                "p (exact, by image)": _p(overall["p_value"]),
                "p McNemar (items)": _p(overall["p_mcnemar_items"]),
                "vs others pp [CI]": _pp(relative.get("relative_gap")) + _ci(relative.get("relative_gap_ci")),
                "vs others log OR [CI]": _log(relative.get("relative_log_odds_ratio"))
                + _log_ci(relative.get("relative_log_odds_ratio_ci")),
                "p vs others": _p(relative.get("p_value")),
                "verdict": row["verdict"],
            }
        )
    return rows


def subtask_rows(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """Per model and subtask: accuracies, gap with interval, exact p and its Holm adjustment."""
    rows = []
    for model, row in report["models"].items():
        for subtask, sub in row["subtasks"].items():
            rows.append(
                {
                    "model": model,
                    report.get("subtask_column", "subtask"): subtask,
                    "items": str(sub["n_items"]),
                    "release %": f"{100 * sub['release_accuracy']:.1f}",
                    "twins %": f"{100 * sub['twin_accuracy']:.1f}",
                    "gap pp [CI]": _pp(sub["gap"]) + _ci(sub["gap_ci"]),
                    "p": _p(sub["p_value"]),
                    "p Holm": _p(sub["p_holm"]),
                    "flagged": "yes" if subtask in row["flagged_subtasks"] else "",
                }
            )
    return rows


def verdict_line(report: Mapping[str, Any], model: str) -> str:
    """One sentence per model: evidence or not, at which level, with the numbers behind it."""
    row, alpha = report["models"][model], report["alpha"]
    overall, relative = row["overall"], row["relative"]
    if not overall.get("n_items"):
        return f"{model}: no verdict — no question was answered on both the release and its twins."
    numbers = (
        f"release {100 * overall['release_accuracy']:.1f} % vs twins {100 * overall['twin_accuracy']:.1f} %, "
        f"gap {_pp(overall['gap'])} pp{_ci(overall['gap_ci'])}, p = {_p(overall['p_value'])}"
    )
    if relative:
        numbers += (
            f"; {_pp(relative['relative_gap'])} pp vs the other models' median{_ci(relative['relative_gap_ci'])}, "
            f"paired log odds ratio {_log(relative['relative_log_odds_ratio'])} vs theirs"
            f"{_log_ci(relative['relative_log_odds_ratio_ci'])}, p = {_p(relative['p_value'])}"
        )
    if row["verdict"] == EVIDENCE:
        where = f"; subtasks: {', '.join(row['flagged_subtasks'])}" if row["flagged_subtasks"] else ""
        alone = (
            " (one model: a twin split harder than the release would look the same — add models to tell them apart)"
            if relative is None
            else ""
        )
        return f"{model}: EVIDENCE OF CONTAMINATION at α = {alpha}: {numbers}{where}{alone}."
    if row["verdict"] == SHARED_GAP:
        return (
            f"{model}: no evidence of contamination at α = {alpha} specific to this model: {numbers}. The gap is "
            "shared by the other models: a twin split harder than the release, or a release most models have seen."
        )
    return f"{model}: no evidence of contamination at α = {alpha}: {numbers}."


PHOTO_CAVEAT = (
    "photographic twins: each twin is another photograph of the same label and stratum, not the released image "
    "redrawn, so the test compares two samples of one stratum; they are exchangeable, and a gap is evidence of "
    "contamination, only if the release was drawn at random from its strata (hvgen's plans draw in a seeded random "
    "order; a hand-picked or filtered release is not), and a gap shared by every model may be the strata's spread."
)


def notes(report: Mapping[str, Any]) -> list[str]:
    """What the numbers rest on, and what they cannot tell."""
    lines = []
    cross = report.get("cross_model")
    if report.get("twin_kind") == "photograph":
        lines.append(PHOTO_CAVEAT)
        if report.get("n_release_questions_without_twin"):
            lines.append(
                f"{report['n_release_questions_without_twin']} released questions have no twin (no other photograph "
                "of their stratum; the twin run's twins/unpaired.json says why) and are not tested."
            )
    if cross is None:
        lines.append(
            "one model: a difficulty shift between the release and its twins (twins rendered with another model or "
            "settings, a filtered release and unfiltered twins) cannot be separated from contamination; with twins "
            "made by `hvgen twins` at the release's settings the paired test is exact, otherwise add models."
        )
    elif cross.get("n_items"):
        lines.append(
            f"median gap of the {report['n_models']} models: {_pp(cross['median_gap'])} pp{_ci(cross['median_gap_ci'])} "
            f"on the {cross['n_items']} items all answered; a clearly positive median means harder twins or a "
            "release most models have seen, which the per-model comparison cannot tell apart."
        )
    easier = [
        model
        for model, row in report["models"].items()
        if row["overall"].get("n_items") and row["overall"]["p_reverse"] <= report["alpha"]
    ]
    if easier:
        lines.append(
            f"the twins are significantly easier than the release for {', '.join(easier)} (reverse test at α): "
            "contamination cannot do that; were the twins made with other settings than the release?"
        )
    if report.get("n_free_form_questions_left_out"):
        lines.append(
            f"{report['n_free_form_questions_left_out']} free-form questions left out (not scored right/wrong)."
        )
    if report["n_models"] > 1:
        lines.append(
            f"verdicts are per model at α = {report['alpha']}; to screen many models for any contaminated one, "
            "correct across models too (e.g. --alpha divided by the number of models)."
        )
    return lines


def warnings(report: Mapping[str, Any]) -> list[str]:
    """Answers that could not be used: unreadable harness rows, questions unanswered, extra ids."""
    lines = []
    for model, row in report["models"].items():
        for side, counts in (row.get("files") or {}).items():
            parts = [
                f"{counts[key]} {label}"
                for key, label in (
                    ("n_unreadable", "unreadable"),
                    ("n_missing", "unanswered"),
                    ("n_extra", "not of this split"),
                )
                if counts.get(key)
            ]
            if parts:
                lines.append(
                    f"{model} ({side}, {counts['path']}): " + ", ".join(parts) + " (see the JSON report)."
                )
    return lines


def write_plot(report: Mapping[str, Any], target: Path) -> Path:
    """Each model's gap with its interval, and its gap relative to the other models' median."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [m for m, row in report["models"].items() if row["overall"].get("n_items")]
    panels = [("gap", "overall", "gap_ci", "release − twins accuracy (pp)", 100)]
    if report.get("cross_model"):
        panels.append(
            ("relative_log_odds_ratio", "relative", "relative_log_odds_ratio_ci",
             "paired log odds ratio − the other models' median", 1)
        )  # fmt: skip
    figure, axes = plt.subplots(
        1, len(panels), figsize=(5 * len(panels), 0.45 * len(models) + 1.6), squeeze=False
    )
    for axis, (key, part, ci_key, label, scale) in zip(axes[0], panels):
        for y, model in enumerate(models):
            row = report["models"][model]
            values = row[part]
            color = "#c44e52" if row["verdict"] == EVIDENCE else "#4c72b0"
            value = scale * values[key]
            interval = values.get(ci_key) or [values[key], values[key]]
            axis.errorbar(value, y, xerr=[[value - scale * interval[0]], [scale * interval[1] - value]], fmt="o",
                          color=color, capsize=3)  # fmt: skip
        axis.axvline(0, color="#999999", linewidth=1)
        axis.set_yticks(range(len(models)), models)
        axis.set_xlabel(label)
        axis.invert_yaxis()
    figure.suptitle(
        f"{report['benchmark']}: release vs twins, {100 * report['level']:.0f} % intervals (red: evidence at α = "
        f"{report['alpha']})",
        fontsize=9,
    )
    figure.tight_layout()
    save_figure(figure, target)
    return target
