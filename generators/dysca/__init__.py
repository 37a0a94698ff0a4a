"""Dysca (`hvgen dysca`): generator.py plans the questions, release.py writes the original release
layout (`--format dysca`), scoring.py is Dysca's own metrics (`hvgen score dysca`). Loaded through
the ``hvgen.generators`` entry point; only this package (relatively) and tests import its modules.
"""

from .generator import Dysca

__all__ = ["Dysca"]
