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
from hvgen.publish.formats import FORMATS_DIR, ConfigSamples, ExportFormat, FormatContext
from hvgen.store.atomic import write_atomic
from hvgen.store.catalog import open_catalog, query_arrow, sync_manifests, table_exists
from hvgen.store.files import RunFiles

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


def samples_query(config: ExportConfig, record_columns: list[str]) -> str:
    """Kept records joined with their scenario output: image-level outputs by image id,
    record-level ones by question id — two equality joins, so the cost grows linearly.

    ``images`` is replaced by the config's own image (a corruption row names the corrupted
    file, not the clean render), so loaders that join a data root with ``images[0]`` evaluate
    the picture the config is about."""
    replace = "REPLACE ([o.path] AS images)" if "images" in record_columns else ""
    return f"""
        WITH outputs AS (
            SELECT level, key, path, params FROM scenario_outputs
            WHERE scenario = $scenario AND path IS NOT NULL
        )
        SELECT r.* {replace}, $scenario AS scenario, CAST(o.params AS VARCHAR) AS scenario_params,
               o.path AS _image_path
        FROM kept_records r
        JOIN outputs o ON o.level = 'image' AND o.key = r.image_id
        WHERE {config.where}
        UNION ALL BY NAME
        SELECT r.* {replace}, $scenario AS scenario, CAST(o.params AS VARCHAR) AS scenario_params,
               o.path AS _image_path
        FROM kept_records r
        JOIN outputs o ON o.level = 'record' AND o.key = r.id
        WHERE {config.where}
        ORDER BY id
    """


def config_samples(con: duckdb.DuckDBPyConnection, config: ExportConfig) -> pa.Table:
    """One row per kept question of `config`, with its scenario image path (`_image_path`)."""
    columns = [row[0] for row in con.execute("DESCRIBE kept_records").fetchall()]
    return query_arrow(con, samples_query(config, columns), {"scenario": config.scenario})


def run_export(
    run_dir: Path,
    config: RunConfig,
    generator: Generator,
    stats: dict[str, Any] | None = None,
    formats: list[ExportFormat] | None = None,
) -> list[ExportedConfig]:
    """Write the Hub folder (``RUN/export``) and each of `formats` under ``RUN/formats/<name>``."""
    from hvgen.publish.card import render_card

    files = RunFiles(run_dir)
    final = run_dir / EXPORT_DIR
    staging = run_dir / f".{EXPORT_DIR}.partial"
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "data").mkdir(parents=True)
    exported: list[ExportedConfig] = []
    samples: list[ConfigSamples] = []
    with open_catalog(run_dir) as con:
        sync_manifests(con, run_dir)
        scenarios = available_scenarios(con)
        for export_config in generator.export_configs(scenarios):
            table = config_samples(con, export_config)
            written = write_parquet_shards(
                files, staging, export_config.name, config.export.split, table, config.export.max_shard_mb
            )
            exported.append(
                ExportedConfig(export_config.name, export_config.scenario, table.num_rows, written)
            )
            samples.append(ConfigSamples(export_config.name, export_config.scenario, table))
        card = render_card(con, run_dir, config, generator, exported, staging, stats)
    write_atomic(staging / "README.md", lambda handle: handle.write(card.encode("utf-8")))
    _swap_in(staging, final)
    context = FormatContext(run_dir, config, generator, final, files.read_bytes)
    for fmt in formats or []:
        write_format(context, fmt, samples)
    return exported


def write_format(context: FormatContext, fmt: ExportFormat, samples: list[ConfigSamples]) -> Path:
    """Write one extra format into ``RUN/formats/<name>`` (staged, then swapped in)."""
    final = context.run_dir / FORMATS_DIR / fmt.name
    staging = final.with_name(f".{fmt.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    fmt.write(context, samples, staging)
    _swap_in(staging, final)
    return final


def write_parquet_shards(
    run_files: RunFiles, export_dir: Path, name: str, split: str, table: pa.Table, max_shard_mb: int
) -> list[str]:
    """Write `table` (with an `_image_path` column) as image-embedding parquet shards."""
    paths = table.column("_image_path").to_pylist() if table.num_rows else []
    sizes = [run_files.size(path) for path in paths]
    boundaries = _shard_boundaries(sizes, max_shard_mb * 1024 * 1024) if paths else [(0, 0)]
    files = []
    folder = export_dir / "data" / name
    folder.mkdir(parents=True, exist_ok=True)
    with progress_bar(f"export {name}", table.num_rows) as advance:
        for number, (start, stop) in enumerate(boundaries):
            part = table.slice(start, stop - start)
            image_column = pa.array(
                [
                    {"bytes": run_files.read_bytes(path), "path": Path(path).name}
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
