"""Simulated models answering a release and its twins, to calibrate the test.

The release is `n_items` questions over images of `items_per_image` questions each. A question
has a difficulty (logit) that its twin shares — the twin asks the same thing — and every render
of an image has its own effect on all of its questions (an unclear render makes them all
harder): the released render and the twin render draw theirs independently, the twin's shifted by
`twin_shift` (negative: a harder twin split, e.g. made with a weaker model). A model of ability
θ answers a question right with probability sigmoid(θ − difficulty + render effect),
independently on each side. A memorising model has seen a random `memorised` share of the
released items and answers those right on the release; its twins it answers like a clean model.

Every draw comes from `seed` (and the model's name for its answers), so a simulation is
reproducible and adding a model leaves the others' answers unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hvgen.analysis.contamination.items import ItemTable
from hvgen.seeding import derive_seed


@dataclass(frozen=True)
class SimulatedRelease:
    n_items: int = 2000
    items_per_image: int = 7
    n_subtasks: int = 10
    difficulty_sd: float = 1.5
    render_sd: float = 0.5
    twin_shift: float = 0.0


@dataclass(frozen=True)
class SimulatedModel:
    name: str
    ability: float = 0.5
    memorised: float = 0.0


def simulate(release: SimulatedRelease, models: Sequence[SimulatedModel], seed: int) -> ItemTable:
    """The paired right/wrong table of `models` on a simulated release and its twins."""
    rng = np.random.default_rng(derive_seed(seed, "contamination-sim-release"))
    n = release.n_items
    images = np.arange(n) // release.items_per_image
    n_images = int(images[-1]) + 1 if n else 0
    difficulty = rng.normal(0.0, release.difficulty_sd, n)
    release_render = rng.normal(0.0, release.render_sd, n_images)[images]
    twin_render = rng.normal(release.twin_shift, release.render_sd, n_images)[images]
    subtasks = (np.arange(n) % release.items_per_image + images) % release.n_subtasks
    answers_release: dict[str, np.ndarray] = {}
    answers_twins: dict[str, np.ndarray] = {}
    for model in models:
        own = np.random.default_rng(derive_seed(seed, "contamination-sim-model", model.name))
        p_release = _sigmoid(model.ability - difficulty + release_render)
        p_twin = _sigmoid(model.ability - difficulty + twin_render)
        right_release = own.random(n) < p_release
        right_twin = own.random(n) < p_twin
        if model.memorised > 0:
            seen = own.permutation(n)[: int(round(model.memorised * n))]
            right_release[seen] = True
        answers_release[model.name] = right_release.astype(float)
        answers_twins[model.name] = right_twin.astype(float)
    return ItemTable(
        keys=tuple(f"q{i:06d}" for i in range(n)),
        clusters=images.astype(np.int64),
        cluster_names=tuple(f"img{i:06d}" for i in range(n_images)),
        groups=tuple(f"subtask{s:02d}" for s in subtasks),
        release=answers_release,
        twins=answers_twins,
        excluded={model.name: 0 for model in models},
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
