"""`hvgen scan MODEL`: check prompts for a text-to-image backdoor (T2IShield). The options are
parsed here; `hvgen.analysis.scan_command` does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hvgen import ranges
from hvgen.cli.options import QuietOpt, VerboseOpt, repair_run
from hvgen.cli.output import data_console


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
        float,
        typer.Option(
            metavar="RATE",
            help="Share of benign prompts --calibrate lets be flagged.",
            parser=ranges.FPR.parser("--fpr"),
        ),
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
            metavar="NUMBER",
            help="FTT threshold to use instead of the calibration (< it: flagged).",
            parser=ranges.FTT_THRESHOLD.parser("--threshold"),
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
        int | None,
        typer.Option(
            metavar="N", help="Denoising steps. [default: the model's]", parser=ranges.STEPS.parser("--steps")
        ),
    ] = None,
    guidance: Annotated[
        float | None,
        typer.Option(
            metavar="NUMBER",
            help="Guidance scale. [default: the model's]",
            parser=ranges.GUIDANCE.parser("--guidance"),
        ),
    ] = None,
    width: Annotated[
        int | None,
        typer.Option(
            metavar="PIXELS",
            help="Image width. [default: the model's, or the run's]",
            parser=ranges.IMAGE_SIZE.parser("--width"),
        ),
    ] = None,
    height: Annotated[
        int | None,
        typer.Option(
            metavar="PIXELS",
            help="Image height. [default: the model's, or the run's]",
            parser=ranges.IMAGE_SIZE.parser("--height"),
        ),
    ] = None,
    seed: Annotated[
        int,
        typer.Option(
            metavar="INTEGER",
            help="Seed (one per prompt derives from it).",
            parser=ranges.SEED.parser("--seed"),
        ),
    ] = 42,
    batch_size: Annotated[
        int,
        typer.Option(
            metavar="N", help="Prompts per pipeline call.", parser=ranges.SCAN_BATCH.parser("--batch-size")
        ),
    ] = 4,
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

    if run is not None:
        repair_run(run)  # a damaged catalog (or config.yaml) is rebuilt before its prompts are read
    outcome = run_scan(ScanRequest(**options))
    print_outcome(outcome, data_console())
    if outcome.flagged:
        raise typer.Exit(code=1)
