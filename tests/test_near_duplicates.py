"""The near-duplicate rule against a brute force of it: keep an image unless a kept image with a
smaller id is within d; a dropped image names the earliest such kept image."""

from __future__ import annotations

import duckdb
import numpy as np
import pyarrow as pa
import pytest

import hvgen.stages.build.near_duplicates as nd
from hvgen.stages.build.dedup import near_duplicate_drops
from hvgen.stages.build.near_duplicates import (
    BandPlan,
    choose_plan,
    greedy_near_duplicates,
    nearest_within,
)


def brute_rule(codes: np.ndarray, d: int) -> tuple[np.ndarray, np.ndarray]:
    """(kept_by, distance) by visiting every image in order against every kept one."""
    u = codes.view(np.uint64)
    kept: list[int] = []
    kept_by = np.full(len(u), -1)
    distance = np.zeros(len(u), dtype=int)
    for i, code in enumerate(u):
        if kept:
            dist = np.bitwise_count(u[kept] ^ code)
            within = np.flatnonzero(dist <= d)
            if len(within):  # `kept` is in id order: the first hit is the earliest kept image
                kept_by[i], distance[i] = kept[within[0]], dist[within[0]]
                continue
        kept.append(i)
    return kept_by, distance


def flip(code: int, bits) -> int:
    for bit in bits:
        code ^= 1 << int(bit)
    return code


def as_int64(values: list[int]) -> np.ndarray:
    return np.array([v & (2**64 - 1) for v in values], dtype=np.uint64).view(np.int64)


def families(rng: np.random.Generator, n: int, d: int) -> np.ndarray:
    """Families of near-copies (0..d+2 bits flipped: some within d, some just outside), chains
    a~b~c~... (each step within d, the ends far apart), exact copies, in random order."""
    out: list[int] = []
    while len(out) < n:
        base = int(rng.integers(0, 2**63)) * 2 + int(rng.integers(0, 2))
        kind = rng.integers(0, 3)
        if kind == 0:
            out += [
                flip(base, rng.choice(64, rng.integers(0, d + 3), replace=False))
                for _ in range(rng.integers(1, 9))
            ]
        elif kind == 1:  # a chain: every step flips max(1, d // 2 + 1) fresh bits
            step = max(1, d // 2 + 1)
            bits = rng.permutation(64)
            out += [flip(base, bits[: k * step]) for k in range(min(64 // step, int(rng.integers(2, 7))))]
        else:
            out += [base] * int(rng.integers(1, 4))
    codes = as_int64(out[:n])
    rng.shuffle(codes)
    return codes


def assert_rule(codes: np.ndarray, d: int, **kw) -> nd.GreedyResult:
    result = greedy_near_duplicates(codes, d, **kw)
    kept_by, distance = brute_rule(codes, d)
    np.testing.assert_array_equal(result.kept_by, kept_by)
    np.testing.assert_array_equal(result.distance, distance)
    return result


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("d", [0, 1, 3, 6, 10])
def test_equals_brute_force_on_random_families(seed: int, d: int) -> None:
    codes = families(np.random.default_rng([seed, d]), 1200, d)
    assert_rule(codes, d)  # small: brute-force candidates
    assert_rule(codes, d, plan=choose_plan(codes, d, 10**7, 5 * 10**6))  # the plan for 10M


def test_any_valid_plan_and_any_batching_give_the_same_answer(monkeypatch: pytest.MonkeyPatch) -> None:
    d = 6
    codes = families(np.random.default_rng(7), 2000, d)
    for widths, radii in [nd._plan_menu(d)[i] for i in (1, 2, 3, -1)]:
        bits = np.random.default_rng(len(widths)).permutation(64)
        bands, at = [], 0
        for w in widths:
            bands.append(tuple(int(b) for b in bits[at : at + w]))
            at += w
        assert_rule(codes, d, plan=BandPlan(d, tuple(bands), tuple(radii)))
    monkeypatch.setattr(nd, "_FIRST_BATCH", 64)  # many batches: the kept index is probed
    result = assert_rule(codes, d, plan=choose_plan(codes, d, 10**7, 5 * 10**6))
    assert result.batches > 5


def test_chains_distinguish_the_rule_from_clustering() -> None:
    a = 0
    b = flip(a, range(0, 4))  # 4 bits from a
    c = flip(b, range(4, 8))  # 4 from b, 8 from a
    e = flip(c, range(8, 12))  # 4 from c, 12 from a
    codes = as_int64([a, b, c, e])
    result = assert_rule(codes, 4)
    # a kept, b dropped (a), c kept (its only near kept image would be b, which is dropped), e dropped (c)
    assert result.kept.tolist() == [True, False, True, False]
    assert result.kept_by.tolist() == [-1, 0, -1, 2]
    # a connected-components dedup would have kept a alone
    assert result.kept.sum() == 2


def test_boundary_distance_is_a_duplicate_one_more_is_not() -> None:
    for d in (0, 1, 6, 12, 32):
        at = flip(0, range(d))
        beyond = flip(0, range(d + 1))
        result = assert_rule(as_int64([0, at, beyond]), d)
        assert result.kept.tolist() == [True, False, True]
        assert result.distance[1] == d


def test_exact_copies_and_d_zero() -> None:
    codes = as_int64([5, 7, 5, 5, 7, 9])
    result = assert_rule(codes, 0)
    assert result.kept_by.tolist() == [-1, -1, 0, 0, 1, -1]
    # with d = 1, 5 and 7 (one bit apart) collapse too; the copies of 7 name the earliest kept: 5
    result = assert_rule(codes, 1)
    assert result.kept_by.tolist() == [-1, 0, 0, 0, 0, -1]


def test_empty_and_single_input() -> None:
    empty = greedy_near_duplicates(np.empty(0, dtype=np.int64), 6)
    assert empty.kept_by.size == 0 and empty.distance.size == 0
    one = greedy_near_duplicates(as_int64([123]), 6)
    assert one.kept_by.tolist() == [-1]


def test_a_run_of_near_copies_is_split_not_quadratic(monkeypatch: pytest.MonkeyPatch) -> None:
    """4,000 consecutive near-copies of one image (plus a long chain): the batch that meets them
    is split until its self-join is small, and the first copy's index entry drops the rest."""
    rng = np.random.default_rng(3)
    base = 0x5A5A_5A5A_5A5A_5A5A
    run = [flip(base, rng.choice(64, rng.integers(1, 4), replace=False)) for _ in range(4000)]
    bits = rng.permutation(64)
    chain = [flip(0x0123_4567_89AB_CDEF, bits[: (k % 32) * 2]) for k in range(300)]
    codes = as_int64(run + chain + [int(v) for v in rng.integers(0, 2**62, 2000)])
    monkeypatch.setattr(nd, "_SPLIT_CANDIDATES", 4)
    monkeypatch.setattr(nd, "_FIRST_BATCH", 2048)
    checked: list[int] = []
    original = nd.HammingIndex.pairs

    def counting(self, queries, **kw):
        out = original(self, queries, **kw)
        checked.append(self.checked)
        return out

    monkeypatch.setattr(nd.HammingIndex, "pairs", counting)
    result = assert_rule(codes, 6)
    assert result.batches > 3
    assert sum(checked) < 2_000 * len(codes)  # far from the 8M pairs of the run alone


def test_same_result_whatever_the_row_order_in_the_catalog() -> None:
    d = 6
    codes = families(np.random.default_rng(11), 800, d)
    ids = [f"img{i:05d}" for i in range(len(codes))]
    kept_by, distance = brute_rule(codes, d)
    expected = {(ids[i], ids[kept_by[i]], int(distance[i])) for i in np.flatnonzero(kept_by >= 0)}
    for seed in range(3):
        order = np.random.default_rng(seed).permutation(len(codes))
        con = duckdb.connect()
        con.register("rows", pa.table({"image_id": [ids[i] for i in order], "phash": codes[order]}))
        con.execute("CREATE TABLE f AS SELECT * FROM rows")
        near_duplicate_drops(con, "f", d, into="nd")
        assert set(con.execute("SELECT * FROM nd").fetchall()) == expected


def test_plans_are_valid_for_every_threshold() -> None:
    sample = families(np.random.default_rng(0), 2000, 6)
    for d in (0, 1, 2, 6, 9, 16, 32):
        for n, k in ((10, 10), (10**7, 5 * 10**6)):
            plan = choose_plan(sample, d, n, k)
            assert plan.brute or sum(r + 1 for r in plan.radii) >= d + 1
            assert plan.hamming == d
    with pytest.raises(ValueError, match="pigeonhole"):
        BandPlan(6, ((1, 2, 3), (4, 5)), (1, 1))
    with pytest.raises(ValueError, match="disjoint"):
        BandPlan(1, ((1, 2), (2, 3)), (0, 0))
    with pytest.raises(ValueError, match="hamming must be an integer between 0 and 32"):
        greedy_near_duplicates(as_int64([1]), -1)
    with pytest.raises(ValueError, match="hamming must be"):
        greedy_near_duplicates(as_int64([1]), True)
    with pytest.raises(ValueError, match="plan is for hamming=3"):
        greedy_near_duplicates(as_int64([1]), 6, plan=BandPlan(3))


@pytest.mark.parametrize("d", [0, 2, 6, 10])
def test_leak_search_finds_the_nearest_release_hash(d: int) -> None:
    """Any of ours within d of any release hash is a leak, named by the nearest release hash
    (ties: the earlier one), whatever the ours-to-ours structure."""
    rng = np.random.default_rng(d)
    release = families(rng, 700, d)
    ours = np.concatenate([families(rng, 400, d), release[rng.choice(len(release), 200)]])
    ours = as_int64([flip(int(v), rng.choice(64, rng.integers(0, d + 2), replace=False)) for v in ours])
    nearest, distance = nearest_within(ours, release, d, plan=choose_plan(release, d, 10**7, 10**7))
    np.testing.assert_array_equal((nearest, distance), nearest_within(ours, release, d))
    dist = np.bitwise_count(ours.view(np.uint64)[:, None] ^ release.view(np.uint64)[None, :])
    for i in range(len(ours)):
        within = np.flatnonzero(dist[i] <= d)
        if not len(within):
            assert nearest[i] == -1
        else:
            best = within[np.lexsort((within, dist[i][within]))[0]]
            assert (nearest[i], distance[i]) == (best, dist[i][best])
    assert (nearest >= 0).sum() >= 90
    none, _ = nearest_within(ours, np.empty(0, np.int64), d)
    assert (none == -1).all()
    assert nearest_within(np.empty(0, np.int64), release, d)[0].size == 0
