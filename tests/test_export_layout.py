"""`--layout image-once`: each picture stored once, joined back to its questions by `image_file`,
giving exactly the rows and pictures of the per-question layout."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
from datasets import load_dataset

from hvgen.cli import main
from hvgen.store.catalog import open_catalog

pytestmark = pytest.mark.heavy


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("layout") / "run"
    main(
        [
            "dysca",
            "--model",
            "tiny",
            "--steps",
            "2",
            "--num",
            "8",
            "--scenario",
            "clean,print",
            "--out",
            str(out),
        ]
    )
    return out


def _sha(image) -> str:
    return hashlib.sha256(image.convert("RGB").tobytes()).hexdigest()


def test_image_once_joins_back_to_the_per_question_rows(run: Path, tmp_path: Path) -> None:
    per_question = {
        name: {row["id"]: row for row in load_dataset(str(run / "export"), name, split="test")}
        for name in ("clean", "print")
    }
    main(["export", str(run), "--layout", "image-once"])
    export = run / "export"
    for name, rows in per_question.items():
        questions = load_dataset(str(export), name, split="test")
        pictures = load_dataset(str(export), f"{name}_images", split="test")
        assert "image" not in questions.column_names
        assert len(set(pictures["image_file"])) == pictures.num_rows  # each picture once
        row_of = {file: i for i, file in enumerate(pictures["image_file"])}
        assert questions.num_rows == len(rows)
        for question in questions:
            expected = rows[question["id"]]
            assert question["question"] == expected["question"] and question["answer"] == expected["answer"]
            assert _sha(pictures[row_of[question["image_file"]]]["image"]) == _sha(expected["image"])
    # Dysca asks several questions per picture: the clean pictures are stored once, not per question
    # (sizes at scale: scripts/bench_layout.py; with 8 images zstd already folds the repeats)
    stored = load_dataset(str(export), "clean_images", split="test").num_rows
    assert (
        stored
        == len({row["image_id"] for row in per_question["clean"].values()})
        < len(per_question["clean"])
    )
    card = (export / "README.md").read_text()
    assert "clean_images" in card and "image_file" in card


def test_an_image_once_release_is_a_valid_leak_check_source(run: Path, tmp_path: Path) -> None:
    run = shutil.copytree(
        run, tmp_path / "run"
    )  # the leak check drops everything: keep the shared run intact
    main(["export", str(run), "--layout", "image-once"])
    earlier = tmp_path / "earlier"
    shutil.copytree(run / "export", earlier)
    # every picture of the run is in the earlier release (its *_images configs), so all are leaks:
    # a build that drops every question is an error that names the leak check
    with pytest.raises(SystemExit):
        main(["build", str(run), "--against", str(earlier), "--no-export"])
    with open_catalog(run, read_only=True) as con:
        images = con.execute("SELECT count(*) FROM images").fetchone()[0]
        leaked = con.execute(
            "SELECT count(DISTINCT id) FROM drops WHERE kind = 'image' AND reason LIKE 'leak%'"
        ).fetchone()[0]
    assert leaked == images


def test_lmms_eval_format_refuses_the_image_once_layout(
    run: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit):
        main(["export", str(run), "--layout", "image-once", "--format", "lmms-eval"])
    assert "--layout per-question" in capsys.readouterr().err
