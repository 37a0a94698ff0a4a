"""Scenario stage: clean images → the images of each evaluation scenario.

Owns what scenarios should not care about: which units exist (from the *plan*, never from
what happens to be on disk), which are finished (verified, `hvgen.store.work`), sharding,
per-unit seeds, atomic PNG writes and logging. Image-level scenarios produce one output per
image (shared by its questions), record-level ones one per question.

Sharding follows the image: a shard owns the units of the images it renders itself (`--shard`
hashes the image id in both stages), so no shard ever waits for, or misses, another shard's
images, and the same units go to the same shard on every run. An output never depends on
which other units share its batch (each has its own seed; the adversarial scenario pads
batches to a fixed shape), so sharded, resumed and uninterrupted runs give the same bytes.

An output identical to its clean image is not a sample of the scenario: it is logged as
"unchanged", counted and left out of the export.

Each manifest line records its scenario's algorithm version (hvgen.scenarios.versions): outputs
logged by an hvgen whose algorithm made other bytes are redone on resume (and counted as such),
so one split never mixes two versions of a corruption or an attack.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from hvgen.config import RunConfig
from hvgen.cpu_budget import available_cpus
from hvgen.errors import HvgenError
from hvgen.faults import checkpoint
from hvgen.progress import progress_bar
from hvgen.scenarios import build_scenario, scenario_level
from hvgen.scenarios.base import Scenario, ScenarioInput
from hvgen.scenarios.versions import scenario_version
from hvgen.seeding import derive_seed
from hvgen.sharding import Shard
from hvgen.store.atomic import remove_stale_temps, save_png_atomic
from hvgen.store.catalog import open_catalog, query_arrow
from hvgen.store.files import RunFiles
from hvgen.store.layout import MANIFEST_DIR, scenario_relpath
from hvgen.store.manifest import ManifestWriter
from hvgen.store.pixels import read_rgb, same_pixels, to_image
from hvgen.store.work import (
    IDENTITY_SCENARIO,
    ScenarioUnit,
    finished_renders,
    finished_scenario_outputs,
    planned_images,
    planned_units,
    skipped_image_ids,
)
from hvgen.workers import die_with_parent, io_threads

UNCHANGED = "unchanged: identical to the clean image"
SOURCE_SKIPPED = "source image skipped: it does not decode"


@dataclass
class ScenarioSummary:
    scenario: str
    units: int
    already_done: int
    written: int
    skipped: int
    unchanged: int = 0
    waiting: int = 0
    outdated: int = 0  # of the units to do: logged by an older (or newer) algorithm version, redone


@dataclass(frozen=True)
class Task:
    """A unit ready to run: its clean image's path and (record-level) its record."""

    key: str
    image_path: str
    record: dict[str, Any] | None


def run_scenario(run_dir: Path, config: RunConfig, name: str, shard: Shard) -> ScenarioSummary:
    """Produce this shard's pending units of scenario `name`; raises if some could not run
    because their clean image is not rendered yet (after doing all the others)."""
    if name == IDENTITY_SCENARIO:
        return _identity_summary(run_dir, name, shard)
    level = scenario_level(name)
    manifest = run_dir / MANIFEST_DIR / f"scenario-{name}.{shard.tag}.jsonl"
    with ManifestWriter(manifest) as log:  # holds this shard's lock from here on
        remove_stale_temps(run_dir / "scenarios" / name)
        with open_catalog(run_dir, read_only=True) as con:
            planned = planned_images(con)
            units = [unit for unit in planned_units(con, level) if shard.owns(unit.image_id)]
            records = _records(con, units) if level == "record" else None
        renders = finished_renders(run_dir, planned)
        outdated: set[str] = set()
        done = finished_scenario_outputs(
            run_dir, name, (unit.key for unit in units), scenario_version(name), outdated
        )
        todo = [unit for unit in units if unit.key not in done]
        skipped_images = skipped_image_ids(renders)
        no_source = [unit for unit in todo if unit.image_id in skipped_images]
        ready = [unit for unit in todo if unit.image_id in renders and unit.image_id not in skipped_images]
        # Built only when there is work: a finished rerun imports no torch (adversarial) and
        # loads no model.
        scenario = build_scenario(name, config) if no_source or ready else None
        if no_source and scenario is not None:  # the source image was skipped: logged, so not retried
            log.write_many([_row(scenario, unit.key, None, {}, SOURCE_SKIPPED) for unit in no_source])
        summary = ScenarioSummary(
            name, len(units), len(units) - len(todo), written=0, skipped=len(no_source),
            waiting=len(todo) - len(ready) - len(no_source), outdated=len(outdated),
        )  # fmt: skip
        tasks = [
            Task(unit.key, planned[unit.image_id], records[unit.key] if records is not None else None)
            for unit in ready
        ]
        batch_size = max(1, config.scenario.batch_size)
        batches = [tasks[start : start + batch_size] for start in range(0, len(tasks), batch_size)]
        with progress_bar(f"scenario {name}", len(tasks)) as advance:
            for rows in _apply_all(run_dir, config, scenario, batches) if scenario is not None else ():
                log.write_many(rows)
                checkpoint("scenario.logged")
                for row in rows:
                    if row["path"] is not None:
                        summary.written += 1
                    elif row["skip_reason"] == UNCHANGED:
                        summary.unchanged += 1
                    else:
                        summary.skipped += 1
                advance(len(rows))
    if summary.waiting:
        raise HvgenError(
            f"scenario {name}: {summary.waiting} sample(s) of shard {shard.index}/{shard.count} wait for images "
            f"that are not rendered yet; the other {summary.written + summary.skipped + summary.unchanged} are done. "
            f"Run `hvgen render {run_dir}{_shard_flag(shard)}` first, then this command again (it resumes)."
        )
    return summary


def _shard_flag(shard: Shard) -> str:
    return "" if shard.is_whole else f" --shard {shard.index}/{shard.count}"


def _identity_summary(run_dir: Path, name: str, shard: Shard) -> ScenarioSummary:
    """The clean scenario's samples are the rendered images: nothing to write, only to count."""
    with open_catalog(run_dir, read_only=True) as con:
        planned = planned_images(con)
    mine = [image_id for image_id in planned if shard.owns(image_id)]
    rendered = finished_renders(run_dir, planned)
    done = sum(1 for image_id in mine if image_id in rendered)
    return ScenarioSummary(name, len(mine), done, 0, 0, 0, len(mine) - done)


def _records(con: Any, units: list[ScenarioUnit]) -> dict[str, dict[str, Any]]:
    """The records of these (record-level) units, by id."""
    wanted = {unit.key for unit in units}
    table = query_arrow(con, "SELECT * FROM records ORDER BY id")
    ids = table.column("id").to_pylist()
    keep = [index for index, record_id in enumerate(ids) if record_id in wanted]
    return {record["id"]: record for record in table.take(keep).to_pylist()} if keep else {}


def _workers(config: RunConfig, scenario: Scenario, batches: int) -> int:
    """Processes for a CPU-bound scenario (corruption, print): one per CPU this process may use
    (hvgen.cpu_budget) unless configured."""
    if not getattr(scenario, "cpu_bound", False) or batches < 2:
        return 1
    wanted = config.scenario.workers or available_cpus()
    return max(1, min(wanted, batches))


def _apply_all(
    run_dir: Path, config: RunConfig, scenario: Scenario, batches: list[list[Task]]
) -> Iterator[list[dict[str, Any]]]:
    """Rows of each finished batch, in order.

    CPU-bound scenarios (corruption, print) run in a process pool (spawned, so no torch/OpenMP
    state is forked; each worker dies with this process). The others (adversarial: the
    accelerator's work) run here, with PNG decoding and encoding in a thread pool: while one
    batch is attacked, the previous batch's images are encoded and written (at most two
    batches in flight). Each output depends only on its own seed and inputs, so the result is
    the same whichever process or thread makes it."""
    workers = _workers(config, scenario, len(batches))
    if workers == 1 and io_threads() == 0:
        for batch in batches:
            yield [future.result() for future in _apply(run_dir, config, scenario, batch, None)]
        return
    if workers == 1:
        with ThreadPoolExecutor(max_workers=io_threads()) as io:
            in_flight: deque[list[Future]] = deque()
            for batch in batches:
                in_flight.append(_apply(run_dir, config, scenario, batch, io))
                while len(in_flight) > 1:
                    yield [future.result() for future in in_flight.popleft()]
            while in_flight:
                yield [future.result() for future in in_flight.popleft()]
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(
        max_workers=workers, mp_context=context, initializer=die_with_parent, initargs=(os.getpid(),)
    ) as pool:
        yield from pool.map(_apply_in_worker, [(run_dir, config, scenario.name, batch) for batch in batches])


_WORKER_SCENARIOS: dict[str, Scenario] = {}


def _apply_in_worker(task: tuple[Path, RunConfig, str, list[Task]]) -> list[dict[str, Any]]:
    run_dir, config, name, batch = task
    if name not in _WORKER_SCENARIOS:
        _WORKER_SCENARIOS[name] = build_scenario(name, config)
    return [future.result() for future in _apply(run_dir, config, _WORKER_SCENARIOS[name], batch, None)]


def _apply(
    run_dir: Path, config: RunConfig, scenario: Scenario, batch: list[Task], io: Executor | None
) -> list[Future]:
    """Run one batch; returns one future row per task (already done when `io` is None, else
    finishing in `io`: the check against the clean image, the PNG encoding and the write)."""
    files = RunFiles(run_dir)
    paths = [files.path(task.image_path) for task in batch]
    load = read_rgb if getattr(scenario, "takes_arrays", False) else _load_rgb
    images = list(io.map(load, paths)) if io else [load(path) for path in paths]
    inputs = [
        ScenarioInput(
            image=image,
            seed=derive_seed(config.seed, "scenario", scenario.name, task.key),
            record=task.record,
        )
        for task, image in zip(batch, images, strict=True)
    ]
    outputs = scenario.apply_batch(inputs)
    level = config.render.png_compress_level
    futures: list[Future] = []
    for task, item, output in zip(batch, inputs, outputs, strict=True):
        args = (files, scenario, task, item.image, output, level)
        if io is None:
            done: Future = Future()
            done.set_result(_finish(*args))
            futures.append(done)
        else:
            futures.append(io.submit(_finish, *args))
    return futures


def _finish(
    files: RunFiles,
    scenario: Scenario,
    task: Task,
    clean: Image.Image | np.ndarray,
    output: Any,
    level: int,
) -> dict[str, Any]:
    """The manifest row of one output, after writing its PNG (if it is a sample at all)."""
    if output.image is None:
        return _row(scenario, task.key, None, output.params, output.skip_reason or "not applicable")
    if _same_pixels(output.image, clean):
        return _row(scenario, task.key, None, output.params, UNCHANGED)
    relpath = scenario_relpath(scenario.name, task.key)
    image = to_image(output.image) if isinstance(output.image, np.ndarray) else output.image
    written = save_png_atomic(image, files.write_path(relpath), compress_level=level)
    return {**_row(scenario, task.key, relpath, output.params, None), **written.as_row()}


def _same_pixels(output: Image.Image | np.ndarray, clean: Image.Image | np.ndarray) -> bool:
    if isinstance(output, np.ndarray) and isinstance(clean, np.ndarray):
        return same_pixels(output, clean)
    if not isinstance(output, Image.Image) or not isinstance(clean, Image.Image):
        raise TypeError(f"A scenario returned a {type(output).__name__} for a {type(clean).__name__} input.")
    if output.size != clean.size:
        return False
    return np.array_equal(np.asarray(output.convert("RGB")), np.asarray(clean))


def _row(
    scenario: Scenario, key: str, path: str | None, params: dict[str, Any], skip: str | None
) -> dict[str, Any]:
    return {
        "scenario": scenario.name,
        "version": scenario_version(scenario.name),
        "level": scenario.level,
        "key": key,
        "path": path,
        "params": params,
        "skip_reason": skip,
    }


def _load_rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")
