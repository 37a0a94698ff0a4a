"""FairFace (Kärkkäinen & Joo, WACV 2021): two label csvs beside the train/ and val/ image
folders of the padding-0.25 (or 1.25) zip; age bin, gender and race per face."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hvgen.readers.faces.base import FaceReader, FaceSample, SourceInfo, register_face_reader
from hvgen.readers.faces.files import listed_path
from hvgen.readers.faces.label_maps import label_maps
from hvgen.readers.faces.listing import SampleList
from hvgen.readers.faces.tables import Row, csv_rows, line_error

HEADER = ("file", "age", "gender", "race")
SPLIT_FILES = {"train": "fairface_label_train.csv", "val": "fairface_label_val.csv"}
HOW = (
    "FairFace's label csvs are downloaded beside the image zip (github.com/joojs/fairface); put "
    "fairface_label_train.csv and fairface_label_val.csv next to the unzipped train/ and val/ folders."
)


@register_face_reader
class FairFaceReader(FaceReader):
    info = SourceInfo(
        name="fairface",
        title="FairFace",
        licence="CC BY 4.0",
        redistributable=True,
        citation=(
            "Kärkkäinen, K. and Joo, J. FairFace: Face Attribute Dataset for Balanced Race, Gender, "
            "and Age for Bias Measurement and Mitigation. WACV 2021."
        ),
        url="https://github.com/joojs/fairface",
        tasks=("age_bin", "gender", "race"),
    )

    def check(self) -> None:
        for name in SPLIT_FILES.values():
            self.find([name], "FairFace labels", HOW)

    def listed_samples(self) -> Iterator[FaceSample]:
        self.check()
        maps = label_maps()["fairface"]
        bins = {name: name for name in maps["age_bins"]}
        samples = SampleList(self.skipped)
        for split, name in SPLIT_FILES.items():
            path = self.root / name
            for row in csv_rows(path, HEADER):
                labels = {
                    "age_bin": _value(path, row, "age", bins),
                    "gender": _value(path, row, "gender", maps["gender"]),
                    "race": _value(path, row, "race", maps["race"]),
                }
                image = listed_path(self.root, row["file"], path, row.line)
                if not image.is_file():
                    self.skipped["missing_image"] += 1
                    continue
                samples.add(FaceSample("fairface", row["file"], "face", (image,), labels, split=split))
        yield from samples.sorted()


def _value(path: Path, row: Row, column: str, values: dict[str, str]) -> str:
    """The normalised label of `column`, or an error naming the line and the valid values."""
    if row[column] not in values:
        raise line_error(
            path,
            row.line,
            f"{column} {row[column]!r} is not one of FairFace's ({', '.join(values)})",
            "Is the file FairFace's own, unedited?",
        )
    return values[row[column]]
