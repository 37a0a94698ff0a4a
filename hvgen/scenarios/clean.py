"""The clean scenario: the rendered image itself (no copy is written)."""

from __future__ import annotations

from typing import ClassVar, Literal

from hvgen.scenarios.base import ScenarioInput, ScenarioOutput


class CleanScenario:
    name: ClassVar[str] = "clean"
    level: ClassVar[Literal["image", "record"]] = "image"
    # The stage points clean samples at the rendered file instead of writing a duplicate.
    identity: ClassVar[bool] = True

    def apply_batch(self, inputs: list[ScenarioInput]) -> list[ScenarioOutput]:
        return [ScenarioOutput(image=item.image, params={}) for item in inputs]
