"""Dysca's four evaluation scenarios, behind one registry.

Scenario classes are imported lazily: `adversarial` pulls in torch + torchattacks, which a
clean-only run should not pay for. Imported by the scenario stage, the pipeline, the CLI and
benchmark plug-ins; imports no stage.
"""

from __future__ import annotations

import importlib
from typing import Any

from hvgen.config import RunConfig
from hvgen.errors import HvgenError, parse_name_list
from hvgen.privacy import public_value
from hvgen.scenarios.attack_settings import check_attack_settings
from hvgen.scenarios.base import Scenario, ScenarioInput, ScenarioOutput

SCENARIO_NAMES = ("clean", "corruption", "print", "adversarial")
SCENARIO_ALIASES = {
    "print_attack": "print",
    "print-attack": "print",
    "adv": "adversarial",
    "corrupt": "corruption",
}
_CLASSES = {
    "clean": ("hvgen.scenarios.clean", "CleanScenario"),
    "corruption": ("hvgen.scenarios.corruption", "CorruptionScenario"),
    "print": ("hvgen.scenarios.print_attack", "PrintAttackScenario"),
    "adversarial": ("hvgen.scenarios.adversarial", "AdversarialScenario"),
}


def parse_scenarios(value: str | list[str] | None) -> list[str]:
    """'clean', 'all', or a comma list → canonical names (errors list the valid ones)."""
    return parse_name_list(value or "clean", SCENARIO_NAMES, "scenario", aliases=SCENARIO_ALIASES)


_LEVELS = {"clean": "image", "corruption": "image", "print": "record", "adversarial": "record"}
"""Each scenario's `level` (also a class attribute; known here without importing torch)."""


def scenario_level(name: str) -> str:
    return _LEVELS[name]


def scenario_settings(name: str, config: RunConfig) -> dict[str, Any]:
    """The settings that decide a scenario's output bytes. They are saved with the run: changing
    them under existing outputs would mix two kinds of samples in one config, so it is refused."""
    settings = config.scenario
    if name == "corruption":
        return {
            "preset": settings.corruption_preset,
            "corruptions": _own_corruptions(settings.corruption_preset, settings.corruptions),
            "severity": settings.severity,
        }
    if name == "adversarial":
        # batch_size: a sample is independent of its batch neighbours, but not of the padded
        # batch shape (kernels may round differently), so it is part of what made the bytes.
        return {
            "surrogate": surrogate_name(config),
            "attack": settings.attack,
            "eps": settings.eps,
            "alpha": settings.attack_step,
            "steps": settings.attack_iterations,
            "batch_size": settings.batch_size,
            "dtype": settings.attack_dtype,
        }
    return {}


def _own_corruptions(preset: str, corruptions: list[str] | None) -> list[str] | None:
    """None when `--corruptions` names exactly the preset's list in its order (the default: the
    same draws, so a rerun that spells the default out is the same run); the list otherwise."""
    if not corruptions:
        return corruptions
    from hvgen.scenarios.corruption import PRESETS  # numpy and OpenCV; albumentations only to corrupt

    return None if list(dict.fromkeys(corruptions)) == list(PRESETS.get(preset, ())) else corruptions


def build_scenario(name: str, config: RunConfig) -> Scenario:
    """Instantiate a scenario with the run's settings."""
    kwargs = scenario_settings(name, config)
    if name == "adversarial":
        kwargs["device"] = None if config.render.device == "auto" else config.render.device
        kwargs["label"] = public_value(kwargs["surrogate"])  # what samples record: no machine path
        kwargs["surrogate"] = surrogate_for(config)
    return _instantiate(name, kwargs)


def check_scenario_settings(name: str, config: RunConfig) -> None:
    """Refuse bad settings of a scenario the run does not (yet) select: they are saved in its
    config and would fail only when `hvgen scenario` is run later. Loads no model and imports no
    torch (the adversarial settings are checked by `attack_settings`; the corruption module loads
    albumentations only when it corrupts)."""
    settings = scenario_settings(name, config)
    if name != "adversarial":
        _instantiate(name, settings)
        return
    try:
        check_attack_settings(
            settings["attack"], settings["eps"], settings["steps"], settings["batch_size"], settings["dtype"]
        )
    except ValueError as error:
        raise HvgenError(f"scenario '{name}': {error}") from None


def _instantiate(name: str, kwargs: dict[str, Any]) -> Scenario:
    module_name, class_name = _CLASSES[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    try:
        return cls(**kwargs)
    except ValueError as error:  # unknown corruption / attack name, bad severity ...
        raise HvgenError(f"scenario '{name}': {error}") from None


DEFAULT_SURROGATE = "openai/clip-vit-large-patch14"


def surrogate_name(config: RunConfig) -> str:
    """The surrogate as configured: `--surrogate`, else 'tiny' with `--model tiny`, else CLIP-L."""
    if config.scenario.surrogate:
        return config.scenario.surrogate
    return "tiny" if config.render.model == "tiny" else DEFAULT_SURROGATE


def surrogate_for(config: RunConfig) -> str:
    """The surrogate to load: `surrogate_name`, with 'tiny' resolved to the built-in tiny CLIP."""
    name = surrogate_name(config)
    if name == "tiny":
        from hvgen.surrogate import tiny_clip_path

        return str(tiny_clip_path())
    return name


__all__ = [
    "SCENARIO_NAMES",
    "Scenario",
    "ScenarioInput",
    "ScenarioOutput",
    "build_scenario",
    "check_scenario_settings",
    "parse_scenarios",
    "scenario_level",
    "scenario_settings",
]
