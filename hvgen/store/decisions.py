"""Whether an export still matches the run it was written from.

An export is a snapshot: the plan, the build's decisions (what dedup, the leak check and the
filters dropped) and the verified images, as they were when `hvgen export` ran. Any of them can
change afterwards — a rebuild against an earlier release, a catalog rebuilt after damage, a
replan, work finished after an `--allow-incomplete` export — and the old folder would still load
and still upload. So:

* `decision_state` is one hash of everything the rows of an export are made from (plan hash,
  kept questions and images, drops and their reasons, every verified image with its sha256,
  the configured scenarios); export formats and shard sizes are the export's own choice, not
  part of it.
* the export writes that hash into its folder (`EXPORT_STAMP`, staged with the rest, so the
  stamp and the rows are swapped in together and a crash leaves both old or both new);
* `hvgen push` recomputes it and refuses an export whose stamp differs or is missing;
* `hvgen build` sets an export that no longer matches aside (`STALE_EXPORT_DIR`), so
  `load_dataset(RUN/export)` cannot read rows the build dropped.

A build also appends its settings to `BUILD_LOG`: a catalog rebuilt after damage (or re-planned)
has lost the build's drops, and exporting it would publish what the build had dropped, so the
export is refused with the build command that restores them.
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
from pathlib import Path
from typing import Any

import duckdb

from hvgen.errors import HvgenError
from hvgen.store.atomic import write_json_atomic
from hvgen.store.catalog import RECORDS_HASH_KEY, get_meta, table_exists
from hvgen.store.layout import BUILD_LOG, EXPORT_DIR, EXPORT_STAMP, STALE_EXPORT_DIR
from hvgen.store.manifest import ManifestWriter, read_manifest_rows

STAMP_VERSION = 1


def _digest(con: duckdb.DuckDBPyConnection, table: str, row: str, order: str, where: str = "") -> str:
    """md5 over the md5 of each row, in a fixed order: stable across DuckDB versions (unlike
    `hash()`), and memory stays ~32 bytes per row at 600k rows."""
    if not table_exists(con, table):
        return "-"
    sql = f"SELECT md5(coalesce(string_agg(md5({row}), '' ORDER BY {order}), '')) FROM {table} {where}"
    return str(con.execute(sql).fetchall()[0][0])


def _view_digest(con: duckdb.DuckDBPyConnection, view: str, key: str) -> str:
    if not table_exists(con, view):  # information_schema lists views too
        return "-"
    sql = f"SELECT md5(coalesce(string_agg({key}, ',' ORDER BY {key}), '')) FROM {view}"
    return str(con.execute(sql).fetchall()[0][0])


def decision_state(con: duckdb.DuckDBPyConnection, scenarios: list[str]) -> str:
    """One sha256 of what an export's rows are made from (module docstring); call it after
    `sync_manifests`, as the export does."""
    parts = {
        "plan": get_meta(con, RECORDS_HASH_KEY),
        "scenarios": sorted(scenarios),
        "kept_records": _view_digest(con, "kept_records", "id"),
        "kept_images": _view_digest(con, "kept_images", "image_id"),
        "drops": _digest(
            con, "drops", "concat_ws('|', kind, id, reason, coalesce(collided_with, ''))", "kind, id"
        ),
        "renders": _digest(
            con, "renders", "concat_ws('|', image_id, coalesce(path, ''), coalesce(sha256, ''))", "image_id"
        ),
        "outputs": _digest(
            con,
            "scenario_outputs",
            "concat_ws('|', scenario, level, key, coalesce(path, ''), coalesce(sha256, ''), "
            "coalesce(CAST(params AS VARCHAR), ''), coalesce(skip_reason, ''))",
            "scenario, level, key",
        ),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def write_export_stamp(folder: Path, state: str) -> None:
    """The stamp of an export being written (inside its staging folder)."""
    write_json_atomic(folder / EXPORT_STAMP, {"hvgen_export_stamp": STAMP_VERSION, "decision_state": state})


def read_export_stamp(folder: Path) -> str | None:
    """The decision state an export was written from; None if it has no readable stamp."""
    path = folder / EXPORT_STAMP
    try:
        if path.is_symlink() or not path.is_file():
            return None
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return None
    state = data.get("decision_state") if isinstance(data, dict) else None
    return state if isinstance(state, str) else None


def set_stale_export_aside(run_dir: Path, state: str) -> Path | None:
    """Move `RUN/export` to `RUN/export.stale` unless it was written from `state`; returns where
    it went. One rename: `load_dataset(RUN/export)` then finds nothing instead of old rows."""
    export = run_dir / EXPORT_DIR
    if not export.exists() or (not export.is_symlink() and read_export_stamp(export) == state):
        return None
    stale = run_dir / STALE_EXPORT_DIR
    if stale.is_symlink() or stale.is_file():
        stale.unlink()
    else:
        shutil.rmtree(stale, ignore_errors=True)
    export.rename(stale)
    return stale


def remove_stale_export(run_dir: Path) -> None:
    """Once a current export is in place, the stale one it replaces goes."""
    stale = run_dir / STALE_EXPORT_DIR
    if stale.is_symlink() or stale.is_file():
        stale.unlink()
    elif stale.exists():
        shutil.rmtree(stale, ignore_errors=True)


def check_export_current(run_dir: Path, con: duckdb.DuckDBPyConnection, scenarios: list[str]) -> None:
    """Refuse (one line, with the command that refreshes it) an export that was not written from
    the run's current decisions; call after `sync_manifests`."""
    export = run_dir / EXPORT_DIR
    if not export.is_dir() or export.is_symlink():
        return  # the push itself says there is nothing to upload
    check_build_current(run_dir, con)
    stamp = read_export_stamp(export)
    if stamp == decision_state(con, scenarios):
        return
    why = (
        "it has no stamp of the decisions it was written from (written by an older hvgen, or damaged)"
        if stamp is None
        else "the run changed after it was written (a build, a rebuilt catalog, a replan, or work finished or "
        "redone since)"
    )
    raise HvgenError(
        f"{export} does not match the run's current decisions: {why}. Refresh it with `hvgen export {run_dir}` "
        "and push again."
    )


def log_build(run_dir: Path, settings: dict[str, Any]) -> None:
    """Remember a finished build's settings (`BUILD_LOG`), to name the build a rebuilt catalog lost."""
    with ManifestWriter(run_dir / BUILD_LOG) as log:
        log.write_many([settings])


def last_build(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / BUILD_LOG
    rows = read_manifest_rows([path]) if path.is_file() else []
    return rows[-1] if rows else None


def build_command(run_dir: Path, settings: dict[str, Any]) -> str:
    """The `hvgen build` command line that repeats a logged build."""
    words = ["hvgen", "build", str(run_dir)]
    if settings.get("hamming") is not None:
        words += ["--hamming", str(settings["hamming"])]
    for source in settings.get("against") or []:
        words += ["--against", str(source)]
    if settings.get("clip_model"):
        words += ["--clip-filter", str(settings["clip_model"])]
        if settings.get("clip_threshold") is not None:
            words += ["--clip-threshold", str(settings["clip_threshold"])]
    if settings.get("keep_flagged"):
        words.append("--keep-flagged")
    if settings.get("fidelity_model"):
        words += ["--fidelity-filter", str(settings["fidelity_model"])]
        if settings.get("fidelity_threshold") is not None:
            words += ["--fidelity-threshold", str(settings["fidelity_threshold"])]
    return shlex.join(words)


def check_build_current(run_dir: Path, con: duckdb.DuckDBPyConnection) -> None:
    """Refuse to export a run that was built but whose catalog no longer holds the build's
    decisions (rebuilt after damage, or re-planned): what the build dropped would be published."""
    settings = last_build(run_dir)
    if settings is None or table_exists(con, "drops"):
        return
    raise HvgenError(
        f"{run_dir} was built (dedup, leak check, filters), but its catalog no longer holds that build's decisions "
        f"(it was rebuilt after damage, or re-planned): run `{build_command(run_dir, settings)}` again before "
        "exporting, so nothing the build dropped is published."
    )
