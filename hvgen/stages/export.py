"""Export stage: the catalog → a Hub-ready folder that `datasets.load_dataset` reads.

Layout: ``README.md`` (dataset card with YAML `configs:`) and
``data/<config>/<split>-NNNNN-of-NNNNN.parquet``, one config per scenario (plus any the
generator adds). Rows are the kept records joined with their scenario image, embedded as a
`datasets.Image` feature, in shards of bounded size. The folder is built beside the old one and
swapped in at the end, so a crash never leaves a half-written export behind.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from hvgen.config import SPLIT_NAME, RunConfig
from hvgen.errors import HvgenError
from hvgen.faults import checkpoint
from hvgen.generator import ExportConfig, Generator
from hvgen.models import resolve_settings
from hvgen.progress import progress_bar
from hvgen.publish.formats import FORMATS_DIR, ConfigSamples, ExportFormat, FormatContext, harness_split
from hvgen.publish.samples import IncompleteRunError, config_samples
from hvgen.scenarios.versions import scenario_versions
from hvgen.store.atomic import write_atomic
from hvgen.store.catalog import open_catalog
from hvgen.store.decisions import check_build_current, decision_state, remove_stale_export, write_export_stamp
from hvgen.store.export_stamp import current_configs, export_inputs, stamp_export, stamp_format
from hvgen.store.files import RunFiles
from hvgen.store.layout import CONDITION_PATH, EXPORT_DIR, FRAME_PATHS, ordered_splits
from hvgen.store.work import completeness, sync_manifests
from hvgen.workers import io_threads

T = TypeVar("T")


@dataclass
class ExportedConfig:
    name: str
    scenario: str
    rows: int
    files: list[str] = field(default_factory=list)
    kind: str = "questions"  # "questions", or "images" (an image-once layout's `<config>_images`)
    # rows per split when the generator's records name their split (Generator.split_column);
    # None: every row in the export's one split (`export.split`, "test")
    splits: dict[str, int] | None = None


class ExportList(list[ExportedConfig]):
    """The configs an export holds; `up_to_date`: the export was already written from the same
    inputs (`hvgen.store.export_stamp`) and was left as it was."""

    def __init__(self, items: list[ExportedConfig], up_to_date: bool = False) -> None:
        super().__init__(items)
        self.up_to_date = up_to_date


FRAME_IMAGES = "frame_images"  # the export's column: the extra images, in order (a list of `datasets.Image`)
FRAME_FILES = "frame_files"  # image-once layout: their files in the `<config>_images` config
CONDITION_IMAGE = "condition_image"  # the ControlNet condition the image was rendered from (`datasets.Image`)
CONDITION_FILE = "condition_file"  # image-once layout: its file in the `<config>_images` config


class VerifiedImages:
    """Reads run-dir images for publishing, checking each against the sha256 its stage recorded
    (the catalog's verified rows): what is published is what the stage wrote, byte for byte."""

    def __init__(self, run_dir: Path, con: duckdb.DuckDBPyConnection) -> None:
        self.files = RunFiles(run_dir)
        rows = con.execute(
            "SELECT path, sha256 FROM scenario_outputs WHERE path IS NOT NULL "
            "UNION ALL SELECT path, sha256 FROM renders WHERE path IS NOT NULL "
            "UNION ALL SELECT condition_path, condition_sha256 FROM renders WHERE condition_path IS NOT NULL"
        ).fetchall()
        self.expected = dict(rows)

    def size(self, relpath: str) -> int:
        return self.files.size(relpath)

    def read_bytes(self, relpath: str) -> bytes:
        data = self.files.read_bytes(relpath)
        expected = self.expected.get(relpath)
        if expected is None or hashlib.sha256(data).hexdigest() != expected:
            raise HvgenError(
                f"{self.files.run_dir / relpath} is not the file its stage wrote (its content changed while its size "
                "and time stayed the same). Delete it and rerun the stage that made it (render or scenario), then export."
            )
        return data


def run_export(
    run_dir: Path,
    config: RunConfig,
    generator: Generator,
    scenarios: dict[str, str],
    stats: dict[str, Any] | None = None,
    formats: list[ExportFormat] | None = None,
    allow_incomplete: bool = False,
) -> ExportList:
    """Write the Hub folder (``RUN/export``) and each of `formats` under ``RUN/formats/<name>``;
    an export already written from the same inputs is left as it is (`ExportList.up_to_date`).

    `scenarios` (name → level) are the run's configured scenarios. Planned work that is not
    finished — images not rendered, scenario samples not made, files that no longer verify —
    stops the export (`IncompleteRunError`) unless `allow_incomplete`, in which case the card
    says what is missing."""
    final = run_dir / EXPORT_DIR
    staging = run_dir / f".{EXPORT_DIR}.partial"
    exported: list[ExportedConfig] = []
    samples: list[ConfigSamples] = []
    with open_catalog(run_dir) as con:
        sync_manifests(con, run_dir, scenarios, scenario_versions(scenarios))
        check_build_current(run_dir, con)
        status = completeness(con, scenarios)
        if status.missing["render"] == status.planned["render"]:
            raise HvgenError(
                f"nothing to export from {run_dir}: no image is rendered yet. Run `hvgen render {run_dir}` first."
            )
        if not status.complete and not allow_incomplete:
            raise IncompleteRunError(
                f"{run_dir} is not finished: {status.describe()} are not done yet. If shards are still running, wait "
                f"for them; otherwise run `hvgen render {run_dir}` and `hvgen scenario {run_dir}` (both resume and "
                "redo damaged files). `hvgen export --allow-incomplete` exports what exists and says so in the card."
            )
        incomplete = None if status.complete else status.describe()
        state = decision_state(con, list(scenarios))
        inputs = export_inputs(run_dir, state, config, incomplete, stats, _source_files(generator, config))
        kept = current_configs(run_dir, inputs, [fmt.name for fmt in formats or []])
        if kept is not None:  # a rerun of a finished command: nothing it was made from changed
            return ExportList([ExportedConfig(**item) for item in kept], up_to_date=True)
        from hvgen.publish.card import render_card  # scipy.stats: seconds, and only to write

        images = VerifiedImages(run_dir, con)
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "data").mkdir(parents=True)
        for export_config in generator.export_configs(list(scenarios)):
            table = config_samples(con, export_config)
            if export_config.skip_if_empty and not table.num_rows:
                continue
            exported += write_config_splits(
                images,
                staging,
                export_config,
                table,
                config.export,
                generator.embeds_images(),
                generator.embed_column(),
                generator.split_column,
            )
            samples.append(ConfigSamples(export_config.name, export_config.scenario, table))
        settings = resolve_settings(config.render)
        found = {
            s for item in exported if item.kind == "questions" for s in item.splits or [config.export.split]
        }
        split = harness_split(config.export.eval_split, found)  # refuses a --split the export lacks
        card = render_card(
            con, run_dir, config, generator, exported, staging, settings, stats, incomplete=incomplete,
            eval_split=split,
        )  # fmt: skip
    write_atomic(staging / "README.md", lambda handle: handle.write(card.encode("utf-8")))
    write_export_stamp(staging, state)  # swapped in with the rows: both old or both new
    checkpoint("export.written")
    _swap_in(staging, final)
    remove_stale_export(run_dir)
    stamp_export(final, inputs, exported)
    context = FormatContext(run_dir, config, generator, final, images.read_bytes, split)
    for fmt in formats or []:
        write_format(context, fmt, samples)
        stamp_format(run_dir, fmt.name)
    return ExportList(exported)


def _source_files(generator: Generator, config: RunConfig) -> list[str]:
    """The files the benchmark reads besides the run (its path options: COCO annotations, an image
    folder): a release format re-reads them, so a change to one writes the export again."""
    found = []
    for key in sorted(generator.path_options):
        value = config.options.get(key)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and item:
                found.append(item)
    return found


def write_format(context: FormatContext, fmt: ExportFormat, samples: list[ConfigSamples]) -> Path:
    """Write one extra format into ``RUN/formats/<name>`` (staged, then swapped in)."""
    final = context.run_dir / FORMATS_DIR / fmt.name
    staging = final.with_name(f".{fmt.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    fmt.write(context, samples, staging)
    _swap_in(staging, final)
    return final


IMAGES_SUFFIX = "_images"
IMAGE_KEY = "image_file"


def write_config_splits(
    images: VerifiedImages,
    staging: Path,
    export_config: ExportConfig,
    table: pa.Table,
    settings: Any,
    embed_images: bool = True,
    embed_column: str | None = None,
    split_column: str | None = None,
) -> list[ExportedConfig]:
    """`write_config`, once per split when the records name their own (`split_column`: a data
    set with official train/val/test partitions); the pieces of one config are merged back into
    one ExportedConfig whose `splits` counts each split's rows."""
    if split_column is None or split_column not in table.column_names or not table.num_rows:
        return write_config(images, staging, export_config, table, settings, embed_images, embed_column)
    values = pc.fill_null(table.column(split_column), settings.split)
    found = set(values.to_pylist())
    for name in found:
        if not SPLIT_NAME.match(str(name)):
            raise HvgenError(
                f"config {export_config.name}: records name the split {name!r}, which is not a split name "
                "(letters, digits, '_'); fix the generator's split values."
            )
    order = ordered_splits(found)
    merged: dict[str, ExportedConfig] = {}
    for split in order:
        part = table.filter(pc.equal(values, split))
        for item in write_config(
            images, staging, export_config, part, settings, embed_images, embed_column, split
        ):
            whole = merged.setdefault(
                item.name, ExportedConfig(item.name, item.scenario, 0, [], item.kind, {})
            )
            whole.rows += item.rows
            whole.files += item.files
            assert whole.splits is not None
            whole.splits[split] = item.rows
    return list(merged.values())


def write_config(
    images: VerifiedImages,
    staging: Path,
    export_config: ExportConfig,
    table: pa.Table,
    settings: Any,
    embed_images: bool = True,
    embed_column: str | None = None,
    split: str | None = None,
) -> list[ExportedConfig]:
    """One export config in the chosen layout (in `split`, default the export's one split).

    per-question: one parquet row per question with its image embedded — what `load_dataset`
    users and harnesses expect, at the cost of storing an image once per question asking it.
    image-once: the questions without images, each naming its picture in ``image_file``, plus a
    ``<config>_images`` config with one row per distinct picture (``image_file``, ``image``): for
    large releases, where image-level scenarios would otherwise repeat each image ~7 times.
    With `embed_column`, rows whose column is false get no image (null), in both layouts."""
    name, max_mb = export_config.name, settings.max_shard_mb
    split = split or settings.split
    if not embed_images:  # the generator's rows name their pictures' source (licences)
        internal = [c for c in ("_image_path", FRAME_PATHS, CONDITION_PATH) if c in table.column_names]
        questions = table.drop_columns(internal).replace_schema_metadata(None)
        files = [_write_table(staging, name, split, 0, 1, questions)]
        return [ExportedConfig(name, export_config.scenario, table.num_rows, files)]
    embed = None
    if embed_column is not None and embed_column in table.column_names:
        embed = [bool(value) for value in table.column(embed_column).to_pylist()]
    if settings.layout == "per-question":
        files = write_parquet_shards(images, staging, name, split, table, max_mb, embed)
        return [ExportedConfig(name, export_config.scenario, table.num_rows, files)]
    paths = table.column("_image_path")
    questions = table.drop_columns(["_image_path"]).append_column(IMAGE_KEY, paths)
    listed = paths.to_pylist()
    wanted = {path for i, path in enumerate(listed) if embed is None or embed[i]}
    if FRAME_PATHS in table.column_names:
        frames = table.column(FRAME_PATHS)
        questions = questions.drop_columns([FRAME_PATHS]).append_column(FRAME_FILES, frames)
        wanted |= {
            p for i, row in enumerate(frames.to_pylist()) if embed is None or embed[i] for p in row or []
        }
    if CONDITION_PATH in table.column_names:
        conditions = table.column(CONDITION_PATH)
        questions = questions.drop_columns([CONDITION_PATH]).append_column(CONDITION_FILE, conditions)
        wanted |= {p for i, p in enumerate(conditions.to_pylist()) if p and (embed is None or embed[i])}
    files = [_write_table(staging, name, split, 0, 1, questions.replace_schema_metadata(None))]
    distinct = sorted(wanted)
    if embed is not None and not distinct:  # every row's picture withheld (licences): no pictures config
        return [ExportedConfig(name, export_config.scenario, table.num_rows, files)]
    pictures = pa.table({IMAGE_KEY: distinct, "_image_path": distinct})
    image_files = write_parquet_shards(images, staging, name + IMAGES_SUFFIX, split, pictures, max_mb)
    return [
        ExportedConfig(name, export_config.scenario, table.num_rows, files),
        ExportedConfig(name + IMAGES_SUFFIX, export_config.scenario, len(distinct), image_files, "images"),
    ]


def write_parquet_shards(
    run_files: VerifiedImages,
    export_dir: Path,
    name: str,
    split: str,
    table: pa.Table,
    max_shard_mb: int,
    embed: list[bool] | None = None,
) -> list[str]:
    """Write `table` (with an `_image_path` column) as image-embedding parquet shards; images
    are read and verified by a thread pool (file reads and sha256 release the GIL). Rows whose
    `embed` flag is false get a null image and their file is not read."""
    paths = table.column("_image_path").to_pylist() if table.num_rows else []
    frames = table.column(FRAME_PATHS).to_pylist() if FRAME_PATHS in table.column_names else None
    conditions = table.column(CONDITION_PATH).to_pylist() if CONDITION_PATH in table.column_names else None
    if embed is not None:
        paths = [path if keep else None for path, keep in zip(paths, embed, strict=True)]
        if conditions is not None:
            conditions = [path if keep else None for path, keep in zip(conditions, embed, strict=True)]
        if frames is not None:
            frames = [row if keep else None for row, keep in zip(frames, embed, strict=True)]
    files = []
    with (
        progress_bar(f"export {name}", table.num_rows) as advance,
        ThreadPoolExecutor(max_workers=max(1, io_threads())) as pool,
    ):
        sizes = list(_map_batched(pool, _or_none(run_files.size, 0), paths))
        if frames is not None:  # a row's frames count towards its shard's size
            sizes = [size + sum(run_files.size(p) for p in row or []) for size, row in zip(sizes, frames)]
        if conditions is not None:  # and so does its condition image
            sizes = [size + (run_files.size(p) if p else 0) for size, p in zip(sizes, conditions)]
        boundaries = _shard_boundaries(sizes, max_shard_mb * 1024 * 1024) if paths else [(0, 0)]
        for number, (start, stop) in enumerate(boundaries):
            part = table.slice(start, stop - start)
            chunk = paths[start:stop]
            image_column = pa.array(
                [
                    None if path is None else {"bytes": data, "path": path.rsplit("/", 1)[-1]}
                    for path, data in zip(
                        chunk, _map_batched(pool, _or_none(run_files.read_bytes, None), chunk)
                    )
                ],
                type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]),
            )
            part = part.drop_columns(["_image_path"]).append_column("image", image_column)
            if frames is not None:
                part = part.drop_columns([FRAME_PATHS]).append_column(
                    FRAME_IMAGES, _frame_column(run_files, frames[start:stop])
                )
            if conditions is not None:
                part = part.drop_columns([CONDITION_PATH]).append_column(
                    CONDITION_IMAGE, _image_column(run_files, conditions[start:stop])
                )
            part = with_hf_features(part)
            files.append(_write_table(export_dir, name, split, number, len(boundaries), part))
            advance(stop - start)
    return files


def _frame_column(run_files: VerifiedImages, rows: list[list[str] | None]) -> pa.Array:
    """Each row's frames as a list of image structs (read and verified); null where withheld."""
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    return pa.array(
        [
            None
            if row is None
            else [{"bytes": run_files.read_bytes(p), "path": p.rsplit("/", 1)[-1]} for p in row]
            for row in rows
        ],
        type=pa.list_(image),
    )


def _image_column(run_files: VerifiedImages, paths: list[str | None]) -> pa.Array:
    """One image struct per row (read and verified); null where there is none or it is withheld."""
    image = pa.struct([("bytes", pa.binary()), ("path", pa.string())])
    return pa.array(
        [
            None if p is None else {"bytes": run_files.read_bytes(p), "path": p.rsplit("/", 1)[-1]}
            for p in paths
        ],
        type=image,
    )


def _or_none(function: Callable[[str], T], empty: Any) -> Callable[[str | None], Any]:
    """`function`, answering `empty` for a row whose image is not embedded (path None)."""
    return lambda path: empty if path is None else function(path)


def _map_batched(
    pool: ThreadPoolExecutor, function: Callable[[Any], T], items: list[Any], batch: int = 256
) -> Iterator[T]:
    """`pool.map(function, items)` in batches: one future per file costs more than an lstat or
    a small read at 600k files (thread wake-ups, lock traffic), so each task does `batch` files."""
    batches = [items[start : start + batch] for start in range(0, len(items), batch)]
    for results in pool.map(lambda part: [function(item) for item in part], batches):
        yield from results


def _write_table(export_dir: Path, name: str, split: str, number: int, count: int, table: pa.Table) -> str:
    relative = f"data/{name}/{split}-{number:05d}-of-{count:05d}.parquet"
    write_atomic(export_dir / relative, lambda handle: pq.write_table(table, handle, compression="zstd"))
    return relative


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
    if FRAME_IMAGES in table.column_names:
        features[FRAME_IMAGES] = [Image()]
    if CONDITION_IMAGE in table.column_names:
        features[CONDITION_IMAGE] = Image()
    metadata = {"huggingface": json.dumps({"info": {"features": features.to_dict()}})}
    return table.replace_schema_metadata(metadata)


def _swap_in(staging: Path, final: Path) -> None:
    old = final.with_name(f".{final.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
