"""Face QA (`hvgen faceqa`): generator.py plans, sources.py opens the face data sets, splits.py
keeps identities in one split, questions.py words balanced questions, synthetic.py plans rendered
faces, scoring.py the metrics. Loaded through the ``hvgen.generators`` entry point; only this
package (relatively) and tests import its modules.
"""

from .generator import FaceQA

__all__ = ["FaceQA"]
