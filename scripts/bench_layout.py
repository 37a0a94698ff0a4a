"""Export layouts side by side: bytes on disk and load time, per-question vs image-once.

`--layout per-question` (the default) stores each question's picture in its own row, which is
what harnesses expect from `load_dataset(export, config)`; Dysca asks ~7 questions per clean or
corruption picture, so those configs hold every picture ~7 times. `--layout image-once` stores
the questions without pictures plus a `<config>_images` config with each picture once, joined by
`image_file`. Print-attack and adversarial pictures are made per question, so there the two
layouts hold the same pictures and only the question columns move.

The run directory is `bench_export.py`'s fixture (a real Dysca plan replicated, stand-in PNGs
with incompressible private bytes of `--png-bytes` each; 1.3 MB is a typical 1024² SDXL PNG).
For each layout the script exports the chosen configs with the real `run_export`, then measures
per config:

* **bytes**: the parquet files of the config (for image-once: questions + `<config>_images`);
* **load**: `datasets.load_dataset(export, config)` into a fresh cache (Arrow conversion), plus
  one pass that fetches every question's image bytes (image-once: through a dict from
  `image_file` to row, the join the card explains), as a trainer's first epoch would.

Each layout is warmed up once and the two alternate for `--repeats` rounds (`_timing.py`);
min and median are printed, with the ratio of the medians.

    python scripts/bench_layout.py --questions 2000 --png-bytes 1300000
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HVGEN_NO_PROGRESS", "1")

from _timing import Config, compare, machine  # noqa: E402
from bench_export import base_records, fixture, standin_png  # noqa: E402

from hvgen.config import RunConfig  # noqa: E402
from hvgen.scenarios import scenario_level  # noqa: E402
from hvgen.stages.export import IMAGE_KEY, IMAGES_SUFFIX, run_export  # noqa: E402
from hvgen.stages.plan import build_generator  # noqa: E402

LAYOUTS = ("per-question", "image-once")


def export_layout(run_dir: Path, config: RunConfig, scenarios: list[str], layout: str, into: Path) -> None:
    """Export with `layout` and keep the result at `into` (the next export replaces RUN/export)."""
    config = replace(config, export=replace(config.export, layout=layout))
    run_export(run_dir, config, build_generator(config), {name: scenario_level(name) for name in scenarios})
    shutil.rmtree(into, ignore_errors=True)
    shutil.move(str(run_dir / "export"), into)


def config_bytes(export: Path, name: str, layout: str) -> int:
    folders = [export / "data" / name]
    if layout == "image-once":
        folders.append(export / "data" / (name + IMAGES_SUFFIX))
    return sum(path.stat().st_size for folder in folders for path in folder.rglob("*.parquet"))


def load_all(export: Path, name: str, layout: str) -> int:
    """Load the config into a fresh cache and fetch every question's image bytes; returns the
    number of image bytes seen (so both layouts can be checked to deliver the same pictures)."""
    from datasets import Image, load_dataset
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()
    with tempfile.TemporaryDirectory(prefix="hvgen-bench-layout-cache-") as cache:
        questions = load_dataset(str(export), name, split="test", cache_dir=cache)
        if layout == "per-question":
            images = questions.cast_column("image", Image(decode=False))
            return sum(len(row["image"]["bytes"]) for row in images)
        pictures = load_dataset(str(export), name + IMAGES_SUFFIX, split="test", cache_dir=cache)
        pictures = pictures.cast_column("image", Image(decode=False))
        row_of = {file: i for i, file in enumerate(pictures[IMAGE_KEY])}
        return sum(len(pictures[row_of[file]]["image"]["bytes"]) for file in questions[IMAGE_KEY])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--questions", type=int, default=2000, help="questions in the run")
    parser.add_argument(
        "--base-images", type=int, default=100, help="images of the real plan that is replicated"
    )
    parser.add_argument("--png-bytes", type=int, default=1_300_000, help="bytes per stand-in PNG")
    parser.add_argument("--configs", default="clean,adversarial")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)
    scenarios = [name.strip() for name in args.configs.split(",") if name.strip()]

    print(f"# hvgen export layouts — {machine()}")
    base, base_config = base_records(args.seed, args.base_images)
    with tempfile.TemporaryDirectory(prefix="hvgen-bench-layout-") as temp:
        work = Path(temp)
        run_dir, config, questions, images = fixture(
            work, args.questions, base, base_config, scenarios, standin_png(), args.png_bytes
        )
        print(
            f"run: {questions:,} questions over {images:,} images, stand-in PNGs of {args.png_bytes:,} bytes"
        )
        exports: dict[str, Path] = {}
        for layout in LAYOUTS:
            started = time.perf_counter()
            exports[layout] = work / f"export-{layout}"
            export_layout(run_dir, config, scenarios, layout, exports[layout])
            print(f"  export {layout}: {time.perf_counter() - started:.1f} s", flush=True)

        print(f"\n{'config':<12} {'layout':<13} {'bytes':>14} {'ratio':>6}  load + every image (s)")
        for name in scenarios:
            sizes = {layout: config_bytes(exports[layout], name, layout) for layout in LAYOUTS}
            delivered: dict[str, int] = {}

            def timed(layout: str, name: str = name, delivered: dict[str, int] = delivered) -> Config:
                def run() -> float:
                    started = time.perf_counter()
                    delivered[layout] = load_all(exports[layout], name, layout)
                    return time.perf_counter() - started

                return Config(layout, run)

            results = compare([timed(layout) for layout in LAYOUTS], repeats=args.repeats, warmup=args.warmup)
            if delivered["per-question"] != delivered["image-once"]:
                raise SystemExit(f"{name}: the layouts deliver different image bytes: {delivered}")
            for layout in LAYOUTS:
                ratio = sizes[layout] / sizes["per-question"]
                print(
                    f"{name:<12} {layout:<13} {sizes[layout]:>14,} {ratio:>6.2f}  {results[layout].describe()}"
                )
            speed = results["per-question"].median / results["image-once"].median
            print(f"{'':<12} image-once loads {speed:.2f}× as fast (medians)")


if __name__ == "__main__":
    main()
