"""hvgen: regenerate, deduplicate and publish synthetic vision-language benchmarks."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("hvgen")
except PackageNotFoundError:  # running from a checkout without an install
    __version__ = "0.0.0+local"

__all__ = ["__version__"]
