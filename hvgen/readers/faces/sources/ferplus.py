"""FERPlus (Barsoum et al., ICMI 2016): ten crowd votes per FER2013 face in fer2013new.csv;
the images are the FER2013 pixels written out as FER2013Train/, FER2013Valid/, FER2013Test/.

Label rule (majority vote): the column with the most votes among all ten (the 8 emotions,
'unknown', 'NF' = not a face) wins; the face is skipped and counted as 'excluded_label' when
the winner is 'unknown' or 'NF', or when two or more columns tie for the most votes. A row
without an image name (FER2013 faces the FERPlus raters dropped) is skipped the same way if
its votes exclude it, else counted as 'missing_image'. This is a plurality rule; FERPlus's own
training code has a stricter 'majority' mode (more than half of the votes), and other loaders
break ties by class order, so per-class counts can differ from papers that used those.
"""

from __future__ import annotations

from collections.abc import Iterator

from hvgen.readers.faces.base import FaceReader, FaceSample, SourceInfo, register_face_reader
from hvgen.readers.faces.files import listed_path
from hvgen.readers.faces.label_maps import expression_map
from hvgen.readers.faces.listing import SampleList
from hvgen.readers.faces.tables import csv_rows, line_error

EMOTIONS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt")
HEADER = ("Usage", "Image name", *EMOTIONS, "unknown", "NF")
USAGE = {
    "Training": ("train", "FER2013Train"),
    "PublicTest": ("val", "FER2013Valid"),
    "PrivateTest": ("test", "FER2013Test"),
}
HOW = (
    "FERPlus (github.com/microsoft/FERPlus) ships fer2013new.csv; its generate_training_data.py "
    "writes FER2013Train/, FER2013Valid/ and FER2013Test/ from FER2013's fer2013.csv next to it."
)


def majority(votes: list[int]) -> int | None:
    """Index of the column with strictly the most votes, None on a tie at the top."""
    top = max(votes)
    winners = [index for index, count in enumerate(votes) if count == top]
    return winners[0] if len(winners) == 1 and top > 0 else None


@register_face_reader
class FerPlusReader(FaceReader):
    info = SourceInfo(
        name="ferplus",
        title="FERPlus",
        licence=(
            "FERPlus labels: MIT licence (microsoft/FERPlus); FER2013 images: web images of unknown "
            "copyright, released for research (ICML 2013 challenge)"
        ),
        redistributable=False,
        citation=(
            "Barsoum, E., Zhang, C., Canton Ferrer, C. and Zhang, Z. Training Deep Networks for Facial "
            "Expression Recognition with Crowd-Sourced Label Distribution. ICMI 2016."
        ),
        url="https://github.com/microsoft/FERPlus",
        tasks=("expression",),
    )

    def check(self) -> None:
        self.find(["fer2013new.csv"], "FERPlus votes", HOW)
        for _split, folder in USAGE.values():
            self.find([folder], "FERPlus images", HOW, folder=True)

    def listed_samples(self) -> Iterator[FaceSample]:
        self.check()
        path = self.root / "fer2013new.csv"
        classes = expression_map("ferplus")
        samples = SampleList(self.skipped)
        for row in csv_rows(path, HEADER):
            if row["Usage"] not in USAGE:
                raise line_error(path, row.line, f"Usage {row['Usage']!r} is not one of {', '.join(USAGE)}")
            votes = []
            for column in HEADER[2:]:
                if not row[column].isdigit():
                    raise line_error(path, row.line, f"{column} votes {row[column]!r} is not a count")
                votes.append(int(row[column]))
            winner = majority(votes)
            if winner is None or winner >= len(EMOTIONS):
                self.skipped["excluded_label"] += 1
                continue
            split, folder = USAGE[row["Usage"]]
            if not row["Image name"]:
                self.skipped["missing_image"] += 1
                continue
            image = listed_path(self.root / folder, row["Image name"], path, row.line)
            if not image.is_file():
                self.skipped["missing_image"] += 1
                continue
            samples.add(
                FaceSample(
                    "ferplus",
                    f"{folder}/{row['Image name']}",
                    "face",
                    (image,),
                    {"expression": classes[winner]},
                    split=split,
                )
            )
        yield from samples.sorted()
