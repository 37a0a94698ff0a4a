"""Source images decoded strictly.

PIL's `ImageFile.LOAD_TRUNCATED_IMAGES` is process-wide, and some libraries set it on import
(lmms-eval's task module does): a truncated source photograph would then decode as an image
padded with grey and be published as if it were whole. Source images are read with the flag
off, whatever the process set, so a broken file is found and skipped instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def strict_decoding() -> Iterator[None]:
    """Within the block, a truncated image file is an error (the flag is restored after)."""
    from PIL import ImageFile

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = False
    try:
        yield
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
