"""Any folder of face images, without labels: what a user brings for VLM re-annotation (a
LAION-Face subset downloaded by URL, their own photos ...)."""

from __future__ import annotations

from collections.abc import Iterator

from hvgen.errors import HvgenError
from hvgen.readers.faces.base import FaceReader, FaceSample, SourceInfo, register_face_reader
from hvgen.readers.faces.files import IMAGE_SUFFIXES, is_image, relative


@register_face_reader
class ImageFolderReader(FaceReader):
    """Every image below the folder (jpg, jpeg, png, webp, bmp; hidden files and folders left out),
    one unlabelled face sample each, its id the path relative to the folder."""

    info = SourceInfo(
        name="images",
        title="Image folder",
        licence="as stated by the user (hvgen cannot know the images' licence)",
        redistributable=False,
        citation="",
        url="",
        tasks=(),
    )

    def check(self) -> None:
        if not self.root.is_dir():
            raise HvgenError(
                f"{self.root}: no such folder (pass --source images=DIR with a folder of face images)."
            )
        if next(self._images(), None) is None:
            raise HvgenError(f"{self.root}: no image ({', '.join(IMAGE_SUFFIXES)}) below this folder.")

    def _images(self) -> Iterator:
        for path in self.source_folder().files():
            parts = path.relative_to(self.root).parts
            if is_image(path) and not any(part.startswith(".") for part in parts) and path.is_file():
                yield path

    def listed_samples(self) -> Iterator[FaceSample]:
        self.check()
        for sample_id, path in sorted((relative(path, self.root), path) for path in self._images()):
            yield FaceSample("images", sample_id, "face", (path,), {})
