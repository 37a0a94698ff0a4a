"""The run configuration: what a run directory was made with.

Loaded from YAML (`--config`) and overridden by CLI options; the fully resolved config is
saved as ``<run>/config.yaml`` so a run folder describes how its data was made (like a
diffusers model folder's config.json). Reopening a run with a config that would change already
planned or rendered data is refused instead of silently mixing two datasets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import yaml

from hvgen import __version__
from hvgen.errors import HvgenError, did_you_mean
from hvgen.store.atomic import write_text_atomic

CONFIG_FILE = "config.yaml"


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
    batch_size: int = 16
    workers: int = 0  # processes for CPU-bound scenarios; 0 = one per core


@dataclass
class ExportConfig:
    split: str = "test"
    max_shard_mb: int = 500


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
    hvgen_version: str = __version__

    # Sections whose change invalidates planned records / rendered images of an existing run.
    PLAN_KEYS = ("benchmark", "seed", "num", "options", "vocab_dir", "templates_dir")
    RENDER_KEYS = ("model", "steps", "guidance", "width", "height")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, run_dir: Path) -> None:
        text = yaml.safe_dump(self.to_dict(), sort_keys=False, allow_unicode=True)
        write_text_atomic(
            run_dir / CONFIG_FILE, "# hvgen run configuration (resolved); edit with care.\n" + text
        )

    @classmethod
    def from_dict(cls, data: dict[str, Any], origin: str = "config") -> RunConfig:
        return _build(cls, data, origin)

    @classmethod
    def load(cls, path: Path) -> RunConfig:
        if not path.is_file():
            raise HvgenError(
                f"no config file at {path}. Is this an hvgen run directory? Create one with `hvgen <benchmark> --out DIR`."
            )
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        except yaml.YAMLError as error:
            raise HvgenError(f"cannot parse {path}: {error}") from None
        if not isinstance(data, dict):
            raise HvgenError(f"{path} must be a YAML mapping of config keys.")
        return cls.from_dict(data, origin=str(path))

    def plan_fingerprint(self) -> dict[str, Any]:
        data = self.to_dict()
        return {key: data[key] for key in self.PLAN_KEYS}

    def render_fingerprint(self) -> dict[str, Any]:
        data = self.to_dict()["render"]
        return {key: data[key] for key in self.RENDER_KEYS}


def _build(cls: type, data: dict[str, Any], origin: str) -> Any:
    """Build a (nested) dataclass from a mapping, rejecting unknown keys with a suggestion."""
    if not isinstance(data, dict):
        raise HvgenError(f"{origin}: expected a mapping for '{cls.__name__}', got {type(data).__name__}.")
    known = {f.name: f for f in fields(cls)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in known:
            raise HvgenError(
                f"{origin}: unknown key '{key}'{did_you_mean(key, known)}. Valid keys: {', '.join(known)}."
            )
        nested = _SECTIONS.get(key)
        kwargs[key] = _build(nested, value or {}, f"{origin}:{key}") if nested and cls is RunConfig else value
    if cls is RunConfig and "benchmark" not in kwargs:
        raise HvgenError(f"{origin}: missing required key 'benchmark' (e.g. benchmark: dysca).")
    return cls(**kwargs)


_SECTIONS: dict[str, type] = {"render": RenderConfig, "scenario": ScenarioConfig, "export": ExportConfig}


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


def describe_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    changes = [f"{key}: {old.get(key)!r} → {new.get(key)!r}" for key in new if old.get(key) != new.get(key)]
    return "; ".join(changes)
