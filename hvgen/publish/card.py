"""Dataset cards rendered with Jinja from ``dataset_cards/<bench>.md.j2``.

Benchmark cards extend ``_base.md.j2``, which lays out the parts every hvgen card has (YAML
header with `configs:`, how the data was generated, statistics, how to load it); a benchmark's
card fills in what the benchmark is, its citation and its known limitations.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import jinja2
import yaml
from jinja2.sandbox import SandboxedEnvironment

from hvgen import __version__
from hvgen.config import RunConfig
from hvgen.generator import Generator
from hvgen.models import resolve_settings
from hvgen.privacy import public_value
from hvgen.stats import compute_stats, size_category


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False).rstrip()


def public_config(data: dict[str, Any]) -> dict[str, Any]:
    return public_value(data)


def card_environment() -> SandboxedEnvironment:
    folder = Path(str(resources.files("hvgen.dataset_cards")))
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["to_yaml"] = _to_yaml
    return env


def render_card(
    con: duckdb.DuckDBPyConnection,
    run_dir: Path,
    config: RunConfig,
    generator: Generator,
    exported: list[Any],
    export_dir: Path,
    stats: dict[str, Any] | None = None,
    incomplete: str | None = None,
) -> str:
    """The card's markdown. `incomplete` (what planned work is missing) is stated near the top."""
    stats = stats or compute_stats(con, generator.stats_columns)
    from hvgen.publish.plots import write_plots

    plots = write_plots(stats, export_dir)
    total_rows = sum(item.rows for item in exported if item.kind == "questions")
    settings = resolve_settings(config.render)
    configs_yaml = [
        {
            "config_name": item.name,
            "data_files": [
                {"split": config.export.split, "path": f"data/{item.name}/{config.export.split}-*.parquet"}
            ],
        }
        for item in exported
    ]
    if configs_yaml:
        configs_yaml[0]["default"] = True
    # Split sizes per config: the Hub shows them, `datasets` checks num_examples on load, and they
    # make `datasets`' cache key differ between two exports (it hashes the card's configs and
    # infos, not the files, so two `export/` folders with identical YAML would share a cache entry).
    dataset_info_yaml = [
        {
            "config_name": item.name,
            "splits": [{"name": config.export.split, "num_examples": item.rows}],
            "download_size": sum(
                (export_dir / f).stat().st_size for f in item.files if f.endswith(".parquet")
            ),
        }
        for item in exported
    ]
    context = {
        "title": generator.title,
        "benchmark": generator.name,
        "size_category": size_category(max(total_rows, 1)),
        "configs_yaml": configs_yaml,
        "dataset_info_yaml": dataset_info_yaml,
        "exported": exported,
        "layout": config.export.layout,
        "split": config.export.split,
        "stats": stats,
        "plots": plots,
        "config_yaml": _to_yaml(public_config(config.to_dict())),
        "model": public_value(config.render.model),
        "incomplete": incomplete,
        "settings": settings,
        "seed": config.seed,
        "hvgen_version": __version__,
        "generator": generator.card_context(),
    }
    return card_environment().get_template(f"{generator.name}.md.j2").render(context)
