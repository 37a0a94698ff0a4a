"""Face QA sources: `--source NAME=DIR` → readers → the faces a plan asks about.

Every source is `check()`ed before anything is read, so a wrong folder fails in a second, not
after another source's 200k lines. Faces are drawn in a seeded order (per source), each tested
to decode before it is taken (an undecodable or missing file is skipped and counted, the next
one taken instead): `--num N` takes N faces per source, `--per-label N` up to N faces per label
value of each task (balanced classes; the attribute tasks, being multi-label, take N faces).
"""

from __future__ import annotations

import inspect
import re
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError
from hvgen.readers.faces.base import FaceReader, FaceSample, SourceInfo, face_reader
from hvgen.seeding import derive_seed

from .splits import SplitReport, assign_splits


@dataclass(frozen=True)
class Face:
    """One face a plan asks about, with what the record needs to say where it came from."""

    sample: FaceSample
    info: SourceInfo
    split: str
    tasks: tuple[str, ...]
    prompt: str  # supply key "source:relative/path", or a synthetic face's text-to-image prompt
    file_name: str  # the image's path inside its source folder ("" for a synthetic face)
    frame_files: tuple[str, ...] = ()  # a pair's second face, a clip's sampled frames (in the source folder)
    # A synthetic face's drawn head pose, face box and landmarks (`--condition landmarks`)
    pose: dict[str, Any] | None = field(default=None, hash=False, compare=False)


@dataclass
class SourceReport:
    """What the card says about one source."""

    info: SourceInfo
    samples: int = 0
    unusable_shape: int = 0  # samples of a shape no task reads (e.g. a pair with one image)
    faces: int = 0
    undecodable: int = 0
    missing: int = 0
    reader_skipped: dict[str, int] = field(default_factory=dict)
    splits: SplitReport = field(default_factory=SplitReport)
    label_values: dict[str, list[Any]] = field(default_factory=dict)  # distractors come from these


@dataclass(frozen=True)
class SourceSpec:
    """One `--source NAME=DIR[,KEY=VALUE ...]`: the folder and the reader's keyword options
    (e.g. `dfew=data/dfew,fold=2`, `ffpp=data/ffpp,compression=c40,frames_cache=/tmp/ffpp-frames`)."""

    root: Path
    options: dict[str, Any] = field(default_factory=dict)


def parse_source_specs(specs: list[str]) -> dict[str, SourceSpec]:
    """`["fairface=DIR", "dfew=DIR,fold=2", ...]` → {name: SourceSpec}; each name a registered
    reader, each folder real, each option one its reader takes."""
    sources: dict[str, SourceSpec] = {}
    for spec in specs:
        name, sep, rest = spec.partition("=")
        name = name.strip()
        folder, options = _split_options(rest)
        if not sep or not name or not folder.strip():
            raise HvgenError(f"--source {spec!r}: expected NAME=DIR, e.g. --source fairface=/data/fairface.")
        reader = face_reader(name)  # unknown name: one error with a did-you-mean
        if name in sources:
            raise HvgenError(f"--source {name} is given twice: pass each source once.")
        path = Path(folder.strip()).expanduser()
        if not path.is_dir():
            raise HvgenError(f"--source {name}={folder}: no such folder.")
        sources[name] = SourceSpec(path, _typed_options(name, reader, options))
    return sources


def absolute_source_spec(spec: Any) -> Any:
    """'fairface=./data/ff/' → 'fairface=/abs/data/ff' (options kept): one spelling per folder, so a
    rerun from another folder is the same run. A spec without NAME=DIR is left for the parser."""
    from hvgen.generator import absolute_path

    if not isinstance(spec, str):
        return spec
    name, sep, rest = spec.partition("=")
    folder, options = _split_options(rest)
    if not sep or not name.strip() or not folder.strip():
        return spec
    extra = "".join(f",{key}={value}" for key, value in options.items())
    return f"{name.strip()}={absolute_path(folder.strip())}{extra}"


def _split_options(rest: str) -> tuple[str, dict[str, str]]:
    """'DIR,fold=2,compression=c40' → ('DIR', {...}); a comma not followed by KEY= stays in DIR."""
    parts = rest.split(",")
    options: dict[str, str] = {}
    while len(parts) > 1 and re.fullmatch(r"\s*[A-Za-z_]\w*\s*=.*", parts[-1]):
        key, _, value = parts.pop().partition("=")
        options[key.strip()] = value.strip()
    return ",".join(parts), dict(reversed(list(options.items())))


def _typed_options(name: str, reader: type[FaceReader], options: dict[str, str]) -> dict[str, Any]:
    """Check each option against the reader's keyword parameters and give it their type (a path,
    a '+'-separated list, or text)."""
    accepted = {
        key: param
        for key, param in inspect.signature(reader.__init__).parameters.items()
        if param.kind is inspect.Parameter.KEYWORD_ONLY
    }
    typed: dict[str, Any] = {}
    for key, value in options.items():
        if key not in accepted:
            takes = ", ".join(sorted(accepted)) or "no options"
            raise HvgenError(f"--source {name}: unknown option '{key}'; the {name} reader takes {takes}.")
        annotation = str(accepted[key].annotation)
        typed[key] = (
            Path(value).expanduser()
            if "Path" in annotation
            else value.split("+")
            if "Sequence" in annotation
            else value
        )
    return typed


def open_reader(name: str, spec: SourceSpec, follow_symlinks: bool = False) -> FaceReader:
    """The reader of one source (files linked from outside its folder read only with `follow_symlinks`)."""
    reader = face_reader(name)(spec.root, **spec.options)
    reader.follow_symlinks = follow_symlinks
    return reader


def open_readers(sources: dict[str, SourceSpec], follow_symlinks: bool = False) -> dict[str, FaceReader]:
    """A checked reader per source (`check()` on all of them before any is read)."""
    readers = {name: open_reader(name, spec, follow_symlinks) for name, spec in sources.items()}
    for reader in readers.values():
        reader.check()
    return readers


def uniform_frames(count: int, wanted: int) -> list[int]:
    """`wanted` frame indices spread uniformly over `count` frames (the middle of each of
    `wanted` equal segments, as FFDBackbone and S4D sample clips); every frame if fewer."""
    if count <= wanted:
        return list(range(count))
    return [int((i + 0.5) * count / wanted) for i in range(wanted)]


def _files(sample: FaceSample, frames: int) -> list[Path]:
    """The image files a question about `sample` shows: a face, a pair's two faces, or a clip's
    uniformly sampled frames (primary first for faces and pairs); [] for a malformed sample."""
    if sample.kind == "face" and len(sample.images) == 1:
        return [sample.images[0]]
    if sample.kind == "pair" and len(sample.images) == 2:
        return list(sample.images)
    if sample.kind == "video" and sample.images:
        return [sample.images[i] for i in uniform_frames(len(sample.images), frames)]
    return []


def _decodes(path: Path) -> str | None:
    """None if the image file decodes, else why not ("missing" / "undecodable"). A full decode
    (`verify()` checks little of a JPEG), strict whatever the process set (hvgen.readers.images)."""
    from PIL import Image, UnidentifiedImageError

    from hvgen.readers.images import strict_decoding

    try:
        with strict_decoding(), Image.open(path) as picture:
            picture.load()
    except FileNotFoundError:
        return "missing"
    except (OSError, UnidentifiedImageError, ValueError):
        return "undecodable"
    return None


def select_faces(
    reader: FaceReader,
    run_seed: int,
    shares: dict[str, float],
    tasks_of: Callable[[FaceSample], tuple[str, ...]],
    balance_key: Callable[[FaceSample, str], str | None],
    num: int,
    per_label: int | None,
    frames: int = 8,
) -> tuple[list[Face], SourceReport]:
    """The faces of one source a plan asks about, and the report for its card."""
    info = reader.info
    samples = list(reader.samples())
    report = SourceReport(info=info, samples=len(samples), reader_skipped=dict(reader.skipped),
                          label_values=label_values(samples))  # fmt: skip
    split_of, report.splits = assign_splits(samples, run_seed, shares)
    shaped = [s for s in samples if _files(s, frames)]
    report.unusable_shape = len(samples) - len(shaped)
    asked = [s for s in shaped if s.sample_id in split_of]  # not a pair across splits
    order = sorted(asked, key=lambda s: derive_seed(run_seed, "faceqa-order", info.name, s.sample_id))
    verdicts: dict[str, str | None] = {}

    def usable(sample: FaceSample) -> bool:
        if sample.sample_id not in verdicts:
            problems = [_decodes(path) for path in _files(sample, frames)]
            verdicts[sample.sample_id] = next((p for p in problems if p), None)
        return verdicts[sample.sample_id] is None

    chosen: dict[str, set[str]] = defaultdict(set)  # sample_id → tasks asked of it
    if per_label is None:
        for sample in order:
            if len(chosen) >= num:
                break
            tasks = tasks_of(sample)
            if tasks and usable(sample):
                chosen[sample.sample_id] |= set(tasks)
    else:
        taken: Counter[tuple[str, str]] = Counter()
        for sample in order:
            for task in tasks_of(sample):
                value = balance_key(sample, task)
                if value is None or taken[(task, value)] >= per_label or not usable(sample):
                    continue
                taken[(task, value)] += 1
                chosen[sample.sample_id].add(task)
    reasons = Counter(v for v in verdicts.values() if v)
    report.missing, report.undecodable = reasons["missing"], reasons["undecodable"]
    faces = []
    folder = reader.source_folder()  # names files relative to the source folder, never a machine path
    for sample in asked:  # the reader's own (sorted) order
        if sample.sample_id in chosen:
            tasks = tuple(sorted(chosen[sample.sample_id]))
            faces.append(face_of(sample, info, split_of[sample.sample_id], tasks, folder, frames))
    report.faces = len(faces)
    return faces, report


def face_of(sample: FaceSample, info: SourceInfo, split: str, tasks: tuple[str, ...], folder: Any,
            frames: int) -> Face:  # fmt: skip
    """The face a question about `sample` shows: its files named inside the source `folder`
    (the middle frame of a clip as its image)."""
    files = [folder.name(path) for path in _files(sample, frames)]
    primary = files[len(files) // 2] if sample.kind == "video" else files[0]
    extra = tuple(files) if sample.kind == "video" else tuple(files[1:])
    return Face(sample, info, split, tasks, f"{info.name}:{primary}", primary, extra)


def has_files(sample: FaceSample, frames: int) -> bool:
    """Whether a question can show `sample` (a face, a pair of two, a clip with frames)."""
    return bool(_files(sample, frames))


def decodes(sample: FaceSample, frames: int) -> bool:
    """Whether every file a question about `sample` shows is there and decodes."""
    return all(_decodes(path) is None for path in _files(sample, frames))


def label_values(samples: list[FaceSample]) -> dict[str, list[Any]]:
    """Every value each label key takes in a source (sorted; attribute names for `attributes`)."""
    values: dict[str, set[Any]] = defaultdict(set)
    for sample in samples:
        for key, value in sample.labels.items():
            if key == "attributes" and isinstance(value, dict):
                values[key] |= set(value)
            elif value is not None and not isinstance(value, (dict, list)):
                values[key].add(value)
    return {key: sorted(found, key=str) for key, found in sorted(values.items())}
