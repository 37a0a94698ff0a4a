"""AffectNet (Mollahosseini, Hasani & Mahoor, 2017): training.csv and validation.csv of the
manually annotated part; classes 0-7 kept, 8-10 (None, Uncertain, Non-Face) skipped and counted."""

from __future__ import annotations

from collections.abc import Iterator

from hvgen.readers.faces.base import FaceReader, FaceSample, SourceInfo, register_face_reader
from hvgen.readers.faces.files import listed_path
from hvgen.readers.faces.label_maps import lookup_expression
from hvgen.readers.faces.listing import SampleList
from hvgen.readers.faces.tables import csv_rows

HEADER = (
    "subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
    "expression", "valence", "arousal",
)  # fmt: skip
SPLIT_FILES = {"train": "training.csv", "val": "validation.csv"}
IMAGES = ("Manually_Annotated_Images", "Manually_Annotated/Manually_Annotated_Images")
HOW = (
    "The AffectNet release (by agreement, mohammadmahoor.com/affectnet) has training.csv and "
    "validation.csv beside Manually_Annotated_Images/; pass the folder holding them."
)


@register_face_reader
class AffectNetReader(FaceReader):
    info = SourceInfo(
        name="affectnet",
        title="AffectNet",
        licence="AffectNet licence agreement (non-commercial research only; no redistribution)",
        redistributable=False,
        citation=(
            "Mollahosseini, A., Hasani, B. and Mahoor, M. H. AffectNet: A Database for Facial "
            "Expression, Valence, and Arousal Computing in the Wild. IEEE TAC 2017."
        ),
        url="http://mohammadmahoor.com/affectnet/",
        tasks=("expression",),
    )

    def check(self) -> None:
        for name in SPLIT_FILES.values():
            self.find([name], "AffectNet labels", HOW)
        self.find(IMAGES, "AffectNet images", HOW, folder=True)

    def listed_samples(self) -> Iterator[FaceSample]:
        self.check()
        images = self.find(IMAGES, "AffectNet images", HOW, folder=True)
        samples = SampleList(self.skipped)
        for split, name in SPLIT_FILES.items():
            path = self.root / name
            for row in csv_rows(path, HEADER):
                expression = lookup_expression("affectnet", path, row.line, row["expression"])
                if expression is None:
                    self.skipped["excluded_label"] += 1
                    continue
                image = listed_path(images, row["subDirectory_filePath"], path, row.line)
                if not image.is_file():
                    self.skipped["missing_image"] += 1
                    continue
                samples.add(
                    FaceSample(
                        "affectnet",
                        row["subDirectory_filePath"],
                        "face",
                        (image,),
                        {"expression": expression},
                        split=split,
                    )
                )
        yield from samples.sorted()
