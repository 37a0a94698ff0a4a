"""Every numeric option of every command is range-checked before anything runs (issue 21, item 8).

The table is generated from the CLI itself: every command and sub-command of `hvgen.cli`, every
option whose type is a number (or whose name or metavar says it takes one). Each gets NaN, inf,
-inf, 0, -1 and a huge value through the real entry point (`hvgen.cli.main`, in process), with
otherwise minimal valid arguments, and must end with exit 2, one 'error:' line naming the option
and its valid range, no traceback, and nothing created or changed on disk. A value that is valid
for an option is declared in `VALID` with the reason; it must then parse. A new numeric option is
in the table the moment it is declared: it fails here until it is checked.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Any

import pytest
from reliability_helpers import one_error_line

from hvgen.cli import _command, main
from hvgen.ranges import Bounds

BAD_VALUES = ("nan", "inf", "-inf", "0", "-1", "1e12", "1000000000000")
"""1e12 twice: as a float literal, and spelled as a whole number (what an integer option reads)."""

VALID: dict[tuple[str, str], dict[str, str]] = {
    # (command, option) -> {value: why it is valid}
    **{
        (command, "--seed"): {
            "0": "any non-negative 63-bit seed is a seed",
            "1e12": "any non-negative 63-bit seed is a seed (1e12 is a whole number)",
            "1000000000000": "any non-negative 63-bit seed is a seed",
        }
        for command in (
            "dysca",
            "faceqa",
            "herm",
            "hqh",
            "vlbias",
            "quality",
            "twins",
            "contamination",
            "scan",
            "annotate",
            "pose-bank",
        )  # fmt: skip
    },
    **{
        (command, "--guidance"): {"0": "guidance 0 turns classifier-free guidance off"}
        for command in ("dysca", "faceqa", "hqh", "vlbias", "herm", "scan")
    },
    **{
        (command, "--clip-threshold"): {
            "0": "a CLIP score (100 x cosine) is in [-100, 100]",
            "-1": "a CLIP score (100 x cosine) is in [-100, 100]",
        }
        for command in ("dysca", "faceqa", "hqh", "vlbias", "herm", "build", "twins")
    },
    ("build", "--hamming"): {"0": "Hamming distance 0 drops exact perceptual-hash matches only"},
    **{
        (command, "--fidelity-threshold"): {
            "0": "an agreement score is in [0, 1]; threshold 0 keeps every image"
        }
        for command in ("dysca", "faceqa", "hqh", "vlbias", "herm", "build")
    },
    ("herm", "--grounder-threshold"): {"0": "threshold 0 keeps every phrase's best box"},
    **{
        (command, option): {"0": why}
        for command in ("dysca", "faceqa", "hqh", "vlbias", "herm")
        for option, why in (
            ("--controlnet-scale", "conditioning scale 0 renders without the condition's influence"),
            ("--control-start", "the ControlNet may act from the first step"),
        )
    },
    ("annotate", "--temperature"): {"0": "temperature 0 is greedy decoding"},
    ("scan", "--threshold"): {"0": "an FTT score is a mean distance, 0 included"},
    ("scan", "--similarity"): {
        "0": "a cosine similarity is in [-1, 1]",
        "-1": "a cosine similarity is in [-1, 1]",
    },
    ("herm", "--min-area"): {"0": "0 keeps every person, however small"},
}

TEXT_NUMBERS = {"--shard": ("nan/2", "inf/2", "0/0", "-1/2", "0/-1", "0/1000000000000", "2/2")}
"""Options whose value is text holding numbers, with the bad values they get instead."""

NUMBER_WORDS = re.compile(r"(^|[-_])(num|size|count|threshold|shard|rate|level|seed|steps|workers|frames|area|"
                          r"alpha|eps|epsilon|tokens|temperature|bootstrap|hamming|width|height|guidance|"
                          r"severity|fpr|similarity)s?($|[-_])")  # fmt: skip


def _walk(command: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if hasattr(command, "commands"):
        return [found for name, sub in command.commands.items() for found in _walk(sub, (*path, name))]
    return [(path, command)]


def _annotation(param: Any) -> Any:
    """The option's Python type: typer >= 0.25 keeps it (`type_descriptor`); older typers give a
    click type (INT, FLOAT, IntRange ..., or a FuncParamType wrapping a `parser=`)."""
    descriptor = getattr(param, "type_descriptor", None)
    if descriptor is not None:
        return descriptor.annotation
    kind = getattr(param, "type", None)
    func = getattr(kind, "func", None)
    if isinstance(func, functools.partial) and isinstance(getattr(func.func, "__self__", None), Bounds):
        return float
    name = type(kind).__name__
    return int if name.startswith("Int") else float if name.startswith("Float") else None


def _is_number(param: Any) -> bool:
    return _annotation(param) in (int, float) and not getattr(param, "count", False)


def _suggests_number(param: Any) -> bool:
    words = [param.name or "", *(opt.lstrip("-") for opt in param.opts), str(param.metavar or "")]
    return any(NUMBER_WORDS.search(word.lower()) for word in words) or param.metavar in ("N", "NUMBER", "i/N")


def numeric_options() -> list[tuple[str, str, Any]]:
    """(command path, option, click parameter) for every numeric option of the CLI."""
    found = []
    for path, command in _walk(_command()):
        for param in command.params:
            if param.param_type_name != "option" or getattr(param, "is_flag", False):
                continue
            if _is_number(param) or _suggests_number(param):
                found.append((" ".join(path), param.opts[0], param))
    return found


def _cases() -> list[Any]:
    cases = []
    for command, option, param in numeric_options():
        values = TEXT_NUMBERS.get(option) if not _is_number(param) else BAD_VALUES
        if values is None:  # a text option that looks numeric: say how to test it
            values = ("<undeclared>",)
        for value in values:
            cases.append(pytest.param(command, option, value, id=f"{command} {option}={value}"))
    return cases


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Minimal valid inputs: a planned run (a dry run plans without rendering), a prompts file,
    an image folder, a predictions file. Built once; every case must leave them as they are."""
    root = tmp_path_factory.mktemp("inputs")
    run = root / "run"
    main(["dysca", "--model", "tiny", "--num", "2", "--dry-run", "--out", str(run)])
    (root / "prompts.txt").write_text("a photo of a cat\n")
    images = root / "images"
    images.mkdir()
    from PIL import Image

    Image.new("RGB", (16, 16)).save(images / "a.png")
    (root / "preds.jsonl").write_text('{"id": "x", "answer": "A"}\n')
    return {"root": root, "run": run, "prompts": root / "prompts.txt", "images": images,
            "preds": root / "preds.jsonl"}  # fmt: skip


def _argv(command: str, inputs: dict[str, Path], out: Path) -> list[str]:
    """The command with otherwise minimal valid arguments; `out` is where it would write."""
    run, preds = str(inputs["run"]), str(inputs["preds"])
    benchmarks = {
        "dysca": ["--model", "tiny", "--num", "2", "--dry-run"],
        "vlbias": ["--model", "tiny", "--num", "2", "--dry-run"],
        "hqh": ["--model", "tiny", "--num", "2", "--dry-run"],
        "faceqa": ["--synthetic", "--model", "tiny", "--num", "2", "--dry-run"],
        "herm": [
            "--coco-keypoints",
            str(inputs["root"] / "k.json"),
            "--images",
            str(inputs["images"]),
            "--num",
            "2",
            "--dry-run",
        ],  # fmt: skip
    }
    if command in benchmarks:
        return [command, *benchmarks[command], "--out", str(out)]
    fixed = {
        "score": ["score", "dysca", run, preds, "--output", str(out)],
        "quality": ["quality", run, run, "--predictions", f"m={preds},{preds}", "--json", str(out)],
        "contamination": [
            "contamination",
            "--release",
            run,
            "--twins",
            run,
            "--predictions",
            f"m={preds},{preds}",
            "--json",
            str(out),
        ],  # fmt: skip
        "twins": ["twins", run, "--out", str(out)],
        "scan": ["scan", "tiny", "--prompts", str(inputs["prompts"]), "--out", str(out)],
        "annotate": ["annotate", str(inputs["images"]), "--captioner", "tiny", "--out", str(out)],
        "preview": ["preview", run, "--output", str(out)],
        "pose-bank": ["pose-bank", str(inputs["root"] / "person_keypoints.json"), "--out", str(out)],
    }
    return fixed.get(command, [command, run])


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    return {
        str(path.relative_to(root)): (path.stat().st_size, path.stat().st_mtime_ns)
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


RANGE_WORDS = re.compile(
    r"must be (a whole number (from -?[\d,]+ to [\d,]+|>= -?[\d,]+)|a finite number (in [\[(]|[<>]=?)"
    r"|a multiple of \d+ from|i/N \(shard i of N: N a whole number from)"
)
"""How `hvgen.ranges.check_range` states a valid range (and --shard its two numbers)."""


def _range_words(line: str) -> bool:
    return bool(RANGE_WORDS.search(line))


@pytest.mark.parametrize(("command", "option", "value"), _cases())
def test_numeric_option_is_range_checked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inputs: dict[str, Path], command: str, option: str,
    value: str,
) -> None:  # fmt: skip
    assert value != "<undeclared>", f"{command} {option} looks numeric: give its bad values in TEXT_NUMBERS"
    out = tmp_path / "out"
    argv = [*command.split(), *_argv(command, inputs, out)[len(command.split()) :], option, value]
    if value in VALID.get((command, option), {}):
        # valid: the command line parses (nothing runs)
        _command().commands[command].make_context(command, argv[1:])
        return
    before = _tree(inputs["root"])
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2, f"exit {done.value.code}"
    line = one_error_line(capsys.readouterr().err.replace("\n", " ").replace("error:", "\nerror:"))
    assert option in line, line
    assert _range_words(line), f"the error does not state the valid range: {line}"
    assert not out.exists(), "a refused command created its output"
    assert _tree(inputs["root"]) == before, "a refused command changed its inputs"


def test_the_table_covers_the_cli() -> None:
    """The walk finds the numeric options of every kind of command (guards the walk itself)."""
    found = {(command, option) for command, option, _ in numeric_options()}
    for expected in [("dysca", "--steps"), ("scan", "--fpr"), ("quality", "--bootstrap"), ("status", "--shards"),
                     ("render", "--workers"), ("herm", "--min-area"), ("faceqa", "--frames"), ("render", "--shard"),
                     ("contamination", "--alpha"), ("annotate", "--temperature")]:  # fmt: skip
        assert expected in found
    stale = {key for key in VALID if key not in found}
    assert not stale, f"VALID names options the CLI no longer has: {stale}"


CONFIG_NUMBERS = [
    ("render:\n  steps: 0\n", "render.steps (--steps) must be a whole number from 1 to 1,000"),
    ("render:\n  guidance: .nan\n", "render.guidance (--guidance) must be a finite number in [0, 100]"),
    ("render:\n  guidance: .inf\n", "render.guidance (--guidance) must be a finite number in [0, 100]"),
    ("render:\n  width: 100\n", "render.width (--width) must be a multiple of 8 from 64 to 4,096"),
    (
        "render:\n  batch_size: 1000000000000\n",
        "render.batch_size (--batch-size) must be a whole number from 1",
    ),
    ("render:\n  png_compress_level: -1\n", "render.png_compress_level must be a whole number from 0 to 9"),
    ("seed: -1\n", "seed (--seed) must be a whole number from 0 to"),
    ("num: 1000000000000\n", "num (--num) must be a whole number from 1 to 100,000,000"),
    ("scenario:\n  eps: -.inf\n", "scenario.eps (--eps) must be a finite number in (0, 1]"),
    ("scenario:\n  attack_step: .nan\n", "scenario.attack_step must be a finite number in (0, 1]"),
    ("scenario:\n  workers: -1\n", "scenario.workers must be a whole number from 0 to 1,024"),
    ("export:\n  max_shard_mb: 0\n", "export.max_shard_mb must be a whole number from 1"),
    (
        "executor:\n  name: local\n  workers: 0\n",
        "workers (--workers) must be a whole number from 1 to 100,000",
    ),
    ("executor:\n  name: local\n  mem_gb: .nan\n", "mem_gb must be a finite number in (0, 65536]"),
]


@pytest.mark.parametrize(("yaml_text", "expected"), CONFIG_NUMBERS)
@pytest.mark.parametrize("how", ["--config", "hvgen config"])
def test_config_file_numbers_are_checked_alike(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], yaml_text: str, expected: str, how: str
) -> None:
    """A number in a --config file (run sections and executor:) is refused in the same words as
    its option, naming the file, the key and the option; `hvgen config FILE` refuses it too."""
    if how == "hvgen config" and yaml_text.startswith("executor"):
        pytest.skip("hvgen config prints the run config; the executor section is read by launches")
    config = tmp_path / "run.yaml"
    config.write_text("benchmark: dysca\n" + yaml_text)
    out = tmp_path / "run"
    argv = (
        ["dysca", "--config", str(config), "--model", "tiny", "--dry-run", "--out", str(out)]
        if how == "--config"
        else ["config", str(config)]
    )
    with pytest.raises(SystemExit) as done:
        main(argv)
    assert done.value.code == 2
    line = one_error_line(capsys.readouterr().err.replace("\n", " ").replace("error:", "\nerror:"))
    assert expected in line and "run.yaml" in line, line
    assert not out.exists()


def test_a_run_config_yaml_with_a_bad_number_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], inputs: dict[str, Path]
) -> None:
    """A run's config.yaml edited by hand to a NaN: every command that reads it says so in one line."""
    import shutil

    run = tmp_path / "run"
    shutil.copytree(inputs["run"], run)
    config = run / "config.yaml"
    config.write_text(re.sub(r"guidance: \S+", "guidance: .nan", config.read_text()))
    assert "guidance: .nan" in config.read_text()
    for argv in (["config", str(run)], ["render", str(run)], ["stats", str(run)]):
        with pytest.raises(SystemExit) as done:
            main(argv)
        assert done.value.code == 2, argv
        line = one_error_line(capsys.readouterr().err.replace("\n", " ").replace("error:", "\nerror:"))
        assert "render.guidance (--guidance) must be a finite number in [0, 100]" in line, line


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("HVGEN_PROGRESS_INTERVAL", "nan", "HVGEN_PROGRESS_INTERVAL must be a finite number in [0, 86400]"),
        ("HVGEN_PROGRESS_INTERVAL", "-5", "HVGEN_PROGRESS_INTERVAL must be a finite number in [0, 86400]"),
        ("HVGEN_PROGRESS_INTERVAL", "soon", "got 'soon'"),
        ("HVGEN_IO_THREADS", "1000000", "HVGEN_IO_THREADS must be a whole number from 0 to 256"),
        ("HVGEN_IO_THREADS", "four", "HVGEN_IO_THREADS must be a whole number from 0 to 256"),
    ],
)
def test_numbers_from_the_environment_are_checked_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, variable: str,
    value: str, expected: str,
) -> None:  # fmt: skip
    """NaN made progress print on every step, a huge HVGEN_IO_THREADS started that many threads,
    and a word was silently ignored; now each is one line before any work."""
    monkeypatch.setenv(variable, value)
    out = tmp_path / "run"
    with pytest.raises(SystemExit) as done:
        main(["dysca", "--model", "tiny", "--num", "2", "--dry-run", "--out", str(out)])
    assert done.value.code == 2
    line = one_error_line(capsys.readouterr().err.replace("\n", " ").replace("error:", "\nerror:"))
    assert expected in line, line
    assert not out.exists()
