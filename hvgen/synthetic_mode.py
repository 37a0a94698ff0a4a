"""`SyntheticMode`: what a photograph-reading generator needs to also render in a `--synthetic`
run (HERM, Face QA): copied images in a normal run (the supply
stage), rendered ones in a synthetic run (the render stage), decided per run from its options.

The generator declares the "text_to_image" option group (its --model, --controlnet ... are
offered), calls `choose_images(options)` in `__init__`, and plans records with a `prompt` the
model renders when synthetic, a file name the supply stage copies otherwise.
"""

from __future__ import annotations

from typing import Any, ClassVar


class SyntheticMode:
    """Mixin for a `Generator`: rendered images when `options[synthetic_option]`, else supplied."""

    synthetic_option: ClassVar[str] = "synthetic"
    synthetic: bool = False
    supplies_images: bool = True
    # The condition recipe a synthetic run's records carry for the ControlNet (None: text only).
    synthetic_condition: ClassVar[str | None] = None

    @classmethod
    def photographic(cls, options: dict[str, Any]) -> bool:
        """A synthetic run renders: it has image seeds to redraw, no photograph twins."""
        return not options.get(cls.synthetic_option)

    @classmethod
    def planned_condition(cls, options: dict[str, Any]) -> str | None:
        """A synthetic run plans `synthetic_condition` images; otherwise a `condition` option
        names them (Face QA's --condition, which the generator refuses without --synthetic)."""
        synthetic = cls.synthetic_condition if options.get(cls.synthetic_option) else None
        return synthetic or options.get("condition") or None

    def choose_images(self, options: dict[str, Any]) -> bool:
        """Set this run's mode from its options; True when it renders."""
        self.synthetic = bool(options.get(self.synthetic_option))
        self.supplies_images = not self.synthetic
        return self.synthetic
