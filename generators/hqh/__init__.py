"""HQH (`hvgen hqh`): generator.py plans, items.py draws one image's questions, judging.py is the LLM
judge's prompt and reading, release.py writes the original layout, scoring.py the metrics. Loaded
through the ``hvgen.generators`` entry point; only this package (relatively) and tests import its
modules.
"""

from .generator import Hqh

__all__ = ["Hqh"]
