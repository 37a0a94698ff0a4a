"""The commands a user runs to look around — `hvgen --help`, `hvgen list ...`, `hvgen config`,
`hvgen models` — and refusals of bad input load no model library: torch, diffusers, transformers,
albumentations and datasets take seconds to import and none of these commands needs them (the
command modules import them inside the functions that do). Help, the lists, `hvgen config`, the
refusals made while the command line is read (a bad number, a missing file) and the refusals of
scenario names and settings load no data library either: duckdb and pyarrow cost ~0.25 s of a
start-up that should answer within a second (the generators, the format registry and the catalog
import them inside the functions that write or read a catalog). `hvgen status RUN` reads the
catalog (duckdb) but no arrow table (pyarrow).

Each command runs in a fresh interpreter, which then reports the libraries in `sys.modules`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

HEAVY = ("torch", "diffusers", "transformers", "albumentations", "datasets")
DATA = ("duckdb", "pyarrow")

PROBE = f"""
import sys
from hvgen.cli import main

try:
    main(sys.argv[1:])
except SystemExit as done:
    code = done.code or 0
else:
    code = 0
# a module registered by importlib.util.LazyLoader (hvgen.lazy_module) and never used is not loaded
loaded = [name for name in {HEAVY + DATA!r} if name in sys.modules and type(sys.modules[name]).__name__ != "_LazyModule"]
print(f"exit {{code}} loaded={{','.join(loaded)}}", file=sys.stderr)
"""


def run_probe(*args: str) -> tuple[int, set[str], str]:
    """(exit status, the heavy and data libraries loaded, the output) of `hvgen ARGS` in a fresh process."""
    env = {**os.environ, "HVGEN_NO_PROGRESS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        cwd=tempfile.gettempdir(),  # not the checkout: `-c` would import its hvgen/, not the installed one
    )
    found = re.search(r"^exit (\d+) loaded=(\S*)$", done.stderr, re.MULTILINE)
    assert found, f"the probe did not finish: {done.stderr[-2000:]}"
    return int(found[1]), set(filter(None, found[2].split(","))), done.stdout


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("light") / "dysca.yaml"
    path.write_text("benchmark: dysca\nnum: 2\nrender:\n  model: tiny\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A planned run (`--dry-run`: nothing rendered), made in a subprocess of its own."""
    out = tmp_path_factory.mktemp("light") / "run"
    command = ["dysca", "--model", "tiny", "--num", "2", "--dry-run", "--quiet", "--out", str(out)]
    code, _, _ = run_probe(*command)
    assert code == 0
    return out


@pytest.mark.parametrize(
    "args",
    [
        ["--help"],
        ["dysca", "--help"],
        ["scan", "--help"],
        ["list", "benchmarks"],
        ["list", "styles"],
        ["list", "question-types"],
        ["models"],
    ],
    ids=" ".join,
)
def test_help_and_lists_load_no_model_or_data_library(args: list[str]) -> None:
    code, loaded, out = run_probe(*args)
    assert code == 0 and out
    assert not loaded, f"`hvgen {' '.join(args)}` imported {sorted(loaded)}"


def test_dry_run_of_every_scenario_loads_no_model_library(tmp_path: Path) -> None:
    """A dry run plans and checks every scenario's settings (a misspelled attack is refused)
    without importing torch or albumentations: the plan needs neither; the refusal needs no data
    library either."""
    out = tmp_path / "run"
    code, loaded, _ = run_probe(
        "dysca", "--num", "3", "--scenario", "all", "--dry-run", "--quiet", "--out", str(out)
    )
    assert code == 0 and (out / "records.jsonl").is_file()
    assert not loaded - set(DATA), f"`hvgen dysca --scenario all --dry-run` imported {sorted(loaded)}"
    code, loaded, _ = run_probe(
        "dysca",
        "--num",
        "3",
        "--scenario",
        "all",
        "--attack",
        "pgdd",
        "--dry-run",
        "--out",
        str(tmp_path / "bad"),
    )
    assert code == 2 and not loaded and not (tmp_path / "bad").exists()


def test_config_loads_no_model_or_data_library(config_file: Path, run_dir: Path) -> None:
    """`hvgen config` checks a file as a run would (options, scenarios, executor section) and prints
    a run's config: neither reads a catalog."""
    for source in (config_file, run_dir):
        code, loaded, out = run_probe("config", str(source))
        assert code == 0 and "benchmark: dysca" in out
        assert not loaded, f"`hvgen config {source}` imported {sorted(loaded)}"


def test_status_reads_the_catalog_without_arrow(run_dir: Path) -> None:
    code, loaded, out = run_probe("status", str(run_dir))
    assert code == 0 and "render" in out
    assert loaded <= {"duckdb"}, f"`hvgen status {run_dir}` imported {sorted(loaded)}"


def test_a_scenario_command_refusing_a_scenario_loads_no_data_library(run_dir: Path) -> None:
    code, loaded, _ = run_probe("scenario", str(run_dir), "--scenario", "bogus")
    assert code == 2
    assert not loaded, f"`hvgen scenario RUN --scenario bogus` imported {sorted(loaded)} before refusing"


# Refused while the command line is read, or for a file that is not there: before any stage is imported.
PARSE_REFUSALS = [
    ["dysca", "--num", "0"],
    ["dysca", "--num", "abc"],
    ["herm", "--scenario", "blur"],
    ["config", "no-such-file.yaml"],
    ["stats", "no-such-run"],
]
# Refused by the run's scenario checks (hvgen.pipeline, which loads duckdb only to read a catalog).
SCENARIO_REFUSALS = [
    ["dysca", "--scenario", "bogus"],
    ["herm", "--scenario", "corruption,bogus"],
    ["dysca", "--scenario", "corruption", "--corruptions", "gausian_noise"],
]
# Refused by the run's other checks (devices, a benchmark's own values, a scoring's inputs): these
# may have imported duckdb and pyarrow by then.
VALUE_REFUSALS = [
    ["dysca", "--model", "no/such-model", "--device", "tpu9"],
    ["vlbias", "--categories", "bogus"],
    ["score", "bogus", "a", "b"],
]


@pytest.mark.parametrize("args", PARSE_REFUSALS + SCENARIO_REFUSALS + VALUE_REFUSALS, ids=" ".join)
def test_refusals_of_bad_input_load_no_model_library(args: list[str], tmp_path: Path) -> None:
    light = args in PARSE_REFUSALS or args in SCENARIO_REFUSALS
    if args[0] in ("dysca", "herm", "vlbias"):
        args = [*args, "--out", str(tmp_path / "run")]
    code, loaded, _ = run_probe(*args)
    assert code == 2
    allowed = set() if light else set(DATA)
    assert not loaded - allowed, f"`hvgen {' '.join(args)}` imported {sorted(loaded)} before refusing"
    assert not (tmp_path / "run").exists()


def test_listing_everything_loads_no_model_or_data_library() -> None:
    """Bare `hvgen list` shows the corruption and attack names too: the attack names come from
    `hvgen.scenarios.attack_settings` (not the torch module that runs them) and the corruption
    module loads albumentations only when a corruption runs."""
    code, loaded, out = run_probe("list")
    assert code == 0 and "corruptions" in out and "attacks" in out
    assert not loaded, sorted(loaded)
