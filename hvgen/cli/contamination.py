"""`hvgen twins` and `hvgen contamination`: a release redrawn with new image seeds, and the paired
test of whether a model learned the release (logic in hvgen.twins and hvgen.analysis.contamination)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hvgen import ranges
from hvgen.cli.options import QuietOpt, VerboseOpt, repair_run
from hvgen.cli.publish import FormatOpt


def twins_command(
    release: Annotated[
        Path, typer.Argument(metavar="RELEASE", help="A run, its export, or RUN/formats/dysca.")
    ],
    out: Annotated[Path, typer.Option(metavar="DIR", help="The twin run directory to make.")],
    seed: Annotated[
        int,
        typer.Option(
            metavar="INTEGER",
            help="Twin seed: new image seeds H(seed, image); photographs: the partners drawn.",
            parser=ranges.SEED.parser("--seed"),
        ),
    ] = 1,
    layout: Annotated[
        str,
        typer.Option(
            "--from", metavar="LAYOUT", help="How RELEASE is laid out: auto, run, export, dysca, vlbias, hqh."
        ),
    ] = "auto",
    formats: FormatOpt = None,
    model: Annotated[
        str | None,
        typer.Option(metavar="NAME|ID|DIR", help="Render with this model (default: the release's)."),
    ] = None,
    batch_size: Annotated[
        int | None,
        typer.Option(
            metavar="N", help="Images per batch.", parser=ranges.RENDER_BATCH.parser("--batch-size")
        ),
    ] = None,
    device: Annotated[
        str | None, typer.Option(metavar="DEVICE", help="auto, cpu, cuda, cuda:N, mps.")
    ] = None,
    clip_filter: Annotated[
        str | None, typer.Option(metavar="MODEL", help="Filter twins like a CLIP-filtered release.")
    ] = None,
    clip_threshold: Annotated[
        float | None,
        typer.Option(
            metavar="SCORE",
            help="With --clip-filter (default 25).",
            parser=ranges.CLIP_THRESHOLD.parser("--clip-threshold"),
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Plan only.")] = False,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Delete an existing twin run first.")
    ] = False,
    source: Annotated[
        list[str] | None,
        typer.Option(metavar="NAME=DIR", help="Face QA photographs: the release's --source folders again."),
    ] = None,
    coco_keypoints: Annotated[
        str, typer.Option(metavar="FILE", help="HERM photographs: the release's --coco-keypoints again.")
    ] = "",
    coco_instances: Annotated[str, typer.Option(metavar="FILE", help="HERM: its --coco-instances.")] = "",
    coco_captions: Annotated[str, typer.Option(metavar="FILE", help="HERM: its --coco-captions.")] = "",
    images: Annotated[str, typer.Option(metavar="DIR", help="HERM: its --images folder.")] = "",
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Make a twin split of a release: every record kept, a new image seed (photographs: another photograph of
    the same label and stratum), for `hvgen contamination`."""
    from hvgen.twins.command import make_twins

    repair_run(release)  # a release run's damaged catalog is rebuilt before it is read
    render = {"model": model, "batch_size": batch_size, "device": device}
    sources = {"source": source, "coco_keypoints": coco_keypoints, "coco_instances": coco_instances,
               "coco_captions": coco_captions, "images": images}  # fmt: skip
    make_twins(release, out, seed=seed, layout=layout, formats=formats, render=render, clip_filter=clip_filter,
               clip_threshold=clip_threshold, dry_run=dry_run, overwrite=overwrite, sources=sources)  # fmt: skip


def contamination_command(
    release: Annotated[Path, typer.Option(metavar="RUN_OR_EXPORT", help="The released split.")],
    twins: Annotated[Path, typer.Option(metavar="RUN_OR_EXPORT", help="Its twins (`hvgen twins`).")],
    predictions: Annotated[
        list[str],
        typer.Option(
            metavar="MODEL=REL,TWINS",
            help="One model's answers on the release and on the twins: hvgen JSONL, VLMEvalKit .xlsx, lmms-eval samples .jsonl, Dysca's MODEL_<config>.json, or folders of them. Repeat per model.",
        ),
    ],
    alpha: Annotated[
        float,
        typer.Option(
            metavar="LEVEL", help="Test level (family-wise per model).", parser=ranges.ALPHA.parser("--alpha")
        ),
    ] = 0.05,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            metavar="FILE",
            help="Write the JSON report here ('-': stdout). [default: TWINS/contamination/contamination.json]",
        ),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option(metavar="PNG", help="Gap plot. [default: TWINS/contamination/gaps.png]")
    ] = None,
    bootstrap: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Bootstrap resamples per interval.",
            parser=ranges.CONTAMINATION_BOOTSTRAP.parser("--bootstrap"),
        ),
    ] = 2000,
    seed: Annotated[
        int, typer.Option(metavar="INTEGER", help="Bootstrap seed.", parser=ranges.SEED.parser("--seed"))
    ] = 0,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Test whether models learned a release: paired accuracy on the release vs its twins."""
    from hvgen.analysis.contamination.command import run_contamination

    for source in (release, twins):
        repair_run(source)  # a damaged catalog (or config.yaml) is rebuilt before it is read
    run_contamination(release, twins, predictions, alpha=alpha, json_path=json_path, plot=plot,
                      n_resamples=bootstrap, seed=seed)  # fmt: skip
