"""T2IShield's CDA: the covariance features on hand-made maps, Fisher's discriminant on
synthetic features, the detector file (training it on the backdoored tiny SDXL: test_scan.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hvgen.analysis.cda import (
    CdaDetector,
    cda_features,
    fit_cda,
    load_detector,
    save_detector,
    training_accuracy,
)
from hvgen.errors import HvgenError


def test_features_are_the_log_of_the_maps_largest_variances() -> None:
    """The PCA scores are uncorrelated, so the matrix log is diagonal and holds the log of the
    covariance's top-20 eigenvalues — computed here directly from the flattened maps."""
    maps = np.random.default_rng(0).random((76, 6, 6))
    features = cda_features(maps).reshape(20, 20)
    assert np.allclose(features, np.diag(np.diag(features)), atol=1e-8)
    top = np.sort(np.linalg.eigvalsh(np.cov(maps.reshape(76, -1), rowvar=False)))[::-1][:20]
    assert np.allclose(np.sort(np.diag(features))[::-1], np.log(top))


def test_features_ignore_token_order_and_see_assimilation() -> None:
    rng = np.random.default_rng(1)
    maps = rng.random((76, 8, 8))
    assert np.allclose(cda_features(maps), cda_features(maps[rng.permutation(76)]), atol=1e-8)
    # maps pulled toward one shape: every variance shrinks, so every log-eigenvalue drops
    assimilated = 0.9 * maps[:1] + 0.1 * maps
    assert (
        np.diag(cda_features(assimilated).reshape(20, 20)) < np.diag(cda_features(maps).reshape(20, 20))
    ).all()


def test_fisher_discriminant_separates_held_out_samples() -> None:
    rng = np.random.default_rng(2)
    shift = np.zeros(30)
    shift[:3] = 3.0

    def draw(n: int, offset: np.ndarray) -> np.ndarray:
        return rng.normal(size=(n, 30)) + offset

    detector = fit_cda(draw(20, shift), draw(40, 0))
    assert training_accuracy(detector, draw(200, shift), draw(200, 0)) > 0.95
    # the decision value is signed: backdoor side positive
    assert detector.decision(shift * 2) > 0 > detector.decision(-shift)


def test_fit_needs_enough_prompts_of_each_kind() -> None:
    with pytest.raises(HvgenError, match="at least 5 backdoor and 5 benign"):
        fit_cda(np.zeros((4, 4)), np.ones((10, 4)))


def test_detector_file_round_trip_and_damage(tmp_path: Path) -> None:
    detector = CdaDetector([0.5] * 4, -1.0, [0.0] * 4, [1.0] * 4, 2, {"model": "m"})
    path = tmp_path / "cda.json"
    save_detector(path, detector)
    assert load_detector(path) == detector
    path.write_text(json.dumps({"format": "hvgen-cda-1", "weights": [1.0]}), encoding="utf-8")
    with pytest.raises(HvgenError, match="not a CDA detector hvgen wrote"):
        load_detector(path)
    with pytest.raises(HvgenError, match="no such file.*--train-cda"):
        load_detector(tmp_path / "missing.json")


def test_train_cda_needs_benign_prompts_and_an_output(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "trigger.txt"
    prompts.write_text("a\n", encoding="utf-8")
    from hvgen.cli import main

    with pytest.raises(SystemExit) as done:
        main(["scan", "tiny", "--train-cda", str(prompts)])
    assert done.value.code == 2
    assert "give all three" in capsys.readouterr().err
