"""Control-fidelity filter: drop conditioned images that do not follow their condition.

Each kept image rendered from a condition (a ControlNet run) gets its condition re-extracted
and scored by `hvgen.fidelity.score` (OKS for poses through a ViTPose, 68-point face landmarks by
NME through a whole-body ViTPose, edge F1 for canny, SSIM for the other extractors; boxes are not
scored). Scores are cached per (model,
image) in the catalog table ``fidelity_scores``, so a rebuild with another threshold costs no
inference. Images scoring below the threshold (reason ``low_fidelity``) and their questions
(``dropped_image``) are added to ``drops``; the card reports the score distribution.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from PIL import Image

from hvgen import ranges
from hvgen.errors import HvgenError
from hvgen.progress import progress_bar, warn
from hvgen.stages.build.image_drops import distribution, drop_images

DEFAULT_FIDELITY_THRESHOLD = 0.5
"""COCO's loosest OKS match (AP@0.5) as the default for every statistic."""
DROP_REASON = "low_fidelity"
FIDELITY_SCORES_DDL = "CREATE TABLE IF NOT EXISTS fidelity_scores (model VARCHAR, image_id VARCHAR, metric VARCHAR, score DOUBLE)"


def check_fidelity_threshold(threshold: float | None) -> None:
    """--fidelity-threshold is an agreement score: a finite number in [0, 1]."""
    ranges.FIDELITY_THRESHOLD.check("--fidelity-threshold", threshold)


class _PoseModels:
    """The pose estimators one scoring pass loads, each on first use, by the folder or id it comes
    from: a whole-body checkpoint that scores both people and faces is loaded once, not twice
    (`tiny` is two models: the 17-keypoint one for people, its whole-body twin for faces)."""

    def __init__(self, model: str, device: str) -> None:
        self.model, self.device = model, device
        self._loaded: dict[str, tuple[Any, Any]] = {}

    def get(self, wholebody: bool) -> tuple[Any, Any]:
        from hvgen.fidelity.pose_model import load_pose_model, pose_model_source

        source = pose_model_source(self.model, wholebody)
        if source not in self._loaded:
            self._loaded[source] = load_pose_model(self.model, self.device, wholebody=wholebody)
        return self._loaded[source]


class _LazyPose:
    """The pose estimator, loaded on the first pose to score (a canny run never loads it)."""

    def __init__(self, models: _PoseModels) -> None:
        self.models = models

    def __call__(self, image: Image.Image, boxes: list[list[float]]) -> list[list[list[float]]]:
        from hvgen.fidelity.pose_model import estimate_people

        return estimate_people(*self.models.get(wholebody=False), image, boxes, self.models.device)


class _LazyFaces:
    """The whole-body estimator for face landmarks, loaded on the first 68-point face; a model
    without a whole-body head leaves faces unscored, with one warning."""

    def __init__(self, models: _PoseModels) -> None:
        self.models, self.usable = models, True

    def __call__(self, image: Image.Image, boxes: list[list[float]]) -> list[list[list[float]]] | None:
        from hvgen.fidelity.pose_model import estimate_faces, is_wholebody

        if not self.usable:
            return None
        loaded = self.models.get(wholebody=True)
        if not is_wholebody(loaded[0]):
            self.usable = False
            warn(
                f"--fidelity-filter {self.models.model}: it has no whole-body head (133 COCO-WholeBody keypoints), so "
                "landmarks images stay unscored. Pass a VitPoseForPoseEstimation checkpoint with num_labels 133 "
                "to score them (the usyd-community/vitpose-plus-* conversions keep only their 17-keypoint COCO head)."
            )
            return None
        return estimate_faces(*loaded, image, boxes, self.models.device)


def pose_estimators(model: str, device: str) -> tuple[_LazyPose, _LazyFaces]:
    """The people and the face estimators of one scoring pass, sharing their loaded models."""
    models = _PoseModels(model, device)
    return _LazyPose(models), _LazyFaces(models)


def compute_fidelity_scores(
    con: duckdb.DuckDBPyConnection, run_dir: Path, model: str, device: str = "cpu"
) -> int:
    """Score the kept conditioned images that have no score under `model` yet; returns how many."""
    from hvgen.conditions.recipes import load_recipes, parse_condition
    from hvgen.fidelity.score import score_image
    from hvgen.stages.render import planned_conditions

    con.execute(FIDELITY_SCORES_DDL)
    conditions = planned_conditions(con)
    todo = [
        row
        for row in con.execute(
            """SELECT DISTINCT i.image_id, i.path, i.image_seed, r.condition_path FROM kept_images i
               JOIN renders r USING (image_id)
               WHERE r.condition_path IS NOT NULL AND NOT EXISTS
                 (SELECT 1 FROM fidelity_scores s WHERE s.model = ? AND s.image_id = i.image_id)
               ORDER BY i.image_id""",
            [model],
        ).fetchall()
        if row[0] in conditions
    ]
    if not todo:
        return 0
    recipes, (estimate, faces) = load_recipes(), pose_estimators(model, device)
    with progress_bar(f"control fidelity ({Path(model).name})", len(todo)) as advance:
        for image_id, path, seed, condition_path in todo:
            name, params = parse_condition(
                {"recipe": conditions[image_id][0], "params": conditions[image_id][1]}, f"image {image_id}"
            )
            try:
                with Image.open(run_dir / path) as image, Image.open(run_dir / condition_path) as condition:
                    result = score_image(image, condition, name, params, seed, recipes, estimate, faces)
            except (OSError, ValueError) as error:
                raise HvgenError(
                    f"image {image_id} ({run_dir / path}, condition {run_dir / condition_path}): cannot score its "
                    f"control fidelity ({error}). Re-render it (delete both files, then `hvgen render {run_dir}`)."
                ) from None
            con.execute(
                "INSERT INTO fidelity_scores VALUES (?, ?, ?, ?)",
                [model, image_id, result.metric, result.score],
            )
            advance(1)
    return len(todo)


def apply_fidelity_filter(con: duckdb.DuckDBPyConnection, model: str, threshold: float) -> dict[str, Any]:
    """Add drops for kept images scoring below `threshold` and for their records; returns the
    summary the card and the command print (score distribution per metric, drops, unscored)."""
    rows = con.execute(
        """SELECT s.image_id, s.metric, s.score FROM fidelity_scores s JOIN kept_images k USING (image_id)
           WHERE s.model = ? ORDER BY s.image_id""",
        [model],
    ).fetchall()
    low = [image_id for image_id, _, score in rows if score is not None and score < threshold]
    drop_images(con, low, DROP_REASON)
    metrics = sorted({metric for _, metric, score in rows if score is not None})
    return {
        "model": model,
        "threshold": threshold,
        "scored_images": sum(score is not None for _, _, score in rows),
        "unscored_images": sum(score is None for _, _, score in rows),
        "dropped_images": len(low),
        "metrics": [
            {"metric": metric, **distribution([s for _, m, s in rows if m == metric and s is not None])}
            for metric in metrics
        ],
    }
