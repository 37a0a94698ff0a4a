"""The paired table the tests work on: each item's right/wrong answer per model, on the release
and on its twin, with the image (cluster) and subtask the item belongs to.

Items are clustered by the released image they ask about: every question about one image — and
every scenario made from it (corruption, print, adversarial) — shares that image's rendering, so a
render that happens to be unclear makes all of them harder together. Exchangeability under "no
contamination" holds per image (swap the released and the twin render and every item of the
image swaps with it), not per question, so the test and the bootstrap resample images.

Only right/wrong items enter: a continuous item score (a caption's similarity) has no McNemar
table, and mixing it into an accuracy would weigh it arbitrarily; such items are counted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class ItemTable:
    """Right (1) / wrong (0) / not answered (NaN) per item and model, on each side of the pairs.

    `clusters[i]` is the index of item i's image in `cluster_names`; `groups[i]` its subtask.
    `excluded[model]` counts the model's answered items whose score is not 0 or 1."""

    keys: tuple[str, ...]
    clusters: np.ndarray
    cluster_names: tuple[str, ...]
    groups: tuple[str, ...]
    release: dict[str, np.ndarray]
    twins: dict[str, np.ndarray]
    excluded: dict[str, int] = field(default_factory=dict)

    @property
    def models(self) -> list[str]:
        return list(self.release)

    def paired(self, model: str) -> np.ndarray:
        """Items the model answered (right or wrong) on both sides."""
        return np.isfinite(self.release[model]) & np.isfinite(self.twins[model])

    def in_group(self, group: str) -> np.ndarray:
        return np.array([g == group for g in self.groups], dtype=bool)

    def group_names(self) -> list[str]:
        return sorted(set(self.groups))


def build_item_table(
    release_scores: Mapping[str, Mapping[str, float]],
    twin_scores: Mapping[str, Mapping[str, float]],
    item_info: Mapping[str, tuple[str, str]],
) -> ItemTable:
    """The table of every item some model answered on either side.

    `*_scores[model][item key]` are the scorer's item values; `item_info[key]` is (image id,
    subtask). Keys the info does not know (not questions of the release) are left out."""
    models = list(release_scores)
    if set(models) != set(twin_scores):
        raise ValueError("release and twin scores must name the same models")
    keys = sorted(
        {k for scores in (*release_scores.values(), *twin_scores.values()) for k in scores} & set(item_info)
    )
    names = sorted({item_info[k][0] for k in keys})
    index = {name: i for i, name in enumerate(names)}
    clusters = np.array([index[item_info[k][0]] for k in keys], dtype=np.int64)
    groups = tuple(item_info[k][1] for k in keys)
    release: dict[str, np.ndarray] = {}
    twins: dict[str, np.ndarray] = {}
    excluded: dict[str, int] = {}
    for model in models:
        release[model], bad_r = _column(release_scores[model], keys)
        twins[model], bad_t = _column(twin_scores[model], keys)
        excluded[model] = int(np.sum(bad_r | bad_t))
        release[model][bad_r | bad_t] = np.nan  # a pair with a continuous side is not a pair
        twins[model][bad_r | bad_t] = np.nan
    return ItemTable(tuple(keys), clusters, tuple(names), groups, release, twins, excluded)


def _column(scores: Mapping[str, float], keys: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(values with NaN where unanswered, mask of answered values that are not 0 or 1)."""
    values = np.array([float(scores[k]) if k in scores else np.nan for k in keys], dtype=float)
    answered = np.isfinite(values)
    binary = (values == 0.0) | (values == 1.0)
    return values, answered & ~binary


def cluster_sums(values: np.ndarray, clusters: np.ndarray, n_clusters: int) -> np.ndarray:
    """Per-cluster sums of `values` (items × ... → clusters × ...)."""
    if values.ndim == 1:
        return np.bincount(clusters, weights=values, minlength=n_clusters)
    out = np.zeros((n_clusters, *values.shape[1:]))
    np.add.at(out, clusters, values)
    return out
