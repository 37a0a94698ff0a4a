"""VLBiasBench (`hvgen vlbias`): generator.py plans, categories.py reads the template data,
questions.py words the records, release.py writes the original layout, predictions.py and
scoring.py score answers. Loaded through the ``hvgen.generators`` entry point; only this package
(relatively) and tests import its modules.
"""

from .generator import VLBias

__all__ = ["VLBias"]
