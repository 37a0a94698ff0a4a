"""Readers of face data sets in their real release formats (FairFace csv, CelebA txt lists,
FaceForensics++ split json, DFEW clip csv ...), each turning a source folder into `FaceSample`s
with labels in one normalised vocabulary. `face_readers()` lists them by source name."""

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
