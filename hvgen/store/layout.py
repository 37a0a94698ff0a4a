"""Where things live in a run directory — the one place that knows its layout.

```
runs/<name>/
  config.yaml        the resolved config (.config.yaml.last: its copy, for repairs)
  records.jsonl      the planned records (a readable copy of the catalog's)
  catalog.duckdb     records, images, verified renders / scenario outputs, build results
  images/<xx>/<image_id>.png
  conditions/<xx>/<image_id>.png   an image's ControlNet condition (hvgen.conditions), when it has one
  scenarios/<scenario>/<xx>/<key>.png
  manifests/         append-only logs of finished work, one per stage and shard
  export/            the Hub folder (what `hvgen push` uploads, nothing else; export.stale/: one a build set aside)
  formats/<name>/    other consumers' layouts (VLMEvalKit, lmms-eval, the originals')
  quality/           `hvgen quality`'s report and form A vs form B plot (the card shows them)
  twins/             a twin split's copy of the release it redraws (`hvgen twins`); for photographs
                     also the paired twin records and the questions left without a twin
  contamination/     `hvgen contamination`'s report and plot
```
File paths inside a run are computed here from validated ids, never read from the run's files.
"""

from __future__ import annotations

import re

from hvgen.errors import HvgenError

CONFIG_FILE = "config.yaml"
CONFIG_BACKUP = (
    ".config.yaml.last"  # the same text, written first: what a damaged config.yaml is restored from
)
CATALOG_FILE = "catalog.duckdb"
RECORDS_FILE = "records.jsonl"
MANIFEST_DIR = "manifests"
BUILD_LOG = f"{MANIFEST_DIR}/build.jsonl"  # each finished build's settings (hvgen.store.decisions)
EXPORT_DIR = "export"
EXPORT_STAMP = (
    ".hvgen-export-stamp.json"  # inside the export: the decisions it was written from; never uploaded
)
EXPORT_STATE = (
    ".export-state.json"  # beside the export: what it was written from (reruns keep an unchanged one)
)
STALE_EXPORT_DIR = "export.stale"  # an export a build no longer agrees with, set aside
FORMATS_DIR = "formats"
SUMMARY_FILE = "summary.json"
QUALITY_REPORT = "quality/quality.json"
QUALITY_PLOT = "quality/parallel-forms.png"
TWIN_RELEASE_FILE = "twins/release.jsonl"
PHOTO_TWINS_FILE = "twins/photographs.jsonl"  # photographic twins: the paired records
UNPAIRED_FILE = "twins/unpaired.json"  # photographic twins: released questions without a twin, and why
CONTAMINATION_REPORT = "contamination/contamination.json"
CONTAMINATION_PLOT = "contamination/gaps.png"

_KEY = re.compile(r"^[0-9A-Za-z_-]{1,128}$")


def check_key(key: str, what: str = "id") -> str:
    """An id used in a file name: letters, digits, '-' and '_' only (no path separators)."""
    if not isinstance(key, str) or not _KEY.match(key):
        raise HvgenError(f"invalid {what} {key!r}: ids may only hold letters, digits, '-' and '_'.")
    return key


def image_relpath(image_id: str) -> str:
    """Where an image lives inside the run dir: bucketed by id prefix to keep folders small."""
    check_key(image_id, "image id")
    return f"images/{image_id[:2]}/{image_id}.png"


def scenario_relpath(scenario: str, key: str) -> str:
    check_key(scenario, "scenario name")
    check_key(key, "sample id")
    return f"scenarios/{scenario}/{key[:2]}/{key}.png"


# Export-side names every writer of an export shares (the Hub folder and the harness formats).
FRAME_PATHS = "_frame_paths"
"""Internal column of export rows: a record's further images (frames), as run-dir paths in order."""
SPLIT_ORDER = ("train", "validation", "val", "test")
"""How splits named by records (`Generator.split_column`) are ordered in an export."""


def ordered_splits(found: set[str]) -> list[str]:
    """`found` in train / validation / test order, then any other split names sorted."""
    return [s for s in SPLIT_ORDER if s in found] + sorted(found - set(SPLIT_ORDER))


CONDITION_PATH = "_condition_path"  # export rows' internal column: the condition image's run-dir path


def condition_relpath(image_id: str) -> str:
    """Where an image's condition image (ControlNet input) lives inside the run dir."""
    check_key(image_id, "image id")
    return f"conditions/{image_id[:2]}/{image_id}.png"
