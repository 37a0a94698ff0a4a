#!/usr/bin/env python
"""Peak memory and time of planning HERM from a large COCO-format annotation file.

Writes a synthetic person-keypoints file with `--persons` person annotations (4 per image, each
with 17 keypoints in a standing pose, as in COCO train), an instances file with one object per
image and a captions file with 5 captions per image, plus one small JPEG that every image's file
name links to (the plan opens each image to check it decodes). Then runs `hvgen herm ... --dry-run`
(plan only: read, compute the levels, validate, sort and write the records and catalog) in a
child process and reports its wall and CPU seconds and its peak RSS (`os.wait4`).

`--baseline PYTHON` runs the same plan with another interpreter too — one whose environment has
an older hvgen installed (e.g. a venv with `pip install -e` of a `git worktree` of the older
commit) — alternating the two, and prints them side by side. On a shared machine compare the CPU
seconds: wall time includes the neighbours' load.

    python scripts/bench_herm.py                                   # 100k person instances
    python scripts/bench_herm.py --persons 20000 --baseline /tmp/base/.venv/bin/python
    python scripts/bench_herm.py --persons 260000                  # the full COCO train split's size
    python scripts/bench_herm.py --persons 260000 --plan-images 4000   # its reader, in minutes
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
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
    # inside --images: hvgen skips links leading out of the folder (unless --follow-symlinks)
    Image.new("RGB", (640, 480), (100, 120, 140)).save(images_dir / "one.jpg", quality=85)
    count = (instances + PER_IMAGE - 1) // PER_IMAGE
    images, people, objects, captions = [], [], [], []
    for i in range(1, count + 1):
        name = f"{i:012d}.jpg"
        os.symlink(images_dir / "one.jpg", images_dir / name)
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


def plan_once(python: str, options: list[str], root: Path, name: str) -> dict[str, float]:
    """One `hvgen herm --dry-run` in a child process: wall s, CPU s, peak RSS (MiB), questions."""
    out = root / f"run-{name}"
    command = [python, "-c", "from hvgen.cli import main; main()", "herm", *options,
               "--out", str(out), "--dry-run", "--quiet"]  # fmt: skip
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=root, env={**os.environ, "HVGEN_NO_PROGRESS": "1"})
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{name}: hvgen herm exited with {child.returncode}")
    with open(out / "records.jsonl", "rb") as handle:
        questions = sum(1 for _ in handle)
    digest = hashlib.sha256((out / "records.jsonl").read_bytes()).hexdigest()[:16]
    shutil.rmtree(out)
    return {"seconds": seconds, "cpu": usage.ru_utime + usage.ru_stime,
            "peak_mib": usage.ru_maxrss / 1024, "questions": questions, "sha": digest}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--persons", "--instances", type=int, default=100_000, help="person annotations to plan"
    )
    parser.add_argument("--baseline", metavar="PYTHON", help="also plan with this interpreter's hvgen")
    parser.add_argument("--repeats", type=int, default=1, help="runs of each interpreter (alternated)")
    parser.add_argument(
        "--plan-images", type=int, metavar="N",
        help="plan only N of the images (--num N): the annotations are still read in full, so this "
        "measures the reader at the full size within a short run",
    )  # fmt: skip
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-herm-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        options = write_data(root, args.persons)
        if args.plan_images:
            options[options.index("--num") + 1] = str(args.plan_images)
        sizes = {p.name: p.stat().st_size for p in root.glob("*.json")}
        print(f"wrote {args.persons:,} person instances in {time.perf_counter() - started:.1f} s; "
              + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sizes.items()))  # fmt: skip
        pythons = {"this": sys.executable, **({"baseline": args.baseline} if args.baseline else {})}
        results: dict[str, list[dict[str, float]]] = {name: [] for name in pythons}
        for round_ in range(args.repeats):
            names = list(pythons)[round_ % len(pythons) :] + list(pythons)[: round_ % len(pythons)]
            for name in names:
                result = plan_once(pythons[name], options, root, name)
                results[name].append(result)
                print(f"{name:>8}: {result['questions']:,} questions in {result['seconds']:.1f} s "
                      f"(CPU {result['cpu']:.1f} s), peak RSS {result['peak_mib']:,.0f} MiB, "
                      f"records.jsonl sha256 {result['sha']}", flush=True)  # fmt: skip
        print(f"\n{'hvgen':>8} | persons | questions | wall s (min) | CPU s (min) | peak RSS MiB (max)")
        for name, runs in results.items():
            print(f"{name:>8} | {args.persons:,} | {runs[0]['questions']:,} | {min(r['seconds'] for r in runs):.1f} | "
                  f"{min(r['cpu'] for r in runs):.1f} | {max(r['peak_mib'] for r in runs):,.0f}")  # fmt: skip
        if len({runs[0]["sha"] for runs in results.values()}) > 1:
            print("note: the two records.jsonl differ")


if __name__ == "__main__":
    main()
