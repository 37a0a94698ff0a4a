"""The publishing commands: `hvgen export` (the Hub folder and other formats), `hvgen push` (to
the Hub) and `hvgen preview` (an HTML contact sheet), and `export_and_summarise`, which the
benchmark and build commands end with."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from hvgen import ranges
from hvgen.cli.options import QuietOpt, RunDir, VerboseOpt, load_run
from hvgen.cli.output import print_export, print_format_steps
from hvgen.config import CONFIG_FILE, RunConfig, merge_overrides
from hvgen.errors import HvgenError
from hvgen.progress import QUIET, console, info, verbosity, warn


def export_and_summarise(
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
    check_something_to_export(run_dir)
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
    up_to_date = getattr(exported, "up_to_date", False)
    if up_to_date:
        info(f"export up to date: {run_dir / 'export'} was written from the same inputs; left as it is.")
    print_export(run_dir, exported)
    summary = build_summary(run_dir, config.benchmark, exported, times, warnings)
    path = write_summary(run_dir, summary)
    if verbosity() > QUIET:
        console.print(summary_table(summary))
    info(f"summary written to {path}", highlight=False)
    return exported


def check_something_to_export(run_dir: Path) -> None:
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
        if any(reason == "low_fidelity" for reason, _ in reasons):
            raise HvgenError(
                f"nothing to export from {run_dir}: `hvgen build` dropped every question ({why}): no image followed its "
                "condition closely enough for --fidelity-threshold (the card's and `hvgen build`'s score quartiles "
                f"show the spread). Rebuild with a lower threshold (`hvgen build {run_dir} --fidelity-filter MODEL "
                "--fidelity-threshold T`), or render with a ControlNet trained for the condition."
            )
        raise HvgenError(
            f"nothing to export from {run_dir}: `hvgen build` dropped every question ({why}). If the leak check "
            "matched everything, --against probably names this run's own export or a release made with the same "
            f"seed; rebuild with the right source (`hvgen build {run_dir} --against SOURCE`), or without --against "
            f"to keep everything. `hvgen stats {run_dir}` lists the drops."
        )


FormatOpt = Annotated[
    list[str] | None,
    typer.Option(
        "--format",
        metavar="NAME",
        help="Also write this consumer's layout under RUN/formats/<name>/ (beside the Hub folder, never "
        "uploaded by push): vlmevalkit, lmms-eval, the benchmark's original release layout (dysca, vlbias, hqh), "
        "ctrlora (CtrLoRA training pairs of a --controlnet run; by name only), or all. Repeatable. See "
        "`hvgen list formats`.",
    ),
]


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
    split: Annotated[
        str | None,
        typer.Option(
            metavar="SPLIT",
            help="The split the harness formats (vlmevalkit, lmms-eval) evaluate, one the export has (Face QA "
            "exports train / validation / test). [default: test]",
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
    config = merge_overrides(load_run(run_dir), {"export.layout": layout, "export.eval_split": split})
    export_and_summarise(
        run_dir, config, StageTimes(), [], formats=requested, allow_incomplete=allow_incomplete
    )
    print_format_steps(run_dir, requested, config.benchmark)


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
    warn_before_push(run_dir)
    try:
        result = push_folder(folder, repo_id, private=private, tag=tag, dry_run=dry_run)
    except (PushError, ValueError) as error:
        raise HvgenError(str(error)) from None
    console.print(result.table())


def warn_before_push(run_dir: Path) -> None:
    """The benchmark's own warnings about publishing this run (licences ...)."""
    from hvgen.generator import get_generator

    config_path = run_dir / CONFIG_FILE
    if config_path.is_file():
        config = RunConfig.load(config_path)
        for message in get_generator(config.benchmark).publish_warnings(run_dir, dict(config.options)):
            warn(message)


def preview_command(
    run_dir: RunDir,
    scenario: Annotated[str, typer.Option(metavar="NAME", help="Which scenario's images to show.")] = "clean",
    num: Annotated[
        int,
        typer.Option(
            metavar="N", help="How many samples to show.", parser=ranges.PREVIEW_NUM.parser("--num")
        ),
    ] = 48,
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
    from hvgen.pipeline import ensure_catalog, scenario_levels

    config = load_run(run_dir)
    ensure_catalog(run_dir, config)
    shown = write_preview(run_dir, name, num, target, scenario_levels(config))
    info(f"preview: {shown} samples → {target}")
