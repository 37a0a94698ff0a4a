"""The pose estimator that re-extracts people and faces from rendered images: a transformers
ViTPose (`VitPoseForPoseEstimation` + `VitPoseImageProcessor`), top-down from known boxes.

People get the 17 COCO keypoints. Faces need a whole-body checkpoint (``num_labels`` 133, the
COCO-WholeBody order: 17 body, 6 feet, 68 face in iBUG-68 order at 23..90, 42 hands); a ViTPose++
(``num_experts`` > 1) is then run with its COCO-WholeBody expert, ``dataset_index`` 5 (transformers'
ViTPose docs: COCO 0, AiC 1, MPII 2, AP-10K 3, APT-36K 4, COCO-WholeBody 5). The dataset index
only picks the backbone's expert: transformers' ViTPose has one head, and the converted
``usyd-community/vitpose-plus-*`` checkpoints keep only their 17-keypoint COCO head.

``tiny`` is a random ViTPose built from a config (hidden 32, 2 layers, 64×48 input), saved with
`save_pretrained` into the hvgen cache and loaded back with `from_pretrained` like a real
checkpoint (e.g. ``usyd-community/vitpose-base-simple``), so tests run the production path offline;
its whole-body twin (`tiny_wholebody_path`) is a ViTPose++-style one (6 experts, 133 keypoints).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from hvgen.errors import ModelLoadError
from hvgen.hub_quiet import quiet_hub_download
from hvgen.models import cached_model_folder

TINY_VITPOSE_VERSION = "tiny-vitpose-v1"
"""Folder name of the cached tiny model; bump it whenever `build_tiny_vitpose` changes its output."""
TINY_WHOLEBODY_VERSION = "tiny-vitpose-wholebody-v1"
"""Folder name of the cached tiny whole-body model (`build_tiny_wholebody`)."""
WHOLEBODY_KEYPOINTS = 133
FACE_KEYPOINTS = slice(23, 91)
"""The 68 face keypoints (iBUG-68 order) among COCO-WholeBody's 133."""
COCO_INDEX, WHOLEBODY_INDEX = 0, 5
"""ViTPose++ dataset indices (MoE experts) of COCO and COCO-WholeBody, per transformers' docs."""
BOX_MARGIN = 0.15
"""Each side of a person's keypoint box is widened by this share (keypoints lie inside a person,
and a top-down estimator expects the whole person in its crop)."""
FACE_BOX_MARGIN = 0.25
"""Each side of a face's landmark box is widened by this share (hvgen's choice): the 68 points
stop at the brows and the jaw, and a whole-body estimator expects the whole head in its crop."""


def _build_tiny(
    directory: Path, seed: int, version: str, labels: int, experts: dict[str, int] | None = None
) -> Path:
    """A tiny random ViTPose with `labels` keypoint heatmaps (and MoE `experts` settings, if any)
    and its processor, saved to `directory`."""
    import torch
    from transformers import (
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessor,
    )

    backbone = VitPoseBackboneConfig(
        image_size=[64, 48], patch_size=[16, 16], hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, mlp_ratio=2, out_indices=[2], **(experts or {}),
    )  # fmt: skip
    config = VitPoseConfig(
        backbone_config=backbone, num_labels=labels, use_simple_decoder=True, scale_factor=4
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VitPoseForPoseEstimation(config).eval()
    model.save_pretrained(directory)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(directory)
    (directory / "hvgen_tiny.json").write_text(json.dumps({"version": version, "seed": seed}) + "\n")
    return directory


def build_tiny_vitpose(directory: Path, seed: int = 0) -> Path:
    """A tiny random ViTPose (17 COCO keypoint heatmaps) and its processor, saved to `directory`."""
    return _build_tiny(directory, seed, TINY_VITPOSE_VERSION, 17)


def build_tiny_wholebody(directory: Path, seed: int = 0) -> Path:
    """A tiny random ViTPose++-style model (6 experts, 133 COCO-WholeBody heatmaps), saved to `directory`."""
    return _build_tiny(
        directory, seed, TINY_WHOLEBODY_VERSION, WHOLEBODY_KEYPOINTS, {"num_experts": 6, "part_features": 8}
    )


def tiny_vitpose_path() -> Path:
    """The cached tiny ViTPose folder, built on first use."""
    return cached_model_folder(TINY_VITPOSE_VERSION, build_tiny_vitpose, "hvgen_tiny.json")


def tiny_wholebody_path() -> Path:
    """The cached tiny whole-body ViTPose folder, built on first use."""
    return cached_model_folder(TINY_WHOLEBODY_VERSION, build_tiny_wholebody, "hvgen_tiny.json")


def is_wholebody(estimator: Any) -> bool:
    """Whether a loaded ViTPose has a COCO-WholeBody head (133 keypoints, faces among them)."""
    return int(estimator.config.num_labels) == WHOLEBODY_KEYPOINTS


def pose_model_source(model: str, wholebody: bool = False) -> str:
    """The folder or Hub id `load_pose_model` reads: `model` itself, or for `tiny` the cached tiny
    model (its whole-body twin when `wholebody`). Two calls with one source get the same model."""
    if model != "tiny":
        return model
    return str(tiny_wholebody_path() if wholebody else tiny_vitpose_path())


def load_pose_model(model: str, device: str, wholebody: bool = False) -> tuple[Any, Any]:
    """(VitPoseForPoseEstimation in eval mode, VitPoseImageProcessor) from `tiny` (its whole-body
    twin when `wholebody`), a local folder or a Hub id in the local cache; any failure becomes one
    ModelLoadError saying what to pass."""
    from transformers import VitPoseForPoseEstimation, VitPoseImageProcessor

    source = pose_model_source(model, wholebody)
    try:
        with quiet_hub_download():
            estimator = VitPoseForPoseEstimation.from_pretrained(source).to(device).eval()
            processor = VitPoseImageProcessor.from_pretrained(source)
    except Exception as error:  # OSError (offline, missing), ValueError (not a ViTPose) ...
        reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
        raise ModelLoadError(
            f"--fidelity-filter {model}: cannot load a ViTPose pose estimator from {source} ({reason}). Pass a local "
            "folder or cached Hub id of a transformers VitPoseForPoseEstimation (e.g. "
            "usyd-community/vitpose-base-simple), or 'tiny' for the built-in tiny random one."
        ) from None
    estimator.requires_grad_(False)
    return estimator, processor


def person_box(person: Sequence[Sequence[float]], size: tuple[int, int]) -> list[float]:
    """COCO [x, y, w, h] around a person's labelled keypoints, widened by `BOX_MARGIN` on each
    side and clipped to the image (`size` = width, height); at least 1 pixel each way."""
    points = [p for p in person if p[2] > 0] or list(person)
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    pad_x, pad_y = (max(xs) - min(xs)) * BOX_MARGIN, (max(ys) - min(ys)) * BOX_MARGIN
    left, top = max(0.0, min(xs) - pad_x), max(0.0, min(ys) - pad_y)
    right, bottom = min(float(size[0]), max(xs) + pad_x), min(float(size[1]), max(ys) + pad_y)
    return [left, top, max(1.0, right - left), max(1.0, bottom - top)]


def face_box(face: Sequence[Sequence[float]], size: tuple[int, int]) -> list[float]:
    """COCO [x, y, w, h] around a face's landmarks, widened by `FACE_BOX_MARGIN` of their extent
    on each side and clipped to the image (`size` = width, height); at least 1 pixel each way."""
    xs, ys = [p[0] for p in face], [p[1] for p in face]
    pad_x, pad_y = (max(xs) - min(xs)) * FACE_BOX_MARGIN, (max(ys) - min(ys)) * FACE_BOX_MARGIN
    left, top = max(0.0, min(xs) - pad_x), max(0.0, min(ys) - pad_y)
    right, bottom = min(float(size[0]), max(xs) + pad_x), min(float(size[1]), max(ys) + pad_y)
    return [left, top, max(1.0, right - left), max(1.0, bottom - top)]


def estimate_faces(
    estimator: Any, processor: Any, image: Any, boxes: list[list[float]], device: str
) -> list[list[list[float]]]:
    """The 68 face keypoints [x, y, score] (image pixels, iBUG-68 order) a whole-body ViTPose
    finds in each face box of one RGB image; a ViTPose++ runs its COCO-WholeBody expert."""
    if not is_wholebody(estimator):
        raise ValueError(
            f"the pose model has {estimator.config.num_labels} keypoints, not COCO-WholeBody's 133"
        )
    return [
        points[FACE_KEYPOINTS]
        for points in _estimate(estimator, processor, image, boxes, device, WHOLEBODY_INDEX)
    ]


def estimate_people(
    estimator: Any, processor: Any, image: Any, boxes: list[list[float]], device: str
) -> list[list[list[float]]]:
    """ViTPose's 17 COCO keypoints [x, y, score] (image pixels) for each box of one RGB image. A
    ViTPose++ (several experts) runs its COCO expert, dataset index 0, as its model card says; a
    whole-body model its COCO-WholeBody one, whose first 17 keypoints are COCO's."""
    if is_wholebody(estimator):
        return [
            points[:17] for points in _estimate(estimator, processor, image, boxes, device, WHOLEBODY_INDEX)
        ]
    return _estimate(estimator, processor, image, boxes, device, COCO_INDEX)


def _estimate(
    estimator: Any, processor: Any, image: Any, boxes: list[list[float]], device: str, dataset: int
) -> list[list[list[float]]]:
    """Every keypoint [x, y, score] of the model for each box; a ViTPose++ runs expert `dataset`."""
    import torch

    if not boxes:
        return []
    inputs = processor(images=[image], boxes=[boxes], return_tensors="pt").to(device)
    if getattr(estimator.config.backbone_config, "num_experts", 1) > 1:  # ViTPose++: pick its expert
        inputs["dataset_index"] = torch.full((len(boxes),), dataset, dtype=torch.long, device=device)
    with torch.inference_mode():
        outputs = estimator(**inputs)
    results = processor.post_process_pose_estimation(outputs, boxes=[boxes])[0]
    return [
        [
            [float(x), float(y), float(s)]
            for (x, y), s in zip(r["keypoints"].tolist(), r["scores"].tolist(), strict=True)
        ]
        for r in results
    ]
