"""`hvgen quality`: score several models on two forms of a benchmark and measure its quality.

Everything benchmark-specific goes through the generator registry: the records say which
benchmark they are (`generator`), its scorer gives each model a headline `score` and per-item
`items`, and its `listings()` declare the taxonomy whose coverage is counted. The numbers come
from `hvgen.analysis.quality`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgen.analysis import quality
from hvgen.errors import HvgenError
from hvgen.forms import check_distinct_forms, shared_questions
from hvgen.generator import Generator, PlanRequest, get_generator
from hvgen.records import Record
from hvgen.scoring import load_questions, scorer_options


@dataclass(frozen=True)
class ModelPredictions:
    """One model's prediction files: form A, form B and (optionally) a retest of form A."""

    model: str
    form_a: Path
    form_b: Path
    retest: Path | None = None


def parse_predictions(values: Sequence[str], retest: Sequence[str] = ()) -> list[ModelPredictions]:
    """`MODEL=A.jsonl,B.jsonl` options (and `MODEL=A2.jsonl` retests) → one entry per model."""
    pairs: dict[str, tuple[Path, Path]] = {}
    for value in values:
        model, paths = _split_option(value, "--predictions", "MODEL=FORM_A.jsonl,FORM_B.jsonl")
        if len(paths) != 2:
            raise HvgenError(
                f"--predictions {value!r}: give two files, form A's then form B's, e.g. "
                f"--predictions {model or 'llava'}=llava-a.jsonl,llava-b.jsonl"
            )
        if model in pairs:
            raise HvgenError(f"--predictions names model '{model}' twice; give each model once.")
        pairs[model] = (paths[0], paths[1])
    retests: dict[str, Path] = {}
    for value in retest:
        model, paths = _split_option(value, "--retest", "MODEL=FORM_A_AGAIN.jsonl")
        if len(paths) != 1 or model not in pairs:
            raise HvgenError(
                f"--retest {value!r}: give one file per model that --predictions also names "
                f"(models: {', '.join(sorted(pairs)) or 'none'}), e.g. --retest llava=llava-a-again.jsonl"
            )
        retests[model] = paths[0]
    return [ModelPredictions(m, a, b, retests.get(m)) for m, (a, b) in sorted(pairs.items())]


def _split_option(value: str, option: str, shape: str) -> tuple[str, list[Path]]:
    model, sep, rest = value.partition("=")
    paths = [Path(p.strip()) for p in rest.split(",") if p.strip()]
    if not sep or not model.strip() or not paths:
        raise HvgenError(f"{option} {value!r}: expected {shape}.")
    return model.strip(), paths


def benchmark_of(records: list[Record], source: Path) -> type[Generator]:
    """The benchmark the questions belong to (their `generator` field), which must have a scorer."""
    names = sorted({str(r["generator"]) for r in records if r.get("generator")})
    if len(names) != 1:
        raise HvgenError(
            f"{source}: cannot tell which benchmark its questions belong to (generators: {names})."
        )
    cls = get_generator(names[0])
    if not cls.has_scorer():
        raise HvgenError(
            f"{source}: benchmark '{cls.name}' has no scorer yet, so its quality cannot be measured."
        )
    return cls


def taxonomy(cls: type[Generator], records: list[Record]) -> dict[str, list[str]]:
    """The benchmark's declared lists (`hvgen list`) whose name is a record column's plural
    ("subtasks" → subtask, "categories" → category, "question-types" → question_type)."""
    listings = cls(PlanRequest(run_seed=0, num=1, options={})).listings()
    columns = set().union(*(record.keys() for record in records)) if records else set()
    out = {}
    for name, values in listings.items():
        column = name.replace("-", "_")
        column = column[:-3] + "y" if column.endswith("ies") else column.removesuffix("s")
        if column in columns:
            out[column] = list(values)
    return out


def _score(
    cls: type[Generator], records: list[Record], path: Path, options: dict[str, Any]
) -> dict[str, Any]:
    report = cls.score(records, path, **options)
    if not isinstance(report.get("score"), (int, float)):
        raise HvgenError(
            f"{path}: the {cls.name} scorer gives no headline score for these predictions (no scored answers?)."
        )
    return report


MAX_FOREIGN_SHARE = 0.05
"""The largest share of a model's predictions that may answer no question of its form: a few
stray lines are reported; more means the file belongs (in part) to another run."""


def _check_own_form(model: str, form: str, path: Path, report: Mapping[str, Any], ids: set[str]) -> None:
    """Refuse a predictions file of which more than MAX_FOREIGN_SHARE answers no question of its
    form (ids of another run): its score would measure the mix-up, not the model."""
    extra = len(report.get("extra_ids") or [])
    answered = len(ids) - len(report.get("missing_ids") or [])
    share = extra / (extra + answered) if extra + answered else 0.0
    if share > MAX_FOREIGN_SHARE:
        raise HvgenError(
            f"--predictions {model}: {extra} of the predictions in {path} ({share:.0%}) answer no question of form "
            f"{form} (ids such as {sorted(report.get('extra_ids') or [])[:3]}); at most "
            f"{MAX_FOREIGN_SHARE:.0%} may. Is it the file for the other form, or another run's? Pass each form's own "
            "predictions, in the order RUN_A,RUN_B."
        )


def _bookkeeping(report: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "score": report["score"],
        "n_scored": report.get("n_scored"),
        "n_missing": len(report.get("missing_ids") or []),
        "n_extra": len(report.get("extra_ids") or []),
        "n_malformed_lines": len(report.get("malformed_lines") or []),
    }


def assess(
    form_a: Path,
    form_b: Path,
    models: Sequence[ModelPredictions],
    *,
    criterion: Path | None = None,
    embedder: str | None = None,
    judge: Any = None,
    seed: int = 0,
    n_bootstrap: int = quality.DEFAULT_BOOTSTRAP,
) -> dict[str, Any]:
    """The quality report of a benchmark split (form A) against a parallel form (form B);
    `judge` (a `hvgen.judges.JudgeSpec`) grades free-form answers for benchmarks that need one."""
    if len(models) < quality.MIN_MODELS:
        raise HvgenError(quality.too_few_models(len(models), "parallel-forms reliability"))
    quality.check_bootstrap(n_bootstrap)
    table = quality.read_criterion(criterion) if criterion is not None else None  # bad input before slow work
    records_a, records_b = load_questions(form_a), load_questions(form_b)
    cls = benchmark_of(records_a, form_a)
    if benchmark_of(records_b, form_b) is not cls:
        raise HvgenError(
            f"{form_a} and {form_b} hold different benchmarks: parallel forms must be the same one."
        )
    ids_a, ids_b = {str(r["id"]) for r in records_a}, {str(r["id"]) for r in records_b}
    check_distinct_forms(ids_a, ids_b, form_a, form_b)
    options = {"seed": seed, "n_bootstrap": n_bootstrap}
    score_options = scorer_options(cls, embedder, judge)
    per_model: dict[str, dict[str, Any]] = {}
    items_a: dict[str, dict[str, float]] = {}
    items_b: dict[str, dict[str, float]] = {}
    retest_scores: dict[str, float] = {}
    for entry in models:
        report_a = _score(cls, records_a, entry.form_a, score_options)
        report_b = _score(cls, records_b, entry.form_b, score_options)
        _check_own_form(entry.model, "A", entry.form_a, report_a, ids_a)
        _check_own_form(entry.model, "B", entry.form_b, report_b, ids_b)
        row = {"form_a": _bookkeeping(report_a), "form_b": _bookkeeping(report_b)}
        items_a[entry.model], items_b[entry.model] = report_a.get("items") or {}, report_b.get("items") or {}
        if entry.retest is not None:
            report_again = _score(cls, records_a, entry.retest, score_options)
            _check_own_form(entry.model, "A (retest)", entry.retest, report_again, ids_a)
            row["retest"] = _bookkeeping(report_again)
            retest_scores[entry.model] = report_again["score"]
            row["retest"]["item_agreement"] = _agreement(
                items_a[entry.model], report_again.get("items") or {}
            )
        per_model[entry.model] = row
    scores_a = {m: row["form_a"]["score"] for m, row in per_model.items()}
    scores_b = {m: row["form_b"]["score"] for m, row in per_model.items()}
    report: dict[str, Any] = {
        "benchmark": cls.name,
        "form_a": str(form_a),
        "form_b": str(form_b),
        "models": per_model,
        "parallel_forms": quality.reliability(scores_a, scores_b, "parallel-forms reliability", **options),
        "test_retest": (
            _optional(
                scores_a, retest_scores, "test-retest reliability", "--retest MODEL=FILE, repeated", options
            )
            if retest_scores
            else None
        ),
        "shared_questions": shared_questions(ids_a, ids_b),
        "criterion_validity": None,
        "internal_consistency": {},
        "coverage": {
            "form_a": quality.coverage(records_a, taxonomy(cls, records_a)),
            "form_b": quality.coverage(records_b, taxonomy(cls, records_b)),
        },
    }
    if table is not None:
        fix = f"rows for more of the scored models in {criterion}"
        report["criterion_validity"] = {
            "table": str(criterion),
            "form_a": _optional(scores_a, table, "criterion validity", fix, options),
            "form_b": _optional(scores_b, table, "criterion validity", fix, options),
        }
    for name, items in (("form_a", items_a), ("form_b", items_b)):
        report["internal_consistency"][name] = (
            quality.internal_consistency(items) if all(items.values()) else None
        )
    return report


def _optional(
    first: Mapping[str, float], second: Mapping[str, float], what: str, fix: str, options: dict[str, Any]
) -> dict[str, Any]:
    """A correlation the user asked for on the side (retest, criterion): with too few models in
    common it is skipped with the reason, so the rest of the report still comes out."""
    models = sorted(set(first) & set(second))
    if len(models) < quality.MIN_MODELS:
        return {"skipped": quality.too_few_models(len(models), what, fix), "models": models}
    return quality.reliability(first, second, what, **options)


def _agreement(first: Mapping[str, float], second: Mapping[str, float]) -> float | None:
    """Share of the items answered both times that got the same item score."""
    common = set(first) & set(second)
    return sum(first[k] == second[k] for k in common) / len(common) if common else None


# ------------------------------------------------------------------ terminal rows


def _r(result: Mapping[str, Any] | None, name: str) -> str:
    if not result or result.get(name) is None:
        return "skipped" if result and "skipped" in result else "–"
    ci = result.get(f"{name}_ci")
    return f"{result[name]:.3f}" + (f" [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else "")


def score_rows(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """Per model: the score on each form (and the retest), with what was not scored."""
    rows = []
    for model, row in report["models"].items():
        cells = {
            "model": model,
            "form A": f"{row['form_a']['score']:.2f}",
            "form B": f"{row['form_b']['score']:.2f}",
        }
        cells["retest"] = f"{row['retest']['score']:.2f}" if "retest" in row else "–"
        unscored = sum(row[f]["n_missing"] + row[f]["n_malformed_lines"] for f in ("form_a", "form_b"))
        cells["missing + malformed"] = str(unscored)
        rows.append(cells)
    return rows


def summary_rows(report: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per quality measure: Pearson and Spearman with their CIs, or the coefficient."""
    rows = [
        {"measure": "parallel-forms reliability", **_pair(report["parallel_forms"])},
        {"measure": "test-retest reliability", **_pair(report["test_retest"])},
    ]
    validity = report.get("criterion_validity") or {}
    rows.append({"measure": "criterion validity (form A)", **_pair(validity.get("form_a"))})
    for form in ("form_a", "form_b"):
        consistency = report["internal_consistency"].get(form) or {}
        rows.append(
            {
                "measure": f"internal consistency ({_label(form)})",
                "pearson [95% CI]": f"KR-20 {_number(consistency.get('kr20'))}",
                "spearman [95% CI]": f"alpha {_number(consistency.get('cronbach_alpha'))}",
                "models": str(len(consistency.get("models") or [])),
            }
        )
    return rows


def _label(form: str) -> str:
    """form_a → form A."""
    return "form " + form.removeprefix("form_").upper()


def _pair(result: Mapping[str, Any] | None) -> dict[str, str]:
    return {
        "pearson [95% CI]": _r(result, "pearson"),
        "spearman [95% CI]": _r(result, "spearman"),
        "models": str(result.get("n_models", len(result.get("models", [])))) if result else "–",
    }


def _number(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def notes(report: Mapping[str, Any]) -> list[str]:
    """Plain lines under the tables: measures skipped, items that measure nothing, coverage."""
    validity = report.get("criterion_validity") or {}
    skipped = [r for r in (report.get("test_retest"), validity.get("form_a")) if r and "skipped" in r]
    lines = [f"skipped: {result['skipped']}" for result in skipped]

    for form in ("form_a", "form_b"):
        consistency = report["internal_consistency"].get(form)
        if consistency:
            lines.append(
                f"{_label(form)}: {consistency['n_items']} items answered by every model "
                f"(KR-20 over the {consistency['kr20_items']} right-or-wrong ones); "
                f"{len(consistency['all_right'])} every model got right, {len(consistency['none_right'])} none did, "
                f"{len(consistency['low_discrimination'])} discriminate weakly (item-rest r < 0.2)."
            )
    for column, result in report["coverage"]["form_a"].items():
        missing = (
            f" (missing: {', '.join(result['missing'][:6])}{', …' if len(result['missing']) > 6 else ''})"
        )
        lines.append(
            f"coverage of {column} (form A): {result['present']} of {result['declared']} declared values"
            f"{missing if result['missing'] else ''}."
        )
    return lines
