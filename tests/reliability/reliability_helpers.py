"""Helpers of the reliability suite: a byte-level snapshot of a run's data, and the real
console entry point run in a subprocess (so kills are real)."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq

RUN_ARGS = ["--scenario", "all", "--model", "tiny", "--num", "6", "--steps", "2", "--seed", "11"]
"""A small `--scenario all` run: 6 images, every scenario, every stage."""


def benchmark_args(out: Path, *extra: str) -> list[str]:
    return ["dysca", *RUN_ARGS, "--out", str(out), *extra]


NEUTRAL_CWD = tempfile.mkdtemp(prefix="hvgen-cwd-")
"""Where subprocesses start: `python -m` puts the working directory first on sys.path, and a
checkout's `hvgen/` folder there would shadow the installed package (whose generators, templates
and schemas are mapped in from the top-level folders)."""


def hvgen_process(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    """`python -m hvgen ARGS` in its own process group (so a kill reaches nothing else)."""
    return subprocess.Popen(
        [sys.executable, "-m", "hvgen", *args],
        cwd=NEUTRAL_CWD,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def run_hvgen(
    args: list[str], env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess:
    process = hvgen_process(args, env)
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def snapshot(run: Path) -> dict[str, str]:
    """sha256 of every data file of a run (images, scenario outputs, records.jsonl) and of every
    exported row (its fields and its image bytes), keyed by run-relative path or config/row id."""
    digest: dict[str, str] = {}
    for folder in ("images", "scenarios"):
        for path in sorted((run / folder).rglob("*.png")):
            digest[path.relative_to(run).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    digest["records.jsonl"] = hashlib.sha256((run / "records.jsonl").read_bytes()).hexdigest()
    for parquet in sorted((run / "export" / "data").rglob("*.parquet")):
        config = parquet.parent.name
        for row in pq.read_table(parquet).to_pylist():
            image = row.pop("image")
            row["image_sha256"] = hashlib.sha256(image["bytes"]).hexdigest()
            digest[f"export/{config}/{row['id']}"] = hashlib.sha256(
                json.dumps(row, sort_keys=True, default=str).encode()
            ).hexdigest()
    return digest


def export_rows(run: Path) -> dict[str, int]:
    return {
        folder.name: sum(pq.read_metadata(f).num_rows for f in folder.glob("*.parquet"))
        for folder in sorted((run / "export" / "data").iterdir())
    }


def copy_run(source: Path, target: Path) -> Path:
    shutil.copytree(source, target, symlinks=True)
    return target


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def one_error_line(stderr: str) -> str:
    """The error a user sees: exactly one line starting 'error:', and no traceback."""
    assert "Traceback" not in stderr, stderr
    lines = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, stderr
    return lines[0]
