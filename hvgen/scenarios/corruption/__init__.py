"""Corruption scenario: common image corruptions at controlled severities.

Two presets:

* ``dysca`` — the 11 corruptions of the original Dysca ``corruption.py`` at its single fixed
  severity each; one type is drawn per image. The original ran on 1024² SDXL images, so every
  parameter given in pixels (blur kernels, dot radii, hole sizes) is scaled by
  ``min(H, W) / 1024``: a 64² test image gets the same *relative* damage as a 1024² one.
* ``imagenet-c`` — the ImageNet-C families (Hendrycks & Dietterich 2019, parameter tables of the
  ``imagecorruptions`` package) at severities 1–5. Those tables were calibrated at 224², so
  pixel-sized parameters are scaled by ``min(H, W) / 224`` for the same reason. ``frost`` is not
  offered: it needs the six frost photographs shipped with ImageNet-C, and a procedural stand-in
  would silently differ from the benchmark people know.

Backends: albumentations wherever it implements the *same* corruption (GaussNoise and
ImageCompression for ``dysca``, GlassBlur, ZoomBlur, GaussianBlur, HueSaturationValue,
CoarseDropout, Rotate, Affine, plus its motion and defocus kernels and plasma fractal); its RNG
is replaced per call through ``set_random_state``, never read from global state. Hand-written
OpenCV/numpy kernels where albumentations lacks the corruption, models a different process, or
is slow at 1024²: Poisson noise without gamma linearisation, Gaussian speckle, per-channel
salt-and-pepper, ImageNet-C snow / fog blend / spatter / contrast / saturate / pixelate, the
Dysca coloured dots; for ``imagenet-c`` also Gaussian, speckle and shot noise through quantile
tables and salt-and-pepper through float32 geometric gaps (``noise.py``), JPEG through OpenCV
directly and ElasticTransform ported (both the same bytes as albumentations), motion lines as
exact integer run sums, large defocus disks by FFT (``fft_filter.py``). Each catalogue
description names its backend; each hand-written kernel's docstring says why. Against
imagecorruptions 1.1.2 at 224² (mean PSNR over 8 synthetic scenes, severities 1–5) every
shared type agrees within 0.6 dB except motion blur, ~1 dB stronger (a uniform line with
Hendrycks' mean squared displacement instead of his half-Gaussian weights). The table-sampled
noise matches imagecorruptions' per-pixel noise within 2 % in standard deviation and 0.6 levels
in mean (it rounds, imagecorruptions truncates); ``tests/test_corruption_fast_paths.py`` checks
these tolerances.

Throughput: see ``scripts/bench_corruption.py`` (same images, side by side with
imagecorruptions, CPU seconds). The scenario stage hands this scenario decoded arrays
(``takes_arrays``, ``hvgen.store.pixels``), so no PIL image is made between PNG and kernel.

Determinism: ``apply_corruption(image, name, severity, seed)`` is a pure function of its
arguments (same inputs → identical bytes), and the scenario calls it with the record seed, so a
stored ``(corruption, severity)`` plus the seed reproduces the sample.

Version: a change that gives other bytes for the same inputs (any kernel, sampler or rounding)
bumps ``CORRUPTION_VERSION`` (``hvgen.scenarios.versions``): each output's manifest line records
it, and a resumed run redoes the outputs of another version instead of mixing the two.
"""

from __future__ import annotations

import difflib
import threading
from collections.abc import Sequence
from typing import Any, ClassVar, Literal

import numpy as np
from PIL import Image

from hvgen.scenarios.base import ScenarioInput, ScenarioOutput
from hvgen.scenarios.corruption.dysca import DYSCA
from hvgen.scenarios.corruption.imagenet_c import IMAGENET_C
from hvgen.scenarios.corruption.kernels import SEVERITIES, CorruptionInfo, Entry, Kernel
from hvgen.scenarios.versions import CORRUPTION_VERSION

__all__ = [
    "CORRUPTIONS",
    "CORRUPTION_VERSION",
    "PRESETS",
    "CorruptionInfo",
    "CorruptionScenario",
    "apply_corruption",
    "corrupt_array",
]


_REGISTRY: dict[str, dict[str, Entry]] = {"dysca": DYSCA, "imagenet-c": IMAGENET_C}

PRESETS: dict[str, tuple[str, ...]] = {preset: tuple(table) for preset, table in _REGISTRY.items()}
"""Preset name → corruption names it offers (in catalogue order)."""

CORRUPTIONS: dict[str, CorruptionInfo] = {}
"""Corruption name → (family, description), over all presets (ImageNet-C wording first)."""
for _table in (IMAGENET_C, DYSCA):
    for _name, _entry in _table.items():
        CORRUPTIONS.setdefault(_name, _entry.info)


# --------------------------------------------------------------------------- public API


def _suggest(kind: str, name: str, valid: Sequence[str]) -> ValueError:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return ValueError(f"Unknown {kind} {name!r}.{hint} Valid: {', '.join(valid)}.")


def _check(preset: str, name: str, severity: int | None) -> None:
    if preset not in _REGISTRY:
        raise _suggest("corruption preset", preset, list(_REGISTRY))
    if name not in _REGISTRY[preset]:
        raise _suggest(f"corruption for preset {preset!r}", name, PRESETS[preset])
    if preset == "dysca":
        if severity is not None:
            raise ValueError("The 'dysca' preset has one fixed severity per corruption; pass severity=None.")
    elif severity not in SEVERITIES:
        raise ValueError(f"Severity must be an integer 1–5 for preset {preset!r}, got {severity!r}.")


_local = threading.local()


def _kernel(preset: str, name: str, severity: int | None, h: int, w: int) -> Kernel:
    """Build (once per thread) the kernel for this configuration: albumentations transforms are
    validated at construction (~0.1 ms) and keep mutable RNG state, so they are cached per thread
    rather than shared."""
    cache: dict[tuple[Any, ...], Kernel] | None = getattr(_local, "cache", None)
    if cache is None:
        cache = _local.cache = {}
    key = (preset, name, severity, h, w)
    kernel = cache.get(key)
    if kernel is None:
        if len(cache) > 512:
            cache.clear()
        kernel = cache[key] = _REGISTRY[preset][name].build(severity or 1, h, w)
    return kernel


def _rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(int(seed) % (1 << 64))


def _corrupt(
    arr: np.ndarray, name: str, severity: int | None, seed: int, preset: str
) -> tuple[np.ndarray, dict[str, Any]]:
    _check(preset, name, severity)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"Expected an HxWx3 uint8 RGB array, got {arr.dtype} {arr.shape}.")
    h, w = arr.shape[:2]
    out, drawn = _kernel(preset, name, severity, h, w)(np.ascontiguousarray(arr), _rng(seed))
    return out, drawn


def corrupt_array(
    arr: np.ndarray, name: str, severity: int | None, seed: int, *, preset: str = "imagenet-c"
) -> np.ndarray:
    """Array form of `apply_corruption` (HxWx3 uint8 RGB in and out), for benchmarks and callers
    that already hold decoded pixels."""
    return _corrupt(arr, name, severity, seed, preset)[0]


def apply_corruption(
    image: Image.Image, name: str, severity: int | None, seed: int, *, preset: str = "imagenet-c"
) -> Image.Image:
    """Corrupt `image` with corruption `name` at `severity` (1–5; ``None`` for the fixed-severity
    ``dysca`` preset). A pure function of its arguments: same inputs → identical pixels.
    The output is RGB (other modes are converted first)."""
    arr = np.asarray(image.convert("RGB") if image.mode != "RGB" else image)
    return Image.fromarray(_corrupt(arr, name, severity, seed, preset)[0])


class CorruptionScenario:
    """One corruption per image, drawn from the record seed.

    ``corruptions`` restricts the draw to a subset of the preset; ``severity`` fixes the
    severity (``imagenet-c`` only), else it is drawn uniformly from 1–5. The draw uses a stream
    separate from the corruption's own randomness, and the corruption is applied with the input
    seed itself, so ``apply_corruption(img, p["corruption"], p["severity"], seed,
    preset=p["preset"])`` reproduces a stored sample.
    """

    name: ClassVar[str] = "corruption"
    level: ClassVar[Literal["image", "record"]] = "image"
    # Pure per-image CPU work: the stage may spread it over processes.
    cpu_bound: ClassVar[bool] = True
    # The stage hands over decoded arrays and encodes the returned ones (hvgen.store.pixels).
    takes_arrays: ClassVar[bool] = True

    def __init__(
        self, preset: str = "dysca", corruptions: list[str] | None = None, severity: int | None = None
    ) -> None:
        if preset not in _REGISTRY:
            raise _suggest("corruption preset", preset, list(_REGISTRY))
        names = list(corruptions) if corruptions else list(PRESETS[preset])
        for n in names:
            if n not in _REGISTRY[preset]:
                raise _suggest(f"corruption for preset {preset!r}", n, PRESETS[preset])
        if preset == "dysca" and severity is not None:
            raise ValueError(
                "The 'dysca' preset has one fixed severity per corruption; do not pass --severity."
            )
        if severity is not None and severity not in SEVERITIES:
            raise ValueError(f"Severity must be an integer 1–5, got {severity!r}.")
        self.preset = preset
        self.corruptions = tuple(dict.fromkeys(names))
        self.severity = severity

    def choose(self, seed: int) -> tuple[str, int | None]:
        """The (corruption, severity) this seed selects."""
        rng = np.random.default_rng([int(seed) % (1 << 64), 0x636F7272])  # separate stream
        name = self.corruptions[int(rng.integers(len(self.corruptions)))]
        if self.preset == "dysca":
            return name, None
        severity = self.severity if self.severity is not None else int(rng.integers(1, 6))
        return name, severity

    def apply_batch(self, inputs: list[ScenarioInput]) -> list[ScenarioOutput]:
        """Corrupt each input; an array input (the stage's path, `takes_arrays`) gives an array
        output, a PIL input a PIL output."""
        outputs = []
        for item in inputs:
            name, severity = self.choose(item.seed)
            if isinstance(item.image, np.ndarray):
                arr = item.image
            else:
                arr = np.asarray(item.image.convert("RGB") if item.image.mode != "RGB" else item.image)
            out, drawn = _corrupt(arr, name, severity, item.seed, self.preset)
            params: dict[str, Any] = {"corruption": name, "severity": severity, "preset": self.preset}
            params.update(drawn)
            image = out if isinstance(item.image, np.ndarray) else Image.fromarray(out)
            outputs.append(ScenarioOutput(image=image, params=params))
        return outputs
