"""A benchmark is a package registered in the ``hvgen.generators`` entry-point group, built-in or
not. These tests check that pyproject.toml declares every built-in (and ships it in the wheel),
that the engine imports none by name, and that a third-party package laid out like
tests/toybench/ (generator + templates/ + schemas/ + dataset_cards/ inside it) runs through the
real CLI once an installed distribution declares it: here a ``*.dist-info/entry_points.txt`` on
PYTHONPATH, which importlib.metadata finds as it finds a pip-installed one.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pyarrow.parquet as pq
import pytest

ROOT = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


def builtin_folders() -> list[str]:
    return sorted(p.parent.name for p in (ROOT / "generators").glob("*/__init__.py"))


def test_pyproject_declares_every_builtin_benchmark() -> None:
    """generators/<bench>/ must be in `packages` (else the wheel lacks it) and in the entry-point
    group (else no command): a new folder forgotten in pyproject.toml fails here, not at a user's."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = set(project["tool"]["setuptools"]["packages"])
    declared = project["project"]["entry-points"]["hvgen.generators"]
    folders = builtin_folders()
    assert folders == sorted(declared), "each generators/<bench>/ needs an hvgen.generators entry point"
    for name in folders:
        assert f"hvgen.generators.{name}" in packages, (
            f"pyproject.toml packages lacks hvgen.generators.{name}"
        )
        assert declared[name].startswith(f"hvgen.generators.{name}:")
    # The install these tests run against was made from this pyproject (an editable install keeps
    # the entry points of its install time: reinstall after adding a benchmark).
    installed = {
        e.name: e.value for e in entry_points(group="hvgen.generators") if e.value.startswith("hvgen.")
    }
    assert installed == declared, "stale install: run `pip install -e .` again"
    from hvgen.generator import generators

    registry = generators()
    for name in folders:
        assert registry[name].name == name and registry[name].__module__.startswith(
            f"hvgen.generators.{name}."
        )


def test_engine_imports_no_benchmark() -> None:
    """The engine (hvgen/) never imports a benchmark package: the registry loads them."""
    pattern = re.compile(r"^\s*(from|import)\s+hvgen\.generators\b", re.MULTILINE)
    offenders = [
        str(p.relative_to(ROOT)) for p in (ROOT / "hvgen").rglob("*.py") if pattern.search(p.read_text())
    ]
    assert offenders == []


def plugin_site(tmp_path: Path, entry_points_txt: str) -> dict[str, str]:
    """A folder holding an installed distribution's metadata, and the environment that puts it
    (and tests/, where the toybench package lives) on the path."""
    dist_info = tmp_path / "site" / "toybench-0.1.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: toybench\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(entry_points_txt)
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(TESTS)])}


def hvgen(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    # cwd outside the checkout: the checkout's hvgen/ folder is not the installed package.
    command = [sys.executable, "-c", "from hvgen.cli import main; main()", *args]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)


@pytest.mark.heavy
def test_plugin_benchmark_runs_through_the_cli(tmp_path: Path) -> None:
    env = plugin_site(tmp_path, "[hvgen.generators]\ntoybench = toybench:ToyBench\n")
    helped = hvgen(env, tmp_path, "toybench", "--help")
    assert helped.returncode == 0, helped.stderr
    assert "--colour" in helped.stdout and "--model" in helped.stdout and "--scenario" not in helped.stdout

    out = tmp_path / "run"
    done = hvgen(
        env, tmp_path, "toybench", "--model", "tiny", "--num", "2", "--colour", "blue", "--out", str(out)
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    records = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    # the plug-in's templates and vocabulary worded the records, its schema validated them
    assert sorted(r["prompt"] for r in records) == ["a blue cat, studio photo", "a blue owl, studio photo"]
    assert {r["question"] for r in records} == {
        "Is there a cat in the picture?",
        "Is there a owl in the picture?",
    }
    # the export: the plug-in's card (extending the engine's base) and its schema's descriptions
    card = (out / "export" / "README.md").read_text()
    assert "Toy Bench asks whether the pictured animal is there" in card and "license: cc0-1.0" in card
    assert "| `animal` | string | The animal the picture shows (toybench's own column). |" in card
    shards = sorted((out / "export" / "data").rglob("*.parquet"))
    assert shards and pq.read_table(shards[0]).num_rows == 2


def test_an_install_without_entry_points_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """An editable install made before the entry points existed (or hvgen imported from a checkout
    that is not installed) registers nothing: say how to fix it instead of 'unknown benchmark'."""
    from hvgen import generator
    from hvgen.errors import HvgenError

    monkeypatch.setattr(generator, "_REGISTRY", {})
    monkeypatch.setattr(generator, "_LOADED", False)
    monkeypatch.setattr(generator, "entry_points", lambda group: [])
    with pytest.raises(HvgenError, match=r"no benchmark is registered.*pip install -e \."):
        generator.generators()


def test_a_broken_plugin_is_one_clear_error(tmp_path: Path) -> None:
    missing = plugin_site(tmp_path / "a", "[hvgen.generators]\nnope = toybench_missing:Nope\n")
    done = hvgen(missing, tmp_path, "list")
    assert done.returncode != 0
    assert (
        "benchmark 'nope' (hvgen.generators entry point 'toybench_missing:Nope') failed to load"
        in done.stderr
    )
    assert "Traceback" not in done.stderr
    misnamed = plugin_site(tmp_path / "b", "[hvgen.generators]\ntoy = toybench:ToyBench\n")
    done = hvgen(misnamed, tmp_path, "list")
    assert done.returncode != 0 and "registered no benchmark named 'toy'" in done.stderr
