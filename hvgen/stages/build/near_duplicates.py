"""Near-duplicate decisions on 64-bit pHashes, in numpy: which images to keep, and why not.

The rule (`greedy_near_duplicates`)
-----------------------------------
Visit the images in id order. Keep an image unless a *kept* image visited before it is within
Hamming distance ``d`` of it; then drop it, naming the **earliest** such kept image (the
smallest id) and its distance. So no two kept images are within ``d`` of each other, every
dropped image names a kept one within ``d`` that precedes it, and a chain a~b~c with a and c
far apart keeps a and c (dropping whole connected components would drop c for no reason of
its own). Identical hashes are the case ``distance = 0``.

How, and why this way
---------------------
Dedup needs each image's verdict, not every close pair: a family of k near-copies has ~k²/2
close pairs but needs k probes against the *kept* set (one representative, a few at most).
So the images are processed in batches in id order:

1. each image of the batch probes an index of the images kept by earlier batches (any hit
   drops it; the earliest hit is the one named);
2. the survivors are decided among themselves: their close pairs (a self-join of the batch,
   identical hashes collapsed first), then the greedy over those pairs in rounds (keep every
   undecided image with no undecided earlier neighbour, drop the neighbours of kept ones,
   repeat; a plain loop finishes what rounds cannot, e.g. a long chain);
3. the batch's kept images join the index.

A batch whose self-join would be quadratic (a long run of near-copies with consecutive ids) is
split in two, so the first half's representative drops the rest through the index.

The index is multi-index hashing (Norouzi et al., 2014): the bits go into bands with radii
``r_j``, ``sum(r_j + 1) >= d + 1``; if two hashes differ in at most ``d`` bits, some band differs
in at most its radius (pigeonhole), so probing every band with every mask of at most ``r_j``
bits finds every pair; each candidate is then checked exactly with a popcount. Bits left out of
every band only make the filter weaker, never wrong. Each band is a counting-sort table
(``2**width`` bucket starts, at most 24 bits wide), probed with vectorised gathers.

Real pHashes are far from uniform (the DC bit is always 1, neighbouring low-frequency bits are
correlated, and at d = 6 two different generated scenes collide ~300,000x more often than two
uniform hashes do), so the plan is fitted to the data (`choose_plan`): bits are dealt to bands
so as to spread correlated bits apart, and the number of bands, widths and radii are chosen by
a cost model (probes per image + candidates per image, the latter measured on a sample of
pairs). The plan only changes the speed; the result is the rule above whatever the plan.

Measured against the alternatives (``scripts/bench_dedup.py``; numbers in the README): the
earlier DuckDB all-pairs band join + SQL greedy grows ~n^1.8 on realistic hashes and took 103 CPU s
at 1M where this takes ~10. FAISS (``faiss-cpu`` 1.15, a 66 MB install) has the same
multi-index hashing in ``IndexBinaryMultiHash``, but with contiguous bands only (no fitting to
the data) and an ``unordered_set`` per query: probing the 100k images kept among 200k realistic
hashes with the next 200k took it 26 CPU s (nhash 3 x 21 bits, 2 flips, or 4 x 16 bits, 1 flip;
one thread) against 2.1 CPU s here. Its HNSW index is approximate, which a rule that must equal
its brute force cannot be. So: numpy, no new dependency.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from math import comb

import numpy as np

__all__ = [
    "BandPlan",
    "GreedyResult",
    "HammingIndex",
    "check_hamming",
    "choose_plan",
    "greedy_near_duplicates",
    "nearest_within",
]

MAX_BAND_WIDTH = 24  # 2**24 bucket starts (64 MiB of int32) per band at most
_MAX_PROBES = 4_000  # masks per image over all bands
_CHUNK = 1 << 22  # elements per vectorised probe step (bounds temporary memory)
_SAMPLE = 1_200  # hashes per side of the sample of pairs that prices a plan
_ALWAYS_BRUTE = 4_000_000  # query x reference pairs below which planning costs more than it saves
_FIRST_BATCH = 1 << 17
# Relative costs measured with numpy on this project's 2-core machines (~20 ns = 1): one probe
# (a gather + bookkeeping), one candidate (expand + gather + popcount), one brute-force pair
# (popcount in a dense block), one bucket-table entry built.
_COST_PROBE, _COST_CANDIDATE, _COST_BRUTE, _COST_TABLE = 1.0, 1.5, 0.08, 1.0
_SPLIT_CANDIDATES = 256  # a batch's self-join may check this many candidates per image


# --------------------------------------------------------------------------- plans


def _ball(width: int, radius: int) -> int:
    return sum(comb(width, i) for i in range(radius + 1))


@dataclass(frozen=True)
class BandPlan:
    """Bands of hash bits (bit 0 = least significant) with a search radius each. No bands =
    brute force (every candidate pair checked)."""

    hamming: int
    bands: tuple[tuple[int, ...], ...] = ()
    radii: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        used = [b for band in self.bands for b in band]
        if len(used) != len(set(used)) or any(not 0 <= b < 64 for b in used):
            raise ValueError("bands must be disjoint sets of bit positions 0..63")
        if any(len(band) > MAX_BAND_WIDTH for band in self.bands) or len(self.radii) != len(self.bands):
            raise ValueError(f"a band is at most {MAX_BAND_WIDTH} bits wide and has one radius")
        if self.bands and sum(r + 1 for r in self.radii) < self.hamming + 1:
            raise ValueError("sum(radius + 1) over the bands must be at least hamming + 1 (pigeonhole)")

    @property
    def brute(self) -> bool:
        return not self.bands

    @property
    def probes(self) -> int:
        return sum(_ball(len(band), r) for band, r in zip(self.bands, self.radii))

    def describe(self) -> str:
        if self.brute:
            return "brute force"
        parts = ", ".join(f"{len(band)}b/r{r}" for band, r in zip(self.bands, self.radii))
        return f"{len(self.bands)} bands ({parts}), {self.probes} probes"


def _bits(sample: np.ndarray) -> np.ndarray:
    return ((sample[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)).astype(np.uint8)


def _deal_bits(order: list[int], widths: list[int], corr: np.ndarray) -> list[list[int]]:
    """Give each bit (most informative first) to the band with room whose bits it correlates
    with least: correlated bits in one band make its values cluster, hence more candidates."""
    bands: list[list[int]] = [[] for _ in widths]
    for bit in order:
        room = [j for j in range(len(widths)) if len(bands[j]) < widths[j]]
        if not room:
            break
        bands[min(room, key=lambda j: (corr[bit, bands[j]].sum() if bands[j] else 0.0, j))].append(bit)
    return bands


def _plan_menu(hamming: int) -> list[tuple[list[int], list[int]]]:
    """(widths, radii) layouts worth pricing: m bands (<= 24 bits, covering at most 64) with
    radii spread as evenly as the pigeonhole sum needs; widths either even or, when radii
    differ, the bands with the larger radius at 24 bits (a wider band filters better, and its
    extra probes are few when the others have a smaller radius)."""
    menu = []
    for m in sorted(
        {m for m in (1, 2, 3, 4, 5, 6, 7, 8, 10, 12, 14, 16, 20, 24, 28) if m <= hamming + 1} | {hamming + 1}
    ):
        spare = hamming + 1 - m
        radii = [spare // m + (1 if j < spare % m else 0) for j in range(m)]
        total = min(64, m * MAX_BAND_WIDTH)
        layouts = [[total // m + (1 if j < total % m else 0) for j in range(m)]]
        wide = sum(r > radii[-1] for r in radii)
        if 0 < wide < m:
            rest = min(64 - wide * MAX_BAND_WIDTH, (m - wide) * MAX_BAND_WIDTH)
            narrow = [rest // (m - wide) + (1 if j < rest % (m - wide) else 0) for j in range(m - wide)]
            layouts.append([MAX_BAND_WIDTH] * wide + narrow)
        for widths in layouts:
            if min(widths) >= 1 and sum(_ball(w, r) for w, r in zip(widths, radii)) <= _MAX_PROBES:
                menu.append((widths, radii))
    return menu


class PlanPricer:
    """The menu of plans priced once on a sample of the data (candidate rates measured on
    pairs of sampled hashes); `best` then picks the cheapest for any sizes, so a long run can
    change plans as its index grows."""

    def __init__(self, sample: np.ndarray, hamming: int) -> None:
        check_hamming(hamming)
        self.hamming = hamming
        self.priced: list[tuple[BandPlan, float]] = []
        sample = np.ascontiguousarray(sample).view(np.uint64)
        if len(sample) < 2:
            return
        rng = np.random.default_rng(len(sample))  # the plans are a pure function of the data
        a = sample[rng.integers(0, len(sample), _SAMPLE)]
        b = sample[rng.integers(0, len(sample), _SAMPLE)]
        bits = _bits(sample[rng.integers(0, len(sample), 8 * _SAMPLE)]).astype(np.float64)
        balance = np.abs(bits.mean(axis=0) - 0.5)
        with np.errstate(invalid="ignore", divide="ignore"):
            corr = np.nan_to_num(np.abs(np.corrcoef(bits.T)), nan=1.0)
        np.fill_diagonal(corr, 0.0)
        order = [int(i) for i in np.argsort(balance, kind="stable")]  # most balanced bits first
        pair_xor = a[:, None] ^ b[None, :]
        for widths, radii in _plan_menu(hamming):
            bands = _deal_bits(order, widths, corr)
            rate = 0.0
            for band, radius in zip(bands, radii):
                mask = np.uint64(sum(1 << bit for bit in band))
                rate += float((np.bitwise_count(pair_xor & mask) <= radius).mean())
            plan = BandPlan(hamming, tuple(tuple(sorted(band)) for band in bands), tuple(radii))
            self.priced.append((plan, max(rate, 1.0 / pair_xor.size)))  # unseen is not impossible

    def best(self, n_queries: int, n_reference: int, tables: float = 1.0) -> BandPlan:
        """The cheapest plan for `n_queries` probes into `n_reference` hashes, building
        `tables` bucket tables per band."""
        best, best_cost = BandPlan(self.hamming), n_queries * n_reference * _COST_BRUTE
        if n_queries * n_reference <= _ALWAYS_BRUTE:
            return best
        for plan, rate in self.priced:
            cost = n_queries * (plan.probes * _COST_PROBE + n_reference * rate * _COST_CANDIDATE)
            cost += tables * sum(2 ** len(band) for band in plan.bands) * _COST_TABLE
            if cost < best_cost:
                best, best_cost = plan, cost
        return best


def choose_plan(sample: np.ndarray, hamming: int, n_queries: int, n_reference: int) -> BandPlan:
    """The cheapest plan by the cost model for `n_queries` probes into `n_reference` hashes,
    with candidate rates measured on `sample` (hashes like the data, as int64 or uint64)."""
    if n_queries * n_reference <= _ALWAYS_BRUTE:
        check_hamming(hamming)
        return BandPlan(hamming)
    return PlanPricer(sample, hamming).best(n_queries, n_reference)


def check_hamming(hamming: int) -> None:
    if not isinstance(hamming, int) or isinstance(hamming, bool) or not 0 <= hamming <= 32:
        raise ValueError(
            f"hamming must be an integer between 0 and 32 (bits of a 64-bit pHash), got {hamming!r}"
        )


# --------------------------------------------------------------------------- the index


class _Permuter:
    """Moves each band's bits next to each other (band j at ``shifts[j]``), by byte tables."""

    def __init__(self, plan: BandPlan) -> None:
        target, self.shifts, self.widths = {}, [], []
        top = 64
        for band in plan.bands:
            top -= len(band)
            self.shifts.append(top)
            self.widths.append(len(band))
            for i, bit in enumerate(band):
                target[bit] = top + i
        self.tables = np.zeros((8, 256), dtype=np.uint64)
        values = np.arange(256)
        for byte in range(8):
            for i in range(8):
                if byte * 8 + i in target:
                    on = ((values >> i) & 1).astype(np.uint64) << np.uint64(target[byte * 8 + i])
                    self.tables[byte] |= on

    def __call__(self, codes: np.ndarray) -> np.ndarray:
        out = np.zeros(len(codes), dtype=np.uint64)
        for byte in range(8):
            out |= self.tables[byte][((codes >> np.uint64(8 * byte)) & np.uint64(255)).astype(np.intp)]
        return out

    def key(self, permuted: np.ndarray, j: int) -> np.ndarray:
        return ((permuted >> np.uint64(self.shifts[j])) & np.uint64((1 << self.widths[j]) - 1)).astype(
            np.int64
        )


def _masks(width: int, radius: int) -> np.ndarray:
    out = [0]
    for k in range(1, radius + 1):
        out.extend(sum(1 << b for b in c) for c in itertools.combinations(range(width), k))
    return np.array(out, dtype=np.int64)


class _TooDense(Exception):
    """A self-join would check more candidates than allowed: split the batch."""


class HammingIndex:
    """Reference hashes (as given, int64 or uint64) searchable within ``plan.hamming`` bits."""

    def __init__(self, codes: np.ndarray, plan: BandPlan, permuter: _Permuter | None = None) -> None:
        self.plan = plan
        self.codes = np.ascontiguousarray(codes).view(np.uint64)
        self.n = len(self.codes)
        self.probed = self.checked = 0  # work done by `pairs`, for the benchmark
        if plan.brute:
            return
        self.permuter = permuter or _Permuter(plan)
        permuted = self.permuter(self.codes)
        self.masks = [_masks(len(band), r) for band, r in zip(plan.bands, plan.radii)]
        self.buckets, self.orders, self.sorted_codes = [], [], []
        for j, band in enumerate(plan.bands):
            keys = self.permuter.key(permuted, j)
            order = np.argsort(keys, kind="stable")
            count = np.bincount(keys, minlength=1 << len(band))
            # one gather per probe: bucket start (high 32 bits) and size (low 32 bits)
            self.buckets.append(((np.cumsum(count) - count) << 32) | count)
            self.orders.append(order)
            self.sorted_codes.append(self.codes[order])

    def pairs(
        self, queries: np.ndarray, *, self_join: bool = False, limit: int | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Every (query, reference, distance) within ``plan.hamming``; a pair found through
        several bands comes once per band. `self_join` (the queries are the reference, in the
        same order): each pair once per band, as (later, earlier, distance). `limit`: raise
        `_TooDense` past that many candidates."""
        q = np.ascontiguousarray(queries).view(np.uint64)
        found: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        if self.plan.brute:
            self._brute(q, self_join, found)
            return _joined(found)
        d, checked = self.plan.hamming, 0
        permuted = self.permuter(q)
        for j in range(len(self.plan.bands)):
            # queries sorted by band value: the probes then sweep the bucket table instead of
            # jumping around it (~3x fewer cache misses)
            keys = self.permuter.key(permuted, j)
            by_key = np.argsort(keys)
            keys, q_sorted = keys[by_key], q[by_key]
            buckets, order, codes, masks = (
                self.buckets[j],
                self.orders[j],
                self.sorted_codes[j],
                self.masks[j],
            )
            step = max(1, _CHUNK // max(len(q), 1))
            bounds = sorted({0, 1, len(masks), *range(1, len(masks), step)})
            for m0, m1 in zip(bounds[:-1], bounds[1:]):  # the zero mask (masks[0]) alone first
                probe = keys[None, :] ^ masks[m0:m1, None]
                if self_join and m0:  # a pair in two buckets is probed from the smaller value only
                    at = np.flatnonzero(probe > keys[None, :])
                    probe = probe.ravel()[at]
                else:
                    at, probe = None, probe.ravel()
                probe = buckets[probe]
                self.probed += len(probe)
                hit = np.flatnonzero(probe & 0xFFFFFFFF)
                probe = probe[hit]
                lo, count = probe >> 32, probe & 0xFFFFFFFF
                checked += int(count.sum())
                if limit is not None and checked > limit:
                    raise _TooDense
                query = (hit if at is None else at[hit]) % len(q)
                for part in _parts(count):  # expand at most ~_CHUNK candidates at a time
                    qq, pos = _expand(query[part], lo[part], count[part])
                    dist = np.bitwise_count(q_sorted[qq] ^ codes[pos])
                    near = np.flatnonzero(dist <= d)
                    qq, ref, dist = by_key[qq[near]], order[pos[near]], dist[near]
                    if self_join and m0:  # as (later, earlier)
                        qq, ref = np.maximum(qq, ref), np.minimum(qq, ref)
                    elif self_join:  # one bucket: found from both sides (and itself)
                        keep = ref < qq
                        qq, ref, dist = qq[keep], ref[keep], dist[keep]
                    found.append((qq, ref, dist))
        self.checked += checked
        return _joined(found)

    def _brute(self, q: np.ndarray, self_join: bool, found: list) -> None:
        step = max(1, _CHUNK // max(self.n, 1))
        for s in range(0, len(q), step):
            dist = np.bitwise_count(q[s : s + step, None] ^ self.codes[None, :])
            if self_join:
                dist[np.arange(s, s + len(dist))[:, None] <= np.arange(self.n)[None, :]] = 64
            qi, ri = np.nonzero(dist <= self.plan.hamming)
            found.append((qi + s, ri, dist[qi, ri]))
            self.checked += dist.size


def _parts(count: np.ndarray) -> list[slice]:
    """Slices of `count` whose sums stay near _CHUNK (one bucket may exceed it alone)."""
    if not len(count):
        return []
    ends = np.cumsum(count)
    if ends[-1] <= _CHUNK:
        return [slice(0, len(count))]
    cuts = np.searchsorted(ends, np.arange(_CHUNK, ends[-1], _CHUNK), side="right")
    edges = np.unique(np.concatenate([[0], cuts, [len(count)]]))
    return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]


def _expand(query: np.ndarray, lo: np.ndarray, count: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bucket ranges [lo, lo + count) as flat (query, position) pairs."""
    ends = np.cumsum(count)
    pos = np.arange(int(ends[-1]) if len(ends) else 0, dtype=np.int64) + np.repeat(lo - (ends - count), count)
    return np.repeat(query, count), pos


def _joined(
    found: list[tuple[np.ndarray, np.ndarray, np.ndarray]],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not found:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.int64)
    return tuple(np.concatenate([f[i] for f in found]).astype(np.int64) for i in range(3))  # type: ignore[return-value]


def _first_per_query(n: int, qi: np.ndarray, key1: np.ndarray, key2: np.ndarray) -> np.ndarray:
    """For each query 0..n-1, the position in (qi, key1, key2) of its smallest (key1, key2), or -1."""
    best = np.full(n, -1, dtype=np.int64)
    if len(qi):
        order = np.lexsort((key2, key1, qi))
        first = order[np.r_[True, qi[order][1:] != qi[order][:-1]]]
        best[qi[first]] = first
    return best


# --------------------------------------------------------------------------- the greedy


@dataclass
class GreedyResult:
    """Per input position: ``kept_by`` = -1 if kept, else the position of the earliest kept
    hash within d; ``distance`` to it (0 for kept ones)."""

    kept_by: np.ndarray
    distance: np.ndarray
    plans: tuple[BandPlan, ...]  # the plans used, in order (the index's plan changes as it grows)
    batches: int
    probes: int = 0  # bucket lookups
    candidates: int = 0  # pairs checked with a popcount

    @property
    def kept(self) -> np.ndarray:
        return self.kept_by < 0

    def describe(self) -> str:
        """The last (largest) plan, and how the work went."""
        last = self.plans[-1].describe() if self.plans else "nothing to compare"
        others = f"; {len(self.plans) - 1} other plan(s) on the first batches" if len(self.plans) > 1 else ""
        return f"{last}{others}; {self.batches} batch(es)"


def _greedy_rounds(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Greedy in position order over n nodes with edges a < b: True = kept."""
    state = np.zeros(n, dtype=np.int8)  # 0 undecided, 1 kept, 2 dropped
    undecided = n
    while undecided:
        blocked = np.zeros(n, dtype=bool)
        blocked[b] = True  # every live edge joins two undecided nodes
        newly = (state == 0) & ~blocked
        state[newly] = 1
        state[b[state[a] == 1]] = 2
        live = (state[a] == 0) & (state[b] == 0)
        a, b = a[live], b[live]
        left = int((state == 0).sum())
        if left and undecided - left < max(64, left // 100):  # rounds stall (a chain): finish in order
            _greedy_loop(state, a, b)
            break
        undecided = left
    return state == 1


def _greedy_loop(state: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """The remaining undecided nodes, one by one in order (only the live edges matter)."""
    order = np.argsort(a, kind="stable")
    a, b = a[order], b[order]
    starts = np.searchsorted(a, np.arange(len(state) + 1))
    for node in np.flatnonzero(state == 0):
        if state[node] == 0:
            state[node] = 1
            later = b[starts[node] : starts[node + 1]]
            state[later[state[later] == 0]] = 2


def greedy_near_duplicates(codes: np.ndarray, hamming: int, *, plan: BandPlan | None = None) -> GreedyResult:
    """The rule of the module docstring over `codes` (int64 or uint64 pHashes, in the order
    the images are visited, i.e. sorted by id)."""
    check_hamming(hamming)
    u = np.ascontiguousarray(codes).view(np.uint64)
    n = len(u)
    if plan is not None and plan.hamming != hamming:
        raise ValueError(f"the plan is for hamming={plan.hamming}, not {hamming}")
    pricer = None
    if plan is None and n * n // 2 > _ALWAYS_BRUTE:
        pricer = PlanPricer(u[:: max(1, n // (8 * _SAMPLE))], hamming)
    state = _Greedy(u, hamming, plan, pricer)
    pos, size = 0, _FIRST_BATCH
    while pos < n:
        end = min(n, pos + size)
        try:
            state.decide(pos, end)
        except _TooDense:  # a run of near-copies: let the first half's kept ones drop the rest
            size = max(1, (end - pos) // 2)
            continue
        pos, size = end, max(_FIRST_BATCH, len(state.kept))
    return GreedyResult(
        state.kept_by, state.distance, tuple(state.plans), state.batches, state.probes, state.candidates
    )


class _Greedy:
    """The state of `greedy_near_duplicates` between batches."""

    def __init__(
        self, codes: np.ndarray, hamming: int, plan: BandPlan | None, pricer: PlanPricer | None
    ) -> None:
        self.codes, self.hamming, self.fixed, self.pricer = codes, hamming, plan, pricer
        self.permuters: dict[BandPlan, _Permuter] = {}
        self.plans: list[BandPlan] = []
        self.kept_by = np.full(len(codes), -1, dtype=np.int64)
        self.distance = np.zeros(len(codes), dtype=np.int8)
        self.kept = np.empty(0, dtype=np.int64)  # positions, increasing
        self.index: HammingIndex | None = None
        self.batches = self.probes = self.candidates = 0

    def _plan(self, n_queries: int, n_reference: int) -> BandPlan:
        if self.fixed is not None:
            return self.fixed
        if self.pricer is None:
            return BandPlan(self.hamming)
        return self.pricer.best(n_queries, n_reference, tables=2.0)

    def _index(self, codes: np.ndarray, plan: BandPlan) -> HammingIndex:
        if not plan.brute and plan not in self.permuters:
            self.permuters[plan] = _Permuter(plan)
        return HammingIndex(codes, plan, self.permuters.get(plan))

    def _count(self, index: HammingIndex) -> None:
        self.probes += index.probed
        self.candidates += index.checked
        index.probed = index.checked = 0

    def decide(self, pos: int, end: int) -> None:
        """Positions [pos, end): module docstring, steps 1-3."""
        batch = self.codes[pos:end]
        survivors = np.arange(len(batch))
        if self.index is not None:  # 1. the earliest image kept by an earlier batch within d
            qi, ri, dist = self.index.pairs(batch)
            self._count(self.index)
            best = _first_per_query(len(batch), qi, ri, dist)
            hit = np.flatnonzero(best >= 0)
            self.kept_by[pos + hit] = self.kept[ri[best[hit]]]
            self.distance[pos + hit] = dist[best[hit]]
            survivors = np.flatnonzero(best < 0)
        # 2. the survivors among themselves, identical hashes collapsed onto their first one
        values, first, inverse = np.unique(batch[survivors], return_index=True, return_inverse=True)
        reps = np.sort(first)  # indices into `survivors`, in id order
        rep_of_value = np.empty(len(values), dtype=np.int64)
        rep_of_value[inverse[reps]] = np.arange(len(reps))
        rep_codes = batch[survivors[reps]]
        plan = self._plan(len(reps), max(1, len(reps) // 2))
        limit = None if plan.brute or len(reps) < 2 else _SPLIT_CANDIDATES * len(reps) + (1 << 20)
        index = self._index(rep_codes, plan)
        later, earlier, dist = index.pairs(rep_codes, self_join=True, limit=limit)
        self._count(index)
        keep = _greedy_rounds(len(reps), earlier, later)
        named = keep[earlier] & ~keep[later]
        later, earlier, dist = later[named], earlier[named], dist[named]
        best = _first_per_query(len(reps), later, earlier, dist)
        rep_by = np.full(len(reps), -1, dtype=np.int64)
        rep_dist = np.zeros(len(reps), dtype=np.int64)
        dropped = np.flatnonzero(best >= 0)
        rep_by[dropped] = pos + survivors[reps[earlier[best[dropped]]]]
        rep_dist[dropped] = dist[best[dropped]]
        # a copy follows its representative; the copy of a kept one names it, at distance 0
        rep = rep_of_value[inverse]
        by, dd = rep_by[rep], rep_dist[rep]
        copies = (by < 0) & (np.arange(len(survivors)) != reps[rep])
        by[copies] = pos + survivors[reps[rep[copies]]]
        dd[copies] = 0
        self.kept_by[pos + survivors] = by
        self.distance[pos + survivors] = dd
        # 3. the batch's kept images join the index
        self.kept = np.concatenate([self.kept, pos + survivors[reps[keep]]])
        self.batches += 1
        if end < len(self.codes):  # sized for the next batch: as large as the index
            plan = self._plan(max(_FIRST_BATCH, len(self.kept)), len(self.kept))
            self.index = self._index(self.codes[self.kept], plan)
            if not self.plans or self.plans[-1] != plan:
                self.plans.append(plan)
        elif not self.plans:
            self.plans.append(index.plan)


# --------------------------------------------------------------------------- leak check


def nearest_within(
    queries: np.ndarray,
    reference: np.ndarray,
    hamming: int,
    *,
    plan: BandPlan | None = None,
    batch: int = 1 << 18,
) -> tuple[np.ndarray, np.ndarray]:
    """For each query hash: the position of the nearest `reference` hash within `hamming`
    (ties: the smaller position) or -1, and its distance."""
    check_hamming(hamming)
    q = np.ascontiguousarray(queries).view(np.uint64)
    r = np.ascontiguousarray(reference).view(np.uint64)
    nearest = np.full(len(q), -1, dtype=np.int64)
    distance = np.zeros(len(q), dtype=np.int8)
    if not len(q) or not len(r):
        return nearest, distance
    if plan is None:
        sample = np.concatenate([r[:: max(1, len(r) // _SAMPLE)], q[:: max(1, len(q) // _SAMPLE)]])
        plan = choose_plan(sample, hamming, len(q), len(r))
    index = HammingIndex(r, plan)
    for s in range(0, len(q), batch):
        qi, ri, dist = index.pairs(q[s : s + batch])
        best = _first_per_query(min(batch, len(q) - s), qi, dist, ri)
        found = np.flatnonzero(best >= 0)
        nearest[s + found] = ri[best[found]]
        distance[s + found] = dist[best[found]]
    return nearest, distance
