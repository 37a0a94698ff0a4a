"""Every face reader on a tiny copy of its release (tests/face_sources.py): labels through each
source's published index → name map, splits, identities, skip counts, and one clear error per
missing or malformed file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from face_sources import SOURCE_WRITERS, write_all_sources, write_celeba, write_lfw_dev

from hvgen.errors import HvgenError
from hvgen.readers.faces import EXPRESSIONS, FaceSample, face_reader, face_readers
from hvgen.readers.faces.base import SKIP_REASONS
from hvgen.readers.faces.label_maps import AGE_BINS, RACES, excluded_expressions, expression_map, label_maps

ALL_SOURCES = {
    "fairface", "utkface", "celeba", "rafdb", "affectnet", "ferplus", "lfw", "ffpp", "celebdf", "dfdc",
    "ffiw", "dfew", "mafw", "ferv39k", "images",
}  # fmt: skip
LABEL_KEYS = {
    "age_bin",
    "age",
    "gender",
    "race",
    "expression",
    "attributes",
    "same_person",
    "forgery",
    "manipulation",
}

# The reference's listing (shared/reference/faceqa.md, "Label maps"), in the unified names.
REFERENCE_EXPRESSION_MAPS = {
    "rafdb": {1: "surprise", 2: "fear", 3: "disgust", 4: "happiness", 5: "sadness", 6: "anger", 7: "neutral"},
    "affectnet": {0: "neutral", 1: "happiness", 2: "sadness", 3: "surprise", 4: "fear", 5: "disgust", 6: "anger", 7: "contempt"},
    "ferplus": {0: "neutral", 1: "happiness", 2: "surprise", 3: "sadness", 4: "anger", 5: "disgust", 6: "fear", 7: "contempt"},
    "dfew": {0: "happiness", 1: "sadness", 2: "neutral", 3: "anger", 4: "surprise", 5: "disgust", 6: "fear"},
    "mafw": {0: "anger", 1: "anxiety", 2: "contempt", 3: "disappointment", 4: "disgust", 5: "fear", 6: "happiness",
             7: "helplessness", 8: "neutral", 9: "sadness", 10: "surprise"},
    "ferv39k": {0: "anger", 1: "disgust", 2: "fear", 3: "happiness", 4: "neutral", 5: "sadness", 6: "surprise"},
}  # fmt: skip


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_all_sources(tmp_path_factory.mktemp("faces"))


def read(name: str, folder: Path, **options) -> tuple[object, list[FaceSample]]:
    reader = face_reader(name)(folder, **options)
    reader.check()
    return reader, list(reader.samples())


def by_id(samples: list[FaceSample]) -> dict[str, FaceSample]:
    return {sample.sample_id: sample for sample in samples}


def fresh(name: str, tmp_path: Path) -> Path:
    """A private copy of one source, for tests that break it."""
    return SOURCE_WRITERS[name](tmp_path)


# --- registry and label maps -------------------------------------------------------------------


def test_registry_lists_every_source_with_its_facts():
    # the built-in readers (other test modules register test-only ones in the same session)
    readers = {name: cls for name, cls in face_readers().items() if cls.__module__.startswith("hvgen.")}
    assert set(readers) == ALL_SOURCES == set(SOURCE_WRITERS)
    for name, cls in readers.items():
        info = cls.info
        assert info.name == name and info.title and info.licence
        assert set(info.tasks) <= LABEL_KEYS, name
        assert (name == "images") == (not info.citation)
    redistributable = {name for name, cls in readers.items() if cls.info.redistributable}
    assert redistributable == {"fairface"}  # only FairFace (CC BY 4.0) may be uploaded


def test_expression_maps_are_the_reference_listing():
    for source, listing in REFERENCE_EXPRESSION_MAPS.items():
        assert expression_map(source) == listing, source
    assert set(label_maps()["expression"]) == set(REFERENCE_EXPRESSION_MAPS)
    assert excluded_expressions("affectnet") == {8: "none", 9: "uncertain", 10: "non-face"}
    assert "inferred" in label_maps()["expression"]["dfew"]  # the reference marks DFEW's map [I]
    used = set().union(*(set(m.values()) for m in REFERENCE_EXPRESSION_MAPS.values()))
    assert used == set(EXPRESSIONS)


def test_demographic_maps():
    assert AGE_BINS == ("0-2", "3-9", "10-19", "20-29", "30-39", "40-49", "50-59", "60-69", "more than 70")
    assert set(RACES) == {
        "east_asian",
        "indian",
        "black",
        "white",
        "middle_eastern",
        "latino_hispanic",
        "southeast_asian",
    }
    assert label_maps()["fairface"]["gender"] == {"Male": "male", "Female": "female"}
    assert label_maps()["utkface"]["race"] == {0: "white", 1: "black", 3: "indian"}


def test_every_expression_index_reaches_a_reader(sources):
    """Across the fixtures each index of each expression map is read at least once."""
    for source, listing in REFERENCE_EXPRESSION_MAPS.items():
        _reader, samples = read(source, sources[source])
        assert {s.labels["expression"] for s in samples} == set(listing.values()), source


# --- image sources ------------------------------------------------------------------------------


def test_fairface(sources):
    reader, samples = read("fairface", sources["fairface"])
    found = by_id(samples)
    assert found["train/1.jpg"].labels == {"age_bin": "0-2", "gender": "male", "race": "east_asian"}
    assert found["train/4.jpg"].labels == {
        "age_bin": "more than 70",
        "gender": "female",
        "race": "latino_hispanic",
    }
    assert found["val/1.jpg"].labels["race"] == "middle_eastern" and found["val/1.jpg"].split == "val"
    assert found["val/2.jpg"].labels["race"] == "southeast_asian"
    assert {s.split for s in samples if s.sample_id.startswith("train/")} == {"train"}
    assert "train/5.jpg" not in found and reader.skipped == {"missing_image": 1}
    assert {s.labels["race"] for s in samples} == set(RACES)
    assert all(s.kind == "face" and len(s.images) == 1 and s.images[0].is_file() for s in samples)


def test_utkface(sources):
    reader, samples = read("utkface", sources["utkface"])
    found = by_id(samples)
    assert found["UTKFace/25_0_0_20170116174525125.jpg.chip.jpg"].labels == {
        "age": 25, "age_bin": "20-29", "gender": "male", "race": "white"}  # fmt: skip
    assert found["UTKFace/3_1_1_20161219140623097.jpg.chip.jpg"].labels["race"] == "black"
    assert found["UTKFace/40_1_3_20170119164811221.jpg.chip.jpg"].labels["race"] == "indian"
    assert (
        "race" not in found["UTKFace/71_0_2_20170109150557335.jpg.chip.jpg"].labels
    )  # Asian: no FairFace group
    assert found["UTKFace/71_0_2_20170109150557335.jpg.chip.jpg"].labels["age_bin"] == "more than 70"
    assert "race" not in found["UTKFace/8_1_4_20170109204207662.jpg.chip.jpg"].labels  # Others
    assert found["part1/62_0_0_20170111200442245.jpg"].labels["gender"] == "male"
    assert reader.skipped == {"bad_filename": 2} and len(samples) == 6


@pytest.mark.parametrize("nested", [True, False])
def test_celeba(tmp_path, nested):
    reader, samples = read("celeba", write_celeba(tmp_path, nested=nested))
    found = by_id(samples)
    assert set(found) == {"000001.jpg", "000002.jpg", "000003.jpg"} and reader.skipped == {"missing_image": 1}
    first = found["000001.jpg"]
    assert len(first.labels["attributes"]) == 40
    assert {name for name, value in first.labels["attributes"].items() if value} == {
        "Eyeglasses",
        "Male",
        "Smiling",
    }
    assert [(s.split, s.identity) for s in samples] == [("train", "10"), ("val", "20"), ("test", "30")]


def test_rafdb(sources):
    reader, samples = read("rafdb", sources["rafdb"])
    found = by_id(samples)
    assert {k: s.labels["expression"] for k, s in found.items()} == {
        "train_00001.jpg": "surprise", "train_00002.jpg": "fear", "train_00003.jpg": "disgust",
        "train_00004.jpg": "happiness", "test_00001.jpg": "sadness", "test_00003.jpg": "anger",
        "test_00004.jpg": "neutral",
    }  # fmt: skip
    assert found["train_00001.jpg"].images[0].name == "train_00001_aligned.jpg"
    assert found["train_00003.jpg"].images[0].parent.name == "original"  # no aligned crop: the original
    assert {s.sample_id: s.split for s in samples}["test_00001.jpg"] == "test"
    assert reader.skipped == {"missing_image": 1}
    # the basic/ folder itself works as well as its parent
    _reader, direct = read("rafdb", sources["rafdb"] / "basic")
    assert [s.sample_id for s in direct] == [s.sample_id for s in samples]


def test_affectnet(sources):
    reader, samples = read("affectnet", sources["affectnet"])
    assert {s.sample_id: (s.labels["expression"], s.split) for s in samples} == {
        "0/img0.jpg": ("neutral", "train"), "1/img1.jpg": ("happiness", "train"), "2/img2.jpg": ("sadness", "train"),
        "3/img3.jpg": ("surprise", "train"), "4/img4.jpg": ("fear", "train"), "5/img5.jpg": ("disgust", "train"),
        "6/img6.jpg": ("anger", "val"), "7/img7.jpg": ("contempt", "val"),
    }  # fmt: skip
    assert reader.skipped == {"excluded_label": 3, "missing_image": 1}


def test_ferplus_majority_rule(sources):
    reader, samples = read("ferplus", sources["ferplus"])
    assert {s.sample_id: (s.labels["expression"], s.split) for s in samples} == {
        "FER2013Train/fer0000000.png": ("neutral", "train"), "FER2013Train/fer0000001.png": ("happiness", "train"),
        "FER2013Train/fer0000002.png": ("surprise", "train"), "FER2013Valid/fer0000003.png": ("sadness", "val"),
        "FER2013Valid/fer0000004.png": ("anger", "val"), "FER2013Test/fer0000005.png": ("disgust", "test"),
        "FER2013Test/fer0000006.png": ("fear", "test"), "FER2013Train/fer0000007.png": ("contempt", "train"),
    }  # fmt: skip
    # the tie, the unknown-majority and the not-a-face rows; the row without an image name
    assert reader.skipped == {"excluded_label": 3, "missing_image": 1}


def test_images_folder(sources):
    reader, samples = read("images", sources["images"])
    assert [s.sample_id for s in samples] == ["a.png", "b.jpg", "e.bmp", "sub/c.webp", "sub/d.jpeg"]
    assert all(s.labels == {} and s.split is None and s.kind == "face" for s in samples)


# --- pairs --------------------------------------------------------------------------------------


def test_lfw_pairs(sources):
    reader, samples = read("lfw", sources["lfw"])
    found = by_id(samples)
    assert len(samples) == 7 and reader.skipped == {"missing_image": 1}
    same = found["fold01/Alice_Smith_0001__Alice_Smith_0002"]
    assert same.kind == "pair" and same.labels == {"same_person": True} and same.identity == "Alice_Smith"
    assert [p.name for p in same.images] == ["Alice_Smith_0001.jpg", "Alice_Smith_0002.jpg"]
    other = found["fold02/Carol_White_0001__Dan_Brown_0002"]
    assert other.labels == {"same_person": False} and other.pair_identities == ("Carol_White", "Dan_Brown")
    assert other.identity is None
    assert {s.split for s in samples} == {"test"}
    assert sum(s.labels["same_person"] for s in samples) == 4


def test_lfw_view1_gives_train_and_test(tmp_path):
    source = write_lfw_dev(fresh("lfw", tmp_path))
    _reader, samples = read("lfw", source)
    assert {(s.sample_id, s.split, s.labels["same_person"]) for s in samples} == {
        ("train/Alice_Smith_0001__Alice_Smith_0003", "train", True),
        ("train/Alice_Smith_0002__Bob_Jones_0001", "train", False),
        ("test/Dan_Brown_0002__Dan_Brown_0001", "test", True),
        ("test/Carol_White_0001__Dan_Brown_0001", "test", False),
    }


def test_lfw_without_the_lfw_level(tmp_path):
    source = fresh("lfw", tmp_path)
    for person in (source / "lfw").iterdir():
        person.rename(source / person.name)
    (source / "lfw").rmdir()
    _reader, samples = read("lfw", source)
    assert len(samples) == 7


# --- videos -------------------------------------------------------------------------------------


def test_ffpp(sources):
    reader, samples = read("ffpp", sources["ffpp"])
    found = by_id(samples)
    real = found["original_sequences/youtube/c23/videos/000"]
    assert real.kind == "video" and real.labels == {"forgery": "real", "manipulation": None}
    assert real.split == "train" and real.identity == "000"
    assert [p.name for p in real.images] == ["0.png", "2.png", "10.png"]  # numeric frame order
    fake = found["manipulated_sequences/Face2Face/c23/videos/002_001"]
    assert fake.labels == {"forgery": "fake", "manipulation": "Face2Face"}
    assert fake.split == "val" and fake.pair_identities == ("002", "001")
    assert sum(s.labels["forgery"] == "real" for s in samples) == 6
    assert len(samples) == 6 + 4 * 6 - 1 and reader.skipped == {"missing_image": 1}
    for sample in samples:  # FF++ splits keep every id in one split
        ids = {sample.identity, *sample.pair_identities} - {None}
        assert all(
            {"000": "train", "003": "train", "001": "val", "002": "val"}.get(i, "test") == sample.split
            for i in ids
        )


def test_ffpp_options(sources):
    with pytest.raises(HvgenError, match="c40"):
        read("ffpp", sources["ffpp"], compression="c40")  # not downloaded: names the folder
    with pytest.raises(HvgenError, match="unknown FaceForensics\\+\\+ compression 'c32'"):
        face_reader("ffpp")(sources["ffpp"], compression="c32")
    _reader, samples = read("ffpp", sources["ffpp"], methods=["Deepfakes"])
    assert {s.labels["manipulation"] for s in samples} == {None, "Deepfakes"}


def test_celebdf(sources):
    reader, samples = read("celebdf", sources["celebdf"])
    found = by_id(samples)
    assert (
        found["Celeb-real/id0_0000"].labels["forgery"] == "real"
        and found["Celeb-real/id0_0000"].identity == "id0"
    )
    assert found["YouTube-real/00170"].labels["forgery"] == "real"
    fake = found["Celeb-synthesis/id0_id16_0000"]
    assert fake.labels["forgery"] == "fake" and fake.pair_identities == ("id0", "id16")
    assert {s.split for s in samples} == {"test"} and reader.skipped == {"missing_image": 1}


def test_dfdc_and_ffiw(sources):
    reader, samples = read("dfdc", sources["dfdc"])
    assert {s.sample_id: s.labels["forgery"] for s in samples} == {
        "test_videos/aaa": "real",
        "test_videos/bbb": "fake",
    }
    assert reader.skipped == {"missing_image": 1}
    reader, samples = read("ffiw", sources["ffiw"])
    assert {s.sample_id: (s.labels["forgery"], s.split) for s in samples} == {
        "source/val/00001": ("real", "val"), "source/val/00002": ("real", "val"),
        "target/val/00001": ("fake", "val"), "target/val/00002": ("fake", "val"),
        "target/extra_clip": ("fake", "test"),
    }  # fmt: skip
    assert all(len(s.images) == 3 for s in samples)


def test_dfew(sources):
    reader, samples = read("dfew", sources["dfew"])
    assert {s.sample_id: (s.labels["expression"], s.split) for s in samples} == {
        "clip_jpg_256/00001": ("happiness", "train"), "clip_jpg_256/00002": ("sadness", "train"),
        "clip_jpg_256/00003": ("neutral", "train"), "clip_jpg_256/00004": ("anger", "train"),
        "clip_jpg_256/00005": ("surprise", "test"), "clip_jpg_256/00006": ("disgust", "test"),
        "clip_jpg_256/00007": ("fear", "test"),
    }  # fmt: skip
    assert reader.skipped == {"missing_image": 1}
    with pytest.raises(HvgenError, match=r"train_set_3\.csv"):
        read("dfew", sources["dfew"], fold=3)
    with pytest.raises(HvgenError, match="folds 1 to 5"):
        face_reader("dfew")(sources["dfew"], fold=6)
    assert face_reader("mafw")(sources["mafw"], fold="1").fold == 1  # as a CLI passes it


def test_mafw_and_ferv39k(sources):
    _reader, samples = read("mafw", sources["mafw"])
    assert [(s.labels["expression"], s.split) for s in samples] == [
        ("anger", "train"), ("anxiety", "train"), ("contempt", "train"), ("disappointment", "train"),
        ("disgust", "train"), ("fear", "train"), ("happiness", "test"), ("helplessness", "test"),
        ("neutral", "test"), ("sadness", "test"), ("surprise", "test"),
    ]  # fmt: skip
    reader, samples = read("ferv39k", sources["ferv39k"])
    found = by_id(samples)
    assert found["2_ClipsforFaceCrop/Interview/Angry/0000"].labels["expression"] == "anger"
    assert found["2_ClipsforFaceCrop/DailyLife/Happy/0003"].labels["expression"] == "happiness"
    assert found["2_ClipsforFaceCrop/Terror/Fear/0100"].split == "test"
    assert reader.skipped == {"missing_image": 1}
    for sample in samples:  # the emotion folder of the path agrees with the mapped label
        folder = sample.sample_id.split("/")[2]
        assert {"Angry": "anger", "Happy": "happiness", "Sad": "sadness"}.get(
            folder, folder.lower()
        ) == sample.labels["expression"]


def test_a_video_file_without_frames_is_one_clear_error(tmp_path):
    source = fresh("dfdc", tmp_path)
    (source / "test_videos" / "ccc.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42")
    with pytest.raises(HvgenError, match=r"ccc\.mp4: the clip is a video file.*ffmpeg"):
        read("dfdc", source)


def _video(path: Path, frames: int) -> Path:
    """A real mp4 (OpenCV's mp4v) of `frames` solid 16x16 frames."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 5, (16, 16))
    for index in range(frames):
        writer.write(np.full((16, 16, 3), 40 * index, np.uint8))
    writer.release()
    assert path.is_file()
    return path


def test_frames_cache_extracts_videos_once(tmp_path):
    source = fresh("dfdc", tmp_path)
    _video(source / "test_videos" / "ccc.mp4", 5)
    cache = tmp_path / "frames"
    reader, samples = read("dfdc", source, frames_cache=cache)
    extracted = by_id(samples)["test_videos/ccc"]
    assert [p.name for p in extracted.images] == ["0.png", "1.png", "2.png", "3.png", "4.png"]
    assert extracted.images[0].parent == cache / "dfdc" / "test_videos" / "ccc"
    assert extracted.labels["forgery"] == "fake" and reader.skipped == {}
    stamp = extracted.images[0].stat().st_mtime_ns
    _reader, again = read("dfdc", source, frames_cache=cache)  # reused, not extracted again
    assert by_id(again)["test_videos/ccc"].images[0].stat().st_mtime_ns == stamp
    (source / "test_videos" / "ddd.mp4").write_bytes(b"not a video")
    with open(source / "labels.csv", "a", encoding="utf-8") as handle:
        handle.write("ddd.mp4,0\n")
    reader, samples = read("dfdc", source, frames_cache=cache)
    assert reader.skipped == {"undecodable_video": 1} and len(samples) == 3


def test_ffpp_and_ffiw_find_video_files(tmp_path):
    ffpp = fresh("ffpp", tmp_path)
    _video(ffpp / "manipulated_sequences/NeuralTextures/c23/videos/005_004.mp4", 3)
    with pytest.raises(HvgenError, match=r"005_004\.mp4: the clip is a video file"):
        read("ffpp", ffpp)
    reader, samples = read("ffpp", ffpp, frames_cache=tmp_path / "cache")
    assert "manipulated_sequences/NeuralTextures/c23/videos/005_004" in by_id(samples)
    assert len(samples) == 30 and reader.skipped == {}
    ffiw = fresh("ffiw", tmp_path)
    _video(ffiw / "target" / "test" / "clip9.mp4", 4)
    with pytest.raises(HvgenError, match=r"clip9\.mp4"):
        read("ffiw", ffiw)
    _reader, samples = read("ffiw", ffiw, frames_cache=tmp_path / "cache")
    assert len(by_id(samples)["target/test/clip9"].images) == 4


# --- errors -------------------------------------------------------------------------------------

MISSING = [
    ("fairface", "fairface_label_val.csv"),
    ("celeba", "Eval/list_eval_partition.txt"),
    ("celeba", "Anno/identity_CelebA.txt"),
    ("rafdb", "basic/EmoLabel/list_patition_label.txt"),
    ("affectnet", "training.csv"),
    ("ferplus", "fer2013new.csv"),
    ("lfw", "pairs.txt"),
    ("ffpp", "splits/test.json"),
    ("celebdf", "List_of_testing_videos.txt"),
    ("dfdc", "labels.csv"),
    ("ffiw", "target"),
    ("dfew", "EmoLabel_DataSplit/test(single-labeled)/test_set_1.csv"),
    ("mafw", "anno/single/no_caption/set_1/train.csv"),
    ("ferv39k", "Annotation/test.csv"),
    ("ferv39k", "2_ClipsforFaceCrop"),
]


@pytest.mark.parametrize(("source", "relative"), MISSING)
def test_a_missing_required_file_is_named(tmp_path, source, relative):
    folder = fresh(source, tmp_path)
    target = folder / relative
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(
        HvgenError, match=Path(relative).name.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")
    ):
        face_reader(source)(folder).check()


def _replace_line(path: Path, line: int, text: str) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    lines[line - 1] = text
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


MALFORMED = [  # source, file, line to replace, its new text, expected words
    ("fairface", "fairface_label_train.csv", 3, "train/2.jpg,3-9,Female,Martian,False", "race 'Martian'"),
    ("fairface", "fairface_label_val.csv", 1, "file,age,sex,race,service_test", "header"),
    ("celeba", "Anno/list_attr_celeba.txt", 4, "000002.jpg 1 -1 1", "values of 1 or -1"),
    ("celeba", "Eval/list_eval_partition.txt", 2, "000002.jpg one", "partition 'one' is not an integer"),
    ("rafdb", "basic/EmoLabel/list_patition_label.txt", 5, "test_00001.jpg 9", "label 9 is not one of rafdb"),
    ("rafdb", "basic/EmoLabel/list_patition_label.txt", 2, "val_00002.jpg 2", "neither 'train_' nor 'test_'"),
    ("affectnet", "validation.csv", 3, "7/img7.jpg,0,0,16,16,1;2,11,0,0", "label 11 is not one of affectnet"),
    ("ferplus", "fer2013new.csv", 4, "Training,fer0000002.png,1,x,0,0,0,0,0,0,0,0", "happiness votes 'x'"),
    ("ferplus", "fer2013new.csv", 2, "Validation,fer0000000.png,6,3,0,0,0,0,0,0,1,0", "Usage 'Validation'"),
    ("lfw", "pairs.txt", 4, "Alice_Smith\t1\tCarol_White", "mismatched"),
    ("lfw", "pairs.txt", 2, "Alice_Smith\tone\t2", "image number 'one'"),
    ("celebdf", "List_of_testing_videos.txt", 2, "2 YouTube-real/00170.mp4", "expected '<0|1>"),
    ("dfdc", "labels.csv", 3, "bbb.mp4,2", "label 2 is neither"),
    (
        "dfew",
        "EmoLabel_DataSplit/test(single-labeled)/test_set_1.csv",
        2,
        "5,7",
        "label 7 is not one of dfew",
    ),
    ("mafw", "anno/single/no_caption/set_1/test.csv", 3, "00008.mp4", "has 1 fields"),
    ("ferv39k", "Annotation/train.csv", 2, "../../etc/x,0", "not a path inside"),
]


@pytest.mark.parametrize(("source", "relative", "line", "text", "words"), MALFORMED)
def test_a_malformed_line_is_one_error_naming_file_and_line(tmp_path, source, relative, line, text, words):
    folder = fresh(source, tmp_path)
    _replace_line(folder / relative, line, text)
    with pytest.raises(HvgenError) as raised:
        list(face_reader(source)(folder).samples())
    message = str(raised.value)
    assert f"{folder / relative}:{line}:" in message and words in message


def test_truncated_lists_are_reported(tmp_path):
    celeba = write_celeba(tmp_path)
    _replace_line(celeba / "Anno/list_attr_celeba.txt", 1, "5")
    with pytest.raises(HvgenError, match=r"list_attr_celeba\.txt:1: says 5 images but 4 follow"):
        list(face_reader("celeba")(celeba).samples())
    lfw = fresh("lfw", tmp_path)
    _replace_line(lfw / "pairs.txt", 1, "3\t2")
    with pytest.raises(HvgenError, match=r"pairs\.txt:9: says 3 fold\(s\)"):
        list(face_reader("lfw")(lfw).samples())
    ffpp = fresh("ffpp", tmp_path)
    (ffpp / "splits/val.json").write_text(json.dumps([["001"]]))
    with pytest.raises(HvgenError, match=r"val\.json: entry 1"):
        list(face_reader("ffpp")(ffpp).samples())


# --- determinism and bookkeeping ----------------------------------------------------------------


def test_order_is_sorted_and_stable(sources):
    for name, folder in sources.items():
        reader, first = read(name, folder)
        _again, second = read(name, folder)
        ids = [s.sample_id for s in first]
        assert ids == sorted(ids) and len(set(ids)) == len(ids), name
        assert first == second, name
        assert set(reader.skipped) <= set(SKIP_REASONS), name
        assert all(set(s.labels) <= LABEL_KEYS for s in first), name
        assert all(s.source == name for s in first)


def test_a_file_listed_twice_is_kept_once(tmp_path):
    folder = fresh("affectnet", tmp_path)
    with open(folder / "training.csv", "a", encoding="utf-8") as handle:
        handle.write("0/img0.jpg,0,0,16,16,1;2,0,0.25,-0.5\n")
    reader, samples = read("affectnet", folder)
    assert len(samples) == 8 and reader.skipped["duplicate"] == 1
