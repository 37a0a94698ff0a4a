"""Video clips as folders of extracted frames, in temporal order.

Face video sets are used as frames (FFDBackbone reads `<video>/frame/<idx>.png`, the DFER sets
ship frame folders), so readers list frames and do not decode video. A clip that exists only
as a video file is one clear error saying how to extract its frames, unless the reader was given
a `frames_cache`: then OpenCV extracts the frames once into that folder.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from hvgen.errors import HvgenError
from hvgen.readers.faces.base import FaceReader
from hvgen.readers.faces.files import is_image

VIDEO_SUFFIXES = (".mp4", ".avi")
_DIGITS = re.compile(r"(\d+)")


def natural_key(name: str) -> tuple:
    """Sort key that orders '2.png' before '10.png' (frame numbers are rarely zero-padded)."""
    return tuple(int(part) if part.isdigit() else part for part in _DIGITS.split(name))


def clip_frames(folder: Path) -> tuple[Path, ...]:
    """The frames of a clip folder (in `folder/frame/` if present, else directly in `folder`),
    in temporal order; () when the folder is absent or holds no image."""
    inner = folder / "frame"
    if inner.is_dir():
        folder = inner
    if not folder.is_dir():
        return ()
    frames = [path for path in folder.iterdir() if path.is_file() and is_image(path)]
    return tuple(sorted(frames, key=lambda path: natural_key(path.name)))


def clip_video(folder: Path) -> Path | None:
    """The video file of the clip at `folder`: `<folder>.mp4` (or .avi) beside it, else the
    first video inside it; None if there is none."""
    for suffix in VIDEO_SUFFIXES:
        video = folder.with_name(folder.name + suffix)
        if video.is_file():
            return video
    if folder.is_dir():
        videos = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
        return videos[0] if videos else None
    return None


def frames_needed_error(video: Path) -> HvgenError:
    folder = video.with_suffix("")
    return HvgenError(
        f"{video}: the clip is a video file, but hvgen reads clips as folders of extracted frames "
        f"('{folder}/frame/<n>.png' or '{folder}/<n>.png'). Extract them first, e.g. "
        f"`mkdir -p '{folder}/frame' && ffmpeg -i '{video}' '{folder}/frame/%d.png'` for every video "
        "(or FFDBackbone's / the release's face-crop scripts), or give the reader a frames cache "
        "folder (frames_cache=DIR) to have hvgen extract them there with OpenCV."
    )


def extract_frames(video: Path, target: Path) -> tuple[Path, ...] | None:
    """Every frame of `video` as `target/<n>.png` (n from 0), written once: a finished folder is
    reused. None when OpenCV cannot decode the file."""
    frames = clip_frames(target)
    if frames:
        return frames
    import cv2

    capture = cv2.VideoCapture(str(video))
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    count = 0
    try:
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            if not cv2.imwrite(str(partial / f"{count}.png"), frame):
                raise HvgenError(f"{partial}: cannot write extracted frames (is the disk full?).")
            count += 1
    finally:
        capture.release()
    if count == 0:
        shutil.rmtree(partial, ignore_errors=True)
        return None
    shutil.rmtree(target, ignore_errors=True)  # an interrupted earlier extraction
    partial.rename(target)
    return clip_frames(target)


class VideoFaceReader(FaceReader):
    """A reader whose samples are clips. `clip()` gives a clip's frames or () after counting
    why there are none; `frames_cache` (a folder) lets it extract frames from video files."""

    def __init__(self, root: Path, *, frames_cache: Path | None = None) -> None:
        super().__init__(root)
        self.frames_cache = Path(frames_cache) if frames_cache is not None else None

    def folders(self) -> list[Path]:
        """The source folder, and this source's part of the frames cache: a frame extracted there
        is named as it would be extracted in place (`<video path without suffix>/<n>.png`)."""
        cache = [self.frames_cache / self.info.name] if self.frames_cache is not None else []
        return [self.root, *cache]

    def clip(self, folder: Path) -> tuple[Path, ...]:
        frames = clip_frames(folder)
        if frames:
            return frames
        video = clip_video(folder)
        if video is None:
            self.skipped["missing_image"] += 1
            return ()
        if self.frames_cache is None:
            raise frames_needed_error(video)
        try:
            key = video.relative_to(self.root).with_suffix("")
        except ValueError:
            key = Path(video.stem)
        frames = extract_frames(video, self.frames_cache / self.info.name / key)
        if frames is None:
            self.skipped["undecodable_video"] += 1
            return ()
        return frames
