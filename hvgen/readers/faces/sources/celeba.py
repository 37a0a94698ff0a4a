"""CelebA (Liu et al., ICCV 2015): 40 binary attributes, identities and the official
train/val/test partition, in three whitespace-separated lists.

Both layouts of the release are read: the official nested one (Anno/list_attr_celeba.txt,
Anno/identity_CelebA.txt, Eval/list_eval_partition.txt, Img/img_align_celeba/) and the flat one
(all three lists and img_align_celeba/ in one folder).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hvgen.readers.faces.base import FaceReader, FaceSample, SourceInfo, register_face_reader
from hvgen.readers.faces.files import listed_path
from hvgen.readers.faces.listing import SampleList
from hvgen.readers.faces.tables import line_error, parse_int, text_rows

HOW = (
    "The CelebA release (mmlab.ie.cuhk.edu.hk/projects/CelebA.html) puts the annotation lists in "
    "Anno/, the partition in Eval/ and the aligned images in Img/img_align_celeba/ (a flat folder "
    "with all of them works too)."
)
ATTRIBUTES = ("list_attr_celeba.txt", "Anno/list_attr_celeba.txt")
IDENTITIES = ("identity_CelebA.txt", "Anno/identity_CelebA.txt")
PARTITION = ("list_eval_partition.txt", "Eval/list_eval_partition.txt")
IMAGES = ("img_align_celeba", "Img/img_align_celeba", "img_align_celeba_png", "Img/img_align_celeba_png")
SPLITS = {0: "train", 1: "val", 2: "test"}


@register_face_reader
class CelebAReader(FaceReader):
    info = SourceInfo(
        name="celeba",
        title="CelebA",
        licence="CelebA release agreement (non-commercial research only; no redistribution of images)",
        redistributable=False,
        citation="Liu, Z., Luo, P., Wang, X. and Tang, X. Deep Learning Face Attributes in the Wild. ICCV 2015.",
        url="https://mmlab.ie.cuhk.edu.hk/projects/CelebA.html",
        tasks=("attributes",),  # and `identity` on every sample
    )

    def _files(self) -> tuple[Path, Path, Path, Path]:
        return (
            self.find(ATTRIBUTES, "CelebA attribute list", HOW),
            self.find(IDENTITIES, "CelebA identity list", HOW),
            self.find(PARTITION, "CelebA partition list", HOW),
            self.find(IMAGES, "CelebA aligned images", HOW, folder=True),
        )

    def check(self) -> None:
        self._files()

    def listed_samples(self) -> Iterator[FaceSample]:
        attributes_path, identities_path, partition_path, images = self._files()
        identities = _pairs(identities_path, "identity")
        partition = _pairs(partition_path, "partition")
        samples = SampleList(self.skipped)
        for line, name, attributes in _attributes(attributes_path):
            for table, path in ((identities, identities_path), (partition, partition_path)):
                if name not in table:
                    raise line_error(
                        attributes_path,
                        line,
                        f"image {name} has no line in {path.name}",
                        "The lists come from different releases; download all three again.",
                    )
            split = SPLITS.get(partition[name][1])
            if split is None:
                raise line_error(
                    partition_path, partition[name][0], f"partition {partition[name][1]} is not 0, 1 or 2"
                )
            image = listed_path(images, name, attributes_path, line)
            if not image.is_file() and image.with_suffix(".png").is_file():
                image = image.with_suffix(".png")  # the img_align_celeba_png variant
            if not image.is_file():
                self.skipped["missing_image"] += 1
                continue
            samples.add(
                FaceSample(
                    "celeba",
                    name,
                    "face",
                    (image,),
                    {"attributes": attributes},
                    split=split,
                    identity=str(identities[name][1]),
                )
            )
        yield from samples.sorted()


def _pairs(path: Path, what: str) -> dict[str, tuple[int, int]]:
    """`file number` lines → {file: (line, number)}."""
    table = {}
    for line, fields in text_rows(path):
        if len(fields) != 2:
            raise line_error(path, line, f"expected '<file> <{what}>', got {len(fields)} fields")
        table[fields[0]] = (line, parse_int(path, line, fields[1], what))
    return table


def _attributes(path: Path) -> Iterator[tuple[int, str, dict[str, bool]]]:
    """(line, file, {attribute: bool}) of list_attr_celeba.txt: line 1 the image count, line 2
    the attribute names, then one line per image of 1 / -1 values."""
    count = None
    names: list[str] = []
    rows = 0
    for line, fields in text_rows(path):
        if count is None:
            if line != 1 or len(fields) != 1:
                raise line_error(path, line, "line 1 must be the number of images")
            count = parse_int(path, line, fields[0], "image count")
            continue
        if not names:
            names = fields
            continue
        if len(fields) != len(names) + 1 or any(value not in ("1", "-1") for value in fields[1:]):
            raise line_error(
                path,
                line,
                f"expected '<file>' and {len(names)} values of 1 or -1, got {' '.join(fields[:3])} ... "
                f"({len(fields)} fields)",
                "The file may be damaged; download it again.",
            )
        rows += 1
        yield line, fields[0], {name: value == "1" for name, value in zip(names, fields[1:])}
    if count is None or not names:
        raise line_error(path, 1, "the count and attribute-name lines are missing")
    if rows != count:
        raise line_error(
            path, 1, f"says {count} images but {rows} follow", "The file is truncated; download it again."
        )
