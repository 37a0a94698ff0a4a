"""HERM's second planning pass with models (--sam masks, --annotator text): in this process and
in image order, since the models are loaded once here and the annotator's notes and cache report
come after the last image. Without models the pass is an `ItemRecords` that forked plan workers
share (`HermGenerator._records`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from hvgen.progress import info
from hvgen.readers.coco import CocoPeople, PersonImage
from hvgen.records import Record

from .annotator import PersonAnnotator
from .photos import add_masks
from .questions import DealOrder


def model_records(generator: Any, chosen: list[PersonImage], data: CocoPeople, order: DealOrder,
                  notes: list[str], masker: Any) -> Iterator[Record]:  # fmt: skip
    """One image's specs at a time, masked (`masker`, --sam), worded, and — with --annotator —
    the image's dense-caption record carrying every person's model-written text."""
    annotator = (
        PersonAnnotator(generator.annotation, generator.templates, generator.request.run_seed)
        if generator.annotation.annotator
        else None
    )
    try:
        for entry in chosen:
            specs = generator._image_specs(entry)
            if masker is not None:
                add_masks(generator, masker, entry, specs)
            annotations = None
            if annotator is not None:
                path = generator.source_image(entry.image.file_name)
                size = (entry.image.width, entry.image.height)
                annotations = annotator.annotate_image(generator.facts(entry), path, size)
            yield from generator.image_records(entry, specs, data, order, annotations)
        if annotator is not None:
            notes.extend(annotator.notes())
            info(annotator.cache_report(), highlight=False)
    finally:
        if annotator is not None:
            annotator.close()
