"""Export time against catalog size: does `hvgen export` grow linearly with the number of questions?

For each size (questions), the script builds a finished Dysca run directory without rendering:

* **records**: a real Dysca plan of `--base-images` images (the real generator, templates and
  schema), replicated with fresh ids until the size is reached. The real planner is not used at
  full size because it takes ~2.5 min for 220k questions and its vocabularies cannot yield more
  than ~32k distinct images (see README, "Capacity"); replicated records have the real columns,
  value sizes and questions-per-image mix.
* **images and scenario outputs**: small stand-in PNGs: one 8×8 PNG made once, and per file a
  private ancillary chunk (which decoders skip) of random bytes up to `--png-bytes`, so every
  file has its own, incompressible bytes and sha256 (identical stand-ins would let zstd shrink
  the parquet shards to a fraction of a real export's), written where the stages write them and logged in the manifests with size, mtime and sha256 exactly as the
  render and scenario stages log them, so `sync_manifests` verifies them as real work. Print
  skips OCR questions (as the real scenario does), adversarial covers every question, clean and
  corruption are one sample per image.

Then `run_export` (the real export: manifest verification, completeness check, the SQL join,
sha256 check of every image, parquet shards, card with stats and plots) is timed per config with
the discipline of `_timing.py` (warm-up, alternated rounds, min and median), and the growth
exponent of each config is fitted on log(time) vs log(questions) by least squares.

    python scripts/bench_export.py                                  # quick: 10k, 30k, 100k
    python scripts/bench_export.py --sizes 10000,50000,200000,600000 --workdir /tmp/hvgen-bench-export

Only the engine is timed: the stand-in images are a few KB where a 1024² render is ~1.5 MB, so
a real export also pays for reading and writing its image bytes.
"""

from __future__ import annotations

import argparse
import hashlib
import inspect
import json
import os
import shutil
import struct
import sys
import tempfile
import time
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("HVGEN_NO_PROGRESS", "1")  # the bars would interleave with the table

from _timing import Config, compare, growth_exponent, machine  # noqa: E402

from hvgen.config import RunConfig, ScenarioConfig  # noqa: E402
from hvgen.generator import Generator  # noqa: E402
from hvgen.pipeline import resolve_config  # noqa: E402
from hvgen.scenarios import scenario_level  # noqa: E402
from hvgen.scenarios.versions import scenario_version  # noqa: E402
from hvgen.sharding import Shard  # noqa: E402
from hvgen.stages.export import run_export  # noqa: E402
from hvgen.stages.plan import PLAN_FINGERPRINT_KEY, build_generator, plan_records, summarise_plan  # noqa: E402
from hvgen.store.catalog import open_catalog, set_meta, write_plan  # noqa: E402
from hvgen.store.layout import CONFIG_FILE, MANIFEST_DIR, image_relpath, scenario_relpath  # noqa: E402

DEFAULT_SIZES = "10000,30000,100000"
DEFAULT_CONFIGS = "clean,print,adversarial"
FIXTURE_VERSION = "3"
"""Bumped when the fixture layout changes, so a reused --workdir is rebuilt."""


# --------------------------------------------------------------------------- stand-in images


def standin_png(side: int = 8, seed: int = 0) -> bytes:
    """A small valid noise PNG, the base of every stand-in."""
    import io

    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 256, (side, side, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def keyed_png(base: bytes, key: str, size: int, rng: np.random.Generator) -> bytes:
    """`base` with a private ancillary chunk ("hvGn": key + random bytes) after IHDR, padded to
    `size` bytes: a valid PNG whose bytes are unique and do not compress."""
    ihdr_end = 8 + 8 + 13 + 4  # signature, IHDR length+type, IHDR data, CRC
    head = key.encode("ascii") + b"\x00"
    filler = max(0, size - len(base) - 12 - len(head))
    data = head + rng.bytes(filler)
    chunk = struct.pack(">I", len(data)) + b"hvGn" + data + struct.pack(">I", zlib.crc32(b"hvGn" + data))
    return base[:ihdr_end] + chunk + base[ihdr_end:]


def write_file(path: Path, data: bytes) -> dict[str, Any]:
    """Write `data` and return the fingerprint fields a stage logs (`WrittenFile.as_row`)."""
    with open(path, "wb") as handle:
        handle.write(data)
    return {
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "mtime_ns": os.stat(path).st_mtime_ns,
    }


# --------------------------------------------------------------------------- records


def base_records(seed: int, images: int) -> tuple[list[dict[str, Any]], RunConfig]:
    """A real Dysca plan (all subtasks and question types) of `images` images."""
    config = resolve_config(RunConfig(benchmark="dysca", seed=seed, num=images))
    return plan_records(build_generator(config)), config


def _fresh_id(old: str, copy: int) -> str:
    return hashlib.blake2b(f"{old}:{copy}".encode(), digest_size=len(old) // 2).hexdigest()


def replicate(records: list[dict[str, Any]], questions: int) -> list[dict[str, Any]]:
    """`questions` records: copies of `records` with fresh record and image ids (whole images
    only, so the last copy may stop a few questions early or late)."""
    by_image: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        by_image.setdefault(record["image_id"], []).append(record)
    groups = list(by_image.values())
    out: list[dict[str, Any]] = []
    copy = 0
    while len(out) < questions:
        for group in groups:
            if len(out) >= questions:
                break
            image_id = _fresh_id(group[0]["image_id"], copy)
            for record in group:
                clone = dict(record)
                clone["id"] = _fresh_id(record["id"], copy)
                clone["image_id"] = image_id
                clone["images"] = [image_relpath(image_id)]
                out.append(clone)
        copy += 1
    out.sort(key=lambda record: record["id"])
    return out


# --------------------------------------------------------------------------- run directory


def _scenario_params(
    scenario: str, record: dict[str, Any] | None, rng: np.random.Generator
) -> dict[str, Any]:
    """Params of the shape the real scenarios log (values drawn at random)."""
    if scenario == "print":
        return {
            "text": record["foil"],
            "font_size": int(rng.choice([112, 128, 144, 160])),
            "colour": [int(v) for v in rng.integers(0, 256, 3)],
            "alpha": int(rng.choice([102, 153, 204, 255])),
            "rotation": int(rng.choice([0, -15, 15, -25, 25, -35, 35])),
            "offset": [int(v) for v in rng.choice([-256, -128, 0, 128, 256], 2)],
            "scale": 1.0,
        }
    if scenario == "adversarial":
        classes = (
            [str(o) for o in record["options"]] if record["options"] else [record["truth"], record["foil"]]
        )
        label = record["answer_index"] if record["options"] else 0
        after = int(rng.integers(0, len(classes)))
        return {
            "attack": "pgd",
            "eps": 8 / 255,
            "alpha": 2 / 255,
            "steps": 10,
            "surrogate": "openai/clip-vit-large-patch14",
            "classes": classes,
            "label": label,
            "pred_before": label,
            "pred_after": after,
            "success": after != label,
            "linf": 8 / 255,
        }
    if scenario == "corruption":
        return {"corruption": "gaussian_noise", "severity": int(rng.integers(1, 6))}
    return {}


def _skipped(scenario: str, record: dict[str, Any] | None) -> str | None:
    if scenario == "print" and record is not None and record.get("task") == "OCR":
        return "OCR task: printed text would mix with the scene text"
    return None


def build_run(
    run_dir: Path,
    records: list[dict[str, Any]],
    base_config: RunConfig,
    scenarios: list[str],
    png: bytes,
    png_bytes: int,
) -> RunConfig:
    """A finished run directory: config, catalog with the plan, images, scenario outputs and
    manifests (with fingerprints) as the stages leave them."""
    run_dir.mkdir(parents=True)
    images = sorted({record["image_id"] for record in records})
    config = replace(
        base_config,
        num=len(images),
        scenario=ScenarioConfig(scenarios=list(scenarios)),
    )
    config.render = replace(config.render, model="tiny", width=64, height=64, steps=4)
    config.save(run_dir)
    with open_catalog(run_dir) as con:
        write_plan(con, records)
        set_meta(con, "plan", summarise_plan(records, []).__dict__)
        set_meta(con, PLAN_FINGERPRINT_KEY, config.plan_fingerprint())
    (run_dir / MANIFEST_DIR).mkdir()
    tag = Shard().tag
    rng = np.random.default_rng(0)
    made: set[Path] = set()

    def target(relpath: str) -> Path:
        path = run_dir / relpath
        if path.parent not in made:
            path.parent.mkdir(parents=True, exist_ok=True)
            made.add(path.parent)
        return path

    with open(run_dir / MANIFEST_DIR / f"render.{tag}.jsonl", "w", encoding="utf-8") as log:
        for image_id in images:
            relpath = image_relpath(image_id)
            row = {
                "image_id": image_id,
                "path": relpath,
                "width": 64,
                "height": 64,
                "model": "tiny",
                "seconds": 0.1,
            }
            row.update(write_file(target(relpath), keyed_png(png, image_id, png_bytes, rng)))
            log.write(json.dumps(row, sort_keys=True) + "\n")
    first_record = {}
    for record in records:
        first_record.setdefault(record["image_id"], record)
    for scenario in scenarios:
        if scenario == "clean":
            continue  # the clean samples are the renders
        level = scenario_level(scenario)
        units = (
            [(image_id, first_record[image_id]) for image_id in images]
            if level == "image"
            else [(record["id"], record) for record in records]
        )
        with open(run_dir / MANIFEST_DIR / f"scenario-{scenario}.{tag}.jsonl", "w", encoding="utf-8") as log:
            for key, record in units:
                skip = _skipped(scenario, record if level == "record" else None)
                row: dict[str, Any] = {
                    "scenario": scenario,
                    "version": scenario_version(scenario),
                    "level": level,
                    "key": key,
                    "path": None,
                    "params": _scenario_params(scenario, record, rng),
                    "skip_reason": skip,
                }
                if skip is None:
                    relpath = scenario_relpath(scenario, key)
                    row["path"] = relpath
                    row.update(
                        write_file(target(relpath), keyed_png(png, f"{scenario}-{key}", png_bytes, rng))
                    )
                log.write(json.dumps(row, sort_keys=True) + "\n")
    (run_dir / ".bench-export").write_text(FIXTURE_VERSION, encoding="utf-8")
    return config


def fixture(
    workdir: Path,
    size: int,
    base: list[dict[str, Any]],
    base_config: RunConfig,
    scenarios: list[str],
    png: bytes,
    png_bytes: int,
) -> tuple[Path, RunConfig, int, int]:
    """The run dir for `size` questions under `workdir` (built once, reused when complete)."""
    run_dir = workdir / f"export-{size}-{'-'.join(scenarios)}-png{png_bytes}"
    marker = run_dir / ".bench-export"
    if marker.is_file() and marker.read_text(encoding="utf-8") == FIXTURE_VERSION:
        config = RunConfig.load(run_dir / CONFIG_FILE)
    else:
        shutil.rmtree(run_dir, ignore_errors=True)
        records = replicate(base, size)
        started = time.perf_counter()
        config = build_run(run_dir, records, base_config, scenarios, png, png_bytes)
        print(f"  built {run_dir.name} in {time.perf_counter() - started:.0f} s", flush=True)
    with open_catalog(run_dir, read_only=True) as con:
        questions = con.execute("SELECT count(*) FROM records").fetchone()[0]
        images = con.execute("SELECT count(*) FROM images").fetchone()[0]
    return run_dir, config, questions, images


# --------------------------------------------------------------------------- timing


def export_once(
    run_dir: Path, config: RunConfig, generator: Generator, scenario: str, extra: dict[str, Any]
) -> int:
    exported = run_export(run_dir, config, generator, {scenario: scenario_level(scenario)}, **extra)
    return sum(item.rows for item in exported)


def export_config(
    run_dir: Path,
    config: RunConfig,
    generator: Generator,
    scenario: str,
    extra: dict[str, Any],
    rows: dict[str, int],
) -> Config:
    """One timed export of `scenario` (its row count is kept in `rows`)."""

    def run() -> float:
        started = time.perf_counter()
        rows[scenario] = export_once(run_dir, config, generator, scenario, extra)
        return time.perf_counter() - started

    return Config(scenario, run)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes", default=DEFAULT_SIZES, help=f"questions per catalog (default {DEFAULT_SIZES})"
    )
    parser.add_argument(
        "--configs",
        default=DEFAULT_CONFIGS,
        help="export configs to time: clean, corruption, print, adversarial",
    )
    parser.add_argument(
        "--time", default=None, help="time only these of --configs (the run dirs still hold all of them)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument(
        "--base-images", type=int, default=300, help="images of the real plan that is replicated"
    )
    parser.add_argument("--png-bytes", type=int, default=3000, help="size of each stand-in PNG")
    parser.add_argument("--verbose", action="store_true", help="print every timed round")
    parser.add_argument("--workdir", type=Path, default=None, help="keep (and reuse) the built run dirs here")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--export-arg",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra keyword for run_export (e.g. layout=image-once), if this version of export has it",
    )
    args = parser.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))
    scenarios = [s.strip() for s in args.configs.split(",") if s.strip()]
    timed_configs = [s.strip() for s in args.time.split(",")] if args.time else scenarios
    if not set(timed_configs) <= set(scenarios):
        parser.error("--time names configs that are not in --configs")
    accepted = inspect.signature(run_export).parameters
    extra: dict[str, Any] = {}
    for item in args.export_arg:
        name, _, value = item.partition("=")
        if name not in accepted:
            parser.error(f"run_export has no parameter {name!r} (it takes {', '.join(accepted)})")
        extra[name] = value

    print(f"# hvgen export benchmark — {machine()}")
    base, base_config = base_records(args.seed, args.base_images)
    generator = build_generator(base_config)
    png = standin_png()
    print(
        f"base plan: {len(base)} questions over {len({r['image_id'] for r in base})} images "
        f"(real Dysca plan, replicated); stand-in PNGs of {max(args.png_bytes, len(png) + 20):,} bytes",
        flush=True,
    )
    temp = None if args.workdir else tempfile.TemporaryDirectory(prefix="hvgen-bench-export-")
    workdir = args.workdir or Path(temp.name)
    workdir.mkdir(parents=True, exist_ok=True)
    table: dict[str, list[tuple[int, int, float, float]]] = {s: [] for s in timed_configs}
    try:
        for size in sizes:
            run_dir, config, questions, images = fixture(
                workdir, size, base, base_config, scenarios, png, args.png_bytes
            )
            rows: dict[str, int] = {}

            results = compare(
                [export_config(run_dir, config, generator, s, extra, rows) for s in timed_configs],
                repeats=args.repeats,
                warmup=args.warmup,
                log=(lambda line: print(line, flush=True)) if args.verbose else None,
            )
            for scenario in timed_configs:
                timing = results[scenario]
                table[scenario].append((questions, rows[scenario], timing.min, timing.median))
                print(
                    f"{questions:>9,} questions / {images:>7,} images  {scenario:<12} rows {rows[scenario]:>9,}  "
                    f"{timing.describe()}  ({rows[scenario] / timing.min:,.0f} rows/s)",
                    flush=True,
                )
            shutil.rmtree(run_dir / "export", ignore_errors=True)
    finally:
        if temp is not None:
            temp.cleanup()

    print(f"\n{'config':<12} {'questions':>10} {'rows':>10} {'min s':>8} {'median s':>9}")
    for scenario, points in table.items():
        for questions, rows_out, best, median in points:
            print(f"{scenario:<12} {questions:>10,} {rows_out:>10,} {best:>8.2f} {median:>9.2f}")
    print(
        "\ngrowth exponent (least-squares slope of log time vs log questions, on the min times; 1 = linear):"
    )
    for scenario, points in table.items():
        exponent = growth_exponent([p[0] for p in points], [p[2] for p in points])
        line = f"  {scenario:<12} {exponent:.2f}  over {points[0][0]:,}–{points[-1][0]:,} questions"
        if len(points) > 2:  # fixed costs (card, plots) flatten the small sizes; the top pair shows the tail
            top = growth_exponent([p[0] for p in points[-2:]], [p[2] for p in points[-2:]])
            line += f"; {top:.2f} between the two largest"
        print(line)


if __name__ == "__main__":
    main()
