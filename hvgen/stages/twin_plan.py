"""The plan of a twin run: the release's records with new image seeds.

A twin run is an ordinary run directory whose config names the release it redraws
(`RunConfig.twins`, a `TwinSpec`) and holds a copy of the released records
(``twins/release.jsonl``). Its plan stage does not call the benchmark's generator: it reads that
copy, checks it is the one the config names (sha256), and gives each record a new image seed
H(twin seed, "twin-image", image id) — every question of an image gets the same new seed, as in
the release — leaving every other field as released. The other stages (render, scenario, build,
export) are the benchmark's own, so a twin run resumes, shards and exports like any run.

Photographs have no image seed to redraw: the twins of a photographic release
(`TwinSpec.kind == "photograph"`) are questions about other photographs of the same label and
stratum, paired by `hvgen twins` (hvgen.photo_twins) and stored in ``twins/photographs.jsonl``,
which the plan reads instead (checked against `TwinSpec.twins_sha256`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError
from hvgen.generator import Generator, PlanResult
from hvgen.ranges import MAX_SEED
from hvgen.records import Record
from hvgen.seeding import derive_seed
from hvgen.store.layout import PHOTO_TWINS_FILE, TWIN_RELEASE_FILE


@dataclass(frozen=True)
class TwinSpec:
    """What a twin run redraws: the release (a public name, its layout, how many questions and
    the sha256 of its records as hvgen reads them) and the twin seed. `kind` "photograph": the
    twins are other photographs (their records' sha256, how many questions have one, and the
    reasons of those that do not)."""

    release: str
    layout: str
    questions: int
    records_sha256: str
    seed: int
    release_seed_known: bool = True
    kind: str = "render"
    twins_sha256: str = ""
    paired: int | None = None
    unpaired: dict[str, int] = field(default_factory=dict)

    def to_config(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_config(cls, data: dict[str, Any], origin: str = "config") -> TwinSpec:
        try:
            spec = cls(**data)
        except TypeError as error:
            raise HvgenError(
                f"{origin}: 'twins' must hold {', '.join(cls.__dataclass_fields__)} ({error})."
            ) from None
        if spec.kind not in ("render", "photograph"):
            raise HvgenError(f"{origin}: twins.kind must be 'render' or 'photograph', got {spec.kind!r}.")
        if not isinstance(spec.seed, int) or isinstance(spec.seed, bool) or not 0 <= spec.seed <= MAX_SEED:
            raise HvgenError(f"{origin}: twins.seed must be an integer in [0, 2^63 - 1], got {spec.seed!r}.")
        return spec


def twin_image_seed(twin_seed: int, image_id: str) -> int:
    """The twin image's seed: another key than the release's H(run seed, "image", id), so a twin
    seed equal to the release's run seed still gives new images."""
    return derive_seed(twin_seed, "twin-image", image_id)


def twin_record(record: Record, twin_seed: int) -> Record:
    """The released record with new image seeds (its own image's and its frames')."""
    twin = dict(record)
    twin["image_seed"] = twin_image_seed(twin_seed, str(record["image_id"]))
    if record.get("frames"):
        twin["frames"] = [
            {**frame, "image_seed": twin_image_seed(twin_seed, str(frame["image_id"]))}
            for frame in record["frames"]
        ]
    return twin


def records_text(records: list[Record]) -> str:
    """The release copy's text: one sorted-key JSON record per line, sorted by id."""
    ordered = sorted(records, key=lambda record: str(record["id"]))
    return "".join(json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n" for record in ordered)


def sha256_text(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def released_records(run_dir: Path, spec: TwinSpec) -> Iterator[Record]:
    """The release copy of a twin run, checked against its config."""
    return _hashed_records(
        run_dir / TWIN_RELEASE_FILE, spec.records_sha256, "the release this twin run was made from"
    )


def photo_twin_records(run_dir: Path, spec: TwinSpec) -> Iterator[Record]:
    """The paired photographic twins of a twin run, checked against its config."""
    return _hashed_records(run_dir / PHOTO_TWINS_FILE, spec.twins_sha256, "the twins this run paired")


def _hashed_records(path: Path, sha256: str, what: str) -> Iterator[Record]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise HvgenError(
            f"{path}: the twin run's copy of {what} cannot be read ({error}). Make the twins again with "
            "`hvgen twins RELEASE --out RUN --overwrite`."
        ) from None
    if sha256_text(text) != sha256:
        raise HvgenError(
            f"{path} is not {what} (its sha256 differs from the config's twins section). Make the twins again "
            "with `hvgen twins RELEASE --out RUN --overwrite`."
        )
    for line in text.splitlines():
        yield json.loads(line)


class TwinPlanner:
    """The benchmark's generator with `plan` replaced: the plan stage sees the release's records
    with twin image seeds; everything else (schema, vocabularies' warnings) is the generator's."""

    def __init__(self, base: Generator, run_dir: Path, spec: TwinSpec) -> None:
        self.base = base
        self.run_dir = run_dir
        self.spec = spec

    def plan(self) -> PlanResult:
        note = (
            f"twins of release '{self.spec.release}' ({self.spec.questions} questions, records sha256 "
            f"{self.spec.records_sha256[:12]}…), twin seed {self.spec.seed}"
        )
        if self.spec.kind == "photograph":
            left = sum(self.spec.unpaired.values())
            reasons = "; ".join(f"{count}: {reason}" for reason, count in self.spec.unpaired.items())
            notes = [f"{note}; each twin is another photograph of the same label and stratum"]
            warnings = (
                [f"{left} released questions have no twin and are left out ({reasons})."] if left else []
            )
            return PlanResult(
                records=photo_twin_records(self.run_dir, self.spec), warnings=warnings, notes=notes
            )
        records = (
            twin_record(record, self.spec.seed) for record in released_records(self.run_dir, self.spec)
        )
        return PlanResult(records=records, notes=[note])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.base, name)
