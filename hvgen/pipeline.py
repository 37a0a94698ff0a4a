"""Runs the stages of a benchmark over a run directory.

`hvgen <benchmark>` calls `run_all`; the stage commands (`hvgen plan|render|scenario|export
RUN_DIR`) call the same functions one at a time, so a big job can render on a GPU cluster and
build on a laptop.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgen.config import CONFIG_FILE, RunConfig, describe_difference
from hvgen.errors import HvgenError
from hvgen.publish.formats import parse_formats
from hvgen.scenarios import build_scenario, parse_scenarios
from hvgen.sharding import Shard
from hvgen.stages.build.dedup import DedupSummary
from hvgen.stages.export import run_export
from hvgen.stages.plan import PlanSummary, build_generator, run_plan
from hvgen.stages.render import RenderSummary, rendered_image_ids, run_render
from hvgen.stages.scenario import ScenarioSummary, run_scenario
from hvgen.store.catalog import CATALOG_FILE, get_meta, open_catalog, set_meta, sync_manifests

PLAN_FINGERPRINT_KEY = "plan_fingerprint"


def prepare_run_dir(run_dir: Path, config: RunConfig, overwrite: bool = False) -> None:
    """Create the run dir, or check an existing one was made with a compatible config.

    Settings that change what was planned (seed, num, options...) or rendered (model, steps,
    size...) may not change under existing data: that would silently mix two datasets.
    """
    config_path = run_dir / CONFIG_FILE
    if overwrite and run_dir.exists():
        if not config_path.is_file() and any(run_dir.iterdir()):
            raise HvgenError(
                f"--overwrite refuses to delete {run_dir}: it is not an hvgen run directory (no {CONFIG_FILE})."
            )
        shutil.rmtree(run_dir)
    if config_path.is_file():
        previous = RunConfig.load(config_path)
        for label, old, new in (
            ("plan", previous.plan_fingerprint(), config.plan_fingerprint()),
            ("render", previous.render_fingerprint(), config.render_fingerprint()),
        ):
            if old != new:
                raise HvgenError(
                    f"{run_dir} was created with different {label} settings ({describe_difference(old, new)}). "
                    f"Use a new --out directory, or pass --overwrite to delete the old run."
                )
    elif run_dir.exists() and any(p.name != ".gitkeep" for p in run_dir.iterdir()):
        raise HvgenError(
            f"{run_dir} exists and is not an hvgen run directory (no {CONFIG_FILE}); choose another --out."
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    config.save(run_dir)


def plan_is_current(run_dir: Path, config: RunConfig) -> bool:
    if not (run_dir / CATALOG_FILE).exists():
        return False
    with open_catalog(run_dir, read_only=True) as con:
        return get_meta(con, PLAN_FINGERPRINT_KEY) == config.plan_fingerprint()


def wait_for_plan(run_dir: Path, config: RunConfig, timeout: float = 1800.0, poll: float = 2.0) -> None:
    """Block until another process (shard 0) has written this config's plan.

    Several shard processes started together (torchrun, a Slurm array) must not all plan: only
    one process may write the catalog, so the others poll it read-only until the plan is there.
    """
    import time

    import duckdb

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        config_path = run_dir / CONFIG_FILE
        if config_path.is_file():
            previous = RunConfig.load(config_path)
            if previous.plan_fingerprint() != config.plan_fingerprint():
                raise HvgenError(
                    f"{run_dir} holds a plan for other settings "
                    f"({describe_difference(previous.plan_fingerprint(), config.plan_fingerprint())}): "
                    "every shard must be started with the same options."
                )
            try:
                if plan_is_current(run_dir, config):
                    return
            except (duckdb.Error, HvgenError):
                pass  # shard 0 is still writing the catalog
        time.sleep(poll)
    raise HvgenError(
        f"no plan appeared in {run_dir} within {timeout:.0f} s: is shard 0 running? Start it with --shard 0/N."
    )


def stage_plan(run_dir: Path, config: RunConfig, force: bool = False) -> PlanSummary | None:
    """Plan unless an identical plan is already in the catalog (resume)."""
    if not force and plan_is_current(run_dir, config):
        return None
    return run_plan(run_dir, config, meta={PLAN_FINGERPRINT_KEY: config.plan_fingerprint()})


def stage_render(run_dir: Path, config: RunConfig, shard: Shard) -> RenderSummary:
    return run_render(run_dir, config.render, shard)


def check_scenarios(config: RunConfig) -> list[str]:
    """The run's scenarios, canonical; refuse those its benchmark does not support."""
    from hvgen.generator import get_generator

    names = parse_scenarios(config.scenario.scenarios)
    supported = get_generator(config.benchmark).supported_scenarios
    unsupported = [name for name in names if supported is not None and name not in supported]
    if unsupported:
        raise HvgenError(
            f"benchmark '{config.benchmark}' does not support scenario(s) {', '.join(unsupported)}: "
            f"use {', '.join(supported or ())}."
        )
    for name in names:  # fail on a bad corruption / attack name now, not after hours of rendering
        build_scenario(name, config)
    return names


def stage_scenarios(run_dir: Path, config: RunConfig, shard: Shard) -> list[ScenarioSummary]:
    return [run_scenario(run_dir, config, name, shard) for name in check_scenarios(config)]


def stage_export(run_dir: Path, config: RunConfig, formats: str | list[str] | None = None):
    if not rendered_image_ids(run_dir):
        raise HvgenError(
            f"nothing to export from {run_dir}: no image is rendered yet. Run `hvgen render {run_dir}` first."
        )
    if "clean" in check_scenarios(config):
        # clean samples are the rendered files themselves: record them, so `render` → `export` works
        run_scenario(run_dir, config, "clean", Shard())
    return run_export(
        run_dir, config, build_generator(config), formats=parse_formats(formats, config.benchmark)
    )


@dataclass
class BuildResult:
    dedup: DedupSummary
    clip: dict[str, Any] | None = None


def stage_build(
    run_dir: Path,
    config: RunConfig,
    hamming: int | None = None,
    against: list[str] | None = None,
    clip_model: str | None = None,
    clip_threshold: float | None = None,
) -> BuildResult:
    """Dedup + leak check (+ optional CLIP-score filter) in the catalog. Nothing is deleted:
    `drops` says what is left out and why, and the export reads the `kept_*` views."""
    from hvgen.stages.build.clip_filter import DEFAULT_CLIP_THRESHOLD, apply_clip_filter, compute_clip_scores
    from hvgen.stages.build.dedup import DEFAULT_HAMMING, run_dedup
    from hvgen.stages.render import pick_device

    with open_catalog(run_dir) as con:
        sync_manifests(con, run_dir)
        missing = con.execute(
            "SELECT count(*) FROM images i WHERE NOT EXISTS (SELECT 1 FROM renders r WHERE r.image_id = i.image_id)"
        ).fetchone()[0]
        if missing:
            raise HvgenError(
                f"{missing} planned images of {run_dir} are not rendered yet: run `hvgen render {run_dir}` first."
            )
        try:
            dedup = run_dedup(
                con,
                DEFAULT_HAMMING if hamming is None else hamming,
                against or [],
                run_dir=run_dir,
                progress=True,
            )
            clip = None
            if clip_model:
                compute_clip_scores(con, run_dir, clip_model, device=pick_device(config.render.device))
                threshold = DEFAULT_CLIP_THRESHOLD if clip_threshold is None else clip_threshold
                clip = apply_clip_filter(con, clip_model, threshold)
            set_meta(con, "build", {"hamming": hamming, "against": against or [], "clip": clip})
        except ValueError as error:  # bad --against source, threshold ...
            raise HvgenError(str(error)) from None
    return BuildResult(dedup, clip)
