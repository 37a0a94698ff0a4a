"""One command per registered benchmark (`hvgen dysca ...`), built from the generator registry:
the shared options (`options.COMMON`, the groups the benchmark can use) plus the generator's own
(`Generator.cli_options`). A benchmark command runs every stage."""

from __future__ import annotations

import copy
import inspect
import sys
import typing
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from hvgen.cli.options import COMMON, OPTION_GROUPS, common_options
from hvgen.cli.output import print_plan, print_render, print_scenario
from hvgen.cli.publish import export_and_summarise
from hvgen.cli.stages import run_build
from hvgen.config import RunConfig, merge_overrides
from hvgen.errors import HvgenError
from hvgen.generator import Generator, generators
from hvgen.progress import info


def add_benchmark_commands(app: typer.Typer) -> None:
    """`hvgen <benchmark>` for every registered generator, in registration order."""
    for name, cls in generators().items():
        command = benchmark_command(cls)
        app.command(name, help=command.__doc__)(command)


def benchmark_command(cls: type[Generator]):
    """The command function of `cls`: its signature declares the options (the generator's own, then
    the shared ones it can use), its docstring is the help."""
    # Resolve string annotations (modules using `from __future__ import annotations`).
    hints = typing.get_type_hints(cls.cli_options, include_extras=True)
    own = [
        p.replace(kind=inspect.Parameter.KEYWORD_ONLY, annotation=hints.get(p.name, p.annotation))
        for p in inspect.signature(cls.cli_options).parameters.values()
    ]

    def command(ctx: typer.Context, **kwargs: Any) -> None:
        common = {param.name: kwargs.pop(param.name, param.default) for _, param in COMMON}
        # Only options given on the command line override a --config file (not their defaults).
        given = {
            name: value
            for name, value in kwargs.items()
            if getattr(ctx.get_parameter_source(name), "name", "") != "DEFAULT"
        }
        if common["forms"] == 1:
            run_benchmark(cls, generator_options=given, common=common)
            return
        from hvgen.forms import form_runs

        base = RunConfig.load(common["config"]) if common["config"] else RunConfig(benchmark=cls.name)
        seed = base.seed if common["seed"] is None else common["seed"]
        runs = form_runs(common["out"] or Path("runs") / cls.name, seed, common["forms"])
        for out, form_seed in runs:
            run_benchmark(cls, generator_options=given, common={**common, "out": out, "seed": form_seed})
        info(
            f"{len(runs)} parallel forms: {', '.join(str(out) for out, _ in runs)}; measure their reliability with "
            f"`hvgen quality {runs[0][0]} {runs[1][0]} --predictions MODEL=A.jsonl,B.jsonl ...` (README)."
        )

    context = inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)
    common = [with_default(param, cls) for param in common_options(cls)]
    command.__signature__ = inspect.Signature([context, *own, *common])  # type: ignore[attr-defined]
    command.__doc__ = (
        inspect.cleandoc(cls.__doc__ or cls.title)
        + "\n\nRuns every stage: plan → render → scenarios → export (and build with --against"
        + (" or --clip-filter), " if "text_to_image" in cls.cli_option_groups else "), ")
        + f"then writes RUN_DIR/summary.json. Example: hvgen {cls.name} {cls.cli_example}"
    )
    command.__name__ = cls.name
    return command


def with_default(param: inspect.Parameter, cls: type[Generator]) -> inspect.Parameter:
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


def run_benchmark(cls: type[Generator], generator_options: dict[str, Any], common: dict[str, Any]) -> None:
    from hvgen.cli.launch import build_args, launch_benchmark, launch_settings
    from hvgen.ctrlora.spec import parse_lora_options, resolve_controlnet
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
    overrides = {key: common[param.name] for key, param in COMMON if key}
    for list_key in ("scenario.scenarios", "scenario.corruptions"):
        overrides[list_key] = _list_value(overrides[list_key])
    for path_key in ("vocab_dir", "templates_dir"):
        if overrides[path_key] is not None:
            overrides[path_key] = str(Path(overrides[path_key]).resolve())
    overrides["render.controlnet"] = resolve_controlnet(overrides["render.controlnet"])
    overrides["render.ctrlora_loras"] = parse_lora_options(overrides["render.ctrlora_loras"])
    config = merge_overrides(base, overrides)
    check_options(config, str(common["config"] or "config"))
    config.options = {**config.options, **{k: v for k, v in generator_options.items() if v is not None}}
    config.scenario.scenarios = check_scenarios(config)
    check_model(config.render.model)
    check_conditioning(config)
    if common["fidelity_filter"] and not config.render.controlnet:
        raise HvgenError(
            f"--fidelity-filter {common['fidelity_filter']}: it scores how well each image follows its "
            "condition, and this run renders none through a ControlNet; add --controlnet (with a condition), "
            "or drop --fidelity-filter."
        )
    check_num(config, common["force"])
    from hvgen.stages.build.clip_filter import check_clip_threshold  # pyarrow: not before the checks above

    check_clip_threshold(common["clip_threshold"])
    generator = build_generator(config)  # validate options before touching the disk
    run_dir = common["out"] or Path("runs") / cls.name
    shard = parse_shard(common["shard"])
    launch = launch_settings(
        common["executor"], common["workers"], common["config"], common["executor_config"]
    )
    if launch and not shard.is_whole:
        raise HvgenError(
            "--shard (or RANK/WORLD_SIZE) and --executor: the executor makes the shards; use one."
        )
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
        print_plan(run_dir, summary)
        warnings += summary.warnings if summary else []
    else:  # launched by torchrun / several --shard processes: shard 0 plans, the others wait for it
        info(f"shard {shard.tag}: waiting for shard 0 to plan {run_dir} ...")
        wait_for_plan(run_dir, config)
    if common["dry_run"]:
        info("dry run: nothing rendered.")
        return
    needs_build = (
        common["against"]
        or common["clip_filter"]
        or common["fidelity_filter"]
        or config.render.scan
        or build_generator(config).label_checker()
    )
    if launch:  # the shards and the export run as tasks of an engine (hvgen.executors)
        return launch_benchmark(run_dir, config, launch, build_args(common) if needs_build else None)
    with times.stage("render"):
        print_render(stage_render(run_dir, config, shard))
    for name in config.scenario.scenarios:
        with times.stage(f"scenario {name}"):
            for item in stage_scenarios(run_dir, only_scenario(config, name), shard):
                print_scenario(item)
    if not shard.is_whole:
        info(f"shard {shard.tag} done; when every shard has finished run `hvgen export {run_dir}`.")
        return
    if needs_build:
        with times.stage("build"):
            warnings += run_build(
                run_dir,
                config,
                None,
                common["against"] or [],
                common["clip_filter"],
                common["clip_threshold"],
                common["keep_flagged"],
                common["fidelity_filter"],
                common["fidelity_threshold"],
            )
    export_and_summarise(run_dir, config, times, warnings)


def check_conditioning(config: RunConfig) -> None:
    """Before anything is planned: a --controlnet that cannot be one or that has no condition to
    follow, a plan of condition images with no ControlNet to follow them, or a CtrLoRA without a
    LoRA for a planned condition (the render stage checks the records again, for any benchmark)."""
    from hvgen.ctrlora.spec import check_ctrlora
    from hvgen.generator import get_generator
    from hvgen.models import check_controlnet

    cls = get_generator(config.benchmark)
    recipe = cls.planned_condition(config.options)
    check_ctrlora(
        config.render.controlnet,
        config.render.ctrlora_loras,
        config.render.model,
        [recipe] if recipe else None,
    )
    if config.render.controlnet:
        check_controlnet(config.render.controlnet)
        if recipe is None:
            how = cls.condition_hint or f"hvgen {cls.name} plans no condition images, so drop --controlnet"
            raise HvgenError(
                f"--controlnet {config.render.controlnet}: every image needs a condition to follow; {how}."
            )
    if recipe and not config.render.controlnet:
        given = (
            f"--condition {recipe}"
            if config.options.get("condition")
            else f"hvgen {cls.name}'s {recipe} condition"
        )
        raise HvgenError(
            f"{given}: a condition image needs a ControlNet to follow it; pass "
            "--controlnet MODEL (a Hub id, a local folder, or tiny for an offline test)."
        )


def only_scenario(config: RunConfig, name: str) -> RunConfig:
    """`config` restricted to one scenario (to time each scenario on its own)."""
    import dataclasses

    return dataclasses.replace(config, scenario=dataclasses.replace(config.scenario, scenarios=[name]))


def explain_missing_options(command: Any, cls: type[Generator]) -> None:
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
