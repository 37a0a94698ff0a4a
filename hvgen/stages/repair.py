"""Repairs of a run directory's derived files: a damaged catalog, a damaged config.yaml.

Both are derived. The catalog is rebuilt from config.yaml (the plan is deterministic) and the
manifests (`sync_manifests` re-verifies every logged file on the next read); config.yaml is
rewritten from a benchmark command line, which gives every setting. Every command that opens a
run's catalog calls `ensure_catalog` first, so any damage — a file cut short at any length,
random bytes, an empty file, a block whose checksum fails — is moved aside and rebuilt, never
met as a DuckDB traceback halfway through a stage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from hvgen.config import ConfigDamagedError, RunConfig
from hvgen.errors import HvgenError
from hvgen.progress import warn
from hvgen.stages.plan import PLAN_FINGERPRINT_KEY, PlanSummary, run_plan
from hvgen.store.atomic import write_atomic
from hvgen.store.catalog import CatalogCorruptError, get_meta, open_catalog, set_catalog_aside
from hvgen.store.layout import CATALOG_FILE, CONFIG_BACKUP, CONFIG_FILE


def rebuild_catalog(
    run_dir: Path, config: RunConfig, damage: str | None = None, aside: Path | None = None
) -> PlanSummary:
    """Set a damaged catalog aside (if still there; `aside`: where it already went) and plan it
    anew from `config`; the verified renders and scenario outputs come back from the manifests
    on the next sync."""
    if (run_dir / CATALOG_FILE).exists():
        aside = set_catalog_aside(run_dir) or aside
    if damage is not None:
        where = f"moved it to {aside.name} and " if aside else ""
        warn(
            f"{run_dir / CATALOG_FILE} could not be read ({damage}); {where}rebuilt it from config.yaml and the "
            "manifests (a build's dedup and leak decisions are redone by `hvgen build`)."
        )
    return run_plan(run_dir, config)


def ensure_catalog(run_dir: Path, config: RunConfig) -> bool:
    """Check the run's catalog whole (`open_catalog`); rebuild a damaged or missing one, or one
    without a plan. Returns whether it rebuilt."""
    if (run_dir / CATALOG_FILE).exists():
        try:
            with open_catalog(run_dir, read_only=True) as con:
                if get_meta(con, PLAN_FINGERPRINT_KEY) is not None:
                    return False
                damage = "it holds no plan"
        except CatalogCorruptError as error:
            rebuild_catalog(run_dir, config, error.reason, error.aside)
            return True
    else:
        damage = None
        if not (run_dir / CONFIG_FILE).is_file():
            raise HvgenError(f"{run_dir} is not an hvgen run directory (no {CONFIG_FILE}).")
        warn(f"{run_dir} has no {CATALOG_FILE}; rebuilding it from config.yaml and the manifests.")
    rebuild_catalog(run_dir, config, damage)
    return True


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
