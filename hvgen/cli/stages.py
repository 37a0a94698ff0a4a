"""The stage commands: `hvgen plan|render|scenario|build RUN_DIR`, one stage at a time (render on
a GPU cluster, build on a laptop), and `run_build`, which the benchmark commands share."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hvgen import ranges
from hvgen.cli.options import (
    CLIP_FILTER_HELP,
    CLIP_THRESHOLD_HELP,
    FIDELITY_FILTER_HELP,
    FIDELITY_THRESHOLD_HELP,
    KEEP_FLAGGED_HELP,
    QuietOpt,
    RunDir,
    ShardOpt,
    VerboseOpt,
    load_run,
)
from hvgen.cli.output import print_build, print_plan, print_render, print_scenario
from hvgen.cli.publish import check_something_to_export, export_and_summarise
from hvgen.config import CONFIG_FILE, RunConfig, merge_overrides


def run_build(
    run_dir: Path,
    config: RunConfig,
    hamming: int | None,
    against: list[str],
    clip_model: str | None = None,
    clip_threshold: float | None = None,
    keep_flagged: bool = False,
    fidelity_model: str | None = None,
    fidelity_threshold: float | None = None,
) -> list[str]:
    """Run the build stage and print its result; returns its warnings (also printed)."""
    from hvgen.pipeline import stage_build

    return print_build(
        stage_build(
            run_dir,
            config,
            hamming,
            against,
            clip_model,
            clip_threshold,
            keep_flagged,
            fidelity_model,
            fidelity_threshold,
        )
    )


def plan_command(
    run_dir: RunDir,
    force: Annotated[bool, typer.Option(help="Re-plan even if the plan is current.")] = False,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Plan the run's records from its config.yaml (deterministic)."""
    from hvgen.pipeline import stage_plan

    config = load_run(run_dir)
    print_plan(run_dir, stage_plan(run_dir, config, force=force))


def render_command(
    run_dir: RunDir,
    shard: ShardOpt = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Images per pipeline call. [default: the run's]",
            parser=ranges.RENDER_BATCH.parser("--batch-size"),
        ),
    ] = None,
    device: Annotated[
        str | None,
        typer.Option(metavar="DEVICE", help="auto, cpu, cuda, cuda:1, mps ... [default: the run's]"),
    ] = None,
    dtype: Annotated[
        str | None,
        typer.Option(metavar="DTYPE", help="auto, float32, float16 or bfloat16. [default: the run's]"),
    ] = None,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Render the planned images that are not on disk yet (resumable, shardable)."""
    from hvgen.pipeline import stage_render
    from hvgen.sharding import parse_shard

    config = merge_overrides(
        load_run(run_dir), {"render.batch_size": batch_size, "render.device": device, "render.dtype": dtype}
    )
    print_render(stage_render(run_dir, config, parse_shard(shard)))


def scenario_command(
    run_dir: RunDir,
    scenario: Annotated[
        str | None,
        typer.Option(
            metavar="NAMES",
            help="Scenarios to produce: clean, corruption, print, adversarial, a comma list, or all. "
            "[default: the run's]",
        ),
    ] = None,
    shard: ShardOpt = None,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Produce scenario images (clean, corruption, print attack, adversarial) from rendered images."""
    from hvgen.pipeline import stage_scenarios
    from hvgen.scenarios import parse_scenarios
    from hvgen.sharding import parse_shard

    config = load_run(run_dir)
    if scenario:
        requested = parse_scenarios(scenario)
        config.scenario.scenarios = requested
        # remember them so `hvgen export` includes them
        known = RunConfig.load(run_dir / CONFIG_FILE)
        known.scenario.scenarios = parse_scenarios(sorted(set(known.scenario.scenarios) | set(requested)))
        known.save(run_dir)
    for item in stage_scenarios(run_dir, config, parse_shard(shard)):
        print_scenario(item)


def build_command(
    run_dir: RunDir,
    hamming: Annotated[
        int | None,
        typer.Option(
            metavar="BITS",
            parser=ranges.HAMMING.parser("--hamming"),
            help="Near-duplicate threshold: max pHash Hamming distance (of 64 bits). [default: 6]",
        ),
    ] = None,
    against: Annotated[
        list[str] | None,
        typer.Option(
            metavar="SOURCE",
            help="Earlier release to check for leaks: an export folder, parquet files/glob, a Hub dataset id, "
            "or a hash list (.txt/.csv/.parquet; format in README 'Fresh and leak-free'). Repeatable.",
        ),
    ] = None,
    clip_filter: Annotated[str | None, typer.Option(metavar="ID|DIR", help=CLIP_FILTER_HELP)] = None,
    clip_threshold: Annotated[
        float | None,
        typer.Option(
            metavar="NUMBER",
            help=CLIP_THRESHOLD_HELP,
            parser=ranges.CLIP_THRESHOLD.parser("--clip-threshold"),
        ),
    ] = None,
    keep_flagged: Annotated[bool, typer.Option("--keep-flagged", help=KEEP_FLAGGED_HELP)] = False,
    fidelity_filter: Annotated[str | None, typer.Option(metavar="ID|DIR", help=FIDELITY_FILTER_HELP)] = None,
    fidelity_threshold: Annotated[
        float | None,
        typer.Option(
            metavar="NUMBER",
            help=FIDELITY_THRESHOLD_HELP,
            parser=ranges.FIDELITY_THRESHOLD.parser("--fidelity-threshold"),
        ),
    ] = None,
    export: Annotated[
        bool, typer.Option("--export/--no-export", help="Write the export folder afterwards.")
    ] = True,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Deduplicate (exact, perceptual, questions), check leaks against earlier releases, optionally
    drop images CLIP finds unlike their prompt (Dysca's filter) and ControlNet images that do not
    follow their condition (control fidelity), then export."""
    from hvgen.summary import StageTimes

    config = load_run(run_dir)
    times = StageTimes()
    with times.stage("build"):
        warnings = run_build(
            run_dir, config, hamming, against or [], clip_filter, clip_threshold, keep_flagged,
            fidelity_filter, fidelity_threshold,
        )  # fmt: skip
    if export:
        export_and_summarise(run_dir, config, times, warnings)
    else:
        check_something_to_export(run_dir)
