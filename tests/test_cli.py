"""The CLI end to end on the tiny model: plan → render → export → `datasets.load_dataset`."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import yaml
from datasets import load_dataset
from PIL import Image

from hvgen.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    # cwd outside the checkout: `python -c` puts cwd on sys.path, and the checkout's hvgen/ folder
    # is not the installed package (generators/, templates/ are mapped into it at install time).
    return subprocess.run(
        [sys.executable, "-c", "from hvgen.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
    )


DEMO_ARGS = [
    "dysca",
    "--styles",
    "all",
    "--scenario",
    "clean",
    "--model",
    "tiny",
    "--num",
    "16",
    "--steps",
    "2",
]


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("cli") / "demo"
    main([*DEMO_ARGS, "--out", str(out)])
    return out


@pytest.mark.heavy
def test_export_loads_with_datasets_and_matches_the_plan(demo_run: Path) -> None:
    ds = load_dataset(str(demo_run / "export"), "clean", split="test")
    planned = [json.loads(line) for line in (demo_run / "records.jsonl").read_text().splitlines()]
    assert ds.num_rows == len(planned) > 16
    assert set(ds["id"]) == {r["id"] for r in planned}
    assert len(set(ds["image_id"])) == 16
    pixels_of_image: dict[str, str] = {}
    for row in ds:
        if row["options"]:
            assert row["answer"] in row["options"] and row["options"][row["answer_index"]] == row["answer"]
        image = row["image"]
        image.load()
        assert image.size == (64, 64)
        # the embedded image is the file rendered for this record's prompt
        rendered = Image.open(demo_run / row["images"][0]).convert("RGB")
        assert np.array_equal(np.asarray(image.convert("RGB")), np.asarray(rendered))
        digest = hashlib.sha256(image.tobytes()).hexdigest()
        assert pixels_of_image.setdefault(row["image_id"], digest) == digest
        assert row["scenario"] == "clean"


@pytest.mark.heavy
def test_dataset_card_has_configs_and_stats(demo_run: Path) -> None:
    card = (demo_run / "export" / "README.md").read_text()
    header = yaml.safe_load(card.split("---")[1])
    assert header["configs"][0]["config_name"] == "clean"
    planned = len((demo_run / "records.jsonl").read_text().splitlines())
    (split,) = header["dataset_info"][0]["splits"]
    assert split["name"] == "test" and split["num_examples"] == planned and split["num_bytes"] > 0
    assert header["task_categories"] == ["visual-question-answering"]
    assert "Answer-position balance" in card and "plots/subtask.png" in card
    assert (demo_run / "export" / "plots" / "subtask.png").is_file()
    assert yaml.safe_load((demo_run / "config.yaml").read_text())["render"]["model"] == "tiny"


@pytest.mark.heavy
def test_rerun_resumes_without_rendering(demo_run: Path, capsys: pytest.CaptureFixture) -> None:
    before = {p: p.stat().st_mtime_ns for p in demo_run.glob("images/*/*.png")}
    main([*DEMO_ARGS, "--out", str(demo_run)])
    err = capsys.readouterr().err
    assert "0 rendered, 16 already done" in err
    assert before == {p: p.stat().st_mtime_ns for p in demo_run.glob("images/*/*.png")}


def test_changed_settings_on_an_existing_run_are_refused(demo_run: Path) -> None:
    result = run_cli(
        "dysca",
        "--model",
        "tiny",
        "--num",
        "16",
        "--steps",
        "2",
        "--seed",
        "9",
        "--out",
        str(demo_run),
        "--dry-run",
    )
    assert result.returncode == 2
    assert "seed" in result.stderr and "--overwrite" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["dysca", "--styles", "watercolour", "--dry-run"], "did you mean 'watercolor'"),
        (["dysca", "--scenario", "foggy", "--dry-run"], "unknown scenario 'foggy'"),
        (
            ["dysca", "--scenario", "all,foggy", "--dry-run"],
            "unknown scenario 'foggy'",
        ),  # not hidden by 'all'
        (["dysca", "--styles", "watercolour,all", "--dry-run"], "did you mean 'watercolor'"),
        (["plan", "does-not-exist"], "not an hvgen run directory"),
        (["score", "nosuchbench", ".", "p.jsonl"], "unknown benchmark"),
        (["vlbias", "--scenario", "adversarial", "--dry-run"], "does not support scenario(s) adversarial"),
        (["dysca", "--scenario", "corruption", "--corruptions", "foggy", "--dry-run"], "Unknown corruption"),
        (["dysca", "--scenario", "adversarial", "--attack", "pgdd", "--dry-run"], "pgd"),
    ],
)
def test_bad_input_exits_non_zero_with_one_clear_error(
    tmp_path: Path, args: list[str], fragment: str
) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from hvgen.cli import main; main()",
            *args,
            *(["--out", str(tmp_path / "r")] if args[0] in ("dysca", "vlbias") else []),
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert fragment in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "r").exists()


def test_dry_run_plans_without_rendering(tmp_path: Path) -> None:
    out = tmp_path / "dry"
    main(["dysca", "--model", "tiny", "--num", "5", "--out", str(out), "--dry-run"])
    assert (out / "records.jsonl").is_file() and (out / "catalog.duckdb").is_file()
    assert not (out / "images").exists()


def test_help_explains_every_option() -> None:
    result = run_cli("dysca", "--help")
    assert result.returncode == 0
    for option in (
        "--styles",
        "--subtasks",
        "--question-types",
        "--num",
        "--model",
        "--scenario",
        "--shard",
        "--seed",
        "--vocab",
    ):
        assert option in result.stdout


@pytest.mark.heavy
def test_shards_started_together_plan_once_and_export_everything(tmp_path: Path) -> None:
    out = tmp_path / "sharded"
    args = [
        "dysca",
        "--model",
        "tiny",
        "--num",
        "6",
        "--steps",
        "2",
        "--subtasks",
        "animal",
        "--out",
        str(out),
    ]
    command = [sys.executable, "-c", "from hvgen.cli import main; main()", *args]
    later = subprocess.Popen([*command, "--shard", "1/2"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    first = subprocess.run([*command, "--shard", "0/2"], cwd=tmp_path, capture_output=True, text=True)
    _, later_err = later.communicate(timeout=600)
    assert first.returncode == 0, first.stderr
    assert later.returncode == 0, later_err
    assert "waiting for shard 0" in later_err
    main(["export", str(out)])
    planned = (out / "records.jsonl").read_text().splitlines()
    assert load_dataset(str(out / "export"), "clean", split="test").num_rows == len(planned)
    assert len(list((out / "images").rglob("*.png"))) == 6


def test_config_file_sets_options_and_the_command_line_overrides_it(tmp_path: Path) -> None:
    config = tmp_path / "run.yaml"
    config.write_text(
        "benchmark: dysca\nseed: 7\nnum: 5\noptions:\n  subtasks: animal,color\n  question_types: mc\n"
        "render:\n  model: tiny\n  steps: 2\n"
    )
    out = tmp_path / "r"
    main(["dysca", "--config", str(config), "--num", "4", "--out", str(out), "--dry-run"])
    saved = yaml.safe_load((out / "config.yaml").read_text())
    assert saved["seed"] == 7 and saved["num"] == 4 and saved["render"]["model"] == "tiny"
    # config.yaml is the resolved config: the file's options in one spelling (names in their
    # canonical order, aliases resolved), and every default filled in
    assert saved["options"] == {
        "subtasks": "color,animal",
        "question_types": "multi choice",
        "styles": "all",
        "thin": False,
        "allow_short": False,
        "condition": "",  # no ControlNet condition
    }
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    assert {r["subtask"] for r in records} <= {"animal", "color"} and {
        r["question_type"] for r in records
    } == {"multi choice"}

    bad = tmp_path / "bad.yaml"
    bad.write_text("benchmark: dysca\nrender:\n  modle: tiny\n")
    result = run_cli("dysca", "--config", str(bad), "--out", str(tmp_path / "r2"), "--dry-run")
    assert result.returncode == 2 and "unknown key 'modle' (did you mean 'model'?)" in result.stderr


@pytest.mark.heavy
def test_stage_by_stage_plan_render_export(tmp_path: Path) -> None:
    out = tmp_path / "stages"
    main(
        [
            "dysca",
            "--model",
            "tiny",
            "--num",
            "3",
            "--steps",
            "2",
            "--subtasks",
            "animal",
            "--out",
            str(out),
            "--dry-run",
        ]
    )
    early = run_cli("export", str(out))
    assert early.returncode == 2 and "hvgen render" in early.stderr and not (out / "export").exists()
    main(["render", str(out)])
    main(["export", str(out)])  # clean samples are recorded on the way: no separate `scenario` call needed
    planned = (out / "records.jsonl").read_text().splitlines()
    assert load_dataset(str(out / "export"), "clean", split="test").num_rows == len(planned)
