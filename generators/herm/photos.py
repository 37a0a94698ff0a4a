"""HERM's photographs: which COCO images a run asks about (files there and decoding, inside
--images), and SAM masks of grounding answers read from them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from hvgen.errors import HvgenError
from hvgen.progress import warn
from hvgen.readers.coco import CocoPeople, PersonImage
from hvgen.readers.source_folder import SourceFolder
from hvgen.seeding import derive_seed
from hvgen.stages.plan_workers import map_in_workers

if TYPE_CHECKING:
    from .questions import Spec


def choose_images(generator: Any, data: CocoPeople) -> tuple[list[PersonImage], list[str]]:
    """Up to --num images with someone to ask about, in a seeded order; images whose file is
    missing or does not open are skipped and counted. The files are checked in forked plan
    workers, as many at a time as places are left, so the same files are checked as one by one."""
    seed = generator.request.run_seed
    order = sorted(
        (entry for entry in data.images.values() if entry.people),
        key=lambda e: derive_seed(seed, "herm-image-order", e.image.id),
    )
    chosen, missing, broken = [], [], []
    folder = generator.images_folder()
    start = 0
    while start < len(order) and len(chosen) < generator.request.num:
        batch = order[start : start + generator.request.num - len(chosen)]
        start += len(batch)
        problems = map_in_workers(
            batch, lambda entries: [image_problem(generator, folder, e) for e in entries]
        )
        for entry, problem in zip(batch, (problem for part in problems for problem in part)):
            if problem is None:
                chosen.append(entry)
            elif problem == "outside":  # a worker's folder noted it: note it here, in order
                folder.admit(generator.images_dir / entry.image.file_name)
            else:
                (missing if problem == "missing" else broken).append(entry.image.file_name)
    outside = folder.warning("--images")
    if outside:
        warn(outside)
    if order and not chosen:
        raise HvgenError(
            f"--images {generator.images_dir}: none of the annotated images is there (first: "
            f"{order[0].image.file_name}); pass the folder holding the files of --coco-keypoints."
        )
    notes = []
    if missing or broken:
        notes.append(
            f"{len(missing)} image files missing and {len(broken)} that do not decode were skipped "
            f"(first: {(missing + broken)[0]})."
        )
    if folder.outside:
        notes.append(
            f"{len(folder.outside)} image files reached through a symbolic link leading outside --images were "
            "skipped (read only with --follow-symlinks)."
        )
    data.counts["images_missing"], data.counts["images_undecodable"] = len(missing), len(broken)
    data.counts["images_outside"] = len(folder.outside)
    data.counts["images_planned"] = len(chosen)
    return sorted(chosen, key=lambda e: e.image.id), notes


def image_problem(generator: Any, folder: SourceFolder, entry: PersonImage) -> str | None:
    """Why an image cannot be asked about ("outside" --images through a link, "missing",
    "broken"), or None when its file is there and decodes."""
    from PIL import Image, UnidentifiedImageError

    path = generator.images_dir / entry.image.file_name
    if not folder.admit(path):
        return "outside"
    try:
        with Image.open(path) as picture:
            picture.verify()
    except FileNotFoundError:
        return "missing"
    except (OSError, UnidentifiedImageError, ValueError):
        return "broken"
    return None


def add_masks(generator: Any, masker: Any, entry: PersonImage, specs: list[Spec]) -> None:
    """SAM masks of this image's grounding answers, prompted by their boxes."""
    from hvgen.stages.supply import load_source_image

    grounded = [spec for spec in specs if spec.answer_box is not None]
    if not grounded:
        return
    image = load_source_image(generator.source_image(entry.image.file_name))
    width, height = image.size
    boxes = [[x * width, y * height, (x + w) * width, (y + h) * height] for x, y, w, h in
             (spec.answer_box for spec in grounded)]  # fmt: skip
    for spec, mask in zip(grounded, masker.masks(image, boxes)):
        spec.mask = mask
