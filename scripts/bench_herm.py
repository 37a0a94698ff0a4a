#!/usr/bin/env python
"""Peak memory (and time) of planning HERM from a large COCO-format annotation file.

Writes a synthetic person-keypoints file with `--instances` person annotations (4 per image,
each with 17 keypoints in a standing pose, as in COCO train), an instances file with one object
per image and a captions file with 5 captions per image, plus one small JPEG that every image's
file name links to (the plan opens each image to check it decodes). Then runs
`hvgen herm ... --dry-run` (plan only: read, compute the levels, validate and write the records
and catalog) in a child process and reports its peak RSS from `getrusage(RUSAGE_CHILDREN)`.

    python scripts/bench_herm.py                      # 100k person instances
    python scripts/bench_herm.py --instances 20000    # a quick run
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
# a standing person in a 60 x 200 box at (0, 0): (x, y) per keypoint
STANDING = [(30, 15), (27, 12), (33, 12), (24, 14), (36, 14), (20, 45), (40, 45), (18, 75), (42, 75),
            (17, 100), (43, 100), (23, 105), (37, 105), (24, 150), (36, 150), (24, 195), (36, 195)]  # fmt: skip
PER_IMAGE = 4


def write_data(root: Path, instances: int) -> list[str]:
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    Image.new("RGB", (640, 480), (100, 120, 140)).save(root / "one.jpg", quality=85)
    count = (instances + PER_IMAGE - 1) // PER_IMAGE
    images, people, objects, captions = [], [], [], []
    for i in range(1, count + 1):
        name = f"{i:012d}.jpg"
        os.symlink(root / "one.jpg", images_dir / name)
        images.append({"id": i, "file_name": name, "width": 640, "height": 480, "license": 1,
                       "coco_url": f"http://images.example/{name}"})  # fmt: skip
        for k in range(min(PER_IMAGE, instances - (i - 1) * PER_IMAGE)):
            x0, y0 = 20 + 150 * k, 200 + 10 * k
            keypoints = [v for x, y in STANDING for v in (x0 + x, y0 + y, 2)]
            people.append({"id": len(people) + 1, "image_id": i, "category_id": 1, "iscrowd": 0,
                           "bbox": [x0, y0, 60, 200], "area": 9000.0, "keypoints": keypoints,
                           "num_keypoints": 17})  # fmt: skip
        objects.append({"id": 10**7 + i, "image_id": i, "category_id": 47, "bbox": [25, 290, 20, 20],
                        "area": 400, "iscrowd": 0})  # fmt: skip
        captions += [{"id": 5 * i + c, "image_id": i, "caption": f"People standing in a row, take {c}."}
                     for c in range(5)]  # fmt: skip
    person = {"id": 1, "name": "person", "keypoints": list(KEYPOINTS), "skeleton": []}
    licenses = [
        {"id": 1, "name": "Attribution License", "url": "http://creativecommons.org/licenses/by/2.0/"}
    ]
    (root / "keypoints.json").write_text(json.dumps(
        {"licenses": licenses, "images": images, "annotations": people, "categories": [person]}))  # fmt: skip
    (root / "instances.json").write_text(json.dumps(
        {"images": images, "annotations": objects, "categories": [person, {"id": 47, "name": "cup"}]}))  # fmt: skip
    (root / "captions.json").write_text(json.dumps({"images": images, "annotations": captions}))
    return [
        "--coco-keypoints", str(root / "keypoints.json"), "--coco-instances", str(root / "instances.json"),
        "--coco-captions", str(root / "captions.json"), "--images", str(images_dir), "--num", str(count),
    ]  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--instances", type=int, default=100_000, help="person annotations to plan")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-herm-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        options = write_data(root, args.instances)
        sizes = {p.name: p.stat().st_size for p in root.glob("*.json")}
        print(f"wrote {args.instances:,} person instances in {time.perf_counter() - started:.1f} s; "
              + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sizes.items()))  # fmt: skip
        command = [sys.executable, "-c", "from hvgen.cli import main; main()", "herm", *options,
                   "--out", str(root / "run"), "--dry-run", "--quiet"]  # fmt: skip
        started = time.perf_counter()
        subprocess.run(command, check=True, cwd=tmp, env={**os.environ, "HVGEN_NO_PROGRESS": "1"})
        seconds = time.perf_counter() - started
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024  # Linux: KiB
        records = sum(1 for _ in open(root / "run" / "records.jsonl", encoding="utf-8"))
        print(f"plan: {records:,} questions in {seconds:.1f} s, peak RSS {peak_mib:,.0f} MiB")


if __name__ == "__main__":
    main()
