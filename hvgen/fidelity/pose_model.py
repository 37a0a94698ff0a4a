"""The pose estimator that re-extracts people from rendered images: a transformers ViTPose
(`VitPoseForPoseEstimation` + `VitPoseImageProcessor`), top-down from known person boxes.

``tiny`` is a random ViTPose built from a config (hidden 32, 2 layers, 64×48 input), saved with
`save_pretrained` into the hvgen cache and loaded back with `from_pretrained` like a real
checkpoint (e.g. ``usyd-community/vitpose-base-simple``), so tests run the production path offline.
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
BOX_MARGIN = 0.15
"""Each side of a person's keypoint box is widened by this share (keypoints lie inside a person,
and a top-down estimator expects the whole person in its crop)."""


def build_tiny_vitpose(directory: Path, seed: int = 0) -> Path:
    """A tiny random ViTPose (17 COCO keypoint heatmaps) and its processor, saved to `directory`."""
    import torch
    from transformers import (
        VitPoseBackboneConfig,
        VitPoseConfig,
        VitPoseForPoseEstimation,
        VitPoseImageProcessor,
    )

    backbone = VitPoseBackboneConfig(
        image_size=[64, 48], patch_size=[16, 16], hidden_size=32, num_hidden_layers=2,
        num_attention_heads=4, mlp_ratio=2, out_indices=[2],
    )  # fmt: skip
    config = VitPoseConfig(backbone_config=backbone, num_labels=17, use_simple_decoder=True, scale_factor=4)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = VitPoseForPoseEstimation(config).eval()
    model.save_pretrained(directory)
    VitPoseImageProcessor(size={"height": 64, "width": 48}).save_pretrained(directory)
    (directory / "hvgen_tiny.json").write_text(
        json.dumps({"version": TINY_VITPOSE_VERSION, "seed": seed}) + "\n"
    )
    return directory


def tiny_vitpose_path() -> Path:
    """The cached tiny ViTPose folder, built on first use."""
    return cached_model_folder(TINY_VITPOSE_VERSION, build_tiny_vitpose, "hvgen_tiny.json")


def load_pose_model(model: str, device: str) -> tuple[Any, Any]:
    """(VitPoseForPoseEstimation in eval mode, VitPoseImageProcessor) from `tiny`, a local folder or
    a Hub id in the local cache; any failure becomes one ModelLoadError saying what to pass."""
    from transformers import VitPoseForPoseEstimation, VitPoseImageProcessor

    source = str(tiny_vitpose_path()) if model == "tiny" else model
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


def estimate_people(
    estimator: Any, processor: Any, image: Any, boxes: list[list[float]], device: str
) -> list[list[list[float]]]:
    """ViTPose's 17 keypoints [x, y, score] (image pixels) for each box of one RGB image. A
    ViTPose++ (several experts) is asked for its COCO head, dataset index 0, as its model card says."""
    import torch

    if not boxes:
        return []
    inputs = processor(images=[image], boxes=[boxes], return_tensors="pt").to(device)
    if getattr(estimator.config.backbone_config, "num_experts", 1) > 1:  # ViTPose++: pick its COCO head
        inputs["dataset_index"] = torch.zeros(len(boxes), dtype=torch.long, device=device)
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
