"""Re-annotation of images with a vision-language model (any transformers image-text-to-text
model): a fine-grained caption and an attribute list per image, stored apart from source labels
and marked model-generated. Benchmark-agnostic: `annotate_images` takes (key, path) pairs.
Imported by the CLI (`hvgen annotate`) and benchmark plug-ins (Face QA's captions)."""

from hvgen.annotate.annotations import Annotation, annotate_images, read_annotations
from hvgen.annotate.captioner import check_captioner
from hvgen.annotate.parsing import ParsedReply, parse_reply

__all__ = [
    "Annotation",
    "ParsedReply",
    "annotate_images",
    "check_captioner",
    "parse_reply",
    "read_annotations",
]
