"""A config's rows as the export and the preview read them: kept questions joined with their
scenario image (and frames), straight from the catalog. Imported by the export stage and
`hvgen.publish.preview` (which is why it lives here, below the stages); imports no stage."""

from __future__ import annotations

import duckdb
import pyarrow as pa

from hvgen.errors import HvgenError
from hvgen.generator import ExportConfig
from hvgen.store.catalog import query_arrow, table_exists
from hvgen.store.layout import CONDITION_PATH, FRAME_PATHS


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
    """One row per kept question of `config`, with its scenario image path (`_image_path`) and,
    for records with extra images (`frames`), their paths in order (`_frame_paths`)."""
    columns = [row[0] for row in con.execute("DESCRIBE kept_records").fetchall()]
    table = query_arrow(con, samples_query(config, columns), {"scenario": config.scenario})
    if FRAMES_KEY in table.column_names and any(table.column(FRAMES_KEY).to_pylist()):
        table = with_frame_paths(con, table, config.scenario)
    return with_condition_paths(con, table)


def with_condition_paths(con: duckdb.DuckDBPyConnection, table: pa.Table) -> pa.Table:
    """`table` plus `_condition_path`, each row's ControlNet condition image (the clean render's:
    a scenario perturbs the image, not what it was rendered from), when the run has any."""
    if not table_exists(con, "renders"):
        return table
    paths = dict(
        con.execute(
            "SELECT image_id, condition_path FROM renders WHERE condition_path IS NOT NULL"
        ).fetchall()
    )
    if not paths:
        return table
    column = [paths.get(image_id) for image_id in table.column("image_id").to_pylist()]
    return table.append_column(CONDITION_PATH, pa.array(column, type=pa.string()))


FRAMES_KEY = "frames"  # a record's extra images: [{image_id, prompt, negative_prompt, image_seed}, ...]


def with_frame_paths(con: duckdb.DuckDBPyConnection, table: pa.Table, scenario: str) -> pa.Table:
    """`table` plus `_frame_paths`: each row's frames as files of `scenario` (image level; a
    record-level scenario perturbs only the primary image, so its frames are the clean ones)."""
    rows = con.execute(
        "SELECT key, path, scenario FROM scenario_outputs WHERE level = 'image' AND path IS NOT NULL "
        "AND scenario IN ($1, 'clean')",
        [scenario],
    ).fetchall()
    paths: dict[str, str] = {}
    for key, path, _scenario in sorted(
        rows, key=lambda row: row[2] == scenario
    ):  # this scenario's last: it wins
        paths[key] = path
    column = []
    for frames in table.column(FRAMES_KEY).to_pylist():
        found = []
        for frame in frames or []:
            if frame["image_id"] not in paths:
                raise IncompleteRunError(
                    f"frame image {frame['image_id']} has no {scenario} sample: run `hvgen render` and `hvgen scenario` "
                    "on the run first (they resume)."
                )
            found.append(paths[frame["image_id"]])
        column.append(found)
    return table.append_column(FRAME_PATHS, pa.array(column, type=pa.list_(pa.string())))


class IncompleteRunError(HvgenError):
    """Planned work is not finished: exporting now would silently publish a partial dataset."""
