"""A newcomer's first hour (issue 11): every documented command and option, run as the real
console script (`python -m hvgen`), must do what the README and `--help` say — no hidden
defaults, no silent misreadings, no misleading errors, readable output and files."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import yaml
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--model", "tiny", "--steps", "2"]
RUN_ARGS = [*TINY, "--num", "4", "--subtasks", "animal,color,age", "--scenario", "clean,print", "--seed", "3"]
PLACEHOLDER = re.compile(r"--[a-z-]+ <(str|int|float|bool|path|list\[[^\]]*\])>")


def hvgen(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, umask: int = -1
) -> subprocess.CompletedProcess:
    """The console script, as a user runs it (stderr is a pipe: not a terminal). The working
    directory is never the checkout: `-m` would import its hvgen/ folder, not the installed package."""
    return subprocess.run(
        [sys.executable, "-m", "hvgen", *args],
        capture_output=True,
        text=True,
        cwd=cwd or tempfile.gettempdir(),
        env={**os.environ, **(env or {})},
        umask=umask,
        timeout=600,
    )


def error_line(result: subprocess.CompletedProcess) -> str:
    """The one 'error:' line a refused command prints (exit 2, no traceback)."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess]:
    """A finished clean + print run made under umask 022 (its tiny model built in a fresh cache
    beside it), with progress lines at every step."""
    out = tmp_path_factory.mktemp("first-hour") / "run"
    result = hvgen(
        "dysca",
        *RUN_ARGS,
        "--out",
        str(out),
        env={
            "HVGEN_NO_PROGRESS": "0",
            "HVGEN_PROGRESS_INTERVAL": "0",
            "HVGEN_CACHE": str(out.parent / "cache"),
        },
        umask=0o022,
    )
    assert result.returncode == 0, result.stderr
    return out, result


# ---------------------------------------------------------------- discoverability


def test_help_shows_every_default_and_readable_metavars() -> None:
    result = hvgen("dysca", "--help")
    assert result.returncode == 0, result.stderr
    text = " ".join(result.stdout.split())  # help wraps lines
    for option, default in [
        ("--num N", "[default: 200]"),
        ("--out DIR", "[default: runs/dysca]"),
        ("--seed INTEGER", "[default: 2024]"),
        ("--model NAME|ID|DIR", "[default: sdxl]"),
        ("--scenario NAMES", "[default: clean]"),
        ("--steps N", "[default: the model's"),
        ("--batch-size N", "[default: 4]"),
        ("--styles TEXT", "[default: all]"),
        ("--layout LAYOUT", "[default: per-question]"),
        ("--against SOURCE", "Repeatable"),
    ]:
        assert option in text and default in text.split(option, 1)[1].split(" --", 1)[0], (option, default)
    assert "-q, --quiet" in text and "-v, --verbose" in text
    assert "[default: 400]" in " ".join(hvgen("vlbias", "--help").stdout.split())
    for command in (
        "dysca",
        "vlbias",
        "build",
        "stats",
        "export",
        "render",
        "push",
        "score",
        "config",
        "preview",
    ):
        shown = hvgen(command, "--help").stdout
        assert not PLACEHOLDER.search(shown), (command, PLACEHOLDER.search(shown))
    root = " ".join(hvgen("--help").stdout.split())
    assert "HVGEN_NO_PROGRESS" in root and "HVGEN_CACHE" in root


def test_models_lists_whole_ids_in_a_pipe() -> None:
    result = hvgen("models", env={"COLUMNS": "40"})
    assert result.returncode == 0, result.stderr
    for model_id in (
        "stabilityai/stable-diffusion-xl-base-1.0",
        "stable-diffusion-v1-5/stable-diffusion-v1-5",
    ):
        assert model_id in result.stdout
    assert "…" not in result.stdout


def test_quiet_and_verbose(tmp_path: Path) -> None:
    quiet = hvgen("-q", "dysca", *TINY, "--num", "2", "--out", str(tmp_path / "a"), "--dry-run")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr
    after = hvgen("dysca", *TINY, "--num", "2", "--out", str(tmp_path / "a"), "--dry-run", "--quiet")
    assert after.returncode == 0 and after.stderr == "", after.stderr
    normal = hvgen("dysca", *TINY, "--num", "2", "--out", str(tmp_path / "a"), "--dry-run")
    assert "plan: up to date" in normal.stderr
    verbose = hvgen("-v", "dysca", "--model", "tinyy", "--out", str(tmp_path / "b"), "--dry-run")
    assert (
        verbose.returncode == 2 and "Traceback" in verbose.stderr and "error: --model tinyy" in verbose.stderr
    )


# ---------------------------------------------------------------- progress and summary


def test_progress_lines_when_stderr_is_not_a_terminal(finished, tmp_path: Path) -> None:
    _, result = finished
    lines = re.findall(r"^render \(tiny\): (\d+)/4 \((\d+)%\), \d+:\d\d:\d\d elapsed", result.stderr, re.M)
    done = [int(count) for count, _ in lines]
    assert done and done == sorted(done) and done[-1] == 4 and lines[-1][1] == "100", result.stderr
    assert "export print: 12/12 (100%)" in result.stderr
    off = hvgen(
        "dysca", *RUN_ARGS, "--num", "2", "--out", str(tmp_path / "r"), env={"HVGEN_NO_PROGRESS": "1"}
    )
    assert off.returncode == 0 and "render (tiny):" not in off.stderr, off.stderr


def test_a_run_ends_with_a_summary_written_beside_the_export(finished) -> None:
    run, result = finished
    assert "summary" in result.stderr and f"summary written to {run / 'summary.json'}" in result.stderr
    assert not (run / "export" / "summary.json").exists()
    summary = json.loads((run / "summary.json").read_text())
    rows = {
        folder.name: sum(pq.read_metadata(f).num_rows for f in folder.glob("*.parquet"))
        for folder in (run / "export" / "data").iterdir()
    }
    assert {c["name"]: c["rows"] for c in summary["configs"]} == rows == {"clean": 12, "print": 12}
    assert list(summary["stages"]) == ["plan", "render", "scenario clean", "scenario print", "export"]
    assert all(seconds >= 0 for seconds in summary["stages"].values()) and summary["stages"]["render"] > 0
    assert summary["export"]["bytes"] == sum(
        p.stat().st_size for p in (run / "export").rglob("*") if p.is_file()
    )
    assert summary["questions_planned"] == summary["questions_kept"] == 12 and summary["drops"] == {}


def test_stats_prints_tables_and_json_goes_to_stdout(finished, tmp_path: Path) -> None:
    run, _ = finished
    tables = hvgen("stats", str(run), cwd=tmp_path)
    assert tables.returncode == 0, tables.stderr
    assert "questions per subtask" in tables.stdout and "answer-position balance" in tables.stdout
    assert "{'" not in tables.stdout and "[{" not in tables.stdout and "[['" not in tables.stdout
    piped = hvgen("stats", str(run), "--json", "-", cwd=tmp_path)
    assert piped.returncode == 0, piped.stderr
    assert json.loads(piped.stdout)["records"] == 12
    assert not (tmp_path / "-").exists()


def test_config_prints_the_resolved_config(finished, tmp_path: Path) -> None:
    run, _ = finished
    shown = yaml.safe_load(hvgen("config", str(run)).stdout)
    assert shown["render"]["steps"] == 2 and shown["render"]["width"] == 64
    assert shown["options"]["styles"] == "all" and shown["options"]["thin"] is False
    file = tmp_path / "c.yaml"
    file.write_text("benchmark: dysca\nrender:\n  model: tiny\n")
    resolved = json.loads(hvgen("config", str(file), "--json").stdout)
    assert resolved["render"]["steps"] == 4 and resolved["num"] == 100
    assert resolved["options"]["question_types"] == "all"
    assert "no such run directory" in error_line(hvgen("config", str(tmp_path / "nope")))


# ---------------------------------------------------------------- errors that used to mislead


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ("./no/such/folder", "does not exist"),
        ("tinyy", "did you mean 'tiny'"),
        ("sdxll", "did you mean 'sdxl'"),
    ],
)
def test_model_mistakes_say_what_is_wrong(tmp_path: Path, model: str, expected: str) -> None:
    line = error_line(
        hvgen("dysca", "--model", model, "--out", str(tmp_path / "r"), "--dry-run", cwd=tmp_path)
    )
    assert f"--model {model}" in line and expected in line and "Hugging Face cache" not in line
    assert not (tmp_path / "r").exists()


def test_a_folder_that_is_not_a_pipeline(tmp_path: Path) -> None:
    (tmp_path / "weights").mkdir()
    line = error_line(hvgen("dysca", "--model", str(tmp_path / "weights"), "--out", str(tmp_path / "r")))
    assert "model_index.json" in line and "not a diffusers pipeline folder" in line
    assert not (tmp_path / "r").exists()  # refused before planning, not after it


def test_scoring_another_benchmarks_run_names_the_benchmark(finished, tmp_path: Path) -> None:
    run, _ = finished
    predictions = tmp_path / "p.jsonl"
    predictions.write_text('{"id": "x", "prediction": "a"}\n')
    line = error_line(hvgen("score", "vlbias", str(run), str(predictions)))
    assert "dysca questions, not vlbias" in line and "missing field" not in line


def test_push_without_a_token_suggests_only_what_exists(finished, tmp_path: Path) -> None:
    run, _ = finished
    env = {
        key: value for key, value in os.environ.items() if key not in ("HF_TOKEN", "HUGGING_FACE_HUB_TOKEN")
    }
    env["HF_HOME"] = str(tmp_path / "hf-home")
    result = subprocess.run(
        [sys.executable, "-m", "hvgen", "push", str(run), "--repo-id", "me/x"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    line = error_line(result)
    assert "HF_TOKEN" in line and "hf auth login" in line and "--token" not in line
    assert "--token" not in hvgen("push", "--help").stdout


def test_a_two_word_vocabulary_is_a_loud_warning(tmp_path: Path) -> None:
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "animal.txt").write_text("cat\ndog\n")
    result = hvgen(
        "dysca", *TINY, "--num", "4", "--subtasks", "animal,gender", "--vocab", str(vocab),
        "--out", str(tmp_path / "r"), "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1, result.stderr  # gender's 2 options are the original's, not a mistake
    assert str(vocab / "animal.txt") in warnings[0] and "2 options instead of 4" in warnings[0]
    records = [json.loads(line) for line in (tmp_path / "r" / "records.jsonl").read_text().splitlines()]
    assert {
        len(r["options"])
        for r in records
        if r["subtask"] == "animal" and r["question_type"] == "multi choice"
    } == {2}


def test_vlbias_categories_as_the_readme_spells_them(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    assert "age, disability status, gender, nationality, physical appearance" in readme
    result = hvgen(
        "vlbias", *TINY, "--categories", "disability status,SES,Physical Appearance,race × gender",
        "--question", "close", "--num", "200", "--out", str(tmp_path / "r"), "--dry-run",
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    records = [json.loads(line) for line in (tmp_path / "r" / "records.jsonl").read_text().splitlines()]
    assert {r["category"] for r in records} == {
        "disability_status",
        "ses",
        "physical_appearance",
        "race_x_gender",
    }
    assert "did you mean 'ses'" in error_line(
        hvgen("vlbias", "--categories", "sess", "--dry-run", cwd=tmp_path)
    )


# ---------------------------------------------------------------- build and leak check


def documented_pixel_sha256(path: Path) -> str:
    """The hash-list format exactly as the README states it (not hvgen's own function)."""
    rgb = Image.open(path).convert("RGB")
    return hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode() + rgb.tobytes()).hexdigest()


def test_hash_lists_as_documented_match_and_others_warn(finished, tmp_path: Path) -> None:
    run = shutil.copytree(finished[0], tmp_path / "run")
    pngs = sorted((run / "images").rglob("*.png"))
    file_hashes = tmp_path / "sha256sum.txt"  # what a user makes with sha256sum: never matches
    file_hashes.write_text("".join(hashlib.sha256(p.read_bytes()).hexdigest() + "\n" for p in pngs))
    result = hvgen("build", str(run), "--against", str(file_hashes))
    assert result.returncode == 0, result.stderr
    warning = " ".join(line for line in result.stderr.splitlines() if line.startswith("warning:"))
    assert f"0 of its {len(pngs)} hashes matched" in warning and "WxH:" in warning

    documented = tmp_path / "documented.txt"
    documented.write_text("".join(documented_pixel_sha256(p) + "\n" for p in pngs))
    refused = hvgen("build", str(run), "--against", str(documented))
    line = error_line(refused)  # every image leaked: no empty export, no "done"
    assert "nothing to export" in line and f"{len(pngs)} images leak_exact" in line
    assert "done:" not in refused.stderr and "0 of its" not in refused.stderr
    assert "nothing to export" in error_line(hvgen("export", str(run)))


# ---------------------------------------------------------------- the card


def test_card_structure_filtering_and_split_sizes(finished) -> None:
    run, _ = finished
    card = (run / "export" / "README.md").read_text()
    assert "## Dataset Structure" in card
    columns = pq.read_schema(next((run / "export" / "data" / "clean").glob("*.parquet"))).names
    for column in columns:
        assert re.search(rf"^\| `{column}` \| [^|]+ \| .+ \|$", card, re.M), column
    images_row = next(line for line in card.splitlines() if line.startswith("| `images`"))
    assert "run directory" in images_row and "`image`" in images_row
    assert "### Filtering, deduplication and leak check" in card and "`hvgen build`" in card
    assert "github.com/hvgen" not in card
    if "| face |" in card:  # the caption subtask of face portraits, beyond the paper's 20
        assert "also list `face`" in card
    header = yaml.safe_load(card.split("---")[1])
    for info in header["dataset_info"]:
        (split,) = info["splits"]
        assert split["num_bytes"] > 0 and split["num_examples"] == 12
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            f"import datasets; print(datasets.load_dataset({str(run / 'export')!r}, 'print', split='test').num_rows)",
        ],
        capture_output=True,
        text=True,
    )
    assert loaded.stdout.strip() == "12", loaded.stderr
    assert "malformed" not in loaded.stderr and "Ignoring part of dataset_info" not in loaded.stderr


def test_package_description_names_only_what_exists() -> None:
    description = re.search(r'^description = "(.*)"$', (ROOT / "pyproject.toml").read_text(), re.M).group(1)
    from hvgen.generator import generators

    registered = set(generators())
    named = {"Dysca": "dysca", "VLBiasBench": "vlbias", "HERM": "herm", "Face QA": "faceqa"}
    assert "Dysca" in description
    for title, name in named.items():
        assert (title in description) == (name in registered), (title, sorted(registered))


# ---------------------------------------------------------------- files for a shared cluster


def test_every_file_is_group_and_world_readable_under_umask_022(finished, tmp_path: Path) -> None:
    """An ordinary `open()` under umask 022 gives 0644; atomic writes (mkstemp: 0600) and any write
    that bypasses them must end the same, for the run, the export, the formats and the reports."""
    run = shutil.copytree(finished[0], tmp_path / "run")  # keeps the modes the run was made with
    steps = [
        ["build", str(run)],
        ["export", str(run), "--format", "all"],
        ["preview", str(run)],
        ["stats", str(run), "--json", str(run / "stats.json")],
    ]
    for args in steps:
        result = hvgen(*args, umask=0o022)
        assert result.returncode == 0, (args, result.stderr)
    files = [path for path in run.rglob("*") if path.is_file()]
    cache = finished[0].parent / "cache"  # the tiny model, built by the run (a team shares a cache)
    everything = [run, *run.rglob("*"), cache, *cache.rglob("*")]
    private = [
        str(path)
        for path in everything
        if path.stat().st_mode & (0o055 if path.is_dir() else 0o044) != (0o055 if path.is_dir() else 0o044)
    ]
    assert not private, private[:10]
    assert any(cache.rglob("model_index.json"))
    written = {path.relative_to(run).parts[0] for path in files}
    assert {"export", "formats", "images", "scenarios", "manifests", "summary.json", "stats.json"} <= written
    assert {"config.yaml", "records.jsonl", "catalog.duckdb"} <= written
    assert any(p.name.startswith("preview-") for p in run.iterdir())
    assert stat.S_IMODE((run / "export" / "README.md").stat().st_mode) == 0o644


@pytest.mark.parametrize(
    ("interval", "expected"), [("1000", ["10/10 (100%)"]), ("0", [f"{n}/10 (" for n in range(1, 11)])]
)
def test_plain_progress_prints_at_intervals(
    monkeypatch: pytest.MonkeyPatch, interval: str, expected: list[str]
) -> None:
    """Off a terminal, a stage prints one line per interval and one at the end (never a bar)."""
    import io

    from rich.console import Console

    from hvgen import progress

    buffer = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=buffer, width=200))
    monkeypatch.setenv("HVGEN_NO_PROGRESS", "0")
    monkeypatch.setenv("HVGEN_PROGRESS_INTERVAL", interval)
    with progress.progress_bar("render (tiny)", 10) as advance:
        for _ in range(10):
            advance(1)
    lines = buffer.getvalue().splitlines()
    assert len(lines) == len(expected) and all(line.startswith("render (tiny): ") for line in lines), lines
    assert all(text in line for text, line in zip(expected, lines)) and "━" not in buffer.getvalue()


def test_the_readme_config_example_is_a_valid_config(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    example = readme.split("**Config files.**", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "run.yaml").write_text(example)
    result = hvgen("config", str(tmp_path / "run.yaml"))
    assert result.returncode == 0, result.stderr
    resolved = yaml.safe_load(result.stdout)
    assert (
        resolved["options"]["question_types"] == "multi choice"
    )  # one spelling (a list or a comma list) and resolved["render"]["width"] == 64


# ---------------------------------------------------------------- verified from outside (issue 11)


def test_errors_and_warnings_print_brackets_as_text(tmp_path: Path) -> None:
    """A value a user typed is quoted in the message, never parsed as rich markup: '[/x]' used to
    crash the error printer with a MarkupError traceback, '[red]foo' lost its bracket."""
    for style in ("[/x]", "[red]foo"):
        line = error_line(hvgen("dysca", *TINY, "--styles", style, "--out", str(tmp_path / "r"), "--dry-run"))
        assert f"unknown style '{style}'" in line


def test_list_of_a_name_several_benchmarks_share(tmp_path: Path) -> None:
    """`hvgen list question-types` (the help's own example) and `hvgen list tasks` print each
    benchmark's list, qualified; `hvgen list` keeps each list on one line however long."""
    shown = hvgen("list", "question-types")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines() == [
        "dysca-question-types (3): multi choice, true or false, image caption",
        "hqh-question-types (3): free form, yes/no, multi choice",
    ]
    tasks = hvgen("list", "tasks")
    assert tasks.returncode == 0 and [line.split(" ")[0] for line in tasks.stdout.splitlines()] == [
        "faceqa-tasks",
        "herm-tasks",
    ]
    everything = hvgen("list").stdout.splitlines()
    styles = next(line for line in everything if line.startswith("styles (57): "))
    assert styles.endswith("tilt-shift") and all(re.match(r"^[\w-]+ \(\d+\): ", line) for line in everything)


def test_arguments_in_help_show_no_python_types() -> None:
    """Arguments read 'RUN_DIR', not 'RUN_DIR <path>' / '{RUN_DIR}'."""
    for command in ("build", "score", "config", "list", "quality", "annotate", "scan"):
        shown = hvgen(command, "--help").stdout
        assert not re.search(r"<(path|str|int|float)>|\{[A-Z_|]+\}", shown), (command, shown)
    assert (
        "Usage: hvgen score [OPTIONS] BENCHMARK RUN_OR_EXPORT PREDICTIONS" in hvgen("score", "--help").stdout
    )


def test_the_plan_line_is_words_not_a_dict(tmp_path: Path) -> None:
    result = hvgen(
        "dysca", *TINY, "--num", "2", "--subtasks", "animal", "--out", str(tmp_path / "r"), "--dry-run"
    )
    line = next(line for line in result.stderr.splitlines() if line.startswith("plan: "))
    assert "{" not in line and re.fullmatch(
        r"plan: \d+ questions over 2 images \(.*\d+ multi choice.*\)", line
    )


def _render_one(run: Path, *args: str) -> None:
    """A run with rendered images (so its plan and render settings are fixed from now on)."""
    result = hvgen(*args, "--out", str(run))
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("first", "again"),
    [
        (
            ["dysca", *TINY, "--num", "2", "--scenario", "clean,corruption"],
            ["--styles", "__STYLES__", "--subtasks", "__SUBTASKS__", "--question-types", "tf,caption,mc",
             "--corruptions", "gaussian_noise,shot_noise,speckle_noise,salt_pepper,motion_blur,gaussian_blur,"
             "jpeg_compression,spatter,coarse_dropout,rotate,shear"],
        ),
        (
            ["vlbias", *TINY, "--num", "2", "--categories", "all", "--intersections"],
            ["--categories", "__CATEGORIES__", "--question", "ALL"],
        ),
        (["hqh", *TINY, "--num", "2"], ["--types", "__TYPES__", "--twins", "multi-choice,yes/no"]),
    ],
)  # fmt: skip
def test_a_rerun_that_spells_the_defaults_out_resumes(
    tmp_path: Path, first: list[str], again: list[str]
) -> None:
    """Every name listed, aliases, another order: the same effective settings, so the run resumes
    (it used to be refused as 'different plan settings' once images existed)."""
    run = tmp_path / "run"
    _render_one(run, *first)
    lists = {f"__{name.upper()}__": ",".join(hvgen("list", name).stdout.split("\n")[:-1]) for name in
             ("styles", "subtasks", "categories", "types")}  # fmt: skip
    spelled = [lists.get(arg, arg) for arg in again]
    rerun = hvgen(*first, *spelled, "--out", str(run), "--dry-run")
    assert rerun.returncode == 0, rerun.stderr
    assert "plan: up to date" in rerun.stderr
    changed = hvgen(*first, "--seed", "9", "--out", str(run), "--dry-run")
    line = error_line(changed)  # a real change is still refused, naming only what changed
    assert "seed: 2024 → 9" in line and "options" not in line


def test_the_default_model_offline_is_one_line_before_anything_is_planned(tmp_path: Path) -> None:
    """Without --model, offline and with an empty cache: one error line at once (it used to plan,
    then print a dozen retried-request warnings over ~30 s), no run directory; the suggested
    `--model tiny` with the same --out then just works."""
    env = {"HF_HUB_OFFLINE": "1", "HF_HOME": str(tmp_path / "hf-home")}
    result = hvgen("dysca", "--num", "2", "--out", str(tmp_path / "r"), env=env)
    line = error_line(result)
    assert "--model sdxl" in line and "not in the local Hugging Face cache" in line and "--model tiny" in line
    assert result.stderr.strip() == line, result.stderr
    assert not (tmp_path / "r").exists()
    dry = hvgen("dysca", "--num", "2", "--out", str(tmp_path / "r"), "--dry-run", env=env)
    assert dry.returncode == 0, dry.stderr  # planning needs no model
    again = hvgen("dysca", *TINY, "--num", "2", "--out", str(tmp_path / "r"), env=env)
    assert again.returncode == 0, again.stderr


def test_config_file_values_are_checked_like_a_run_would(tmp_path: Path) -> None:
    """`hvgen config FILE` refuses a misspelled scenario or style (a run with that file would),
    naming the file, instead of printing it back as if it were resolved."""
    for body, expected in [
        ("scenario:\n  scenarios: [clean, prnt]\n", "did you mean 'print'"),
        ("options:\n  styles: [wtercolor]\n", "did you mean 'watercolor'"),
    ]:
        (tmp_path / "c.yaml").write_text("benchmark: dysca\n" + body)
        line = error_line(hvgen("config", str(tmp_path / "c.yaml")))
        assert str(tmp_path / "c.yaml") in line and expected in line
    (tmp_path / "c.yaml").write_text("benchmark: dysca\noptions:\n  styles: [pixel art, watercolor]\n")
    assert yaml.safe_load(hvgen("config", str(tmp_path / "c.yaml")).stdout)["options"]["styles"] == (
        "watercolor,pixel art"
    )


def test_a_benchmark_of_photographs_names_no_model(tmp_path: Path) -> None:
    """HERM renders nothing: its first line must not say 'model sdxl'."""
    result = hvgen("herm", "--out", str(tmp_path / "r"))
    assert "model sdxl" not in result.stderr and "photographs, no model" in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--corruption-preset", "imagenetc", "imagenet-c"),
        ("--corruptions", "gausian_noise", "gaussian_noise"),
        ("--attack", "pdg", "'pgd'"),
    ],
)
def test_a_misspelled_scenario_option_is_refused_when_its_scenario_is_not_run(
    tmp_path: Path, option: str, value: str, expected: str
) -> None:
    """Default --scenario clean: a misspelled corruption or attack name used to be stored in
    config.yaml silently, to fail only on the rerun that adds that scenario."""
    line = error_line(hvgen("dysca", *TINY, option, value, "--out", str(tmp_path / "r"), "--dry-run"))
    assert value in line and expected in line
    assert not (tmp_path / "r").exists()


def test_config_yaml_names_the_surrogate_used(tmp_path: Path) -> None:
    """Like steps and size, the attack's surrogate is stored resolved ('tiny' with --model tiny,
    CLIP ViT-L/14 otherwise), not as null."""
    result = hvgen("dysca", *TINY, "--num", "2", "--out", str(tmp_path / "r"), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert yaml.safe_load((tmp_path / "r" / "config.yaml").read_text())["scenario"]["surrogate"] == "tiny"
    (tmp_path / "c.yaml").write_text("benchmark: dysca\n")
    shown = yaml.safe_load(hvgen("config", str(tmp_path / "c.yaml")).stdout)
    assert shown["scenario"]["surrogate"] == "openai/clip-vit-large-patch14"


def test_vocab_for_a_benchmark_without_vocabulary_files_says_so(tmp_path: Path) -> None:
    """VLBias ships no vocabulary files: the error used to end 'named after a shipped vocabulary: .'"""
    (tmp_path / "voc").mkdir()
    (tmp_path / "voc" / "animals.txt").write_text("cat\ndog\n")
    line = error_line(
        hvgen("vlbias", *TINY, "--vocab", str(tmp_path / "voc"), "--out", str(tmp_path / "r"), "--dry-run")
    )
    assert "ships no vocabulary files" in line and "--templates DIR" in line and ": ." not in line


def test_input_paths_are_stored_absolute_so_reruns_from_elsewhere_resume(tmp_path: Path) -> None:
    """HERM's --coco-keypoints / --images and Face QA's --source DIR: a rerun spelling the same
    files './x', 'x/' or from another folder is the same run (it was refused as 'different plan
    settings', and a stage command run elsewhere read other files); the card names no local path."""
    from face_sources import write_fairface
    from herm_coco import write_coco

    coco = write_coco(tmp_path / "coco")
    herm = ["herm", "--coco-keypoints", "coco/person_keypoints.json", "--images", "coco/images"]
    first = hvgen(*herm, "--out", "he", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    options = yaml.safe_load((tmp_path / "he" / "config.yaml").read_text())["options"]
    assert options["coco_keypoints"] == str(coco["keypoints"].resolve())
    again = hvgen("herm", "--coco-keypoints", "person_keypoints.json", "--images", "./images/",
                  "--out", "../he", "--dry-run", cwd=tmp_path / "coco")  # fmt: skip
    assert again.returncode == 0 and "plan: up to date" in again.stderr, again.stderr
    assert hvgen("render", str(tmp_path / "he")).returncode == 0  # from another folder

    write_fairface(tmp_path / "ff")
    face = ["faceqa", "--num", "2"]
    first = hvgen(*face, "--source", "fairface=ff/fairface", "--out", "fa", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = hvgen(*face, "--source", "fairface=./ff/fairface/", "--out", "fa", "--dry-run", cwd=tmp_path)
    assert again.returncode == 0 and "plan: up to date" in again.stderr, again.stderr
    card = (tmp_path / "fa" / "export" / "README.md").read_text()
    assert str(tmp_path) not in card and "fairface=<local: fairface>" in card
    records = [json.loads(line) for line in (tmp_path / "fa" / "records.jsonl").read_text().splitlines()]
    (tmp_path / "p.jsonl").write_text(
        "".join(json.dumps({"id": r["id"], "prediction": r["answer"]}) + "\n" for r in records)
    )
    scored = hvgen("score", "faceqa", "fa", "p.jsonl", cwd=tmp_path)
    assert scored.returncode == 0 and "None" not in scored.stdout, scored.stdout  # '–' where n/a


def test_a_short_vocabulary_warns_for_every_benchmark(tmp_path: Path) -> None:
    """The engine, not one generator, warns: HQH's attribute questions with a 2-colour color.txt
    became 2-option questions silently."""
    (tmp_path / "vocab").mkdir()
    (tmp_path / "vocab" / "color.txt").write_text("red\nblue\n")
    result = hvgen("hqh", *TINY, "--num", "16", "--vocab", str(tmp_path / "vocab"),
                   "--out", str(tmp_path / "r"), "--dry-run")  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and str(tmp_path / "vocab" / "color.txt") in warnings[0], result.stderr
    assert "2 options instead of 4" in warnings[0]


def test_score_output_dash_is_json_on_stdout(finished, tmp_path: Path) -> None:
    """Like `hvgen stats --json -`: `--output -` wrote a file named '-'."""
    run, _ = finished
    records = [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]
    predictions = tmp_path / "p.jsonl"
    predictions.write_text(
        "".join(json.dumps({"id": r["id"], "prediction": r["answer"]}) + "\n" for r in records)
    )
    from quality_helpers import tiny_embedder

    embedder = str(tiny_embedder(tmp_path / "tiny-minilm"))  # captions are scored by similarity
    result = hvgen(
        "score", "dysca", str(run), str(predictions), "--embedder", embedder, "--output", "-", cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert "by_question_type" in report and not (tmp_path / "-").exists()


def test_an_option_a_benchmark_lacks_says_why() -> None:
    """`hvgen herm --model tiny` said 'No such option: --model (Possible options: --help)' (herm
    renders now, with --synthetic: its perturbation options are the ones it lacks)."""
    result = hvgen("herm", "--scenario", "blur", "--out", "x")
    assert result.returncode == 2 and "Possible options" not in result.stderr
    assert "--scenario: hvgen herm makes no perturbed scenarios" in result.stderr, result.stderr
    scenario = hvgen("faceqa", "--scenario", "print", "--out", "x")
    assert "--scenario: hvgen faceqa makes no perturbed scenarios" in scenario.stderr, scenario.stderr


def test_a_misnamed_template_file_is_a_loud_warning(tmp_path: Path) -> None:
    """Like a misnamed --vocab file: `promt.j2` in --templates replaced nothing, silently."""
    (tmp_path / "tpl").mkdir()
    (tmp_path / "tpl" / "promt.j2").write_text("a picture\n")
    shutil.copy(ROOT / "templates" / "dysca" / "prompt.j2", tmp_path / "tpl" / "prompt.j2")  # a real one
    result = hvgen("dysca", *TINY, "--num", "2", "--templates", str(tmp_path / "tpl"),
                   "--out", str(tmp_path / "r"), "--dry-run")  # fmt: skip
    assert result.returncode == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and "promt.j2" in warnings[0] and "did you mean 'prompt.j2'" in warnings[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["dysca", "--num", "abc"], ["--num", "a whole number from 1 to", "got 'abc'"]),  # states the range
        (["dysca", "--nmu", "3"], ["--nmu", "--num", "hvgen dysca --help"]),
        (["dyscaa"], ["dyscaa", "dysca", "hvgen --help"]),
        (["export"], ["RUN_DIR", "hvgen export --help"]),
    ],
)
def test_a_command_line_click_refuses_is_one_error_line(args: list[str], expected: list[str]) -> None:
    """Usage errors (a non-number, an unknown option or command, a missing argument) were click's
    three lines ('Usage: …', 'Try …', 'Error: …'); now one 'error:' line like every other refusal,
    naming the command whose --help explains it."""
    result = hvgen(*args)
    line = error_line(result)
    assert all(part in line for part in expected), line
    assert "Usage:" not in result.stderr and "Try '" not in result.stderr
