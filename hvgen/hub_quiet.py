"""Keep a model download's chatter off the terminal unless `-v` asks for it.

Offline, huggingface_hub logs one warning per retry of every HEAD request ("... thrown while
requesting HEAD ...  Retrying in 8s [Retry 5/5]") and diffusers warns about deprecated download
arguments, so a missing model used to print a dozen lines before hvgen's one-line error. hvgen
says what failed and how to fix it; `-v` still shows every library line.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

from hvgen.progress import VERBOSE, verbosity


@contextmanager
def quiet_hub_download() -> Iterator[None]:
    """Within the block: huggingface_hub logs only errors, and Python warnings are hidden
    (both untouched with -v)."""
    if verbosity() >= VERBOSE:
        yield
        return
    hub = logging.getLogger("huggingface_hub")
    level = hub.level
    hub.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        hub.setLevel(level)
