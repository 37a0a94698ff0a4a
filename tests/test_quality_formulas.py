"""The quality formulas on hand-computed cases (hvgen.analysis.quality)."""

from __future__ import annotations

import numpy as np
import pytest

from hvgen.analysis import quality
from hvgen.errors import HvgenError

# 4 models x 3 items: a perfect Guttman pattern. p = .75, .5, .25; sum pq = .625;
# totals 3, 2, 1, 0 have population variance 1.25, so KR-20 = 3/2 * (1 - .625/1.25) = 0.75.
GUTTMAN = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=float)


def test_kr20_and_alpha_hand_case() -> None:
    assert quality.kr20(GUTTMAN) == pytest.approx(0.75)
    assert quality.cronbach_alpha(GUTTMAN) == pytest.approx(0.75)  # same on 0/1 items


def test_alpha_on_continuous_items_hand_case() -> None:
    # item variances 8/3 and 2/3, totals 5, 9, 10 with variance 14/3: alpha = 2 * (1 - 10/14) = 4/7
    matrix = np.array([[2, 3], [4, 5], [6, 4]], dtype=float)
    assert quality.cronbach_alpha(matrix) == pytest.approx(4 / 7)
    assert quality.kr20(matrix) is None  # not 0/1 items


def test_consistency_is_undefined_when_every_model_scores_the_same() -> None:
    same = np.ones((4, 3))
    assert quality.kr20(same) is None and quality.cronbach_alpha(same) is None


def test_item_analysis_hand_case() -> None:
    result = quality.item_analysis(["m1", "m2", "m3", "m4"], ["i1", "i2", "i3"], GUTTMAN)
    difficulty = {row["item"]: row["difficulty"] for row in result["items"]}
    assert difficulty == {"i1": 0.75, "i2": 0.5, "i3": 0.25}
    # item 1 [1,1,1,0] against the rest [2,1,0,0]: r = .75 / sqrt(.75 * 2.75)
    first = result["items"][0]["discrimination"]
    assert first == pytest.approx(0.75 / np.sqrt(0.75 * 2.75))
    assert result["all_right"] == [] and result["none_right"] == []


def test_items_everyone_or_no_one_gets_right_are_listed() -> None:
    items = {
        "m1": {"easy": 1, "hard": 0, "x": 1},
        "m2": {"easy": 1, "hard": 0, "x": 0},
        "m3": {"easy": 1, "hard": 0, "x": 1, "only-m3": 1},
    }
    result = quality.internal_consistency(items)
    assert result["all_right"] == ["easy"] and result["none_right"] == ["hard"]
    assert result["n_items"] == 3  # an item one model did not answer is left out
    assert {row["item"]: row["discrimination"] for row in result["items"]}["easy"] is None


def test_perfectly_parallel_forms_give_r_1() -> None:
    a = {"m1": 40.0, "m2": 55.0, "m3": 61.0, "m4": 70.0, "m5": 82.0}
    b = {model: 2 * score + 3 for model, score in a.items()}
    result = quality.reliability(a, b, "parallel-forms reliability", seed=7)
    assert result["pearson"] == pytest.approx(1.0) and result["spearman"] == pytest.approx(1.0)
    assert result["pearson_ci"] == pytest.approx([1.0, 1.0])
    assert result["models"] == sorted(a) and result["unpaired_models"] == []


def test_independent_scores_give_r_near_0_within_the_ci() -> None:
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=300), rng.normal(size=300)
    result = quality.correlation(a, b, seed=1)
    low, high = result["pearson_ci"]
    assert low < 0 < high and abs(result["pearson"]) < 0.15
    low, high = result["spearman_ci"]
    assert low < 0 < high
    # the CI is the bootstrap's: a strong correlation's CI lies far from 0
    strong = quality.correlation(a, a + 0.3 * b, seed=1)
    assert strong["pearson_ci"][0] > 0.8


def test_bootstrap_is_seeded() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=8), rng.normal(size=8)
    assert quality.correlation(a, b, seed=5) == quality.correlation(a, b, seed=5)
    assert quality.correlation(a, b, seed=5)["pearson_ci"] != quality.correlation(a, b, seed=6)["pearson_ci"]


def test_fewer_than_three_models_is_an_error_saying_why() -> None:
    with pytest.raises(HvgenError, match=r"at least 3 models, got 2.*always \+1 or -1"):
        quality.reliability({"a": 1.0, "b": 2.0}, {"a": 1.5, "b": 1.0}, "parallel-forms reliability")


def test_unpaired_models_are_named() -> None:
    result = quality.reliability({"a": 1, "b": 2, "c": 3, "d": 4}, {"a": 1, "b": 3, "c": 2}, "test-retest")
    assert result["unpaired_models"] == ["d"] and result["n_models"] == 3


def test_criterion_csv(tmp_path) -> None:
    (tmp_path / "c.csv").write_text("model,human\nm1,3.5\nm2,4\n", encoding="utf-8")
    assert quality.read_criterion(tmp_path / "c.csv") == {"m1": 3.5, "m2": 4.0}
    (tmp_path / "bad.csv").write_text("model,score\nm1,high\n", encoding="utf-8")
    with pytest.raises(HvgenError, match="line 2: 'high'"):
        quality.read_criterion(tmp_path / "bad.csv")
    (tmp_path / "cols.csv").write_text("name,a,b\nm1,1,2\n", encoding="utf-8")
    with pytest.raises(HvgenError, match="needs a 'model' column"):
        quality.read_criterion(tmp_path / "cols.csv")


def test_coverage_counts_declared_values() -> None:
    records = [{"subtask": "animal"}, {"subtask": "animal"}, {"subtask": "color"}, {"subtask": "odd"}]
    result = quality.coverage(records, {"subtask": ["animal", "color", "food", "age"]})["subtask"]
    assert result["present"] == 2 and result["share"] == 0.5
    assert result["missing"] == ["food", "age"] and result["undeclared"] == ["odd"]
    assert result["counts"]["animal"] == 2


def test_fisher_interval_hand_case() -> None:
    # r = 0.5, n = 12: z = atanh(.5) = 0.5493, half-width 1.96 / 3 = 0.6533 → tanh(-0.104), tanh(1.2026)
    low, high = quality.fisher_ci(0.5, 12)
    assert low == pytest.approx(np.tanh(np.arctanh(0.5) - 1.959964 / 3), abs=1e-6)
    assert high == pytest.approx(0.8345, abs=1e-3)
    assert quality.fisher_ci(0.5, 3) is None and quality.fisher_ci(1.0, 10) is None


def test_kr20_uses_the_right_or_wrong_items_and_alpha_all() -> None:
    items = {
        f"m{i}": {"i1": row[0], "i2": row[1], "i3": row[2], "cap": 0.1 * i} for i, row in enumerate(GUTTMAN)
    }
    result = quality.internal_consistency(items)
    assert result["kr20"] == pytest.approx(0.75) and result["kr20_items"] == 3
    assert result["cronbach_alpha"] is not None and result["n_items"] == 4
