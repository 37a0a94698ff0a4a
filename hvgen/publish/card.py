"""Dataset cards rendered with Jinja from ``dataset_cards/<bench>.md.j2``.

Benchmark cards extend ``_base.md.j2``, which lays out the parts every hvgen card has (YAML
header with `configs:` and split sizes, the fields of a row, how the data was generated,
statistics, what was filtered, how to load it); a benchmark's card fills in what the benchmark
is, its citation and its known limitations. Field descriptions come from the benchmark's JSON
Schema (``schemas/<bench>.json``), with `COMMON_FIELDS` for the columns the export adds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import jinja2
import pyarrow.parquet as pq
import yaml
from jinja2.sandbox import SandboxedEnvironment

from hvgen import __version__
from hvgen.benchmark_data import card_folders, schema_file
from hvgen.config import RunConfig
from hvgen.generator import Generator
from hvgen.privacy import public_value
from hvgen.stats import compute_stats, size_category
from hvgen.store.catalog import get_meta

if TYPE_CHECKING:
    from hvgen.models import RenderSettings

COMMON_FIELDS: dict[str, str] = {
    "id": "Stable id of the question (a hash of what defines it): the key for joining predictions.",
    "image_id": "Stable id of the image (a hash of the run seed and its prompts).",
    "images": "Provenance: the path of this row's image file inside the hvgen run directory that made the "
    "dataset (images/<xx>/<image_id>.png, or scenarios/<scenario>/<xx>/<id>.png for a perturbed image). "
    "It is not a file of this repository: the picture itself is in `image`.",
    "prompt": "Text-to-image prompt the image was rendered from.",
    "negative_prompt": "Negative prompt used with it.",
    "question": "The question, without options.",
    "instruction": "The full text shown to the model (question, options, answer format).",
    "question_type": "Kind of question.",
    "options": "Answer options, in the order shown (empty for free-form questions).",
    "answer": "The correct answer (one of `options`, or the reference text of a free-form question).",
    "answer_index": "Position of `answer` in `options` (null for free-form questions).",
    "generator": "The hvgen generator that planned the question.",
    "template_version": "Version of the templates and rules that worded it.",
    "scenario": "What was done to the image: clean, corruption, print (a wrong answer drawn on it) or adversarial.",
    "scenario_params": "JSON of the scenario's parameters for this image (corruption type and severity, printed "
    "text and placement, attack, ε and the surrogate's answers ...); {} for clean.",
    "image": "The image the question is about (a `datasets.Image`: decoded to a PIL image on access).",
    "frame_images": "The row's further images, in order (a pair's second face, a clip's sampled frames), "
    "each a `datasets.Image`; empty for a one-image question.",
    "image_file": "Image-once layout: the file name of the row's picture in the `<config>_images` config.",
    "frame_files": "Image-once layout: the file names of the row's further images in the `<config>_images` config.",
    "condition_image": "The ControlNet condition image the picture was rendered from (a `datasets.Image`), drawn "
    "by hvgen from the record's `condition` (recipe and parameters) and seeded by the image seed.",
    "condition_file": "The condition image's file name in the `<config>_images` config (image-once layout).",
}


def _to_yaml(value: Any) -> str:
    return yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False).rstrip()


def public_config(data: dict[str, Any]) -> dict[str, Any]:
    return public_value(data)


def card_environment(benchmark: str) -> SandboxedEnvironment:
    env = SandboxedEnvironment(
        loader=jinja2.FileSystemLoader([str(folder) for folder in card_folders(benchmark)]),
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
    settings: RenderSettings,
    stats: dict[str, Any] | None = None,
    incomplete: str | None = None,
    eval_split: str | None = None,
) -> str:
    """The card's markdown. The caller hands over everything the card states: the generator, the
    sampler `settings` the images were rendered with, what was exported; `incomplete` (what
    planned work is missing) is stated near the top; `eval_split` is the split the harness
    formats evaluate."""
    stats = stats or compute_stats(con, generator.stats_columns)
    from hvgen.publish.plots import write_plots

    plots = write_plots(stats, export_dir)
    from hvgen.publish.quality_card import quality_summary

    quality = quality_summary(run_dir, export_dir)
    total_rows = sum(item.rows for item in exported if item.kind == "questions")
    splits_of = {item.name: item.splits or {config.export.split: item.rows} for item in exported}
    configs_yaml = [
        {
            "config_name": item.name,
            "data_files": [
                {"split": split, "path": f"data/{item.name}/{split}-*.parquet"}
                for split in splits_of[item.name]
            ],
        }
        for item in exported
    ]
    if configs_yaml:
        configs_yaml[0]["default"] = True
    # Split sizes per config: the Hub shows them, `datasets` checks num_examples on load, and they
    # make `datasets`' cache key differ between two exports (it hashes the card's configs and
    # infos, not the files, so two `export/` folders with identical YAML would share a cache entry).
    # `datasets` reads the split sizes only when each has name, num_examples and num_bytes (else it
    # warns on every load and checks nothing); num_bytes is the data's uncompressed size.
    dataset_info_yaml = []
    for item in exported:
        parquet = [export_dir / f for f in item.files if f.endswith(".parquet")]
        split_bytes = {
            split: sum(_uncompressed_bytes(p) for p in parquet if p.name.startswith(f"{split}-"))
            for split in splits_of[item.name]
        }
        dataset_info_yaml.append(
            {
                "config_name": item.name,
                "splits": [
                    {"name": split, "num_bytes": split_bytes[split], "num_examples": rows}
                    for split, rows in splits_of[item.name].items()
                ],
                "download_size": sum(path.stat().st_size for path in parquet),
                "dataset_size": sum(split_bytes.values()),
            }
        )
    context = {
        "title": generator.title,
        "benchmark": generator.name,
        "size_category": size_category(max(total_rows, 1)),
        "configs_yaml": configs_yaml,
        "dataset_info_yaml": dataset_info_yaml,
        "exported": exported,
        "layout": config.export.layout,
        "split": _example_split(splits_of[exported[0].name]) if exported else config.export.split,
        "eval_split": eval_split or config.export.split,
        "all_splits": sorted({s for splits in splits_of.values() for s in splits}),
        "stats": stats,
        "plots": plots,
        "quality": quality,
        "config_yaml": _to_yaml(public_config(config.to_dict())),
        "model": public_value(config.render.model),
        "controlnet": public_value(config.render.controlnet) if config.render.controlnet else None,
        "render": config.render,
        "incomplete": incomplete,
        "settings": settings,
        "seed": config.seed,
        "hvgen_version": __version__,
        "generator": generator.card_context(),
        "fields": _field_table(generator, exported, export_dir),
        "build": public_value(get_meta(con, "build")),
        "plan_notes": (get_meta(con, "plan") or {}).get("notes", []),
        "twins": public_value(config.twins),  # a twin split (`hvgen twins`): its release and seed
    }
    return card_environment(generator.name).get_template(f"{generator.name}.md.j2").render(context)


def _uncompressed_bytes(path: Path) -> int:
    metadata = pq.ParquetFile(path).metadata
    return sum(metadata.row_group(i).total_byte_size for i in range(metadata.num_row_groups))


def _field_table(generator: Generator, exported: list[Any], export_dir: Path) -> list[dict[str, str]]:
    """One row per column of the exported parquet: name, type, what it holds."""
    from datasets import Features

    files = [export_dir / f for item in exported for f in item.files if f.endswith(".parquet")]
    if not files:
        return []
    features = Features.from_arrow_schema(pq.read_schema(files[0]))
    schema = schema_properties(generator.schema)
    rows = []
    for name, feature in features.items():
        rows.append(
            {"name": name, "type": _type_name(feature), "description": field_description(schema, name)}
        )
    return rows


def field_description(schema: dict[str, Any], name: str) -> str:
    """What a column holds: the benchmark schema's description, else the engine's (`COMMON_FIELDS`);
    '' when neither says (tests/test_card_fields.py keeps that from happening)."""
    description = (schema.get(name) or {}).get("description") or COMMON_FIELDS.get(name, "")
    return " ".join(description.split())


def schema_properties(name: str) -> dict[str, Any]:
    import json

    try:
        text = schema_file(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    return json.loads(text).get("properties", {})


def _type_name(feature: Any) -> str:
    """A `datasets` feature as a short type name: string, int64, list of string, image, struct {a, b}."""
    import datasets
    from datasets import Image, Sequence, Value

    lists = (Sequence, getattr(datasets, "List", Sequence))  # `List` exists from datasets 4
    if isinstance(feature, Image):
        return "image"
    if isinstance(feature, Value):
        return feature.dtype
    if isinstance(feature, lists) and not isinstance(feature, dict):
        return f"list of {_type_name(feature.feature)}"
    if isinstance(feature, list) and feature:
        return f"list of {_type_name(feature[0])}"
    if isinstance(feature, dict):
        return "struct {" + ", ".join(feature) + "}"
    return type(feature).__name__


def _example_split(splits: dict[str, int]) -> str:
    """The split the card's loading example names: "test" when the config has it."""
    return "test" if "test" in splits else next(iter(splits))
