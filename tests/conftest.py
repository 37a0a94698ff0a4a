"""Shared fixtures: an offline, quiet environment and one tiny-model cache per test session."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# Never touch the network: any accidental Hub call fails fast instead of retrying.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HVGEN_NO_PROGRESS", "1")
# A private `datasets` cache: exports from earlier runs must never be served from a shared cache.
os.environ["HF_DATASETS_CACHE"] = tempfile.mkdtemp(prefix="hvgen-test-datasets-")


@pytest.fixture(scope="session", autouse=True)
def tiny_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """HVGEN_CACHE for the session: tiny models are built once (save_pretrained) and reloaded."""
    cache = Path(os.environ.get("HVGEN_TEST_CACHE") or tmp_path_factory.mktemp("hvgen-cache"))
    os.environ["HVGEN_CACHE"] = str(cache)
    return cache


@pytest.fixture(scope="session")
def tiny_pipeline(tiny_cache: Path):
    """The built-in tiny SDXL pipeline, loaded through the real loading code."""
    from hvgen.config import RenderConfig
    from hvgen.stages.render import load_pipeline

    return load_pipeline(RenderConfig(model="tiny", device="cpu"))


@pytest.fixture(autouse=True)
def normal_verbosity():
    """Each test starts at the default verbosity: commands run in-process with --quiet or -v set a
    process-wide level, which would otherwise leak into the tests that follow them."""
    from hvgen import progress

    progress.set_verbosity(progress.NORMAL)
    yield
    progress.set_verbosity(progress.NORMAL)
