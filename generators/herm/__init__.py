"""HERM-100K (`hvgen herm`): generator.py plans from COCO people, levels.py and facts.py compute
what the annotations decide, questions.py holds tasks and answer dealing, masks.py the optional SAM
masks, scoring.py the metrics. Loaded through the ``hvgen.generators`` entry point; only this
package (relatively) and tests import its modules.
"""

from .generator import Herm

__all__ = ["Herm"]
