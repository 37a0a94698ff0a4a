"""The algorithm version of each scenario's outputs.

A scenario output is done only while its manifest line carries its scenario's current version
(`hvgen.store.work.finished_scenario_outputs`): a run resumed by an hvgen whose kernels make other
bytes for the same seed redoes the outputs of the older version instead of mixing two algorithms
in one split. Bump a number whenever that scenario's outputs change for the same inputs (a new
sampler, a different kernel, other rounding), never for a change that keeps the bytes. A manifest
line written before versions were recorded counts as version 1 (`hvgen.store.work.UNVERSIONED`).

Kept apart from the scenario modules, which import numpy, OpenCV or torch: `hvgen status` and the
stages read these numbers without loading any of them.
"""

from __future__ import annotations

from collections.abc import Iterable

CORRUPTION_VERSION = 2
"""hvgen.scenarios.corruption. 2: imagenet-c Gaussian, speckle and shot noise sampled through
quantile tables, impulse noise through float32 geometric gaps, defocus of 25 px and more by FFT."""

PRINT_ATTACK_VERSION = 1
"""hvgen.scenarios.print_attack."""

ADVERSARIAL_VERSION = 1
"""hvgen.scenarios.adversarial (the attack itself; its settings are checked by `scenario_settings`)."""

SCENARIO_VERSIONS: dict[str, int] = {
    "clean": 1,  # its samples are the renders: no scenario file, nothing to version
    "corruption": CORRUPTION_VERSION,
    "print": PRINT_ATTACK_VERSION,
    "adversarial": ADVERSARIAL_VERSION,
}


def scenario_version(name: str) -> int:
    """The current algorithm version of scenario `name` (a registered name)."""
    return SCENARIO_VERSIONS[name]


def scenario_versions(names: Iterable[str]) -> dict[str, int]:
    """Name → current version, for the scenario names in `names` (a list or a name → level map)."""
    return {name: scenario_version(name) for name in names}
