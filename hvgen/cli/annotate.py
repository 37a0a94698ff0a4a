"""`hvgen annotate IMAGES_DIR`: re-annotate a folder of images with a vision-language model. The
options are parsed here; `hvgen.annotate.command` does the work."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from hvgen import ranges
from hvgen.cli.options import QuietOpt, VerboseOpt


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
    batch_size: Annotated[
        int,
        typer.Option(
            metavar="N", help="Images per generate call.", parser=ranges.ANNOTATE_BATCH.parser("--batch-size")
        ),
    ] = 4,
    max_new_tokens: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Longest reply, in tokens.",
            parser=ranges.MAX_NEW_TOKENS.parser("--max-new-tokens"),
        ),
    ] = 96,
    temperature: Annotated[
        float,
        typer.Option(
            metavar="NUMBER",
            help="0: greedy, deterministic; > 0: sampled, one seed per image from --seed.",
            parser=ranges.TEMPERATURE.parser("--temperature"),
        ),
    ] = 0.0,
    seed: Annotated[
        int,
        typer.Option(
            metavar="INTEGER",
            help="Run seed for sampling (--temperature > 0).",
            parser=ranges.SEED.parser("--seed"),
        ),
    ] = 0,
    device: Annotated[str, typer.Option(metavar="DEVICE", help="auto, cpu, cuda, cuda:1, mps ...")] = "auto",
    dtype: Annotated[
        str,
        typer.Option(
            metavar="DTYPE", help="auto (bfloat16 on CUDA, else float32), float32, float16 or bfloat16."
        ),
    ] = "auto",
    follow_symlinks: Annotated[
        bool,
        typer.Option(
            "--follow-symlinks",
            help="Also read images reached through a symbolic link that leads outside IMAGES_DIR (e.g. kept on "
            "another disk); by default they are skipped, counted and named in a warning.",
        ),
    ] = False,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Re-annotate a folder of (face) images with a vision-language model: a fine-grained caption and an
    attribute list per image, one JSONL row each, marked model_generated with the model and prompt version
    (kept apart from source labels). Rerunning the same command resumes."""
    from hvgen.annotate.command import run_annotate

    run_annotate(
        images_dir, captioner, out, prompt, batch_size, max_new_tokens, temperature, seed, device, dtype,
        follow_symlinks,
    )  # fmt: skip
