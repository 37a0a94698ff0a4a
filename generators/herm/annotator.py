"""Model-written per-person text for HERM's records (`hvgen herm --annotator MODEL --grounder MODEL`).

HERM-100K's per-person appearance / pose / modality / relation text was written by GPT-4V. Here
any transformers image-text-to-text model (`hvgen.annotate.captioner`, the loader `hvgen
annotate` uses) writes it: the whole photograph with the person's box drawn in red — not a crop,
because the modality (what the person does with which object) and relation (where they are
among the others) aspects need the surroundings a crop cuts off — and one prompt per aspect
(``templates/herm/annotator.j2``). A zero-shot detector (`hvgen.annotate.grounder`) then boxes
every ``<p>phrase</p>`` of the appearance inside the person: the person is cropped, each phrase
is a text query, the best box above the threshold is mapped back to image pixels and clipped to
the person's box.

Decoding is greedy, so a reply depends only on the model, the prompt and the image. Replies and
boxes are cached in the hvgen cache (`hvgen.annotate.reply_cache`) under a hash of the model, the
exact prompt, the image's bytes and the person's box, a batch (one person's four prompts) at a
time: a rerun — after a kill too — reads them back and gives identical records. A reply with no
readable text keeps the template's text for that aspect; `annotation_source` says which text
came from where.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgen import ranges
from hvgen.privacy import public_value
from hvgen.seeding import derive_seed, stable_id

from . import levels as L
from .facts import Facts

ASPECTS = ("appearance", "pose", "modality", "relation")
BOX_COLOUR = "red"
TEMPLATE = "template"
KEYPOINTS = "keypoints"
DEFAULT_THRESHOLD = 0.1
DEFAULT_MAX_NEW_TOKENS = 128
MAX_NEW_TOKENS = 4096

_TAG_OPEN = re.compile(r"<\s*p\s*>", re.IGNORECASE)
_TAG_CLOSE = re.compile(r"<\s*/\s*p\s*>", re.IGNORECASE)
_PHRASE = re.compile(r"<p>([^<>]*?)</p>")


@dataclass(frozen=True)
class AnnotatorSettings:
    """`--annotator`, `--grounder` and their numbers, range-checked when made."""

    annotator: str
    grounder: str = ""
    threshold: float = DEFAULT_THRESHOLD
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS

    @property
    def annotator_id(self) -> str:
        """The annotator's name in records and cache keys (the tiny model's version for 'tiny')."""
        from hvgen.annotate.captioner import captioner_id

        return captioner_id(self.annotator) if self.annotator else ""

    @property
    def grounder_id(self) -> str:
        from hvgen.annotate.grounder import grounder_id

        return grounder_id(self.grounder) if self.grounder else ""

    def check(self) -> None:
        """The numbers and the option pair: checked whenever the generator is built."""
        from hvgen.errors import HvgenError

        ranges.GROUNDER_THRESHOLD.check("--grounder-threshold", self.threshold)
        ranges.ANNOTATOR_TOKENS.check("--annotator-max-new-tokens", self.max_new_tokens)
        if self.grounder and not self.annotator:
            raise HvgenError(
                "--grounder boxes the <p> phrases an --annotator model writes (the template's phrases are body "
                "parts, boxed from keypoints already): add --annotator MODEL, or drop --grounder."
            )

    def check_models(self) -> None:
        """The model names, checked when planning starts (an export of the run loads no model, so it
        does not need the model folders any more)."""
        from hvgen.annotate import check_captioner
        from hvgen.annotate.grounder import check_grounder

        if self.annotator:
            check_captioner(self.annotator, "--annotator")
        if self.grounder:
            check_grounder(self.grounder)


def clean_text(reply: str | None) -> str:
    """The reply without control characters, replacement characters and repeated whitespace."""
    text = "".join(
        " " if c.isspace() else c
        for c in (reply or "")
        if c != "\ufffd" and (c.isspace() or not unicodedata.category(c).startswith("C"))
    )
    return " ".join(text.split())


def usable(text: str) -> bool:
    """A reply is used when its cleaned text has a letter (else the template's text stays)."""
    return any(c.isalpha() for c in text)


def untagged(text: str) -> str:
    """Text for pose / modality / relation: any <p> tag dropped (only appearance phrases are tagged)."""
    return " ".join(_TAG_CLOSE.sub(" ", _TAG_OPEN.sub(" ", text)).split())


def tag_phrases(text: str) -> tuple[str, list[str]]:
    """The appearance text with well-formed, distinct, non-empty ``<p>phrase</p>`` tags kept (a
    repeated or empty phrase is left as plain text, a stray or nested tag dropped), and its phrases
    in order — the form HERM's processors pair with `appearance_boxes` one to one."""
    text = _TAG_CLOSE.sub("</p>", _TAG_OPEN.sub("<p>", text))
    pieces, phrases, seen, last = [], [], set(), 0

    def plain(chunk: str) -> str:
        return chunk.replace("<p>", " ").replace("</p>", " ")

    for match in _PHRASE.finditer(text):
        pieces.append(plain(text[last : match.start()]))
        phrase = " ".join(match.group(1).split())
        if phrase and phrase.lower() not in seen:
            seen.add(phrase.lower())
            phrases.append(phrase)
            pieces.append(f"<p>{phrase}</p>")
        else:
            pieces.append(phrase)
        last = match.end()
    pieces.append(plain(text[last:]))
    joined = "".join(pieces)
    joined = re.sub(r"\s+", " ", joined).strip()
    return joined, phrases


class PersonAnnotator:
    """Writes the four aspects of every person of an image with the models; loads a model only
    when the cache lacks a reply. `counts` feeds the plan notes and the card."""

    def __init__(self, settings: AnnotatorSettings, templates: Any, run_seed: int) -> None:
        from hvgen.annotate.captioner import Decoding

        self.settings = settings
        self.templates = templates
        self.run_seed = run_seed
        self.decoding = Decoding(max_new_tokens=settings.max_new_tokens)
        self.annotator_id = settings.annotator_id
        self.grounder_id = settings.grounder_id
        self.annotator_mark = f"model:{public_value(self.annotator_id)}"
        self.grounder_mark = f"model:{public_value(self.grounder_id)}" if self.grounder_id else ""
        self.counts: Counter[str] = Counter()
        self._captioner: Any = None
        self._grounder: Any = None
        self._caches: dict[str, Any] = {}

    # -------------------------------------------------------------- resources
    def _cache(self, kind: str, model_id: str) -> Any:
        from hvgen.annotate.reply_cache import ReplyCache
        from hvgen.models import cache_dir

        if kind not in self._caches:
            name = f"{kind}-{stable_id('herm-annotation-cache', model_id)}.jsonl"
            self._caches[kind] = ReplyCache(cache_dir() / "herm-annotations" / name)
        return self._caches[kind]

    def close(self) -> None:
        for cache in self._caches.values():
            cache.close()
        self._caches.clear()

    def _load_captioner(self) -> Any:
        if self._captioner is None:
            from hvgen.annotate.captioner import load_captioner

            self._captioner = load_captioner(self.settings.annotator, flag="--annotator")
        return self._captioner

    def _load_grounder(self) -> Any:
        if self._grounder is None:
            from hvgen.annotate.grounder import load_grounder

            self._grounder = load_grounder(self.settings.grounder)
        return self._grounder

    # -------------------------------------------------------------- per image
    def annotate_image(
        self, people: list[Facts], image_path: Path, size: tuple[int, int]
    ) -> list[dict[str, Any]] | None:
        """One annotation per person of the image (the records' `person_annotations`); None when
        the picture does not decode (a truncated file: the render stage drops it and its questions)."""
        from PIL import Image

        from hvgen.annotate.reply_cache import file_digest

        digest = file_digest(image_path)
        picture: list[Any] = []  # the decoded image, loaded on the first cache miss

        def image() -> Any:
            if not picture:
                try:
                    with Image.open(image_path) as opened:
                        picture.append(opened.convert("RGB"))
                except (OSError, ValueError, Image.DecompressionBombError):  # passed the header check only
                    raise _Undecodable from None
            return picture[0]

        prompts = {aspect: self.templates.render("annotator.j2", {"box_colour": BOX_COLOUR, "others": len(people) - 1},
                                                 block=aspect) for aspect in ASPECTS}  # fmt: skip
        try:
            return [self._person(facts, prompts, digest, image, size) for facts in people]
        except _Undecodable:
            self.counts["images_undecodable"] += 1  # the render stage drops it with its questions
            return None

    def _person(self, facts: Facts, prompts: dict[str, str], digest: str, image: Any,
                size: tuple[int, int]) -> dict[str, Any]:  # fmt: skip
        person = facts.person
        box = [float(v) for v in person.bbox]
        replies = self._replies(person.id, box, prompts, digest, image)
        texts: dict[str, str | None] = {}
        source: dict[str, str] = {}
        for aspect in ASPECTS:
            text = clean_text(replies[aspect])
            if usable(text):
                texts[aspect] = text if aspect == "appearance" else untagged(text)
                source[aspect] = self.annotator_mark
            else:
                texts[aspect] = None
                source[aspect] = TEMPLATE
                self.counts["unusable_replies"] += 1
        self.counts["persons"] += 1
        boxes: list[list[list[float]]] | None = None
        source["appearance_boxes"] = KEYPOINTS
        if texts["appearance"] is not None:
            text, phrases = tag_phrases(texts["appearance"])
            boxes = self._ground(phrases, box, digest, image) if self.grounder_id else [[] for _ in phrases]
            if any(boxes):
                source["appearance_boxes"] = self.grounder_mark
            else:  # nothing boxed: append the keypoint-boxed parts so HERM's grounding classes keep the record
                parts, part_boxes = self._keypoint_parts(facts, size)
                suffix = self.templates.render("annotator.j2", {"phrases": parts}, block="appearance_parts")
                text = f"{text} {suffix}"
                boxes += part_boxes
                source["appearance"] = f"{self.annotator_mark}+{TEMPLATE}"
                self.counts["keypoint_fallbacks"] += 1
            texts["appearance"] = text
        return {"person_id": person.id, **texts, "appearance_boxes": boxes, "annotation_source": source}

    def _replies(self, person_id: int, box: list[float], prompts: dict[str, str], digest: str,
                 image: Any) -> dict[str, str]:  # fmt: skip
        """The model's reply to each aspect's prompt: from the cache, else one batch of all four
        (always the same batch, so a resumed run decodes exactly as an uninterrupted one)."""
        cache = self._cache("annotator", self.annotator_id)
        keys = {aspect: _key("herm-annotator", self.annotator_id, prompts[aspect], digest, box,
                             self.decoding.as_row()) for aspect in ASPECTS}  # fmt: skip
        if any(key not in cache for key in keys.values()):
            model = self._load_captioner()
            drawn = _draw_box(image(), box)
            seeds = [derive_seed(self.run_seed, "herm-annotator", person_id, aspect) for aspect in ASPECTS]
            replies = model.describe(
                [drawn] * len(ASPECTS), [prompts[a] for a in ASPECTS], self.decoding, seeds
            )
            self.counts["model_calls"] += 1
            self.counts["replies_generated"] += sum(1 for key in keys.values() if key not in cache)
            cache.put_many({keys[aspect]: reply for aspect, reply in zip(ASPECTS, replies)})
        else:
            self.counts["replies_cached"] += len(ASPECTS)
        return {aspect: cache.get(key) for aspect, key in keys.items()}

    def _ground(
        self, phrases: list[str], box: list[float], digest: str, image: Any
    ) -> list[list[list[float]]]:
        """One entry per phrase: [[x, y, w, h]] in image pixels inside the person's box, or []
        when the detector's best box scores under the threshold or is empty once clipped."""
        if not phrases:
            return []
        cache = self._cache("grounder", self.grounder_id)
        key = _key("herm-grounder", self.grounder_id, phrases, digest, box)
        found = cache.get(key)
        if found is None:
            crop, (left, top) = _crop(image(), box)
            found = [[g.score, [round(v + offset, 2) for v, offset in zip(g.box, (left, top, left, top))]]
                     for g in self._load_grounder().best_boxes(crop, phrases)]  # fmt: skip
            self.counts["grounder_calls"] += 1
            cache.put_many({key: found})
        entries = []
        for score, corners in found:
            clipped = _clip(corners, box)
            if score >= self.settings.threshold and clipped is not None:
                entries.append([clipped])
                self.counts["phrases_grounded"] += 1
            else:
                entries.append([])
                self.counts["phrases_ungrounded"] += 1
        return entries

    @staticmethod
    def _keypoint_parts(facts: Facts, size: tuple[int, int]) -> tuple[list[str], list[list[list[float]]]]:
        """The visible parts with their keypoint boxes (pixels), or none: then the whole body."""
        person = facts.person
        parts, boxes = [], []
        for part in sorted(facts.parts):
            part_box = L.part_box(part, person.keypoints, person.bbox, size[0], size[1])
            if part_box is not None:
                parts.append(part)
                boxes.append([[float(v) for v in part_box]])
        return (parts, boxes) if parts else ([], [[[float(v) for v in person.bbox]]])

    def cache_report(self) -> str:
        """How much the models ran and how much came from the cache: logged, never in the outputs
        (a resumed run must write the same card as an uninterrupted one)."""
        c = self.counts
        report = (
            f"--annotator: {c['replies_generated']} replies generated in {c['model_calls']} model calls, "
            f"{c['replies_cached']} read from the cache"
        )
        if self.grounder_id:
            report += f"; --grounder: {c['grounder_calls']} detector calls"
        return report

    def notes(self) -> list[str]:
        """What the models did, for the plan summary and the card (nothing that depends on the cache)."""
        c = self.counts
        lines = [
            f"--annotator {public_value(self.annotator_id)} wrote {c['persons']} persons' appearance / pose / modality / "
            f"relation text ({c['unusable_replies']} replies without readable text kept the template's text)."
        ]
        if self.grounder_id:
            lines.append(
                f"--grounder {public_value(self.grounder_id)} boxed {c['phrases_grounded']} of "
                f"{c['phrases_grounded'] + c['phrases_ungrounded']} tagged appearance phrases (score >= "
                f"{self.settings.threshold:g}); {c['phrases_ungrounded']} left without a box."
            )
        if c["images_undecodable"]:
            lines.append(
                f"{c['images_undecodable']} images did not decode: their persons keep the template's text."
            )
        if c["keypoint_fallbacks"]:
            lines.append(
                f"{c['keypoint_fallbacks']} model-written appearances had no boxed phrase: the keypoint-boxed body "
                "parts were appended (template text) so HERM's grounding classes keep those persons."
            )
        return lines


class _Undecodable(Exception):
    """The picture passed the plan's header check but does not decode (a truncated file)."""


def apply_annotation(record: dict[str, Any], annotation: dict[str, Any] | None) -> dict[str, Any]:
    """A person record of the HERM export with the model-written fields put in place of the
    template's (an aspect without a usable reply keeps the template's text) and
    `annotation_source` saying where every field came from. Without an annotation: unchanged."""
    if not annotation:
        return record
    record = dict(record)
    source = {key: value for key, value in (annotation.get("annotation_source") or {}).items() if value}
    for aspect in ASPECTS:
        if annotation.get(aspect):
            record[aspect] = annotation[aspect]
            if aspect == "appearance" and annotation.get("appearance_boxes") is not None:
                record["appearance_boxes"] = annotation["appearance_boxes"]
    for aspect in ASPECTS:
        source.setdefault(aspect, TEMPLATE)
    if not annotation.get("appearance"):
        source["appearance_boxes"] = KEYPOINTS
    record["annotation_source"] = {
        key: source[key] for key in (*ASPECTS, "appearance_boxes") if key in source
    }
    return record


def _key(*parts: Any) -> str:
    from hvgen.annotate.reply_cache import reply_key

    return reply_key(*parts)


def _draw_box(image: Any, box: list[float]) -> Any:
    """A copy of the image with the person's box drawn (line width scaled to the image)."""
    from PIL import ImageDraw

    drawn = image.copy()
    width = max(2, round(min(drawn.size) / 150))
    x, y, w, h = box
    ImageDraw.Draw(drawn).rectangle([x, y, x + w, y + h], outline=(255, 0, 0), width=width)
    return drawn


def _crop(image: Any, box: list[float]) -> tuple[Any, tuple[int, int]]:
    """The person's box cut out of the image (at least 1×1 px) and its top-left corner."""
    width, height = image.size
    left = min(max(0, int(box[0])), width - 1)
    top = min(max(0, int(box[1])), height - 1)
    right = max(left + 1, min(width, int(round(box[0] + box[2]))))
    bottom = max(top + 1, min(height, int(round(box[1] + box[3]))))
    return image.crop((left, top, right, bottom)), (left, top)


def _clip(corners: list[float], box: list[float]) -> list[float] | None:
    """[x1, y1, x2, y2] clipped to the person's [x, y, w, h] → [x, y, w, h] (None when under 1 px)."""
    x1, y1 = max(corners[0], box[0]), max(corners[1], box[1])
    x2, y2 = min(corners[2], box[0] + box[2]), min(corners[3], box[1] + box[3])
    if x2 - x1 < 1 or y2 - y1 < 1:
        return None
    return [round(x1, 2), round(y1, 2), round(x2 - x1, 2), round(y2 - y1, 2)]
