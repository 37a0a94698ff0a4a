"""Bad input gets one clear line naming the input, a non-zero exit, and nothing half-made.

Each case is one of those a hostile user tried (issue "Nothing lost, nothing escapes"); every
one used to end in a traceback, a silent acceptance or a half-made run directory.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from reliability_helpers import one_error_line, run_hvgen

from hvgen.cli import main

TINY = ["--model", "tiny", "--steps", "2"]


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *expected: str) -> str:
    """Run the CLI in-process; it must exit 2 with one 'error:' line containing `expected`."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    line = one_error_line(capsys.readouterr().err.replace("\n", " ").replace("error:", "\nerror:"))
    for text in expected:
        assert text in line, line
    return line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--num", "0"], ["--num", "a whole number from 1", "got 0"]),
        (["--num", "-5"], ["num", "-5"]),
        (["--num", "1000000000"], ["--num", "to 100,000,000", "1000000000"]),
        (["--num", "1000000"], ["--num 1000000", "--force"]),
        (["--batch-size", "0"], ["--batch-size", "from 1 to 1,024", "got 0"]),
        (["--dtype", "float8"], ["--dtype", "float8"]),
        (["--device", "quantum"], ["--device", "quantum"]),
        (["--width", "30"], ["--width", "multiple of 8", "30"]),
        (["--severity", "9"], ["--severity", "9"]),
        (["--eps", "3"], ["--eps", "3"]),
        (["--guidance", "inf"], ["--guidance", "finite", "inf"]),
        (["--templates", "/nonexistent-hvgen-templates"], ["--templates", "not a folder"]),
        # settings of a scenario the run does not select are saved too: checked all the same
        (["--corruption-preset", "bogus"], ["corruption preset", "bogus"]),
        (["--corruptions", "bogus"], ["corruption", "bogus"]),
        (["--attack", "bogus"], ["attack", "bogus"]),
    ],
)
def test_bad_options_fail_before_anything_is_made(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: list[str]
) -> None:
    out = tmp_path / "run"
    _fails(capsys, ["dysca", *TINY, "--out", str(out), *args], *expected)
    assert not out.exists(), "a refused command left a half-made run directory"


@pytest.mark.parametrize(
    ("yaml_text", "expected"),
    [
        ('benchmark: dysca\nnum: "five"\n', ["'num'", "integer", "five"]),
        ("benchmark: dysca\nseed: abc\n", ["'seed'", "integer"]),
        ("benchmark: dysca\noptions: [a, b]\n", ["'options'", "mapping"]),
        ("benchmark: dysca\nscenario:\n  scenarios: 5\n", ["'scenarios'", "list"]),
        ("benchmark: dysca\noptions:\n  styles: 5\n", ["'styles'", "int"]),
        ("benchmark: dysca\noptions:\n  stylez: all\n", ["'stylez'", "did you mean 'styles'"]),
        ("benchmark: dysca\nrender:\n  batch_size: four\n", ["'batch_size'", "integer"]),
        ("benchmark: dysca\nnumm: 3\n", ["'numm'", "did you mean 'num'"]),
        ("benchmark: dysca\nexport:\n  split: ../../x\n", ["export.split"]),
    ],
)
def test_bad_config_files_name_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, expected: list[str]
) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(yaml_text)
    out = tmp_path / "run"
    _fails(capsys, ["dysca", "--config", str(config), "--out", str(out), "--dry-run"], *expected)
    assert not out.exists()


def test_a_binary_config_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "run.yaml"
    config.write_bytes(os.urandom(256) + b"\xff\xfe")
    _fails(capsys, ["dysca", "--config", str(config), "--dry-run"], str(config))


def test_out_is_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "a-file"
    target.write_text("x")
    _fails(capsys, ["dysca", *TINY, "--out", str(target), "--dry-run"], "--out", "is a file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_out_in_a_read_only_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "ro"
    folder.mkdir(mode=0o555)
    _fails(capsys, ["dysca", *TINY, "--out", str(folder / "run"), "--dry-run"], "--out", "cannot write")


def test_vocab_files_that_are_binary_huge_or_misnamed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "animal.txt").write_bytes(b"\x89PNG\r\n\x1a\n" + os.urandom(512))
    _fails(
        capsys,
        ["dysca", *TINY, "--vocab", str(vocab), "--dry-run", "--out", str(tmp_path / "a")],
        "animal.txt",
        "UTF-8",
    )
    (vocab / "animal.txt").write_text("cat\n" + "x" * 20_000_000 + "\n")
    _fails(
        capsys,
        ["dysca", *TINY, "--vocab", str(vocab), "--dry-run", "--out", str(tmp_path / "b")],
        "animal.txt line 2",
    )
    (vocab / "animal.txt").unlink()
    (vocab / "animals.txt").write_text("cat\ndog\n")
    _fails(
        capsys,
        ["dysca", *TINY, "--vocab", str(vocab), "--dry-run", "--out", str(tmp_path / "c")],
        "animals.txt",
        "did you mean 'animal'",
    )


def test_sandbox_escape_in_a_template_is_a_template_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "ocr_template.txt").write_text("{{ ''.__class__.__mro__[1].__subclasses__() }} {{ text }}\n")
    _fails(
        capsys,
        [
            "dysca",
            *TINY,
            "--subtasks",
            "text",
            "--vocab",
            str(vocab),
            "--dry-run",
            "--out",
            str(tmp_path / "r"),
        ],
        "ocr_template.txt",
        "sandbox",
    )
    assert not (tmp_path / "r").exists()


def test_rank_from_the_environment_must_be_an_integer(tmp_path: Path) -> None:
    result = run_hvgen(
        ["dysca", *TINY, "--out", str(tmp_path / "r"), "--dry-run"], env={"RANK": "x", "WORLD_SIZE": "2"}
    )
    assert result.returncode == 2
    assert "RANK" in one_error_line(result.stderr)


def test_cuda_without_a_gpu_fails_before_planning(tmp_path: Path) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    out = tmp_path / "r"
    result = run_hvgen(["dysca", *TINY, "--device", "cuda", "--out", str(out)])
    assert result.returncode == 2
    assert "no CUDA GPU" in one_error_line(result.stderr)
    assert not out.exists()


def test_hvgen_list_names_what_options_accept(capsys: pytest.CaptureFixture[str]) -> None:
    main(["list", "corruptions-dysca"])
    assert capsys.readouterr().out.split("\n")[:2] == ["gaussian_noise", "shot_noise"]
    main(["list"])
    overview = capsys.readouterr().out  # data: on stdout, like `hvgen list WHAT`
    assert "styles (57)" in overview and "formats (7)" in overview and "categories (11)" in overview
    _fails(capsys, ["list", "stylez"], "did you mean 'styles'")
