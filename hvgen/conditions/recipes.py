"""Condition recipes: YAML files (``templates/conditions/*.yaml``) that say how a record's
condition image is made, so a benchmark names a recipe instead of carrying drawing code.

A recipe has a `name`, a `kind` and default `parameters`:

* `pose` — OpenPose skeletons from COCO keypoints (`people`), `boxes` — a box layout per class
  (`boxes`, or random boxes for `labels`), `landmarks` — face landmark maps (`faces`), `shapes` —
  a seeded random scene;
* `extract` — an `extractor` (canny, palette, grayscale, blur, jpeg, pixelate, outpaint,
  inpaint) applied to the image of another recipe, its `source`.

A record's condition is ``{"recipe": NAME, "params": JSON}`` (`condition_field`): its params
override the recipe's (data such as keypoints, or a setting); an `extract` recipe passes the
params its extractor does not take on to its source. Every random choice is seeded from the
record's image seed, itself derived from (run seed, image id).
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from PIL import Image

from hvgen.conditions import drawing
from hvgen.conditions.extractors import EXTRACTORS, extract
from hvgen.errors import HvgenError, did_you_mean
from hvgen.seeding import derive_seed

# Per kind, its settings: name → (type, low, high); None bounds are open. Data keys (people,
# boxes, faces, labels, canvas, colours) are checked by the drawing functions.
NUMBER, INTEGER, BOOL = "number", "integer", "bool"
Spec = dict[str, tuple[str, float | None, float | None]]
KIND_SETTINGS: dict[str, Spec] = {
    "pose": {"line_width": (NUMBER, 0.5, 64), "point_radius": (NUMBER, 0.5, 64), "people_count": (INTEGER, 1, 16), "jitter": (NUMBER, 0, 0.2)},
    "boxes": {"line_width": (NUMBER, 0.5, 64), "fill": (BOOL, None, None)},
    "landmarks": {"point_radius": (NUMBER, 0.5, 64), "line_width": (NUMBER, 0.5, 64), "connect": (BOOL, None, None), "faces_count": (INTEGER, 1, 16), "jitter": (NUMBER, 0, 0.2)},
    "shapes": {"shapes": (INTEGER, 1, 64)},
}  # fmt: skip
KIND_DATA: dict[str, tuple[str, ...]] = {
    "pose": ("people", "canvas"),
    "boxes": ("boxes", "labels", "canvas", "colours"),
    "landmarks": ("faces", "canvas"),
    "shapes": (),
}
EXTRACTOR_SETTINGS: dict[str, Spec] = {
    "canny": {"low": (NUMBER, 0, 1000), "high": (NUMBER, 0, 1000)},
    "grayscale": {},
    "blur": {"kernel_min": (INTEGER, 1, 255), "kernel_max": (INTEGER, 1, 255)},
    "jpeg": {"quality_min": (INTEGER, 1, 100), "quality_max": (INTEGER, 1, 100)},
    "palette": {"factor": (INTEGER, 1, 512)},
    "pixelate": {"colors_min": (INTEGER, 2, 256), "colors_max": (INTEGER, 2, 256), "scale_min": (INTEGER, 1, 64), "scale_max": (INTEGER, 1, 64)},
    "outpaint": {"keep_min": (NUMBER, 0.01, 1), "keep_max": (NUMBER, 0.01, 1)},
    "inpaint": {"holes_min": (INTEGER, 0, 32), "holes_max": (INTEGER, 0, 32), "size_min": (NUMBER, 0.01, 1), "size_max": (NUMBER, 0.01, 1)},
}  # fmt: skip
ORDERED_PAIRS = (
    ("low", "high"),
    ("kernel_min", "kernel_max"),
    ("quality_min", "quality_max"),
    ("colors_min", "colors_max"),
    ("scale_min", "scale_max"),
    ("keep_min", "keep_max"),
    ("holes_min", "holes_max"),
    ("size_min", "size_max"),
)
KINDS = (*KIND_SETTINGS, "extract")
RECIPE_KEYS = ("name", "kind", "description", "parameters", "extractor", "source")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Recipe:
    name: str
    kind: str
    description: str = ""
    parameters: dict[str, Any] = field(default_factory=dict)
    extractor: str | None = None
    source: str | None = None
    origin: str = ""  # the file it came from, for messages

    def settings(self) -> Spec:
        return (
            EXTRACTOR_SETTINGS[self.extractor or ""] if self.kind == "extract" else KIND_SETTINGS[self.kind]
        )

    def accepts(self) -> set[str]:
        """The parameter names this recipe itself takes (an extract recipe: its extractor's)."""
        return set(self.settings()) | set(KIND_DATA.get(self.kind, ()))


def builtin_recipe_dir() -> Path:
    from hvgen.benchmark_data import template_dir

    return template_dir("conditions")


def load_recipes(folder: Path | None = None) -> dict[str, Recipe]:
    """Every recipe of the shipped folder, plus (overriding by name) those of `folder`; checked
    whole (names, kinds, parameters, sources and their cycles) so a bad file fails in one line."""
    recipes: dict[str, Recipe] = {}
    for directory in [builtin_recipe_dir(), *([folder] if folder else [])]:
        if not directory.is_dir():
            raise HvgenError(f"condition recipes: {directory} is not a folder of *.yaml recipes.")
        for path in sorted(directory.glob("*.yaml")):
            recipe = parse_recipe(_read_yaml(path), str(path))
            recipes[recipe.name] = recipe
    for recipe in recipes.values():
        _check_source(recipe, recipes)
    return recipes


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as error:
        raise HvgenError(f"{path}: not a YAML recipe ({' '.join(str(error).split())[:200]}).") from None


def parse_recipe(data: Any, origin: str = "recipe") -> Recipe:
    """A `Recipe` from one YAML mapping, or a one-line error naming the file and the key."""
    if not isinstance(data, dict):
        raise HvgenError(f"{origin}: a condition recipe is a mapping with keys {', '.join(RECIPE_KEYS)}.")
    for key in data:
        if key not in RECIPE_KEYS:
            raise HvgenError(
                f"{origin}: unknown key '{key}'{did_you_mean(str(key), RECIPE_KEYS)}; valid: {', '.join(RECIPE_KEYS)}."
            )
    name, kind = data.get("name"), data.get("kind")
    if not isinstance(name, str) or not _NAME.match(name):
        raise HvgenError(f"{origin}: 'name' must be lower-case letters, digits, '-' or '_' (got {name!r}).")
    if kind not in KINDS:
        raise HvgenError(
            f"{origin}: unknown kind {kind!r}{did_you_mean(str(kind), KINDS)}; use one of {', '.join(KINDS)}."
        )
    extractor, source = data.get("extractor"), data.get("source")
    if kind == "extract":
        if extractor not in EXTRACTORS:
            raise HvgenError(
                f"{origin}: extractor {extractor!r}{did_you_mean(str(extractor), EXTRACTORS)} is not one of "
                f"{', '.join(EXTRACTORS)}."
            )
        if not isinstance(source, str):
            raise HvgenError(
                f"{origin}: an extract recipe needs 'source', the recipe whose image it extracts from."
            )
    elif extractor is not None or source is not None:
        raise HvgenError(
            f"{origin}: 'extractor' and 'source' belong to kind 'extract' only (this is '{kind}')."
        )
    parameters = data.get("parameters") or {}
    if not isinstance(parameters, dict):
        raise HvgenError(f"{origin}: 'parameters' must be a mapping of parameter names to values.")
    description = data.get("description") or ""
    if not isinstance(description, str):
        raise HvgenError(f"{origin}: 'description' must be text.")
    recipe = Recipe(name, kind, description, dict(parameters), extractor, source, origin)
    check_parameters(recipe, parameters, f"{origin}: parameters", pass_on=False)
    return recipe


def _check_source(recipe: Recipe, recipes: dict[str, Recipe]) -> None:
    seen = [recipe.name]
    current = recipe
    while current.kind == "extract":
        assert current.source is not None
        if current.source not in recipes:
            raise HvgenError(
                f"{current.origin}: source recipe '{current.source}'{did_you_mean(current.source, recipes)} does not "
                f"exist; recipes: {', '.join(sorted(recipes))}."
            )
        if current.source in seen:
            raise HvgenError(
                f"{recipe.origin}: recipe sources form a cycle ({' → '.join([*seen, current.source])})."
            )
        seen.append(current.source)
        current = recipes[current.source]


def check_parameters(recipe: Recipe, params: dict[str, Any], where: str, pass_on: bool = True) -> None:
    """Refuse an unknown parameter (unless an extract recipe passes it on to its source), a
    setting of the wrong type or out of range (NaN and inf included), or a min above its max."""
    settings = recipe.settings()
    for key, value in params.items():
        if key not in recipe.accepts():
            if recipe.kind == "extract" and pass_on:
                continue  # its source's (checked when the source is drawn)
            valid = sorted(recipe.accepts())
            raise HvgenError(
                f"{where}: recipe '{recipe.name}' ({recipe.kind}{f' {recipe.extractor}' if recipe.extractor else ''}) "
                f"has no parameter '{key}'{did_you_mean(str(key), valid)}; valid: {', '.join(valid) or 'none'}."
            )
        if key in settings:
            _check_setting(key, value, settings[key], where)
    merged = {**recipe.parameters, **params}
    for low, high in ORDERED_PAIRS:
        if low in merged and high in merged and merged[low] > merged[high]:
            raise HvgenError(f"{where}: {low} ({merged[low]}) must not exceed {high} ({merged[high]}).")


def _check_setting(key: str, value: Any, spec: tuple[str, float | None, float | None], where: str) -> None:
    kind, low, high = spec
    if kind == BOOL:
        if not isinstance(value, bool):
            raise HvgenError(f"{where}: '{key}' must be true or false, got {value!r}.")
        return
    is_number = isinstance(value, int | float) and not isinstance(value, bool)
    if kind == INTEGER and not (is_number and float(value).is_integer()):
        raise HvgenError(f"{where}: '{key}' must be a whole number from {low:g} to {high:g}, got {value!r}.")
    if not is_number or not math.isfinite(value) or not (low <= value <= high):  # type: ignore[operator]
        raise HvgenError(f"{where}: '{key}' must be a finite number in [{low:g}, {high:g}], got {value!r}.")


# ---------------------------------------------------------------- records and images


def condition_field(recipe: str, params: dict[str, Any] | None = None) -> dict[str, str]:
    """A record's `condition` value: the recipe's name and its params as sorted-key JSON (one
    column type for every recipe, however its data is shaped)."""
    return {"recipe": recipe, "params": json.dumps(params or {}, sort_keys=True, allow_nan=False)}


def parse_condition(value: Any, where: str = "record") -> tuple[str, dict[str, Any]]:
    """(recipe, params) of a record's `condition`; a one-line error for anything else."""
    if not isinstance(value, dict) or not isinstance(value.get("recipe"), str):
        raise HvgenError(f"{where}: 'condition' must be {{recipe: NAME, params: JSON}}, got {value!r}.")
    raw = value.get("params") or "{}"
    try:
        params = json.loads(raw) if isinstance(raw, str) else raw
    except json.JSONDecodeError:
        raise HvgenError(f"{where}: condition params are not JSON: {raw[:80]!r}.") from None
    if not isinstance(params, dict):
        raise HvgenError(f"{where}: condition params must be a JSON object, got {params!r}.")
    return value["recipe"], params


def check_record_condition(value: Any, recipes: dict[str, Recipe], where: str) -> None:
    """A record's condition names a recipe and only parameters its chain takes, in range (the
    data itself, e.g. keypoints, is checked when it is drawn)."""
    name, params = parse_condition(value, where)
    recipe = get_recipe(name, recipes)
    check_parameters(recipe, params, f"{where}: condition '{name}'")
    while recipe.kind == "extract":
        params = {key: value for key, value in params.items() if key not in recipe.accepts()}
        recipe = recipes[recipe.source or ""]
        check_parameters(recipe, params, f"{where}: condition '{name}' (its source '{recipe.name}')")


def get_recipe(name: str, recipes: dict[str, Recipe]) -> Recipe:
    if name not in recipes:
        raise HvgenError(
            f"unknown condition recipe '{name}'{did_you_mean(name, recipes)}; recipes: {', '.join(sorted(recipes))} "
            "(templates/conditions/*.yaml)."
        )
    return recipes[name]


def accepts_key(name: str, key: str, recipes: dict[str, Recipe]) -> bool:
    """Whether recipe `name`, or the source it extracts from, takes parameter `key`."""
    recipe = get_recipe(name, recipes)
    if key in recipe.accepts():
        return True
    return recipe.kind == "extract" and accepts_key(recipe.source or "", key, recipes)


def recipes_for_option(name: str, needs: str | None = None, option: str = "--condition") -> dict[str, Recipe]:
    """The recipes, once `name` is checked to exist and (with `needs`) to take that data key,
    itself or through the recipe it extracts from: a bad `--condition` fails before planning."""
    recipes = load_recipes()
    get_recipe(name, recipes)
    if needs and not accepts_key(name, needs, recipes):
        takers = sorted(other for other in recipes if accepts_key(other, needs, recipes))
        raise HvgenError(
            f"{option} {name}: this benchmark's conditions are '{needs}' data, which recipe '{name}' does not "
            f"draw; use one that does: {', '.join(takers)} (templates/conditions/)."
        )
    return recipes


def make_condition(
    name: str, params: dict[str, Any], seed: int, size: tuple[int, int], recipes: dict[str, Recipe]
) -> Image.Image:
    """The condition image of recipe `name` with a record's `params`, `size` (width, height),
    every random choice seeded from `seed` (the record's image seed) and the recipe's name."""
    recipe = get_recipe(name, recipes)
    check_parameters(recipe, params, f"condition '{name}'")
    own = {key: value for key, value in params.items() if key in recipe.accepts()}
    merged = {**recipe.parameters, **own}
    rng = random.Random(derive_seed(seed, "condition", name))
    if recipe.kind == "extract":
        assert recipe.source is not None and recipe.extractor is not None
        rest = {key: value for key, value in params.items() if key not in recipe.accepts()}
        picture = make_condition(recipe.source, rest, seed, size, recipes)
        return extract(recipe.extractor, picture, derive_seed(seed, "extract", name), **merged)
    return _draw(recipe.kind, merged, rng, size)


def _drawn_truth(
    kind: str, name: str, params: dict[str, Any], seed: int, size: tuple[int, int], recipes: dict[str, Recipe]
) -> tuple[list[Any], Any] | None:
    """What the `kind` condition `name` draws for a record (its people or faces, in canvas
    units, drawn as `make_condition` draws them) and the frame mapping them to pixels of `size`;
    None when the recipe is of another kind."""
    recipe = get_recipe(name, recipes)
    if recipe.kind != kind:
        return None
    check_parameters(recipe, params, f"condition '{name}'")
    merged = {**recipe.parameters, **params}
    rng = random.Random(derive_seed(seed, "condition", name))
    items, canvas = (_pose_people if kind == "pose" else _landmark_faces)(merged, rng, size)
    return items, drawing.make_canvas(size, canvas)


def condition_people(
    name: str, params: dict[str, Any], seed: int, size: tuple[int, int], recipes: dict[str, Recipe]
) -> list[list[list[float]]] | None:
    """The people (17 COCO keypoints [x, y, v] each, in pixels of an image of `size`) that the
    pose condition `name` draws for a record, or None when the recipe is not a pose: the truth a
    pose estimator's re-extraction is scored against (`hvgen.fidelity`)."""
    drawn = _drawn_truth("pose", name, params, seed, size, recipes)
    if drawn is None:
        return None
    people, frame = drawn
    return [[[*frame.point(x, y), v] for x, y, v in person] for person in people]


def condition_faces(
    name: str, params: dict[str, Any], seed: int, size: tuple[int, int], recipes: dict[str, Recipe]
) -> list[list[list[float]]] | None:
    """The faces (landmarks [x, y] each, in pixels of an image of `size`) that the landmarks
    condition `name` draws for a record, or None when the recipe is not a landmark map: the truth
    a whole-body pose estimator's face keypoints are scored against (`hvgen.fidelity`)."""
    drawn = _drawn_truth("landmarks", name, params, seed, size, recipes)
    if drawn is None:
        return None
    faces, frame = drawn
    return [[list(frame.point(point[0], point[1])) for point in face] for face in faces]


def reextract(
    name: str, params: dict[str, Any], seed: int, image: Image.Image, recipes: dict[str, Recipe]
) -> Image.Image | None:
    """Recipe `name`'s own extractor applied to `image` with the record's settings and the seed
    `make_condition` used (a rendered image's condition, re-extracted); None for a drawn recipe."""
    recipe = get_recipe(name, recipes)
    if recipe.kind != "extract":
        return None
    assert recipe.extractor is not None
    merged = {**recipe.parameters, **{key: value for key, value in params.items() if key in recipe.accepts()}}
    return extract(recipe.extractor, image, derive_seed(seed, "extract", name), **merged)


def _pose_people(p: dict[str, Any], rng: random.Random, size: tuple[int, int]) -> tuple[list[Any], Any]:
    """(people, canvas) of a pose condition: the record's keypoints, or seeded standing people."""
    people = p.get("people")
    if people is None:  # no keypoints in the record: seeded standing people, in image pixels
        return drawing.random_people(rng, size, int(p.get("people_count", 1)), p.get("jitter", 0.03)), None
    if not isinstance(people, list):
        raise HvgenError(
            f"pose condition: 'people' must be a list of people (17 COCO keypoints each), got {people!r}."
        )
    return people, p.get("canvas")


def _landmark_faces(p: dict[str, Any], rng: random.Random, size: tuple[int, int]) -> tuple[list[Any], Any]:
    """(faces, canvas) of a landmarks condition: the record's faces, or seeded five-point faces."""
    faces = p.get("faces")
    if faces is None:  # no landmarks in the record: seeded five-point faces, in image pixels
        return drawing.random_faces(rng, size, int(p.get("faces_count", 1)), p.get("jitter", 0.02)), None
    if not isinstance(faces, list | tuple):
        raise HvgenError(
            f"landmarks condition: 'faces' must be a list of faces ([x, y] points each), got {faces!r}."
        )
    return faces, p.get("canvas")


def _draw(kind: str, p: dict[str, Any], rng: random.Random, size: tuple[int, int]) -> Image.Image:
    if kind == "pose":
        people, canvas = _pose_people(p, rng, size)
        return drawing.draw_pose(people, size, canvas, p.get("line_width", 4), p.get("point_radius", 4))
    if kind == "boxes":
        boxes, canvas = p.get("boxes"), p.get("canvas")
        if boxes is None:
            labels = p.get("labels") or ["object"]
            if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
                raise HvgenError(f"boxes condition: 'labels' must be a list of class names, got {labels!r}.")
            boxes, canvas = drawing.random_boxes(rng, size, labels), None
        colours = p.get("colours")
        if colours is not None and not isinstance(colours, dict):
            raise HvgenError(
                f"boxes condition: 'colours' must map class names to [r, g, b], got {colours!r}."
            )
        return drawing.draw_boxes(boxes, size, canvas, colours, p.get("fill", True), p.get("line_width", 4))
    if kind == "landmarks":
        faces, canvas = _landmark_faces(p, rng, size)
        return drawing.draw_landmarks(
            faces,
            size,
            canvas,
            p.get("point_radius", 3),
            p.get("line_width", 2),
            p.get("connect", True),
        )
    return drawing.random_shapes(rng, size, int(p.get("shapes", 8)))
