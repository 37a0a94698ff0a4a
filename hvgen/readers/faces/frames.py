"""Video clips as folders of extracted frames, in temporal order.

Face video sets are used as frames (FFDBackbone reads `<video>/frame/<idx>.png`, the DFER sets
ship frame folders), so readers list frames and never decode video. A clip that exists only as
an .mp4 is one clear error saying how to extract its frames.
"""

from __future__ import annotations

import re
from pathlib import Path

from hvgen.errors import HvgenError
from hvgen.readers.faces.files import is_image

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


def frames_needed_error(video: Path) -> HvgenError:
    folder = video.with_suffix("")
    return HvgenError(
        f"{video}: the clip is a video file, but hvgen reads clips as folders of extracted frames "
        f"('{folder}/frame/<n>.png' or '{folder}/<n>.png'). Extract them first, e.g. "
        f"`mkdir -p '{folder}/frame' && ffmpeg -i '{video}' '{folder}/frame/%d.png'` "
        "(or FFDBackbone's / the release's own face-crop scripts) for every video."
    )


def video_frames(folder: Path) -> tuple[Path, ...]:
    """The frames of the clip at `folder`; () if it is absent. Raises when only `<folder>.mp4`
    (or a video inside `folder`) exists, since a video must be turned into frames first."""
    frames = clip_frames(folder)
    if frames:
        return frames
    for video in (folder.with_name(folder.name + ".mp4"), folder.with_name(folder.name + ".avi")):
        if video.is_file():
            raise frames_needed_error(video)
    if folder.is_dir():
        videos = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".mp4", ".avi"))
        if videos:
            raise frames_needed_error(videos[0])
    return ()
