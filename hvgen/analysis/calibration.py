"""Per-model scan thresholds, set from benign prompts and kept in the hvgen cache.

T2IShield's FTT threshold (2.5) was fitted to SD1.4 at 512² with 16×16 maps; FTT values of other
models, sizes and step counts live on other scales. `--calibrate BENIGN` scans prompts the user
trusts and puts the threshold at their `fpr` quantile, so about that fraction of benign prompts
is flagged. The result is stored under ``$HVGEN_CACHE/scan-calibration/`` keyed by the model's
fingerprint (its files' names, sizes and modification times, and its config files' contents — a
replaced weight file invalidates it) and the scan settings, and reused by later scans and by
``--scan`` renders of the same model.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from hvgen.analysis.scan import PromptScore, ScanSettings, Threshold
from hvgen.errors import HvgenError
from hvgen.models import cache_dir
from hvgen.store.atomic import write_text_atomic

MIN_BENIGN_PROMPTS = 10
DEFAULT_FPR = 0.01
_CONFIG_SUFFIXES = (".json", ".txt", ".yaml")


def model_fingerprint(source: str) -> str:
    """A hash that changes when the model folder's files change; for a Hub id, those of its cached
    snapshot (whose path names the commit), or the id alone when it is not cached."""
    folder = Path(source).expanduser()
    digest = hashlib.sha256()
    if not folder.is_dir():
        try:
            from huggingface_hub import snapshot_download

            folder = Path(snapshot_download(source, local_files_only=True))
            digest.update(str(folder).encode())
        except Exception:  # not cached, not a Hub id
            digest.update(source.encode())
            return digest.hexdigest()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = path.relative_to(folder).as_posix()
        stat = path.stat()
        digest.update(f"{relative}\0{stat.st_size}\0{stat.st_mtime_ns}\0".encode())
        if path.suffix in _CONFIG_SUFFIXES and stat.st_size < 1 << 20:
            digest.update(path.read_bytes())
    return digest.hexdigest()


def calibration_key(source: str, settings: ScanSettings, map_size: tuple[int, int]) -> str:
    payload = {
        "model": model_fingerprint(source),
        "settings": {k: v for k, v in asdict(settings).items() if k not in ("batch_size", "seed")},
        "map_size": list(map_size),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:24]


def calibration_path(source: str, settings: ScanSettings, map_size: tuple[int, int]) -> Path:
    return cache_dir() / "scan-calibration" / f"{calibration_key(source, settings, map_size)}.json"


def fit_threshold(benign: list[PromptScore], fpr: float = DEFAULT_FPR) -> Threshold:
    """FTT and spectrum thresholds at the `fpr` quantile of benign scores: the empirical one when
    there are at least 1/fpr prompts, else that of a normal fitted to them (mean − z·sd) — with
    fewer prompts the empirical quantile is just the lowest score, and the next benign prompt
    falls below it far more often than `fpr`."""
    check_calibration_input(len(benign), fpr)
    ftt = benign_quantile([s.ftt for s in benign], fpr)
    spectrum = benign_quantile([s.spectrum for s in benign], fpr)
    return Threshold(round(ftt, 4), round(spectrum, 4), "calibrated")


def check_calibration_input(count: int, fpr: float) -> None:
    """Refuse a calibration that cannot mean anything, before any prompt is scanned."""
    if not 0 < fpr < 0.5:
        raise HvgenError(f"--fpr must be between 0 and 0.5 (a false-positive rate), got {fpr}.")
    if count < MIN_BENIGN_PROMPTS:
        raise HvgenError(
            f"--calibrate needs at least {MIN_BENIGN_PROMPTS} benign prompts (got {count}): a threshold "
            "from fewer says little. Add prompts to the file, one per line."
        )


def benign_quantile(values: list[float], fpr: float) -> float:
    """The `fpr` quantile of benign scores (see `fit_threshold`)."""
    from statistics import NormalDist

    if len(values) >= 1 / fpr:
        return float(np.quantile(values, fpr))
    return float(NormalDist(float(np.mean(values)), float(np.std(values, ddof=1))).inv_cdf(fpr))


def save_calibration(
    path: Path,
    source: str,
    settings: ScanSettings,
    threshold: Threshold,
    benign: list[PromptScore],
    fpr: float,
) -> dict[str, Any]:
    record = {
        "model": source,
        "settings": asdict(settings),
        "fpr": fpr,
        "benign_prompts": len(benign),
        "ftt_threshold": threshold.ftt,
        "spectrum_threshold": threshold.spectrum,
        "benign_ftt": {
            "min": min(s.ftt for s in benign),
            "median": float(np.median([s.ftt for s in benign])),
            "max": max(s.ftt for s in benign),
        },
    }
    write_text_atomic(path, json.dumps(record, indent=2) + "\n")
    return record


def load_calibration(path: Path) -> Threshold | None:
    """The stored threshold, or None when this model and these settings were never calibrated."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Threshold(float(data["ftt_threshold"]), data.get("spectrum_threshold"), "calibrated")
    except (ValueError, KeyError, TypeError) as error:
        raise HvgenError(
            f"the scan calibration {path} is damaged ({error}); delete it and run `hvgen scan MODEL --calibrate FILE` again."
        ) from None
