"""Export stage: the catalog → a Hub-ready folder that `datasets.load_dataset` reads.

Layout: ``README.md`` (dataset card with YAML `configs:`) and
``data/<config>/<split>-NNNNN-of-NNNNN.parquet``, one config per scenario (plus any the
generator adds). Rows are the kept records joined with their scenario image, embedded as a
`datasets.Image` feature, in shards of bounded size. The folder is built beside the old one and
swapped in at the end, so a crash never leaves a half-written export behind.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hvgen.config import RunConfig
from hvgen.generator import ExportConfig, Generator
from hvgen.progress import progress_bar
from hvgen.publish.formats.vlmevalkit import write_vlmevalkit_tsv
from hvgen.store.atomic import write_atomic
from hvgen.store.catalog import open_catalog, query_arrow, sync_manifests, table_exists

EXPORT_DIR = "export"


@dataclass
class ExportedConfig:
    name: str
    scenario: str
    rows: int
    files: list[str] = field(default_factory=list)


def available_scenarios(con: duckdb.DuckDBPyConnection) -> list[str]:
    if not table_exists(con, "scenario_outputs"):
        return []
    from hvgen.scenarios import SCENARIO_NAMES

    found = [row[0] for row in con.execute("SELECT DISTINCT scenario FROM scenario_outputs").fetchall()]
    # clean first (the default config), then the other scenarios in their canonical order
    return sorted(
        found, key=lambda name: (SCENARIO_NAMES.index(name) if name in SCENARIO_NAMES else 99, name)
    )


def samples_query(config: ExportConfig) -> str:
    """Kept records joined with their scenario output (image-level by image id, record-level by id)."""
    return f"""
        SELECT r.*, o.scenario AS scenario, CAST(o.params AS VARCHAR) AS scenario_params, o.path AS _image_path
        FROM kept_records r
        JOIN scenario_outputs o
          ON o.scenario = '{config.scenario}' AND o.path IS NOT NULL
         AND ((o.level = 'image' AND o.key = r.image_id) OR (o.level = 'record' AND o.key = r.id))
        WHERE {config.where}
        ORDER BY r.id
    """


def run_export(
    run_dir: Path,
    config: RunConfig,
    generator: Generator,
    stats: dict[str, Any] | None = None,
    vlmevalkit: bool = False,
) -> list[ExportedConfig]:
    """Write the export folder; `vlmevalkit` also writes ``vlmevalkit/<config>.tsv``."""
    from hvgen.publish.card import render_card

    final = run_dir / EXPORT_DIR
    staging = run_dir / f".{EXPORT_DIR}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "data").mkdir(parents=True)
    exported: list[ExportedConfig] = []
    with open_catalog(run_dir) as con:
        sync_manifests(con, run_dir)
        scenarios = available_scenarios(con)
        for export_config in generator.export_configs(scenarios):
            table = query_arrow(con, samples_query(export_config))
            files = write_parquet_shards(
                run_dir, staging, export_config.name, config.export.split, table, config.export.max_shard_mb
            )
            if vlmevalkit:
                target = staging / "vlmevalkit" / f"{export_config.name}.tsv"
                write_vlmevalkit_tsv(run_dir, table, target, generator.category_column, config.export.split)
                files.append(target.relative_to(staging).as_posix())
            exported.append(ExportedConfig(export_config.name, export_config.scenario, table.num_rows, files))
        card = render_card(con, run_dir, config, generator, exported, staging, stats)
    write_atomic(staging / "README.md", lambda handle: handle.write(card.encode("utf-8")))
    _swap_in(staging, final)
    return exported


def write_parquet_shards(
    run_dir: Path, export_dir: Path, name: str, split: str, table: pa.Table, max_shard_mb: int
) -> list[str]:
    """Write `table` (with an `_image_path` column) as image-embedding parquet shards."""
    paths = table.column("_image_path").to_pylist() if table.num_rows else []
    sizes = [(run_dir / path).stat().st_size for path in paths]
    boundaries = _shard_boundaries(sizes, max_shard_mb * 1024 * 1024) if paths else [(0, 0)]
    files = []
    folder = export_dir / "data" / name
    folder.mkdir(parents=True, exist_ok=True)
    with progress_bar(f"export {name}", table.num_rows) as advance:
        for number, (start, stop) in enumerate(boundaries):
            part = table.slice(start, stop - start)
            image_column = pa.array(
                [
                    {"bytes": (run_dir / path).read_bytes(), "path": Path(path).name}
                    for path in paths[start:stop]
                ],
                type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
            )
            part = part.drop_columns(["_image_path"]).append_column("image", image_column)
            part = with_hf_features(part)
            relative = f"data/{name}/{split}-{number:05d}-of-{len(boundaries):05d}.parquet"
            write_atomic(
                export_dir / relative, lambda handle, p=part: pq.write_table(p, handle, compression="zstd")
            )
            files.append(relative)
            advance(stop - start)
    return files


def _shard_boundaries(sizes: list[int], max_bytes: int) -> list[tuple[int, int]]:
    bounds, start, total = [], 0, 0
    for index, size in enumerate(sizes):
        if index > start and total + size > max_bytes:
            bounds.append((start, index))
            start, total = index, 0
        total += size
    bounds.append((start, len(sizes)))
    return bounds


def with_hf_features(table: pa.Table) -> pa.Table:
    """Attach `datasets` feature metadata so the `image` column loads as `datasets.Image`."""
    from datasets import Features, Image

    features = Features.from_arrow_schema(table.schema)
    features["image"] = Image()
    metadata = {"huggingface": json.dumps({"info": {"features": features.to_dict()}})}
    return table.replace_schema_metadata(metadata)


def _swap_in(staging: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
