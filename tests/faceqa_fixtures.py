"""Test-only face sources for the Face QA generator: two small readers (registered under test
names) over folders the tests write — a csv of labels beside 16×16 PNG faces.

`test_faces`: redistributable, FairFace-like labels (age bin, gender, race, expression), no
official partition, no identities. `test_celebs`: not redistributable, CelebA-like (40
attributes, identities, an official partition that puts identity p1 in two splits) plus an
age in years. One file of each does not decode, one listed file is missing.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Iterator
from pathlib import Path

from face_sources import CELEBA_ATTRIBUTES
from PIL import Image

from hvgen.errors import HvgenError
from hvgen.readers.faces.base import FaceReader, FaceSample, SourceInfo, register_face_reader

ATTRIBUTES = CELEBA_ATTRIBUTES  # CelebA's 40, in list_attr_celeba.txt's order
AGE_BINS = ["0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70"]
EXPRESSIONS = ["neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger"]
RACES = ["east asian", "indian", "black", "white", "middle eastern", "latino_hispanic", "southeast asian"]


class _CsvReader(FaceReader):
    """Reads labels.csv; each row one face image under images/."""

    def check(self) -> None:
        if not (self.root / "labels.csv").is_file():
            raise HvgenError(
                f"{self.root / 'labels.csv'}: missing; a {self.info.title} folder holds labels.csv."
            )

    def rows(self) -> list[dict[str, str]]:
        with open(self.root / "labels.csv", newline="", encoding="utf-8") as handle:
            return sorted(csv.DictReader(handle), key=lambda row: row["file"])


@register_face_reader
class FixtureFaces(_CsvReader):
    info = SourceInfo(name="test_faces", title="Test Faces", licence="CC BY 4.0", redistributable=True,
                      citation="@misc{testfaces}", url="https://example.org/faces",
                      tasks=("age_bin", "gender", "race", "expression"))  # fmt: skip

    def listed_samples(self) -> Iterator[FaceSample]:
        for row in self.rows():
            labels = {"age_bin": row["age_bin"], "gender": row["gender"], "race": row["race"],
                      "expression": row["expression"]}  # fmt: skip
            yield FaceSample("test_faces", row["file"], "face", (self.root / "images" / row["file"],), labels)


@register_face_reader
class FixtureCelebs(_CsvReader):
    info = SourceInfo(name="test_celebs", title="Test Celebs", licence="research only (no redistribution)",
                      redistributable=False, citation="@misc{testcelebs}", url="https://example.org/celebs",
                      tasks=("attributes", "age"))  # fmt: skip

    def listed_samples(self) -> Iterator[FaceSample]:
        for row in self.rows():
            attributes = {name: row[name] == "1" for name in ATTRIBUTES}
            labels = {
                "attributes": attributes,
                "age": int(row["age"]),
                "gender": "male" if attributes["Male"] else "female",
            }
            yield FaceSample("test_celebs", row["file"], "face", (self.root / "images" / row["file"],), labels,
                             split=row["partition"], identity=row["identity"])  # fmt: skip
        images = self.root / "images"
        yield FaceSample("test_celebs", "pair-0", "pair", (images / "c000.png", images / "c006.png"),
                         {"same_person": True}, split="train", pair_identities=("p0",))  # fmt: skip
        yield FaceSample("test_celebs", "pair-1", "pair", (images / "c001.png", images / "c002.png"),
                         {"same_person": False}, split="test", pair_identities=("p1", "p2"))  # fmt: skip


@register_face_reader
class FixtureClips(_CsvReader):
    """FF++-like clips: clips/<name>/frame/<index>.png, labels in labels.csv (real or fake with a
    method, and an expression), redistributable."""

    info = SourceInfo(name="test_clips", title="Test Clips", licence="CC BY 4.0", redistributable=True,
                      citation="@misc{testclips}", url="https://example.org/clips",
                      tasks=("forgery", "manipulation", "expression"))  # fmt: skip

    def listed_samples(self) -> Iterator[FaceSample]:
        for row in self.rows():
            folder = self.root / "clips" / row["file"] / "frame"
            frames = tuple(sorted(folder.glob("*.png"), key=lambda p: int(p.stem)))
            labels = {
                "forgery": row["label"],
                "manipulation": row["method"] or None,
                "expression": row["expression"],
            }
            yield FaceSample("test_clips", row["file"], "video", frames, labels, split=row["split"])


def write_test_clips(root: Path, count: int = 6, frames: int = 20) -> Path:
    """`count` clips of `frames` frames: half real, half fake by two methods."""
    rows = []
    for i in range(count):
        fake = i % 2 == 1
        rows.append({"file": f"clip{i}", "label": "fake" if fake else "real",
                     "method": ("Deepfakes", "FaceSwap")[i // 2 % 2] if fake else "",
                     "expression": EXPRESSIONS[i % 3], "split": ("train", "test")[i % 2]})  # fmt: skip
        for index in range(frames):
            _face(root / "clips" / f"clip{i}" / "frame" / f"{index}.png", 200 + i * frames + index)
    _write_csv(root / "labels.csv", rows)
    return root


def _face(path: Path, index: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (16, 16), ((index * 37) % 256, (index * 91) % 256, (index * 53) % 256)).save(path)


def write_test_faces(root: Path, count: int = 42) -> Path:
    """`count` faces: age bins, genders, races and expressions cycling, so every label recurs."""
    rows = []
    for i in range(count):
        name = f"f{i:03d}.png"
        rows.append({"file": name, "age_bin": AGE_BINS[i % 5 + 2], "gender": ("male", "female")[i % 2],
                     "race": RACES[i % 7], "expression": EXPRESSIONS[i % 7]})  # fmt: skip
        if i == 3:
            (root / "images").mkdir(parents=True, exist_ok=True)
            (root / "images" / name).write_bytes(b"not a png")  # undecodable: skipped, counted
        elif i != 5:  # f005 is listed but missing
            _face(root / "images" / name, i)
    _write_csv(root / "labels.csv", rows)
    return root


def write_test_celebs(root: Path, count: int = 24) -> Path:
    """`count` faces of 6 identities (4 each); p1's official partition spans train and test."""
    rng = random.Random(7)
    rows = []
    for i in range(count):
        person = i % 6
        partition = ("train", "train", "val", "test", "test", "train")[person]
        if person == 1 and i >= 12:
            partition = "test"  # p1: 2 images in train, 2 in test → moved whole to train (tie: train first)
        row = {
            "file": f"c{i:03d}.png",
            "identity": f"p{person}",
            "partition": partition,
            "age": str(18 + 3 * i),
        }
        row |= {name: str(int(rng.random() < 0.4)) for name in ATTRIBUTES}
        rows.append(row)
        _face(root / "images" / row["file"], 100 + i)
    _write_csv(root / "labels.csv", rows)
    return root


def _write_csv(path: Path, rows: list[dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
