"""Per model and subtask: accuracy on the release and on its twins, the paired gap with an exact
test and a bootstrap interval, Holm across subtasks, the gap relative to the other models, and a
verdict. Pure: item tables in, a JSON-ready dict out (the simulations call it directly).

How a verdict is reached, at level alpha, for each model:

1. **Within the model** — the exact one-sided sign-flip test (`paired.sign_flip`, clustered by
   image) over all of the model's paired right/wrong items: one test, so its false-positive rate
   is at most alpha whatever the number of subtasks.
2. **Against the other models** (two or more models) — the model's paired log odds ratio
   log(b / c) (b: pairs right on the release only, c: on the twin only) minus the median of the
   other models', with a cluster-bootstrap interval over images drawn jointly for all models and a
   one-sided bootstrap p-value; the accuracy gap relative to the others' median is reported beside
   it. A twin split that is harder than the release (made with another model, or a release that
   was filtered and twins that were not) lowers every model's twin accuracy; a model-specific
   excess is what contamination adds. The odds ratio, not the accuracy gap, is compared because a
   uniform difficulty shift moves it alike for models of any strength (see `cross_model`).
3. **Verdict** — evidence of contamination when (1) rejects and, with several models, (2) rejects
   too. Requiring both is an intersection-union test: it keeps the level of each. With one model
   (2) cannot be done, and a harder twin split would look the same: the verdict says so.
4. **Where** — only under a positive verdict, the subtasks whose Holm-adjusted p-value is at most
   alpha are named. The pooled test acts as a gatekeeper: without contamination anywhere no
   subtask can be named unless (1) rejected, and Holm alone bounds the chance of naming a clean
   subtask of a contaminated model, so the family-wise error over the verdict and the subtasks
   it names stays at most alpha.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hvgen.analysis.contamination.bootstrap import (
    bootstrap_p_value,
    cluster_gaps,
    cluster_totals,
    log_odds_ratio,
    percentile_interval,
    relative_to_others,
)
from hvgen.analysis.contamination.correction import holm
from hvgen.analysis.contamination.items import ItemTable
from hvgen.analysis.contamination.paired import mcnemar, sign_flip

DEFAULT_ALPHA = 0.05
DEFAULT_RESAMPLES = 2000
EVIDENCE, NO_EVIDENCE, SHARED_GAP = "evidence", "no evidence", "gap shared by the other models"


def assess(
    table: ItemTable,
    alpha: float = DEFAULT_ALPHA,
    n_resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    by_subtask: bool = True,
) -> dict[str, Any]:
    """The contamination report of every model in `table` (see the module docstring);
    `by_subtask=False` skips the subtask breakdown (simulations that only need verdicts)."""
    level = 1 - alpha
    models: dict[str, Any] = {}
    for model in table.models:
        paired = table.paired(model)
        overall = _slice(table, model, paired, level, n_resamples, seed, "all")
        subtasks = {
            group: _slice(table, model, paired & table.in_group(group), level, n_resamples, seed, group)
            for group in (table.group_names() if by_subtask else [])
        }
        subtasks = {group: row for group, row in subtasks.items() if row["n_items"]}
        adjusted = holm({group: row["p_value"] for group, row in subtasks.items()})
        for group, row in subtasks.items():
            row["p_holm"] = adjusted[group]
        models[model] = {
            "overall": overall,
            "subtasks": subtasks,
            "n_excluded_not_right_or_wrong": table.excluded.get(model, 0),
        }
    cross = cross_model(table, level, n_resamples, seed) if len(table.models) >= 2 else None
    for model, row in models.items():
        row["relative"] = cross["models"][model] if cross else None
        row["verdict"] = _verdict(row, alpha, cross is not None)
        row["flagged_subtasks"] = (
            sorted(g for g, sub in row["subtasks"].items() if sub["p_holm"] <= alpha)
            if row["verdict"] == EVIDENCE
            else []
        )
    return {
        "alpha": alpha,
        "level": level,
        "n_resamples": n_resamples,
        "seed": seed,
        "n_models": len(models),
        "models": models,
        "cross_model": cross,
    }


def _slice(
    table: ItemTable, model: str, mask: np.ndarray, level: float, n_resamples: int, seed: int, name: str
) -> dict[str, Any]:
    """Accuracies, gap, tests and interval of one model on the items in `mask`."""
    release, twins = table.release[model][mask], table.twins[model][mask]
    n_items = int(mask.sum())
    if not n_items:
        return {"n_items": 0}
    clusters = table.clusters[mask]
    n_all = len(table.cluster_names)
    differences = np.bincount(clusters, weights=release - twins, minlength=n_all)
    sizes = np.bincount(clusters, minlength=n_all)
    used = sizes > 0
    differences, sizes = differences[used], sizes[used]
    clustered = sign_flip(differences)
    item_level = mcnemar(release, twins)
    boot = cluster_gaps(differences, sizes, n_resamples, seed, model, name)[:, 0]
    return {
        "n_items": n_items,
        "n_images": int(used.sum()),
        "release_accuracy": float(release.mean()),
        "twin_accuracy": float(twins.mean()),
        "gap": float((release - twins).mean()),
        "gap_ci": percentile_interval(boot, level),
        "release_only_right": int(np.sum((release == 1) & (twins == 0))),
        "twin_only_right": int(np.sum((release == 0) & (twins == 1))),
        "p_value": clustered.p_value,
        "p_reverse": clustered.p_reverse,
        "p_mcnemar_items": item_level.p_value,
    }


def cross_model(table: ItemTable, level: float, n_resamples: int, seed: int) -> dict[str, Any]:
    """Each model against the median of the others, on the items every model answered on both
    sides, from one joint cluster bootstrap: the accuracy gap (descriptive) and the paired log
    odds ratio log(b / c), whose excess over the others' median is what the test uses.

    Why the odds ratio: a twin split that is uniformly harder (a shift δ of every item's logit)
    costs a model of 50 % accuracy more accuracy than one of 90 %, so accuracy gaps differ between
    clean models of different strength and a weak-but-not-hopeless model would stand out. Among
    the pairs a model gets right on one side only, the share right on the release is σ(−δ)
    whatever the item's difficulty and the model's ability (McNemar's conditional odds ratio
    under a logistic model), so log(b / c) moves alike for every model and cancels in the
    comparison; memorised released items raise b for that model alone."""
    models = table.models
    common = np.logical_and.reduce([table.paired(m) for m in models])
    n_items = int(common.sum())
    if not n_items:
        return {
            "n_items": 0,
            "models": {m: None for m in models},
            "note": "no item was answered by every model on both sides",
        }
    clusters = table.clusters[common]
    n_all = len(table.cluster_names)
    release = np.stack([table.release[m][common] for m in models], axis=1)
    twins = np.stack([table.twins[m][common] for m in models], axis=1)
    per_item = np.concatenate(
        [
            release - twins,
            (release == 1) & (twins == 0),
            (release == 0) & (twins == 1),
            np.ones((n_items, 1)),
        ],
        axis=1,
    ).astype(float)
    per_image = np.zeros((n_all, per_item.shape[1]))
    np.add.at(per_image, clusters, per_item)
    used = per_image[:, -1] > 0
    per_image = per_image[used]
    n = len(models)

    def measures(totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        gaps = totals[..., :n] / totals[..., -1:]
        return gaps, log_odds_ratio(totals[..., n : 2 * n], totals[..., 2 * n : 3 * n])

    gaps, odds = measures(per_image.sum(axis=0)[None, :])
    boot_gaps, boot_odds = measures(cluster_totals(per_image, n_resamples, seed, "cross-model", *models))
    relative_gaps, relative_odds = relative_to_others(gaps)[0], relative_to_others(odds)[0]
    boot_relative_gaps, boot_relative_odds = relative_to_others(boot_gaps), relative_to_others(boot_odds)
    return {
        "n_items": n_items,
        "n_images": int(used.sum()),
        "median_gap": float(np.median(gaps)),
        "median_gap_ci": percentile_interval(np.median(boot_gaps, axis=1), level),
        "median_log_odds_ratio": float(np.median(odds)),
        "models": {
            model: {
                "gap": float(gaps[0, i]),
                "relative_gap": float(relative_gaps[i]),
                "relative_gap_ci": percentile_interval(boot_relative_gaps[:, i], level),
                "log_odds_ratio": float(odds[0, i]),
                "relative_log_odds_ratio": float(relative_odds[i]),
                "relative_log_odds_ratio_ci": percentile_interval(boot_relative_odds[:, i], level),
                "p_value": bootstrap_p_value(boot_relative_odds[:, i]),
            }
            for i, model in enumerate(models)
        },
    }


def _verdict(row: dict[str, Any], alpha: float, compared: bool) -> str:
    overall = row["overall"]
    if not overall.get("n_items") or overall["p_value"] > alpha:
        return NO_EVIDENCE
    if not compared:
        return EVIDENCE
    relative = row["relative"]
    return EVIDENCE if relative is not None and relative["p_value"] <= alpha else SHARED_GAP
