"""Export formats for the evaluation code people already run. Imported by the export stage,
scoring, the CLI and benchmark plug-ins (which register their release layouts here).

The Hub folder (``RUN/export``: parquet + card) is what `datasets.load_dataset` reads and what
`hvgen push` uploads. Other consumers read other layouts: the original benchmarks' own json /
folder trees, VLMEvalKit's TSVs, lmms-eval's task YAML. Each is an `ExportFormat` that turns
the same per-config samples into its layout under ``RUN/formats/<name>/`` — beside the Hub
folder, never inside it, so `push` uploads exactly the dataset.

A format receives, per export config, one row per question (the kept records joined with that
config's scenario image): every record field, ``scenario``, ``scenario_params``, ``images``
(naming *this config's* image, run-dir relative) and ``_image_path`` (the same path, for
`FormatContext.read_image`, which returns the image's verified bytes). Formats are imported
lazily, like scenarios: a run that writes none pays nothing for them.
"""

from __future__ import annotations

import importlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from hvgen.errors import HvgenError, parse_name_list
from hvgen.store.layout import FORMATS_DIR, ordered_splits  # noqa: F401 - FORMATS_DIR re-exported

if TYPE_CHECKING:
    import pyarrow as pa

    from hvgen.config import RunConfig
    from hvgen.generator import Generator


@dataclass
class ConfigSamples:
    """The rows of one export config (`load_dataset(export, name)`), images not yet read."""

    name: str
    scenario: str
    table: pa.Table


@dataclass
class FormatContext:
    run_dir: Path
    config: RunConfig
    generator: Generator
    hub_export: Path
    """The Hub folder (``RUN/export``), already written: formats that load it point here."""
    read_image: Callable[[str], bytes]
    """Bytes of a run-dir-relative image path, checked to lie inside the run dir and to match
    the hash its stage recorded."""
    split: str | None = None
    """The one split every harness format evaluates (`harness_split`); None: the export's one split."""


class ExportFormat(ABC):
    """One consumer's layout. `write` fills `out` (an empty staging folder) and returns the
    files it wrote, relative to `out`; the engine swaps the folder in atomically."""

    name: ClassVar[str]
    description: ClassVar[str]
    # Benchmarks this format applies to (None = any benchmark).
    benchmarks: ClassVar[tuple[str, ...] | None] = None
    # Whether `--format all` includes it (a training layout such as ctrlora is asked for by name).
    in_all: ClassVar[bool] = True

    @abstractmethod
    def write(self, ctx: FormatContext, configs: list[ConfigSamples], out: Path) -> list[str]: ...

    def check(self, config: RunConfig) -> None:
        """Refuse, before anything is exported, a run this format cannot be written for."""
        return None

    def next_steps(self, out: Path) -> str:
        """One or two lines telling the user how to run the consumer on `out`."""
        return ""


def harness_split(requested: str | None, found: Iterable[str]) -> str:
    """The split the harness formats (VLMEvalKit, lmms-eval) evaluate, the same for every config
    and format: `requested` (``hvgen export --split``), which the export must have, else "test"
    when there is one, else the last of the splits found in train / validation / test order."""
    splits = set(found)
    if requested is not None:
        if requested not in splits:
            raise HvgenError(
                f"--split {requested}: the export has no such split (it has {', '.join(ordered_splits(splits))}); "
                "pick one of those."
            )
        return requested
    if not splits or "test" in splits:
        return "test"
    return ordered_splits(splits)[-1]


def in_split(ctx: FormatContext, samples: ConfigSamples) -> ConfigSamples:
    """`samples` cut to the evaluated split: a benchmark whose rows name their split
    (`Generator.split_column`) exports every split, a harness evaluates one (`ctx.split`)."""
    if ctx.split is None:  # the export's one split: every row
        return samples
    column = ctx.generator.split_column
    if column is None or column not in samples.table.column_names:
        return samples
    import pyarrow.compute as pc  # here: the CLI imports this registry, and pyarrow takes 0.1 s

    default = ctx.config.export.split
    values = pc.fill_null(samples.table.column(column), default)
    return ConfigSamples(samples.name, samples.scenario, samples.table.filter(pc.equal(values, ctx.split)))


def evaluated_split(ctx: FormatContext) -> str:
    """The split name a harness file is in: the chosen one, else the export's one split."""
    return ctx.split or ctx.config.export.split


# Harness formats live here; a benchmark's own release layout lives beside its generator
# (``generators/<bench>/release.py``), which registers it, so the engine never names a benchmark.
_CLASSES: dict[str, tuple[str, str]] = {
    "vlmevalkit": ("hvgen.publish.formats.vlmevalkit", "VLMEvalKitFormat"),
    "lmms-eval": ("hvgen.publish.formats.lmms_eval", "LmmsEvalFormat"),
    "ctrlora": ("hvgen.publish.formats.ctrlora", "CtrLoRAFormat"),
}
FORMAT_ALIASES = {"vlmeval": "vlmevalkit", "lmms_eval": "lmms-eval", "lmmseval": "lmms-eval"}


def format_names() -> list[str]:
    from hvgen.generator import generators

    generators()  # importing the generators registers their release formats
    return list(_CLASSES)


def register_format(name: str, module: str, class_name: str) -> None:
    """Make a format available to `hvgen export --format` (third-party formats may call this)."""
    _CLASSES[name] = (module, class_name)


def get_format(name: str) -> ExportFormat:
    module_name, class_name = _CLASSES[name]
    return getattr(importlib.import_module(module_name), class_name)()


def parse_formats(value: str | list[str] | None, benchmark: str) -> list[ExportFormat]:
    """'all' or names → the formats, refusing one that does not apply to `benchmark`."""
    if not value:
        return []
    names = parse_name_list(value, format_names(), "format", aliases=FORMAT_ALIASES)
    chosen = [get_format(name) for name in names]
    explicit = value not in ("all", ["all"])
    if explicit:
        for fmt in chosen:
            if fmt.benchmarks is not None and benchmark not in fmt.benchmarks:
                raise HvgenError(
                    f"format '{fmt.name}' is for {', '.join(fmt.benchmarks)}, not '{benchmark}': "
                    f"pick another --format (hvgen list formats)."
                )
    return [
        fmt
        for fmt in chosen
        if (fmt.benchmarks is None or benchmark in fmt.benchmarks) and (explicit or fmt.in_all)
    ]
