"""Dynamic facial expression sets as S4D fine-tunes on them (DFEW, MAFW, FERV39K): a csv of
clip → label per split, and one folder of frames per clip."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hvgen.errors import HvgenError
from hvgen.readers.faces.base import FaceSample, SourceInfo, register_face_reader
from hvgen.readers.faces.files import listed_path, relative
from hvgen.readers.faces.frames import VideoFaceReader
from hvgen.readers.faces.label_maps import lookup_expression
from hvgen.readers.faces.listing import SampleList
from hvgen.readers.faces.tables import csv_rows

FOLDS = range(1, 6)


class ClipListReader(VideoFaceReader):
    """A source whose split csvs list (clip, expression index); subclasses say where the csvs
    and the frame folders are and how a csv names a clip."""

    header: tuple[str, str]
    frames_folders: tuple[str, ...]
    how: str

    def split_files(self) -> dict[str, str]:
        """split → csv path relative to the source folder."""
        raise NotImplementedError

    def clip_folder(self, name: str) -> str:
        """The frame folder (relative to the frames root) of the clip a csv row names."""
        return name

    def check(self) -> None:
        for name in self.split_files().values():
            self.find([name], f"{self.info.title} split list", self.how)
        self._frames_root()

    def _frames_root(self) -> Path:
        return self.find(self.frames_folders, f"{self.info.title} frame folders", self.how, folder=True)

    def listed_samples(self) -> Iterator[FaceSample]:
        self.check()
        frames_root = self._frames_root()
        samples = SampleList(self.skipped)
        for split, name in self.split_files().items():
            path = self.root / name
            for row in csv_rows(path, self.header):
                expression = lookup_expression(self.info.name, path, row.line, row[self.header[1]])
                if expression is None:
                    self.skipped["excluded_label"] += 1
                    continue
                folder = listed_path(frames_root, self.clip_folder(row[self.header[0]]), path, row.line)
                frames = self.clip(folder)
                if not frames:
                    continue
                samples.add(
                    FaceSample(
                        self.info.name,
                        relative(folder, self.root),
                        "video",
                        frames,
                        {"expression": expression},
                        split=split,
                    )
                )
        yield from samples.sorted()


def _fold(fold: int | str, title: str) -> int:
    """The fold number (a CLI may pass it as text), checked: the releases have folds 1-5."""
    number = int(fold) if str(fold).strip().isdigit() else None
    if number not in FOLDS:
        raise HvgenError(f"{title} has folds 1 to 5, not {fold!r}; pass a fold from 1 to 5.")
    return number


@register_face_reader
class DfewReader(ClipListReader):
    """DFEW single-labeled split csvs of one fold (`fold`, 1-5); clips named by number, frames in
    clip_jpg_256/<number zero-padded to 5>/. The 0-6 label map is inferred (see label_maps.yaml)."""

    info = SourceInfo(
        name="dfew",
        title="DFEW",
        licence="DFEW licence agreement (non-commercial research only; access by request; no redistribution)",
        redistributable=False,
        citation=(
            "Jiang, X., Zong, Y., Zheng, W., Tang, C., Xia, W., Lu, C. and Liu, J. DFEW: A Large-Scale "
            "Database for Recognizing Dynamic Facial Expressions in the Wild. ACM MM 2020."
        ),
        url="https://dfew-dataset.github.io/",
        tasks=("expression",),
    )
    header = ("video_name", "label")
    frames_folders = ("clip_jpg_256", "Clip/clip_jpg_256")
    how = (
        "DFEW's release (by agreement) has EmoLabel_DataSplit/{train,test}(single-labeled)/ with one csv "
        "per fold and the frames in clip_jpg_256/ (S4D ships the same split csvs)."
    )

    def __init__(self, root: Path, *, fold: int | str = 1, frames_cache: Path | None = None) -> None:
        super().__init__(root, frames_cache=frames_cache)
        self.fold = _fold(fold, "DFEW")

    def split_files(self) -> dict[str, str]:
        return {
            split: f"EmoLabel_DataSplit/{split}(single-labeled)/{split}_set_{self.fold}.csv"
            for split in ("train", "test")
        }

    def clip_folder(self, name: str) -> str:
        return name.zfill(5) if name.isdigit() else name


@register_face_reader
class MafwReader(ClipListReader):
    """MAFW single-label split csvs of one fold (`fold`, 1-5), labels 0-10 in alphabetical
    order; frames in frames_crop_align_224/<video stem>/."""

    info = SourceInfo(
        name="mafw",
        title="MAFW",
        licence="MAFW licence agreement (non-commercial research only; access by request; no redistribution)",
        redistributable=False,
        citation=(
            "Liu, Y., Dai, W., Feng, C., Wang, W., Yin, G., Zeng, J. and Shan, S. MAFW: A Large-scale, "
            "Multi-modal, Compound Affective Database for Dynamic Facial Expression Recognition in the "
            "Wild. ACM MM 2022."
        ),
        url="https://mafw-database.github.io/MAFW/",
        tasks=("expression",),
    )
    header = ("video_name", "labels")
    frames_folders = ("frames_crop_align_224", "data/frames_crop_align_224")
    how = (
        "MAFW's release (by agreement) has anno/single/no_caption/set_<fold>/{train,test}.csv and the "
        "aligned face frames in frames_crop_align_224/ (S4D/S2D ship the same csvs)."
    )

    def __init__(self, root: Path, *, fold: int | str = 1, frames_cache: Path | None = None) -> None:
        super().__init__(root, frames_cache=frames_cache)
        self.fold = _fold(fold, "MAFW")

    def split_files(self) -> dict[str, str]:
        return {split: f"anno/single/no_caption/set_{self.fold}/{split}.csv" for split in ("train", "test")}

    def clip_folder(self, name: str) -> str:
        return name[: -len(Path(name).suffix)] if Path(name).suffix.lower() in (".mp4", ".avi") else name


@register_face_reader
class Ferv39kReader(ClipListReader):
    """FERV39K's Annotation/{train,test}.csv: `path,id` with path = Scene/Emotion/clip; frames in
    2_ClipsforFaceCrop/<path>/."""

    info = SourceInfo(
        name="ferv39k",
        title="FERV39K",
        licence="FERV39K licence agreement (non-commercial research only; access by request; no redistribution)",
        redistributable=False,
        citation=(
            "Wang, Y., Sun, Y., Huang, Y., Liu, Z., Gao, S., Zhang, W., Ge, W. and Zhang, W. FERV39k: A "
            "Large-Scale Multi-Scene Dataset for Facial Expression Recognition in Videos. CVPR 2022."
        ),
        url="https://wangyanckxx.github.io/Proj_CVPR2022_FERV39k.html",
        tasks=("expression",),
    )
    header = ("path", "id")
    frames_folders = ("2_ClipsforFaceCrop",)
    how = (
        "FERV39K's release (by agreement) has Annotation/train.csv and Annotation/test.csv and the face "
        "crops in 2_ClipsforFaceCrop/<Scene>/<Emotion>/<clip>/."
    )

    def split_files(self) -> dict[str, str]:
        return {split: f"Annotation/{split}.csv" for split in ("train", "test")}
