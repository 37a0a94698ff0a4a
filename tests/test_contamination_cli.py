"""`hvgen twins` and `hvgen contamination` refuse bad input in one line, before any work."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgen.cli import main


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *expected: str) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, err
    for text in expected:
        assert text in err.replace("\n", " "), err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--alpha", "nan"], ["--alpha", "nan"]),
        (["--alpha", "inf"], ["--alpha", "inf"]),
        (["--alpha", "0"], ["--alpha", "(0, 0.5]"]),
        (["--alpha", "-0.1"], ["--alpha"]),
        (["--alpha", "0.9"], ["--alpha", "0.9"]),
        (["--bootstrap", "0"], ["--bootstrap", "0"]),
        (["--bootstrap", "1000000000"], ["--bootstrap", "1000000000"]),
        (["--seed", "-1"], ["--seed", "-1"]),
    ],
)
def test_contamination_numbers_are_range_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: list[str]
) -> None:
    base = [
        "contamination",
        "--release",
        str(tmp_path),
        "--twins",
        str(tmp_path),
        "--predictions",
        "m=a.jsonl,b.jsonl",
    ]
    _fails(capsys, [*base, *args], *expected)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("m", "MODEL=RELEASE_PREDICTIONS,TWIN_PREDICTIONS"), ("m=a.jsonl", "two files or folders")],
)
def test_contamination_predictions_option_shape(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, expected: str
) -> None:
    _fails(
        capsys,
        ["contamination", "--release", str(tmp_path), "--twins", str(tmp_path), "--predictions", value],
        expected,
    )


def test_contamination_needs_runs_or_exports(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _fails(
        capsys,
        ["contamination", "--release", str(tmp_path), "--twins", str(tmp_path), "--predictions", "m=a,b"],
        "neither an hvgen run directory",
    )


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--seed", "-1"], ["--seed", "-1"]),
        (["--batch-size", "0"], ["--batch-size", "0"]),
        (["--clip-threshold", "nan"], ["--clip-threshold", "nan"]),
        (["--clip-threshold", "inf"], ["--clip-threshold", "inf"]),
        (["--from", "bogus"], ["--from", "bogus"]),
    ],
)
def test_twins_options_are_checked_and_nothing_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: list[str]
) -> None:
    out, release = tmp_path / "twins", tmp_path / "release"
    release.mkdir()
    _fails(capsys, ["twins", str(release), "--out", str(out), *args], *expected)
    assert not out.exists()


def test_twins_of_something_that_is_not_a_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "twins"
    _fails(capsys, ["twins", str(tmp_path / "nowhere"), "--out", str(out)], "not a folder")
    (tmp_path / "empty").mkdir()
    _fails(capsys, ["twins", str(tmp_path / "empty"), "--out", str(out)], "not a layout hvgen reads")
    assert not out.exists()


def test_twins_may_not_overlap_the_release(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """An --out inside, around or equal to the release: a later --overwrite would delete it."""
    release = tmp_path / "release"
    (release / "export").mkdir(parents=True)
    for out in (release, release / "twins", tmp_path):
        _fails(capsys, ["twins", str(release / "export"), "--out", str(out)], "overlap")
    assert sorted(p.name for p in release.iterdir()) == ["export"]
