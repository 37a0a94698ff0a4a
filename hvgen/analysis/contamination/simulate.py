"""Simulated models answering a release and its twins, to calibrate the test.

A release is a set of questions over images (`ItemStructure`: a synthetic one of `n_items`
questions, `items_per_image` per image, or the questions of a real release). A question has a
difficulty (logit) that its twin shares — the twin asks the same thing — and every render of an
image has its own effect on all of its questions (an unclear render makes them all harder): the
released render and the twin render draw theirs independently, the twin's shifted by
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
    """How the simulated items behave; `n_items`, `items_per_image` and `n_subtasks` shape a
    synthetic release (`structure`), the rest apply to any structure."""

    n_items: int = 2000
    items_per_image: int = 7
    n_subtasks: int = 10
    difficulty_sd: float = 1.5
    render_sd: float = 0.5
    twin_shift: float = 0.0

    def structure(self) -> ItemStructure:
        images = np.arange(self.n_items) // self.items_per_image
        n_images = int(images[-1]) + 1 if self.n_items else 0
        subtasks = (np.arange(self.n_items) % self.items_per_image + images) % self.n_subtasks
        return ItemStructure(
            keys=tuple(f"q{i:06d}" for i in range(self.n_items)),
            clusters=images.astype(np.int64),
            cluster_names=tuple(f"img{i:06d}" for i in range(n_images)),
            groups=tuple(f"subtask{s:02d}" for s in subtasks),
        )


@dataclass(frozen=True)
class ItemStructure:
    """Which image (cluster index) and subtask each question belongs to."""

    keys: tuple[str, ...]
    clusters: np.ndarray
    cluster_names: tuple[str, ...]
    groups: tuple[str, ...]


@dataclass(frozen=True)
class SimulatedModel:
    name: str
    ability: float = 0.5
    memorised: float = 0.0


def simulate(
    release: SimulatedRelease,
    models: Sequence[SimulatedModel],
    seed: int,
    structure: ItemStructure | None = None,
) -> ItemTable:
    """The paired right/wrong table of `models` on the release (a synthetic one unless a real
    `structure` is given) and its twins."""
    shape = structure or release.structure()
    rng = np.random.default_rng(derive_seed(seed, "contamination-sim-release"))
    n, n_images = len(shape.keys), len(shape.cluster_names)
    difficulty = rng.normal(0.0, release.difficulty_sd, n)
    release_render = rng.normal(0.0, release.render_sd, n_images)[shape.clusters]
    twin_render = rng.normal(release.twin_shift, release.render_sd, n_images)[shape.clusters]
    answers_release: dict[str, np.ndarray] = {}
    answers_twins: dict[str, np.ndarray] = {}
    for model in models:
        own = np.random.default_rng(derive_seed(seed, "contamination-sim-model", model.name))
        right_release = own.random(n) < _sigmoid(model.ability - difficulty + release_render)
        right_twin = own.random(n) < _sigmoid(model.ability - difficulty + twin_render)
        if model.memorised > 0:
            seen = own.permutation(n)[: int(round(model.memorised * n))]
            right_release[seen] = True
        answers_release[model.name] = right_release.astype(float)
        answers_twins[model.name] = right_twin.astype(float)
    return ItemTable(
        keys=shape.keys,
        clusters=shape.clusters,
        cluster_names=shape.cluster_names,
        groups=shape.groups,
        release=answers_release,
        twins=answers_twins,
        excluded={model.name: 0 for model in models},
    )


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))
