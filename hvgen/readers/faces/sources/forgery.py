"""Face forgery video sets as FFDBackbone tests them (FaceForensics++, Celeb-DF, DFDC, FFIW):
each clip is a folder of extracted frames, labelled real or fake.

The four share one layout rule (frames in `<clip>/frame/` or directly in `<clip>/`, see
hvgen/readers/faces/frames.py) and differ only in how the release lists clips and labels.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path

from hvgen.errors import HvgenError, unknown_name_error
from hvgen.readers.faces.base import FaceSample, SourceInfo, register_face_reader
from hvgen.readers.faces.files import listed_path, relative
from hvgen.readers.faces.frames import VIDEO_SUFFIXES, VideoFaceReader, clip_frames, clip_video
from hvgen.readers.faces.listing import SampleList
from hvgen.readers.faces.tables import csv_rows, line_error, parse_int, text_rows
from hvgen.readers.source_folder import SourceFolder

FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")
FFPP_EXTRA_METHODS = ("FaceShifter", "DeepFakeDetection")
COMPRESSIONS = ("raw", "c23", "c40")
CLIP_FOLDERS = ("videos", "frames", "images", "")
"""Where a compression folder keeps its clips: the download script's videos/, or frames/ or
images/ of an extraction, or the clips directly."""


def _clip_folder(base: Path, name: str) -> Path:
    """The folder of clip `name` under `base`/<one of CLIP_FOLDERS>: the first that holds its
    frames, else the first beside or in which its video file is, else videos/<name>."""
    for has_clip in (clip_frames, clip_video):
        for folder in CLIP_FOLDERS:
            if has_clip(base / folder / name):
                return base / folder / name
    return base / CLIP_FOLDERS[0] / name


@register_face_reader
class FaceForensicsReader(VideoFaceReader):
    """FF++ split json files name [a, b] id pairs: the reals are videos a and b, the fakes
    a_b and b_a (target_source) made by each manipulation method. `compression` picks raw, c23
    (FFDBackbone's) or c40; `methods` the manipulation folders read."""

    info = SourceInfo(
        name="ffpp",
        title="FaceForensics++",
        licence="FaceForensics terms of use (non-commercial research only; access by request; no redistribution)",
        redistributable=False,
        citation=(
            "Rössler, A., Cozzolino, D., Verdoliva, L., Riess, C., Thies, J. and Nießner, M. "
            "FaceForensics++: Learning to Detect Manipulated Facial Images. ICCV 2019."
        ),
        url="https://github.com/ondyari/FaceForensics",
        tasks=("forgery", "manipulation"),
    )

    def __init__(
        self,
        root: Path,
        *,
        compression: str = "c23",
        methods: Sequence[str] = FFPP_METHODS,
        frames_cache: Path | None = None,
    ) -> None:
        super().__init__(root, frames_cache=frames_cache)
        if compression not in COMPRESSIONS:
            raise unknown_name_error("FaceForensics++ compression", compression, COMPRESSIONS)
        for method in methods:
            if method not in FFPP_METHODS + FFPP_EXTRA_METHODS:
                raise unknown_name_error(
                    "FaceForensics++ manipulation method", method, FFPP_METHODS + FFPP_EXTRA_METHODS
                )
        self.compression = compression
        self.methods = tuple(methods)

    def check(self) -> None:
        how = (
            "The split lists are in the FaceForensics repository (dataset/splits/{train,val,test}.json); "
            "copy the splits/ folder next to original_sequences/ and manipulated_sequences/."
        )
        for split in ("train", "val", "test"):
            self.find([f"splits/{split}.json"], "FaceForensics++ split", how)
        self.find(
            [f"original_sequences/youtube/{self.compression}"],
            "FaceForensics++ real videos",
            f"Download them with the FaceForensics download script (-d original -c {self.compression}).",
            folder=True,
        )

    def listed_samples(self) -> Iterator[FaceSample]:
        self.check()
        samples = SampleList(self.skipped)
        real = self.root / "original_sequences/youtube" / self.compression
        for split in ("train", "val", "test"):
            for first, second in _split_pairs(self.root / f"splits/{split}.json"):
                for video in (first, second):
                    real_labels = {"forgery": "real", "manipulation": None}
                    self._add(samples, _clip_folder(real, video), real_labels, split, identity=video)
                for method in self.methods:
                    base = self.root / "manipulated_sequences" / method / self.compression
                    fake_labels = {"forgery": "fake", "manipulation": method}
                    for target, source in ((first, second), (second, first)):
                        folder = _clip_folder(base, f"{target}_{source}")
                        self._add(samples, folder, fake_labels, split, pair_identities=(target, source))
        yield from samples.sorted()

    def _add(
        self,
        samples: SampleList,
        folder: Path,
        labels: dict,
        split: str,
        identity: str | None = None,
        pair_identities: tuple[str, ...] = (),
    ) -> None:
        frames = self.clip(folder)
        if not frames:
            return
        samples.add(
            FaceSample(
                "ffpp",
                relative(folder, self.root),
                "video",
                frames,
                labels,
                split=split,
                identity=identity,
                pair_identities=pair_identities,
            )
        )


def _split_pairs(path: Path) -> list[tuple[str, str]]:
    """The [a, b] id pairs of an FF++ split file."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise line_error(
            path, error.lineno, f"not valid JSON ({error.msg})", "Download the split file again."
        ) from None
    if not isinstance(entries, list):
        raise HvgenError(f"{path}: expected a JSON list of [id, id] pairs, got a {type(entries).__name__}.")
    pairs = []
    for number, entry in enumerate(entries, start=1):
        if not (isinstance(entry, list) and len(entry) == 2 and all(isinstance(v, str) and v for v in entry)):
            raise HvgenError(
                f'{path}: entry {number} is {entry!r}, expected a pair of video ids like ["000", "003"]. '
                "Use the FaceForensics repository's own split file."
            )
        pairs.append((entry[0], entry[1]))
    return pairs


CELEBDF_REAL = re.compile(r"^(id\d+)_\d+$")
CELEBDF_FAKE = re.compile(r"^(id\d+)_(id\d+)_\d+$")


@register_face_reader
class CelebDfReader(VideoFaceReader):
    """Celeb-DF (v2) test list: `<flag> <folder>/<video>.mp4`, flag 1 = real, 0 = fake (FFDBackbone
    labels 1 - flag). Celebrity ids come from the clip names (id0_0001, id0_id16_0000)."""

    info = SourceInfo(
        name="celebdf",
        title="Celeb-DF (v2)",
        licence="Celeb-DF terms of use (non-commercial research only; access by request; no redistribution)",
        redistributable=False,
        citation=(
            "Li, Y., Yang, X., Sun, P., Qi, H. and Lyu, S. Celeb-DF: A Large-scale Challenging Dataset "
            "for DeepFake Forensics. CVPR 2020."
        ),
        url="https://github.com/yuezunli/celeb-deepfakeforensics",
        tasks=("forgery",),
    )

    LIST = "List_of_testing_videos.txt"

    def check(self) -> None:
        self.find(
            [self.LIST],
            "Celeb-DF test list",
            "The Celeb-DF v2 release has it at its top level, beside Celeb-real/ and Celeb-synthesis/.",
        )

    def listed_samples(self) -> Iterator[FaceSample]:
        self.check()
        path = self.root / self.LIST
        samples = SampleList(self.skipped)
        for line, fields in text_rows(path):
            if len(fields) != 2 or fields[0] not in ("0", "1") or not fields[1].endswith(".mp4"):
                raise line_error(
                    path, line, f"expected '<0|1> <folder>/<video>.mp4', got {' '.join(fields)!r}"
                )
            folder = listed_path(self.root, fields[1][: -len(".mp4")], path, line)
            frames = self.clip(folder)
            if not frames:
                continue
            forgery = "real" if fields[0] == "1" else "fake"
            real, fake = CELEBDF_REAL.match(folder.name), CELEBDF_FAKE.match(folder.name)
            samples.add(
                FaceSample(
                    "celebdf",
                    relative(folder, self.root),
                    "video",
                    frames,
                    {"forgery": forgery, "manipulation": None},
                    split="test",
                    identity=real[1] if real else None,
                    pair_identities=(fake[1], fake[2]) if fake else (),
                )
            )
        yield from samples.sorted()


@register_face_reader
class DfdcReader(VideoFaceReader):
    """DFDC public test set: labels.csv `filename,label` (1 = fake), frames in test_videos/<stem>/."""

    info = SourceInfo(
        name="dfdc",
        title="DeepFake Detection Challenge (public test set)",
        licence="DFDC data licence agreement (non-commercial research only; no redistribution)",
        redistributable=False,
        citation="Dolhansky, B. et al. The DeepFake Detection Challenge (DFDC) Dataset. arXiv:2006.07397, 2020.",
        url="https://ai.meta.com/datasets/dfdc/",
        tasks=("forgery",),
    )

    def check(self) -> None:
        how = "The DFDC test set has labels.csv beside test_videos/ (frames extracted per video)."
        self.find(["labels.csv"], "DFDC labels", how)
        self.find(["test_videos"], "DFDC test videos", how, folder=True)

    def listed_samples(self) -> Iterator[FaceSample]:
        self.check()
        path = self.root / "labels.csv"
        samples = SampleList(self.skipped)
        for row in csv_rows(path, ("filename", "label")):
            label = parse_int(path, row.line, row["label"], "label")
            if label not in (0, 1):
                raise line_error(path, row.line, f"label {label} is neither 0 (real) nor 1 (fake)")
            folder = listed_path(self.root / "test_videos", Path(row["filename"]).stem, path, row.line)
            frames = self.clip(folder)
            if not frames:
                continue
            samples.add(
                FaceSample(
                    "dfdc",
                    relative(folder, self.root),
                    "video",
                    frames,
                    {"forgery": "fake" if label else "real", "manipulation": None},
                    split="test",
                )
            )
        yield from samples.sorted()


@register_face_reader
class FfiwReader(VideoFaceReader):
    """FFIW-10K: source/ holds the real clips, target/ the forged ones, each clip a folder of
    frames (found at any depth). When the first level is train/ val/ test/ (the release's), it
    is the split; otherwise the split is 'test', as FFDBackbone uses the set."""

    info = SourceInfo(
        name="ffiw",
        title="FFIW-10K (Face Forensics in the Wild)",
        licence="FFIW-10K terms of use (non-commercial research only; access by request; no redistribution)",
        redistributable=False,
        citation=("Zhou, T., Wang, W., Liang, Z. and Shen, J. Face Forensics in the Wild. CVPR 2021."),
        url="https://github.com/tfzhou/FFIW",
        tasks=("forgery",),
    )

    def check(self) -> None:
        how = (
            "FFIW-10K's release has source/ (real) and target/ (fake) folders; pass the folder holding both."
        )
        for name in ("source", "target"):
            self.find([name], f"FFIW {'real' if name == 'source' else 'fake'} clips", how, folder=True)

    def listed_samples(self) -> Iterator[FaceSample]:
        self.check()
        samples = SampleList(self.skipped)
        for name, forgery in (("source", "real"), ("target", "fake")):
            top = self.root / name
            for folder in sorted(_clip_folders(self.source_folder(), top)):
                frames = self.clip(folder)
                if not frames:
                    continue
                first = folder.relative_to(top).parts[0]
                split = first if first in ("train", "val", "test") and folder != top / first else "test"
                labels = {"forgery": forgery, "manipulation": None}
                samples.add(
                    FaceSample("ffiw", relative(folder, self.root), "video", frames, labels, split=split)
                )
        yield from samples.sorted()


def _clip_folders(source: SourceFolder, top: Path) -> Iterator[Path]:
    """Every clip below `top`: each folder that holds frames (a `frame/` folder counts for its
    parent), and `<folder>/<stem>` for each video file whose frames were not extracted."""
    for folder, _, files in source.walk(top):
        if folder.name == "frame":
            continue
        if clip_frames(folder):
            yield folder
        for file in files:
            clip = folder / Path(file).stem
            if Path(file).suffix.lower() in VIDEO_SUFFIXES and not clip_frames(clip):
                yield clip
