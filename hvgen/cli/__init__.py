"""The `hvgen` command line: thin wrappers that parse options and call the stages.

One command per registered benchmark (`hvgen dysca ...`) runs every stage; the stage commands
(`hvgen plan|render|scenario|build|export|stats|push RUN_DIR`) run one at a time.

This package head only assembles the typer app; each command or group lives in its own module
(`benchmarks`, `stages`, `publish`, `scoring`, `contamination`, `scan`, `annotate`, `info`,
`launch` for --executor and `hvgen status`), with the shared
option declarations in `options`, printing in `output`, help wording in `help_text` and error
handling in `errors`. Nothing in hvgen imports this package; it may import any of hvgen. The
modules import heavy libraries (torch, diffusers, transformers, albumentations, datasets) only
inside the functions that need them, so `hvgen --help`, `hvgen list`, `hvgen config` and
refusals of bad input stay fast.

Help is printed without rich markup (`rich_markup_mode=None`): option texts hold literal
brackets such as "[default: 200]", which rich markup would eat, and plain help reads the same in
a terminal, a log file and the README. Messages go to stderr; data (`hvgen list`, `hvgen config`,
`hvgen stats`, `hvgen models`) to stdout.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from hvgen import __version__
from hvgen.cli import annotate, contamination, info, pose_bank, publish, scan, scoring, stages
from hvgen.cli.benchmarks import add_benchmark_commands, explain_missing_options
from hvgen.cli.errors import run_reporting_errors
from hvgen.cli.help_text import readable_metavars
from hvgen.cli.launch import executor_options, status_command
from hvgen.cli.options import QuietOpt, VerboseOpt
from hvgen.generator import generators
from hvgen.progress import NORMAL, set_verbosity

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


# In the order `hvgen --help` lists them; the benchmark commands follow (`_command`).
app.command("plan")(executor_options("plan")(stages.plan_command))
app.command("render")(executor_options("render")(stages.render_command))
app.command("scenario")(executor_options("scenario")(stages.scenario_command))
app.command("export")(executor_options("export")(publish.export_command))
app.command("build")(executor_options("build")(stages.build_command))
app.command("stats")(info.stats_command)
app.command("config")(info.config_command)
app.command("push")(publish.push_command)
app.command("score")(scoring.score_command)
app.command("quality")(scoring.quality_command)
app.command("twins")(contamination.twins_command)
app.command("contamination")(contamination.contamination_command)
app.command("preview")(publish.preview_command)
app.command("list")(info.list_command)
app.command("scan")(scan.scan_command)
app.command("annotate")(annotate.annotate_command)
app.command("status")(status_command)
app.command("models")(info.models_command)
app.command("pose-bank")(pose_bank.pose_bank_command)


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
        add_benchmark_commands(app)
        _COMMAND = typer.main.get_command(app)
        for command in [_COMMAND, *getattr(_COMMAND, "commands", {}).values()]:
            readable_metavars(command)
        for name, cls in generators().items():
            explain_missing_options(_COMMAND.commands[name], cls)
    return _COMMAND


def main(argv: list[str] | None = None) -> None:
    set_verbosity(NORMAL)
    run_reporting_errors(
        lambda: _check_environment() or _command().main(args=argv, prog_name="hvgen", standalone_mode=False)
    )


def _check_environment() -> None:
    """The numbers hvgen reads from the environment, refused in one line before any work (a stage
    reads them only once it has started)."""
    from hvgen.cpu_budget import available_cpus
    from hvgen.progress import progress_interval
    from hvgen.workers import io_threads

    progress_interval()
    io_threads()
    available_cpus()


if __name__ == "__main__":
    main()
