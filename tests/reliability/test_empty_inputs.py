"""An empty input is an error, not a crash (issue 21, item 10).

A COCO file with no eligible person used to crash `hvgen herm` with a DuckDB traceback and leave
a run directory that crashed again on rerun; a face source with no usable face did the same.
Each is now one line, a non-zero exit, and no run directory left behind (a folder the user made
beforehand is kept).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from face_sources import write_fairface
from herm_coco import write_coco
from reliability_helpers import one_error_line

from hvgen.cli import main


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *expected: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    line = one_error_line(capsys.readouterr().err)
    for text in expected:
        assert text in line, line
    return line


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_coco(tmp_path_factory.mktemp("coco"))


def _keypoints_variant(coco: dict[str, Path], tmp_path: Path, change) -> Path:
    data = json.loads(coco["keypoints"].read_text())
    change(data)
    path = tmp_path / "keypoints.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda d: d.update(annotations=[]), ["no person to ask about", "0 person annotations"]),
        (lambda d: d.pop("annotations"), ["no 'annotations' list"]),
        (lambda d: d.update(annotations={"id": 1}), ["'annotations' is an object, not a list"]),
        (lambda d: d.update(annotations=7), ["'annotations' is a number, not a list"]),
        (lambda d: d.update(images="none"), ["'images' is a string, not a list"]),
    ],
)
def test_a_coco_file_without_people_is_one_line_and_leaves_no_run(
    coco: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], change, expected: list[str]
) -> None:
    keypoints = _keypoints_variant(coco, tmp_path, change)
    run = tmp_path / "run"
    argv = ["herm", "--coco-keypoints", str(keypoints), "--images", str(coco["images"]), "--out", str(run)]
    _fails(capsys, argv, *expected)
    assert not run.exists(), "a refused run left its directory behind"
    _fails(capsys, argv, *expected)  # the rerun says the same, no traceback


def test_min_area_above_every_person_says_so(
    coco: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    argv = ["herm", "--coco-keypoints", str(coco["keypoints"]), "--images", str(coco["images"]),
            "--min-area", "100000000", "--out", str(run)]  # fmt: skip
    _fails(capsys, argv, "no person to ask about", "--min-area 100000000", "smaller --min-area")
    assert not run.exists()


def test_a_folder_the_user_made_is_kept(
    coco: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keypoints = _keypoints_variant(coco, tmp_path, lambda d: d.update(annotations=[]))
    run = tmp_path / "mine"
    run.mkdir()
    argv = ["herm", "--coco-keypoints", str(keypoints), "--images", str(coco["images"]), "--out", str(run)]
    _fails(capsys, argv, "no person to ask about")
    assert run.is_dir()
    _fails(capsys, argv, "no person to ask about")


def test_a_face_source_without_a_usable_face(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_fairface(tmp_path / "data")
    for image in source.rglob("*.jpg"):
        image.unlink()
    run = tmp_path / "run"
    _fails(
        capsys,
        ["faceqa", "--source", f"fairface={source}", "--out", str(run)],
        "--source fairface",
        "no usable face",
    )
    assert not run.exists()


def test_undecodable_faces_only(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = write_fairface(tmp_path / "data")
    for image in source.rglob("*.jpg"):
        image.write_bytes(b"not a jpeg")
    run = tmp_path / "run"
    _fails(
        capsys,
        ["faceqa", "--source", f"fairface={source}", "--out", str(run)],
        "no usable face",
        "undecodable",
    )
    assert not run.exists()


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_a_prompts_file_without_a_prompt(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(text)
    _fails(
        capsys,
        ["scan", "tiny", "--prompts", str(prompts), "--out", str(tmp_path / "scan")],
        "holds no prompt",
    )
    assert not (tmp_path / "scan").exists()
