"""Readers of face data sets in their real release formats (FairFace csv, CelebA txt lists,
FaceForensics++ split json, DFEW clip csv ...), each turning a source folder into `FaceSample`s
with labels in one normalised vocabulary. `face_readers()` lists them by source name.

This package head imports the built-in readers (`sources`), which register themselves with
`base`; `base` never imports them. Imported by benchmark plug-ins (Face QA)."""

from hvgen.readers.faces import sources  # noqa: F401  (the built-in readers register themselves)
from hvgen.readers.faces.base import (
    EXPRESSIONS,
    FaceReader,
    FaceSample,
    SourceInfo,
    face_reader,
    face_readers,
    register_face_reader,
)

__all__ = [
    "EXPRESSIONS",
    "FaceReader",
    "FaceSample",
    "SourceInfo",
    "face_reader",
    "face_readers",
    "register_face_reader",
]
