"""A module that is imported when one of its attributes is first read (the standard library's
`importlib.util.LazyLoader`): for libraries that take seconds to import (albumentations pulls in
torch) and that a module needs only in some of its functions."""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_import(name: str) -> ModuleType:
    """Top-level package `name`, loaded on first attribute access (already imported: returned as
    it is). Not for submodules: finding one imports its parent package."""
    if "." in name:
        raise ValueError(f"lazy_import takes a top-level package, not {name!r}")
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ModuleNotFoundError(f"No module named {name!r}", name=name)
    loader = importlib.util.LazyLoader(spec.loader)
    spec.loader = loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    return module
