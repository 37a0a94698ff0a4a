"""Gathering a source's samples: one entry per sample id (a file listed twice is kept once and
counted) and yielded sorted by id, so every reader's order is the same on every machine."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from hvgen.readers.faces.base import FaceSample


class SampleList:
    """Samples collected while a reader walks its lists; `sorted()` yields them in id order."""

    def __init__(self, skipped: Counter[str]) -> None:
        self._samples: dict[str, FaceSample] = {}
        self._skipped = skipped

    def add(self, sample: FaceSample) -> None:
        if sample.sample_id in self._samples:
            self._skipped["duplicate"] += 1
            return
        self._samples[sample.sample_id] = sample

    def __len__(self) -> int:
        return len(self._samples)

    def sorted(self) -> Iterator[FaceSample]:
        for sample_id in sorted(self._samples):
            yield self._samples[sample_id]
