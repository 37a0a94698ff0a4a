"""The commands that show what hvgen knows: `hvgen list` (the names it accepts), `hvgen config`
(a resolved config), `hvgen models` (the model registry) and `hvgen stats` (a run's statistics).
They print data on stdout; `list`, `config` and `models` load no model library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hvgen.cli.options import QuietOpt, RunDir, VerboseOpt, load_run
from hvgen.cli.output import data_console, print_listing
from hvgen.config import EXECUTOR_SECTION, RunConfig
from hvgen.errors import HvgenError
from hvgen.generator import generators
from hvgen.progress import info


def list_command(
    what: Annotated[
        str | None,
        typer.Argument(
            metavar="WHAT",
            help="What to list: benchmarks, scenarios, corruptions, attacks, formats, models, conditions, or a benchmark's "
            "own lists (styles, subtasks, question-types, categories ...). Nothing: everything's names.",
        ),
    ] = None,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """List the names hvgen accepts: benchmarks, scenarios, corruptions, attacks, formats, styles ..."""
    listings = _listings(perturbations=what is None)
    if what is not None and what not in listings and not _qualified(listings, what):
        listings = _listings()  # a corruption or attack list, or a name to refuse with every valid one
    if what is None:
        shared = set(listings)
        for name, items in listings.items():
            # a benchmark's list shows under its plain name (`styles`), unless two benchmarks have a
            # list of that name: then under each qualified one (`herm-tasks`, `faceqa-tasks`)
            bench, _, plain = name.partition("-")
            if bench in generators() and plain in shared:
                continue
            print_listing(name, items)
        return
    shared = _qualified(listings, what)
    if what not in listings and shared:
        # a name several benchmarks use (`question-types`, `tasks`): each one's list, headed
        for name in shared:
            print_listing(name, listings[name])
        return
    if what not in listings:
        from hvgen.errors import unknown_name_error

        raise unknown_name_error("list", what, listings, hint="Run `hvgen list` to see them all.")
    for item in listings[what]:
        print(item)


def _qualified(listings: dict[str, list[str]], what: str) -> list[str]:
    """The benchmark lists named `what` (`dysca-question-types`, `vlbias-question-types` ...)."""
    return [
        name for name in listings if name.partition("-")[2] == what and name.partition("-")[0] in generators()
    ]


def _listings(perturbations: bool = True) -> dict[str, list[str]]:
    """Every list by name. The corruption and attack lists are defined beside their code, which
    imports albumentations and torch: only with `perturbations`."""
    from hvgen.generator import PlanRequest
    from hvgen.models import MODEL_REGISTRY
    from hvgen.publish.formats import format_names
    from hvgen.scenarios import SCENARIO_NAMES

    listings: dict[str, list[str]] = {"benchmarks": sorted(generators()), "scenarios": list(SCENARIO_NAMES)}
    if perturbations:
        from hvgen.scenarios.attack_settings import ATTACKS
        from hvgen.scenarios.corruption import PRESETS

        listings["corruption-presets"] = list(PRESETS)
        for preset, names in PRESETS.items():
            listings[f"corruptions-{preset}"] = list(names)
        listings["corruptions"] = sorted({name for names in PRESETS.values() for name in names})
        listings["attacks"] = list(ATTACKS)
    listings["formats"] = format_names()
    listings["models"] = list(MODEL_REGISTRY)
    from hvgen.conditions import load_recipes

    listings["conditions"] = sorted(load_recipes())  # --condition RECIPE (templates/conditions/)
    owners: dict[str, list[str]] = {}
    for name, cls in sorted(generators().items()):
        for key, items in cls(PlanRequest(run_seed=0, num=1, options={})).listings().items():
            owners.setdefault(key, []).append(name)
            listings[f"{name}-{key}"] = items
    for key, names in owners.items():  # plain names only where one benchmark has the list
        if len(names) == 1:
            listings[key] = listings[f"{names[0]}-{key}"]
    return listings


def config_command(
    source: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_DIR|FILE", help="A run directory (its config.yaml) or a YAML config file (--config)."
        ),
    ],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of YAML.")] = False,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Print the fully resolved config (every default filled in: the model's steps and size, the
    benchmark's options ...): what a run was, or a config file would be, made with."""
    import json

    import yaml

    if not source.exists():  # refused before the stages are imported (a refusal stays light)
        raise HvgenError(f"{source}: no such run directory or config file.")
    from hvgen.pipeline import build_generator, check_options, check_scenarios, describe_config

    if source.is_dir():
        config = load_run(source)
    elif source.is_file():
        config = RunConfig.load(source)
        check_options(config, str(source))
        try:  # the values too (a misspelled style or scenario), as a run with --config would
            check_scenarios(config)
            build_generator(config)
        except HvgenError as error:
            raise HvgenError(f"{source}: {error}") from None
        executor = executor_section(source)
    else:
        raise HvgenError(f"{source}: no such run directory or config file.")
    resolved = describe_config(config)
    if source.is_file() and executor:
        resolved[EXECUTOR_SECTION] = executor
    if as_json:
        sys.stdout.write(json.dumps(resolved, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True))


def executor_section(path: Path) -> dict[str, Any]:
    """A config file's `executor:` section, checked as `--config` would check it, every setting filled
    in ({} when the file has none: the run is local)."""
    from hvgen.executors.settings import load_section, public_settings, resolve_settings

    return public_settings(resolve_settings(path)) if load_section(path) else {}


def models_command(verbose: VerboseOpt = 0, quiet: QuietOpt = False) -> None:
    """List the model registry's short names with their model ids and default settings."""
    from hvgen.models import MODEL_REGISTRY

    # Plain lines, not a table: a table squeezed into a narrow terminal or cut at 80 columns in a
    # pipe breaks the ids, which users copy.
    width = max(len(name) for name in MODEL_REGISTRY)
    print("--model takes a short name below, any diffusers text-to-image model id, or a local folder:")
    for spec in MODEL_REGISTRY.values():
        print(f"  {spec.name:<{width}}  {spec.model_id}")
        print(
            f"  {'':<{width}}  {spec.width}×{spec.height}, {spec.steps} steps, guidance {spec.guidance}: "
            f"{spec.description}"
        )


JsonOpt = Annotated[
    str | None,
    typer.Option(
        "--json", metavar="FILE", help="Also write the statistics as JSON to FILE ('-': stdout only)."
    ),
]


def stats_command(
    run_dir: RunDir, json_out: JsonOpt = None, verbose: VerboseOpt = 0, quiet: QuietOpt = False
) -> None:
    """Print the run's statistics (counts, answer balance, prompt lengths, scenarios, drops) as tables."""
    import json

    config = load_run(run_dir)  # a missing or damaged run is refused before the stages are imported
    from hvgen.pipeline import scenario_levels
    from hvgen.scenarios.versions import scenario_versions
    from hvgen.stages.plan import build_generator
    from hvgen.stages.repair import ensure_catalog
    from hvgen.stats import compute_stats, stats_tables
    from hvgen.store.atomic import write_text_atomic
    from hvgen.store.catalog import open_catalog
    from hvgen.store.work import sync_manifests

    generator = build_generator(config)
    ensure_catalog(run_dir, config)
    with open_catalog(run_dir) as con:
        scenarios = scenario_levels(config)
        sync_manifests(con, run_dir, scenarios, scenario_versions(scenarios))
        stats = compute_stats(con, generator.stats_columns)
    text = json.dumps(stats, indent=2) + "\n"
    if json_out == "-":  # stdout holds the JSON alone, for pipes
        sys.stdout.write(text)
        return
    out = data_console()
    out.print(f"{stats['records']} questions over {stats['images']} images", highlight=False)
    for table in stats_tables(stats):
        out.print(table)
    if json_out:
        write_text_atomic(Path(json_out), text)
        info(f"statistics written to {json_out}", highlight=False)
