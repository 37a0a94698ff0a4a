"""The exact paired test of "release better than twins", one-sided.

Contamination is directional: memorising the release can only make released items easier, so
the alternative is "release accuracy > twin accuracy" and the test is one-sided (a two-sided test
would spend half its error rate on twins being easier, which accuses no one). The reverse tail
is computed too, as a diagnostic: twins significantly easier points at a twin split that was made
differently (another model or settings), not at contamination.

* `mcnemar` — the exact McNemar test: with b pairs right on the release only and c on the twin
  only, under no contamination b ~ Binomial(b + c, 1/2) (`scipy.stats.binomtest`). It treats
  pairs as independent.
* `sign_flip` — the same test clustered by image: with D_c the sum over image c's items of
  (release − twin), no contamination makes each D_c symmetric about 0 and the images independent,
  so T = Σ D_c is compared with the exact distribution of Σ ε_c D_c for fair random signs ε_c. It
  is exact (computed by convolution, no sampling) and reduces to `mcnemar` when every image has
  one item. The verdicts use it: items of one image are not independent (a badly rendered image
  makes all its questions harder), and ignoring that makes the McNemar test reject too often
  (the calibration in scripts/calibrate_contamination.py shows how much).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import signal, stats

_DIRECT_CONVOLUTION_LIMIT = 5e7
"""Above this many multiply-adds a convolution goes through the FFT (absolute error ~1e-15,
harmless for p-values that are compared with alpha; below it the sums are exact to rounding)."""


@dataclass(frozen=True)
class TestResult:
    """One-sided p-value of "release > twins" (`p_value`) and of the reverse (`p_reverse`)."""

    statistic: float  # release-right-only minus twin-right-only (b - c)
    p_value: float
    p_reverse: float


def mcnemar(release: np.ndarray, twins: np.ndarray) -> TestResult:
    """Exact McNemar test on paired 0/1 answers (independent pairs)."""
    b = int(np.sum((release == 1) & (twins == 0)))
    c = int(np.sum((release == 0) & (twins == 1)))
    if b + c == 0:
        return TestResult(0.0, 1.0, 1.0)
    greater = stats.binomtest(b, b + c, 0.5, alternative="greater").pvalue
    less = stats.binomtest(b, b + c, 0.5, alternative="less").pvalue
    return TestResult(float(b - c), float(greater), float(less))


def sign_flip(cluster_differences: np.ndarray) -> TestResult:
    """Exact sign-flip test of integer per-cluster differences D_c (release − twin right answers)."""
    diffs = np.rint(np.asarray(cluster_differences, dtype=float)).astype(np.int64)
    if not np.allclose(diffs, cluster_differences):
        raise ValueError("sign_flip needs integer cluster differences (sums of 0/1 differences)")
    observed = int(diffs.sum())
    sizes = np.abs(diffs[diffs != 0])
    if sizes.size == 0:
        return TestResult(0.0, 1.0, 1.0)
    pmf, offset = _sign_flip_distribution(sizes)
    position = observed + offset  # pmf[j] = P(S = j - offset)
    greater = float(np.clip(pmf[position:].sum(), 0.0, 1.0))
    less = float(np.clip(pmf[: position + 1].sum(), 0.0, 1.0))
    return TestResult(float(observed), min(greater, 1.0), min(less, 1.0))


def _sign_flip_distribution(sizes: np.ndarray) -> tuple[np.ndarray, int]:
    """The pmf of S = Σ ε_c k_c over fair signs, as (array, offset): clusters of equal |D| = k
    contribute k(2B − n) with B ~ Binomial(n, 1/2), so one scaled binomial per distinct k."""
    values, counts = np.unique(sizes, return_counts=True)
    pmf = np.array([1.0])
    offset = 0
    for k, n in zip(values.tolist(), counts.tolist()):
        part = np.zeros(2 * k * n + 1)
        part[:: 2 * k] = stats.binom.pmf(np.arange(n + 1), n, 0.5)
        if pmf.size * part.size > _DIRECT_CONVOLUTION_LIMIT:
            pmf = np.clip(signal.fftconvolve(pmf, part), 0.0, None)
        else:
            pmf = np.convolve(pmf, part)
        offset += k * n
    return pmf, offset
