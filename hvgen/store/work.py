"""What work of a run is finished — decided from the plan and the disk, never from a log alone.

Workers append a manifest line after each file they finish (`hvgen.store.manifest`). A line
is only a claim: the file may since have been truncated, zeroed or replaced, the line may name
an item the plan does not have, or a path outside the run dir. So an item counts as done only
when

* its key is in the plan (image ids for renders; image or question ids for scenarios, whose
  names must be registered scenarios),
* its file sits at the path the *plan* gives it (the line's own path is ignored), with no
  symbolic link on the way, and
* the file is the one the worker wrote: same size, mtime and ctime as recorded (cheap: an
  lstat), or else the same sha256 (certain; done only when the cheap check fails, e.g. after a
  copy, or after content was rewritten and its mtime put back, which moves the ctime).

Anything else is pending, and the stage that makes it redoes it on its next run.
`sync_manifests` writes the verified rows into the catalog (`renders`, `scenario_outputs`),
which is all the export ever reads.
"""

from __future__ import annotations

import hashlib
import json
import stat
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hvgen.store.catalog import reset_kept_views, table_exists
from hvgen.store.files import RunFiles, UnsafePathError
from hvgen.store.layout import MANIFEST_DIR, condition_relpath, scenario_relpath
from hvgen.store.manifest import read_manifest_rows

if TYPE_CHECKING:  # annotations only: `_table` imports pyarrow (~0.1 s), `hvgen status` needs none
    import duckdb
    import pyarrow as pa

IDENTITY_SCENARIO = "clean"
"""The scenario whose samples are the rendered images themselves (no file of its own)."""

UNVERSIONED = 1
"""The algorithm version of a scenario manifest line that records none (written before hvgen
recorded versions; hvgen.scenarios.versions holds the current ones)."""


def file_is_intact(files: RunFiles, relpath: str, recorded: dict[str, Any]) -> bool:
    """Whether `relpath` is still the file a worker recorded: size, mtime and ctime all as
    recorded (an lstat), else its sha256 (a read). Content rewritten in place with the old mtime
    put back (`os.utime`) still has a new ctime, so it is hashed, found changed, and redone; a copied
    run (new ctimes) is hashed too, and kept where the bytes agree. A line written before ctimes
    were recorded is always hashed."""
    try:
        info = files.lstat(relpath)  # a link at the file is not followed: not S_ISREG below
    except (FileNotFoundError, NotADirectoryError, UnsafePathError):
        return False
    if not stat.S_ISREG(info.st_mode):
        return False
    expected_size, expected_sha = recorded.get("bytes"), recorded.get("sha256")
    if not isinstance(expected_size, int) or not isinstance(expected_sha, str):
        return False  # a line without a fingerprint proves nothing
    if info.st_size != expected_size:
        return False
    if info.st_mtime_ns == recorded.get("mtime_ns") and info.st_ctime_ns == recorded.get("ctime_ns"):
        return True
    try:
        return hashlib.sha256(files.read_bytes(relpath)).hexdigest() == expected_sha
    except (OSError, UnsafePathError):
        return False


def _manifest_rows(run_dir: Path, pattern: str) -> list[dict[str, Any]]:
    folder = run_dir / MANIFEST_DIR
    return read_manifest_rows(sorted(folder.glob(pattern))) if folder.is_dir() else []


def finished_renders(run_dir: Path, planned: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Verified render rows by image id, for the planned images (`image_id → relpath`): an
    intact file, or a recorded skip (`path` None + a `skip_reason`: a source image that does
    not decode, see hvgen.stages.supply)."""
    files = RunFiles(run_dir)
    done: dict[str, dict[str, Any]] = {}
    for row in reversed(_manifest_rows(run_dir, "render.*.jsonl")):  # newest line first
        image_id = row.get("image_id")
        if not isinstance(image_id, str) or image_id in done or image_id not in planned:
            continue
        if row.get("path") is None:
            if isinstance(row.get("skip_reason"), str) and row["skip_reason"]:
                done[image_id] = {"image_id": image_id, "path": None, "skip_reason": row["skip_reason"]}
            continue
        if file_is_intact(files, planned[image_id], row) and _condition_intact(files, image_id, row):
            done[image_id] = {**row, "path": planned[image_id]}
            if row.get("condition_sha256") is not None:
                done[image_id]["condition_path"] = condition_relpath(image_id)
    return done


def _condition_intact(files: RunFiles, image_id: str, row: dict[str, Any]) -> bool:
    """A render with a ControlNet condition is done only while its condition file is intact too
    (at the path its image id gives, never the line's own)."""
    if "condition_sha256" not in row and "condition_path" not in row:
        return True
    recorded = {key[len("condition_") :]: value for key, value in row.items() if key.startswith("condition_")}
    return file_is_intact(files, condition_relpath(image_id), recorded)


def skipped_image_ids(renders: dict[str, dict[str, Any]]) -> set[str]:
    """The image ids whose render is a recorded skip (no file)."""
    return {image_id for image_id, row in renders.items() if row.get("path") is None}


@dataclass(frozen=True)
class ScenarioUnit:
    """One item of scenario work: an image (image-level) or a question (record-level)."""

    key: str
    image_id: str


def row_version(row: dict[str, Any]) -> int:
    """The scenario algorithm version a manifest line records (`UNVERSIONED` when it has none)."""
    version = row.get("version", UNVERSIONED)
    return version if isinstance(version, int) and not isinstance(version, bool) else -1


def finished_scenario_outputs(
    run_dir: Path, scenario: str, keys: Iterable[str], version: int, outdated: set[str] | None = None
) -> dict[str, dict[str, Any]]:
    """Verified rows of `scenario` by unit key: an output file that is intact, or a recorded
    "not applicable" (no file), made by algorithm `version` (hvgen.scenarios.versions). Keys
    outside `keys` (the plan's units) are ignored. `outdated` collects the keys that are pending
    because their lines are of another version (the stage redoes them and says so)."""
    wanted = set(keys)
    files = RunFiles(run_dir)
    done: dict[str, dict[str, Any]] = {}
    other_version: set[str] = set()
    for row in reversed(_manifest_rows(run_dir, f"scenario-{scenario}.*.jsonl")):
        key = row.get("key")
        if not isinstance(key, str) or key in done or key not in wanted or row.get("scenario") != scenario:
            continue
        if row_version(row) != version:
            other_version.add(key)
            continue
        if row.get("path") is None:
            if isinstance(row.get("skip_reason"), str):
                done[key] = row
            continue
        relpath = scenario_relpath(scenario, key)
        if file_is_intact(files, relpath, row):
            done[key] = {**row, "path": relpath}
    if outdated is not None:
        outdated.update(other_version - set(done))
    return done


RENDER_COLUMNS = {
    "image_id": "string",
    "path": "string",
    "width": "int32",
    "height": "int32",
    "model": "string",
    "seconds": "float64",
    "sha256": "string",
    # T2IShield scores, when rendered with --scan (hvgen.analysis.render_scan)
    "scan_ftt": "float64",
    "scan_spectrum": "float64",
    "scan_map": "string",
    # a source image that does not decode: no file (path NULL), and why
    "skip_reason": "string",
    # the ControlNet condition image rendered from (hvgen.conditions), when there is one
    "condition_path": "string",
    "condition_sha256": "string",
    "condition_recipe": "string",
}
"""The catalog's `renders` columns and their arrow types (pyarrow factory names)."""
SCENARIO_COLUMNS = {
    "scenario": "string",
    "level": "string",
    "key": "string",
    "path": "string",
    "params": "string",
    "skip_reason": "string",
    "sha256": "string",
}
"""The catalog's `scenario_outputs` columns (params: JSON text, cast to JSON in the table)."""


def _table(rows: list[dict[str, Any]], columns: dict[str, str]) -> pa.Table:
    import pyarrow as pa

    return pa.table(
        {
            name: pa.array([row.get(name) for row in rows], type=getattr(pa, kind)())
            for name, kind in columns.items()
        }
    )


def planned_images(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    return dict(con.execute("SELECT image_id, path FROM images").fetchall())


def planned_units(con: duckdb.DuckDBPyConnection, level: str) -> list[ScenarioUnit]:
    """Every unit of a scenario of this `level`, from the plan, sorted by key."""
    if level == "image":
        rows = con.execute("SELECT image_id, image_id FROM images ORDER BY image_id").fetchall()
    else:
        rows = con.execute("SELECT id, image_id FROM records ORDER BY id").fetchall()
    return [ScenarioUnit(key, image_id) for key, image_id in rows]


def sync_manifests(
    con: duckdb.DuckDBPyConnection, run_dir: Path, scenarios: dict[str, str], versions: Mapping[str, int]
) -> None:
    """Write the verified finished work into the catalog: `renders`, and `scenario_outputs` for
    the given scenarios (name → level; the identity scenario's outputs are the renders), of each
    one's current algorithm version (`versions`: name → version, hvgen.scenarios.versions)."""
    renders = finished_renders(run_dir, planned_images(con))
    render_rows = [renders[image_id] for image_id in sorted(renders)]
    outputs: list[dict[str, Any]] = []
    for scenario, level in scenarios.items():
        if scenario == IDENTITY_SCENARIO:
            outputs += [
                {
                    "scenario": scenario,
                    "level": level,
                    "key": row["image_id"],
                    "path": row["path"],
                    "params": "{}",
                    "skip_reason": row.get("skip_reason"),
                    "sha256": row.get("sha256"),
                }  # fmt: skip
                for row in render_rows
            ]
            continue
        units = planned_units(con, level)
        done = finished_scenario_outputs(run_dir, scenario, (unit.key for unit in units), versions[scenario])
        for key in sorted(done):
            row = done[key]
            outputs.append(
                {
                    "scenario": scenario,
                    "level": level,
                    "key": key,
                    "path": row.get("path"),
                    "params": json.dumps(row.get("params") or {}, sort_keys=True),
                    "skip_reason": row.get("skip_reason"),
                    "sha256": row.get("sha256"),
                }
            )
    for name, table, select in (
        ("renders", _table(render_rows, RENDER_COLUMNS), "*"),
        ("scenario_outputs", _table(outputs, SCENARIO_COLUMNS), "* REPLACE (CAST(params AS JSON) AS params)"),
    ):
        con.register("_hvgen_sync", table)
        try:
            con.execute(f"CREATE OR REPLACE TABLE {name} AS SELECT {select} FROM _hvgen_sync")
        finally:
            con.unregister("_hvgen_sync")
    if not table_exists(con, "drops"):  # not built yet: keep all but the skipped sources
        reset_kept_views(con)


@dataclass
class Completeness:
    """Planned work that is not finished, per stage ('render', or a scenario name)."""

    missing: dict[str, int]
    planned: dict[str, int]

    @property
    def complete(self) -> bool:
        return not any(self.missing.values())

    def describe(self) -> str:
        parts = [
            f"{self.missing[name]} of {self.planned[name]} {'images' if name == 'render' else name + ' samples'}"
            for name in self.missing
            if self.missing[name]
        ]
        return ", ".join(parts)


def completeness(con: duckdb.DuckDBPyConnection, scenarios: dict[str, str]) -> Completeness:
    """Compare the synced catalog with the plan (call `sync_manifests` first); `scenarios`
    maps name → level."""
    missing: dict[str, int] = {}
    planned: dict[str, int] = {}
    planned["render"] = con.execute("SELECT count(*) FROM images").fetchone()[0]
    missing["render"] = con.execute(
        "SELECT count(*) FROM images i ANTI JOIN renders r USING (image_id)"
    ).fetchone()[0]
    for scenario, level in scenarios.items():
        table, key = ("images", "image_id") if level == "image" else ("records", "id")
        planned[scenario] = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
        missing[scenario] = con.execute(
            f"SELECT count(*) FROM {table} t WHERE NOT EXISTS (SELECT 1 FROM scenario_outputs o "
            f"WHERE o.scenario = ? AND o.key = t.{key})",
            [scenario],
        ).fetchone()[0]
    return Completeness(missing, planned)
