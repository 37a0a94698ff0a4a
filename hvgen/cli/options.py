"""Option declarations more than one command shares: -v/-q, RUN_DIR (and `load_run`, what it
names), --shard, and the options every benchmark command takes (`COMMON`, filtered per benchmark by
`OPTION_GROUPS`). Imported by the command modules of `hvgen.cli`; imports nothing heavy."""

from __future__ import annotations

import inspect
import typing
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hvgen import ranges
from hvgen.cli.launch import ExecutorConfigOpt, ExecutorOpt, WorkersOpt
from hvgen.config import SETTING_RANGES, RunConfig
from hvgen.progress import QUIET, VERBOSE, set_verbosity
from hvgen.ranges import Bounds
from hvgen.sharding import check_shard_option

if TYPE_CHECKING:
    from hvgen.generator import Generator


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
        parser=check_shard_option,
        help="Work on shard i of N ('i/N'); defaults to RANK/WORLD_SIZE when set by torchrun/accelerate.",
    ),
]

# Options every benchmark command shares: CLI name → (config key, typer parameter).
COMMON: list[tuple[str, inspect.Parameter]] = []


def _common(
    name: str, key: str | None, annotation: Any, default: Any = None, bounds: Bounds | None = None
) -> None:
    """Declare a shared option; `default=None` means "not given" (the config's value is kept). A
    number is range-checked while the command line is parsed: with `bounds`, or with the range of
    the config setting `key` it sets (`SETTING_RANGES`), so both refuse the same values alike."""
    bounds = bounds or SETTING_RANGES.get(key or "", (None, None))[0]
    if bounds is not None:
        option_info = typing.get_args(annotation)[1]
        option_info.parser = bounds.parser("--" + name.replace("_", "-"))
    COMMON.append(
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
FIDELITY_FILTER_HELP = (
    "Drop conditioned (ControlNet) images that do not follow their condition: re-extract it and score the "
    "agreement (OKS for poses with this ViTPose, an id or folder or 'tiny'; edge F1 for canny; SSIM for other "
    "extractors). Off by default."
)
FIDELITY_THRESHOLD_HELP = "Agreement score (0-1) below which an image is dropped. [default: 0.5]"
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
    "clip_threshold",
    None,
    Annotated[float | None, typer.Option(metavar="NUMBER", help=CLIP_THRESHOLD_HELP)],
    bounds=ranges.CLIP_THRESHOLD,
)
_common(
    "fidelity_filter", None, Annotated[str | None, typer.Option(metavar="ID|DIR", help=FIDELITY_FILTER_HELP)]
)
_common(
    "fidelity_threshold",
    None,
    Annotated[float | None, typer.Option(metavar="NUMBER", help=FIDELITY_THRESHOLD_HELP)],
    bounds=ranges.FIDELITY_THRESHOLD,
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
    bounds=ranges.FORMS,
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
_common(
    "controlnet",
    "render.controlnet",
    Annotated[
        str | None,
        typer.Option(
            metavar="ID|DIR|tiny|ctrlora:BASE",
            help="Render through a ControlNet (diffusers ControlNetModel: a Hub id, a local folder, or tiny, a built-in "
            "random one for offline runs; ctrlora:BASE, a CtrLoRA base .ckpt/.safetensors or folder, SD 1.5, with "
            "--ctrlora-lora); each record's condition image (--condition RECIPE) steers its image.",
        ),
    ],
)
_common(
    "ctrlora_lora",
    "render.ctrlora_loras",
    Annotated[
        list[str] | None,
        typer.Option(
            metavar="RECIPE=PATH",
            help="With --controlnet ctrlora:BASE: the CtrLoRA condition LoRA (.ckpt/.safetensors, CtrLoRA's or "
            "diffusers/peft key layout) for the condition recipe RECIPE; repeat once per recipe the run uses.",
        ),
    ],
)
_common(
    "controlnet_scale",
    "render.controlnet_scale",
    Annotated[
        float | None,
        typer.Option(metavar="NUMBER", help="ControlNet conditioning scale, 0-10. [default: 1.0]"),
    ],
)
_common(
    "control_start",
    "render.control_start",
    Annotated[
        float | None,
        typer.Option(
            metavar="FRACTION", help="Fraction of the steps where the ControlNet starts, 0-1. [default: 0]"
        ),
    ],
)
_common(
    "control_end",
    "render.control_end",
    Annotated[
        float | None,
        typer.Option(
            metavar="FRACTION", help="Fraction of the steps where the ControlNet stops, 0-1. [default: 1]"
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
_common("executor", None, ExecutorOpt)
_common("workers", None, WorkersOpt)
_common("executor_config", None, ExecutorConfigOpt)
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
                      "vae_tiling", "scan", "keep_flagged", "clip_filter", "clip_threshold", "controlnet",
                      "ctrlora_lora", "controlnet_scale", "control_start", "control_end", "fidelity_filter", "fidelity_threshold"),
    "perturbations": ("scenario", "corruption_preset", "corruptions", "severity", "attack", "eps", "surrogate"),
}  # fmt: skip


def common_options(cls: type[Generator]) -> list[inspect.Parameter]:
    """The shared options `cls`'s command offers: all but the groups it cannot use."""
    unused = {
        name for group, names in OPTION_GROUPS.items() if group not in cls.cli_option_groups for name in names
    }
    return [param for _, param in COMMON if param.name not in unused]


def repair_run(source: Path) -> None:
    """Rebuild a damaged catalog (or config.yaml) of a run directory before it is read; an export
    folder or any other path is left alone."""
    from hvgen.config import is_run_dir, load_run_config
    from hvgen.stages.repair import ensure_catalog

    if is_run_dir(source):
        ensure_catalog(source, load_run_config(source))


def load_run(run_dir: Path) -> RunConfig:
    """The config of RUN_DIR, or one clear error when it is not a run directory."""
    from hvgen.config import load_run_config  # restores a damaged config.yaml, or refuses

    return load_run_config(run_dir)
