"""COCO-format annotation files (instances, person keypoints, captions), read as a stream.

The full COCO train split has ~860k object annotations in a 450 MB file; `json.load` of it
needs several GiB. These readers walk such a file with ijson (one array item at a time) and keep
only compact tuples of what the HERM levels need, so memory grows with the number of people
kept, not with the file. A file up to `IN_MEMORY_BYTES` (64 MiB: COCO val's, not train's) is
parsed once, whole (orjson when installed, else json): streaming reads a file once per list it
takes from it (four for a keypoints file), each pass costing about what orjson's whole parse does. CrowdHuman, OCHuman or AI Challenger converted to COCO format read the
same way.

A broken file or record is one `HvgenError` naming the file, the image id and the field.
"""

from __future__ import annotations

import functools
import json
import math
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError

COCO_KEYPOINTS = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip
"""COCO's 17 person keypoints, in file order; a keypoints file may name them in another order."""


@dataclass(frozen=True, slots=True)
class CocoImage:
    id: int
    file_name: str
    width: int
    height: int
    coco_url: str | None = None
    license: int | None = None


@dataclass(frozen=True, slots=True)
class Person:
    """One person annotation. Its keypoints are kept packed (x, y, v per name of
    `keypoint_names`, in one array of doubles: ~0.5 KB a person instead of ~3 KB as a dict of
    tuples, which matters at COCO train's 260k persons); `keypoints` unpacks them."""

    id: int
    image_id: int
    bbox: tuple[float, float, float, float]
    area: float
    iscrowd: bool
    keypoint_names: tuple[str, ...] = ()
    keypoint_values: array = field(default_factory=lambda: array("d"))

    @property
    def keypoints(self) -> dict[str, tuple[float, float, int]]:
        """COCO keypoint name → (x, y, v) with v = 1 (labelled, not visible) or 2 (visible), for
        the labelled keypoints in file order; empty when the file has none."""
        values = self.keypoint_values
        return {
            name: (x, y, int(v))
            for name, x, y, v in zip(self.keypoint_names, values[0::3], values[1::3], values[2::3])
            if v
        }


@dataclass(frozen=True, slots=True)
class CocoObject:
    id: int
    image_id: int
    category: str
    bbox: tuple[float, float, float, float]


@dataclass
class PersonImage:
    """An image with people: who may be asked about, and what was left out (and why)."""

    image: CocoImage
    people: list[Person] = field(default_factory=list)  # eligible: not crowd, area >= min_area
    objects: list[CocoObject] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    crowd: int = 0  # crowd regions (iscrowd = 1)
    tiny: int = 0  # persons below the minimum area


@dataclass
class CocoPeople:
    """Images with at least one person annotation, and counts of what was excluded."""

    images: dict[int, PersonImage]
    licenses: dict[int, dict[str, str]]
    counts: dict[str, int]


def _ijson() -> Any:
    try:
        import ijson
    except ImportError:  # pragma: no cover - a declared dependency
        raise HvgenError("reading COCO files needs ijson: pip install ijson") from None
    return ijson


IN_MEMORY_BYTES = 64 * 2**20
"""A COCO file up to this size is parsed once, whole (orjson: ~0.5 s and ~300 MB while reading a
40 MB file); a larger one (COCO train's keypoints: 238 MB) is streamed with ijson, one pass over
the file per list read from it (a pass costs about as much as the parse)."""


class JsonFile:
    """A COCO annotation file whose top-level lists are read item by item: from the parsed
    document when the file is small enough (`IN_MEMORY_BYTES`), else streamed."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.document = _parse_whole(path)

    @classmethod
    def of(cls, file: Path | JsonFile) -> JsonFile:
        return file if isinstance(file, JsonFile) else cls(file)

    def items(self, prefix: str, required: bool = True) -> Iterator[dict[str, Any]]:
        """The items of the top-level array `prefix`, one at a time (see `_items`)."""
        if self.document is None:
            yield from _items(self.path, prefix, required)
            return
        path, document = self.path, self.document
        if not isinstance(document, dict):
            raise HvgenError(f"{path}: not a COCO annotation file (its top level is not a JSON object).")
        found = document.get(prefix)
        if not isinstance(found, list):
            if required:
                _missing_list(path, prefix, document)
            return
        for item in found:
            if not isinstance(item, dict):
                raise HvgenError(f"{path}: '{prefix}' holds a {type(item).__name__}, not objects.")
            yield item


def _parse_whole(path: Path) -> Any:
    """The parsed document of a small file (`IN_MEMORY_BYTES`), else None (streamed)."""
    try:
        if path.stat().st_size > IN_MEMORY_BYTES:
            return None
        data = path.read_bytes()
    except OSError:
        return None  # streaming reports it
    try:
        import orjson  # ~3x json's speed (a dependency; json stays as the fallback of an install without it)

        loads: Any = orjson.loads
    except ImportError:
        loads = functools.partial(json.loads, parse_constant=_no_constant)
    try:
        return loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:  # orjson's error is a JSONDecodeError
        raise _invalid_json(path, error) from None


def _no_constant(name: str) -> Any:
    """JSON has no NaN or Infinity (ijson and orjson refuse them; `json` would read them)."""
    raise json.JSONDecodeError(f"{name} is not a JSON number", name, 0)


def _missing_list(path: Path, key: str, document: dict[str, Any]) -> None:
    """Raise: the top-level `key` of a parsed document is absent or not a list (what
    `_check_list` says of a streamed file)."""
    kinds = {dict: "an object", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    if key in document:
        raise HvgenError(
            f"{path}: '{key}' is {kinds.get(type(document[key]), 'null')}, not a list; a COCO file holds "
            f"lists under 'images', 'annotations' and 'categories'. Is it the right file, unedited?"
        )
    raise HvgenError(
        f"{path}: no '{key}' list; a COCO file holds lists under 'images', 'annotations' and 'categories'. "
        "Is it the right file, unedited?"
    )


def _items(path: Path, prefix: str, required: bool = True) -> Iterator[dict[str, Any]]:
    """The items of the top-level array `prefix` of a JSON file, one at a time. A `required` key
    that is absent or not a list is an error (an empty list is not: the caller counts)."""
    ijson = _ijson()
    if not path.is_file():
        raise HvgenError(f"{path}: no such file (pass the COCO annotation json).")
    found = 0
    with open(path, "rb") as handle:
        try:
            for item in ijson.items(handle, f"{prefix}.item", use_float=True):
                if not isinstance(item, dict):
                    raise HvgenError(f"{path}: '{prefix}' holds a {type(item).__name__}, not objects.")
                found += 1
                yield item
        except ijson.JSONError as error:
            raise _invalid_json(path, error) from None
    if not found and required:
        _check_list(path, prefix)


def _invalid_json(path: Path, error: Exception) -> HvgenError:
    reason = str(error).strip().splitlines()[0][:160] if str(error).strip() else "truncated"
    return HvgenError(
        f"{path}: not valid JSON ({reason}); is the download complete? Re-extract the annotation file."
    )


_JSON_KINDS = {"start_map": "an object", "string": "a string", "number": "a number", "boolean": "a boolean",
               "null": "null"}  # fmt: skip


def _check_list(path: Path, key: str) -> None:
    """Raise unless the top level of `path` is an object whose `key` is a list (one more pass over
    the file, made only when that list yielded nothing)."""
    ijson = _ijson()
    with open(path, "rb") as handle:
        try:
            events = ijson.parse(handle, use_float=True)
            _, first, _ = next(events, ("", None, None))
            if first != "start_map":
                raise HvgenError(f"{path}: not a COCO annotation file (its top level is not a JSON object).")
            for prefix, event, _ in events:
                if prefix == key and event != "map_key":
                    if event == "start_array":
                        return
                    raise HvgenError(
                        f"{path}: '{key}' is {_JSON_KINDS.get(event, event)}, not a list; a COCO file holds "
                        f"lists under 'images', 'annotations' and 'categories'. Is it the right file, unedited?"
                    )
        except ijson.JSONError as error:
            raise _invalid_json(path, error) from None
    raise HvgenError(
        f"{path}: no '{key}' list; a COCO file holds lists under 'images', 'annotations' and 'categories'. "
        "Is it the right file, unedited?"
    )


def _bad(path: Path, image_id: Any, what: str, field_name: str, problem: str) -> HvgenError:
    return HvgenError(f"{path}: {what} of image {image_id}: field '{field_name}' {problem}.")


def _int(path: Path, item: dict[str, Any], name: str, image_id: Any, what: str) -> int:
    value = item.get(name)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise _bad(path, image_id, what, name, f"must be an integer, got {value!r}")
    return int(value)


def _bbox(path: Path, item: dict[str, Any], image_id: Any, what: str) -> tuple[float, float, float, float]:
    box = item.get("bbox")
    if (
        not isinstance(box, list)
        or len(box) != 4
        or not {type(v) for v in box} <= {int, float}  # not bool
        or not all(map(math.isfinite, box))
    ):
        raise _bad(path, image_id, what, "bbox", f"must be 4 numbers [x, y, w, h], got {box!r}")
    if box[2] < 0 or box[3] < 0:
        raise _bad(path, image_id, what, "bbox", f"has a negative width or height: {box!r}")
    return (float(box[0]), float(box[1]), float(box[2]), float(box[3]))


def read_images(file: Path | JsonFile) -> Iterator[CocoImage]:
    source = JsonFile.of(file)
    path = source.path
    for item in source.items("images"):
        image_id = item.get("id", "?")
        what = "the image entry"
        number = _int(path, item, "id", image_id, what)
        name = item.get("file_name")
        if not isinstance(name, str) or not name or name.startswith("/") or ".." in name.split("/"):
            raise _bad(path, number, what, "file_name", f"must be a relative file name, got {name!r}")
        width, height = _int(path, item, "width", number, what), _int(path, item, "height", number, what)
        if width <= 0 or height <= 0:
            raise _bad(path, number, what, "width/height", f"must be positive, got {width}x{height}")
        url = item.get("coco_url") or item.get("flickr_url")
        lic = item.get("license")
        yield CocoImage(
            number,
            name,
            width,
            height,
            url if isinstance(url, str) else None,
            lic if isinstance(lic, int) else None,
        )


def read_licenses(file: Path | JsonFile) -> dict[int, dict[str, str]]:
    return {
        int(item["id"]): {"name": str(item.get("name", "")), "url": str(item.get("url", ""))}
        for item in JsonFile.of(file).items("licenses", required=False)
        if isinstance(item.get("id"), int)
    }


def read_categories(file: Path | JsonFile) -> dict[int, dict[str, Any]]:
    """Category id → {name, keypoints (names), skeleton}."""
    source = JsonFile.of(file)
    path = source.path
    result = {}
    for item in source.items("categories"):
        number = item.get("id")
        if not isinstance(number, int) or not isinstance(item.get("name"), str):
            raise HvgenError(f"{path}: a category has no integer 'id' or string 'name': {item!r}.")
        result[number] = {
            "name": item["name"],
            "keypoints": [str(k) for k in item.get("keypoints") or []],
            "skeleton": item.get("skeleton") or [],
        }
    return result


def _keypoints(path: Path, item: dict[str, Any], names: tuple[str, ...], image_id: int) -> array:
    """The validated keypoints, packed as in `Person.keypoint_values` (empty when none)."""
    values = item.get("keypoints")
    if values is None or not names:
        return array("d")
    if not isinstance(values, list) or len(values) != 3 * len(names):
        raise _bad(
            path, image_id, f"person annotation {item.get('id')}", "keypoints",
            f"must hold {3 * len(names)} numbers (x, y, v for each of {len(names)} keypoints), got "
            f"{len(values) if isinstance(values, list) else type(values).__name__}",
        )  # fmt: skip
    try:
        if set(values[2::3]) <= {1, 2}:  # every keypoint labelled: the numbers as they are (floats)
            return array("d", values)
    except TypeError:
        pass  # not all numbers: the loop below says which
    result = array("d")
    for index, name in enumerate(names):
        x, y, v = values[3 * index : 3 * index + 3]
        if v not in (0, 1, 2):
            raise _bad(path, image_id, f"person annotation {item.get('id')}", "keypoints",
                       f"visibility of '{name}' must be 0, 1 or 2, got {v!r}")  # fmt: skip
        result.extend((float(x), float(y), float(v)) if v else (0.0, 0.0, 0.0))
    return result


def read_people(
    keypoints_path: Path,
    instances_path: Path | None = None,
    captions_path: Path | None = None,
    min_area: float = 0.0,
) -> CocoPeople:
    """Images with people from a person-keypoints file, their objects from an instances file and
    their captions from a captions file (both optional). Crowd regions and persons smaller than
    `min_area` (box w*h, in pixels) are counted but kept out of `people`."""
    keypoints_file = JsonFile(keypoints_path)  # parsed once when small, else streamed list by list
    categories = read_categories(keypoints_file)
    person_ids = {number for number, cat in categories.items() if cat["name"] == "person"}
    if not person_ids:
        raise HvgenError(
            f"{keypoints_path}: no category named 'person' in 'categories'; pass a COCO person keypoints file."
        )
    names = tuple(
        next((categories[n]["keypoints"] for n in sorted(person_ids) if categories[n]["keypoints"]), [])
    )
    unknown = [n for n in names if n not in COCO_KEYPOINTS]
    if unknown:
        raise HvgenError(
            f"{keypoints_path}: category 'person': field 'keypoints' names {unknown}, not COCO keypoints "
            f"({', '.join(COCO_KEYPOINTS)}); convert the file to COCO's 17 keypoints."
        )
    known = {image.id: image for image in read_images(keypoints_file)}
    licenses = read_licenses(keypoints_file)
    images: dict[int, PersonImage] = {}
    counts = {"person_annotations": 0, "crowd_regions": 0, "tiny_persons": 0, "people": 0}
    for item in keypoints_file.items("annotations"):
        image_id = item.get("image_id", "?")
        what = f"person annotation {item.get('id', '?')}"
        image_id = _int(keypoints_path, item, "image_id", image_id, what)
        if _int(keypoints_path, item, "category_id", image_id, what) not in person_ids:
            continue
        if image_id not in known:
            raise _bad(keypoints_path, image_id, what, "image_id", "names no entry of 'images'")
        entry = images.setdefault(image_id, PersonImage(known[image_id]))
        counts["person_annotations"] += 1
        bbox = _bbox(keypoints_path, item, image_id, what)
        crowd = bool(item.get("iscrowd", 0))
        if crowd:
            entry.crowd += 1
            counts["crowd_regions"] += 1
            continue
        if bbox[2] * bbox[3] < min_area:
            entry.tiny += 1
            counts["tiny_persons"] += 1
            continue
        area = item.get("area")
        person = Person(
            id=_int(keypoints_path, item, "id", image_id, what),
            image_id=image_id,
            bbox=bbox,
            area=float(area) if isinstance(area, (int, float)) else bbox[2] * bbox[3],
            iscrowd=False,
            keypoint_names=names,
            keypoint_values=_keypoints(keypoints_path, item, names, image_id),
        )
        entry.people.append(person)
        counts["people"] += 1
    del known, keypoints_file  # the parsed document, before the next file's
    if instances_path is not None:
        _add_objects(instances_path, images)
    if captions_path is not None:
        for item in JsonFile(captions_path).items("annotations"):
            image_id = item.get("image_id")
            if image_id in images:
                caption = item.get("caption")
                if not isinstance(caption, str):
                    raise _bad(
                        captions_path,
                        image_id,
                        f"caption {item.get('id', '?')}",
                        "caption",
                        "must be a string",
                    )
                images[image_id].captions.append(" ".join(caption.split()))
    for entry in images.values():
        entry.people.sort(key=lambda p: p.id)
        entry.objects.sort(key=lambda o: o.id)
        entry.captions.sort()
    counts["images"] = len(images)
    return CocoPeople(images=images, licenses=licenses, counts=counts)


def _add_objects(path: Path, images: dict[int, PersonImage]) -> None:
    """Non-person, non-crowd object boxes of the images that have people."""
    source = JsonFile(path)
    categories = {number: cat["name"] for number, cat in read_categories(source).items()}
    for item in source.items("annotations"):
        image_id = item.get("image_id")
        if image_id not in images or item.get("iscrowd", 0):
            continue
        what = f"object annotation {item.get('id', '?')}"
        category = categories.get(_int(path, item, "category_id", image_id, what))
        if category is None:
            raise _bad(path, image_id, what, "category_id", "names no entry of 'categories'")
        if category == "person":
            continue
        images[image_id].objects.append(
            CocoObject(
                _int(path, item, "id", image_id, what), image_id, category, _bbox(path, item, image_id, what)
            )
        )
