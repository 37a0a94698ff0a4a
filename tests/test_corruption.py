"""Corruption scenario: catalogue, determinism, severity ordering, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from hvgen.scenarios.base import ScenarioInput
from hvgen.scenarios.corruption import (
    CORRUPTIONS,
    PRESETS,
    CorruptionScenario,
    apply_corruption,
    corrupt_array,
)

# Corruptions whose output does not depend on the seed.
SEED_FREE = {"defocus_blur", "zoom_blur", "gaussian_blur", "brightness", "contrast", "pixelate"}
SEED_FREE |= {"jpeg_compression", "saturate"}


def natural_image(size: int = 224, width: int | None = None) -> Image.Image:
    """Smooth gradients + flat shapes + mild texture: enough structure for blur and noise to
    register, deterministic, no files."""
    w, h = width or size, size
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    xx, yy = xx / w, yy / h
    rgb = np.stack([200 * xx + 30, 180 * yy + 40, 120 * (1 - xx * yy) + 60], axis=-1)
    rgb += 8 * np.sin(xx * 40)[..., None] * np.cos(yy * 30)[..., None]
    im = Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8))
    draw = ImageDraw.Draw(im)
    draw.ellipse([0.15 * w, 0.2 * h, 0.55 * w, 0.6 * h], fill=(210, 50, 40))
    draw.rectangle([0.5 * w, 0.55 * h, 0.9 * w, 0.9 * h], fill=(30, 150, 70))
    draw.polygon([(0.1 * w, 0.95 * h), (0.3 * w, 0.65 * h), (0.45 * w, 0.95 * h)], fill=(240, 230, 90))
    return im.filter(ImageFilter.GaussianBlur(0.6))


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mse = max(float(((x - y) ** 2).mean()), 1e-10)
    return 10 * np.log10(255**2 / mse)


@pytest.fixture(scope="module")
def img224() -> Image.Image:
    return natural_image(224)


@pytest.fixture(scope="module")
def img96() -> Image.Image:
    return natural_image(96)


def test_catalogue_covers_both_presets() -> None:
    assert set(PRESETS) == {"dysca", "imagenet-c"}
    assert len(PRESETS["dysca"]) == 11
    expected_ic = {
        "gaussian_noise", "shot_noise", "impulse_noise", "speckle_noise",
        "defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "gaussian_blur",
        "snow", "fog", "brightness", "spatter",
        "contrast", "elastic_transform", "pixelate", "jpeg_compression", "saturate",
    }  # fmt: skip
    assert set(PRESETS["imagenet-c"]) == expected_ic
    for names in PRESETS.values():
        for name in names:
            family, description = CORRUPTIONS[name]
            assert family in {"noise", "blur", "weather", "digital", "geometric", "occlusion"}
            assert description


@pytest.mark.parametrize("name", PRESETS["dysca"])
def test_every_dysca_type_runs(name: str) -> None:
    image = natural_image(256)
    out = apply_corruption(image, name, None, seed=7, preset="dysca")
    assert out.size == image.size and out.mode == "RGB"
    assert out.tobytes() != image.tobytes()
    again = apply_corruption(image, name, None, seed=7, preset="dysca")
    assert again.tobytes() == out.tobytes()


@pytest.mark.parametrize("name", PRESETS["imagenet-c"])
def test_imagenet_c_deterministic(name: str, img96: Image.Image) -> None:
    a = apply_corruption(img96, name, 3, seed=123)
    b = apply_corruption(img96, name, 3, seed=123)
    assert a.tobytes() == b.tobytes()
    other = apply_corruption(img96, name, 3, seed=124)
    if name in SEED_FREE:
        assert other.tobytes() == a.tobytes()
    else:
        assert other.tobytes() != a.tobytes()


@pytest.mark.parametrize("name", [n for n in PRESETS["imagenet-c"] if n != "saturate"])
def test_psnr_falls_with_severity(name: str, img224: Image.Image) -> None:
    """At the 224² reference size the tables apply unscaled. Averaged over two seeds;
    neighbouring severities may tie within 0.5 dB (Hendrycks' own fog 3/4 and snow 2/3 do)."""
    curve = [
        np.mean([psnr(img224, apply_corruption(img224, name, s, seed=k)) for k in (1, 2)])
        for s in range(1, 6)
    ]
    assert curve[0] > curve[4] + 1.0, curve
    assert curve[0] > curve[2] > curve[4], curve
    for lo, hi in itertools.pairwise(curve):
        assert hi <= lo + 0.5, curve


def test_saturate_direction(img224: Image.Image) -> None:
    """Hendrycks' saturate table is not monotone in distortion: severities 1–2 desaturate,
    3–5 oversaturate increasingly."""

    def mean_sat(im: Image.Image) -> float:
        return float(np.asarray(im.convert("HSV"))[..., 1].mean())

    base = mean_sat(img224)
    sats = [mean_sat(apply_corruption(img224, "saturate", s, seed=0)) for s in range(1, 6)]
    assert sats[1] < sats[0] < base < sats[2] < sats[3] <= sats[4]


@pytest.mark.parametrize("name", PRESETS["imagenet-c"])
def test_small_non_square_images(name: str) -> None:
    image = natural_image(40, width=57)
    out = apply_corruption(image, name, 5, seed=3)
    assert out.size == (57, 40)


def test_non_rgb_input_is_converted(img96: Image.Image) -> None:
    rgba = img96.convert("RGBA")
    out = apply_corruption(rgba, "gaussian_noise", 2, seed=1)
    assert out.mode == "RGB"
    assert out.tobytes() == apply_corruption(img96, "gaussian_noise", 2, seed=1).tobytes()


def test_corrupt_array_matches_pil(img96: Image.Image) -> None:
    arr = np.asarray(img96)
    out = corrupt_array(arr, "snow", 4, seed=5)
    assert out.dtype == np.uint8 and out.shape == arr.shape
    assert np.array_equal(out, np.asarray(apply_corruption(img96, "snow", 4, seed=5)))


@pytest.fixture(scope="module")
def img448() -> Image.Image:
    return natural_image(448)


# pixelate/JPEG damage depends on content per pixel, which a larger render of the same scene
# has less of; they have no pixel-sized parameters to scale.
@pytest.mark.parametrize(
    "name", [n for n in PRESETS["imagenet-c"] if n not in {"pixelate", "jpeg_compression"}]
)
def test_damage_is_resolution_independent(name: str, img224: Image.Image, img448: Image.Image) -> None:
    """Pixel-sized parameters scale with the image: the same scene at 448² must be damaged about
    as much as at the 224² reference."""
    p224 = np.mean([psnr(img224, apply_corruption(img224, name, 3, seed=k)) for k in (1, 2)])
    p448 = np.mean([psnr(img448, apply_corruption(img448, name, 3, seed=k)) for k in (1, 2)])
    assert abs(p224 - p448) < 1.5, (p224, p448)


@pytest.mark.parametrize("name", ["spatter", "coarse_dropout", "rotate", "shear"])
def test_dysca_coverage_is_resolution_independent(name: str) -> None:
    small, large = natural_image(256), natural_image(1024)
    p_small = psnr(small, apply_corruption(small, name, None, seed=3, preset="dysca"))
    p_large = psnr(large, apply_corruption(large, name, None, seed=3, preset="dysca"))
    assert abs(p_small - p_large) < 2.0, (p_small, p_large)


# ----------------------------------------------------------------------------- scenario


def test_scenario_dysca_params_and_reproduction(img96: Image.Image) -> None:
    scenario = CorruptionScenario()
    assert scenario.name == "corruption" and scenario.level == "image"
    inputs = [ScenarioInput(image=img96, seed=s) for s in range(40)]
    outputs = scenario.apply_batch(inputs)
    assert len(outputs) == 40
    drawn = {o.params["corruption"] for o in outputs}
    assert len(drawn) >= 6  # one type per image, drawn from the seed
    for item, out in zip(inputs, outputs, strict=True):
        p = out.params
        assert p["preset"] == "dysca" and p["severity"] is None and p["corruption"] in PRESETS["dysca"]
        if p["corruption"] == "rotate":
            assert 10 <= p["angle"] <= 45
        if p["corruption"] == "shear":
            assert 0.10 <= p["shear"] <= 0.20
        again = apply_corruption(item.image, p["corruption"], p["severity"], item.seed, preset=p["preset"])
        assert again.tobytes() == out.image.tobytes()
    assert [o.image.tobytes() for o in scenario.apply_batch(inputs[:5])] == [
        o.image.tobytes() for o in outputs[:5]
    ]


def test_scenario_imagenet_c_subset_and_severity(img96: Image.Image) -> None:
    scenario = CorruptionScenario("imagenet-c", corruptions=["fog", "contrast"], severity=4)
    outs = scenario.apply_batch([ScenarioInput(image=img96, seed=s) for s in range(12)])
    assert {o.params["corruption"] for o in outs} == {"fog", "contrast"}
    assert {o.params["severity"] for o in outs} == {4}

    drawn = CorruptionScenario("imagenet-c").apply_batch(
        [ScenarioInput(image=img96, seed=s) for s in range(30)]
    )
    assert {o.params["severity"] for o in drawn} == {1, 2, 3, 4, 5}


# ----------------------------------------------------------------------------- errors


def test_unknown_corruption_suggests_closest(img96: Image.Image) -> None:
    with pytest.raises(ValueError, match="Did you mean 'gaussian_noise'") as err:
        apply_corruption(img96, "gausian_noise", 1, seed=0)
    assert "impulse_noise" in str(err.value)  # lists the valid names
    with pytest.raises(ValueError, match="Did you mean 'salt_pepper'"):
        CorruptionScenario("dysca", corruptions=["salt_peper"])
    with pytest.raises(ValueError, match="imagenet-c"):
        CorruptionScenario("imagenet_c")
    with pytest.raises(ValueError, match="frost"):
        apply_corruption(img96, "frost", 1, seed=0)  # not offered: message lists what is


def test_bad_severity(img96: Image.Image) -> None:
    with pytest.raises(ValueError, match="1–5"):
        apply_corruption(img96, "fog", 6, seed=0)
    with pytest.raises(ValueError, match="fixed severity"):
        apply_corruption(img96, "rotate", 3, seed=0, preset="dysca")
    with pytest.raises(ValueError, match="fixed severity"):
        CorruptionScenario("dysca", severity=2)
