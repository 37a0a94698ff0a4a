"""hvgen: regenerate, deduplicate and publish synthetic vision-language benchmarks.

The engine is grouped by kind, and imports flow down (tests/test_import_graph.py checks it):
`cli` → `pipeline` → `stages` → `analysis` → `scenarios`, `scoring` → `publish`, `judges`,
`annotate`, `readers` → `generator`, `models`, `config` → `store` → `errors`. The benchmarks
(`hvgen.generators`) are plug-ins above the stages; nothing in the engine imports them (the
registry loads them by name).
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hvgen")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
