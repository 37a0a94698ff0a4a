"""Re-annotating images with a vision-language model into a durable, resumable JSONL log.

`annotate_images` is the entry point other parts of hvgen call (the Face QA generator) and the
`hvgen annotate` command wraps. One row per image key, appended per batch through
`ManifestWriter` (locked, fsynced, a torn last line cut off), so a crash loses at most a batch
and a rerun skips finished keys. Batches are cut from the full item list, not from what is left,
so a resumed batch sees the same neighbours as in an uninterrupted run, and the finished file is
rewritten in item order: the same inputs give a byte-identical file.

Every row is marked `model_generated: true` with `generated_by` (the model) and
`prompt_version`, so consumers keep these labels apart from a data set's source labels.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvgen import ranges
from hvgen.annotate.captioner import Decoding, captioner_id, check_captioner, load_captioner
from hvgen.annotate.parsing import parse_reply
from hvgen.annotate.prompt import load_prompt
from hvgen.errors import HvgenError
from hvgen.progress import info, progress_bar
from hvgen.seeding import derive_seed
from hvgen.store.atomic import write_atomic
from hvgen.store.manifest import ManifestWriter, read_manifest_rows

UNREADABLE_IMAGE = "unreadable_image"
"""Status of a row whose image does not decode (no model reply)."""


@dataclass(frozen=True)
class Annotation:
    """A model's description of one image; never a source label."""

    key: str
    image: str
    caption: str | None
    attributes: list[str] = field(default_factory=list)
    status: str = "unparsed"
    reply: str | None = None
    generated_by: str = ""
    prompt_version: str = ""
    decoding: dict[str, Any] = field(default_factory=dict)
    model_generated: bool = True

    def as_row(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "image": self.image,
            "caption": self.caption,
            "attributes": list(self.attributes),
            "status": self.status,
            "reply": self.reply,
            "generated_by": self.generated_by,
            "prompt_version": self.prompt_version,
            "decoding": dict(self.decoding),
            "model_generated": True,
        }

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Annotation:
        return cls(
            key=str(row["key"]),
            image=str(row.get("image", "")),
            caption=row.get("caption"),
            attributes=list(row.get("attributes") or []),
            status=str(row.get("status", "unparsed")),
            reply=row.get("reply"),
            generated_by=str(row.get("generated_by", "")),
            prompt_version=str(row.get("prompt_version", "")),
            decoding=dict(row.get("decoding") or {}),
        )


def annotate_images(
    items: Sequence[tuple[str, Path]],
    captioner: str,
    out_file: Path,
    *,
    prompt: Path | None = None,
    batch_size: int = 4,
    max_new_tokens: int = 96,
    temperature: float = 0.0,
    seed: int = 0,
    device: str = "auto",
    dtype: str = "auto",
    image_root: Path | None = None,
) -> dict[str, Annotation]:
    """Caption every (key, image path) with `captioner` (tiny, folder or Hub id) into the JSONL
    log `out_file`, skipping keys it already holds; returns each item's Annotation by key.

    Greedy decoding unless `temperature` > 0 (then sampled per image with a seed derived from
    `seed` and the key). A reply that does not parse is kept with status `unparsed`; an image
    that does not decode gets status `unreadable_image`. Bad input raises one HvgenError. A row
    names its image relative to `image_root` (else by its file name): never a machine path."""
    check_settings(batch_size, max_new_tokens, temperature)
    keys = _check_items(items)
    check_captioner(captioner)
    template = load_prompt(prompt)
    decoding = Decoding(max_new_tokens, temperature, seed)
    identity = {
        "generated_by": captioner_id(captioner),
        "prompt_version": template.version,
        "decoding": decoding.as_row(),
    }
    if items:
        template.render(*items[0])  # a template error stops the run before the model loads
    created = not out_file.exists()
    try:
        with ManifestWriter(out_file) as log:
            done = _finished_rows(out_file, identity)
            batches = [list(items[start : start + batch_size]) for start in range(0, len(items), batch_size)]
            todo = [batch for batch in batches if any(key not in done for key, _ in batch)]
            finished = sum(1 for key in keys if key in done)
            if finished:
                info(
                    f"{finished} of {len(keys)} image(s) already annotated in {out_file}: skipped",
                    highlight=False,
                )
            if todo:
                model = load_captioner(captioner, device, dtype)
                with progress_bar(f"annotate ({identity['generated_by']})", len(keys) - finished) as advance:
                    for batch in todo:
                        rows = _annotate_batch(batch, model, template, decoding, identity, image_root)
                        new = [row for row in rows if row["key"] not in done]
                        log.write_many(new)
                        done.update((row["key"], row) for row in new)
                        advance(len(new))
            _write_in_order(out_file, keys)
    except BaseException:
        if created and out_file.is_file() and out_file.stat().st_size == 0:
            out_file.unlink()  # a failed first start leaves no empty log behind
        raise
    return {key: Annotation.from_row(done[key]) for key in keys}


def read_annotations(out_file: Path) -> dict[str, Annotation]:
    """The complete rows of an annotation log by key (a torn last line is skipped)."""
    if not out_file.is_file():
        return {}
    return {
        str(row["key"]): Annotation.from_row(row) for row in read_manifest_rows([out_file]) if "key" in row
    }


def check_settings(batch_size: int, max_new_tokens: int, temperature: float) -> None:
    """The decoding options, range-checked before any model is loaded (as the command line does)."""
    ranges.ANNOTATE_BATCH.check("--batch-size", batch_size)
    ranges.MAX_NEW_TOKENS.check("--max-new-tokens", max_new_tokens)
    ranges.TEMPERATURE.check("--temperature", temperature)


def _check_items(items: Sequence[tuple[str, Path]]) -> list[str]:
    """The keys, in order; a duplicate key or a missing image file is an error naming it."""
    seen: set[str] = set()
    for key, path in items:
        if not isinstance(key, str) or not key:
            raise HvgenError(f"annotation key {key!r} (image {path}): keys must be non-empty strings.")
        if key in seen:
            raise HvgenError(f"annotation key '{key}' appears twice (image {path}); keys must be unique.")
        seen.add(key)
        if not Path(path).is_file():
            raise HvgenError(f"image of '{key}' not found: {path}. Check the path or drop the item.")
    return [key for key, _ in items]


def _finished_rows(out_file: Path, identity: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Rows already in the log by key; rows made by another model, prompt or decoding are an
    error (one file holds one kind of annotation, so nobody mixes them up later)."""
    rows: dict[str, dict[str, Any]] = {}
    for row in read_manifest_rows([out_file]):
        if "key" not in row:
            continue
        made_by = {name: row.get(name) for name in identity}
        if made_by != identity:
            raise HvgenError(
                f"{out_file} holds annotations made differently ({_describe(made_by)}) from this run "
                f"({_describe(identity)}). Write to another output, or delete the file to start over."
            )
        rows.setdefault(str(row["key"]), row)
    return rows


def _describe(identity: dict[str, Any]) -> str:
    decoding = ", ".join(f"{k}={v}" for k, v in sorted((identity.get("decoding") or {}).items()))
    return f"model {identity.get('generated_by')}, prompt {identity.get('prompt_version')}, {decoding}"


def _annotate_batch(
    batch: list[tuple[str, Path]],
    model: Any,
    template: Any,
    decoding: Decoding,
    identity: dict[str, Any],
    image_root: Path | None = None,
) -> list[dict[str, Any]]:
    """One row per item of the batch: the model's parsed reply, or an unreadable-image row."""
    readable: list[tuple[str, Path, Any]] = []
    rows: dict[str, dict[str, Any]] = {}
    for key, path in batch:
        image = _load_image(Path(path))
        if image is None:
            rows[key] = _row(key, _image_name(path, image_root), None, UNREADABLE_IMAGE, identity)
        else:
            readable.append((key, Path(path), image))
    if readable:
        replies = model.describe(
            [image for _, _, image in readable],
            [template.render(key, path) for key, path, _ in readable],
            decoding,
            [derive_seed(decoding.seed, "annotate", key) for key, _, _ in readable],
        )
        for (key, path, _), reply in zip(readable, replies):
            rows[key] = _row(key, _image_name(path, image_root), reply, None, identity)
    return [rows[key] for key, _ in batch]


def _image_name(path: Path, root: Path | None) -> str:
    """How a row names its image: relative to the folder annotated, else by its file name."""
    if root is not None:
        try:
            return Path(path).relative_to(root).as_posix()
        except ValueError:
            pass
    return Path(path).name


def _row(
    key: str, image: str, reply: str | None, status: str | None, identity: dict[str, Any]
) -> dict[str, Any]:
    parsed = parse_reply(reply or "")
    annotation = Annotation(
        key=key,
        image=image,
        caption=parsed.caption,
        attributes=parsed.attributes,
        status=status or parsed.status,
        reply=reply,
        generated_by=identity["generated_by"],
        prompt_version=identity["prompt_version"],
        decoding=identity["decoding"],
    )
    return annotation.as_row()


def _load_image(path: Path) -> Any:
    """The RGB image, or None when the file does not decode (recorded, not fatal)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.convert("RGB")
    except (OSError, UnidentifiedImageError, ValueError, Image.DecompressionBombError):
        return None


def _write_in_order(out_file: Path, keys: list[str]) -> None:
    """Rewrite the log in item order (rows for keys not asked for this time keep their place
    after them) when it is not already so: same inputs, same bytes."""
    rows: dict[str, dict[str, Any]] = {}
    for row in read_manifest_rows([out_file]):
        if "key" in row:
            rows.setdefault(str(row["key"]), row)
    asked = set(keys)
    order = [key for key in keys if key in rows] + [key for key in rows if key not in asked]
    text = "".join(json.dumps(rows[key], sort_keys=True) + "\n" for key in order).encode("utf-8")
    if out_file.read_bytes() != text:
        write_atomic(out_file, lambda handle: handle.write(text))
