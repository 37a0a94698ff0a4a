"""Fixtures of the reliability suite: the uninterrupted reference run every crash, shard and
resume test must reproduce byte for byte."""

from __future__ import annotations

from pathlib import Path

import pytest
from reliability_helpers import benchmark_args, snapshot

from hvgen.cli import main


@pytest.fixture(scope="session")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted run every crash, shard and resume test must reproduce byte for byte."""
    out = tmp_path_factory.mktemp("reference") / "run"
    main(benchmark_args(out))
    return out


@pytest.fixture(scope="session")
def reference_snapshot(reference_run: Path) -> dict[str, str]:
    return snapshot(reference_run)
