"""Where each benchmark's data live: its template folder, JSON schema and dataset card.

The built-in benchmarks ship theirs in the `hvgen.templates`, `hvgen.schemas` and
`hvgen.dataset_cards` packages (``templates/<bench>/``, ``schemas/<bench>.json``,
``dataset_cards/<bench>.md.j2`` in the checkout). A plug-in benchmark ships the same three
folders inside its own package and names that package in `Generator.data_package`;
`register_generator` records it here. The modules that read the data (templating, vocab, records,
the card) ask this module, so a plug-in's files are found exactly as the built-ins' are. Nothing
here imports a generator: the registry fills it.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

TEMPLATES, SCHEMAS, CARDS = "templates", "schemas", "dataset_cards"
_BUILTIN = {TEMPLATES: "hvgen.templates", SCHEMAS: "hvgen.schemas", CARDS: "hvgen.dataset_cards"}

_PACKAGE_OF_BENCHMARK: dict[str, str] = {}  # plug-in benchmark name → its data package
_PACKAGE_OF_SCHEMA: dict[str, str] = {}  # plug-in schema name → its data package


def register_data(benchmark: str, schema: str, package: str | None) -> None:
    """Record where `benchmark`'s data live: `package` (a plug-in's), or None for hvgen's own."""
    for table, key in ((_PACKAGE_OF_BENCHMARK, benchmark), (_PACKAGE_OF_SCHEMA, schema)):
        if package is None:
            table.pop(key, None)
        else:
            table[key] = package


def _folder(kind: str, package: str | None) -> Path:
    """A data folder: the built-in package itself, or the `kind` folder inside a plug-in's package
    (read through importlib.resources, so it works from a wheel, an editable install or a checkout)."""
    if package is None:
        return Path(str(resources.files(_BUILTIN[kind])))
    return Path(str(resources.files(package) / kind))


def template_dir(benchmark: str) -> Path:
    """The folder of a benchmark's shipped templates and vocabularies."""
    return _folder(TEMPLATES, _PACKAGE_OF_BENCHMARK.get(benchmark)) / benchmark


def schema_file(schema: str) -> Path:
    """The JSON Schema file of one record of a benchmark (`Generator.schema` names it)."""
    return _folder(SCHEMAS, _PACKAGE_OF_SCHEMA.get(schema)) / f"{schema}.json"


def card_folders(benchmark: str) -> list[Path]:
    """Where the card template `<benchmark>.md.j2` is looked up: the benchmark's own card folder,
    then hvgen's (whose `_base.md.j2` every card may extend)."""
    package = _PACKAGE_OF_BENCHMARK.get(benchmark)
    own = [] if package is None else [_folder(CARDS, package)]
    return [*own, _folder(CARDS, None)]
