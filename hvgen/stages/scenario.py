"""Scenario stage: clean images → the images of each evaluation scenario.

Owns what scenarios should not care about: which units are pending (resumable through the
manifests, like rendering), sharding, per-unit seeds, atomic PNG writes and logging. Image-level
scenarios produce one output per image (shared by its questions), record-level ones one per
question.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from hvgen.config import RunConfig
from hvgen.progress import progress_bar
from hvgen.scenarios import build_scenario
from hvgen.scenarios.base import Scenario, ScenarioInput
from hvgen.seeding import derive_seed
from hvgen.sharding import Shard
from hvgen.stages.render import rendered_image_ids
from hvgen.store.atomic import save_png_atomic
from hvgen.store.catalog import MANIFEST_DIR, open_catalog, query_arrow
from hvgen.store.manifest import ManifestWriter, read_manifest_rows

Unit = tuple[str, str, "dict[str, Any] | None"]
"""(output key, clean image path, record or None) — one item of scenario work."""


@dataclass
class ScenarioSummary:
    scenario: str
    units: int
    already_done: int
    written: int
    skipped: int


def scenario_output_path(scenario: str, key: str) -> str:
    return f"scenarios/{scenario}/{key[:2]}/{key}.png"


def finished_keys(run_dir: Path, scenario: str) -> set[str]:
    rows = read_manifest_rows(sorted((run_dir / MANIFEST_DIR).glob(f"scenario-{scenario}.*.jsonl")))
    return {row["key"] for row in rows if row.get("path") is None or (run_dir / row["path"]).is_file()}


def _units(run_dir: Path, level: str, shard: Shard) -> list[Unit]:
    """(key, clean image path, record) for every rendered unit of this shard."""
    rendered = rendered_image_ids(run_dir)
    with open_catalog(run_dir, read_only=True) as con:
        if level == "image":
            rows = con.execute("SELECT image_id, path FROM images ORDER BY image_id").fetchall()
            return [
                (image_id, path, None)
                for image_id, path in rows
                if image_id in rendered and shard.owns(image_id)
            ]
        records = query_arrow(
            con,
            "SELECT r.*, i.path AS _image_path FROM records r JOIN images i USING (image_id) ORDER BY r.id",
        ).to_pylist()
    units = []
    for record in records:
        if record["image_id"] in rendered and shard.owns(record["id"]):
            path = record.pop("_image_path")
            units.append((record["id"], path, record))
    return units


def run_scenario(run_dir: Path, config: RunConfig, name: str, shard: Shard) -> ScenarioSummary:
    scenario = build_scenario(name, config)
    units = _units(run_dir, scenario.level, shard)
    done = finished_keys(run_dir, name)
    todo = [unit for unit in units if unit[0] not in done]
    written = skipped = 0
    manifest = run_dir / MANIFEST_DIR / f"scenario-{name}.{shard.tag}.jsonl"
    batch_size = max(1, config.scenario.batch_size)
    batches = [todo[start : start + batch_size] for start in range(0, len(todo), batch_size)]
    with ManifestWriter(manifest) as log, progress_bar(f"scenario {name}", len(todo)) as advance:
        for rows in _apply_all(run_dir, config, scenario, batches):
            log.write_many(rows)
            written += sum(1 for row in rows if row["path"] is not None)
            skipped += sum(1 for row in rows if row["path"] is None)
            advance(len(rows))
    return ScenarioSummary(name, len(units), len(units) - len(todo), written, skipped)


def _workers(config: RunConfig, scenario: Scenario, batches: int) -> int:
    """Processes for a CPU-bound scenario (corruption, print): one per core unless configured."""
    if not getattr(scenario, "cpu_bound", False) or batches < 2:
        return 1
    wanted = config.scenario.workers or os.cpu_count() or 1
    return max(1, min(wanted, batches))


def _apply_all(
    run_dir: Path, config: RunConfig, scenario: Scenario, batches: list[list[Unit]]
) -> Iterator[list[dict[str, Any]]]:
    """Rows of each finished batch, in order; CPU-bound scenarios run in a process pool (spawned,
    so no torch/OpenMP state is forked) — each output depends only on its own seed, so the
    result is the same whichever process makes it."""
    workers = _workers(config, scenario, len(batches))
    if workers == 1:
        for batch in batches:
            yield _apply(run_dir, config, scenario, batch)
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        yield from pool.map(_apply_in_worker, [(run_dir, config, scenario.name, batch) for batch in batches])


_WORKER_SCENARIOS: dict[str, Scenario] = {}


def _apply_in_worker(task: tuple[Path, RunConfig, str, list[Unit]]) -> list[dict[str, Any]]:
    run_dir, config, name, batch = task
    if name not in _WORKER_SCENARIOS:
        _WORKER_SCENARIOS[name] = build_scenario(name, config)
    return _apply(run_dir, config, _WORKER_SCENARIOS[name], batch)


def _apply(run_dir: Path, config: RunConfig, scenario: Scenario, batch: list[Unit]) -> list[dict[str, Any]]:
    identity = getattr(scenario, "identity", False)
    if identity:
        return [_row(scenario, key, path, {}, None) for key, path, _ in batch]
    inputs = [
        ScenarioInput(
            image=_load_rgb(run_dir / path),
            seed=derive_seed(config.seed, "scenario", scenario.name, key),
            record=record,
        )
        for key, path, record in batch
    ]
    outputs = scenario.apply_batch(inputs)
    rows = []
    for (key, _, _), output in zip(batch, outputs, strict=True):
        if output.image is None:
            rows.append(_row(scenario, key, None, output.params, output.skip_reason or "not applicable"))
            continue
        relpath = scenario_output_path(scenario.name, key)
        save_png_atomic(output.image, run_dir / relpath)
        rows.append(_row(scenario, key, relpath, output.params, None))
    return rows


def _row(
    scenario: Scenario, key: str, path: str | None, params: dict[str, Any], skip: str | None
) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "level": scenario.level,
        "key": key,
        "path": path,
        "params": params,
        "skip_reason": skip,
    }


def _load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")
