"""The run configuration: what a run directory was made with.

Loaded from YAML (`--config`) and overridden by CLI options; the fully resolved config is
saved as ``<run>/config.yaml`` so a run folder describes how its data was made (like a
diffusers model folder's config.json). Reopening a run with a config that would change already
planned or rendered data is refused instead of silently mixing two datasets.
"""

from __future__ import annotations

import re
import time
import types
import typing
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from hvgen import __version__, ranges
from hvgen.errors import HvgenError, did_you_mean
from hvgen.progress import warn
from hvgen.ranges import Bounds, whole
from hvgen.store.atomic import write_atomic, write_text_atomic
from hvgen.store.layout import CONFIG_BACKUP, CONFIG_FILE

DTYPES = ("auto", "float32", "fp32", "float16", "fp16", "bfloat16", "bf16")
DEVICE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")
SPLIT_NAME = re.compile(r"^\w+(\.\w+)*$")
LAYOUTS = ("per-question", "image-once")
EXECUTOR_SECTION = "executor"
"""A config file's section on how the run is launched (hvgen.executors): not part of the run's
config (it changes no data), so it never reaches config.yaml or the card."""


class ConfigDamagedError(HvgenError):
    """A config file that is not a YAML mapping at all (torn, garbage, not text): damage, as
    opposed to a readable config with a wrong key or value."""


@dataclass
class RenderConfig:
    model: str = "sdxl"
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    height: int | None = None
    batch_size: int = 4
    dtype: str = "auto"
    device: str = "auto"
    compile: bool = False
    vae_tiling: bool = False
    writer_threads: int = 4
    # zlib level of the PNGs written in the run dir (renders, scenario outputs), 0-9: lower is
    # faster and larger; the pixels, and so the data, are the same at every level.
    png_compress_level: int = 6
    # record each prompt's T2IShield backdoor scores while rendering (hvgen.analysis.render_scan);
    # the images are the same with and without it
    scan: bool = False
    # ControlNet (hvgen.models.load_pipeline): a model id, local folder or `tiny`; None = text only.
    # Records name their condition image's recipe (hvgen.conditions); the image is made in the run.
    controlnet: str | None = None
    # With `controlnet: ctrlora:BASE` (hvgen.ctrlora): condition recipe → its CtrLoRA LoRA file.
    ctrlora_loras: dict[str, str] = field(default_factory=dict)
    controlnet_scale: float = 1.0
    control_start: float = 0.0
    control_end: float = 1.0


@dataclass
class ScenarioConfig:
    scenarios: list[str] = field(default_factory=lambda: ["clean"])
    corruption_preset: str = "dysca"
    corruptions: list[str] | None = None
    severity: int | None = None
    attack: str = "pgd"
    eps: float = 8 / 255
    attack_step: float = 2 / 255
    attack_iterations: int = 10
    surrogate: str | None = None
    # the surrogate's dtype: auto = bfloat16 on CUDA (fast; bf16 keeps fp32's range, so gradients
    # do not overflow as in fp16), float32 elsewhere
    attack_dtype: str = "auto"
    batch_size: int = 16
    workers: int = 0  # processes for CPU-bound scenarios; 0 = one per core


@dataclass
class ExportConfig:
    split: str = "test"
    max_shard_mb: int = 500
    # per-question: one row per question with its image (what harnesses expect);
    # image-once: question configs reference `<config>_images` configs that hold each image once.
    layout: str = "per-question"
    # The split the harness formats (vlmevalkit, lmms-eval) evaluate (`hvgen export --split`);
    # None: "test", or the last split when there is no test split.
    eval_split: str | None = None


@dataclass
class RunConfig:
    benchmark: str
    seed: int = 2024
    num: int = 100
    options: dict[str, Any] = field(default_factory=dict)
    vocab_dir: str | None = None
    templates_dir: str | None = None
    render: RenderConfig = field(default_factory=RenderConfig)
    scenario: ScenarioConfig = field(default_factory=ScenarioConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    # A twin split (`hvgen twins`): which release it redraws and with which seed
    # (hvgen.stages.twin_plan.TwinSpec); None for an ordinary run.
    twins: dict[str, Any] | None = None
    hvgen_version: str = __version__

    # Sections whose change invalidates planned records / rendered images of an existing run.
    PLAN_KEYS = ("benchmark", "seed", "num", "options", "vocab_dir", "templates_dir")
    RENDER_KEYS = (
        "model",
        "steps",
        "guidance",
        "width",
        "height",
        "controlnet",
        "ctrlora_loras",
        "controlnet_scale",
        "control_start",
        "control_end",
    )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, run_dir: Path) -> None:
        """Write config.yaml, and first the same text as a second copy (`CONFIG_BACKUP`) that a
        damaged config.yaml is restored from (`load_run_config`)."""
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        text = "# hvgen run configuration (resolved); edit with care.\n" + text
        write_text_atomic(run_dir / CONFIG_BACKUP, text)
        write_text_atomic(run_dir / CONFIG_FILE, text)

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "config") -> RunConfig:
        config = _build(cls, data, origin)
        config.validate(origin)
        return config

    def validate(self, origin: str = "config") -> None:
        """Range checks, so a bad value fails in one line before any model is loaded; a setting a
        command-line option also sets is named with it, and refused with the option's words."""
        for key, (bounds, option) in SETTING_RANGES.items():
            section, _, name = key.rpartition(".")
            value = getattr(getattr(self, section) if section else self, name)
            bounds.check(f"{origin}: {key}{f' ({option})' if option else ''}", value)
        render, scenario, export = self.render, self.scenario, self.export
        checks: list[tuple[bool, str]] = [
            (render.dtype in DTYPES, f"render.dtype (--dtype) must be one of {', '.join(DTYPES)}, got '{render.dtype}'"),
            (bool(DEVICE.match(render.device)), f"render.device (--device) must be auto, cpu, mps, cuda or cuda:N, got '{render.device}'"),
            (scenario.attack_dtype in DTYPES, f"scenario.attack_dtype must be one of {', '.join(DTYPES)}, got '{scenario.attack_dtype}'"),
            (bool(SPLIT_NAME.match(export.split)), f"export.split must be a split name like 'test' (letters, digits, '_'), got {export.split!r}"),
            (export.eval_split is None or bool(SPLIT_NAME.match(export.eval_split)), f"export.eval_split (--split) must be a split name like 'test' (letters, digits, '_'), got {export.eval_split!r}"),
            (export.layout in LAYOUTS, f"export.layout (--layout) must be one of {', '.join(LAYOUTS)}, got {export.layout!r}"),
        ]  # fmt: skip
        for ok, message in checks:
            if not ok:
                raise HvgenError(f"{origin}: {message}.")
        self._validate_control(origin)

    def _validate_control(self, origin: str) -> None:
        """ControlNet settings: finite, in range, and a start before the end."""

        render = self.render
        if render.control_start >= render.control_end:
            raise HvgenError(
                f"{origin}: --control-start ({render.control_start}) must be below --control-end "
                f"({render.control_end}): the ControlNet acts between the two fractions of the denoising steps."
            )

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        if not path.is_file():
            raise HvgenError(
                f"no config file at {path}. Is this an hvgen run directory? Create one with `hvgen <benchmark> --out DIR`."
            )
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except UnicodeDecodeError:
            raise ConfigDamagedError(
                f"{path} is not a text file: a config is YAML (see README, 'Config files')."
            ) from None
        except yaml.YAMLError as error:
            reason = " ".join(str(error).split())
            raise ConfigDamagedError(f"cannot parse {path} as YAML: {reason}") from None
        if not isinstance(data, dict):
            raise ConfigDamagedError(f"{path} must be a YAML mapping of config keys.")
        return cls.from_dict(data, origin=str(path))

    def plan_fingerprint(self) -> dict[str, Any]:
        data = self.to_dict()
        fingerprint = {key: data[key] for key in self.PLAN_KEYS}
        if self.twins is not None:  # only twin splits carry it: other runs' fingerprints are unchanged
            fingerprint["twins"] = data["twins"]
        size = self.planned_image_size()
        if size is not None and self._plans_at_image_size():  # likewise only plans that use it
            fingerprint["image_size"] = list(size)
        return fingerprint

    def planned_image_size(self) -> tuple[int, int] | None:
        """The (width, height) the render stage will draw at (--width / --height, else the
        model's registry default), or None when neither fixes it."""
        from hvgen.models import resolve_settings

        settings = resolve_settings(self.render)
        return (settings.width, settings.height) if settings.width and settings.height else None

    def _plans_at_image_size(self) -> bool:
        from hvgen.generator import get_generator

        try:
            return get_generator(self.benchmark).plans_at_image_size(self.options)
        except HvgenError:  # a benchmark no longer installed: its plan cannot be redone anyway
            return False

    def render_fingerprint(self) -> dict[str, Any]:
        data = self.to_dict()["render"]
        return {key: data[key] for key in self.RENDER_KEYS}


def _build(cls: type, data: dict[str, Any], origin: str) -> Any:
    """Build a (nested) dataclass from a mapping, checking every key and value type."""
    if not isinstance(data, dict):
        raise HvgenError(f"{origin}: expected a mapping for '{cls.__name__}', got {type(data).__name__}.")
    known = {f.name: f for f in fields(cls)}
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if cls is RunConfig and key == EXECUTOR_SECTION:
            continue  # read by hvgen.executors.settings
        if key not in known:
            raise HvgenError(
                f"{origin}: unknown key '{key}'{did_you_mean(str(key), known)}. Valid keys: {', '.join(known)}."
            )
        nested = _SECTIONS.get(key)
        if nested and cls is RunConfig:
            kwargs[key] = _build(nested, {} if value is None else value, f"{origin}:{key}")
        else:
            kwargs[key] = _check_value(value, hints[key], f"{origin}: '{key}'")
    if cls is RunConfig and "benchmark" not in kwargs:
        raise HvgenError(f"{origin}: missing required key 'benchmark' (e.g. benchmark: dysca).")
    return cls(**kwargs)


def build_section(cls: type, data: dict[str, Any], origin: str) -> Any:
    """A flat settings dataclass from a mapping, with the same key and type checks as a run config."""
    return _build(cls, data, origin)


def _check_value(value: Any, hint: Any, where: str) -> Any:
    """`value` if it has the declared type (ints are accepted for floats, a comma-separated
    string for a list of strings), else a one-line error naming the key."""
    args = typing.get_args(hint)
    if type(hint) is types.UnionType or typing.get_origin(hint) is typing.Union:
        if value is None and type(None) in args:
            return None
        (inner,) = [arg for arg in args if arg is not type(None)]
        return _check_value(value, inner, where)
    origin = typing.get_origin(hint)
    if origin is list:
        if isinstance(value, str):
            value = [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return value
        return _type_error(value, "a list of names (or a comma-separated string)", where)
    if origin is dict or hint is dict:
        return value if isinstance(value, dict) else _type_error(value, "a mapping", where)
    if hint is bool:
        return value if isinstance(value, bool) else _type_error(value, "true or false", where)
    if hint is int:
        return (
            value
            if isinstance(value, int) and not isinstance(value, bool)
            else _type_error(value, "an integer", where)
        )
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return _type_error(value, "a number", where)
    if hint is str:
        return value if isinstance(value, str) else _type_error(value, "a string", where)
    return value


def _type_error(value: Any, expected: str, where: str) -> Any:
    shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
    raise HvgenError(f"{where} must be {expected}, got {type(value).__name__} {shown}.")


_SECTIONS: dict[str, type] = {"render": RenderConfig, "scenario": ScenarioConfig, "export": ExportConfig}

SETTING_RANGES: dict[str, tuple[Bounds, str | None]] = {
    "seed": (ranges.SEED, "--seed"),
    "num": (ranges.NUM, "--num"),
    "render.steps": (ranges.STEPS, "--steps"),
    "render.guidance": (ranges.GUIDANCE, "--guidance"),
    "render.width": (ranges.IMAGE_SIZE, "--width"),
    "render.height": (ranges.IMAGE_SIZE, "--height"),
    "render.batch_size": (ranges.RENDER_BATCH, "--batch-size"),
    "render.writer_threads": (whole(1, 256, why="(threads writing PNGs)"), None),
    "render.png_compress_level": (whole(0, 9, why="(zlib levels)"), None),
    "scenario.severity": (ranges.SEVERITY, "--severity"),
    "scenario.eps": (ranges.EPS, "--eps"),
    "scenario.attack_step": (
        Bounds(0, 1, low_open=True, why="(an attack step on the [0, 1] pixel scale)"),
        None,
    ),
    "scenario.attack_iterations": (whole(1, 10_000), None),
    "scenario.batch_size": (whole(1, 4096, why="(images per scenario batch)"), None),
    "scenario.workers": (whole(0, 1024, why="(processes for CPU-bound scenarios; 0 = one per core)"), None),
    "export.max_shard_mb": (whole(1, 1_000_000, why="(MB per parquet file)"), None),
    "render.controlnet_scale": (
        Bounds(0, 10, why="(ControlNet conditioning scale; 0: no control)"),
        "--controlnet-scale",
    ),
    "render.control_start": (
        Bounds(0, 1, high_open=True, why="(fraction of the steps where the ControlNet starts)"),
        "--control-start",
    ),
    "render.control_end": (
        Bounds(0, 1, low_open=True, why="(fraction of the steps where the ControlNet stops)"),
        "--control-end",
    ),
}
"""Every number of a run config: its range and the command-line option that also sets it (whose
parser, `hvgen.cli.options`, checks the same range while parsing)."""


def merge_overrides(config: RunConfig, overrides: dict[str, Any]) -> RunConfig:
    """Apply CLI values (None = not given) onto a config; keys are 'section.key' or top-level."""
    data = config.to_dict()
    for dotted, value in overrides.items():
        if value is None:
            continue
        section, _, key = dotted.rpartition(".")
        target = data[section] if section else data
        target[key] = value
    return RunConfig.from_dict(data)


def describe_difference(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> str:
    """What changed, key by key ('options.subtasks: 'all' → 'animal''): a nested settings dict
    names the option that differs, not the whole dict."""
    changes = []
    for key in [*new, *(k for k in old if k not in new)]:
        before, after = old.get(key), new.get(key)
        if before == after:
            continue
        if isinstance(before, dict) and isinstance(after, dict):
            changes.append(describe_difference(before, after, f"{prefix}{key}."))
        else:
            changes.append(f"{prefix}{key}: {before!r} → {after!r}")
    return "; ".join(changes)


# ---------------------------------------------------------------- a damaged config.yaml


def is_run_dir(run_dir: Path) -> bool:
    """Whether `run_dir` holds a run's config (config.yaml, or only its copy after a damage)."""
    return (run_dir / CONFIG_FILE).is_file() or (run_dir / CONFIG_BACKUP).is_file()


def load_run_config(run_dir: Path) -> RunConfig:
    """The run's config.yaml. A damaged one (not YAML, not text, cut short, missing beside its
    copy) is moved aside and restored from the copy `RunConfig.save` writes first, saying so in
    one line; with no intact copy it is refused in one line naming the command that rewrites it.
    A readable config with a wrong key or value is an error as before (it names the key)."""
    path = run_dir / CONFIG_FILE
    if not is_run_dir(run_dir):
        raise HvgenError(
            f"{run_dir} is not an hvgen run directory (no {CONFIG_FILE}). Create one with "
            f"`hvgen <benchmark> --out {run_dir}`."
        )
    try:
        if path.is_file():
            return RunConfig.load(path)
        damage = f"{path} is missing"
    except ConfigDamagedError as error:
        damage = str(error)
    restored = _intact_copy(run_dir)
    if restored is None:
        raise HvgenError(
            f"{damage} — and it has no intact copy to restore it from. Rerun the benchmark command that made the "
            f"run, with its options and --out {run_dir} (it rewrites config.yaml), or restore the file."
        )
    aside = set_config_aside(run_dir)
    write_atomic(path, lambda handle: handle.write((run_dir / CONFIG_BACKUP).read_bytes()))
    moved = f"moved it to {aside.name} and " if aside else ""
    warn(f"{path} was damaged ({_short(damage)}); {moved}restored it from its copy {CONFIG_BACKUP}.")
    return restored


@dataclass(frozen=True)
class PreviousConfig:
    """A reopened run's earlier config, as far as it can be read: `config` is config.yaml, or
    its intact copy when config.yaml is damaged (`damage` says how), or None."""

    config: RunConfig | None
    damage: str | None = None


def previous_config(run_dir: Path) -> PreviousConfig:
    """For a benchmark command reopening a run: what it was made with, to check the new
    settings against (`hvgen.pipeline.prepare_run_dir`)."""
    path = run_dir / CONFIG_FILE
    try:
        if path.is_file():
            return PreviousConfig(RunConfig.load(path))
        damage = f"{path} is missing"
    except ConfigDamagedError as error:
        damage = str(error)
    return PreviousConfig(_intact_copy(run_dir), damage)


def set_damaged_config_aside(run_dir: Path, previous: PreviousConfig) -> None:
    """After the command line passed the checks: move a damaged config.yaml aside (the caller then
    writes the command's config), saying so in one line."""
    if previous.damage is None:
        return
    aside = set_config_aside(run_dir)
    moved = f"moved it to {aside.name}, " if aside else ""
    checked = (
        "checked this command against its copy"
        if previous.config is not None
        else "checked this command's plan against the catalog (its copy is damaged too)"
    )
    warn(
        f"{run_dir / CONFIG_FILE} was damaged ({_short(previous.damage)}); {moved}{checked} and rewrote it "
        "from the command line."
    )


def _intact_copy(run_dir: Path) -> RunConfig | None:
    try:
        return RunConfig.load(run_dir / CONFIG_BACKUP) if (run_dir / CONFIG_BACKUP).is_file() else None
    except HvgenError:
        return None


def set_config_aside(run_dir: Path) -> Path | None:
    """Move a damaged config.yaml out of the way (kept for inspection); None if there is none."""
    path = run_dir / CONFIG_FILE
    if not path.exists() and not path.is_symlink():
        return None
    aside = run_dir / f"{CONFIG_FILE}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}"
    number = 1
    while aside.exists():
        number += 1
        aside = run_dir / f"{CONFIG_FILE}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}-{number}"
    path.rename(aside)
    return aside


def _short(message: str) -> str:
    return message if len(message) <= 200 else message[:197] + "..."
