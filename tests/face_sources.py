"""Tiny copies of each face source's real release layout, with known labels.

One writer per source (`SOURCE_WRITERS[name](root) -> source folder`), each writing 3-30
samples of 16x16 solid-colour images (video clips: 3 frames) in the release's own file formats,
plus what the format can hold that a reader must skip: a listed image that is absent, a label
outside the task's classes, a malformed file name. `write_all_sources(root)` writes them all
(the Face QA generator's end-to-end test uses it). The expected labels are in
tests/test_face_readers.py, written from the published label maps, not from these files.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path

from PIL import Image

CELEBA_ATTRIBUTES = [
    "5_o_Clock_Shadow",
    "Arched_Eyebrows",
    "Attractive",
    "Bags_Under_Eyes",
    "Bald",
    "Bangs",
    "Big_Lips",
    "Big_Nose",
    "Black_Hair",
    "Blond_Hair",
    "Blurry",
    "Brown_Hair",
    "Bushy_Eyebrows",
    "Chubby",
    "Double_Chin",
    "Eyeglasses",
    "Goatee",
    "Gray_Hair",
    "Heavy_Makeup",
    "High_Cheekbones",
    "Male",
    "Mouth_Slightly_Open",
    "Mustache",
    "Narrow_Eyes",
    "No_Beard",
    "Oval_Face",
    "Pale_Skin",
    "Pointy_Nose",
    "Receding_Hairline",
    "Rosy_Cheeks",
    "Sideburns",
    "Smiling",
    "Straight_Hair",
    "Wavy_Hair",
    "Wearing_Earrings",
    "Wearing_Hat",
    "Wearing_Lipstick",
    "Wearing_Necklace",
    "Wearing_Necktie",
    "Young",
]


def image(path: Path) -> Path:
    """A 16x16 image of one colour (derived from the path) in the format its suffix names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = tuple(hashlib.blake2b(path.name.encode(), digest_size=3).digest())
    Image.new("RGB", (16, 16), colour).save(path)
    return path


def clip(folder: Path, frames: Sequence[str] = ("0.png", "2.png", "10.png"), nested: bool = False) -> Path:
    """A clip folder of solid-colour frames (in `folder/frame/` when `nested`, FFDBackbone's layout)."""
    for name in frames:
        image((folder / "frame" if nested else folder) / name)
    return folder


def _csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def _text(path: Path, lines: Sequence[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def write_fairface(root: Path) -> Path:
    """5 train + 2 val rows over 8 age bins, both genders and all 7 race groups; train/5.jpg absent."""
    source = root / "fairface"
    header = ("file", "age", "gender", "race", "service_test")
    train = [
        ("train/1.jpg", "0-2", "Male", "East Asian", "True"),
        ("train/2.jpg", "3-9", "Female", "Indian", "False"),
        ("train/3.jpg", "10-19", "Male", "Black", "False"),
        ("train/4.jpg", "more than 70", "Female", "Latino_Hispanic", "True"),
        ("train/5.jpg", "20-29", "Male", "White", "False"),
        ("train/6.jpg", "40-49", "Female", "White", "False"),
    ]
    val = [
        ("val/1.jpg", "30-39", "Female", "Middle Eastern", "False"),
        ("val/2.jpg", "60-69", "Male", "Southeast Asian", "True"),
        ("val/3.jpg", "50-59", "Female", "Black", "True"),
    ]
    _csv(source / "fairface_label_train.csv", header, train)
    _csv(source / "fairface_label_val.csv", header, val)
    for row in train + val:
        if row[0] != "train/5.jpg":
            image(source / row[0])
    return source


UTKFACE_FILES = (
    "25_0_0_20170116174525125.jpg.chip.jpg",
    "3_1_1_20161219140623097.jpg.chip.jpg",
    "71_0_2_20170109150557335.jpg.chip.jpg",
    "40_1_3_20170119164811221.jpg.chip.jpg",
    "8_1_4_20170109204207662.jpg.chip.jpg",
    "39_1_20170116174525125.jpg.chip.jpg",  # the race field is missing: bad_filename
    "1_2_0_20161219140623097.jpg.chip.jpg",  # gender 2 does not exist: bad_filename
)


def write_utkface(root: Path) -> Path:
    source = root / "utkface"
    for name in UTKFACE_FILES:
        image(source / "UTKFace" / name)
    image(source / "part1" / "62_0_0_20170111200442245.jpg")  # the in-the-wild naming, no .chip
    return source


def write_celeba(root: Path, nested: bool = True) -> Path:
    """4 images with 40 attributes, 3 identities, one per split; 000004.jpg absent. `nested`:
    the official Anno/ Eval/ Img/ layout, else everything in one folder."""
    source = root / ("celeba" if nested else "celeba_flat")
    anno, evaluation, img = (source / "Anno", source / "Eval", source / "Img") if nested else (source,) * 3
    values = {
        "000001.jpg": {"Eyeglasses", "Male", "Smiling"},
        "000002.jpg": {"Blond_Hair", "Wearing_Hat", "Young"},
        "000003.jpg": {"Bald", "Mustache"},
        "000004.jpg": set(),
    }
    lines = [str(len(values)), " ".join(CELEBA_ATTRIBUTES) + " "]
    for name, true in values.items():
        lines.append(name + " " + " ".join(" 1" if a in true else "-1" for a in CELEBA_ATTRIBUTES))
    _text(anno / "list_attr_celeba.txt", lines)
    _text(anno / "identity_CelebA.txt", ["000001.jpg 10", "000002.jpg 20", "000003.jpg 30", "000004.jpg 10"])
    _text(
        evaluation / "list_eval_partition.txt",
        ["000001.jpg 0", "000002.jpg 1", "000003.jpg 2", "000004.jpg 0"],
    )
    for name in ("000001.jpg", "000002.jpg", "000003.jpg"):
        image(img / "img_align_celeba" / name)
    return source


def write_rafdb(root: Path) -> Path:
    """RAF-DB basic/: labels 1-7 once each; train_00003 has only its original image, test_00002 none."""
    source = root / "rafdb"
    base = source / "basic"
    rows = [
        ("train_00001.jpg", 1), ("train_00002.jpg", 2), ("train_00003.jpg", 3), ("train_00004.jpg", 4),
        ("test_00001.jpg", 5), ("test_00003.jpg", 6), ("test_00004.jpg", 7), ("test_00002.jpg", 4),
    ]  # fmt: skip
    _text(base / "EmoLabel" / "list_patition_label.txt", [f"{name} {label}" for name, label in rows])
    for name, _label in rows:
        image(base / "Image" / "original" / name)
    for name, _label in rows:
        if name not in ("train_00003.jpg", "test_00002.jpg"):
            image(base / "Image" / "aligned" / name.replace(".jpg", "_aligned.jpg"))
    (base / "Image" / "original" / "test_00002.jpg").unlink()
    return source


AFFECTNET_HEADER = (
    "subDirectory_filePath", "face_x", "face_y", "face_width", "face_height", "facial_landmarks",
    "expression", "valence", "arousal",
)  # fmt: skip


def write_affectnet(root: Path) -> Path:
    """training.csv: 0-5 kept, 8 and 9 excluded; validation.csv: 6, 7 kept, 10 excluded, 7 absent."""
    source = root / "affectnet"
    landmarks = "10.5;20.25;30.0;40.75"

    def row(path: str, label: int) -> tuple:
        return (path, 0, 0, 16, 16, landmarks, label, 0.25, -0.5)

    train = [row(f"{n}/img{n}.jpg", n) for n in range(6)] + [row("8/img8.jpg", 8), row("9/img9.jpg", 9)]
    val = [row("6/img6.jpg", 6), row("7/img7.jpg", 7), row("10/img10.jpg", 10), row("7/absent.jpg", 7)]
    _csv(source / "training.csv", AFFECTNET_HEADER, train)
    _csv(source / "validation.csv", AFFECTNET_HEADER, val)
    for entry in train + val:
        if entry[0] != "7/absent.jpg":
            image(source / "Manually_Annotated_Images" / entry[0])
    return source


FERPLUS_HEADER = (
    "Usage", "Image name", "neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear",
    "contempt", "unknown", "NF",
)  # fmt: skip


def write_ferplus(root: Path) -> Path:
    """8 faces, one won by each emotion column; a tie, an unknown- and an NF-majority (excluded);
    a row with no image name."""
    source = root / "ferplus"
    rows = []
    usage = (
        "Training",
        "Training",
        "Training",
        "PublicTest",
        "PublicTest",
        "PrivateTest",
        "PrivateTest",
        "Training",
    )
    for column in range(8):
        votes = [0] * 10
        votes[column] = 6
        votes[(column + 1) % 8] = 3
        votes[8] = 1
        rows.append((usage[column], f"fer{column:07d}.png", *votes))
    rows.append(("Training", "fer0000008.png", 5, 5, 0, 0, 0, 0, 0, 0, 0, 0))  # tie: excluded
    rows.append(("Training", "fer0000009.png", 2, 0, 0, 0, 0, 0, 0, 0, 8, 0))  # unknown: excluded
    rows.append(("PrivateTest", "", 0, 0, 0, 0, 0, 0, 0, 0, 0, 10))  # not a face: excluded
    rows.append(("PublicTest", "", 0, 7, 0, 0, 0, 0, 0, 0, 3, 0))  # no image name: missing_image
    _csv(source / "fer2013new.csv", FERPLUS_HEADER, rows)
    folders = {"Training": "FER2013Train", "PublicTest": "FER2013Valid", "PrivateTest": "FER2013Test"}
    for entry in rows:
        if entry[1]:
            image(source / folders[entry[0]] / entry[1])
    return source


LFW_PEOPLE = {"Alice_Smith": 3, "Bob_Jones": 2, "Carol_White": 1, "Dan_Brown": 2}


def write_lfw(root: Path) -> Path:
    """pairs.txt with 2 folds of 2 matched + 2 mismatched pairs; one pair names an absent image."""
    source = root / "lfw"
    for name, count in LFW_PEOPLE.items():
        for number in range(1, count + 1):
            image(source / "lfw" / name / f"{name}_{number:04d}.jpg")
    lines = [
        "2\t2",
        "Alice_Smith\t1\t2", "Bob_Jones\t1\t2",
        "Alice_Smith\t1\tCarol_White\t1", "Bob_Jones\t2\tDan_Brown\t1",
        "Alice_Smith\t2\t3", "Dan_Brown\t1\t2",
        "Carol_White\t1\tDan_Brown\t2", "Carol_White\t1\tBob_Jones\t9",
    ]  # fmt: skip
    _text(source / "pairs.txt", lines)
    return source


def write_lfw_dev(source: Path) -> Path:
    """Add View 1 (pairsDevTrain.txt, pairsDevTest.txt: 1 matched + 1 mismatched pair each)."""
    _text(source / "pairsDevTrain.txt", ["1", "Alice_Smith\t1\t3", "Alice_Smith\t2\tBob_Jones\t1"])
    _text(source / "pairsDevTest.txt", ["1", "Dan_Brown\t2\t1", "Carol_White\t1\tDan_Brown\t1"])
    return source


FFPP_SPLITS = {"train": [["000", "003"]], "val": [["001", "002"]], "test": [["004", "005"]]}
FFPP_METHODS = ("Deepfakes", "Face2Face", "FaceSwap", "NeuralTextures")


def write_ffpp(root: Path) -> Path:
    """One id pair per split; reals in FFDBackbone's <video>/frame/ layout, fakes with frames
    directly in the folder; NeuralTextures' 005_004 (test) has no frames."""
    source = root / "ffpp"
    for split, pairs in FFPP_SPLITS.items():
        _text(source / "splits" / f"{split}.json", [json.dumps(pairs)])
        for first, second in pairs:
            for video in (first, second):
                clip(source / "original_sequences/youtube/c23/videos" / video, nested=True)
            for method in FFPP_METHODS:
                for name in (f"{first}_{second}", f"{second}_{first}"):
                    if (method, name) != ("NeuralTextures", "005_004"):
                        clip(source / "manipulated_sequences" / method / "c23/videos" / name)
    return source


def write_celebdf(root: Path) -> Path:
    """2 real and 2 fake test videos as frame folders; Celeb-synthesis/id1_id2_0003 has no frames."""
    source = root / "celebdf"
    entries = [
        ("1", "Celeb-real/id0_0000"), ("1", "YouTube-real/00170"),
        ("0", "Celeb-synthesis/id0_id16_0000"), ("0", "Celeb-synthesis/id1_id2_0003"),
    ]  # fmt: skip
    _text(source / "List_of_testing_videos.txt", [f"{flag} {path}.mp4" for flag, path in entries])
    for _flag, path in entries[:3]:
        clip(source / path, nested=True)
    return source


def write_dfdc(root: Path) -> Path:
    """labels.csv with 1 real and 2 fakes; ccc.mp4 has no frames."""
    source = root / "dfdc"
    _csv(source / "labels.csv", ("filename", "label"), [("aaa.mp4", 0), ("bbb.mp4", 1), ("ccc.mp4", 1)])
    for stem in ("aaa", "bbb"):
        clip(source / "test_videos" / stem, nested=True)
    return source


def write_ffiw(root: Path) -> Path:
    """source/ and target/ with the release's val/ level (2 real, 2 fake clips) and one clip without it."""
    source = root / "ffiw"
    for name in ("source", "target"):
        clip(source / name / "val" / "00001")
        clip(source / name / "val" / "00002", nested=True)
    clip(source / "target" / "extra_clip")
    return source


def write_dfew(root: Path) -> Path:
    """Fold 1: train clips 1-4 (labels 0-3), test clips 5-8 (labels 4-6; clip 8 has no frames)."""
    source = root / "dfew"
    split = source / "EmoLabel_DataSplit"
    _csv(
        split / "train(single-labeled)" / "train_set_1.csv",
        ("video_name", "label"),
        [(n, n - 1) for n in range(1, 5)],
    )
    _csv(
        split / "test(single-labeled)" / "test_set_1.csv",
        ("video_name", "label"),
        [(5, 4), (6, 5), (7, 6), (8, 2)],
    )
    for number in range(1, 8):
        clip(source / "clip_jpg_256" / f"{number:05d}", ("00001.jpg", "00002.jpg", "00003.jpg"))
    return source


def write_mafw(root: Path) -> Path:
    """Fold 1: train clips labelled 0-5, test clips 6-10, one per label."""
    source = root / "mafw"
    anno = source / "anno/single/no_caption/set_1"
    _csv(anno / "train.csv", ("video_name", "labels"), [(f"{n + 1:05d}.mp4", n) for n in range(6)])
    _csv(anno / "test.csv", ("video_name", "labels"), [(f"{n + 1:05d}.mp4", n) for n in range(6, 11)])
    for number in range(1, 12):
        clip(source / "frames_crop_align_224" / f"{number:05d}", ("1.png", "2.png", "3.png"))
    return source


FERV39K_EMOTIONS = ("Angry", "Disgust", "Fear", "Happy", "Neutral", "Sad", "Surprise")


def write_ferv39k(root: Path) -> Path:
    """Train: one clip per label 0-6 over two scenes; test: one clip, and one without frames."""
    source = root / "ferv39k"
    train = [
        (f"{'DailyLife' if n % 2 else 'Interview'}/{emotion}/{n:04d}", n)
        for n, emotion in enumerate(FERV39K_EMOTIONS)
    ]
    test = [("Terror/Fear/0100", 2), ("Terror/Sad/0101", 5)]
    _csv(source / "Annotation" / "train.csv", ("path", "id"), train)
    _csv(source / "Annotation" / "test.csv", ("path", "id"), test)
    for path, _label in train + test[:1]:
        clip(source / "2_ClipsforFaceCrop" / path, ("0001.jpg", "0002.jpg", "0003.jpg"))
    return source


def write_images(root: Path) -> Path:
    """A folder of unlabelled faces in five formats, one nested, plus a text file and a hidden image."""
    source = root / "images"
    for name in ("b.jpg", "a.png", "sub/c.webp", "sub/d.jpeg", "e.bmp", ".hidden/f.png"):
        image(source / name)
    _text(source / "README.txt", ["not an image"])
    return source


SOURCE_WRITERS: dict[str, Callable[[Path], Path]] = {
    "fairface": write_fairface,
    "utkface": write_utkface,
    "celeba": write_celeba,
    "rafdb": write_rafdb,
    "affectnet": write_affectnet,
    "ferplus": write_ferplus,
    "lfw": write_lfw,
    "ffpp": write_ffpp,
    "celebdf": write_celebdf,
    "dfdc": write_dfdc,
    "ffiw": write_ffiw,
    "dfew": write_dfew,
    "mafw": write_mafw,
    "ferv39k": write_ferv39k,
    "images": write_images,
}


def write_all_sources(root: Path) -> dict[str, Path]:
    """Every source's tiny release under `root`: source name → folder for `--source NAME=DIR`."""
    return {name: writer(root) for name, writer in SOURCE_WRITERS.items()}
