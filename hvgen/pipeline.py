"""Runs the stages of a benchmark over a run directory.

`hvgen <benchmark>` calls these functions in order; the stage commands (`hvgen plan|render|
scenario|build|export RUN_DIR`) call the same functions one at a time, so a big job can render
on a GPU cluster and build on a laptop. This module also guards the run directory: a reopened
run must keep the settings that made its existing data (compared *resolved*: defaults filled
in), and a damaged catalog or records file is rebuilt from the config and the manifests.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hvgen.config import (
    RunConfig,
    ScenarioConfig,
    describe_difference,
    is_run_dir,
    load_run_config,
    previous_config,
    set_damaged_config_aside,
)
from hvgen.ctrlora.spec import check_ctrlora
from hvgen.errors import HvgenError, did_you_mean
from hvgen.generator import Generator, get_generator
from hvgen.lazy_module import lazy_import
from hvgen.models import check_controlnet, check_model, check_model_reachable, resolve_settings
from hvgen.progress import warn
from hvgen.publish.formats import parse_formats
from hvgen.scenarios import (
    SCENARIO_NAMES,
    check_scenario_settings,
    parse_scenarios,
    scenario_level,
    scenario_settings,
    surrogate_name,
)
from hvgen.scenarios.versions import scenario_versions
from hvgen.sharding import Shard
from hvgen.stages.plan import (
    PLAN_FINGERPRINT_KEY,
    RECORDS_HASH_KEY,
    PlanSummary,
    build_generator,
    rewrite_records_file,
    run_plan,
)
from hvgen.stages.repair import ensure_catalog, rebuild_catalog
from hvgen.store.catalog import CatalogCorruptError, get_meta, open_catalog
from hvgen.store.layout import CATALOG_FILE, CONFIG_FILE, MANIFEST_DIR, RECORDS_FILE

duckdb = lazy_import("duckdb")  # loaded on first use: `hvgen config` and refusals read no catalog

if TYPE_CHECKING:  # the stages that need arrow, images or models are imported where they run: the
    # run's checks here serve `hvgen config` and refusals of bad input, which should answer at once
    from hvgen.stages.export import ExportedConfig
    from hvgen.stages.render import RenderSummary
    from hvgen.stages.scenario import ScenarioSummary

MAX_NUM = 200_000
"""Largest --num accepted without --force (about 6x Dysca's 35,000 prompts): a typo such as
--num 1000000000 would otherwise plan for hours and fill the disk."""


def resolve_config(config: RunConfig) -> RunConfig:
    """`config` with defaults filled in (benchmark options, the model's sampler settings): two
    configs that would make the same data compare equal, and config.yaml shows what was used."""
    cls = get_generator(config.benchmark)
    settings = resolve_settings(config.render)
    render = replace(
        config.render,
        steps=settings.steps,
        guidance=settings.guidance,
        width=settings.width,
        height=settings.height,
    )
    scenario = replace(config.scenario, surrogate=surrogate_name(config))  # not null: the one used
    resolved = replace(
        config, options=cls.resolved_options(dict(config.options)), render=render, scenario=scenario
    )
    return replace(resolved, options=_canonical_options(resolved))


def _canonical_options(config: RunConfig) -> dict[str, Any]:
    """The benchmark's name lists in one spelling ('all' for every name, aliases resolved), for
    generators that declare them; a config the generator refuses is left as it is (the plan
    stage reports the mistake)."""
    cls = get_generator(config.benchmark)
    if (cls.name_list_options, cls.canonical_options) == (
        Generator.name_list_options,
        Generator.canonical_options,
    ):
        return config.options
    try:
        return build_generator(config).canonical_options(config.options)
    except HvgenError:
        return config.options


def check_options(config: RunConfig, origin: str = "config") -> None:
    """Refuse benchmark options the benchmark does not have (a misspelled key in a config file)
    or of the wrong type (`styles: 5`), naming the key."""
    known = get_generator(config.benchmark).option_defaults()
    parsers = get_generator(config.benchmark).option_parsers()
    for key, value in config.options.items():
        if key not in known:
            raise HvgenError(
                f"{origin}: unknown {config.benchmark} option '{key}'{did_you_mean(key, known)}. "
                f"Valid options: {', '.join(known)}."
            )
        default = known[key]
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(default, str):
            ok = isinstance(value, str) or (
                isinstance(value, list) and all(isinstance(v, str) for v in value)
            )
            expected = "a name or a comma-separated list of names"
        elif isinstance(default, int):
            ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
        else:
            ok, expected = True, ""
        if not ok:
            raise HvgenError(
                f"{origin}: option '{key}' must be {expected}, got {type(value).__name__} {value!r}."
            )
        spelled, parser = parsers.get(key, (None, None))
        if parser is not None and ok:
            try:
                parser(value)
            except HvgenError as error:  # the option's own words, the file's key in front
                raise HvgenError(
                    f"{origin}: options.{key} ({str(error)})"
                    if spelled is None
                    else f"{origin}: options.{key} ({spelled}){str(error).split(spelled, 1)[-1]}"
                ) from None


def check_out_dir(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise HvgenError(f"--out {run_dir} is a file, not a folder: choose a folder for the run.")
    parent = run_dir if run_dir.exists() else next((p for p in run_dir.parents if p.exists()), Path("."))
    if not os.access(parent, os.W_OK | os.X_OK):
        raise HvgenError(
            f"--out {run_dir}: cannot write in {parent} (permission denied); choose another folder."
        )


def has_manifest_rows(run_dir: Path, pattern: str) -> bool:
    """Whether any worker logged finished work matching `pattern` (e.g. 'render.*.jsonl')."""
    folder = run_dir / MANIFEST_DIR
    return folder.is_dir() and any(path.stat().st_size > 0 for path in folder.glob(pattern))


def check_num(config: RunConfig, force: bool = False) -> None:
    """The size ceiling, checked before anything else looks at --num (a huge plan takes hours)."""
    if config.num > MAX_NUM and not force:
        raise HvgenError(
            f"--num {config.num} is above {MAX_NUM:,} images, the limit without --force (a plan that size takes "
            "hours and a lot of disk). Pass --force if you mean it."
        )


def prepare_run_dir(
    run_dir: Path, config: RunConfig, overwrite: bool = False, force: bool = False
) -> RunConfig:
    """Create the run dir, or check an existing one can take `config`; returns the resolved
    config, saved as config.yaml.

    Settings that decided data already made may not change under it: the plan (seed, num,
    options ...) and the renderer (model, steps, size ...) once anything is rendered, and a
    scenario's settings once it has outputs — that would silently mix two datasets. A run that
    has rendered nothing may still change anything."""
    check_out_dir(run_dir)
    check_num(config, force)
    config = resolve_config(config)
    if overwrite and run_dir.exists():
        if not is_run_dir(run_dir) and any(run_dir.iterdir()):
            raise HvgenError(
                f"--overwrite refuses to delete {run_dir}: it is not an hvgen run directory (no {CONFIG_FILE})."
            )
        shutil.rmtree(run_dir)
    if is_run_dir(run_dir):
        previous = previous_config(run_dir)  # a damaged config.yaml: its copy, else None
        if previous.config is not None:
            _check_compatible(run_dir, resolve_config(previous.config), config)
        else:
            _check_plan_against_catalog(run_dir, config)
        set_damaged_config_aside(run_dir, previous)
    elif run_dir.exists() and any(p.name != ".gitkeep" for p in run_dir.iterdir()):
        raise HvgenError(
            f"{run_dir} exists and is not an hvgen run directory (no {CONFIG_FILE}); choose another --out."
        )
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
        config.save(run_dir)
    except OSError as error:
        raise HvgenError(
            f"--out {run_dir}: cannot write there ({error.strerror}); choose another folder."
        ) from None
    return config


def _check_plan_against_catalog(run_dir: Path, config: RunConfig) -> None:
    """With config.yaml and its copy both damaged, the plan a rerun asks for is still checked
    against the plan fingerprint the catalog recorded (images made for another plan must not be
    mixed in); an unreadable catalog is rebuilt from this command's plan by the plan stage."""
    if not (run_dir / CATALOG_FILE).exists() or not has_manifest_rows(run_dir, "render.*.jsonl"):
        return
    try:
        with open_catalog(run_dir, read_only=True) as con:
            recorded = get_meta(con, PLAN_FINGERPRINT_KEY)
    except CatalogCorruptError:
        return
    if recorded is not None and recorded != config.plan_fingerprint():
        raise HvgenError(
            f"{run_dir} already holds images made with different plan settings "
            f"({describe_difference(recorded, config.plan_fingerprint())}). Use a new --out directory, or pass "
            "--overwrite to delete the old run."
        )


def _check_compatible(run_dir: Path, previous: RunConfig, config: RunConfig) -> None:
    hint = "Use a new --out directory, or pass --overwrite to delete the old run."
    if previous.benchmark != config.benchmark:
        raise HvgenError(f"{run_dir} is a {previous.benchmark} run, not {config.benchmark}. {hint}")
    rendered = has_manifest_rows(run_dir, "render.*.jsonl")
    for label, old, new in (
        ("plan", previous.plan_fingerprint(), config.plan_fingerprint()),
        ("render", previous.render_fingerprint(), config.render_fingerprint()),
    ):
        if old != new and rendered:
            raise HvgenError(
                f"{run_dir} already holds images made with different {label} settings "
                f"({describe_difference(old, new)}). {hint}"
            )
    for name in parse_scenarios(previous.scenario.scenarios):
        old, new = scenario_settings(name, previous), scenario_settings(name, config)
        if old != new and has_manifest_rows(run_dir, f"scenario-{name}.*.jsonl"):
            raise HvgenError(
                f"{run_dir} already holds {name} samples made with other settings ({describe_difference(old, new)}); "
                f"one config must not mix two kinds of samples. {hint}"
            )


def _records_sha256(run_dir: Path) -> str | None:
    path = run_dir / RECORDS_FILE
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def plan_is_current(run_dir: Path, config: RunConfig) -> bool:
    """Whether the catalog holds this config's plan (a damaged catalog raises CatalogCorruptError)."""
    if not (run_dir / CATALOG_FILE).exists():
        return False
    with open_catalog(run_dir, read_only=True) as con:
        return get_meta(con, PLAN_FINGERPRINT_KEY) == config.plan_fingerprint()


def stage_plan(run_dir: Path, config: RunConfig, force: bool = False) -> PlanSummary | None:
    """Plan unless an identical plan is already in the catalog (resume). A damaged catalog is
    set aside and rebuilt; a damaged records.jsonl is rewritten from the (deterministic) plan."""
    current = False
    try:
        current = not force and plan_is_current(run_dir, config)
        recorded_hash = _recorded_records_hash(run_dir) if current else None
    except CatalogCorruptError as error:
        return rebuild_catalog(run_dir, config, error.reason, error.aside)
    if current:
        if recorded_hash is not None and _records_sha256(run_dir) != recorded_hash:
            if not rewrite_records_file(run_dir, config, recorded_hash):
                raise HvgenError(
                    f"{run_dir / RECORDS_FILE} is damaged and the plan no longer reproduces it (were the templates or "
                    "vocabularies edited?). Rerun with --overwrite, or restore the file."
                )
            warn(f"{run_dir / RECORDS_FILE} was damaged; rewrote it from the plan.")
        return None
    return run_plan(run_dir, config)


T = TypeVar("T")


def with_catalog(run_dir: Path, config: RunConfig, work: Callable[[], T]) -> T:
    """`work()` on a checked catalog (`ensure_catalog`). Damage that shows only while the work
    reads or writes it (a block the first check did not need) sets the catalog aside; it is then
    rebuilt and the work, which resumes, runs once more."""
    ensure_catalog(run_dir, config)
    try:
        return work()
    except CatalogCorruptError as error:
        rebuild_catalog(run_dir, config, error.reason, error.aside)
        return work()


def _recorded_records_hash(run_dir: Path) -> str | None:
    with open_catalog(run_dir, read_only=True) as con:
        return get_meta(con, RECORDS_HASH_KEY)


def wait_for_plan(run_dir: Path, config: RunConfig, timeout: float = 1800.0, poll: float = 2.0) -> None:
    """Block until another process (shard 0) has written this config's plan.

    Several shard processes started together (torchrun, a Slurm array) must not all plan: only
    one process may write the catalog, so the others poll it read-only until the plan is there.
    """
    config = resolve_config(config)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        config_path = run_dir / CONFIG_FILE
        if config_path.is_file():
            try:
                previous = resolve_config(RunConfig.load(config_path))
            except HvgenError:
                previous = None  # shard 0 is still writing it
            if previous is not None and previous.plan_fingerprint() != config.plan_fingerprint():
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


def check_device(device: str) -> None:
    """Refuse a device this machine does not have, before any model is loaded."""
    if not device.startswith("cuda"):
        if device == "mps":
            import torch

            if not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
                raise HvgenError("--device mps: this machine has no Apple GPU. Use --device auto or cpu.")
        return
    import torch

    if not torch.cuda.is_available():
        raise HvgenError(
            f"--device {device}: no CUDA GPU is visible on this machine. Use --device auto or cpu."
        )
    index = int(device.split(":")[1]) if ":" in device else 0
    if index >= torch.cuda.device_count():
        raise HvgenError(
            f"--device {device}: this machine has {torch.cuda.device_count()} CUDA device(s) (cuda:0 ...)."
        )


def stage_render(run_dir: Path, config: RunConfig, shard: Shard) -> RenderSummary:
    from hvgen.stages.render import run_render

    generator = build_generator(config)
    if generator.supplies_images:  # photographs: copied, not rendered (a run's options may decide)
        from hvgen.stages.supply import run_supply

        return with_catalog(run_dir, config, lambda: run_supply(run_dir, generator, shard, config.render))
    check_model(config.render.model)
    if config.render.controlnet:
        check_controlnet(config.render.controlnet)
    check_ctrlora(config.render.controlnet, config.render.ctrlora_loras, config.render.model, None)
    check_device(config.render.device)
    check_model_reachable(config.render.model)
    return with_catalog(run_dir, config, lambda: run_render(run_dir, config.render, shard))


def check_scenarios(config: RunConfig) -> list[str]:
    """The run's scenarios, canonical; refuse those its benchmark does not support."""
    names = parse_scenarios(config.scenario.scenarios)
    supported = get_generator(config.benchmark).supported_scenarios
    unsupported = [name for name in names if supported is not None and name not in supported]
    if unsupported:
        raise HvgenError(
            f"benchmark '{config.benchmark}' does not support scenario(s) {', '.join(unsupported)}: "
            f"use {', '.join(supported or ())}."
        )
    for name in names:  # fail on a bad corruption / attack name now, not after hours of rendering
        check_scenario_settings(name, config)
    # An unselected scenario left at its default settings needs no check: constructing it would
    # only import torch or albumentations before a refusal or a clean-only run.
    defaults = replace(config, scenario=ScenarioConfig())
    for name in supported or SCENARIO_NAMES:
        if name not in names and scenario_settings(name, config) != scenario_settings(name, defaults):
            check_scenario_settings(name, config)
    return names


def scenario_levels(config: RunConfig) -> dict[str, str]:
    return {name: scenario_level(name) for name in parse_scenarios(config.scenario.scenarios)}


def stage_scenarios(run_dir: Path, config: RunConfig, shard: Shard) -> list[ScenarioSummary]:
    from hvgen.stages.scenario import run_scenario

    names = check_scenarios(config)
    if "adversarial" in names:
        check_device(config.render.device)
    return [
        with_catalog(run_dir, config, lambda name=name: run_scenario(run_dir, config, name, shard))
        for name in names
    ]


def stage_export(
    run_dir: Path,
    config: RunConfig,
    formats: str | list[str] | None = None,
    allow_incomplete: bool = False,
) -> list[ExportedConfig]:
    from hvgen.stages.export import run_export

    chosen = parse_formats(formats, config.benchmark)
    for fmt in chosen:
        fmt.check(config)
    return with_catalog(
        run_dir,
        config,
        lambda: run_export(
            run_dir,
            config,
            build_generator(config),
            scenarios=scenario_levels(config),
            formats=chosen,
            allow_incomplete=allow_incomplete,
        ),
    )


def check_export_publishable(run_dir: Path) -> None:
    """For `hvgen push`: refuse an export that was not written from the run's current decisions
    (`hvgen.store.decisions`), after syncing the catalog with the manifests."""
    from hvgen.store.decisions import check_export_current
    from hvgen.store.layout import EXPORT_DIR
    from hvgen.store.work import sync_manifests

    if not (run_dir / EXPORT_DIR).is_dir():
        return  # the push says there is nothing to upload
    config = load_run_config(run_dir)
    scenarios = scenario_levels(config)

    def check() -> None:
        with open_catalog(run_dir) as con:
            sync_manifests(con, run_dir, scenarios, scenario_versions(scenarios))
            check_export_current(run_dir, con, list(scenarios))

    with_catalog(run_dir, config, check)


def describe_config(config: RunConfig) -> dict:
    """The resolved config as a plain dict (what `hvgen config RUN` prints)."""
    return asdict(resolve_config(config))


def stage_build(
    run_dir: Path,
    config: RunConfig,
    hamming: int | None = None,
    against: list[str] | None = None,
    clip_model: str | None = None,
    clip_threshold: float | None = None,
    keep_flagged: bool = False,
    fidelity_model: str | None = None,
    fidelity_threshold: float | None = None,
):
    from hvgen.stages.build import run_build

    return with_catalog(
        run_dir,
        config,
        lambda: run_build(
            run_dir,
            config,
            scenario_levels(config),
            hamming,
            against,
            clip_model,
            clip_threshold,
            keep_flagged,
            fidelity_model,
            fidelity_threshold,
        ),
    )
