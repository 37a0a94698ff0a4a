"""Print-attack scenario: the printed text is the foil, never the answer; skips; determinism."""

from __future__ import annotations

from importlib.resources import files

import numpy as np
import pytest
from PIL import Image, ImageDraw

from hvgen.scenarios.base import ScenarioInput
from hvgen.scenarios.print_attack import (
    ALPHAS,
    COLOURS,
    FONT_SIZES,
    OFFSETS,
    ROTATIONS,
    PrintAttackScenario,
    draw_text,
)


def mc_record(i: int = 0, **overrides: object) -> dict:
    options = ["cat", "dog", "cow", "owl"]
    answer_index = i % 4
    record = {
        "id": f"r{i}",
        "question_type": "multi choice",
        "options": options,
        "answer": options[answer_index],
        "answer_index": answer_index,
        "truth": options[answer_index],
        "foil": options[(answer_index + 1 + i % 3) % 4],
        "task": "recognition",
    }
    record.update(overrides)
    return record


def scene(size: int = 64) -> Image.Image:
    im = Image.new("RGB", (size, size), (120, 160, 200))
    ImageDraw.Draw(im).ellipse([size // 4, size // 4, 3 * size // 4, 3 * size // 4], fill=(90, 60, 30))
    return im


def test_contract_attributes() -> None:
    assert PrintAttackScenario.name == "print"
    assert PrintAttackScenario.level == "record"


def test_prints_foil_never_answer() -> None:
    scenario = PrintAttackScenario()
    records = [mc_record(i) for i in range(24)]
    records += [
        {"id": "tf", "question_type": "true or false", "options": ["True", "False"], "answer": "False",
         "answer_index": 1, "truth": "sunflower", "foil": "cactus", "task": "recognition"},
        {"id": "ff", "question_type": "free form", "options": [], "answer": "owl, lawn background",
         "truth": "owl", "foil": "parrot", "task": "recognition"},
    ]  # fmt: skip
    image = scene()
    outs = scenario.apply_batch(
        [ScenarioInput(image=image, seed=100 + k, record=r) for k, r in enumerate(records)]
    )
    assert len(outs) == len(records)
    for record, out in zip(records, outs, strict=True):
        assert out.skip_reason is None and out.image is not None
        assert out.params["text"] == record["foil"]
        assert out.params["text"] not in (record["answer"], record["truth"])
        assert out.image.size == image.size and out.image.mode == "RGB"
        assert out.image.tobytes() != image.tobytes()


def test_params_follow_original_choices_scaled_to_width() -> None:
    scenario = PrintAttackScenario()
    for size in (64, 1024):
        scale = size / 1024
        for seed in range(20):
            p = scenario.apply_batch([ScenarioInput(scene(size), seed, mc_record(seed))])[0].params
            assert p["font_size"] in {max(1, round(f * scale)) for f in FONT_SIZES}
            assert tuple(p["colour"]) in COLOURS
            assert p["alpha"] in ALPHAS
            assert p["rotation"] in ROTATIONS
            allowed = {round(o * scale) for o in OFFSETS}
            assert p["offset"][0] in allowed and p["offset"][1] in allowed
            assert p["scale"] == pytest.approx(scale)


def test_text_is_proportional_on_small_images() -> None:
    """On 64² the text must cover the same fraction of the image as on 1024²: compare the
    bounding box of the changed pixels relative to the image side."""
    boxes = []
    for size in (64, 1024):
        base = Image.new("RGB", (size, size), (128, 128, 128))
        out = draw_text(base, "dog", font_size=round(144 * size / 1024), colour=(0, 0, 0), alpha=255,
                        rotation=0, offset=(0, 0))  # fmt: skip
        ys, xs = np.nonzero(np.any(np.asarray(out) != np.asarray(base), axis=-1))
        boxes.append(((xs.max() - xs.min() + 1) / size, (ys.max() - ys.min() + 1) / size))
    (w64, h64), (w1k, h1k) = boxes
    assert 0.1 < w1k < 0.5 and 0.05 < h1k < 0.3
    assert w64 == pytest.approx(w1k, rel=0.2) and h64 == pytest.approx(h1k, rel=0.25)


def test_deterministic_per_seed() -> None:
    scenario = PrintAttackScenario()
    record, image = mc_record(1), scene(96)
    a = scenario.apply_batch([ScenarioInput(image, 42, record)])[0]
    b = scenario.apply_batch([ScenarioInput(image, 42, record)])[0]
    assert a.params == b.params and a.image.tobytes() == b.image.tobytes()
    others = [
        scenario.apply_batch([ScenarioInput(image, s, record)])[0].image.tobytes() for s in range(43, 53)
    ]
    assert len(set(others)) >= 5
    assert sum(o != a.image.tobytes() for o in others) >= 9


def test_skips_ocr_and_missing_foil() -> None:
    scenario = PrintAttackScenario()
    image = scene()
    cases = [
        mc_record(0, task="OCR"),
        mc_record(0, foil=None),
        mc_record(0, foil="  "),
        {k: v for k, v in mc_record(0).items() if k != "foil"},
        mc_record(0, foil="Cat"),  # equals the answer up to case: refuse
        None,
    ]
    outs = scenario.apply_batch([ScenarioInput(image, 1, r) for r in cases])
    assert all(o.image is None and o.skip_reason for o in outs)
    assert "OCR" in outs[0].skip_reason
    assert "foil" in outs[1].skip_reason


def test_font_ships_with_package() -> None:
    fonts = files("hvgen.assets") / "fonts"
    assert (fonts / "DejaVuSans-Bold.ttf").is_file()
    assert "Bitstream" in (fonts / "LICENSE_DEJAVU").read_text()
