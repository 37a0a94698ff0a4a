"""What a face reader yields, and the registry the Face QA generator finds readers in.

Every source release has its own layout and label encoding; a reader hides both. It yields
`FaceSample`s whose `labels` use one vocabulary across sources (the keys and values below), so
the generator asks "which expression?" the same way of RAF-DB's `3` and AffectNet's `5`.
Readers do not decode images (that would read 200k files before planning anything); the
supply stage decodes each planned image and skips and counts the ones that do not decode.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from hvgen.errors import HvgenError, unknown_name_error
from hvgen.progress import warn
from hvgen.readers.faces.files import find_optional, find_path
from hvgen.readers.source_folder import FOLLOW_SYMLINKS_OPTION, SourceFolder

EXPRESSIONS = (
    "neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger", "contempt",
    "anxiety", "helplessness", "disappointment",
)  # fmt: skip
"""The unified expression vocabulary: the 8 basic classes plus MAFW's three extra ones. Each
source's index → name map (as its release documents it) maps into these names."""

SampleKind = Literal["face", "pair", "video"]


@dataclass(frozen=True)
class SourceInfo:
    """A source data set's facts the card and the licence gate need."""

    name: str  # the --source key: "fairface", "celeba", "ffpp" ...
    title: str  # "FairFace"
    licence: str  # "CC BY 4.0", "CelebA release agreement (non-commercial research)" ...
    redistributable: bool  # may its images be uploaded in an export?
    citation: str  # a BibTeX entry or one-line reference
    url: str  # where users obtain the release
    tasks: tuple[str, ...]  # label keys it provides: ("age_bin", "gender", "race")


@dataclass(frozen=True)
class FaceSample:
    """One item of a source: a face image, a verification pair, or a video clip.

    `images` holds one path for a face, two for a pair, and every frame of a clip in temporal
    order (sampling 8 or 16 frames is the generator's job). `labels` uses these keys only:
      age_bin: FairFace's 9 bins ("0-2", "3-9", ..., "more than 70"); age: int years;
      gender: "male" | "female"; race: one of FairFace's 7 groups, lower-case;
      expression: a name from EXPRESSIONS; attributes: {CelebA attribute name: bool};
      same_person: bool (pairs); forgery: "real" | "fake"; manipulation: method name or None.
    """

    source: str
    sample_id: str  # unique and stable within the source (a relative path is typical)
    kind: SampleKind
    images: tuple[Path, ...]
    labels: dict[str, Any]
    split: str | None = None  # the release's own partition: "train", "val", "test" (None: none)
    identity: str | None = None  # person id where the source gives one (CelebA id, LFW name ...)
    pair_identities: tuple[str, ...] = ()  # for pairs and face swaps: every identity shown


class FaceReader(ABC):
    """Reads one source folder. A missing or malformed file is one HvgenError naming the file
    and line and saying how to fix it; `check()` finds missing files before any work starts.

    A sample with a file reached through a symbolic link that leaves the folder is skipped
    (`outside_source`) and named in one warning, unless `follow_symlinks` is set (see
    hvgen.readers.source_folder): a reader lists files, `samples()` keeps the ones it may read."""

    info: ClassVar[SourceInfo]

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.skipped: Counter[str] = Counter()  # reason → count, for the card
        self.follow_symlinks = False  # set by the caller for `--follow-symlinks`
        self._folder: SourceFolder | None = None

    @abstractmethod
    def check(self) -> None:
        """Raise HvgenError if the folder lacks a file the release format needs."""

    @abstractmethod
    def listed_samples(self) -> Iterator[FaceSample]:
        """Every sample the release lists whose files exist, in a deterministic order (sorted by
        sample_id); `samples()` filters them."""

    def folders(self) -> list[Path]:
        """The folders this reader's files may come from: the source folder (a reader with a
        folder of its own making, such as a frames cache, adds it)."""
        return [self.root]

    def find(self, candidates: Sequence[str], what: str, how: str, *, folder: bool = False) -> Path:
        """`find_path` in the source folder; a label file (a list, csv or json the release names
        its files in) reached through a link that leads outside the folder is refused."""
        return self._inside(find_path(self.root, candidates, what, how, folder=folder), what, folder)

    def find_optional(self, candidates: Sequence[str], what: str, *, folder: bool = False) -> Path | None:
        """`find_optional` in the source folder, refusing an outside label file as `find` does."""
        path = find_optional(self.root, candidates, folder=folder)
        return None if path is None else self._inside(path, what, folder)

    def _inside(self, path: Path, what: str, folder: bool) -> Path:
        """A folder is walked file by file (each file admitted or skipped by `samples`); a label
        file is read whole, so one that lies outside is refused, naming how to opt in."""
        source = self.source_folder()
        if folder or source.contains(path):
            return path
        raise HvgenError(
            f"--source {self.info.name}: {source.name(path)!r} ({what}) is reached through a symbolic link "
            f"that leads outside the source folder; hvgen reads only files inside the folders it is given. If the "
            f"link is yours (e.g. a data set kept on another disk), rerun with {FOLLOW_SYMLINKS_OPTION}."
        )

    def source_folder(self) -> SourceFolder:
        """The folders this reader may read, resolved once (readers walk folders through it)."""
        if self._folder is None or self._folder.follow_symlinks != self.follow_symlinks:
            self._folder = SourceFolder(self.folders(), follow_symlinks=self.follow_symlinks)
        return self._folder

    def samples(self) -> Iterator[FaceSample]:
        """Every usable sample, in a deterministic order (sorted by sample_id): the listed ones
        whose files all lie inside the source folder."""
        folder = self.source_folder()
        folder.forget_refused()  # what an earlier check() or pass refused is counted again below
        for sample in self.listed_samples():
            if all([folder.admit(path) for path in sample.images]):
                yield sample
            else:
                self.skipped["outside_source"] += 1
        self.skipped["outside_source"] += sum(name.endswith("/") for name in folder.outside)  # linked folders
        if not self.skipped["outside_source"]:
            del self.skipped["outside_source"]
        message = folder.warning(f"--source {self.info.name}")
        if message:
            warn(message)


_READERS: dict[str, type[FaceReader]] = {}


def register_face_reader(cls: type[FaceReader]) -> type[FaceReader]:
    """Class decorator: make a reader available as `--source <info.name>=DIR`."""
    _READERS[cls.info.name] = cls
    return cls


def face_readers() -> dict[str, type[FaceReader]]:
    """Every registered reader by source name. The built-in ones register themselves when
    `hvgen.readers.faces` (the package head, run before this module) imports them."""
    return dict(_READERS)


def face_reader(name: str) -> type[FaceReader]:
    readers = face_readers()
    if name not in readers:
        raise unknown_name_error("face source", name, readers, "Pass --source NAME=DIR.")
    return readers[name]


SKIP_REASONS: dict[str, str] = {  # the keys of FaceReader.skipped, explained in the card
    "excluded_label": "label outside the task's classes (e.g. AffectNet 8-10)",
    "missing_image": "listed in the annotations but the file is absent",
    "bad_filename": "a file name that does not hold the labels its format encodes (UTKFace)",
    "duplicate": "listed more than once; the first entry is kept",
    "undecodable_video": "a clip given only as a video file that OpenCV cannot decode",
    "outside_source": "a file (or folder) reached through a symbolic link leading outside the source "
    "folder (read only with --follow-symlinks)",
}
