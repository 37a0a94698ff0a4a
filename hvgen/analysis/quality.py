"""Benchmark quality in numbers (HQM, arXiv 2406.17115, with classical test theory).

Pure functions over small tables: a benchmark score per model, or a models x items matrix of
item scores (1 right / 0 wrong, or a similarity). The models are the "persons" of psychometrics:
every correlation here is taken *across models*, so it needs at least three of them.

* reliability — parallel forms: the scores of the same models on two forms (same config,
  another seed) correlate; test-retest: the same items answered twice (another sampling seed);
* criterion validity: the scores correlate with an external table (human ratings, another
  benchmark);
* internal consistency: KR-20 (dichotomous items) and Cronbach's alpha, both with population
  variances so that they agree exactly on 0/1 items;
* item analysis: difficulty (mean item score) and discrimination (corrected item-total
  correlation: the item against the total of the *other* items);
* coverage of the benchmark's own taxonomy.

Correlations come with percentile bootstrap confidence intervals over models, seeded.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from hvgen import ranges
from hvgen.errors import HvgenError

MIN_MODELS = 3
DEFAULT_BOOTSTRAP = 2000


def check_bootstrap(n_bootstrap: int) -> None:
    """Fewer resamples make a percentile interval noise; more cost memory (resamples x models x 8
    bytes, several times over) and add nothing to an interval over a handful of models."""
    ranges.QUALITY_BOOTSTRAP.check("--bootstrap", n_bootstrap)


def too_few_models(count: int, what: str, fix: str = "--predictions MODEL=A.jsonl,B.jsonl, repeated") -> str:
    """Why a correlation across `count` models is refused, and how to give more."""
    return (
        f"{what} needs the scores of at least {MIN_MODELS} models, got {count}: a correlation across models "
        "of 2 points is always +1 or -1 (any two different scores lie on a line), so it says nothing about "
        f"the benchmark. Add predictions of more models ({fix})."
    )


def _need_models(count: int, what: str) -> None:
    if count < MIN_MODELS:
        raise HvgenError(too_few_models(count, what))


def _pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r of each row pair (NaN where a row is constant)."""
    xc = x - x.mean(axis=-1, keepdims=True)
    yc = y - y.mean(axis=-1, keepdims=True)
    denominator = np.sqrt((xc * xc).sum(-1) * (yc * yc).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, (xc * yc).sum(-1) / denominator, np.nan)


def correlation(
    x: Sequence[float],
    y: Sequence[float],
    *,
    seed: int = 0,
    n_bootstrap: int = DEFAULT_BOOTSTRAP,
    level: float = 0.95,
    what: str = "a correlation",
) -> dict[str, Any]:
    """Pearson and Spearman r of paired scores with percentile bootstrap CIs over the pairs.

    Resamples in which either side is constant have no correlation and are left out (their
    count is reported); r itself is None when a whole side is constant."""
    _need_models(len(x), what)
    check_bootstrap(n_bootstrap)
    if len(x) != len(y):
        raise ValueError(f"paired scores of unequal length: {len(x)} and {len(y)}")
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(xs), size=(n_bootstrap, len(xs)))
    bx, by = xs[picks], ys[picks]
    out: dict[str, Any] = {"n_models": len(xs), "n_bootstrap": n_bootstrap, "level": level, "seed": seed}
    tail = (1 - level) / 2 * 100
    for name, full, boot in (
        ("pearson", _pearson_rows(xs, ys), _pearson_rows(bx, by)),
        (
            "spearman",
            _pearson_rows(stats.rankdata(xs), stats.rankdata(ys)),
            _pearson_rows(stats.rankdata(bx, axis=1), stats.rankdata(by, axis=1)),
        ),
    ):
        valid = boot[~np.isnan(boot)]
        out[name] = None if np.isnan(full) else float(full)
        out[f"{name}_ci"] = (
            [float(np.percentile(valid, tail)), float(np.percentile(valid, 100 - tail))]
            if valid.size
            else None
        )
        out[f"{name}_undefined_resamples"] = int(n_bootstrap - valid.size)
    out["pearson_fisher_ci"] = fisher_ci(out["pearson"], len(xs), level)
    return out


def fisher_ci(r: float | None, n: int, level: float = 0.95) -> list[float] | None:
    """The analytic interval of Pearson's r (Fisher's z, for normal scores): a check on the
    bootstrap, which cannot show how uncertain r is when there are only a handful of models.
    None for n <= 3 (no degrees of freedom left) or |r| = 1."""
    if r is None or n <= 3 or abs(r) >= 1:
        return None
    half = stats.norm.ppf(0.5 + level / 2) / np.sqrt(n - 3)
    z = np.arctanh(r)
    return [float(np.tanh(z - half)), float(np.tanh(z + half))]


def paired(a: Mapping[str, float], b: Mapping[str, float]) -> tuple[list[str], list[float], list[float]]:
    """The models both tables score, in sorted order, with their two scores."""
    models = sorted(set(a) & set(b))
    return models, [float(a[m]) for m in models], [float(b[m]) for m in models]


def reliability(
    first: Mapping[str, float], second: Mapping[str, float], what: str, **options: Any
) -> dict[str, Any]:
    """Correlation across models of two score tables (parallel forms, test-retest, criterion),
    naming the models that only one side has."""
    models, xs, ys = paired(first, second)
    result = correlation(xs, ys, what=what, **options)
    result["models"] = models
    result["unpaired_models"] = sorted(set(first) ^ set(second))
    return result


def read_criterion(path: Path) -> dict[str, float]:
    """An external score per model from a CSV with a `model` column and one score column
    (named `score`, or the only other column)."""
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise HvgenError(f"cannot read criterion table {path}: {error}") from None
    columns = list(rows[0]) if rows else []
    others = [c for c in columns if c != "model"]
    column = "score" if "score" in others else others[0] if len(others) == 1 else None
    if "model" not in columns or column is None:
        raise HvgenError(
            f"criterion table {path} has columns {columns}: it needs a 'model' column and one score column "
            "(named 'score' when there are several), e.g. 'model,score' then 'llava,61.2'."
        )
    scores: dict[str, float] = {}
    for line, row in enumerate(rows, start=2):
        try:
            value = float(row[column])
        except (TypeError, ValueError):
            value = math.nan
        if not math.isfinite(value):  # 'nan' and 'inf' parse as floats, and no correlation survives them
            raise HvgenError(
                f"criterion table {path}, line {line}: '{row[column]}' in column '{column}' is not a finite number; "
                "give every model a score (leave out a model that has none)."
            )
        scores[row["model"]] = value
    return scores


# ------------------------------------------------------------------ items


def item_matrix(
    items: Mapping[str, Mapping[str, float]],
) -> tuple[list[str], list[str], np.ndarray]:
    """Models x items matrix over the items every model answered (sorted), from
    {model: {item key: score}}."""
    models = sorted(items)
    common = set.intersection(*(set(items[m]) for m in models)) if models else set()
    keys = sorted(common)
    matrix = np.array([[float(items[m][k]) for k in keys] for m in models], dtype=float).reshape(
        len(models), len(keys)
    )
    return models, keys, matrix


def cronbach_alpha(matrix: np.ndarray) -> float | None:
    """k/(k-1) * (1 - sum of item variances / variance of the totals); None when undefined
    (fewer than 2 items, or every model has the same total)."""
    k = matrix.shape[1]
    total_variance = matrix.sum(axis=1).var()
    if k < 2 or total_variance == 0:
        return None
    return float(k / (k - 1) * (1 - matrix.var(axis=0).sum() / total_variance))


def kr20(matrix: np.ndarray) -> float | None:
    """Kuder-Richardson 20 of 0/1 items: k/(k-1) * (1 - sum p q / variance of the totals);
    None when an item is not 0/1 or when undefined as for alpha."""
    if not np.isin(matrix, (0.0, 1.0)).all():
        return None
    k = matrix.shape[1]
    total_variance = matrix.sum(axis=1).var()
    if k < 2 or total_variance == 0:
        return None
    p = matrix.mean(axis=0)
    return float(k / (k - 1) * (1 - (p * (1 - p)).sum() / total_variance))


def item_analysis(models: Sequence[str], keys: Sequence[str], matrix: np.ndarray) -> dict[str, Any]:
    """Per item: difficulty (mean score; share of models right for 0/1 items) and
    discrimination (corrected item-total correlation, None for an item every model scores the
    same); plus the items every model and no model got right, which measure nothing here."""
    _need_models(len(models), "item discrimination")
    difficulty = matrix.mean(axis=0)
    rest = matrix.sum(axis=1, keepdims=True) - matrix
    discrimination = _pearson_rows(matrix.T, rest.T)
    rows = [
        {
            "item": key,
            "difficulty": float(difficulty[j]),
            "discrimination": None if np.isnan(discrimination[j]) else float(discrimination[j]),
        }
        for j, key in enumerate(keys)
    ]
    return {
        "n_items": len(keys),
        "items": rows,
        "all_right": [key for j, key in enumerate(keys) if (matrix[:, j] == 1).all()],
        "none_right": [key for j, key in enumerate(keys) if (matrix[:, j] <= 0).all()],
        "mean_difficulty": float(difficulty.mean()) if len(keys) else None,
        "low_discrimination": [
            row["item"] for row in rows if row["discrimination"] is not None and row["discrimination"] < 0.2
        ],
    }


def internal_consistency(items: Mapping[str, Mapping[str, float]]) -> dict[str, Any]:
    """Alpha over all items, KR-20 over the 0/1 ones (choice questions; a similarity-scored
    caption is not right-or-wrong), and the item analysis of one form's models x items table."""
    models, keys, matrix = item_matrix(items)
    dichotomous = np.isin(matrix, (0.0, 1.0)).all(axis=0)
    return {
        "models": models,
        "kr20": kr20(matrix[:, dichotomous]),
        "kr20_items": int(dichotomous.sum()),
        "cronbach_alpha": cronbach_alpha(matrix),
        **item_analysis(models, keys, matrix),
    }


# ------------------------------------------------------------------ coverage


def coverage(records: Iterable[Mapping[str, Any]], taxonomy: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """Per taxonomy column: how many questions each declared value has, the share of the
    declared values present, and the values absent."""
    records = list(records)
    out: dict[str, Any] = {}
    for column, declared in taxonomy.items():
        counts = Counter(str(r[column]) for r in records if r.get(column) is not None)
        present = [value for value in declared if counts.get(value)]
        out[column] = {
            "declared": len(declared),
            "present": len(present),
            "share": len(present) / len(declared) if declared else None,
            "missing": [value for value in declared if not counts.get(value)],
            "counts": {value: counts.get(value, 0) for value in declared},
            "undeclared": sorted(set(counts) - set(declared)),
        }
    return out
