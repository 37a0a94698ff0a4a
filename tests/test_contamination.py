"""The contamination test's statistics on hand-made and simulated data (no model, no run)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from hvgen.analysis.contamination.assess import EVIDENCE, NO_EVIDENCE, SHARED_GAP, assess
from hvgen.analysis.contamination.bootstrap import cluster_gaps, relative_to_others
from hvgen.analysis.contamination.correction import holm
from hvgen.analysis.contamination.items import ItemTable, build_item_table, cluster_sums
from hvgen.analysis.contamination.paired import mcnemar, sign_flip
from hvgen.analysis.contamination.simulate import SimulatedModel, SimulatedRelease, simulate


def _pairs(b: int, c: int, same: int) -> tuple[np.ndarray, np.ndarray]:
    """Paired 0/1 answers with b release-only, c twin-only and `same` concordant right pairs."""
    release = np.array([1] * b + [0] * c + [1] * same, dtype=float)
    twins = np.array([0] * b + [1] * c + [1] * same, dtype=float)
    return release, twins


@pytest.mark.parametrize(("b", "c"), [(0, 0), (1, 0), (0, 3), (5, 1), (7, 7), (12, 3), (2, 9), (30, 14)])
def test_exact_mcnemar_matches_scipy_binomial_test(b: int, c: int) -> None:
    release, twins = _pairs(b, c, same=4)
    result = mcnemar(release, twins)
    if b + c == 0:
        assert result.p_value == 1.0
        return
    assert result.p_value == pytest.approx(stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue)
    assert result.p_reverse == pytest.approx(stats.binomtest(b, b + c, 0.5, alternative="less").pvalue)
    assert result.statistic == b - c


@pytest.mark.parametrize(("b", "c"), [(1, 0), (5, 1), (7, 7), (12, 3), (2, 9), (300, 240)])
def test_sign_flip_with_one_item_per_image_is_mcnemar(b: int, c: int) -> None:
    release, twins = _pairs(b, c, same=6)
    per_image = release - twins  # every item its own image
    assert sign_flip(per_image).p_value == pytest.approx(mcnemar(release, twins).p_value, rel=1e-9)
    assert sign_flip(per_image).p_reverse == pytest.approx(mcnemar(release, twins).p_reverse, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_sign_flip_is_the_exact_enumeration(seed: int) -> None:
    """Against all 2^n sign vectors, for clusters of different sizes."""
    rng = np.random.default_rng(seed)
    diffs = rng.integers(-3, 4, size=11)
    observed = diffs.sum()
    totals = [np.dot(signs, diffs) for signs in itertools.product((-1, 1), repeat=diffs.size)]
    expected_greater = np.mean([t >= observed for t in totals])
    expected_less = np.mean([t <= observed for t in totals])
    result = sign_flip(diffs)
    assert result.p_value == pytest.approx(expected_greater, abs=1e-12)
    assert result.p_reverse == pytest.approx(expected_less, abs=1e-12)


def test_sign_flip_large_release_is_fast_and_sane() -> None:
    """A 200,000-item release (FFT path): a zero total gives p near 1/2, a large one near 0."""
    rng = np.random.default_rng(0)
    diffs = rng.integers(-2, 3, size=30_000).astype(float)
    diffs -= 0  # symmetric draws
    p = sign_flip(diffs).p_value
    assert 0.0 <= p <= 1.0
    shifted = diffs.copy()
    shifted[:2000] = 2
    assert sign_flip(shifted).p_value < 1e-6


def test_sign_flip_refuses_non_integer_differences() -> None:
    with pytest.raises(ValueError, match="integer"):
        sign_flip(np.array([0.5, -1.0]))


def test_holm_on_known_p_values() -> None:
    adjusted = holm({"a": 0.01, "b": 0.04, "c": 0.03, "d": 0.005})
    assert adjusted == pytest.approx({"d": 0.02, "a": 0.03, "c": 0.06, "b": 0.06})
    assert holm({"x": 0.7, "y": 0.9}) == pytest.approx({"x": 1.0, "y": 1.0})
    assert holm({}) == {}


def test_bootstrap_is_deterministic_per_seed() -> None:
    rng = np.random.default_rng(3)
    differences = rng.integers(-2, 3, size=(50, 2)).astype(float)
    sizes = np.full(50, 3)
    first = cluster_gaps(differences, sizes, 300, 7, "m")
    assert np.array_equal(first, cluster_gaps(differences, sizes, 300, 7, "m"))
    assert not np.array_equal(first, cluster_gaps(differences, sizes, 300, 8, "m"))
    assert not np.array_equal(first, cluster_gaps(differences, sizes, 300, 7, "other"))


def test_relative_gap_is_gap_minus_median_of_the_others() -> None:
    gaps = np.array([[0.10, 0.02, 0.04, 0.00]])
    assert relative_to_others(gaps)[0] == pytest.approx([0.08, -0.02, 0.02, -0.04])


def _table(release: dict[str, list[float]], twins: dict[str, list[float]], per_image: int = 1) -> ItemTable:
    n = len(next(iter(release.values())))
    keys = [f"q{i:03d}" for i in range(n)]
    info = {key: (f"img{i // per_image:03d}", "color" if i % 2 else "animal") for i, key in enumerate(keys)}
    return build_item_table(
        {m: dict(zip(keys, v)) for m, v in release.items()},
        {m: dict(zip(keys, v)) for m, v in twins.items()},
        info,
    )


def test_verdict_single_model_memorised_release() -> None:
    release = {"m": [1.0] * 60}
    twins = {"m": [1.0, 0.0] * 30}
    report = assess(_table(release, twins), alpha=0.05, n_resamples=200, seed=0)
    row = report["models"]["m"]
    assert row["verdict"] == EVIDENCE
    assert row["overall"]["gap"] == pytest.approx(0.5)
    assert row["overall"]["p_value"] == pytest.approx(0.5**30)
    assert row["relative"] is None and report["cross_model"] is None
    assert row["flagged_subtasks"] == ["color"]  # every "color" twin (odd positions) is wrong


def test_verdict_clean_model_and_counts() -> None:
    answers = [1.0, 0.0, 1.0, 1.0] * 10
    report = assess(_table({"m": answers}, {"m": answers}), n_resamples=100)
    row = report["models"]["m"]
    assert row["verdict"] == NO_EVIDENCE
    assert row["overall"]["p_value"] == 1.0 and row["flagged_subtasks"] == []
    assert row["overall"]["release_accuracy"] == row["overall"]["twin_accuracy"] == 0.75


def test_a_gap_every_model_shares_is_not_contamination() -> None:
    """A harder twin split: each model loses the same items on the twins."""
    release = {m: [1.0] * 80 for m in ("a", "b", "c")}
    twins = {m: [0.0] * 20 + [1.0] * 60 for m in ("a", "b", "c")}
    report = assess(_table(release, twins), n_resamples=300)
    for row in report["models"].values():
        assert row["overall"]["p_value"] < 1e-5
        assert row["verdict"] == SHARED_GAP
        assert row["relative"]["relative_gap"] == pytest.approx(0.0)
    assert report["cross_model"]["median_gap"] == pytest.approx(0.25)


def test_a_model_specific_gap_is_contamination() -> None:
    base = [1.0, 0.0] * 40
    release = {"a": [1.0] * 80, "b": base, "c": base, "d": base}
    twins = {m: base for m in ("a", "b", "c", "d")}
    report = assess(_table(release, twins), n_resamples=500)
    assert report["models"]["a"]["verdict"] == EVIDENCE
    assert report["models"]["a"]["relative"]["relative_gap"] == pytest.approx(0.5)
    assert all(report["models"][m]["verdict"] == NO_EVIDENCE for m in "bcd")


def test_continuous_item_scores_are_left_out_and_counted() -> None:
    table = build_item_table(
        {"m": {"q1": 1.0, "q2": 0.73, "q3": 0.0}},
        {"m": {"q1": 0.0, "q2": 0.5, "q3": 0.0}},
        {"q1": ("i1", "x"), "q2": ("i2", "x"), "q3": ("i3", "x")},
    )
    assert table.excluded["m"] == 1
    assert table.paired("m").tolist() == [True, False, True]


def test_clustering_keeps_the_level_where_item_level_mcnemar_does_not() -> None:
    """Renders that make all questions of an image harder together: McNemar on items rejects a
    clean model too often, the sign-flip test over images keeps alpha (400 seeds, n = 700,
    7 questions per image, render sd 1.0 on the logit scale)."""
    clustered = item_level = 0
    runs = 400
    for seed in range(runs):
        table = simulate(SimulatedRelease(n_items=700, render_sd=1.0), [SimulatedModel("m")], seed)
        release, twins = table.release["m"], table.twins["m"]
        differences = cluster_sums(release - twins, table.clusters, len(table.cluster_names))
        clustered += sign_flip(differences).p_value <= 0.05
        item_level += mcnemar(release, twins).p_value <= 0.05
    # Monte-Carlo tolerance: 3 standard errors of a rate of 0.05 over 400 runs (0.033).
    assert clustered / runs <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / runs)
    assert item_level / runs > 0.08


def test_clean_models_are_flagged_at_most_at_the_nominal_rate() -> None:
    """Five clean models of different abilities, 150 seeds, a 2,000-item release: the share of
    model verdicts saying "evidence" stays within alpha + 3 Monte-Carlo standard errors."""
    models = [SimulatedModel(f"m{i}", ability) for i, ability in enumerate((-0.5, 0.0, 0.5, 1.0, 1.5))]
    flagged = total = 0
    for seed in range(150):
        table = simulate(SimulatedRelease(n_items=2000), models, seed)
        report = assess(table, alpha=0.05, n_resamples=300, seed=seed, by_subtask=False)
        flagged += sum(row["verdict"] == EVIDENCE for row in report["models"].values())
        total += len(models)
    assert flagged / total <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / total)


def test_twenty_percent_memorised_of_2000_items_is_flagged() -> None:
    """One of five models memorised 20 % of a 2,000-item release: flagged on every seed tried."""
    for seed in range(10):
        models = [SimulatedModel(f"m{i}", ability) for i, ability in enumerate((0.0, 0.5, 1.0, 1.5))]
        models.append(SimulatedModel("memoriser", 0.5, memorised=0.2))
        table = simulate(SimulatedRelease(n_items=2000), models, seed)
        report = assess(table, n_resamples=500, seed=seed, by_subtask=False)
        assert report["models"]["memoriser"]["verdict"] == EVIDENCE
        # and alone, without other models to compare with
        alone = assess(
            simulate(SimulatedRelease(n_items=2000), models[-1:], seed), n_resamples=200, by_subtask=False
        )
        assert alone["models"]["memoriser"]["verdict"] == EVIDENCE


def test_a_uniformly_harder_twin_split_flags_no_model_of_any_strength() -> None:
    """Twins one logit harder for every item, models from ~15 % to ~90 % accuracy: their accuracy
    gaps differ (a mid-strength model loses the most), but the paired odds ratio the cross-model
    test compares moves alike for all, so clean models stay within alpha + 3 Monte-Carlo SE
    (30 seeds × 5 models, 4,000 items)."""
    models = [SimulatedModel(f"m{i}", a) for i, a in enumerate((-2.0, -0.5, 0.0, 1.0, 2.5))]
    flagged = total = 0
    spread = []
    for seed in range(30):
        table = simulate(SimulatedRelease(n_items=4000, twin_shift=-1.0), models, seed)
        report = assess(table, n_resamples=300, seed=seed, by_subtask=False)
        rows = report["models"].values()
        flagged += sum(row["verdict"] == EVIDENCE for row in rows)
        total += len(models)
        spread.append(max(row["relative"]["relative_gap"] for row in rows))
    assert flagged / total <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / total)
    assert np.mean(spread) > 0.02  # accuracy gaps do differ between these clean models


def test_report_lines_say_what_the_numbers_cannot_tell() -> None:
    """One model: the verdict line warns that a harder twin split looks the same; twins that are
    significantly easier get a note (contamination cannot do that)."""
    from hvgen.analysis.contamination.report import model_rows, notes, subtask_rows, verdict_line

    release = {"m": [1.0] * 40}
    report = assess(_table(release, {"m": [1.0, 0.0] * 20}), n_resamples=100)
    line = verdict_line(report, "m")
    assert line.startswith("m: EVIDENCE OF CONTAMINATION at α = 0.05") and "one model" in line
    assert any("cannot be separated" in note for note in notes(report))
    assert model_rows(report)[0]["verdict"] == EVIDENCE and len(subtask_rows(report)) == 2
    easier = assess(_table({"m": [1.0, 0.0] * 20}, {"m": [1.0] * 40}), n_resamples=100)
    assert verdict_line(easier, "m").startswith("m: no evidence")
    assert any("significantly easier" in note for note in notes(easier))
