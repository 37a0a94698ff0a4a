"""LFW verification pairs (Huang et al., 2007): pairs.txt (View 2: folds of matched and
mismatched pairs) or pairsDevTrain.txt / pairsDevTest.txt (View 1), over lfw/<name>/<name>_<n>.jpg.

When both View 1 files are present they give the train/test split; otherwise the folds of
pairs.txt are all split "test" (View 2 is for reporting, not training).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from hvgen.errors import HvgenError
from hvgen.readers.faces.base import FaceReader, FaceSample, SourceInfo, register_face_reader
from hvgen.readers.faces.files import listed_path, missing_error
from hvgen.readers.faces.listing import SampleList
from hvgen.readers.faces.tables import line_error, parse_int, text_rows

IMAGES = ("lfw", "lfw-deepfunneled", "lfw_funneled", "lfw-funneled")
DEV = {"train": "pairsDevTrain.txt", "test": "pairsDevTest.txt"}
HOW = (
    "LFW (vis-www.cs.umass.edu/lfw) ships pairs.txt (and pairsDevTrain.txt / pairsDevTest.txt) beside "
    "lfw.tgz; put them next to the unpacked lfw/ folder."
)


@register_face_reader
class LfwReader(FaceReader):
    info = SourceInfo(
        name="lfw",
        title="Labeled Faces in the Wild",
        licence="research use; web images of unknown copyright (no licence stated by the release)",
        redistributable=False,
        citation=(
            "Huang, G. B., Ramesh, M., Berg, T. and Learned-Miller, E. Labeled Faces in the Wild: A "
            "Database for Studying Face Recognition in Unconstrained Environments. UMass TR 07-49, 2007."
        ),
        url="http://vis-www.cs.umass.edu/lfw/",
        tasks=("same_person",),
    )

    def _lists(self) -> dict[str, Path]:
        """split name → pairs list: View 1's two files, else pairs.txt as 'test'."""
        dev = {split: self.find_optional([name], "LFW split list") for split, name in DEV.items()}
        if all(dev.values()):
            return dev  # type: ignore[return-value]
        pairs = self.find_optional(["pairs.txt"], "LFW pairs list")
        if pairs is None:
            raise missing_error(
                self.root, ["pairs.txt", "pairsDevTrain.txt + pairsDevTest.txt"], "LFW pair lists", HOW
            )
        return {"test": pairs}

    def _images(self) -> Path:
        """The folder of person folders: lfw/ (or a funneled variant), or the source folder itself."""
        found = self.find_optional(IMAGES, "LFW images", folder=True)
        if found is not None:
            return found
        if any(path.is_dir() for path in self.root.iterdir()):
            return self.root
        raise missing_error(self.root, IMAGES, "LFW images, one folder per person", HOW)

    def check(self) -> None:
        self._lists()
        self._images()

    def listed_samples(self) -> Iterator[FaceSample]:
        lists = self._lists()
        images = self._images()
        samples = SampleList(self.skipped)
        for split, path in lists.items():
            for line, fold, first, second in _pairs(path, view2=path.name == "pairs.txt"):
                files = tuple(
                    listed_path(images, f"{name}/{name}_{number:04d}.jpg", path, line)
                    for name, number in (first, second)
                )
                if not all(file.is_file() for file in files):
                    self.skipped["missing_image"] += 1
                    continue
                same = first[0] == second[0]
                prefix = f"{split}/" if fold is None else f"fold{fold:02d}/"
                samples.add(
                    FaceSample(
                        "lfw",
                        prefix + "__".join(f"{name}_{number:04d}" for name, number in (first, second)),
                        "pair",
                        files,
                        {"same_person": same},
                        split=split,
                        identity=first[0] if same else None,
                        pair_identities=(first[0], second[0]),
                    )
                )
        yield from samples.sorted()


def _pairs(path: Path, view2: bool) -> Iterator[tuple[int, int | None, tuple[str, int], tuple[str, int]]]:
    """(line, fold or None, (name, n), (name, n)) of a pairs list. View 2's first line is
    '<folds> <pairs per half-fold>', View 1's the number of pairs of each kind; each block holds
    that many matched lines 'name i j' then as many mismatched lines 'name1 i name2 j'."""
    rows = text_rows(path)
    first = next(rows, None)
    if first is None:
        raise HvgenError(f"{path}: empty file; download it again.")
    line, header = first
    expected = 2 if view2 else 1
    if len(header) != expected:
        what = "'<folds> <pairs>'" if view2 else "'<pairs>'"
        raise line_error(path, line, f"the first line must be {what}, got {' '.join(header)!r}")
    folds = parse_int(path, line, header[0], "fold count") if view2 else 1
    per_half = parse_int(path, line, header[-1], "pair count")
    for fold in range(1, folds + 1):
        for position in range(2 * per_half):
            row = next(rows, None)
            if row is None:
                raise line_error(
                    path,
                    line,
                    f"says {folds} fold(s) of 2 x {per_half} pairs but the file ends early",
                    "The file is truncated; download it again.",
                )
            line, fields = row
            matched = position < per_half
            if len(fields) != (3 if matched else 4):
                kind = "matched 'name i j'" if matched else "mismatched 'name1 i name2 j'"
                raise line_error(path, line, f"expected a {kind} line, got {' '.join(fields)!r}")
            first_name, first_number, second_name, second_number = (
                (fields[0], fields[1], fields[0], fields[2]) if matched else fields
            )
            yield (
                line,
                fold if view2 else None,
                (first_name, parse_int(path, line, first_number, "image number")),
                (second_name, parse_int(path, line, second_number, "image number")),
            )
    extra = next(rows, None)
    if extra is not None:
        raise line_error(
            path, extra[0], f"more lines than the {folds} x 2 x {per_half} pairs the first line announces"
        )
