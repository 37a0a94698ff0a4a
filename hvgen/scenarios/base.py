"""The contract every scenario implements.

A scenario turns clean images into the images of one evaluation condition (clean,
corruption, print attack, adversarial). The stage (`hvgen.stages.scenario`) owns I/O,
resumability, sharding and the catalog; a scenario only transforms pixels, so it can be
unit-tested on in-memory images and swapped without touching the engine.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class ScenarioInput:
    """One unit of work.

    `record` is the metadata record (a plain dict as validated by the benchmark schema) for
    record-level scenarios, and ``None`` for image-level ones. `seed` is already derived from
    (run seed, record or image id, scenario name): use it for every random choice.

    `image` is a PIL RGB image, or — for a scenario that declares ``takes_arrays = True`` —
    an HxWx3 uint8 RGB array (no PIL round trip for pixel work).
    """

    image: Image.Image | np.ndarray
    seed: int
    record: dict[str, Any] | None = None


@dataclass
class ScenarioOutput:
    """The transformed image (``None`` = this scenario does not apply, see `skip_reason`)
    and the JSON-serialisable parameters that were applied, stored with the sample. The image
    has the input's type (an HxWx3 uint8 RGB array for an array input)."""

    image: Image.Image | np.ndarray | None
    params: dict[str, Any] = field(default_factory=dict)
    skip_reason: str | None = None


class Scenario(Protocol):
    """`level` says whether one output serves all questions of an image ("image") or each
    question gets its own ("record"). A scenario may also set ``takes_arrays = True``: the
    stage then hands it numpy arrays instead of PIL images (`hvgen.store.pixels`)."""

    name: ClassVar[str]
    level: ClassVar[Literal["image", "record"]]

    def apply_batch(self, inputs: list[ScenarioInput]) -> list[ScenarioOutput]: ...
