"""A pose bank derived from a COCO person keypoints file by statistics, so `--synthetic` people
can follow the poses real people take without a photograph in the release: each annotated
person with all 17 keypoints labelled is normalised (hip midpoint at (0, 0.5), the shoulder-to-
hip length scaled to 0.32 body heights, the standard proportion the shipped bank uses), the
normalised skeletons are clustered by k-means (SciPy's `kmeans2`, k-means++ start, seeded), and
each cluster becomes one pose: its mean skeleton and, per keypoint, its members' spread (the
RMS distance to the mean per axis, capped at `pose_bank.MAX_SPREAD`).

The result is a pose bank file `load_pose_bank` reads (see templates/herm/pose_bank.yaml for
the shape); its `source` says which file, how many people and clusters it came from.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from hvgen.conditions.drawing import COCO_KEYPOINTS
from hvgen.conditions.pose_bank import MAX_SPREAD
from hvgen.errors import HvgenError

TORSO = 0.32
"""Shoulder midpoint to hip midpoint in body heights (shoulders at ~0.18, hips at ~0.50)."""
HIPS_AT = 0.5
MIN_MEMBERS = 3
"""A cluster of fewer people is too thin for a spread; it is left out (and counted)."""
_LEFT_SHOULDER, _RIGHT_SHOULDER = (
    COCO_KEYPOINTS.index("left_shoulder"),
    COCO_KEYPOINTS.index("right_shoulder"),
)
_LEFT_HIP, _RIGHT_HIP = COCO_KEYPOINTS.index("left_hip"), COCO_KEYPOINTS.index("right_hip")


def normalise(points: np.ndarray) -> np.ndarray | None:
    """17 × 2 pixel keypoints → body-height units with the hips' midpoint at (0, HIPS_AT); None
    when the torso is shorter than a pixel (no scale to take)."""
    shoulders = (points[_LEFT_SHOULDER] + points[_RIGHT_SHOULDER]) / 2
    hips = (points[_LEFT_HIP] + points[_RIGHT_HIP]) / 2
    torso = float(np.hypot(*(shoulders - hips)))
    if torso < 1.0:
        return None
    return (points - hips) * (TORSO / torso) + np.array([0.0, HIPS_AT])


def complete_people(path: Path) -> list[np.ndarray]:
    """The normalised skeletons of the non-crowd people of a COCO keypoints file with all 17
    keypoints labelled, in (image id, person id) order."""
    from hvgen.readers.coco import read_people

    data = read_people(path)
    skeletons = []
    for entry in sorted(data.images.values(), key=lambda e: e.image.id):
        for person in sorted(entry.people, key=lambda p: p.id):
            kp = person.keypoints
            if person.iscrowd or any(name not in kp for name in COCO_KEYPOINTS):
                continue
            skeleton = normalise(np.array([kp[name][:2] for name in COCO_KEYPOINTS], dtype=np.float64))
            if skeleton is not None and np.all(np.abs(skeleton) <= 2):  # the bank's coordinate limit
                skeletons.append(skeleton)
    return skeletons


def derive_pose_bank(skeletons: list[np.ndarray], clusters: int, seed: int, source: str) -> dict[str, Any]:
    """The bank of `clusters` poses (fewer when some clusters are thinner than MIN_MEMBERS), as
    the mapping a bank file holds, largest cluster first."""
    from scipy.cluster.vq import kmeans2

    if len(skeletons) < clusters:
        raise HvgenError(
            f"{source}: {len(skeletons)} people have all 17 keypoints labelled, fewer than --clusters {clusters}; "
            "ask for fewer clusters or give a larger keypoints file (e.g. person_keypoints_train2017.json)."
        )
    data = np.stack([s.reshape(-1) for s in skeletons])
    _, labels = kmeans2(data, clusters, minit="++", seed=np.random.default_rng(seed))
    groups = sorted(
        (data[labels == k] for k in range(clusters) if np.count_nonzero(labels == k) >= MIN_MEMBERS),
        key=lambda members: (-len(members), members.mean(axis=0).round(6).tolist()),
    )
    if not groups:
        raise HvgenError(f"{source}: no cluster has {MIN_MEMBERS} or more people; ask for fewer --clusters.")
    poses = []
    for index, members in enumerate(groups, 1):
        mean = members.mean(axis=0).reshape(17, 2)
        spread = np.sqrt(((members.reshape(-1, 17, 2) - mean) ** 2).mean(axis=(0, 2)))
        poses.append({
            "name": f"pose-{index:02d}",
            "activity": "",
            "members": int(len(members)),
            "keypoints": [[round(float(x), 4), round(float(y), 4), 2] for x, y in mean],
            "spread": [round(min(float(s), MAX_SPREAD), 4) for s in spread],
        })  # fmt: skip
    left_out = len(skeletons) - sum(len(g) for g in groups)
    return {
        "source": (
            f"derived from {source}: {len(skeletons)} people with all 17 keypoints labelled, k-means into "
            f"{clusters} clusters (seed {seed}), {len(poses)} kept"
            + (f" ({left_out} people in clusters under {MIN_MEMBERS} left out)" if left_out else "")
        ),
        "poses": poses,
    }


def spread_summary(bank: dict[str, Any]) -> str:
    """One line for the terminal: poses, members, median spread."""
    spreads = sorted(s for pose in bank["poses"] for s in pose["spread"])
    median = spreads[len(spreads) // 2] if spreads else math.nan
    members = sum(pose["members"] for pose in bank["poses"])
    return (
        f"{len(bank['poses'])} poses from {members} people, median keypoint spread {median:.3f} body heights"
    )
