"""UTKFace (Zhang, Song & Qi, CVPR 2017): labels are in the file names,
`[age]_[gender]_[race]_[date&time].jpg` (aligned crops add `.chip.jpg`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from hvgen.errors import HvgenError
from hvgen.readers.faces.base import FaceReader, FaceSample, SourceInfo, register_face_reader
from hvgen.readers.faces.files import is_image, relative
from hvgen.readers.faces.label_maps import age_bin, label_maps
from hvgen.readers.faces.listing import SampleList

NAME = re.compile(r"^(\d{1,3})_(\d)_(\d)_(\d+)\.jpg(\.chip\.jpg)?$", re.IGNORECASE)


@register_face_reader
class UTKFaceReader(FaceReader):
    """Every image below the folder (UTKFace/, crop_part1/, part1-3/ ...). A file whose name does
    not follow the pattern (the release has a few with a field missing) is skipped and counted
    as 'bad_filename'. Race is given only for White, Black and Indian, the UTKFace groups that
    are one FairFace group; the age bin is derived from the age."""

    info = SourceInfo(
        name="utkface",
        title="UTKFace",
        licence="non-commercial research only (UTKFace terms); images are web images of unknown copyright",
        redistributable=False,
        citation=(
            "Zhang, Z., Song, Y. and Qi, H. Age Progression/Regression by Conditional Adversarial "
            "Autoencoder. CVPR 2017."
        ),
        url="https://susanqq.github.io/UTKFace/",
        tasks=("age", "age_bin", "gender", "race"),
    )

    def check(self) -> None:
        if not self.root.is_dir():
            raise HvgenError(f"{self.root}: no such folder (pass the folder of unzipped UTKFace images).")
        if not any(path.suffix.lower() in (".jpg", ".jpeg") for path in self.source_folder().files()):
            raise HvgenError(
                f"{self.root}: no '<age>_<gender>_<race>_<date>.jpg' image below it; unzip UTKFace.tar.gz "
                "(or crop_part1 / part1-3) there."
            )

    def listed_samples(self) -> Iterator[FaceSample]:
        self.check()
        maps = label_maps()["utkface"]
        samples = SampleList(self.skipped)
        for path in self.source_folder().files():
            if not is_image(path) or not path.is_file():
                continue
            match = NAME.match(path.name)
            if match is None or int(match[2]) not in maps["gender"] or int(match[3]) > 4:
                self.skipped["bad_filename"] += 1
                continue
            age = int(match[1])
            labels = {"age": age, "age_bin": age_bin(age), "gender": maps["gender"][int(match[2])]}
            if int(match[3]) in maps["race"]:
                labels["race"] = maps["race"][int(match[3])]
            samples.add(FaceSample("utkface", relative(path, self.root), "face", (path,), labels))
        yield from samples.sorted()
