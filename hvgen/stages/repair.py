"""Repair of a run's catalog: it is derived, rebuilt from config.yaml (the plan is
deterministic) and the manifests (`sync_manifests` re-verifies every logged file on the next
read). Every command that opens a run's catalog calls `ensure_catalog` first, so any damage — a
file cut short at any length, random bytes, an empty file, a block whose checksum fails — is
moved aside and rebuilt, never met as a DuckDB traceback halfway through a stage. (A damaged
config.yaml is restored by `hvgen.config.load_run_config`.)
"""

from __future__ import annotations

from pathlib import Path

from hvgen.config import RunConfig
from hvgen.errors import HvgenError
from hvgen.progress import warn
from hvgen.stages.plan import PLAN_FINGERPRINT_KEY, PlanSummary, run_plan
from hvgen.store.catalog import CatalogCorruptError, get_meta, open_catalog, set_catalog_aside
from hvgen.store.layout import CATALOG_FILE, CONFIG_FILE


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
