"""Inputs stay where the user put them (issue 21, item 1).

A symbolic link inside a `--source` folder (or HERM's `--images`) that leads outside it used to be
followed: the linked file was embedded in the export and its absolute machine path written into
the rows' `file_name`. Such files are skipped, counted and named in one warning unless the user
passes `--follow-symlinks`; every source file is named relative to its source folder.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from face_sources import SOURCE_WRITERS, write_fairface, write_utkface
from herm_coco import write_coco
from PIL import Image

from hvgen.cli import main
from hvgen.readers.faces import face_reader


def _run(argv: list[str]) -> None:
    try:
        main(argv)
    except SystemExit as done:
        assert not done.code, f"hvgen {' '.join(argv)} exited {done.code}"


def _rows(run: Path) -> list[dict]:
    rows = []
    for parquet in sorted((run / "export" / "data").rglob("*.parquet")):
        rows += pq.read_table(parquet).to_pylist()
    return rows


def _secret(folder: Path) -> Path:
    """A private picture outside every source folder (a colour no fixture uses)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "private.jpg"
    Image.new("RGB", (16, 16), (1, 2, 3)).save(path)
    return path


def _link_out(target: Path, secret: Path) -> None:
    """Replace `target` (a file of a source) by a symbolic link to `secret`."""
    target.unlink()
    target.symlink_to(secret)


def _no_machine_path(rows: list[dict], *folders: Path) -> None:
    text = json.dumps([{k: v for k, v in row.items() if k != "image"} for row in rows], default=str)
    for folder in folders:
        assert str(folder) not in text and str(folder.resolve()) not in text


def test_a_link_out_of_a_fairface_folder_is_skipped_and_named_in_one_warning(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fairface(tmp_path / "data")
    secret = _secret(tmp_path / "elsewhere")
    _link_out(source / "train" / "1.jpg", secret)
    run = tmp_path / "run"
    _run(["faceqa", "--source", f"fairface={source}", "--num", "20", "--out", str(run)])
    warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
    linked = [line for line in warnings if "symbolic link" in line]
    assert len(linked) == 1 and "train/1.jpg" in linked[0] and "--follow-symlinks" in linked[0], warnings
    rows = _rows(run)
    assert rows and "train/1.jpg" not in {row["file_name"] for row in rows}
    _no_machine_path(rows, tmp_path)
    secret_bytes = secret.read_bytes()
    assert all((row.get("image") or {}).get("bytes") != secret_bytes for row in rows)
    card = (run / "export" / "README.md").read_text()
    assert str(tmp_path) not in card


def test_follow_symlinks_reads_the_link_and_names_it_inside_the_folder(tmp_path: Path) -> None:
    source = write_fairface(tmp_path / "data")
    _link_out(source / "train" / "1.jpg", _secret(tmp_path / "elsewhere"))
    run = tmp_path / "run"
    _run(["faceqa", "--source", f"fairface={source}", "--num", "20", "--follow-symlinks", "--out", str(run)])
    rows = _rows(run)
    assert "train/1.jpg" in {row["file_name"] for row in rows}
    assert {row["prompt"] for row in rows if row["file_name"] == "train/1.jpg"} == {"fairface:train/1.jpg"}
    _no_machine_path(rows, tmp_path)


def test_a_symlinked_source_folder_is_read_whole(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_fairface(tmp_path / "data")
    link = tmp_path / "linked-source"
    link.symlink_to(source, target_is_directory=True)
    run = tmp_path / "run"
    _run(["faceqa", "--source", f"fairface={link}", "--num", "20", "--out", str(run)])
    assert "symbolic link" not in capsys.readouterr().err
    names = {row["file_name"] for row in _rows(run)}
    assert "train/1.jpg" in names and all(not name.startswith("/") for name in names)


@pytest.mark.parametrize("name", sorted(SOURCE_WRITERS))
def test_every_face_reader_skips_files_linked_from_outside(tmp_path: Path, name: str) -> None:
    folder = SOURCE_WRITERS[name](tmp_path / "data")
    baseline = list(face_reader(name)(folder).samples())
    victim = baseline[0].images[0]
    secret = _secret(tmp_path / "elsewhere")
    shutil.copyfile(victim, secret)  # same bytes, so only the link decides
    _link_out(victim, secret)

    reader = face_reader(name)(folder)
    kept = list(reader.samples())
    assert all(victim not in sample.images for sample in kept)
    using = sum(victim in sample.images for sample in baseline)  # LFW shows a face in several pairs
    assert reader.skipped["outside_source"] == using
    assert len(kept) == len(baseline) - using

    trusting = face_reader(name)(folder)
    trusting.follow_symlinks = True
    assert [s.sample_id for s in trusting.samples()] == [s.sample_id for s in baseline]


def test_a_linked_folder_leading_outside_is_not_walked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_utkface(tmp_path / "data")
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    Image.new("RGB", (16, 16)).save(outside / "30_1_0_20170109150557335.jpg")
    (folder / "linked").symlink_to(outside, target_is_directory=True)
    reader = face_reader("utkface")(folder)
    ids = [sample.sample_id for sample in reader.samples()]
    assert not any(i.startswith("linked/") for i in ids)
    assert reader.skipped["outside_source"] == 1
    assert "linked/" in capsys.readouterr().err
    trusting = face_reader("utkface")(folder)
    trusting.follow_symlinks = True
    assert "linked/30_1_0_20170109150557335.jpg" in [s.sample_id for s in trusting.samples()]


def test_a_link_out_of_herm_images_is_skipped(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    coco = write_coco(tmp_path / "coco")
    images = coco["images"]
    victim = sorted(p for p in images.iterdir() if p.is_file())[0]
    secret = tmp_path / "elsewhere" / victim.name
    secret.parent.mkdir()
    shutil.copyfile(victim, secret)
    _link_out(victim, secret)
    args = ["herm", "--coco-keypoints", str(coco["keypoints"]), "--images", str(images), "--num", "50"]
    _run([*args, "--out", str(tmp_path / "run")])
    assert victim.name in capsys.readouterr().err
    rows = _rows(tmp_path / "run")
    assert rows and victim.name not in {row["file_name"] for row in rows}
    _no_machine_path(rows, tmp_path)
    _run([*args, "--follow-symlinks", "--out", str(tmp_path / "trusting")])
    assert victim.name in {row["file_name"] for row in _rows(tmp_path / "trusting")}


def test_a_planned_file_name_cannot_climb_out(tmp_path: Path) -> None:
    from hvgen.errors import HvgenError
    from hvgen.readers.source_folder import SourceFolder

    folder = SourceFolder(tmp_path)
    for name in ("../x.jpg", "/etc/passwd", "a/../../x.jpg"):
        with pytest.raises(HvgenError, match="not a path inside"):
            folder.locate(name, "file")
    os.symlink("/", tmp_path / "root")
    with pytest.raises(HvgenError, match="--follow-symlinks"):
        folder.locate("root/etc/hostname", "file")


def test_frames_extracted_to_a_cache_are_named_inside_the_source(tmp_path: Path) -> None:
    import cv2
    import numpy as np

    source = SOURCE_WRITERS["dfdc"](tmp_path / "data")
    video = source / "test_videos" / "ccc.mp4"  # listed in labels.csv, shipped only as a video
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"mp4v"), 5, (16, 16))
    for index in range(5):
        writer.write(np.full((16, 16, 3), 40 * index, np.uint8))
    writer.release()
    cache = tmp_path / "frames-cache"
    run = tmp_path / "run"
    _run(["faceqa", "--source", f"dfdc={source},frames_cache={cache}", "--frames", "2", "--with-images",
          "--out", str(run)])  # fmt: skip
    rows = [row for row in _rows(run) if row["sample_id"] == "test_videos/ccc"]
    assert rows and all(row["file_name"].startswith("test_videos/ccc/") for row in rows)
    assert all(name.startswith("test_videos/ccc/") for row in rows for name in row["source_frames"])
    assert all(frame["bytes"] for row in rows for frame in row["frame_images"])
    _no_machine_path(_rows(run), tmp_path)
