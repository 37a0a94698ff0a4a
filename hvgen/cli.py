"""The `hvgen` command line: thin wrappers that parse options and call the stages.

One command per registered benchmark (`hvgen dysca ...`) runs every stage; the stage commands
(`hvgen plan|render|scenario|build|export|stats|push RUN_DIR`) run one at a time.

Help is printed without rich markup (`rich_markup_mode=None`): option texts hold literal
brackets such as "[default: 200]", which rich markup would eat, and plain help reads the same in
a terminal, a log file and the README. Messages go to stderr; data (`hvgen list`, `hvgen config`,
`hvgen stats`, `hvgen models`) to stdout.
"""

from __future__ import annotations

import copy
import inspect
import sys
import typing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hvgen import __version__
from hvgen.config import CONFIG_FILE, RunConfig, merge_overrides
from hvgen.errors import HvgenError
from hvgen.generator import Generator, generators
from hvgen.progress import NORMAL, QUIET, VERBOSE, console, info, set_verbosity, verbosity, warn

ENVIRONMENT_HELP = (
    "Environment: HVGEN_CACHE (where the tiny model is built; default $XDG_CACHE_HOME/hvgen or "
    "~/.cache/hvgen), HVGEN_NO_PROGRESS=1 (no progress bars or lines), HVGEN_PROGRESS_INTERVAL "
    "(seconds between progress lines when stderr is not a terminal; default 30), HF_TOKEN (for push)."
)

app = typer.Typer(
    name="hvgen",
    help="Regenerate, deduplicate and publish synthetic vision-language benchmarks (fresh, leak-free splits)."
    "\n\n" + ENVIRONMENT_HELP,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode=None,
)


def _verbose_callback(value: int) -> int:
    if value:
        set_verbosity(VERBOSE)
    return value


def _quiet_callback(value: bool) -> bool:
    if value:
        set_verbosity(QUIET)
    return value


# Accepted before and after the command name (`hvgen -q dysca ...`, `hvgen dysca ... -q`).
VerboseOpt = Annotated[
    int,
    typer.Option(
        "--verbose",
        "-v",
        count=True,
        expose_value=False,
        callback=_verbose_callback,
        show_default=False,
        help="Say more: debug lines, the libraries' logs, and the traceback behind an error.",
    ),
]
QuietOpt = Annotated[
    bool,
    typer.Option(
        "--quiet",
        "-q",
        expose_value=False,
        callback=_quiet_callback,
        show_default=False,
        help="Print only warnings, errors and requested data: no progress, no per-stage lines.",
    ),
]

RunDir = Annotated[
    Path,
    typer.Argument(
        metavar="RUN_DIR", help="A run directory made by a benchmark command (holds config.yaml)."
    ),
]
ShardOpt = Annotated[
    str | None,
    typer.Option(
        metavar="i/N",
        help="Work on shard i of N ('i/N'); defaults to RANK/WORLD_SIZE when set by torchrun/accelerate.",
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
            metavar="N",
            help="How many to plan, each with several questions: images (Dysca, VLBias, HQH; HERM: source "
            "photos with people), or faces per source (Face QA).",
        ),
    ],
)
_common(
    "seed",
    "seed",
    Annotated[
        int | None,
        typer.Option(
            metavar="INTEGER",
            help="Run seed: every random choice derives from (seed, item id). [default: 2024]",
        ),
    ],
)
_common("out", None, Annotated[Path | None, typer.Option(metavar="DIR", help="Run directory.")])
_common(
    "model",
    "render.model",
    Annotated[
        str | None,
        typer.Option(
            metavar="NAME|ID|DIR",
            help="Text-to-image model: a short name (sdxl, sd15, tiny: built-in, offline; see `hvgen models`), "
            "a Hub id OWNER/NAME or a local diffusers folder. [default: sdxl]",
        ),
    ],
)
_common(
    "scenario",
    "scenario.scenarios",
    Annotated[
        str | None,
        typer.Option(
            metavar="NAMES",
            help="Scenarios: clean, corruption, print, adversarial, a comma list, or all. [default: clean]",
        ),
    ],
)
_common(
    "steps",
    "render.steps",
    Annotated[
        int | None,
        typer.Option(metavar="N", help="Denoising steps. [default: the model's: sdxl 50, sd15 50, tiny 4]"),
    ],
)
_common(
    "guidance",
    "render.guidance",
    Annotated[
        float | None, typer.Option(metavar="NUMBER", help="Classifier-free guidance scale. [default: 7.5]")
    ],
)
_common(
    "width",
    "render.width",
    Annotated[
        int | None,
        typer.Option(
            metavar="PIXELS", help="Image width. [default: the model's: sdxl 1024, sd15 512, tiny 64]"
        ),
    ],
)
_common(
    "height",
    "render.height",
    Annotated[
        int | None,
        typer.Option(
            metavar="PIXELS", help="Image height. [default: the model's: sdxl 1024, sd15 512, tiny 64]"
        ),
    ],
)
_common(
    "batch_size",
    "render.batch_size",
    Annotated[int | None, typer.Option(metavar="N", help="Images per pipeline call. [default: 4]")],
)
_common(
    "dtype",
    "render.dtype",
    Annotated[
        str | None,
        typer.Option(
            metavar="DTYPE",
            help="auto (fp16 on CUDA, fp32 on CPU), float32, float16 or bfloat16. [default: auto]",
        ),
    ],
)
_common(
    "device",
    "render.device",
    Annotated[
        str | None, typer.Option(metavar="DEVICE", help="auto, cpu, cuda, cuda:1, mps ... [default: auto]")
    ],
)
_common(
    "compile",
    "render.compile",
    Annotated[
        bool | None,
        typer.Option(
            "--compile/--no-compile",
            help="torch.compile the UNet (faster on long GPU runs). [default: no-compile]",
        ),
    ],
)
_common(
    "vae_tiling",
    "render.vae_tiling",
    Annotated[
        bool | None,
        typer.Option(
            "--vae-tiling/--no-vae-tiling",
            help="Decode with VAE tiling (less GPU memory at high resolution). [default: no-vae-tiling]",
        ),
    ],
)
_common(
    "corruption_preset",
    "scenario.corruption_preset",
    Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Corruption preset: dysca (the original 11 types) or imagenet-c. [default: dysca]",
        ),
    ],
)
_common(
    "corruptions",
    "scenario.corruptions",
    Annotated[
        str | None,
        typer.Option(
            metavar="NAMES",
            help="Comma list of corruption types to draw from (`hvgen list corruptions`). "
            "[default: the preset's list]",
        ),
    ],
)
_common(
    "severity",
    "scenario.severity",
    Annotated[
        int | None,
        typer.Option(
            metavar="1-5",
            help="Fix the corruption severity (imagenet-c preset only; dysca has one fixed severity per type). "
            "[default: drawn per image]",
        ),
    ],
)
_common(
    "attack",
    "scenario.attack",
    Annotated[
        str | None,
        typer.Option(
            metavar="NAME",
            help="Adversarial attack (torchattacks): pgd, fgsm, bim, mifgsm ... (`hvgen list attacks`). [default: pgd]",
        ),
    ],
)
_common(
    "eps",
    "scenario.eps",
    Annotated[
        float | None,
        typer.Option(metavar="NUMBER", help="Attack L-inf budget in [0,1] units. [default: 8/255 = 0.0314]"),
    ],
)
_common(
    "surrogate",
    "scenario.surrogate",
    Annotated[
        str | None,
        typer.Option(
            metavar="ID|DIR",
            help="Surrogate CLIP for attacks (id or path). [default: openai/clip-vit-large-patch14; tiny with --model tiny]",
        ),
    ],
)
_common(
    "vocab",
    "vocab_dir",
    Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Folder of vocabulary files that replace the shipped ones of the same name (e.g. animal.txt).",
        ),
    ],
)
_common(
    "templates",
    "templates_dir",
    Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Folder of Jinja templates that replace the shipped ones of the same name."
        ),
    ],
)
_common(
    "against",
    None,
    Annotated[
        list[str] | None,
        typer.Option(
            metavar="SOURCE",
            help="Deduplicate and drop anything near-identical to this earlier release (export folder, parquet, "
            "Hub id or hash list). Repeatable.",
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
_common(
    "layout",
    "export.layout",
    Annotated[
        str | None,
        typer.Option(
            metavar="LAYOUT",
            help="Export layout: per-question (one row per question with its image) or image-once "
            "(question configs + <config>_images configs holding each picture once, for large releases). "
            "[default: per-question]",
        ),
    ],
)
_common("clip_filter", None, Annotated[str | None, typer.Option(metavar="ID|DIR", help=CLIP_FILTER_HELP)])
_common(
    "clip_threshold", None, Annotated[float | None, typer.Option(metavar="NUMBER", help=CLIP_THRESHOLD_HELP)]
)
_common(
    "forms",
    None,
    Annotated[
        int,
        typer.Option(
            metavar="N",
            show_default=False,
            help="Make N parallel forms (same config, seeds derived from --seed) as OUT/form-a, OUT/form-b, …, "
            "for `hvgen quality`. [default: 1, one run in OUT]",
        ),
    ],
    default=1,
)
_common(
    "scan",
    "render.scan",
    Annotated[
        bool | None,
        typer.Option(
            "--scan/--no-scan",
            help="Check every prompt for a text-to-image backdoor while rendering (T2IShield, see `hvgen scan`); "
            "build drops flagged prompts and the card lists them. [default: no-scan]",
        ),
    ],
)
KEEP_FLAGGED_HELP = (
    "Keep the images --scan flagged as suspected backdoor prompts (the card still lists them)."
)
_common(
    "keep_flagged",
    None,
    Annotated[bool, typer.Option("--keep-flagged", help=KEEP_FLAGGED_HELP)],
    default=False,
)
_common("shard", None, ShardOpt)
_common(
    "config",
    None,
    Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="YAML run config (the keys of a run's config.yaml; see README 'Config files'); "
            "options given on the command line override it.",
        ),
    ],
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
_common("verbose", None, VerboseOpt, default=0)
_common("quiet", None, QuietOpt, default=False)


# Shared options only some benchmarks can use (Generator.cli_option_groups); the others'
# commands leave them out, so --help lists no option that would be ignored.
OPTION_GROUPS = {
    "text_to_image": ("model", "steps", "guidance", "width", "height", "batch_size", "dtype", "compile",
                      "vae_tiling", "scan", "keep_flagged", "clip_filter", "clip_threshold"),
    "perturbations": ("scenario", "corruption_preset", "corruptions", "severity", "attack", "eps", "surrogate"),
}  # fmt: skip


def _common_options(cls: type[Generator]) -> list[inspect.Parameter]:
    unused = {
        name for group, names in OPTION_GROUPS.items() if group not in cls.cli_option_groups for name in names
    }
    return [param for _, param in _COMMON if param.name not in unused]


def _benchmark_command(cls: type[Generator]):
    # Resolve string annotations (modules using `from __future__ import annotations`).
    hints = typing.get_type_hints(cls.cli_options, include_extras=True)
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(cls.cli_options).parameters.values()
    ]

    def command(ctx: typer.Context, **kwargs: Any) -> None:
        common = {param.name: kwargs.pop(param.name, param.default) for _, param in _COMMON}
        # Only options given on the command line override a --config file (not their defaults).
        given = {
            name: value
            for name, value in kwargs.items()
            if getattr(ctx.get_parameter_source(name), "name", "") != "DEFAULT"
        }
        if common["forms"] == 1:
            _run_benchmark(cls, generator_options=given, common=common)
            return
        from hvgen.forms import form_runs

        base = RunConfig.load(common["config"]) if common["config"] else RunConfig(benchmark=cls.name)
        seed = base.seed if common["seed"] is None else common["seed"]
        runs = form_runs(common["out"] or Path("runs") / cls.name, seed, common["forms"])
        for out, form_seed in runs:
            _run_benchmark(cls, generator_options=given, common={**common, "out": out, "seed": form_seed})
        info(
            f"{len(runs)} parallel forms: {', '.join(str(out) for out, _ in runs)}; measure their reliability with "
            f"`hvgen quality {runs[0][0]} {runs[1][0]} --predictions MODEL=A.jsonl,B.jsonl ...` (README)."
        )

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    common = [_with_benchmark_default(param, cls) for param in _common_options(cls)]
    command.__signature__ = inspect.Signature([context, *own, *common])  # type: ignore[attr-defined]
    command.__doc__ = (
        inspect.cleandoc(cls.__doc__ or cls.title)
        + "\n\nRuns every stage: plan → render → scenarios → export (and build with --against"
        + (" or --clip-filter), " if "text_to_image" in cls.cli_option_groups else "), ")
        + f"then writes RUN_DIR/summary.json. Example: hvgen {cls.name} {cls.cli_example}"
    )
    command.__name__ = cls.name
    return command


def _with_benchmark_default(param: inspect.Parameter, cls: type[Generator]) -> inspect.Parameter:
    """--num and --out default to the benchmark's own values: say which in its help."""
    defaults = {"num": str(cls.default_num), "out": f"runs/{cls.name}"}
    if param.name not in defaults:
        return param
    base, option = typing.get_args(param.annotation)[:2]
    option = copy.copy(option)  # the shared declaration stays as it is
    option.help = f"{option.help} [default: {defaults[param.name]}]"
    return param.replace(annotation=Annotated[base, option])


def _list_value(value: Any) -> Any:
    return [item.strip() for item in value.split(",")] if isinstance(value, str) else value


def _run_benchmark(cls: type[Generator], generator_options: dict[str, Any], common: dict[str, Any]) -> None:
    from hvgen.models import check_model, check_model_reachable
    from hvgen.pipeline import (
        check_device,
        check_num,
        check_options,
        check_scenarios,
        prepare_run_dir,
        stage_plan,
        stage_render,
        stage_scenarios,
        wait_for_plan,
    )
    from hvgen.sharding import parse_shard
    from hvgen.stages.plan import build_generator
    from hvgen.summary import StageTimes

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
    check_model(config.render.model)
    check_num(config, common["force"])
    generator = build_generator(config)  # validate options before touching the disk
    run_dir = common["out"] or Path("runs") / cls.name
    shard = parse_shard(common["shard"])
    if not common["dry_run"]:
        check_device(config.render.device)  # before planning, not after
        if not generator.supplies_images:
            check_model_reachable(config.render.model)

    made_by = "photographs, no model" if generator.supplies_images else f"model {config.render.model}"
    info(f"[bold]hvgen {cls.name}[/] → {escape(str(run_dir))}  ({made_by}, seed {config.seed})")
    times = StageTimes()
    warnings: list[str] = []
    if shard.index == 0:
        created = not run_dir.exists()
        config = prepare_run_dir(run_dir, config, overwrite=common["overwrite"], force=common["force"])
        try:
            with times.stage("plan"):
                summary = stage_plan(run_dir, config)
        except HvgenError:
            if created:  # bad input found while planning (a vocabulary, a template): leave nothing behind
                import shutil

                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        _print_plan(run_dir, summary)
        warnings += summary.warnings if summary else []
    else:  # launched by torchrun / several --shard processes: shard 0 plans, the others wait for it
        info(f"shard {shard.tag}: waiting for shard 0 to plan {run_dir} ...")
        wait_for_plan(run_dir, config)
    if common["dry_run"]:
        info("dry run: nothing rendered.")
        return
    with times.stage("render"):
        _print_render(stage_render(run_dir, config, shard))
    for name in config.scenario.scenarios:
        with times.stage(f"scenario {name}"):
            for item in stage_scenarios(run_dir, _only_scenario(config, name), shard):
                _print_scenario(item)
    if not shard.is_whole:
        info(f"shard {shard.tag} done; when every shard has finished run `hvgen export {run_dir}`.")
        return
    if (
        common["against"]
        or common["clip_filter"]
        or config.render.scan
        or build_generator(config).label_checker()
    ):
        with times.stage("build"):
            warnings += _build(
                run_dir,
                config,
                None,
                common["against"] or [],
                common["clip_filter"],
                common["clip_threshold"],
                common["keep_flagged"],
            )
    _export_and_summarise(run_dir, config, times, warnings)


def _only_scenario(config: RunConfig, name: str) -> RunConfig:
    """`config` restricted to one scenario (to time each scenario on its own)."""
    import dataclasses

    return dataclasses.replace(config, scenario=dataclasses.replace(config.scenario, scenarios=[name]))


def _export_and_summarise(
    run_dir: Path,
    config: RunConfig,
    times: Any,
    warnings: list[str],
    formats: list[str] | None = None,
    allow_incomplete: bool = False,
) -> list[Any]:
    """Export (refusing a build that left nothing), warn about empty configs, then print the
    run's summary and write it to RUN/summary.json."""
    from hvgen.pipeline import ensure_catalog, stage_export
    from hvgen.summary import build_summary, summary_table, write_summary

    ensure_catalog(run_dir, config)  # a damaged catalog is rebuilt before anything reads it
    _check_something_to_export(run_dir)
    with times.stage("export"):
        exported = stage_export(run_dir, config, formats=formats, allow_incomplete=allow_incomplete)
    for item in exported:
        if not item.rows:
            message = (
                f"export config '{item.name}' has 0 rows: no kept question has a {item.scenario} sample "
                f"(see `hvgen stats {run_dir}`)."
            )
            warn(message)
            warnings.append(message)
    _print_export(run_dir, exported)
    summary = build_summary(run_dir, config.benchmark, exported, times, warnings)
    path = write_summary(run_dir, summary)
    if verbosity() > QUIET:
        console.print(summary_table(summary))
    info(f"summary written to {path}", highlight=False)
    return exported


def _check_something_to_export(run_dir: Path) -> None:
    """A build that dropped every question must not end in an empty export and 'done'."""
    from hvgen.store.catalog import CATALOG_FILE, open_catalog, table_exists

    if not (run_dir / CATALOG_FILE).is_file():
        return
    with open_catalog(run_dir, read_only=True) as con:
        if not table_exists(con, "drops"):
            return
        planned = con.execute("SELECT count(*) FROM records").fetchone()[0]
        kept = con.execute("SELECT count(*) FROM kept_records").fetchone()[0]
        reasons = con.execute(
            "SELECT reason, count(*) FROM drops WHERE kind = 'image' GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    if planned and not kept:
        why = ", ".join(f"{n:,} images {reason}" for reason, n in reasons) or "every question"
        if any(reason == "backdoor_suspect" for reason, _ in reasons):
            raise HvgenError(
                f"nothing to export from {run_dir}: the --scan backdoor check flagged every image ({why}). Without a "
                "calibration the threshold is T2IShield's SD1.4 one and means little for other models: calibrate "
                "with `hvgen scan MODEL --calibrate BENIGN_PROMPTS` at the run's steps and size and rebuild "
                f"(`hvgen build {run_dir}`), or keep them with `hvgen build {run_dir} --keep-flagged`."
            )
        raise HvgenError(
            f"nothing to export from {run_dir}: `hvgen build` dropped every question ({why}). If the leak check "
            "matched everything, --against probably names this run's own export or a release made with the same "
            f"seed; rebuild with the right source (`hvgen build {run_dir} --against SOURCE`), or without --against "
            f"to keep everything. `hvgen stats {run_dir}` lists the drops."
        )


def _print_plan(run_dir: Path, summary: Any) -> None:
    if summary is None:
        info("plan: up to date (resuming).")
        return
    kinds = ", ".join(f"{count} {kind}" for kind, count in summary.by_question_type.items())
    info(f"plan: {summary.records} questions over {summary.images} images" + (f" ({kinds})" if kinds else ""))
    if summary.position_balance and verbosity() > QUIET:
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
        info(note, highlight=False)
    for warning in summary.warnings:
        warn(warning)


def _print_render(summary: Any) -> None:
    info(
        f"render: {summary.rendered} rendered, {summary.already_done} already done, "
        f"{summary.total_in_shard} in this shard ({summary.seconds:.1f} s)"
    )


def _print_scenario(summary: Any) -> None:
    info(
        f"scenario {summary.scenario}: {summary.written} written, {summary.skipped} not applicable, "
        f"{summary.already_done} already done"
    )


def _print_export(run_dir: Path, exported: list[Any]) -> None:
    for item in exported:
        info(f"export: config '{item.name}': {item.rows} rows in {len(item.files)} file(s)")
    info(
        f"done: load it with datasets.load_dataset('{run_dir / 'export'}', '{exported[0].name if exported else 'clean'}')"
    )


def _load_run(run_dir: Path) -> RunConfig:
    from hvgen.stages.repair import load_run_config  # restores a damaged config.yaml, or refuses

    return load_run_config(run_dir)


def _stdout() -> Console:
    """A console for a command's data: wide enough off a terminal that tables are never cut."""
    return Console() if sys.stdout.isatty() else Console(width=400)


@app.command("plan")
def plan_command(
    run_dir: RunDir,
    force: Annotated[bool, typer.Option(help="Re-plan even if the plan is current.")] = False,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Plan the run's records from its config.yaml (deterministic)."""
    from hvgen.pipeline import stage_plan

    config = _load_run(run_dir)
    _print_plan(run_dir, stage_plan(run_dir, config, force=force))


@app.command("render")
def render_command(
    run_dir: RunDir,
    shard: ShardOpt = None,
    batch_size: Annotated[
        int | None, typer.Option(metavar="N", help="Images per pipeline call. [default: the run's]")
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
        _load_run(run_dir), {"render.batch_size": batch_size, "render.device": device, "render.dtype": dtype}
    )
    _print_render(stage_render(run_dir, config, parse_shard(shard)))


@app.command("scenario")
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
        metavar="NAME",
        help="Also write this consumer's layout under RUN/formats/<name>/ (beside the Hub folder, never "
        "uploaded by push): vlmevalkit, lmms-eval, the benchmark's original release layout (dysca, vlbias, hqh), "
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
    layout: Annotated[
        str | None,
        typer.Option(
            metavar="LAYOUT",
            help="per-question (one row per question with its image) or image-once (pictures stored once, in "
            "<config>_images configs). [default: the run's, per-question]",
        ),
    ] = None,
    allow_incomplete: Annotated[
        bool,
        typer.Option(
            "--allow-incomplete",
            help="Export even though planned images or scenario samples are missing (the card says so). "
            "Without it, an unfinished run is refused.",
        ),
    ] = False,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Write the Hub-ready export folder (parquet shards + dataset card), and other formats on request;
    then update RUN_DIR/summary.json."""
    from hvgen.summary import StageTimes

    requested = list(formats or []) + (["vlmevalkit"] if vlmevalkit else [])
    config = merge_overrides(_load_run(run_dir), {"export.layout": layout})
    _export_and_summarise(
        run_dir, config, StageTimes(), [], formats=requested, allow_incomplete=allow_incomplete
    )
    _print_format_steps(run_dir, requested, config.benchmark)


def _print_format_steps(run_dir: Path, requested: list[str], benchmark: str) -> None:
    """Where each extra format went and how to run its consumer (`ExportFormat.next_steps`)."""
    from hvgen.publish.formats import FORMATS_DIR, parse_formats

    for fmt in parse_formats(requested, benchmark):
        out = run_dir / FORMATS_DIR / fmt.name
        steps = fmt.next_steps(out)
        # unwrapped and without markup: the lines are commands to copy
        info(
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
    keep_flagged: bool = False,
) -> list[str]:
    """Run the build stage and print its result; returns its warnings (also printed)."""
    from hvgen.pipeline import stage_build

    result = stage_build(run_dir, config, hamming, against, clip_model, clip_threshold, keep_flagged)
    if verbosity() > QUIET:
        console.print(result.dedup.summary_table())
    if result.clip:
        info(
            f"clip filter ({result.clip['model']}, score <= {result.clip['threshold']}): "
            f"{result.clip['dropped_images']} image(s) dropped"
        )
    if result.labels:
        info(
            f"label check ({result.labels['model']}): {result.labels['dropped_images']} of "
            f"{result.labels['checked_images']} image(s) dropped (CLIP ranks another label first)"
        )
    if result.scan:
        scan = result.scan
        info(
            f"backdoor scan (FTT < {scan['threshold']['ftt']}, {scan['threshold']['source']}): "
            f"{scan['flagged_images']} of {scan['scanned_images']} image(s) flagged"
            + (
                ", dropped"
                if scan["dropped"]
                else ", kept (--keep-flagged)"
                if scan["flagged_images"]
                else ""
            )
        )
    warnings = result.dedup.warnings() + (result.warnings or [])
    for message in warnings:
        warn(message)
    return warnings


@app.command("build")
def build_command(
    run_dir: RunDir,
    hamming: Annotated[
        int | None,
        typer.Option(
            metavar="BITS",
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
    clip_threshold: Annotated[float | None, typer.Option(metavar="NUMBER", help=CLIP_THRESHOLD_HELP)] = None,
    keep_flagged: Annotated[bool, typer.Option("--keep-flagged", help=KEEP_FLAGGED_HELP)] = False,
    export: Annotated[
        bool, typer.Option("--export/--no-export", help="Write the export folder afterwards.")
    ] = True,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Deduplicate (exact, perceptual, questions), check leaks against earlier releases, optionally
    drop images CLIP finds unlike their prompt (Dysca's filter), then export."""
    from hvgen.summary import StageTimes

    config = _load_run(run_dir)
    times = StageTimes()
    with times.stage("build"):
        warnings = _build(run_dir, config, hamming, against or [], clip_filter, clip_threshold, keep_flagged)
    if export:
        _export_and_summarise(run_dir, config, times, warnings)
    else:
        _check_something_to_export(run_dir)


JsonOpt = Annotated[
    str | None,
    typer.Option(
        "--json", metavar="FILE", help="Also write the statistics as JSON to FILE ('-': stdout only)."
    ),
]


@app.command("stats")
def stats_command(
    run_dir: RunDir, json_out: JsonOpt = None, verbose: VerboseOpt = 0, quiet: QuietOpt = False
) -> None:
    """Print the run's statistics (counts, answer balance, prompt lengths, scenarios, drops) as tables."""
    import json

    from hvgen.pipeline import scenario_levels
    from hvgen.stages.plan import build_generator
    from hvgen.stages.repair import ensure_catalog
    from hvgen.stats import compute_stats, stats_tables
    from hvgen.store.atomic import write_text_atomic
    from hvgen.store.catalog import open_catalog
    from hvgen.store.work import sync_manifests

    config = _load_run(run_dir)
    generator = build_generator(config)
    ensure_catalog(run_dir, config)
    with open_catalog(run_dir) as con:
        sync_manifests(con, run_dir, scenario_levels(config))
        stats = compute_stats(con, generator.stats_columns)
    text = json.dumps(stats, indent=2) + "\n"
    if json_out == "-":  # stdout holds the JSON alone, for pipes
        sys.stdout.write(text)
        return
    out = _stdout()
    out.print(f"{stats['records']} questions over {stats['images']} images", highlight=False)
    for table in stats_tables(stats):
        out.print(table)
    if json_out:
        write_text_atomic(Path(json_out), text)
        info(f"statistics written to {json_out}", highlight=False)


@app.command("config")
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

    from hvgen.pipeline import build_generator, check_options, check_scenarios, describe_config

    if source.is_dir():
        config = _load_run(source)
    elif source.is_file():
        config = RunConfig.load(source)
        check_options(config, str(source))
        try:  # the values too (a misspelled style or scenario), as a run with --config would
            check_scenarios(config)
            build_generator(config)
        except HvgenError as error:
            raise HvgenError(f"{source}: {error}") from None
    else:
        raise HvgenError(f"{source}: no such run directory or config file.")
    resolved = describe_config(config)
    if as_json:
        sys.stdout.write(json.dumps(resolved, indent=2) + "\n")
    else:
        sys.stdout.write(yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True))


@app.command("push")
def push_command(
    run_dir: RunDir,
    repo_id: Annotated[str, typer.Option(metavar="OWNER/NAME", help="Hub dataset repository, OWNER/NAME.")],
    private: Annotated[bool, typer.Option(help="Create the repository as private.")] = False,
    tag: Annotated[
        str | None, typer.Option(metavar="TAG", help="Tag the pushed commit, e.g. v2026.11.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="List what would be uploaded; contact nothing.")
    ] = False,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Upload the export folder to the Hugging Face Hub (token from HF_TOKEN or `hf auth login`)."""
    from hvgen.pipeline import check_export_publishable
    from hvgen.publish.hub import PushError, push_folder

    folder = run_dir / "export"
    check_export_publishable(run_dir)  # written from the run's current decisions, or refused
    _warn_before_push(run_dir)
    try:
        result = push_folder(folder, repo_id, private=private, tag=tag, dry_run=dry_run)
    except (PushError, ValueError) as error:
        raise HvgenError(str(error)) from None
    console.print(result.table())


EMBEDDER_HELP = (
    "Sentence-embedding model (transformers id or folder) for free-form answers scored by similarity "
    "(dysca image captions). [default: sentence-transformers/all-MiniLM-L6-v2, Dysca's]"
)


JUDGE_HELP = (
    "LLM judge for free-form answers, for benchmarks graded by one: an OpenAI-compatible endpoint (http://host:port/v1, with "
    "--judge-model; API key from $HVGEN_JUDGE_API_KEY or $OPENAI_API_KEY), a transformers chat model (id or "
    "folder), or 'fake' (a deterministic string rule for tests and dry runs, not a judge of quality)."
)
JudgeOpt = Annotated[str | None, typer.Option(metavar="URL|ID|DIR|fake", help=JUDGE_HELP)]
JudgeModelOpt = Annotated[
    str | None, typer.Option(metavar="NAME", help="Model name the --judge endpoint serves (e.g. gpt-4o).")
]
JudgeCacheOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE", help="Judge reply cache (JSONL). [default: $HVGEN_CACHE/judge/<judge>.jsonl]"
    ),
]


JudgeWorkersOpt = Annotated[
    int, typer.Option(metavar="N", help="Requests in flight at once to a --judge endpoint.")
]


def _judge_spec(judge: str | None, model: str | None, cache: Path | None, workers: int = 4) -> Any:
    """The judge the options name (None without --judge; --judge-model alone is a mistake)."""
    if judge is None:
        if model:
            raise HvgenError(
                "--judge-model names the model of a --judge endpoint: pass --judge http://host:port/v1 too."
            )
        return None
    from hvgen.judges import JudgeSpec

    return JudgeSpec(judge, model, cache, workers)


def _warn_before_push(run_dir: Path) -> None:
    """The benchmark's own warnings about publishing this run (licences ...)."""
    from hvgen.generator import get_generator

    config_path = run_dir / CONFIG_FILE
    if config_path.is_file():
        config = RunConfig.load(config_path)
        for message in get_generator(config.benchmark).publish_warnings(run_dir, dict(config.options)):
            warn(message)


@app.command("score")
def score_command(
    benchmark: Annotated[
        str, typer.Argument(metavar="BENCHMARK", help="Benchmark name, e.g. dysca or vlbias.")
    ],
    source: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_OR_EXPORT", help="A run directory or an export folder holding the questions."
        ),
    ],
    predictions: Annotated[
        Path,
        typer.Argument(
            metavar="PREDICTIONS",
            help='JSONL file, one {"id": ..., "prediction": ...} per line (dysca: "scenario" too, off clean images).',
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Write the full report here (.json, or .csv for the table; '-': the JSON on stdout, the table on "
            "stderr).",
        ),
    ] = None,
    embedder: Annotated[str | None, typer.Option(metavar="ID|DIR", help=EMBEDDER_HELP)] = None,
    judge: JudgeOpt = None,
    judge_model: JudgeModelOpt = None,
    judge_cache: JudgeCacheOpt = None,
    judge_workers: JudgeWorkersOpt = 4,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Score a model's predictions on a benchmark's questions."""
    from hvgen.generator import get_generator
    from hvgen.scoring import check_benchmark, load_questions, scorer_options, write_report

    cls = get_generator(benchmark)
    records = load_questions(source)
    check_benchmark(records, cls.name, source)
    options = scorer_options(cls, embedder, _judge_spec(judge, judge_model, judge_cache, judge_workers))
    try:
        report = cls.score(records, predictions, **options)
    except NotImplementedError as error:
        raise HvgenError(str(error)) from None
    if isinstance(report.get("judge"), dict):
        stats = report["judge"]
        info(
            f"judge {stats['judge']}: {stats['judge_calls']} call(s), {stats['cache_hits']} cached reply(ies)"
        )
        if stats.get("n_unparsed"):
            warn(
                f"judge replies without a verdict: {stats['n_unparsed']} (listed in the report's judge.unparsed_replies)"
            )
    to_stdout = output is not None and str(output) == "-"
    rows = report.get("table") or []
    if rows:
        table = Table(title=f"{cls.title} scores")
        for column in rows[0]:
            table.add_column(str(column))
        for row in rows:
            table.add_row(*(_cell(v) for v in row.values()))
        (console if to_stdout else _stdout()).print(table)  # with --output -, stdout holds the JSON alone
    for key in ("missing_ids", "extra_ids", "unparsed_ids", "malformed_lines", "duplicate_lines"):
        value = report.get(key)
        if isinstance(value, list) and value:
            warn(f"{key.replace('_', ' ')}: {len(value)} (first: {value[:5]})")
        elif isinstance(value, int) and value:  # a scorer that reports only a count
            warn(f"{key.replace('_', ' ')}: {value}")
    if to_stdout:
        import json

        sys.stdout.write(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    elif output:
        write_report(report, output)
        info(f"report written to {output}")


def _cell(value: Any) -> str:
    """A score table cell: 4 decimals, and '–' where a metric does not apply (never 'None')."""
    if value is None:
        return "–"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


@app.command("quality")
def quality_command(
    form_a: Annotated[
        Path, typer.Argument(metavar="RUN_A", help="The split to assess (run or export folder).")
    ],
    form_b: Annotated[
        Path,
        typer.Argument(metavar="RUN_B", help="A parallel form: same config, another seed (see --forms)."),
    ],
    predictions: Annotated[
        list[str],
        typer.Option(
            metavar="MODEL=A.jsonl,B.jsonl",
            help="One model's predictions on RUN_A and on RUN_B (as for `hvgen score`). Repeat for each model; "
            "correlations across models need at least 3.",
        ),
    ],
    retest: Annotated[
        list[str] | None,
        typer.Option(
            metavar="MODEL=A2.jsonl", help="The model's second answers to RUN_A (another sampling seed)."
        ),
    ] = None,
    criterion: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV", help="External score per model (columns model,score) for criterion validity."
        ),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            metavar="FILE",
            help="Write the full report (JSON) here; '-' for stdout. [default: RUN_A/quality/quality.json]",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            metavar="PNG", help="Form A vs form B scatter. [default: RUN_A/quality/parallel-forms.png]"
        ),
    ] = None,
    embedder: Annotated[str | None, typer.Option(metavar="ID|DIR", help=EMBEDDER_HELP)] = None,
    judge: JudgeOpt = None,
    judge_model: JudgeModelOpt = None,
    judge_cache: JudgeCacheOpt = None,
    judge_workers: JudgeWorkersOpt = 4,
    seed: Annotated[int, typer.Option(metavar="INTEGER", help="Bootstrap seed.")] = 0,
    bootstrap: Annotated[int, typer.Option(metavar="N", help="Bootstrap resamples per CI.")] = 2000,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Measure a benchmark split's reliability and validity (HQM): parallel forms, test-retest,
    criterion validity, KR-20/alpha, item difficulty and discrimination, taxonomy coverage."""
    from hvgen.analysis.quality_cli import run_quality

    run_quality(
        form_a,
        form_b,
        predictions,
        retest or [],
        criterion,
        json_path,
        plot,
        embedder,
        seed,
        bootstrap,
        judge=_judge_spec(judge, judge_model, judge_cache, judge_workers),
    )


@app.command("preview")
def preview_command(
    run_dir: RunDir,
    scenario: Annotated[str, typer.Option(metavar="NAME", help="Which scenario's images to show.")] = "clean",
    num: Annotated[int, typer.Option(metavar="N", help="How many samples to show.")] = 48,
    output: Annotated[
        Path | None,
        typer.Option(metavar="FILE", help="HTML file to write. [default: RUN_DIR/preview-<scenario>.html]"),
    ] = None,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Write an HTML contact sheet of images with their questions and answers."""
    from hvgen.publish.preview import write_preview
    from hvgen.scenarios import parse_scenarios

    (name,) = parse_scenarios(scenario)[:1]
    target = output or run_dir / f"preview-{name}.html"
    from hvgen.pipeline import scenario_levels
    from hvgen.stages.repair import ensure_catalog

    config = _load_run(run_dir)
    ensure_catalog(run_dir, config)
    shown = write_preview(run_dir, name, num, target, scenario_levels(config))
    info(f"preview: {shown} samples → {target}")


@app.command("list")
def list_command(
    what: Annotated[
        str | None,
        typer.Argument(
            metavar="WHAT",
            help="What to list: benchmarks, scenarios, corruptions, attacks, formats, models, or a benchmark's "
            "own lists (styles, subtasks, question-types, categories ...). Nothing: everything's names.",
        ),
    ] = None,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """List the names hvgen accepts: benchmarks, scenarios, corruptions, attacks, formats, styles ..."""
    listings = _listings()
    if what is None:
        shared = set(listings)
        for name, items in listings.items():
            # a benchmark's list shows under its plain name (`styles`), unless two benchmarks have a
            # list of that name: then under each qualified one (`herm-tasks`, `faceqa-tasks`)
            bench, _, plain = name.partition("-")
            if bench in generators() and plain in shared:
                continue
            _print_listing(name, items)
        return
    shared = [
        name for name in listings if name.partition("-")[2] == what and name.partition("-")[0] in generators()
    ]
    if what not in listings and shared:
        # a name several benchmarks use (`question-types`, `tasks`): each one's list, headed
        for name in shared:
            _print_listing(name, listings[name])
        return
    if what not in listings:
        from hvgen.errors import unknown_name_error

        raise unknown_name_error("list", what, listings, hint="Run `hvgen list` to see them all.")
    for item in listings[what]:
        print(item)


def _print_listing(name: str, items: list[str]) -> None:
    """One list on one line, never wrapped: it is data (grep, cut), whatever its length."""
    _stdout().print(
        f"[bold]{name}[/] ({len(items)}): {escape(', '.join(items))}", highlight=False, soft_wrap=True
    )


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
    owners: dict[str, list[str]] = {}
    for name, cls in sorted(generators().items()):
        for key, items in cls(PlanRequest(run_seed=0, num=1, options={})).listings().items():
            owners.setdefault(key, []).append(name)
            listings[f"{name}-{key}"] = items
    for key, names in owners.items():  # plain names only where one benchmark has the list
        if len(names) == 1:
            listings[key] = listings[f"{names[0]}-{key}"]
    return listings


@app.command("scan")
def scan_command(
    model: Annotated[
        str,
        typer.Argument(metavar="MODEL", help="Text-to-image model to check: short name, Hub id or folder."),
    ],
    prompts: Annotated[
        Path | None, typer.Option(metavar="FILE", help="Prompts to check, one per line ('#' comments).")
    ] = None,
    run: Annotated[
        Path | None,
        typer.Option(metavar="RUN_DIR", help="Check the prompts of this run (and use its settings)."),
    ] = None,
    calibrate: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE|RUN_DIR",
            help="Benign prompts to set this model's threshold: a file (one per line) or a run's prompts (>= 10); "
            "stored in the hvgen cache and reused by later scans and --scan renders at the same settings.",
        ),
    ] = None,
    fpr: Annotated[
        float, typer.Option(metavar="RATE", help="Share of benign prompts --calibrate lets be flagged.")
    ] = 0.01,
    train_cda: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Prompts known to trigger this model's backdoor (>= 5): train T2IShield's CDA on them against the "
            "--calibrate prompts and save it to --cda FILE (for a model you backdoored yourself, of the family to check).",
        ),
    ] = None,
    cda: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="A CDA detector (--train-cda writes it): each prompt also gets CDA's decision, a second method.",
        ),
    ] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            metavar="NUMBER", help="FTT threshold to use instead of the calibration (< it: flagged)."
        ),
    ] = None,
    localize: Annotated[
        bool, typer.Option("--localize", help="Name the suspected trigger word of each flagged prompt.")
    ] = False,
    clip: Annotated[
        str | None,
        typer.Option(
            metavar="ID|DIR",
            help="Image model for --localize's similarity: a CLIP or a DINOv2 checkpoint ('tiny' = a tiny CLIP, "
            "offline). [default: openai/clip-vit-base-patch32]",
        ),
    ] = None,
    similarity: Annotated[
        float | None,
        typer.Option(
            metavar="NUMBER",
            help="--localize keeps a half whose similarity reaches this. [default: 0.85 for CLIP, 0.825 for DINOv2]",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR", help="Report folder. [default: RUN_DIR/scan with --run, else scan-report]"
        ),
    ] = None,
    steps: Annotated[
        int | None, typer.Option(metavar="N", help="Denoising steps. [default: the model's]")
    ] = None,
    guidance: Annotated[
        float | None, typer.Option(metavar="NUMBER", help="Guidance scale. [default: the model's]")
    ] = None,
    width: Annotated[
        int | None, typer.Option(metavar="PIXELS", help="Image width. [default: the model's, or the run's]")
    ] = None,
    height: Annotated[
        int | None, typer.Option(metavar="PIXELS", help="Image height. [default: the model's, or the run's]")
    ] = None,
    seed: Annotated[int, typer.Option(metavar="INTEGER", help="Seed (one per prompt derives from it).")] = 42,
    batch_size: Annotated[int, typer.Option(metavar="N", help="Prompts per pipeline call.")] = 4,
    device: Annotated[str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda, cuda:1, mps ...")] = "auto",
    dtype: Annotated[str, typer.Option(metavar="DTYPE", help="auto, float32, float16 or bfloat16.")] = "auto",
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Check prompts for a backdoor in a text-to-image model (T2IShield): flags prompts whose token
    cross-attention maps collapse onto one shape. Exit status 1 when a prompt is flagged (by FTT, or
    by the CDA detector given with --cda)."""
    options = {k: v for k, v in locals().items() if k not in ("verbose", "quiet")}
    from hvgen.analysis.scan_command import ScanRequest, print_outcome, run_scan

    outcome = run_scan(ScanRequest(**options))
    print_outcome(outcome, _stdout())
    if outcome.flagged:
        raise typer.Exit(code=1)


@app.command("annotate")
def annotate_command(
    images_dir: Annotated[
        Path, typer.Argument(metavar="IMAGES_DIR", help="Folder of images (searched recursively).")
    ],
    captioner: Annotated[
        str,
        typer.Option(
            metavar="MODEL",
            help="Image-text-to-text model: Hub id OWNER/NAME (from the local HF cache when offline), a folder "
            "saved with save_pretrained, or 'tiny' (built-in random model: checks the machinery, writes junk).",
        ),
    ],
    out: Annotated[
        Path, typer.Option(metavar="DIR", help="Output folder; the rows go to DIR/annotations.jsonl.")
    ],
    prompt: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Jinja prompt template (variables: key, file_name). [default: the built-in face prompt]",
        ),
    ] = None,
    batch_size: Annotated[int, typer.Option(metavar="N", help="Images per generate call.")] = 4,
    max_new_tokens: Annotated[int, typer.Option(metavar="N", help="Longest reply, in tokens.")] = 96,
    temperature: Annotated[
        float,
        typer.Option(
            metavar="NUMBER", help="0: greedy, deterministic; > 0: sampled, one seed per image from --seed."
        ),
    ] = 0.0,
    seed: Annotated[
        int, typer.Option(metavar="INTEGER", help="Run seed for sampling (--temperature > 0).")
    ] = 0,
    device: Annotated[str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda, cuda:1, mps ...")] = "auto",
    dtype: Annotated[
        str,
        typer.Option(
            metavar="DTYPE", help="auto (bfloat16 on CUDA, else float32), float32, float16 or bfloat16."
        ),
    ] = "auto",
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Re-annotate a folder of (face) images with a vision-language model: a fine-grained caption and an
    attribute list per image, one JSONL row each, marked model_generated with the model and prompt version
    (kept apart from source labels). Rerunning the same command resumes."""
    from hvgen.annotate.command import run_annotate

    run_annotate(
        images_dir, captioner, out, prompt, batch_size, max_new_tokens, temperature, seed, device, dtype
    )


@app.command("models")
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


def _version_callback(value: bool) -> None:
    if value:
        print(f"hvgen {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = False,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """hvgen: fresh, leak-free splits of synthetic vision-language benchmarks."""


_COMMAND: Any = None


def _command() -> Any:
    """The click command, built once (benchmark commands come from the generator registry)."""
    global _COMMAND
    if _COMMAND is None:
        for name, cls in generators().items():
            app.command(name, help=_benchmark_command(cls).__doc__)(_benchmark_command(cls))
        _COMMAND = typer.main.get_command(app)
        for command in [_COMMAND, *getattr(_COMMAND, "commands", {}).values()]:
            _readable_metavars(command)
        for name, cls in generators().items():
            _explain_missing_groups(_COMMAND.commands[name], cls)
    return _COMMAND


def _explain_missing_groups(command: Any, cls: type[Generator]) -> None:
    """`hvgen herm --model tiny`: click said 'No such option: --model (Possible options: --help)'.
    Say instead why a benchmark lacks a shared option (it renders nothing / perturbs nothing)."""
    missing = {
        "--" + option.replace("_", "-"): group
        for group, options in OPTION_GROUPS.items()
        if group not in cls.cli_option_groups
        for option in options
    }
    parse_args = command.parse_args

    def explained(ctx: Any, args: list[str]) -> list[str]:
        try:
            return parse_args(ctx, args)
        except Exception as error:  # click's NoSuchOption (typer may vendor its own click)
            group = missing.get(getattr(error, "option_name", None) or "")
            if type(error).__name__ != "NoSuchOption" or group is None:
                raise
            why = "renders no images" if group == "text_to_image" else "makes no perturbed scenarios"
            raise sys.modules[type(error).__module__].UsageError(
                f"{error.option_name}: hvgen {cls.name} {why}, so it has no such option "
                f"(`hvgen {cls.name} --help` lists its options).",
                ctx,
            ) from None

    command.parse_args = explained


_METAVARS = {"int": "INTEGER", "integer": "INTEGER", "float": "NUMBER", "str": "TEXT", "text": "TEXT"}


def _plain_argument(param: Any) -> None:
    """Typer's plain help shows an argument as 'RUN_DIR <path>' and, in the usage line, as
    '{RUN_DIR}': Python types and braces a reader does not expect. Show the name alone, as click
    does ('RUN_DIR', '[WHAT]' when optional); the help text says what it is."""
    name = param.display_name_raw + ("..." if param.nargs != 1 else "")
    param.display_type_rich = lambda ctx: ""
    param.get_usage_pieces = lambda ctx: [name if param.required else f"[{name}]"]


def _readable_metavars(command: Any) -> None:
    """Options declared without a metavar show their Python type in --help ('<str>', '<list[str]>');
    give them a word instead (TEXT, INTEGER, NUMBER, PATH)."""
    from typer.core import TyperArgument, TyperOption

    for param in command.params:
        if isinstance(param, TyperArgument):
            _plain_argument(param)
            continue
        if not isinstance(param, TyperOption) or param.metavar is not None or param.is_flag or param.count:
            continue
        annotation = getattr(getattr(param, "type_descriptor", None), "annotation", None)
        if typing.get_origin(annotation) is list:
            annotation = typing.get_args(annotation)[0]
        name = getattr(annotation, "__name__", None) or getattr(getattr(param, "type", None), "name", "")
        param.metavar = "PATH" if "path" in str(name).lower() else _METAVARS.get(str(name).lower(), "VALUE")


def main(argv: list[str] | None = None) -> None:
    from hvgen import interrupts

    set_verbosity(NORMAL)
    try:
        with interrupts.stop_on_ctrl_c(), interrupts.errors_after_ctrl_c_are_interrupts():
            # not standalone: usage errors come back here to be said in one line like every other
            # error, and an explicit exit code (typer.Exit, --help) is returned instead of raised
            code = _command().main(args=argv, prog_name="hvgen", standalone_mode=False)
        if code == 130:  # typer turns Ctrl-C into a silent exit 130
            _say_interrupted()
        if isinstance(code, int) and code != 0:  # success returns normally: main() runs in-process
            sys.exit(code)
    except SystemExit as done:
        if _caused_by_ctrl_c(done):
            _say_interrupted()
        if done.code not in (0, None):
            raise
    except typer.TyperException as error:  # typer's own click: usage errors and the like
        # click's default is three lines (usage, "Try --help", "Error: ..."); one line, as for any
        # other bad input, naming the command whose --help explains it
        message, context = error.format_message(), getattr(error, "ctx", None)
        if type(error).__name__ == "NoArgsIsHelpError":  # a bare `hvgen` / `hvgen score`: the help
            console.print(message, highlight=False, markup=False, soft_wrap=True)
            sys.exit(2)
        if context is not None and "--help" not in message:
            message += f" (see '{context.command_path} --help')"
        console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
        sys.exit(getattr(error, "exit_code", 2))
    except typer.Abort:
        _say_interrupted()
        sys.exit(130)
    except HvgenError as error:
        if verbosity() >= VERBOSE:
            console.print_exception()
        # the message is text, not markup: a bracket a user typed ('[red]', '[/x]') or a library's
        # reason in brackets must be printed, never parsed (a stray closing tag would crash here)
        console.print(f"[bold red]error:[/] {escape(str(error))}", highlight=False, soft_wrap=True)
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
