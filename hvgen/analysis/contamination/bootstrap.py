"""Cluster bootstrap of accuracy gaps (release − twins), resampling images.

Images, not questions, are resampled with replacement: a question's release and twin answers
travel together (the pairs stay paired) and so do all the questions of one image (they share its
rendering, see `items`). Every resample's gap is Σ D_c / Σ n_c over the drawn images. Each call
gets its own seed (derived from the user's `--seed` and what is bootstrapped), so adding a model
or a subtask leaves every other interval unchanged; the same seed gives the same intervals.

The cross-model comparison resamples images *jointly* for all models — one draw of images per
resample, applied to every model — so a resample that happens to hold harder twins moves every
model's numbers together and their differences keep the right spread.
"""

from __future__ import annotations

import numpy as np

from hvgen.seeding import derive_seed

_CHUNK_CELLS = 4_000_000  # resamples × clusters × models held in memory at once


def cluster_totals(values: np.ndarray, n_resamples: int, seed: int, *key: object) -> np.ndarray:
    """Bootstrap sums: `values` is clusters × columns (per-image sums of whatever is needed:
    differences, discordant counts, item counts); every resample draws images with replacement,
    one draw for all columns; returns resamples × columns."""
    values = values.reshape(values.shape[0], -1)
    n_clusters, n_columns = values.shape
    rng = np.random.default_rng(derive_seed(seed, "contamination-bootstrap", *key))
    out = np.empty((n_resamples, n_columns))
    chunk = max(1, _CHUNK_CELLS // max(1, n_clusters * n_columns))
    for start in range(0, n_resamples, chunk):
        stop = min(n_resamples, start + chunk)
        drawn = rng.integers(0, n_clusters, size=(stop - start, n_clusters))
        out[start:stop] = values[drawn].sum(axis=1)
    return out


def cluster_gaps(
    differences: np.ndarray, sizes: np.ndarray, n_resamples: int, seed: int, *key: object
) -> np.ndarray:
    """Bootstrap gaps: `differences` is clusters × models (Σ release − twin per image and model),
    `sizes` the items per image; returns resamples × models."""
    differences = differences.reshape(len(sizes), -1)
    totals = cluster_totals(np.column_stack([differences, sizes]), n_resamples, seed, *key)
    return totals[:, :-1] / totals[:, -1:]


def log_odds_ratio(release_only: np.ndarray, twin_only: np.ndarray) -> np.ndarray:
    """The paired (McNemar) log odds ratio log(b / c), with 1/2 added to both counts so that it
    stays finite when one of them is 0."""
    return np.log((release_only + 0.5) / (twin_only + 0.5))


def percentile_interval(samples: np.ndarray, level: float) -> list[float] | None:
    """The two-sided percentile interval at `level` (None when no resample is defined)."""
    finite = samples[np.isfinite(samples)]
    if finite.size == 0:
        return None
    tail = (1 - level) / 2
    low, high = np.quantile(finite, [tail, 1 - tail])
    return [float(low), float(high)]


def relative_to_others(gaps: np.ndarray) -> np.ndarray:
    """Each model's gap minus the median gap of the *other* models (columns), row by row: a
    twin split that is harder for everyone moves all gaps alike and cancels here."""
    n_models = gaps.shape[-1]
    out = np.empty_like(gaps)
    for model in range(n_models):
        others = np.delete(gaps, model, axis=-1)
        out[..., model] = gaps[..., model] - np.median(others, axis=-1)
    return out


def bootstrap_p_value(samples: np.ndarray) -> float:
    """One-sided percentile-bootstrap p-value of "the quantity is > 0": the share of resamples at
    or below 0, with the +1 of a Monte-Carlo p-value so it is never 0."""
    finite = samples[np.isfinite(samples)]
    return float((1 + np.sum(finite <= 0)) / (1 + finite.size))
