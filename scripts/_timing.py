"""Shared timing discipline of the bench_* scripts: warm up every configuration, alternate them,
repeat, and report min and median.

Why: the machines these run on are small and shared, so one timing per configuration in a fixed
order measures the order (caches, lazy imports, a neighbour's burst of load) as much as the code.
Each configuration is warmed up the same way (its warm-up runs are discarded), then every round
runs all configurations once, in an order rotated by one per round, so no configuration always
goes first or last. The minimum is the least-disturbed run (the usual estimator for "how fast
can this code go here"); the median shows how noisy the machine was.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Config:
    """One thing to time. `run` does one repetition and returns the seconds it measured (so it
    can leave its own set-up out); `warm` (default: `run`) is called before any timed round."""

    name: str
    run: Callable[[], float]
    warm: Callable[[], object] | None = None


@dataclass
class Timing:
    name: str
    seconds: list[float] = field(default_factory=list)

    @property
    def min(self) -> float:
        return min(self.seconds)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def describe(self, unit: str = "s") -> str:
        return f"min {self.min:.3f} {unit}, median {self.median:.3f} {unit} (n={len(self.seconds)})"


def timed(function: Callable[[], object]) -> float:
    """Wall-clock seconds of one call."""
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def compare(
    configs: Sequence[Config], repeats: int = 3, warmup: int = 1, log: Callable[[str], None] | None = None
) -> dict[str, Timing]:
    """Warm up every config `warmup` times, then run `repeats` rounds of all configs in rotated
    order. Returns each config's timings by name."""
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1 (got {repeats})")
    results = {config.name: Timing(config.name) for config in configs}
    for _ in range(warmup):
        for config in configs:
            (config.warm or config.run)()
    for round_index in range(repeats):
        shift = round_index % max(len(configs), 1)
        for config in list(configs[shift:]) + list(configs[:shift]):
            seconds = config.run()
            results[config.name].seconds.append(seconds)
            if log:
                log(f"  round {round_index + 1}/{repeats} {config.name}: {seconds:.3f} s")
    return results


def geometric_mean(values: Sequence[float]) -> float:
    """Geometric mean: the average of ratios (a 2x and a 0.5x average to 1x, not 1.25x)."""
    if not values:
        return math.nan
    return math.exp(sum(math.log(v) for v in values) / len(values))


def growth_exponent(sizes: Sequence[float], seconds: Sequence[float]) -> float:
    """Least-squares slope of log(seconds) against log(size): 1 = linear, 2 = quadratic."""
    if len(sizes) < 2:
        return math.nan
    xs = [math.log(s) for s in sizes]
    ys = [math.log(t) for t in seconds]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys))
    return sxy / sxx if sxx else math.nan


def machine() -> str:
    """One line naming the machine the numbers come from (the GPU only if torch is loaded)."""
    import os
    import platform
    import sys

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            names = [line.split(":", 1)[1].strip() for line in handle if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    line = f"{cores} CPU cores ({cpu}), Python {platform.python_version()}"
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        line += f", GPU {torch.cuda.get_device_name(0)} (torch {torch.__version__})"
    return line
