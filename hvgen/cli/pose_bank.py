"""`hvgen pose-bank`: derive a pose bank from a COCO person keypoints file (hvgen.conditions.
pose_statistics), for `hvgen herm --synthetic --poses BANK`: people in the poses real people take,
without any photograph or annotation of theirs in the release."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from hvgen import ranges
from hvgen.cli.options import QuietOpt, VerboseOpt
from hvgen.errors import HvgenError
from hvgen.progress import info

HEADER = """\
# Pose bank derived by `hvgen pose-bank` (hvgen/conditions/pose_statistics.py) for
# `hvgen herm --synthetic --poses THIS_FILE`. Each pose is one k-means cluster of normalised COCO
# skeletons (hips' midpoint at (0, 0.5), shoulder-to-hip length 0.32 body heights): its mean
# keypoints [x, y, v] and, per keypoint, its members' spread (RMS per axis, capped at 0.1).
# x to the right, y down, in body heights; `left` / `right` are the person's own sides (COCO).
"""


def pose_bank_command(
    keypoints: Annotated[
        Path,
        typer.Argument(
            metavar="COCO_KEYPOINTS", help="A COCO person keypoints JSON (person_keypoints_*.json)."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="The bank file to write (YAML).")],
    clusters: Annotated[
        int,
        typer.Option(
            metavar="K",
            help="Poses to derive (k-means clusters).",
            parser=ranges.POSE_CLUSTERS.parser("--clusters"),
        ),
    ] = 16,
    seed: Annotated[
        int, typer.Option(metavar="N", help="k-means seed.", parser=ranges.SEED.parser("--seed"))
    ] = 0,
    force: Annotated[bool, typer.Option("--force", help="Replace --out if it exists.")] = False,
    follow_symlinks: Annotated[
        bool, typer.Option("--follow-symlinks", help="Read COCO_KEYPOINTS even when it is a symbolic link.")
    ] = False,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Derive a pose bank (mean skeletons and their spreads) from a COCO person keypoints file."""
    import yaml

    from hvgen.conditions.pose_statistics import complete_people, derive_pose_bank, spread_summary
    from hvgen.store.atomic import write_text_atomic

    if not keypoints.is_file():
        raise HvgenError(
            f"{keypoints}: no such file (a COCO person keypoints JSON, e.g. person_keypoints_val2017.json)."
        )
    if keypoints.is_symlink() and not follow_symlinks:
        raise HvgenError(
            f"{keypoints}: is a symbolic link (to {os.path.realpath(keypoints)}); pass the file itself, or --follow-symlinks."
        )
    if out.exists() and not force:
        raise HvgenError(f"--out {out}: exists; pass --force to replace it, or another --out.")
    skeletons = complete_people(keypoints)
    bank = derive_pose_bank(skeletons, clusters, seed, keypoints.name)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(out, HEADER + yaml.safe_dump(bank, sort_keys=False, width=200, default_flow_style=None))
    info(f"pose bank → {out}: {spread_summary(bank)}")
