"""T2IShield's covariance discriminant analysis (CDA): a linear classifier of a prompt's
token-map covariance, trained on prompts known to trigger a backdoor and prompts known not to.

Features follow T2IShield's `detect_cda_uni.py`: a prompt's 76 token maps (uint8-quantised, each
flattened) → PCA with 20 components fitted on those maps alone → the 20×20 covariance of the
76×20 PCA scores → its matrix logarithm (eigendecomposition, log of the eigenvalues) → 400
numbers. A backdoor's assimilated maps have a concentrated spectrum, which the classifier learns.

The classifier is Fisher's linear discriminant (T2IShield uses scikit-learn's LDA with one
component; hvgen does the same algebra in NumPy), with the within-class covariance shrunk
toward its mean variance because 400 features outnumber the training prompts. CDA transfers
across models of a family: train it once on a model you backdoored yourself (or one known to
be), then apply it to the model you must trust (`hvgen scan SUSPECT --cda detector.json`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from hvgen.errors import HvgenError
from hvgen.store.atomic import write_text_atomic

COMPONENTS = 20
SHRINKAGE = 0.1
MIN_PROMPTS_PER_CLASS = 5
_EIGEN_FLOOR = 1e-10
FORMAT = "hvgen-cda-1"


def cda_features(maps: np.ndarray, components: int = COMPONENTS) -> np.ndarray:
    """(tokens, h, w) quantised maps (`assimilation.quantised_token_maps`) → the flattened matrix
    log of the covariance of their PCA scores ((components²,) values)."""
    if maps.ndim != 3:
        raise ValueError(f"token maps must be (tokens, height, width), got shape {maps.shape}")
    flat = maps.reshape(len(maps), -1).astype(np.float64)
    centred = flat - flat.mean(axis=0)
    # PCA through the SVD of the centred maps: rows of vt are the principal axes
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = np.zeros((components, flat.shape[1]))
    axes[: min(components, len(vt))] = vt[:components]
    scores = centred @ axes.T
    covariance = np.cov(scores, rowvar=False)
    values, vectors = np.linalg.eigh(covariance)
    logm = vectors @ np.diag(np.log(np.clip(values, _EIGEN_FLOOR, None))) @ vectors.T
    return logm.reshape(-1)


@dataclass(frozen=True)
class CdaDetector:
    """A trained CDA: standardise, project on `weights`, add `bias`; > 0 means backdoor."""

    weights: list[float]
    bias: float
    mean: list[float]
    scale: list[float]
    components: int
    trained_on: dict[str, object]

    def decision(self, features: np.ndarray) -> float:
        z = (np.asarray(features) - np.asarray(self.mean)) / np.asarray(self.scale)
        return float(z @ np.asarray(self.weights) + self.bias)

    def flags(self, features: np.ndarray) -> bool:
        return self.decision(features) > 0


def fit_cda(
    backdoor: np.ndarray, benign: np.ndarray, trained_on: dict[str, object] | None = None
) -> CdaDetector:
    """Fisher's discriminant between (n₁, d) backdoor and (n₀, d) benign feature rows, with the
    priors of the training counts in the bias (as scikit-learn's LDA predicts)."""
    if len(backdoor) < MIN_PROMPTS_PER_CLASS or len(benign) < MIN_PROMPTS_PER_CLASS:
        raise HvgenError(
            f"training CDA needs at least {MIN_PROMPTS_PER_CLASS} backdoor and {MIN_PROMPTS_PER_CLASS} benign "
            f"prompts (got {len(backdoor)} and {len(benign)}): add prompts to the files, one per line."
        )
    both = np.vstack([backdoor, benign])
    mean = both.mean(axis=0)
    scale = both.std(axis=0)
    scale[scale < 1e-12] = 1.0  # a feature constant over all prompts carries nothing
    one, zero = (backdoor - mean) / scale, (benign - mean) / scale
    within = (np.cov(one, rowvar=False) * (len(one) - 1) + np.cov(zero, rowvar=False) * (len(zero) - 1)) / (
        len(one) + len(zero) - 2
    )
    dims = within.shape[0]
    shrunk = (1 - SHRINKAGE) * within + SHRINKAGE * (np.trace(within) / dims + 1e-6) * np.eye(dims)
    centre_one, centre_zero = one.mean(axis=0), zero.mean(axis=0)
    weights = np.linalg.solve(shrunk, centre_one - centre_zero)
    bias = -float(weights @ (centre_one + centre_zero)) / 2 + float(np.log(len(one) / len(zero)))
    return CdaDetector(
        weights=weights.tolist(),
        bias=bias,
        mean=mean.tolist(),
        scale=scale.tolist(),
        components=int(round(np.sqrt(dims))),
        trained_on=dict(trained_on or {}, backdoor_prompts=len(backdoor), benign_prompts=len(benign)),
    )


def training_accuracy(detector: CdaDetector, backdoor: np.ndarray, benign: np.ndarray) -> float:
    right = sum(detector.flags(row) for row in backdoor) + sum(not detector.flags(row) for row in benign)
    return right / (len(backdoor) + len(benign))


def save_detector(path: Path, detector: CdaDetector) -> None:
    write_text_atomic(path, json.dumps({"format": FORMAT, **asdict(detector)}) + "\n")


def load_detector(path: Path) -> CdaDetector:
    """A detector written by `save_detector`, or one clear error saying what is wrong with the file."""
    if not path.is_file():
        raise HvgenError(
            f"--cda {path}: no such file. Train one with `hvgen scan MODEL --calibrate BENIGN --train-cda "
            f"BACKDOOR_PROMPTS --cda {path}`."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.pop("format", None) != FORMAT:
            raise ValueError(f"not an {FORMAT} detector")
        detector = CdaDetector(**data)
        if len(detector.weights) != detector.components**2 or len(detector.mean) != len(detector.weights):
            raise ValueError("its weights do not match its component count")
    except (ValueError, TypeError, UnicodeDecodeError) as error:
        raise HvgenError(f"--cda {path}: not a CDA detector hvgen wrote ({error}); train it again.") from None
    return detector
