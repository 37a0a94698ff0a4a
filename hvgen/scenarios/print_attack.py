"""Print-attack scenario: a wrong answer written over the image (typographic attack).

Reproduces Dysca's ``print_attack.py``: one text, random font size / colour / opacity /
rotation / offset from the centre, drawn on a transparent overlay that is rotated (with
expansion), resized back to the image size and alpha-composited. Differences, on purpose:

* the text is ``record["foil"]``, a wrong answer chosen by the planner, so the scenario never
  prints the correct answer (the original re-drew a distractor here, and for free-form
  questions printed the previous caption's keywords);
* every pixel quantity (font size, offset) is scaled by ``image_width / 1024`` — the original
  assumed 1024² SDXL images, and a 64² test image should get proportionally sized text;
* opacity 256 in the original's list is 255 (the maximum of an 8-bit alpha channel);
* the font is DejaVu Sans Bold (shipped with the package, Bitstream Vera licence) instead of
  Arial, which cannot be redistributed;
* randomness comes from the record seed, not a hard-coded ``set_seed(42)``.

A change that draws other text or pixels for the same record bumps ``PRINT_ATTACK_VERSION``
(``hvgen.scenarios.versions``): a resumed run then redoes the outputs of the older version.
"""

from __future__ import annotations

import functools
import io
import random
from importlib.resources import files
from typing import Any, ClassVar, Literal

from PIL import Image, ImageDraw, ImageFont

from hvgen.scenarios.base import ScenarioInput, ScenarioOutput

__all__ = ["ALPHAS", "COLOURS", "FONT_SIZES", "OFFSETS", "ROTATIONS", "PrintAttackScenario", "draw_text"]

REFERENCE_WIDTH = 1024
"""Image width the original's pixel values assume."""
FONT_SIZES = (112, 128, 144, 160)
COLOURS: tuple[tuple[int, int, int], ...] = (
    (0, 0, 255),
    (255, 165, 0),
    (255, 255, 0),
    (0, 128, 0),
    (0, 255, 255),
    (255, 0, 0),
    (128, 0, 128),
    (255, 255, 255),
    (0, 0, 0),
)
ALPHAS = (102, 153, 204, 255)
ROTATIONS = (0, -15, 15, -25, 25, -35, 35)
OFFSETS = (-256, -128, 0, 128, 256)
FONT_FILE = "DejaVuSans-Bold.ttf"


@functools.lru_cache(maxsize=1)
def _font_bytes() -> bytes:
    """The packaged font file, read through importlib.resources so it also works from an
    installed (even zipped) wheel."""
    return (files("hvgen.assets") / "fonts" / FONT_FILE).read_bytes()


@functools.lru_cache(maxsize=64)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(io.BytesIO(_font_bytes()), size=size)


def draw_text(
    image: Image.Image,
    text: str,
    *,
    font_size: int,
    colour: tuple[int, int, int],
    alpha: int,
    rotation: float,
    offset: tuple[int, int],
) -> Image.Image:
    """Composite `text` over `image` exactly as the original: centred + `offset` on a
    transparent overlay, overlay rotated by `rotation`° with expansion and resized back to the
    image size, then alpha-composited. All values are in pixels of `image`."""
    base = image.convert("RGBA")
    width, height = base.size
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    font = _font(max(1, int(font_size)))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    x = (width - (right - left)) / 2 - left + offset[0]
    y = (height - (bottom - top)) / 2 - top + offset[1]
    draw.text((x, y), text, font=font, fill=(*colour, int(alpha)))
    if rotation:
        overlay = overlay.rotate(rotation, resample=Image.Resampling.BILINEAR, expand=True)
        overlay = overlay.resize(base.size, resample=Image.Resampling.BILINEAR)
    return Image.alpha_composite(base, overlay).convert("RGB")


def _norm(text: Any) -> str:
    return " ".join(str(text).split()).casefold()


class PrintAttackScenario:
    """Writes the record's foil (a wrong answer) over the image; one output per record.

    Skipped (image ``None`` + reason) for OCR records — the printed word would collide with
    the scene text being asked about, as in the original — and for records without a foil.
    """

    name: ClassVar[str] = "print"
    level: ClassVar[Literal["image", "record"]] = "record"
    # Pure per-image CPU work: the stage may spread it over processes.
    cpu_bound: ClassVar[bool] = True

    def apply_batch(self, inputs: list[ScenarioInput]) -> list[ScenarioOutput]:
        return [self._apply_one(item) for item in inputs]

    def _apply_one(self, item: ScenarioInput) -> ScenarioOutput:
        record = item.record or {}
        if record.get("task") == "OCR":
            return ScenarioOutput(
                image=None, skip_reason="OCR task: printed text would mix with the scene text"
            )
        foil = record.get("foil")
        if not isinstance(foil, str) or not foil.strip():
            return ScenarioOutput(image=None, skip_reason="record has no foil (wrong answer) to print")
        correct = {_norm(record[k]) for k in ("answer", "truth") if record.get(k) is not None}
        if _norm(foil) in correct:
            # The planner guarantees this never happens; refuse rather than print the answer.
            return ScenarioOutput(image=None, skip_reason="foil equals the correct answer")

        rng = random.Random(int(item.seed))
        scale = item.image.width / REFERENCE_WIDTH
        nominal_size = rng.choice(FONT_SIZES)
        colour = rng.choice(COLOURS)
        alpha = rng.choice(ALPHAS)
        rotation = rng.choice(ROTATIONS)
        nominal_offset = (rng.choice(OFFSETS), rng.choice(OFFSETS))
        font_size = max(1, round(nominal_size * scale))
        offset = (round(nominal_offset[0] * scale), round(nominal_offset[1] * scale))
        image = draw_text(
            item.image,
            foil,
            font_size=font_size,
            colour=colour,
            alpha=alpha,
            rotation=rotation,
            offset=offset,
        )
        params = {
            "text": foil,
            "font_size": font_size,
            "colour": list(colour),
            "alpha": alpha,
            "rotation": rotation,
            "offset": list(offset),
            "scale": round(scale, 6),
        }
        return ScenarioOutput(image=image, params=params)
