"""RAF-DB basic (Li, Deng & Du, CVPR 2017): `EmoLabel/list_patition_label.txt` (sic) lists
`train_00001.jpg 5`, labels 1-indexed; faces in Image/aligned/ (or Image/original/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hvgen.readers.faces.base import FaceReader, FaceSample, SourceInfo, register_face_reader
from hvgen.readers.faces.files import find_optional, listed_path
from hvgen.readers.faces.label_maps import lookup_expression
from hvgen.readers.faces.listing import SampleList
from hvgen.readers.faces.tables import line_error, text_rows

LABELS = "EmoLabel/list_patition_label.txt"
HOW = (
    "RAF-DB (whdeng.cn/RAF/model1.html, by agreement) ships basic/EmoLabel/list_patition_label.txt "
    "(the misspelling is the release's) beside basic/Image/; pass the basic/ folder."
)


@register_face_reader
class RafDbReader(FaceReader):
    """The aligned 100x100 face (`<stem>_aligned.jpg`) where present, else the original image;
    the split is the file name's prefix (train_ / test_)."""

    info = SourceInfo(
        name="rafdb",
        title="RAF-DB (basic)",
        licence="RAF-DB agreement (non-commercial research only; no redistribution)",
        redistributable=False,
        citation=(
            "Li, S., Deng, W. and Du, J. Reliable Crowdsourcing and Deep Locality-Preserving Learning "
            "for Expression Recognition in the Wild. CVPR 2017."
        ),
        url="http://www.whdeng.cn/RAF/model1.html",
        tasks=("expression",),
    )

    def _labels(self) -> Path:
        return self.find([LABELS, f"basic/{LABELS}"], "RAF-DB basic labels", HOW)

    def check(self) -> None:
        self._labels()

    def listed_samples(self) -> Iterator[FaceSample]:
        labels = self._labels()
        base = labels.parent.parent
        aligned = find_optional(base, ["Image/aligned"], folder=True) or base / "Image/aligned"
        original = base / "Image/original"
        samples = SampleList(self.skipped)
        for line, fields in text_rows(labels):
            if len(fields) != 2:
                raise line_error(labels, line, f"expected '<file> <label>', got {' '.join(fields)!r}")
            name, value = fields
            split = name.split("_", 1)[0]
            if split not in ("train", "test"):
                raise line_error(labels, line, f"file {name!r} starts with neither 'train_' nor 'test_'")
            expression = lookup_expression("rafdb", labels, line, value)
            if expression is None:
                self.skipped["excluded_label"] += 1
                continue
            stem = Path(name).stem
            image = listed_path(aligned, f"{stem}_aligned.jpg", labels, line)
            if not image.is_file():
                image = listed_path(original, name, labels, line)
            if not image.is_file():
                self.skipped["missing_image"] += 1
                continue
            samples.add(FaceSample("rafdb", name, "face", (image,), {"expression": expression}, split=split))
        yield from samples.sorted()
