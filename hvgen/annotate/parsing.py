"""Turning a model's free-text reply into {caption, attributes}.

Models answer in many shapes: the two labelled lines the prompt asks for, a JSON object
(sometimes in a ```json fence), markdown bullets, or — from a weak or random model — junk. The
parser never raises: a reply it cannot read is kept verbatim with status `unparsed`, so a bad
reply costs one row, not the run.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

PARSED = "parsed"
"""Caption and at least one attribute were found."""
NO_ATTRIBUTES = "no_attributes"
"""A caption was found but no attribute list."""
NO_CAPTION = "no_caption"
"""An attribute list was found but no caption."""
UNPARSED = "unparsed"
"""Nothing usable: the raw reply is kept for inspection."""

_CAPTION_LABELS = ("caption", "description")
_ATTRIBUTE_LABELS = ("attributes", "attribute list", "attribute", "tags")
_LABEL = re.compile(
    r"^\s*(?:[-*#>]+\s*)?\**\s*(" + "|".join(_CAPTION_LABELS + _ATTRIBUTE_LABELS) + r")\s*\**\s*[:：]\s*\**",
    re.IGNORECASE,
)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_MAX_ATTRIBUTE_CHARS = 60


@dataclass(frozen=True)
class ParsedReply:
    caption: str | None
    attributes: list[str] = field(default_factory=list)
    status: str = UNPARSED


def parse_reply(reply: str) -> ParsedReply:
    """The caption and attribute list in `reply`; status says how much was found."""
    text = reply if isinstance(reply, str) else ""
    found = _from_json(text) or _from_labels(text)
    if found is None:
        return ParsedReply(None, [], UNPARSED)
    caption, attributes = found
    caption = _clean_caption(caption)
    attributes = _clean_attributes(attributes)
    if caption and attributes:
        return ParsedReply(caption, attributes, PARSED)
    if caption:
        return ParsedReply(caption, [], NO_ATTRIBUTES)
    if attributes:
        return ParsedReply(None, attributes, NO_CAPTION)
    return ParsedReply(None, [], UNPARSED)


def _from_json(text: str) -> tuple[str | None, list[str]] | None:
    """{"caption": ..., "attributes": [...] or "a, b"} anywhere in the reply (fenced or bare)."""
    candidates = [match.group(1) for match in _FENCE.finditer(text)]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            data = json.loads(candidate)
        except (json.JSONDecodeError, ValueError, RecursionError):
            continue
        if not isinstance(data, dict):
            continue
        lowered = {str(k).strip().lower(): v for k, v in data.items()}
        caption = next((lowered[k] for k in _CAPTION_LABELS if k in lowered), None)
        attributes = next((lowered[k] for k in _ATTRIBUTE_LABELS if k in lowered), None)
        if caption is None and attributes is None:
            continue
        if isinstance(attributes, str):
            attributes = _split_attributes(attributes)
        elif isinstance(attributes, list):
            attributes = [a for a in attributes if isinstance(a, str)]
        else:
            attributes = []
        return (caption if isinstance(caption, str) else None), attributes
    return None


def _from_labels(text: str) -> tuple[str | None, list[str]] | None:
    """'Caption: ...' / 'Attributes: ...' sections; a section runs until the next label."""
    sections: dict[str, list[str]] = {}
    current: str | None = None
    for line in text.splitlines():
        match = _LABEL.match(line)
        if match:
            label = match.group(1).lower()
            current = "caption" if label in _CAPTION_LABELS else "attributes"
            if current in sections:  # a repeated label: keep the first section only
                current = None
                continue
            sections[current] = [line[match.end() :]]
        elif current is not None:
            sections[current].append(line)
    if not sections:
        return None
    caption = " ".join(sections.get("caption", [])) or None
    attributes = _split_attributes("\n".join(sections.get("attributes", [])))
    return caption, attributes


def _split_attributes(text: str) -> list[str]:
    """Items separated by commas, semicolons or lines (markdown bullets and numbering dropped)."""
    items = re.split(r"[,;\n]", text)
    return [re.sub(r"^\s*(?:(?:[-*•]|\d+[.)])\s*)+", "", item) for item in items]


def _readable(text: str) -> bool:
    """Text with letters and no control or replacement characters (junk from a random model)."""
    return any(c.isalpha() for c in text) and not any(
        (not c.isprintable() and c not in " \t") or c == "\ufffd" for c in text
    )


def _clean_caption(caption: str | None) -> str | None:
    if not caption:
        return None
    text = " ".join(caption.replace("*", " ").split()).strip(" \"'")
    return text if _readable(text) else None


def _clean_attributes(attributes: list[str]) -> list[str]:
    """Lower-case, trimmed, de-duplicated (first occurrence kept) readable short items."""
    seen: list[str] = []
    for item in attributes:
        text = " ".join(item.replace("*", " ").split()).strip(" .\"'").lower()
        if text and len(text) <= _MAX_ATTRIBUTE_CHARS and _readable(text) and text not in seen:
            seen.append(text)
    return seen
