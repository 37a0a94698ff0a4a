"""Reading a release back as planned records, whatever layout it was published in.

* ``run``    — an hvgen run directory: its records (those of its export when it has one: what
  was published), and its config;
* ``export`` — an hvgen export folder (``RUN/export`` or a downloaded Hub copy): the parquet
  rows, turned back into records (the columns the export adds are dropped, ``images`` is the
  clean image's path again), and the run configuration printed on its dataset card;
* ``dysca``  — ``hvgen export --format dysca`` (``Dysca_<config>.json``): every record field is
  there beside the released ones, keyed by ``hvgen_id``; the run's config when the folder is still
  inside its run (``RUN/formats/dysca``);
* ``vlbias`` / ``hqh`` — the originals' layouts hold only the fields their scorers read, not the
  prompts and seeds a twin needs: read inside their run (``RUN/formats/<name>``), the questions
  they list are taken from the run's records.

Nothing read here is trusted: records are validated against the benchmark's schema when the
twin run plans them, and no path from the files is opened.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import yaml

from hvgen.config import RunConfig
from hvgen.errors import HvgenError
from hvgen.progress import warn
from hvgen.readers.source_folder import SourceFolder
from hvgen.records import Record
from hvgen.scenarios import SCENARIO_NAMES
from hvgen.store.catalog import open_catalog
from hvgen.store.layout import CATALOG_FILE, CONFIG_FILE, EXPORT_DIR, FORMATS_DIR, RECORDS_FILE, image_relpath

LAYOUTS = ("auto", "run", "export", "dysca", "vlbias", "hqh")
# Columns an export row has beyond its record (hvgen.stages.export): dropped to get the record back.
EXPORT_COLUMNS = frozenset(
    {"scenario", "scenario_params", "image", "image_file", "frame_images", "frame_files"}
)
RELEASE_ID_KEY = "hvgen_id"
_CARD_CONFIG = re.compile(r"<summary>Full run configuration</summary>\s*```yaml\n(.*?)\n```", re.DOTALL)


@dataclass
class Release:
    """A release read back: its benchmark, its records (sorted by id), the scenarios it has, its
    run configuration when known, a public name, and the hvgen export formats it came with."""

    benchmark: str
    records: list[Record]
    scenarios: list[str]
    config: RunConfig | None
    name: str
    layout: str
    formats: list[str] = field(default_factory=list)


def read_release(path: Path, layout: str = "auto") -> Release:
    """Read the release at `path` in `layout` (auto: recognised from what the folder holds)."""
    if layout not in LAYOUTS:
        raise HvgenError(f"--from {layout!r}: expected one of {', '.join(LAYOUTS)}.")
    if not path.is_dir():
        raise HvgenError(
            f"release {path}: not a folder. Pass an hvgen run directory, its export folder, or a folder written "
            "by `hvgen export --format dysca` (RUN/formats/dysca)."
        )
    chosen = _detect(path) if layout == "auto" else layout
    if chosen in ("vlbias", "hqh"):
        release = _read_listing(path, chosen)
    else:
        release = {"run": _read_run, "export": _read_export, "dysca": _read_dysca}[chosen](path)
    if not release.records:
        raise HvgenError(f"release {path} holds no questions.")
    benchmarks = sorted({str(r.get("generator")) for r in release.records})
    if len(benchmarks) != 1 or benchmarks[0] == "None":
        raise HvgenError(
            f"release {path}: cannot tell which benchmark its questions belong to ({benchmarks})."
        )
    release.benchmark = benchmarks[0]
    release.records.sort(key=lambda record: str(record["id"]))
    return release


def _detect(path: Path) -> str:
    if (path / CONFIG_FILE).is_file():
        return "run"
    if any(path.glob("data/*/*.parquet")):
        return "export"
    if any(path.glob("Dysca_*.json")):
        return "dysca"
    if any(path.glob("HQH_*.json")):
        return "hqh"
    if any(path.glob("*/data/close-ended")) or any(path.glob("*/data/open_ended")):
        return "vlbias"
    raise HvgenError(
        f"release {path}: not a layout hvgen reads (no {CONFIG_FILE}, no data/<config>/*.parquet, no "
        "Dysca_<config>.json). Pass an hvgen run directory, its export folder, or RUN/formats/dysca; "
        "--from names the layout."
    )


def _name(path: Path) -> str:
    """A public name for the release: its run's folder name (never a machine path)."""
    resolved = path.resolve()
    if resolved.name == EXPORT_DIR or resolved.parent.name == FORMATS_DIR:
        return resolved.parent.name if resolved.name == EXPORT_DIR else resolved.parent.parent.name
    return resolved.name


def _run_of(path: Path) -> Path | None:
    """The run directory a folder lies in (RUN/export, RUN/formats/<name>), if it is one."""
    resolved = path.resolve()
    for candidate in (resolved.parent, resolved.parent.parent):
        if (candidate / CONFIG_FILE).is_file() and (candidate / RECORDS_FILE).is_file():
            return candidate
    return None


# ------------------------------------------------------------------ run directories


def _read_run(path: Path) -> Release:
    config = RunConfig.load(path / CONFIG_FILE)
    export = path / EXPORT_DIR
    if any(export.glob("data/*/*.parquet")):  # what was published, not every planned question
        published = _read_export(export)
        wanted = {str(r["id"]) for r in published.records}
        scenarios = published.scenarios
    else:
        wanted = _kept_ids(path)
        scenarios = list(config.scenario.scenarios)
    records = [r for r in _records_file(path) if str(r["id"]) in wanted]
    return Release("", records, scenarios, config, _name(path), "run", _formats_of(path))


def _records_file(run_dir: Path) -> list[Record]:
    try:
        return [
            json.loads(line) for line in (run_dir / RECORDS_FILE).read_text(encoding="utf-8").splitlines()
        ]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HvgenError(f"{run_dir / RECORDS_FILE}: cannot read the run's records ({error}).") from None


def _kept_ids(run_dir: Path) -> set[str]:
    if not (run_dir / CATALOG_FILE).is_file():
        return {str(r["id"]) for r in _records_file(run_dir)}
    with open_catalog(run_dir, read_only=True) as con:
        return {row[0] for row in con.execute("SELECT id FROM kept_records").fetchall()}


def _formats_of(run_dir: Path) -> list[str]:
    folder = run_dir / FORMATS_DIR
    return (
        sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
        if folder.is_dir()
        else []
    )


# ------------------------------------------------------------------ export folders


def _read_export(path: Path) -> Release:
    rows_by_id: dict[str, dict[str, Any]] = {}
    scenarios: set[str] = set()
    for folder in sorted(
        p for p in (path / "data").iterdir() if p.is_dir() and not p.name.endswith("_images")
    ):
        files = sorted(folder.glob("*.parquet"))
        if not files:
            continue
        for file in files:
            _inside(path, file)
            schema = pq.read_schema(file)
            columns = [name for name in schema.names if name not in ("image", "frame_images")]
            for row in pq.read_table(file, columns=columns).to_pylist():
                scenario = str(row.get("scenario") or "clean")
                scenarios.add(scenario)
                key = str(row["id"])
                if key not in rows_by_id or scenario == "clean":  # the clean row names the clean image
                    rows_by_id[key] = row
    records = [_record_of_row(row) for row in rows_by_id.values()]
    config = _card_config(path)
    run = _run_of(path)
    formats = _formats_of(run) if run else []
    ordered = [name for name in SCENARIO_NAMES if name in scenarios] + sorted(scenarios - set(SCENARIO_NAMES))
    return Release("", records, ordered, config, _name(path), "export", formats)


def _record_of_row(row: dict[str, Any]) -> Record:
    """An export row (or a release-format record) back as the planned record."""
    record = {key: value for key, value in row.items() if key not in EXPORT_COLUMNS}
    if row.get("scenario", "clean") != "clean" or "images" not in record:
        record["images"] = [image_relpath(str(record["image_id"]))]
    return record


def _inside(folder: Path, file: Path) -> None:
    """A release is what lies in the folder the user named: a file linked in from elsewhere would
    put records the user never pointed at into the twin split."""
    if not SourceFolder(folder).contains(file):
        raise HvgenError(
            f"{file}: a symbolic link that leads outside the release folder {folder}; hvgen reads a release only "
            "from files inside the folder it is given. Copy the file into the release, or name its real folder."
        )


def _card_config(export: Path) -> RunConfig | None:
    """The run configuration the dataset card prints (machine paths shown as `<local: name>`)."""
    if (export / "README.md").exists():
        _inside(export, export / "README.md")
    try:
        match = _CARD_CONFIG.search((export / "README.md").read_text(encoding="utf-8"))
        return (
            RunConfig.from_dict(yaml.safe_load(match.group(1)), origin=f"{export}/README.md")
            if match
            else None
        )
    except (OSError, UnicodeDecodeError, yaml.YAMLError, HvgenError) as error:
        warn(f"{export}/README.md: its run configuration cannot be read ({error}); twins use the defaults.")
        return None


# ------------------------------------------------------------------ the originals' layouts


def _read_dysca(path: Path) -> Release:
    by_id: dict[str, dict[str, Any]] = {}
    scenarios: list[str] = []
    for file in sorted(path.glob("Dysca_*.json")):
        try:
            entries = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            raise HvgenError(f"{file}: not a Dysca ground-truth json ({error}).") from None
        if not isinstance(entries, list) or not all(
            isinstance(e, dict) and RELEASE_ID_KEY in e for e in entries
        ):
            raise HvgenError(
                f"{file}: not written by `hvgen export --format dysca` (records without '{RELEASE_ID_KEY}'): the "
                "original Dysca release lacks the seeds and fields a twin needs. Pass the hvgen run or export."
            )
        for entry in entries:
            scenario = str(entry.get("scenario") or file.stem.removeprefix("Dysca_"))
            if scenario not in scenarios:
                scenarios.append(scenario)
            row = {**entry, "id": entry[RELEASE_ID_KEY]}
            row.pop(RELEASE_ID_KEY)
            if str(row["id"]) not in by_id or scenario == "clean":
                by_id[str(row["id"])] = {**row, "scenario": scenario}
    run = _run_of(path)
    config = RunConfig.load(run / CONFIG_FILE) if run else None
    records = [_record_of_row(row) for row in by_id.values()]
    ordered = [name for name in SCENARIO_NAMES if name in scenarios] + [
        s for s in scenarios if s not in SCENARIO_NAMES
    ]
    return Release("", records, ordered, config, _name(path), "dysca", ["dysca"])


def _read_listing(path: Path, layout: str) -> Release:
    """VLBias / HQH release layouts: the questions they list (`hvgen_id`), read from their run."""
    run = _run_of(path)
    if run is None:
        raise HvgenError(
            f"release {path}: the {layout} layout keeps only what its scorer reads, not the prompts and seeds a "
            f"twin needs; pass the hvgen run directory or export it came from (RUN/formats/{layout} inside its run "
            "works too)."
        )
    ids: set[str] = set()
    for file in path.rglob("*.json"):
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError):
            continue
        entries = data if isinstance(data, list) else []
        ids |= {str(e[RELEASE_ID_KEY]) for e in entries if isinstance(e, dict) and RELEASE_ID_KEY in e}
    if not ids:
        raise HvgenError(f"release {path}: no question with '{RELEASE_ID_KEY}' found in its json files.")
    config = RunConfig.load(run / CONFIG_FILE)
    records = [r for r in _records_file(run) if str(r["id"]) in ids]
    scenarios = [p.name for p in sorted(path.iterdir()) if p.is_dir() and p.name in SCENARIO_NAMES] or list(
        config.scenario.scenarios
    )
    return Release("", records, scenarios, config, _name(run), layout, [layout])
