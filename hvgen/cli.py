"""The `hvgen` command line: thin wrappers that parse options and call the stages.

One command per registered benchmark (`hvgen dysca ...`) runs every stage; the stage commands
(`hvgen plan|render|scenario|build|export|stats|push RUN_DIR`) run one at a time.
"""

from __future__ import annotations

import inspect
import sys
import typing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hvgen import __version__
from hvgen.config import CONFIG_FILE, RunConfig, merge_overrides
from hvgen.errors import HvgenError
from hvgen.generator import Generator, generators
from hvgen.progress import console

app = typer.Typer(
    name="hvgen",
    help="Regenerate, deduplicate and publish synthetic vision-language benchmarks (fresh, leak-free splits).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

RunDir = Annotated[
    Path, typer.Argument(help="A run directory made by a benchmark command (holds config.yaml).")
]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        help="Work on shard i of N ('i/N'); defaults to RANK/WORLD_SIZE when set by torchrun/accelerate."
    ),
]

# Options every benchmark command shares: CLI name → (config key, typer parameter).
_COMMON: list[tuple[str, inspect.Parameter]] = []


def _common(name: str, key: str | None, annotation: Any, default: Any = None) -> None:
    """Declare a shared option; `default=None` means "not given" (the config's value is kept)."""
    _COMMON.append(
        (
            key or "",
            inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation),
        )
    )


_common(
    "num",
    "num",
    Annotated[
        int | None,
        typer.Option(
            help="Number of images to plan (each gets several questions). [default: the benchmark's]"
        ),
    ],
)
_common(
    "seed",
    "seed",
    Annotated[
        int | None,
        typer.Option(help="Run seed: every random choice derives from (seed, item id). [default: 2024]"),
    ],
)
_common("out", None, Annotated[Path | None, typer.Option(help="Run directory. [default: runs/<benchmark>]")])
_common(
    "model",
    "render.model",
    Annotated[
        str | None,
        typer.Option(
            help="Text-to-image model: sdxl (default), sd15, tiny (built-in, offline), a Hub id or a local diffusers folder."
        ),
    ],
)
_common(
    "scenario",
    "scenario.scenarios",
    Annotated[
        str | None,
        typer.Option(
            help="Scenarios: clean (default), corruption, print, adversarial, a comma list, or all."
        ),
    ],
)
_common(
    "steps",
    "render.steps",
    Annotated[int | None, typer.Option(help="Denoising steps. [default: the model's; SDXL 50]")],
)
_common(
    "guidance",
    "render.guidance",
    Annotated[float | None, typer.Option(help="Classifier-free guidance scale. [default: 7.5]")],
)
_common(
    "width",
    "render.width",
    Annotated[int | None, typer.Option(help="Image width in pixels. [default: the model's; SDXL 1024]")],
)
_common(
    "height",
    "render.height",
    Annotated[int | None, typer.Option(help="Image height in pixels. [default: the model's; SDXL 1024]")],
)
_common(
    "batch_size",
    "render.batch_size",
    Annotated[int | None, typer.Option(help="Images per pipeline call. [default: 4]")],
)
_common(
    "dtype",
    "render.dtype",
    Annotated[
        str | None, typer.Option(help="auto (fp16 on CUDA, fp32 on CPU), float32, float16 or bfloat16.")
    ],
)
_common(
    "device", "render.device", Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1, mps ...")]
)
_common(
    "compile",
    "render.compile",
    Annotated[
        bool | None,
        typer.Option("--compile/--no-compile", help="torch.compile the UNet (faster on long GPU runs)."),
    ],
)
_common(
    "vae_tiling",
    "render.vae_tiling",
    Annotated[
        bool | None,
        typer.Option(
            "--vae-tiling/--no-vae-tiling",
            help="Decode with VAE tiling (less GPU memory at high resolution).",
        ),
    ],
)
_common(
    "corruption_preset",
    "scenario.corruption_preset",
    Annotated[
        str | None, typer.Option(help="Corruption preset: dysca (the original 11 types) or imagenet-c.")
    ],
)
_common(
    "corruptions",
    "scenario.corruptions",
    Annotated[
        str | None,
        typer.Option(help="Comma list of corruption types to draw from (overrides the preset's list)."),
    ],
)
_common(
    "severity",
    "scenario.severity",
    Annotated[int | None, typer.Option(help="Fix the corruption severity (1-5); default: drawn per image.")],
)
_common(
    "attack",
    "scenario.attack",
    Annotated[
        str | None,
        typer.Option(help="Adversarial attack (torchattacks): pgd (default), fgsm, bim, mifgsm ..."),
    ],
)
_common(
    "eps",
    "scenario.eps",
    Annotated[float | None, typer.Option(help="Attack L-inf budget in [0,1] units. [default: 8/255]")],
)
_common(
    "surrogate",
    "scenario.surrogate",
    Annotated[
        str | None,
        typer.Option(
            help="Surrogate CLIP for attacks (id or path). [default: openai/clip-vit-large-patch14; tiny with --model tiny]"
        ),
    ],
)
_common(
    "vocab",
    "vocab_dir",
    Annotated[
        Path | None,
        typer.Option(help="Folder of vocabulary files that replace the shipped ones of the same name."),
    ],
)
_common(
    "templates",
    "templates_dir",
    Annotated[
        Path | None,
        typer.Option(help="Folder of Jinja templates that replace the shipped ones of the same name."),
    ],
)
_common(
    "against",
    None,
    Annotated[
        list[str] | None,
        typer.Option(
            help="Deduplicate and drop anything near-identical to this earlier release (export folder, parquet, Hub id or hash list). Repeatable."
        ),
    ],
)
CLIP_FILTER_HELP = (
    "Drop images whose CLIP score against their prompt is <= --clip-threshold, as Dysca does: a CLIP id or "
    "path, or 'tiny'. Off by default."
)
CLIP_THRESHOLD_HELP = (
    "CLIP score (100 x cosine) at or below which an image is dropped. [default: 25, Dysca's]"
)
_common("clip_filter", None, Annotated[str | None, typer.Option(help=CLIP_FILTER_HELP)])
_common("clip_threshold", None, Annotated[float | None, typer.Option(help=CLIP_THRESHOLD_HELP)])
_common("shard", None, ShardOpt)
_common(
    "config", None, Annotated[Path | None, typer.Option(help="YAML run config; CLI options override it.")]
)
_common(
    "dry_run",
    None,
    Annotated[bool, typer.Option("--dry-run", help="Plan and report only: render nothing.")],
    default=False,
)
_common(
    "force",
    None,
    Annotated[
        bool,
        typer.Option("--force", help="Accept a --num above the safety limit (200,000 images)."),
    ],
    default=False,
)
_common(
    "overwrite",
    None,
    Annotated[
        bool, typer.Option("--overwrite", help="Delete an existing run directory of another config first.")
    ],
    default=False,
)


def _benchmark_command(cls: type[Generator]):
    # Resolve string annotations (modules using `from __future__ import annotations`).
    hints = typing.get_type_hints(cls.cli_options, include_extras=True)
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(cls.cli_options).parameters.values()
    ]

    def command(ctx: typer.Context, **kwargs: Any) -> None:
        common = {param.name: kwargs.pop(param.name) for _, param in _COMMON}
        # Only options given on the command line override a --config file (not their defaults).
        given = {
            name: value
            for name, value in kwargs.items()
            if getattr(ctx.get_parameter_source(name), "name", "") != "DEFAULT"
        }
        _run_benchmark(cls, generator_options=given, common=common)

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    command.__signature__ = inspect.Signature([context, *own, *(param for _, param in _COMMON)])  # type: ignore[attr-defined]
    command.__doc__ = (cls.__doc__ or cls.title) + "\n\nRuns every stage: plan → render → scenarios → export."
    command.__name__ = cls.name
    return command


def _list_value(value: Any) -> Any:
    return [item.strip() for item in value.split(",")] if isinstance(value, str) else value


def _run_benchmark(cls: type[Generator], generator_options: dict[str, Any], common: dict[str, Any]) -> None:
    from hvgen.pipeline import (
        check_device,
        check_options,
        check_scenarios,
        prepare_run_dir,
        stage_export,
        stage_plan,
        stage_render,
        stage_scenarios,
        wait_for_plan,
    )
    from hvgen.sharding import parse_shard
    from hvgen.stages.plan import build_generator

    base = (
        RunConfig.load(common["config"])
        if common["config"]
        else RunConfig(benchmark=cls.name, num=cls.default_num)
    )
    if base.benchmark != cls.name:
        raise HvgenError(f"{common['config']} is a config for '{base.benchmark}', not '{cls.name}'.")
    overrides = {key: common[param.name] for key, param in _COMMON if key}
    for list_key in ("scenario.scenarios", "scenario.corruptions"):
        overrides[list_key] = _list_value(overrides[list_key])
    for path_key in ("vocab_dir", "templates_dir"):
        if overrides[path_key] is not None:
            overrides[path_key] = str(Path(overrides[path_key]).resolve())
    config = merge_overrides(base, overrides)
    check_options(config, str(common["config"] or "config"))
    config.options = {**config.options, **{k: v for k, v in generator_options.items() if v is not None}}
    config.scenario.scenarios = check_scenarios(config)
    build_generator(config)  # validate options before touching the disk
    run_dir = common["out"] or Path("runs") / cls.name
    shard = parse_shard(common["shard"])
    if not common["dry_run"]:
        check_device(config.render.device)  # before planning, not after

    console.print(f"[bold]hvgen {cls.name}[/] → {run_dir}  (model {config.render.model}, seed {config.seed})")
    if shard.index == 0:
        created = not run_dir.exists()
        config = prepare_run_dir(run_dir, config, overwrite=common["overwrite"], force=common["force"])
        try:
            summary = stage_plan(run_dir, config)
        except HvgenError:
            if created:  # bad input found while planning (a vocabulary, a template): leave nothing behind
                import shutil

                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        _print_plan(run_dir, summary)
    else:  # launched by torchrun / several --shard processes: shard 0 plans, the others wait for it
        console.print(f"shard {shard.tag}: waiting for shard 0 to plan {run_dir} ...")
        wait_for_plan(run_dir, config)
    if common["dry_run"]:
        console.print("dry run: nothing rendered.")
        return
    _print_render(stage_render(run_dir, config, shard))
    for item in stage_scenarios(run_dir, config, shard):
        _print_scenario(item)
    if not shard.is_whole:
        console.print(f"shard {shard.tag} done; when every shard has finished run `hvgen export {run_dir}`.")
        return
    if common["against"] or common["clip_filter"]:
        _build(
            run_dir, config, None, common["against"] or [], common["clip_filter"], common["clip_threshold"]
        )
    exported = stage_export(run_dir, config)
    _print_export(run_dir, exported)


def _print_plan(run_dir: Path, summary: Any) -> None:
    if summary is None:
        console.print("plan: up to date (resuming).")
        return
    console.print(
        f"plan: {summary.records} questions over {summary.images} images {summary.by_question_type}"
    )
    if summary.position_balance:
        table = Table(title="answer-position balance", show_lines=False)
        for column in ("question type", "options", "answers per position", "chi² p"):
            table.add_column(column)
        for row in summary.position_balance:
            table.add_row(
                row["question_type"],
                str(row["options"]),
                " / ".join(map(str, row["counts"])),
                str(row["chi2_p"]),
            )
        console.print(table)
    for note in summary.notes:
        console.print(note)
    for warning in summary.warnings:
        console.print(f"[yellow]warning:[/] {warning}")


def _print_render(summary: Any) -> None:
    console.print(
        f"render: {summary.rendered} rendered, {summary.already_done} already done, "
        f"{summary.total_in_shard} in this shard ({summary.seconds:.1f} s)"
    )


def _print_scenario(summary: Any) -> None:
    console.print(
        f"scenario {summary.scenario}: {summary.written} written, {summary.skipped} not applicable, "
        f"{summary.already_done} already done"
    )


def _print_export(run_dir: Path, exported: list[Any]) -> None:
    for item in exported:
        console.print(f"export: config '{item.name}': {item.rows} rows in {len(item.files)} file(s)")
    console.print(
        f"done: load it with datasets.load_dataset('{run_dir / 'export'}', '{exported[0].name if exported else 'clean'}')"
    )


def _load_run(run_dir: Path) -> RunConfig:
    if not (run_dir / CONFIG_FILE).is_file():
        raise HvgenError(
            f"{run_dir} is not an hvgen run directory (no {CONFIG_FILE}). Create one with `hvgen <benchmark> --out {run_dir}`."
        )
    return RunConfig.load(run_dir / CONFIG_FILE)


@app.command("plan")
def plan_command(
    run_dir: RunDir, force: Annotated[bool, typer.Option(help="Re-plan even if the plan is current.")] = False
) -> None:
    """Plan the run's records from its config.yaml (deterministic)."""
    from hvgen.pipeline import stage_plan

    config = _load_run(run_dir)
    _print_plan(run_dir, stage_plan(run_dir, config, force=force))


@app.command("render")
def render_command(
    run_dir: RunDir,
    shard: ShardOpt = None,
    batch_size: Annotated[int | None, typer.Option(help="Images per pipeline call.")] = None,
    device: Annotated[str | None, typer.Option(help="auto, cpu, cuda, cuda:1, mps ...")] = None,
    dtype: Annotated[str | None, typer.Option(help="auto, float32, float16 or bfloat16.")] = None,
) -> None:
    """Render the planned images that are not on disk yet (resumable, shardable)."""
    from hvgen.pipeline import stage_render
    from hvgen.sharding import parse_shard

    config = merge_overrides(
        _load_run(run_dir), {"render.batch_size": batch_size, "render.device": device, "render.dtype": dtype}
    )
    _print_render(stage_render(run_dir, config, parse_shard(shard)))


@app.command("scenario")
def scenario_command(
    run_dir: RunDir,
    scenario: Annotated[
        str | None,
        typer.Option(
            help="Scenarios to produce (default: the run's): clean, corruption, print, adversarial, all."
        ),
    ] = None,
    shard: ShardOpt = None,
) -> None:
    """Produce scenario images (clean, corruption, print attack, adversarial) from rendered images."""
    from hvgen.pipeline import stage_scenarios
    from hvgen.scenarios import parse_scenarios
    from hvgen.sharding import parse_shard

    config = _load_run(run_dir)
    if scenario:
        requested = parse_scenarios(scenario)
        config.scenario.scenarios = requested
        # remember them so `hvgen export` includes them
        known = RunConfig.load(run_dir / CONFIG_FILE)
        known.scenario.scenarios = parse_scenarios(sorted(set(known.scenario.scenarios) | set(requested)))
        known.save(run_dir)
    for item in stage_scenarios(run_dir, config, parse_shard(shard)):
        _print_scenario(item)


FormatOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--format",
        help="Also write this consumer's layout under RUN/formats/<name>/ (beside the Hub folder, never "
        "uploaded by push): vlmevalkit, lmms-eval, the benchmark's original release layout (dysca, vlbias), "
        "or all. Repeatable. See `hvgen list formats`.",
    ),
]


@app.command("export")
def export_command(
    run_dir: RunDir,
    formats: FormatOpt = None,
    vlmevalkit: Annotated[
        bool, typer.Option("--vlmevalkit", help="Same as --format vlmevalkit.", hidden=True)
    ] = False,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Export even though planned images or scenario samples are missing (the card says so). "
            "Without it, an unfinished run is refused.",
        ),
    ] = False,
) -> None:
    """Write the Hub-ready export folder (parquet shards + dataset card), and other formats on request."""
    from hvgen.pipeline import stage_export

    requested = list(formats or []) + (["vlmevalkit"] if vlmevalkit else [])
    config = _load_run(run_dir)
    exported = stage_export(run_dir, config, formats=requested, allow_incomplete=allow_incomplete)
    _print_export(run_dir, exported)
    _print_format_steps(run_dir, requested, config.benchmark)


def _print_format_steps(run_dir: Path, requested: list[str], benchmark: str) -> None:
    """Where each extra format went and how to run its consumer (`ExportFormat.next_steps`)."""
    from hvgen.publish.formats import FORMATS_DIR, parse_formats

    for fmt in parse_formats(requested, benchmark):
        out = run_dir / FORMATS_DIR / fmt.name
        steps = fmt.next_steps(out)
        # unwrapped and without markup: the lines are commands to copy
        console.print(
            f"format {fmt.name}: {out}" + (f"\n{steps}" if steps else ""),
            markup=False,
            highlight=False,
            soft_wrap=True,
        )


def _build(
    run_dir: Path,
    config: RunConfig,
    hamming: int | None,
    against: list[str],
    clip_model: str | None = None,
    clip_threshold: float | None = None,
) -> None:
    from hvgen.pipeline import stage_build

    result = stage_build(run_dir, config, hamming, against, clip_model, clip_threshold)
    console.print(result.dedup.summary_table())
    if result.clip:
        console.print(
            f"clip filter ({result.clip['model']}, score <= {result.clip['threshold']}): "
            f"{result.clip['dropped_images']} image(s) dropped"
        )


@app.command("build")
def build_command(
    run_dir: RunDir,
    hamming: Annotated[
        int | None,
        typer.Option(
            help="Near-duplicate threshold: max pHash Hamming distance (of 64 bits). [default: see hvgen.stages.build.dedup]"
        ),
    ] = None,
    against: Annotated[
        list[str] | None,
        typer.Option(
            help="Earlier release to check for leaks: an export folder, parquet files/glob, a Hub dataset id, "
            "or a hash list (.txt/.csv/.parquet). Repeatable."
        ),
    ] = None,
    clip_filter: Annotated[str | None, typer.Option(help=CLIP_FILTER_HELP)] = None,
    clip_threshold: Annotated[float | None, typer.Option(help=CLIP_THRESHOLD_HELP)] = None,
    export: Annotated[
        bool, typer.Option("--export/--no-export", help="Write the export folder afterwards.")
    ] = True,
) -> None:
    """Deduplicate (exact, perceptual, questions), check leaks against earlier releases, optionally
    drop images CLIP finds unlike their prompt (Dysca's filter), then export."""
    from hvgen.pipeline import stage_export

    config = _load_run(run_dir)
    _build(run_dir, config, hamming, against or [], clip_filter, clip_threshold)
    if export:
        _print_export(run_dir, stage_export(run_dir, config))


@app.command("stats")
def stats_command(
    run_dir: RunDir,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the statistics as JSON here.")
    ] = None,
) -> None:
    """Print the run's statistics (counts, answer balance, prompt lengths, scenarios, drops)."""
    import json

    from hvgen.pipeline import scenario_levels
    from hvgen.stages.plan import build_generator
    from hvgen.stats import compute_stats
    from hvgen.store.atomic import write_text_atomic
    from hvgen.store.catalog import open_catalog
    from hvgen.store.work import sync_manifests

    config = _load_run(run_dir)
    generator = build_generator(config)
    with open_catalog(run_dir) as con:
        sync_manifests(con, run_dir, scenario_levels(config))
        stats = compute_stats(con, generator.stats_columns)
    console.print(f"{stats['records']} questions over {stats['images']} images")
    for column, rows in stats["counts"].items():
        table = Table(title=f"questions per {column}")
        table.add_column(column)
        table.add_column("questions", justify="right")
        for value, n in rows:
            table.add_row(value, str(n))
        console.print(table)
    for key in ("position_balance", "prompt_length", "scenarios", "attack_success", "corruptions", "drops"):
        if stats.get(key):
            console.print(f"[bold]{key.replace('_', ' ')}[/]: {stats[key]}")
    if json_out:
        write_text_atomic(json_out, json.dumps(stats, indent=2) + "\n")


@app.command("push")
def push_command(
    run_dir: RunDir,
    repo_id: Annotated[str, typer.Option(help="Hub dataset repository, OWNER/NAME.")],
    private: Annotated[bool, typer.Option(help="Create the repository as private.")] = False,
    tag: Annotated[str | None, typer.Option(help="Tag the pushed commit, e.g. v2026.11.")] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be uploaded; contact nothing.")
    ] = False,
) -> None:
    """Upload the export folder to the Hugging Face Hub (token from HF_TOKEN or `hf auth login`)."""
    from hvgen.publish.hub import PushError, push_folder

    folder = run_dir / "export"
    try:
        result = push_folder(folder, repo_id, private=private, tag=tag, dry_run=dry_run)
    except (PushError, ValueError) as error:
        raise HvgenError(str(error)) from None
    console.print(result.table())


@app.command("score")
def score_command(
    benchmark: Annotated[str, typer.Argument(help="Benchmark name, e.g. vlbias.")],
    source: Annotated[
        Path, typer.Argument(help="A run directory or an export folder holding the questions.")
    ],
    predictions: Annotated[
        Path, typer.Argument(help='JSONL file, one {"id": ..., "prediction": ...} per line.')
    ],
    output: Annotated[
        Path | None, typer.Option(help="Write the full report here (.json, or .csv for the table).")
    ] = None,
) -> None:
    """Score a model's predictions on a benchmark's questions."""
    from hvgen.generator import get_generator
    from hvgen.scoring import load_questions, write_report

    cls = get_generator(benchmark)
    records = load_questions(source)
    try:
        report = cls.score(records, predictions)
    except NotImplementedError as error:
        raise HvgenError(str(error)) from None
    rows = report.get("table") or []
    if rows:
        table = Table(title=f"{cls.title} scores")
        for column in rows[0]:
            table.add_column(str(column))
        for row in rows:
            table.add_row(*(f"{v:.4f}" if isinstance(v, float) else str(v) for v in row.values()))
        console.print(table)
    for key in ("missing_ids", "extra_ids"):
        if report.get(key):
            console.print(
                f"[yellow]{key.replace('_', ' ')}:[/] {len(report[key])} (first: {report[key][:5]})"
            )
    if output:
        write_report(report, output)
        console.print(f"report written to {output}")


@app.command("preview")
def preview_command(
    run_dir: RunDir,
    scenario: Annotated[str, typer.Option(help="Which scenario's images to show.")] = "clean",
    num: Annotated[int, typer.Option(help="How many samples to show.")] = 48,
    output: Annotated[
        Path | None, typer.Option(help="HTML file to write. [default: RUN_DIR/preview-<scenario>.html]")
    ] = None,
) -> None:
    """Write an HTML contact sheet of images with their questions and answers."""
    from hvgen.publish.preview import write_preview
    from hvgen.scenarios import parse_scenarios

    (name,) = parse_scenarios(scenario)[:1]
    target = output or run_dir / f"preview-{name}.html"
    from hvgen.pipeline import scenario_levels

    shown = write_preview(run_dir, name, num, target, scenario_levels(_load_run(run_dir)))
    console.print(f"preview: {shown} samples → {target}")


@app.command("list")
def list_command(
    what: Annotated[
        str | None,
        typer.Argument(
            help="What to list: benchmarks, scenarios, corruptions, attacks, formats, models, or a benchmark's "
            "own lists (styles, subtasks, question-types, categories ...). Nothing: everything's names."
        ),
    ] = None,
) -> None:
    """List the names hvgen accepts: benchmarks, scenarios, corruptions, attacks, formats, styles ..."""
    listings = _listings()
    if what is None:
        prefixes = tuple(f"{name}-" for name in generators())
        for name, items in listings.items():
            if name.startswith(prefixes):  # benchmark-qualified duplicates, for `hvgen list dysca-styles`
                continue
            console.print(f"[bold]{name}[/] ({len(items)}): {', '.join(items)}", highlight=False)
        return
    if what not in listings:
        from hvgen.errors import unknown_name_error

        raise unknown_name_error("list", what, listings, hint="Run `hvgen list` to see them all.")
    for item in listings[what]:
        print(item)


def _listings() -> dict[str, list[str]]:
    from hvgen.generator import PlanRequest
    from hvgen.models import MODEL_REGISTRY
    from hvgen.publish.formats import format_names
    from hvgen.scenarios import SCENARIO_NAMES
    from hvgen.scenarios.adversarial import ATTACKS
    from hvgen.scenarios.corruption import PRESETS

    listings: dict[str, list[str]] = {
        "benchmarks": sorted(generators()),
        "scenarios": list(SCENARIO_NAMES),
        "corruption-presets": list(PRESETS),
    }
    for preset, names in PRESETS.items():
        listings[f"corruptions-{preset}"] = list(names)
    listings["corruptions"] = sorted({name for names in PRESETS.values() for name in names})
    listings["attacks"] = list(ATTACKS)
    listings["formats"] = format_names()
    listings["models"] = list(MODEL_REGISTRY)
    for name, cls in sorted(generators().items()):
        for key, items in cls(PlanRequest(run_seed=0, num=1, options={})).listings().items():
            listings.setdefault(key, items)
            listings[f"{name}-{key}"] = items
    return listings


@app.command("models")
def models_command() -> None:
    """List the model registry's short names."""
    from hvgen.models import MODEL_REGISTRY

    table = Table(title="--model short names (any diffusers id or local folder works too)")
    for column in ("name", "model", "size", "steps", "guidance", "description"):
        table.add_column(column)
    for spec in MODEL_REGISTRY.values():
        table.add_row(
            spec.name,
            spec.model_id,
            f"{spec.width}×{spec.height}",
            str(spec.steps),
            str(spec.guidance),
            spec.description,
        )
    console.print(table)


def _version_callback(value: bool) -> None:
    if value:
        print(f"hvgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    """hvgen: fresh, leak-free splits of synthetic vision-language benchmarks."""


def _register_benchmarks() -> None:
    for name, cls in generators().items():
        app.command(name, help=_benchmark_command(cls).__doc__)(_benchmark_command(cls))


def main(argv: list[str] | None = None) -> None:
    _register_benchmarks()
    try:
        app(args=argv, prog_name="hvgen")
    except SystemExit as done:
        if _caused_by_ctrl_c(done):  # typer turns Ctrl-C into a silent exit 130
            _say_interrupted()
        if done.code not in (0, None):  # success returns normally, so main() can be called in-process
            raise
    except HvgenError as error:
        console.print(f"[bold red]error:[/] {error}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except KeyboardInterrupt:
        _say_interrupted()
        sys.exit(130)


def _caused_by_ctrl_c(error: BaseException) -> bool:
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, KeyboardInterrupt):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _say_interrupted() -> None:
    console.print(
        "\n[yellow]interrupted.[/] Finished images and samples are kept (each written atomically and logged once "
        "on disk); run the same command again to resume where it stopped.",
        highlight=False,
    )


if __name__ == "__main__":
    main()
