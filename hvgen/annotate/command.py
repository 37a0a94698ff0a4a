"""`hvgen annotate IMAGES_DIR --captioner MODEL --out DIR`: re-annotate any folder of images.

Every image under the folder (recursively; key = its path relative to the folder) gets a
caption and an attribute list from the model, written to DIR/annotations.jsonl. Rerunning the
same command resumes; the summary counts how many replies parsed.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from hvgen.annotate.annotations import annotate_images, check_settings
from hvgen.annotate.captioner import check_captioner
from hvgen.errors import HvgenError
from hvgen.progress import info, warn
from hvgen.readers.source_folder import SourceFolder

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif")
ANNOTATIONS_FILE = "annotations.jsonl"


def list_images(images_dir: Path, follow_symlinks: bool = False) -> list[tuple[str, Path]]:
    """(relative posix path, path) of every image file under `images_dir`, sorted; hidden files
    and folders (and hvgen's own temp files) are left out. A file or folder reached through a
    symbolic link that leads outside the folder is skipped, counted and named in one warning
    unless `follow_symlinks` (hvgen.readers.source_folder: the folder the user named is all
    hvgen reads)."""
    if not images_dir.exists():
        raise HvgenError(f"IMAGES_DIR {images_dir}: no such folder. Give the folder that holds the images.")
    if not images_dir.is_dir():
        raise HvgenError(f"IMAGES_DIR {images_dir}: is a file; give the folder that holds the images.")
    folder = SourceFolder(images_dir, follow_symlinks=follow_symlinks)
    found = []
    for path in folder.files():
        relative = path.relative_to(images_dir)
        if any(part.startswith(".") for part in relative.parts) or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        if path.is_file() and folder.admit(path):
            found.append((relative.as_posix(), path))
    outside = folder.warning("IMAGES_DIR")
    if not found:
        raise HvgenError(
            f"IMAGES_DIR {images_dir}: no images found (looked for {', '.join(IMAGE_SUFFIXES)} in the folder and "
            "its subfolders)" + (f"; {outside[len('IMAGES_DIR: ') :]}" if outside else ".")
        )
    if outside:
        warn(outside)
    return sorted(found)


def run_annotate(
    images_dir: Path,
    captioner: str,
    out: Path,
    prompt: Path | None,
    batch_size: int,
    max_new_tokens: int,
    temperature: float,
    seed: int,
    device: str,
    dtype: str,
    follow_symlinks: bool = False,
) -> Path:
    """List the images, annotate them (resuming), say what came out; returns the log's path."""
    check_settings(batch_size, max_new_tokens, temperature)
    items = list_images(images_dir, follow_symlinks)
    check_captioner(captioner)
    if out.exists() and not out.is_dir():
        raise HvgenError(
            f"--out {out}: is a file; give a folder (annotations go to {out}/{ANNOTATIONS_FILE})."
        )
    out_file = out / ANNOTATIONS_FILE
    annotations = annotate_images(
        items,
        captioner,
        out_file,
        prompt=prompt,
        batch_size=batch_size,
        max_new_tokens=max_new_tokens,
        temperature=temperature,
        seed=seed,
        device=device,
        dtype=dtype,
        image_root=images_dir,
    )
    statuses = Counter(annotation.status for annotation in annotations.values())
    counts = ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    info(f"{len(annotations)} image(s) annotated by {captioner} ({counts}) → {out_file}", highlight=False)
    if statuses.get("parsed", 0) < len(annotations):
        info(
            "rows whose reply did not parse keep it in 'reply' (status unparsed / no_attributes / no_caption); "
            "a small or random model (tiny) gives junk by design.",
            highlight=False,
        )
    return out_file
