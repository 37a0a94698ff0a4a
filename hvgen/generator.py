"""What a benchmark generator is, and the registry the engine finds them in.

A benchmark = a generator package (``generators/<bench>/``) + a template folder + a schema + a
dataset card. The engine never names a benchmark: every generator, built-in or third-party, is
declared in the ``hvgen.generators`` entry-point group (hvgen's own in its pyproject.toml), which
`generators()` loads; the CLI builds one command per registered generator. This module imports
none of them (no cycle): an entry point's import registers its class.
"""

from __future__ import annotations

import inspect
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, ClassVar

from hvgen.benchmark_data import register_data
from hvgen.errors import HvgenError, unknown_name_error
from hvgen.records import Record
from hvgen.seeding import derive_seed, stable_id
from hvgen.templating import TemplateSet
from hvgen.vocab import Vocabulary


@dataclass
class PlanRequest:
    """Everything a generator needs to plan: all randomness must come from `run_seed`."""

    run_seed: int
    num: int
    options: dict[str, Any]
    vocab_dir: Path | None = None
    templates_dir: Path | None = None
    # The size (width, height) the render stage will draw the run's images at, when the run's
    # render settings fix it: a planner that lays out conditions in pixels (HERM --synthetic)
    # composes at it. Such a planner says so (`plans_at_image_size`): the size then joins the
    # plan's fingerprint.
    image_size: tuple[int, int] | None = None


class ItemRecords(Sequence[Record]):
    """A plan's records made item by item (an image and its questions): `records_of(item)` must
    depend on its item alone, never on the records of earlier items, so the plan stage may make
    the records of several items at once in forked worker processes (hvgen.stages.plan_workers)
    and still write the same records.jsonl (records are sorted by id). Iterating makes them in
    item order here; `len`, indexing and `==` make them all once and keep the list.

    `items` may be an iterator that makes the items as they are asked for (Dysca draws its
    images one after the other): the workers then start on the first items while the next ones
    are made (`chunks`); `size` says about how many will come (how many workers to start)."""

    def __init__(
        self, items: Iterable[Any], records_of: Callable[[Any], list[Record]], size: int | None = None
    ) -> None:
        self._source: Iterator[Any] | None = None if isinstance(items, Sequence) else iter(items)
        self.items: list[Any] = list(items) if self._source is None else []  # the items made so far
        self.records_of = records_of
        self.size = len(self.items) if size is None else size
        self._all: list[Record] | None = None

    @property
    def streamed(self) -> bool:
        """Whether items are still to be made."""
        return self._source is not None

    def _each(self) -> Iterator[Any]:
        """Every item in order: those made, then the rest as they are made (kept in `items`)."""
        index = 0
        while True:
            if index < len(self.items):
                yield self.items[index]
                index += 1
            elif self._source is None:
                return
            else:
                for item in self._source:
                    self.items.append(item)
                    break
                else:
                    self._source = None

    def every_item(self) -> list[Any]:
        """All the items (those still to come made now)."""
        for _ in self._each():
            pass
        return self.items

    def chunks(self, size: int) -> Iterator[list[Any]]:
        """The items `size` at a time, each chunk as soon as it is made."""
        chunk: list[Any] = []
        for item in self._each():
            chunk.append(item)
            if len(chunk) >= size:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def records_in(self, start: int, stop: int) -> Iterator[Record]:
        """The records of items[start:stop], in item order (the items up to `stop` made first)."""
        if self._source is not None and len(self.items) < stop:
            for made, _ in enumerate(self._each(), 1):
                if made >= stop:
                    break
        yield from self.records_from(self.items[start:stop])

    def records_from(self, items: Iterable[Any]) -> Iterator[Record]:
        """The records of `items` (some of this plan's), in their order."""
        for item in items:
            yield from self.records_of(item)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._all) if self._all is not None else self.records_from(self._each())

    def _list(self) -> list[Record]:
        if self._all is None:
            self._all = list(self.records_from(self._each()))
        return self._all

    def __len__(self) -> int:
        return len(self._list())

    def __getitem__(self, index: Any) -> Any:
        return self._list()[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and self._list() == list(other)

    __hash__ = None  # type: ignore[assignment]


@dataclass
class PlanResult:
    """A plan. `records` may be a list, or an iterator that yields them one by one (a plan too
    large to hold: the plan stage validates, stages and sorts it by id in bounded memory); it
    is consumed once. A lazy generator may keep appending to `warnings` and `notes` while it
    yields: the stage reads them after the last record."""

    records: Iterable[Record]  # or an `ItemRecords`: made in several processes when the plan is large
    warnings: list[str] = field(default_factory=list)
    # Facts about the plan worth a line in its summary (e.g. how far the vocabularies reach).
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class ExportConfig:
    """One `load_dataset(export, name)` config: a scenario's samples filtered by a SQL predicate."""

    name: str
    scenario: str
    where: str = "TRUE"
    # Leave the config out when no question falls in it (a task a small source data set lacks),
    # rather than export an empty config that `load_dataset` cannot read.
    skip_if_empty: bool = False


class Generator(ABC):
    """Turns vocabularies + templates into schema-valid records (one per question).

    Each record carries `image_id`, `prompt`, `negative_prompt` and `image_seed`; the engine
    renders one image per distinct `image_id`. A question about several images (a pair, a
    clip's frames) also lists them in `frames` ([{image_id, prompt, negative_prompt,
    image_seed}, ...]): they are rendered or supplied like the primary image, and the export
    holds them, in order, in a `frame_images` column (a list of `datasets.Image`).
    """

    name: ClassVar[str]
    title: ClassVar[str]
    schema: ClassVar[str]
    template_version: ClassVar[str]
    default_num: ClassVar[int] = 100
    # Scenarios whose perturbation makes sense for this benchmark's questions (None = all).
    supported_scenarios: ClassVar[tuple[str, ...] | None] = None
    stats_columns: ClassVar[tuple[str, ...]] = ("question_type",)
    # The record field evaluation toolkits should group scores by (VLMEvalKit's `category`).
    category_column: ClassVar[str] = "question_type"
    # Photographs that already exist (a COCO folder): the render stage copies each image from
    # `source_image(prompt)` instead of running a text-to-image model. A generator that renders
    # in some runs and supplies in others sets it per instance in `__init__`.
    supplies_images: bool = False
    # A record column naming each row's split (train / val / test, a source's official
    # partition): the export writes one `load_dataset` split per value. None: one split, "test".
    split_column: ClassVar[str | None] = None
    # The groups of the engine's shared options this benchmark can use (hvgen.cli.options.OPTION_GROUPS):
    # "text_to_image" (--model, --steps, --guidance ...: it renders prompts with a model) and
    # "perturbations" (--scenario and the corruption / attack options). `hvgen <bench> --help`
    # offers only these; a benchmark that only copies photographs declares neither, one that
    # both copies and renders (a --synthetic mode) declares "text_to_image".
    cli_option_groups: ClassVar[frozenset[str]] = frozenset({"text_to_image", "perturbations"})
    # The arguments of the example in `hvgen <bench> --help`.
    cli_example: ClassVar[str] = "--model tiny --num 20 --out runs/try"
    # Whether `score` grades free-form answers with an LLM judge: `hvgen score --judge` then passes
    # it a `hvgen.judges.JudgeSpec` as `judge=` (scorers without a judge never get that argument).
    uses_judge: ClassVar[bool] = False
    # The package holding the benchmark's data: None for hvgen's built-ins (hvgen.templates,
    # hvgen.schemas, hvgen.dataset_cards); a plug-in names its own package, which holds
    # templates/<name>/, schemas/<schema>.json and dataset_cards/<name>.md.j2 (hvgen.benchmark_data).
    data_package: ClassVar[str | None] = None

    def __init__(self, request: PlanRequest) -> None:
        self.request = request
        self.last_warnings: list[str] = []
        self.last_notes: list[str] = []
        self.vocab = Vocabulary(self.name, request.vocab_dir)
        self.templates = TemplateSet(self.name, request.templates_dir)

    @staticmethod
    @abstractmethod
    def cli_options() -> None:
        """Declare the benchmark's CLI options as this function's (typer-annotated) parameters."""

    @abstractmethod
    def plan(self) -> PlanResult: ...

    @classmethod
    def option_defaults(cls) -> dict[str, Any]:
        """The benchmark's own options and their defaults, from `cli_options`' signature."""
        return {
            name: param.default
            for name, param in inspect.signature(cls.cli_options).parameters.items()
            if param.default is not inspect.Parameter.empty
        }

    @classmethod
    def option_parsers(cls) -> dict[str, tuple[str, Any]]:
        """option → (its command-line spelling, the `parser=` its typer.Option declares): how a
        value of the benchmark's own options is range-checked, read from a config file too."""
        found: dict[str, tuple[str, Any]] = {}
        try:
            hints = typing.get_type_hints(cls.cli_options, include_extras=True)
        except Exception:  # an annotation that does not resolve: nothing to read from it
            return found
        for name, hint in hints.items():
            for meta in getattr(hint, "__metadata__", ()):
                parser = getattr(meta, "parser", None)
                if parser is not None:
                    spellings = [d for d in getattr(meta, "param_decls", ()) or () if d.startswith("--")]
                    found[name] = ((spellings or ["--" + name.replace("_", "-")])[0].split("/")[0], parser)
        return found

    # Options that name a file or folder (HERM's --coco-keypoints, --images ...): stored absolute,
    # so a rerun from another folder or spelled './x' or 'x/' is the same run, and a stage command
    # run elsewhere reads the same files.
    path_options: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def resolved_options(cls, options: dict[str, Any]) -> dict[str, Any]:
        """`options` with every default filled in: what decides the plan, so that leaving an
        option out and passing its default value are the same run; paths made absolute."""
        resolved = {**cls.option_defaults(), **options}
        for key in cls.path_options:
            if isinstance(resolved.get(key), str) and resolved[key]:
                resolved[key] = absolute_path(resolved[key])
        return resolved

    def name_list_options(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        """The options that take 'all' or a comma list of names: option → (valid names, aliases).
        The engine spells their values one way (`canonical_options`), so a rerun that names the
        same selection otherwise (every style listed, an alias, another order) is the same run."""
        return {}

    def canonical_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """`options` with each name list in one spelling: 'all' when every name is chosen, else
        the names in their canonical order. A value with an unknown name is left as given (the
        generator's own parsing names the mistake)."""
        result = dict(options)
        for key, (valid, aliases) in self.name_list_options().items():
            if key in result:
                result[key] = canonical_name_list(result[key], valid, aliases)
        return result

    # The id and seed conventions every generator shares (DESIGN §3): ids hash the content that
    # defines them; seeds derive from (run seed, id), so a new run seed gives a fresh split.
    def image_id(self, *content: object) -> str:
        return stable_id(self.name, self.request.run_seed, *content)

    def image_seed(self, image_id: str) -> int:
        return derive_seed(self.request.run_seed, "image", image_id)

    def record_seed(self, record_id: str) -> int:
        return derive_seed(self.request.run_seed, "record", record_id)

    def export_configs(self, scenarios: list[str]) -> list[ExportConfig]:
        """Default: one config per scenario, named after it."""
        return [ExportConfig(name=scenario, scenario=scenario) for scenario in scenarios]

    def source_image(self, prompt: str) -> Path:
        """The file an image comes from, for generators that supply their images: the image's
        `prompt` names it (e.g. a COCO file name)."""
        raise NotImplementedError(f"benchmark '{self.name}' renders its images; it supplies none.")

    def embeds_images(self) -> bool:
        """Whether the export embeds the images (False: rows name their source instead, for
        images whose licence forbids redistribution)."""
        return True

    def embed_column(self) -> str | None:
        """A boolean record column deciding row by row whether the export embeds the image (a
        false row keeps its record, image left out: a source whose licence forbids
        redistribution), or None to embed every row (when `embeds_images`)."""
        return None

    def label_checker(self) -> str | None:
        """A CLIP model (id, folder or "tiny") with which `hvgen build` checks that each rendered
        image shows its labels (see `label_checks`), or None: no check."""
        return None

    def label_checks(self, record: Record) -> list[tuple[list[str], int]]:
        """Zero-shot checks of a record's image: (texts, index of the true one) each; the build
        stage drops the image when CLIP ranks another text first."""
        return []

    @classmethod
    def publish_warnings(cls, run_dir: Path, options: dict[str, Any]) -> list[str]:
        """What `hvgen push` should warn about before uploading this run's export (e.g. images
        whose licence restricts redistribution); `options` are the run's resolved options."""
        return []

    def listings(self) -> dict[str, list[str]]:
        """Named lists of this benchmark's choices (styles, subtasks, categories ...) for
        `hvgen list`: what a user may pass to its options."""
        return {}

    def card_context(self) -> dict[str, Any]:
        """Extra variables for the dataset card template."""
        return {}

    @classmethod
    def plans_at_image_size(cls, options: dict[str, Any]) -> bool:
        """Whether a plan with these options depends on `PlanRequest.image_size`."""
        return False

    # How a user makes this benchmark plan condition images for a --controlnet (None: it never does).
    condition_hint: ClassVar[str | None] = None

    @classmethod
    def planned_condition(cls, options: dict[str, Any]) -> str | None:
        """The condition recipe a plan with these options gives its records (None: no condition
        images), so a --controlnet with nothing to follow, or conditions with no ControlNet, are
        refused before planning."""
        return options.get("condition") or None

    @classmethod
    def photographic(cls, options: dict[str, Any]) -> bool:
        """Whether a run with these (resolved) options supplies photographs rather than rendering
        (a generator that decides per run overrides this; its options' paths need not exist)."""
        return bool(cls.supplies_images) or "text_to_image" not in cls.cli_option_groups

    # Photographs have no image seed to redraw: `hvgen twins` pairs each released question with a
    # question about another photograph of the same label and stratum (hvgen.photo_twins).
    @classmethod
    def photo_twin_options(cls, released: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
        """The twin run's options: the release's `released` options with the photographs' sources
        the user gave (`given`, option name → value), or a one-line refusal when they would not
        be the release's sources."""
        raise HvgenError(
            f"twins of {cls.name}'s photographs are not supported: a photograph cannot be redrawn with a new seed, "
            "and this benchmark does not say which other photograph shares a question's label and stratum."
        )

    def photo_twins(self, released: list[Record], twin_seed: int) -> Any:
        """Each released question's twin about another photograph (`hvgen.photo_twins.Pairing`)."""
        raise HvgenError(f"twins of {self.name}'s photographs are not supported.")

    @classmethod
    def score(
        cls, records: list[Record], predictions_path: Path, embedder: str | None = None, judge: Any = None
    ) -> dict[str, Any]:
        """Score a model's predictions against the records (`hvgen score <bench> ...`).

        Returns a JSON-serialisable report; `report["table"]` (list of row dicts), when present,
        is printed on the terminal. `hvgen quality` reads two more keys when present:
        `report["score"]`, the benchmark's headline number, and `report["items"]`, each answered
        item's score ({item key: 0/1, or a similarity}). `embedder` is a sentence-embedding
        model (id or folder) for benchmarks that score free text by similarity; `judge` (a
        `hvgen.judges.JudgeSpec` or None) is passed only to generators with `uses_judge`.
        """
        raise NotImplementedError(f"benchmark '{cls.name}' has no scorer yet.")

    @classmethod
    def has_scorer(cls) -> bool:
        """Whether the benchmark overrides `score` (`hvgen score` / `hvgen quality` can use it)."""
        return cls.score.__func__ is not Generator.score.__func__  # type: ignore[attr-defined]


def split_evenly(total: int, parts: int) -> list[int]:
    """`total` items dealt to `parts` groups as evenly as possible (the first groups get the
    remainder): how generators share --num between subtasks, types or categories."""
    if parts == 0:
        return []
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


ENTRY_POINT_GROUP = "hvgen.generators"
_REGISTRY: dict[str, type[Generator]] = {}
_LOADED = False


def register_generator(cls: type[Generator]) -> type[Generator]:
    """Class decorator: make a generator available to the CLI and the stages (an entry point that
    names a generator class registers it without the decorator)."""
    _REGISTRY[cls.name] = cls
    register_data(cls.name, cls.schema, cls.data_package)
    return cls


def _load_generators() -> None:
    """Load every entry point of the `hvgen.generators` group: each names a generator class
    (`name = "package.module:Class"`) or a module whose import registers one under `name`."""
    global _LOADED
    if _LOADED:
        return
    _LOADED = True  # an entry point's import may itself ask for the registry
    try:
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            _load_entry_point(entry)
    except BaseException:
        _LOADED = False
        raise
    if not _REGISTRY:
        _LOADED = False
        source = Path(__file__).resolve().parent
        raise HvgenError(
            f"no benchmark is registered: the hvgen imported from {source} has no installed metadata declaring "
            f"the '{ENTRY_POINT_GROUP}' entry points. Install it (`pip install .`, or `pip install -e .` in a "
            f"checkout, again after pyproject.toml changes), and run from outside the checkout if it is not installed."
        )


def _shadowed_install_hint(error: Exception) -> str:
    """Why `hvgen.generators` can be missing: `python -m hvgen` run inside a source checkout imports the
    checkout's hvgen/ (the current folder comes first) instead of the installed package, and only an
    install maps the checkout's top-level generators/ to `hvgen.generators`."""
    if not (
        isinstance(error, ModuleNotFoundError) and (error.name or "").startswith(f"{__package__}.generators")
    ):
        return ""
    source = Path(__file__).resolve().parent
    if not (source.parent / "generators").is_dir():
        return ""
    return (
        f". The hvgen imported from {source} is a source checkout, not the installed package (`python -m` "
        "puts the current folder first): run the `hvgen` command, run from another folder, or install the "
        "checkout editable (`pip install -e .`)."
    )


def _load_entry_point(entry: Any) -> None:
    try:
        loaded = entry.load()
    except Exception as error:
        raise HvgenError(
            f"benchmark '{entry.name}' ({ENTRY_POINT_GROUP} entry point '{entry.value}') failed to load: "
            f"{type(error).__name__}: {error}{_shadowed_install_hint(error)}"
        ) from error
    if isinstance(loaded, type) and issubclass(loaded, Generator):
        register_generator(loaded)
    if entry.name not in _REGISTRY:
        raise HvgenError(
            f"{ENTRY_POINT_GROUP} entry point '{entry.name} = {entry.value}' registered no benchmark named "
            f"'{entry.name}': point it at the generator class, whose `name` must be '{entry.name}'."
        )


def generators() -> dict[str, type[Generator]]:
    """Every registered benchmark, by name (sorted: the same order whatever the install order)."""
    _load_generators()
    return dict(sorted(_REGISTRY.items()))


def get_generator(name: str) -> type[Generator]:
    registry = generators()
    if name not in registry:
        raise unknown_name_error("benchmark", name, registry)
    return registry[name]


def canonical_name_list(value: Any, valid: list[str], aliases: dict[str, str]) -> Any:
    """One spelling of a name-list option value (see `Generator.canonical_options`)."""
    if not isinstance(value, (str, list)):
        return value
    raw = value.split(",") if isinstance(value, str) else [str(item) for item in value]
    items = [aliases.get(item.strip(), item.strip()) for item in raw if item.strip()]
    if not items or any(item != "all" and item not in valid for item in items):
        return value
    chosen = set(items)
    if "all" in chosen or chosen >= set(valid):
        return "all"
    return ",".join(name for name in valid if name in chosen)


def absolute_path(value: str) -> str:
    """A path option as stored: absolute, '~' expanded, no trailing slash or './' (the file
    itself is checked where it is read)."""
    return str(Path(value).expanduser().resolve())
