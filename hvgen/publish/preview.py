"""`hvgen preview`: an HTML contact sheet of a run, to eyeball images against their questions
before publishing (does the picture show the answer? is the print-attack text legible?)."""

from __future__ import annotations

import html
import os
from pathlib import Path

from hvgen.errors import HvgenError
from hvgen.generator import ExportConfig
from hvgen.publish.samples import config_samples
from hvgen.scenarios.versions import scenario_versions
from hvgen.store.atomic import write_text_atomic
from hvgen.store.catalog import open_catalog, query_arrow
from hvgen.store.work import sync_manifests

_STYLE = """
body{font-family:system-ui,sans-serif;margin:1.5em;background:#fafafa}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(260px,1fr));gap:1em}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:.6em;font-size:13px}
.card img{width:100%;image-rendering:pixelated;border-radius:4px}
.answer{color:#0a7a2f;font-weight:600}.meta{color:#777;font-size:11px;word-break:break-all}
"""


def write_preview(run_dir: Path, scenario: str, num: int, target: Path, scenarios: dict[str, str]) -> int:
    """Write an HTML page with `num` samples of `scenario` (a stable pseudo-random pick); returns
    how many were shown. Images are linked relative to the page, not copied. `scenarios` are
    the run's (name → level)."""
    with open_catalog(run_dir) as con:
        sync_manifests(con, run_dir, scenarios, scenario_versions(scenarios))
        if scenario not in scenarios:
            raise HvgenError(
                f"no '{scenario}' outputs in {run_dir} (available: {', '.join(scenarios) or 'none'}): "
                f"run `hvgen scenario {run_dir} --scenario {scenario}` first."
            )
        samples = config_samples(con, ExportConfig(name=scenario, scenario=scenario))
        con.register("_preview_samples", samples)
        rows = query_arrow(
            con, "SELECT * FROM _preview_samples ORDER BY hash(id) LIMIT ?", [max(0, int(num))]
        ).to_pylist()
        con.unregister("_preview_samples")
    cards = [_card(row, target.parent, run_dir) for row in rows]
    page = (
        f"<!doctype html><meta charset='utf-8'><title>hvgen preview: {html.escape(run_dir.name)} ({scenario})</title>"
        f"<style>{_STYLE}</style><h1>{html.escape(run_dir.name)} — {scenario} ({len(rows)} samples)</h1>"
        f"<div class='grid'>{''.join(cards)}</div>\n"
    )
    write_text_atomic(target, page)
    return len(rows)


def _card(row: dict, page_dir: Path, run_dir: Path) -> str:
    src = os.path.relpath(run_dir / row["_image_path"], page_dir)
    options = row.get("options") or []
    option_items = "".join(
        f"<li{' class=answer' if option == row.get('answer') else ''}>{html.escape(str(option))}</li>"
        for option in options
    )
    answer = "" if options else f"<div class='answer'>{html.escape(str(row.get('answer') or ''))}</div>"
    params = row.get("scenario_params") or ""
    return (
        f"<div class='card'><img src='{html.escape(src)}' alt=''>"
        f"<div><b>{html.escape(str(row.get('question', '')))}</b></div>"
        f"<ol type='A'>{option_items}</ol>{answer}"
        f"<div class='meta'>{html.escape(str(row.get('prompt', '')))}</div>"
        f"<div class='meta'>{html.escape(params if params not in ('{}', 'null') else '')}</div></div>"
    )
