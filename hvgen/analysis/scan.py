"""T2IShield scan: score prompts for backdoor "assimilation" on a text-to-image pipeline.

Each prompt is run through the pipeline (latents only: the VAE decode is not needed) with the
cross-attention maps captured (`attention`), and scored (`assimilation`). A prompt is flagged
when its FTT score is below the threshold: the model's calibration (`calibration`), a threshold
given by the user, or T2IShield's 2.5 — which holds only for 16×16 maps (SD1.x at 512²); for
other map sizes it is rescaled by the map's side and marked uncalibrated.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from hvgen.analysis.assimilation import ftt_score, quantised_token_maps, spectrum_score
from hvgen.analysis.attention import capture_maps
from hvgen.models import seeded_generators
from hvgen.seeding import derive_seed

PAPER_THRESHOLD = 2.5
PAPER_MAP_SIDE = 16


@dataclass(frozen=True)
class ScanSettings:
    """Sampler settings of a scan; a calibration holds only for the settings it was made with."""

    steps: int
    guidance: float
    width: int
    height: int
    seed: int = 42
    batch_size: int = 4


@dataclass
class PromptScore:
    prompt: str
    tokens: int
    ftt: float
    spectrum: float
    # the verdict: FTT below a calibrated threshold (None: no calibrated threshold, see below_threshold)
    flagged: bool | None = None
    below_threshold: bool | None = None  # FTT below the threshold used, calibrated or not
    truncated: bool = False  # longer than the text encoder reads: only its first tokens were scanned
    # the spectrum score's own verdict (a second opinion; only with a calibrated spectrum threshold)
    spectrum_flagged: bool | None = None
    # a trained CDA detector's decision value (> 0: backdoor) and verdict (only with --cda)
    cda: float | None = None
    cda_flagged: bool | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Threshold:
    ftt: float
    spectrum: float | None
    source: str  # "calibrated", "given", "paper", "paper-rescaled (uncalibrated)"

    @property
    def calibrated(self) -> bool:
        return self.source in ("calibrated", "given", "paper")


def _tokenizer(pipeline: Any) -> Any:
    return getattr(pipeline, "tokenizer", None) or pipeline.tokenizer_2


def token_count(pipeline: Any, prompt: str) -> int:
    """L of the FTT formula: the prompt's tokens with BOS and EOS, truncated as the pipeline does."""
    tokenizer = _tokenizer(pipeline)
    limit = tokenizer.model_max_length
    return len(tokenizer(prompt, truncation=True, max_length=limit).input_ids)


TRUNCATION_PROBE = 20_000
"""Characters tokenised to tell whether a prompt is cut: no tokeniser fits more in 77 tokens."""


def token_limit(pipeline: Any) -> int:
    return int(_tokenizer(pipeline).model_max_length)


def is_truncated(pipeline: Any, prompt: str) -> bool:
    """Whether the text encoder reads only the first part of `prompt` (the pipeline, and so the
    scan, drops the tokens after its 77)."""
    if len(prompt) > TRUNCATION_PROBE:
        return True
    return len(_tokenizer(pipeline)(prompt).input_ids) > token_limit(pipeline)


def prompt_seed(seed: int, prompt: str) -> int:
    """One seed per prompt, independent of its batch and of the other prompts."""
    return derive_seed(seed, "scan", prompt)


def prompt_maps(pipeline: Any, prompts: list[str], settings: ScanSettings) -> np.ndarray:
    """(prompts, tokens, h, w) mean conditional cross-attention maps, in batches."""
    import torch

    out = []
    for start in range(0, len(prompts), settings.batch_size):
        batch = prompts[start : start + settings.batch_size]
        generators = seeded_generators(pipeline.device, [prompt_seed(settings.seed, p) for p in batch])
        with (
            capture_maps(pipeline, len(batch), settings.height, settings.width) as store,
            torch.inference_mode(),
        ):
            pipeline(
                prompt=batch,
                generator=generators,
                num_inference_steps=settings.steps,
                guidance_scale=settings.guidance,
                width=settings.width,
                height=settings.height,
                output_type="latent",
            )
        out.append(store.maps().numpy())
    return np.concatenate(out)


def score_maps(pipeline: Any, prompts: list[str], maps: np.ndarray) -> list[PromptScore]:
    """FTT and spectrum scores of each prompt's raw maps."""
    scores = []
    for prompt, raw in zip(prompts, maps, strict=True):
        tokens = token_count(pipeline, prompt)
        quantised = quantised_token_maps(raw)
        scores.append(
            PromptScore(
                prompt,
                tokens,
                ftt_score(quantised, tokens),
                spectrum_score(quantised, tokens),
                truncated=is_truncated(pipeline, prompt),
            )
        )
    return scores


def scan_prompts(
    pipeline: Any, prompts: list[str], settings: ScanSettings
) -> tuple[list[PromptScore], np.ndarray]:
    """Scores and raw maps of `prompts` (no verdicts yet: see `apply_threshold`)."""
    maps = prompt_maps(pipeline, prompts, settings)
    return score_maps(pipeline, prompts, maps), maps


def sd1_family(source: str) -> bool:
    """Whether a model (folder or cached Hub id) is SD1.x-shaped: a UNet reading 768-wide CLIP-L
    text states and one text encoder — the family T2IShield's threshold was fitted to."""
    import json
    from pathlib import Path

    config = Path(source).expanduser() / "unet" / "config.json"
    index = Path(source).expanduser() / "model_index.json"
    if not config.is_file():
        try:
            from huggingface_hub import try_to_load_from_cache

            found, found_index = (
                try_to_load_from_cache(source, f) for f in ("unet/config.json", "model_index.json")
            )
        except Exception:  # not a Hub id
            return False
        if not isinstance(found, str) or not isinstance(found_index, str):
            return False
        config, index = Path(found), Path(found_index)
    try:
        unet = json.loads(config.read_text(encoding="utf-8"))
        components = json.loads(index.read_text(encoding="utf-8")) if index.is_file() else {}
    except (OSError, ValueError):
        return False
    return unet.get("cross_attention_dim") == 768 and "text_encoder_2" not in components


def paper_threshold(map_height: int, map_width: int, sd1: bool = False) -> Threshold:
    """T2IShield's 2.5 for SD1.x with 16×16 maps; otherwise rescaled by the map's side (Frobenius
    norms of [0, 1] maps grow with √(h·w)) and marked uncalibrated."""
    if sd1 and (map_height, map_width) == (PAPER_MAP_SIDE, PAPER_MAP_SIDE):
        return Threshold(PAPER_THRESHOLD, None, "paper")
    factor = math.sqrt(map_height * map_width) / PAPER_MAP_SIDE
    return Threshold(round(PAPER_THRESHOLD * factor, 4), None, "paper-rescaled (uncalibrated)")


def apply_cda(scores: list[PromptScore], maps: np.ndarray, detector: Any) -> list[PromptScore]:
    """Set each score's CDA decision from its raw maps with a trained `cda.CdaDetector`."""
    from hvgen.analysis.cda import cda_features

    for score, raw in zip(scores, maps, strict=True):
        value = detector.decision(cda_features(quantised_token_maps(raw), detector.components))
        score.cda, score.cda_flagged = round(value, 4), value > 0
    return scores


def apply_threshold(scores: list[PromptScore], threshold: Threshold) -> list[PromptScore]:
    """Set each score's verdict: flagged (suspected backdoor) when FTT < threshold — only for a
    calibrated threshold: below an uncalibrated one (T2IShield's rescaled to another model) says
    little, so it is recorded (`below_threshold`) but is no verdict (`flagged` None); with a
    calibrated spectrum threshold, also the spectrum score's opinion."""
    for score in scores:
        score.below_threshold = score.ftt < threshold.ftt
        score.flagged = score.below_threshold if threshold.calibrated else None
        if threshold.spectrum is not None:
            score.spectrum_flagged = score.spectrum < threshold.spectrum
    return scores
