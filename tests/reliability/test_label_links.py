"""Label files and annotate's folder stay where the user put them (issue 21, item 1).

A Face QA source's label lists (CelebA's txt, FairFace's csv, FaceForensics++'s split json ...)
were opened wherever a symbolic link in the source folder led, and `hvgen annotate DIR` read, and
captioned, image files linked from anywhere. A label file that leads outside is refused in one
line saying how to opt in (`--follow-symlinks`); annotate skips such images, counts them and says
so; names inside a label file that are absolute or climb out ('..') are refused.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from face_sources import SOURCE_WRITERS, write_fairface
from PIL import Image
from reliability_helpers import one_error_line

from hvgen.cli import main
from hvgen.errors import HvgenError
from hvgen.readers.faces import face_reader

LABEL_SUFFIXES = (".csv", ".txt", ".json")


def _label_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix in LABEL_SUFFIXES)


NO_LABEL_FILES = {
    "utkface": "labels are in the file names",
    "ffiw": "real and fake are the folder names source/ and target/",
    "images": "a plain folder of images, no labels",
}
READERS_WITH_LABELS = sorted(name for name in SOURCE_WRITERS if name not in NO_LABEL_FILES)


@pytest.mark.parametrize("name", READERS_WITH_LABELS)
def test_a_label_file_linked_from_outside_is_refused(tmp_path: Path, name: str) -> None:
    folder = SOURCE_WRITERS[name](tmp_path / "data")
    baseline = [s.sample_id for s in face_reader(name)(folder).samples()]
    labels = _label_files(folder)
    assert labels, f"{name}: the fixture writes no label file"
    outside = tmp_path / "elsewhere"
    for label in labels:  # every label file: the reader must refuse whichever it reads first
        copy = outside / label.relative_to(folder)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(label, copy)
        label.unlink()
        label.symlink_to(copy)
    with pytest.raises(HvgenError) as refused:
        list(face_reader(name)(folder).samples())
    message = str(refused.value)
    assert "symbolic link" in message and "--follow-symlinks" in message, message
    assert str(tmp_path) not in message.split("--source")[1], "the file is named inside its folder"
    trusting = face_reader(name)(folder)
    trusting.follow_symlinks = True
    assert [s.sample_id for s in trusting.samples()] == baseline


def test_faceqa_refuses_a_linked_label_file_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fairface(tmp_path / "data")
    label = source / "fairface_label_train.csv"
    copy = tmp_path / "elsewhere" / label.name
    copy.parent.mkdir()
    shutil.copyfile(label, copy)
    label.unlink()
    label.symlink_to(copy)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as done:
        main(["faceqa", "--source", f"fairface={source}", "--num", "5", "--out", str(out)])
    assert done.value.code == 2
    line = one_error_line(capsys.readouterr().err.replace("\n", " ").replace("error:", "\nerror:"))
    assert "fairface_label_train.csv" in line and "--follow-symlinks" in line, line
    assert not out.exists()


@pytest.mark.parametrize("name", ["../outside.jpg", "/etc/hostname", "train/../../x.jpg"])
def test_a_name_inside_a_label_file_cannot_leave_the_folder(tmp_path: Path, name: str) -> None:
    folder = write_fairface(tmp_path / "data")
    labels = folder / "fairface_label_val.csv"
    lines = labels.read_text().splitlines()
    first = lines[1].split(",")
    lines.append(",".join([name, *first[1:]]))
    labels.write_text("\n".join(lines) + "\n")
    with pytest.raises(HvgenError, match="not a path inside the source folder"):
        list(face_reader("fairface")(folder).samples())


def _annotate_folder(tmp_path: Path) -> tuple[Path, Path]:
    images = tmp_path / "images"
    (images / "sub").mkdir(parents=True)
    Image.new("RGB", (16, 16), (10, 20, 30)).save(images / "a.png")
    Image.new("RGB", (16, 16), (30, 20, 10)).save(images / "sub" / "b.png")
    secret = tmp_path / "elsewhere" / "private.png"
    secret.parent.mkdir()
    Image.new("RGB", (16, 16), (1, 2, 3)).save(secret)
    (images / "linked.png").symlink_to(secret)
    (images / "linked-folder").symlink_to(secret.parent, target_is_directory=True)
    return images, secret


def test_annotate_skips_images_linked_from_outside_and_says_how_to_opt_in(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, _ = _annotate_folder(tmp_path)
    out = tmp_path / "out"
    main(["annotate", str(images), "--captioner", "tiny", "--out", str(out), "--max-new-tokens", "4"])
    err = capsys.readouterr().err
    warning = [line for line in err.replace("\n", " ").split("warning:") if "symbolic link" in line]
    assert len(warning) == 1 and "2 file(s)" in warning[0] and "--follow-symlinks" in warning[0], err
    rows = [json.loads(line) for line in (out / "annotations.jsonl").read_text().splitlines()]
    assert sorted(row["key"] for row in rows) == ["a.png", "sub/b.png"]
    assert str(tmp_path) not in (out / "annotations.jsonl").read_text()


def test_annotate_follow_symlinks_reads_them_named_inside_the_folder(tmp_path: Path) -> None:
    images, _ = _annotate_folder(tmp_path)
    out = tmp_path / "out"
    main(["annotate", str(images), "--captioner", "tiny", "--out", str(out), "--max-new-tokens", "4",
          "--follow-symlinks"])  # fmt: skip
    rows = [json.loads(line) for line in (out / "annotations.jsonl").read_text().splitlines()]
    assert sorted(row["key"] for row in rows) == [
        "a.png",
        "linked-folder/private.png",
        "linked.png",
        "sub/b.png",
    ]
    assert str(tmp_path) not in (out / "annotations.jsonl").read_text()


def test_annotate_with_only_outside_images_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    images, secret = _annotate_folder(tmp_path)
    (images / "a.png").unlink()
    shutil.rmtree(images / "sub")
    out = tmp_path / "out"
    with pytest.raises(SystemExit) as done:
        main(["annotate", str(images), "--captioner", "tiny", "--out", str(out)])
    assert done.value.code == 2
    line = one_error_line(capsys.readouterr().err.replace("\n", " ").replace("error:", "\nerror:"))
    assert "--follow-symlinks" in line, line
    assert not out.exists()


def _outside_copy(tmp_path: Path, source: Path) -> Path:
    copy = tmp_path / "elsewhere" / source.name
    copy.parent.mkdir(exist_ok=True)
    shutil.copyfile(source, copy)
    return copy


@pytest.mark.parametrize(
    ("bench", "option", "file", "inputs"),
    [
        ("dysca", "--vocab", "vocab/animal.txt", ["--model", "tiny"]),
        ("dysca", "--templates", "prompt.j2", ["--model", "tiny"]),
        ("faceqa", "--templates", "questions.j2", ["--synthetic", "--model", "tiny"]),
        ("faceqa", "--templates", "faceqa.yaml", ["--synthetic", "--model", "tiny"]),
    ],
    ids=["dysca-vocab", "dysca-prompt", "faceqa-questions", "faceqa-yaml"],
)
def test_vocab_and_template_files_linked_from_outside_are_refused(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    bench: str,
    option: str,
    file: str,
    inputs: list[str],
) -> None:
    """A --vocab or --templates folder (an archive, a shared drive) whose file links to one outside:
    its lines became published prompts and questions; now one line, nothing made."""
    from hvgen.benchmark_data import template_dir

    folder = tmp_path / "mine"
    folder.mkdir()
    link = folder / Path(file).name
    link.symlink_to(_outside_copy(tmp_path, template_dir(bench) / file))
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as done:
        main([bench, *inputs, "--num", "2", option, str(folder), "--dry-run", "--out", str(out)])
    assert done.value.code == 2
    line = one_error_line(capsys.readouterr().err.replace("\n", " ").replace("error:", "\nerror:"))
    assert "symbolic link" in line and Path(file).name in line, line
    assert not out.exists()


def test_an_include_of_a_linked_template_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hvgen.benchmark_data import template_dir

    folder = tmp_path / "mine"
    folder.mkdir()
    shipped = (template_dir("dysca") / "prompt.j2").read_text()
    assert "{% block prompt %}" in shipped  # dysca renders this block: the include is read
    (folder / "prompt.j2").write_text(
        shipped.replace("{% block prompt %}", '{% block prompt %}{% include "extra.j2" %}')
    )
    secret = tmp_path / "elsewhere" / "secret.j2"
    secret.parent.mkdir()
    secret.write_text("private words\n")
    (folder / "extra.j2").symlink_to(secret)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as done:
        main(
            [
                "dysca",
                "--model",
                "tiny",
                "--num",
                "2",
                "--templates",
                str(folder),
                "--dry-run",
                "--out",
                str(out),
            ]
        )
    assert done.value.code == 2
    line = one_error_line(capsys.readouterr().err.replace("\n", " ").replace("error:", "\nerror:"))
    assert "extra.j2" in line and "symbolic link" in line, line
    assert not out.exists()
