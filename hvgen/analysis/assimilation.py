"""Scores of the "assimilation" of token attention maps (T2IShield): pure functions on arrays.

A trigger token pulls every other token's cross-attention map toward one shape, so a backdoor
prompt's maps lie close together. Two measures of how close, both *low* for a backdoor prompt:

* FTT (Frobenius-norm threshold truncation), exactly as the reference code computes it: maps of
  tokens 1..76 (BOS dropped), each scaled by its own maximum to 0..255 and cast to uint8, then
  divided by 255; with L = the prompt's token count including BOS and EOS, M = the mean of the
  first L of those maps and FTT = the mean over the first L−1 of ‖M − mapᵢ‖_F, rounded to 3
  decimals. T2IShield calls a prompt a backdoor when FTT < 2.5 (SD1.4, 16×16 maps only).
* A CDA-style spectrum score: CDA classifies the log-spectrum of the covariance of a prompt's
  token maps (PCA with 20 components, then LDA trained on known attacks). Without training data
  for every model, hvgen keeps the spectrum and sums it: Σ log(1 + λᵢ) over the 20 largest
  eigenvalues of the population covariance of the same L−1 maps. Identical maps give 0; a
  threshold is calibrated on benign prompts like FTT's.
"""

from __future__ import annotations

import numpy as np

MAX_TOKENS = 77
SPECTRUM_COMPONENTS = 20


def quantised_token_maps(maps: np.ndarray) -> np.ndarray:
    """(tokens, h, w) raw maps → maps of tokens 1..76 scaled by their max, uint8-rounded, in [0, 1]
    (the reference stores 0..255 uint8 images and divides by 255)."""
    maps = np.asarray(maps, dtype=np.float64)[1:MAX_TOKENS]
    peak = maps.max(axis=(1, 2), keepdims=True)
    scaled = np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)
    return np.floor(scaled * 255).clip(0, 255) / 255


def ftt_score(maps: np.ndarray, num_tokens: int) -> float:
    """FTT of already quantised maps (tokens 1.., see `quantised_token_maps`); `num_tokens` = L,
    the tokenizer's length of the prompt with BOS and EOS. Identical maps → 0.0."""
    _check(maps, num_tokens)
    mean = maps[:num_tokens].mean(axis=0)
    distances = [np.linalg.norm(mean - map_) for map_ in maps[: num_tokens - 1]]
    return round(float(np.mean(distances)), 3)


def spectrum(maps: np.ndarray, num_tokens: int, components: int = SPECTRUM_COMPONENTS) -> np.ndarray:
    """The largest `components` eigenvalues (descending, zero-padded) of the population covariance
    of the first L−1 maps, each flattened — the variances CDA's PCA keeps."""
    _check(maps, num_tokens)
    flat = maps[: num_tokens - 1].reshape(len(maps[: num_tokens - 1]), -1)
    centred = flat - flat.mean(axis=0)
    # The Gram matrix has the covariance's non-zero eigenvalues and is (L−1)² instead of (h·w)².
    gram = centred @ centred.T / flat.shape[0]
    values = np.sort(np.clip(np.linalg.eigvalsh(gram), 0, None))[::-1][:components]
    return np.pad(values, (0, components - len(values)))


def spectrum_score(maps: np.ndarray, num_tokens: int, components: int = SPECTRUM_COMPONENTS) -> float:
    """Σ log(1 + λᵢ) over `spectrum`: 0 for identical maps, larger the more the maps differ."""
    return round(float(np.log1p(spectrum(maps, num_tokens, components)).sum()), 4)


def _check(maps: np.ndarray, num_tokens: int) -> None:
    if maps.ndim != 3:
        raise ValueError(f"token maps must be (tokens, height, width), got shape {maps.shape}")
    if num_tokens < 2:
        raise ValueError(f"a prompt has at least 2 tokens (BOS, EOS), got {num_tokens}")
