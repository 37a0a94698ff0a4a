"""Command-line glue for launching through an executor (hvgen.executors) and for `hvgen status`.

Benchmark commands take `--executor/--workers` (declared in hvgen.cli.options with the other shared
options) and the `executor:` section of `--config`; the stage commands get the same options and
`--executor-config FILE` from the `executor_options` decorator. With an executor, a command runs
as tasks: each shard task runs the ordinary stage commands with `--shard i/N`, and the final
export runs once at the end. Without one, nothing changes: the command runs in this process.
"""

from __future__ import annotations

import functools
import inspect
import json
import re
import sys
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from hvgen import ranges
from hvgen.errors import HvgenError
from hvgen.progress import QUIET, console, info, verbosity

EXECUTOR_HELP = (
    "Run the shards as tasks of an engine: local (processes here), slurm (a job array, via submitit; "
    'pip install "hvgen[slurm]") or ray (a Ray cluster or a local Ray; pip install "hvgen[ray]"). Settings: the '
    "executor: section of a config file (README 'Beyond one machine'). [default: this process]"
)
WORKERS_HELP = "Tasks at once, one shard each (with --executor). [default: 1]"

ExecutorOpt = Annotated[str | None, typer.Option(metavar="local|slurm|ray", help=EXECUTOR_HELP)]
WorkersOpt = Annotated[
    int | None, typer.Option(metavar="N", help=WORKERS_HELP, parser=ranges.WORKERS.parser("--workers"))
]
ExecutorConfigOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE",
        help="YAML file whose executor: section sets the executor (a run config file works).",
    ),
]

SHARD_TAG = re.compile(r"^\d{5}-of-\d{5}$")
SHARDED_STAGES = ("render", "scenario")
"""Stage commands whose work is split into shards; the others run as one task."""
_OWN_OPTIONS = ("executor", "workers", "executor_config", "hvgen_ctx")


def launch_settings(executor: str | None, workers: int | None, *config_files: Path | None) -> Any:
    """The executor settings when the command runs as tasks, else None (the usual in-process run):
    the files' `executor:` sections (later ones win), then --executor / --workers."""
    from hvgen.executors import resolve_settings

    settings = resolve_settings(list(config_files), executor, workers)
    return settings if settings.distributed else None


def launch_benchmark(run_dir: Path, config: Any, settings: Any, build_args: list[str] | None) -> None:
    """A benchmark command's shards (render + scenarios) and its final build/export, as tasks."""
    from hvgen.analysis.status import RENDER_STAGE, scenario_stage
    from hvgen.store.work import IDENTITY_SCENARIO

    run = str(run_dir.resolve())
    stages = [RENDER_STAGE] + [scenario_stage(n) for n in config.scenario.scenarios if n != IDENTITY_SCENARIO]
    final = ["build", run, *build_args] if build_args is not None else ["export", run]
    _launch(
        run_dir,
        settings,
        stages,
        lambda shard: [[c, run, "--shard", _spec(shard)] for c in SHARDED_STAGES],
        [final],
    )


def build_args(common: dict[str, Any]) -> list[str]:
    """A benchmark command's build options as `hvgen build` arguments (paths made absolute)."""
    args: list[str] = []
    for source in common["against"] or []:
        args += ["--against", str(Path(source).resolve()) if Path(source).exists() else source]
    if common["clip_filter"]:
        clip = common["clip_filter"]
        args += ["--clip-filter", str(Path(clip).resolve()) if Path(clip).exists() else clip]
    if common["clip_threshold"] is not None:
        args += ["--clip-threshold", repr(common["clip_threshold"])]
    if common["fidelity_filter"]:
        pose = common["fidelity_filter"]
        args += ["--fidelity-filter", str(Path(pose).resolve()) if Path(pose).exists() else pose]
    if common["fidelity_threshold"] is not None:
        args += ["--fidelity-threshold", repr(common["fidelity_threshold"])]
    return args + (["--keep-flagged"] if common["keep_flagged"] else [])


def executor_options(stage: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Give a stage command `--executor/--workers/--executor-config`: with an executor the command
    runs as tasks (`render`, `scenario`: one per shard; the others: one task), each the same
    command with the options given here, plus `--shard i/N` where the stage is sharded."""

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> Any:
            ctx = kwargs.pop("hvgen_ctx")
            settings = launch_settings(
                kwargs.pop("executor"), kwargs.pop("workers"), kwargs.pop("executor_config")
            )
            if settings is None:
                return command(**kwargs)
            run_dir: Path = kwargs["run_dir"]
            run = str(run_dir.resolve())
            given = _given_options(ctx)
            if "--shard" in given:
                raise HvgenError("--shard and --executor: the executor makes the shards; leave --shard out.")
            if stage not in SHARDED_STAGES:
                return _launch(run_dir, settings, [], None, [[stage, run, *given]], final_name=stage)
            return _launch(
                run_dir,
                settings,
                _stage_names(run_dir, stage, kwargs),
                lambda s: [[stage, run, "--shard", _spec(s), *given]],
                None,
            )

        own = [
            inspect.Parameter("executor", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ExecutorOpt),
            inspect.Parameter("workers", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=WorkersOpt),
            inspect.Parameter("executor_config", inspect.Parameter.KEYWORD_ONLY, default=None, annotation=ExecutorConfigOpt),
            inspect.Parameter("hvgen_ctx", inspect.Parameter.KEYWORD_ONLY, annotation=typer.Context),
        ]  # fmt: skip
        kw = inspect.Parameter.KEYWORD_ONLY  # typer passes every parameter by name
        hints = typing.get_type_hints(command, include_extras=True)  # string annotations resolved
        params = [
            p.replace(kind=kw, annotation=hints.get(p.name, p.annotation))
            for p in inspect.signature(command).parameters.values()
        ]
        keep = [p for p in params if p.name not in ("verbose", "quiet")]
        tail = [p for p in params if p.name in ("verbose", "quiet")]
        wrapper.__signature__ = inspect.Signature([*keep, *own, *tail])  # type: ignore[attr-defined]
        return wrapper

    return decorate


def _stage_names(run_dir: Path, stage: str, kwargs: dict[str, Any]) -> list[str]:
    """The status stages a sharded stage command finishes."""
    from hvgen.analysis.status import RENDER_STAGE, scenario_stage
    from hvgen.config import CONFIG_FILE, RunConfig
    from hvgen.scenarios import parse_scenarios
    from hvgen.store.work import IDENTITY_SCENARIO

    if stage == "render":
        return [RENDER_STAGE]
    if not (run_dir / CONFIG_FILE).is_file():
        raise HvgenError(f"{run_dir} is not an hvgen run directory (no {CONFIG_FILE}).")
    names = parse_scenarios(
        kwargs.get("scenario") or RunConfig.load(run_dir / CONFIG_FILE).scenario.scenarios
    )
    return [scenario_stage(name) for name in names if name != IDENTITY_SCENARIO] or [RENDER_STAGE]


def _given_options(ctx: Any) -> list[str]:
    """The options given on the command line, as arguments again (for the tasks' commands)."""
    args: list[str] = []
    for param in ctx.command.params:
        name = param.name or ""
        if name in _OWN_OPTIONS or not getattr(param, "opts", None) or param.param_type_name != "option":
            continue
        if getattr(ctx.get_parameter_source(name), "name", "") != "COMMANDLINE" or getattr(
            param, "count", False
        ):
            continue
        value = ctx.params.get(name)
        if getattr(param, "is_flag", False):
            flags = param.opts if value else param.secondary_opts
            args += flags[:1]
            continue
        for item in value if isinstance(value, list | tuple) else [value]:
            args += [param.opts[0], str(item)]
    return args


def _spec(shard: Any) -> str:
    return f"{shard.index}/{shard.count}"


def _launch(
    run_dir: Path,
    settings: Any,
    stages: list[str],
    shard_commands: Callable[[Any], list[list[str]]] | None,
    final: list[list[str]] | None,
    final_name: str = "export",
) -> None:
    from hvgen.executors import ShardWork, run_distributed
    from hvgen.summary import read_summary, summary_table

    work = ShardWork(run_dir, stages, shard_commands or (lambda shard: []), final, final_name)
    result = run_distributed(work, settings)
    where = escape(str(run_dir / "logs" / settings.name))
    info(
        f"{settings.name}: {result.shards} shard(s) finished ({result.launched} launched now); logs in {where}"
    )
    if result.final is not None:
        info(f"{settings.name}: final task done: {escape(' && '.join(' '.join(c) for c in final or []))}")
        summary = read_summary(run_dir)
        if (
            summary.get("configs") is not None
            and verbosity() > QUIET
            and final
            and final[-1][0] in ("export", "build")
        ):
            console.print(summary_table(summary))


def status_command(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR", help="A run directory (holds config.yaml).")],
    shards: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            help="Count progress per shard of N. [default: as the run was launched, else 1]",
            parser=ranges.SHARDS.parser("--shards"),
        ),
    ] = None,
    json_out: Annotated[
        bool, typer.Option("--json", help="Print JSON (for scripts) instead of a table.")
    ] = False,
) -> None:
    """Progress of a run, per stage and shard: done / total, rate, ETA, and the tasks that failed
    (with their logs and the command to rerun them). Read from the manifests: works while the run
    is going, and for runs launched any way."""
    from hvgen.analysis.status import run_status

    status = run_status(run_dir, shards=shards)
    if json_out:
        print(json.dumps(status.to_dict(), indent=2))
        return
    out = Console() if sys.stdout.isatty() else Console(width=400)
    out.print(_status_table(status))
    for task in status.tasks:
        if not SHARD_TAG.match(task.name):  # the final task: export, build, plan ...
            out.print(
                f"final task ({task.name}): {task.state}, {task.attempts} attempt(s)",
                markup=False,
                highlight=False,
            )
        if task.state == "failed":
            out.print(
                f"failed: {task.name} after {task.attempts} attempt(s): {task.error or ''}\n  log: "
                f"{run_dir / (task.log or '')}\n  run it by hand: {task.command}",
                markup=False,
                highlight=False,
            )


def _status_table(status: Any) -> Table:
    title = f"{status.benchmark} run {status.run_dir}: {status.shards} shard(s)" + (
        f", launched with {status.executor}" if status.executor else ""
    )
    table = Table(title=escape(title), title_justify="left")
    for column in ("stage", "shard", "done / total", "", "rate", "eta", "tasks"):
        table.add_column(column, justify="left" if column in ("stage", "shard", "tasks") else "right")
    tasks = {task.name: task for task in status.tasks}
    for stage in status.stages:
        table.add_row(
            stage.stage,
            "all",
            f"{stage.done:,} / {stage.total:,}",
            _percent(stage),
            _rate(stage.rate),
            _eta(stage),
            "",
        )
        if status.shards == 1:
            continue
        for shard in stage.shards:
            tag = f"{shard.index:05d}-of-{status.shards:05d}"
            task = tasks.get(tag)
            note = f"{task.state}, {task.attempts} attempt(s)" if task else ""
            table.add_row(
                "",
                f"{shard.index}/{status.shards}",
                f"{shard.done:,} / {shard.total:,}",
                _percent(shard),
                _rate(shard.rate),
                _eta(shard),
                note,
            )
        table.add_section()
    return table


def _percent(item: Any) -> str:
    return f"{100 * item.done / item.total:.0f}%" if item.total else "-"


def _rate(rate: float | None) -> str:
    if not rate:
        return "-"
    return f"{rate:.2f}/s" if rate >= 0.1 else f"{rate * 3600:.0f}/h"


def _eta(item: Any) -> str:
    if item.eta_s is None:
        return "-" if item.done < item.total else "done"
    if item.eta_s == 0:
        return "done"
    seconds = int(item.eta_s)
    return f"{seconds // 3600}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"
