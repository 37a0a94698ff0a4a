"""scan's default does not flag a benign prompt; numeric options and Jinja includes are refused
in one line (issue 21, item 11).

`hvgen scan tiny` flagged "a photo of a cat" and exited 1 under T2IShield's threshold rescaled to a
model it was never fitted to; a 100k-character prompt was silently cut to 77 tokens and printed
whole; NaN and inf reached scan.json (invalid JSON); `--batch-size 0`, `--steps 0`, `--width 0`,
`--fpr 2` were a traceback, silently replaced or silently ignored; `{% include %}` in a template
was a TypeError or TemplateNotFound traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from reliability_helpers import one_error_line

from hvgen.cli import main


def _exit_code(argv: list[str]) -> int:
    try:
        main(argv)
    except SystemExit as done:
        return int(done.code or 0)
    return 0


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *expected: str) -> str:
    assert _exit_code(argv) == 2
    line = one_error_line(capsys.readouterr().err)
    for text in expected:
        assert text in line, line
    return line


FAST = ["--steps", "2", "--batch-size", "2"]


def test_an_uncalibrated_scan_reports_but_does_not_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a photo of a cat\n")
    out = tmp_path / "scan"
    assert _exit_code(["scan", "tiny", "--prompts", str(prompts), "--out", str(out), *FAST]) == 0
    err = capsys.readouterr().err
    assert "uncalibrated" in err and "--calibrate" in err
    report = json.loads((out / "scan.json").read_text(), parse_constant=_no_constants)
    assert report["calibrated"] is False and report["flagged"] == 0
    assert report["results"][0]["flagged"] is None


def test_a_long_prompt_is_cut_in_the_table_and_warned_about(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prompts = tmp_path / "prompts.txt"
    long_prompt = "a photo of a dog " * 6000  # ~100k characters
    prompts.write_text(long_prompt + "\na photo of a cat\n")
    out = tmp_path / "scan"
    assert _exit_code(["scan", "tiny", "--prompts", str(prompts), "--out", str(out), *FAST]) == 0
    captured = capsys.readouterr()
    assert "longer than the text encoder's 77 tokens" in captured.err
    assert long_prompt.strip() not in captured.out and len(captured.out) < 10_000
    assert "only the first 77 tokens read" in captured.out
    results = json.loads((out / "scan.json").read_text())["results"]
    assert [r["truncated"] for r in results] == [True, False]
    assert results[0]["prompt"] == long_prompt.strip()  # the report keeps it whole


def _no_constants(name: str) -> None:
    raise AssertionError(f"scan.json holds {name}: not JSON")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--threshold", "nan"], ["--threshold", "finite", "nan"]),
        (["--threshold", "inf"], ["--threshold", "inf"]),
        (["--guidance", "nan"], ["--guidance", "nan"]),
        (["--guidance", "-inf"], ["--guidance", "-inf"]),
        (["--similarity", "inf"], ["--similarity", "[-1, 1]"]),
        (["--similarity", "nan"], ["--similarity", "nan"]),
        (["--batch-size", "0"], ["--batch-size", "from 1", "0"]),
        (["--batch-size", "1000000"], ["--batch-size", "1000000"]),
        (["--fpr", "2"], ["--fpr", "(0, 0.5)", "2"]),
        (["--fpr", "nan"], ["--fpr", "nan"]),
        (["--steps", "0"], ["--steps", "from 1", "0"]),
        (["--steps", "-3"], ["--steps", "-3"]),
        (["--width", "0"], ["--width", "from 64", "0"]),
        (["--height", "100"], ["--height", "multiple of 8", "100"]),
        (["--width", "100000"], ["--width", "100000"]),
    ],
)
def test_scan_numbers_are_range_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: list[str]
) -> None:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a photo of a cat\n")
    out = tmp_path / "scan"
    _fails(capsys, ["scan", "tiny", "--prompts", str(prompts), "--out", str(out), *args], *expected)
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--temperature", "nan"], ["--temperature", "nan"]),
        (["--temperature", "inf"], ["--temperature", "inf"]),
        (["--temperature", "-1"], ["--temperature", "-1"]),
        (["--batch-size", "0"], ["--batch-size", "0"]),
        (["--max-new-tokens", "0"], ["--max-new-tokens", "0"]),
    ],
)
def test_annotate_numbers_are_range_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: list[str]
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (16, 16)).save(images / "a.png")
    out = tmp_path / "out"
    _fails(capsys, ["annotate", str(images), "--captioner", "tiny", "--out", str(out), *args], *expected)
    assert not out.exists()


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "101"])
@pytest.mark.parametrize("bench", ["hqh", "faceqa"])
def test_clip_threshold_is_range_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str, bench: str
) -> None:
    out = tmp_path / "run"
    inputs = ["--synthetic"] if bench == "faceqa" else []
    _fails(capsys, [bench, *inputs, "--model", "tiny", "--num", "2", "--clip-threshold", value, "--dry-run",
                    "--out", str(out)], "--clip-threshold", "[-100, 100]", value)  # fmt: skip
    assert not out.exists()


INCLUDES = {
    "missing": ('{% include "missing.j2" %}', ["includes 'missing.j2'", "--templates"]),
    "itself": ('{% include "prompt.j2" %}', ["includes itself"]),
    "not a name": ("{% include 5 %}", ["prompt.j2", "file name in quotes"]),
    "broken include": ('{% include "bad.j2" %}', ["syntax error", "bad.j2"]),
}


@pytest.mark.parametrize("case", sorted(INCLUDES))
def test_an_include_in_templates_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str
) -> None:
    source, expected = INCLUDES[case]
    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "prompt.j2").write_text(source + "\n")
    (templates / "bad.j2").write_text("{% if %}\n")
    out = tmp_path / "run"
    argv = ["faceqa", "--synthetic", "--model", "tiny", "--num", "2", "--templates", str(templates), "--dry-run",
            "--out", str(out)]  # fmt: skip
    _fails(capsys, argv, *expected)
    assert not out.exists()


@pytest.mark.parametrize(
    "tag", ['{% include "other.j2" %}', '{% extends "base.j2" %}', '{% import "m.j2" as m %}']
)
def test_an_include_in_an_annotate_prompt_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tag: str
) -> None:
    images = tmp_path / "images"
    images.mkdir()
    Image.new("RGB", (16, 16)).save(images / "a.png")
    prompt = tmp_path / "prompt.j2"
    prompt.write_text(f"Describe the face. {tag}\n")
    out = tmp_path / "out"
    argv = ["annotate", str(images), "--captioner", "tiny", "--prompt", str(prompt), "--out", str(out)]
    _fails(capsys, argv, "prompt.j2 line 1", "not supported", "one file")
