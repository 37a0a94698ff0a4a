"""Dysca (Zhang et al., ICLR 2025): synthetic images from rule-based prompts, with multiple
choice, true/false and free-form ("image caption") perception questions over 20 subtasks.

This module only wires data to the engine: the generation rules are in
``templates/dysca/dysca.yaml``, the wording in ``templates/dysca/*.j2`` and the word lists in
``templates/dysca/vocab/``. Differences from the original code are deliberate bug fixes, each
noted where it happens (mostly in the templates).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any

import typer

from hvgen.errors import HvgenError, parse_name_list
from hvgen.generator import Generator, ItemRecords, PlanResult, split_evenly
from hvgen.publish.formats import register_format
from hvgen.records import Record
from hvgen.seeding import rng_for

from .questions import (
    FREE_FORM,
    MULTI_CHOICE,
    QUESTION_TYPES,
    TRUE_OR_FALSE,
    DyscaQuestions,
    Foreground,
    PlannedImage,
    _var,
    image_variables,
)

QUESTION_TYPE_ALIASES = {
    "mc": MULTI_CHOICE,
    "multi-choice": MULTI_CHOICE,
    "multiple choice": MULTI_CHOICE,
    "tf": TRUE_OR_FALSE,
    "true-false": TRUE_OR_FALSE,
    "true-or-false": TRUE_OR_FALSE,
    "free form": FREE_FORM,
    "free-form": FREE_FORM,
    "ff": FREE_FORM,
    "caption": FREE_FORM,
    "image-caption": FREE_FORM,
}
SUBTASK_ALIASES = {"ocr": "text", "OCR": "text", "tv": "tv show", "tv-show": "tv show", "tv_show": "tv show"}


class Dysca(DyscaQuestions, Generator):
    """Dysca: 20 perception subtasks over synthetic images in 57 styles (the paper counts 51;
    the original repository ships 57 presets and `--styles all` uses them all)."""

    name = "dysca"
    title = "Dysca"
    schema = "dysca"
    template_version = "dysca-2"
    default_num = 200
    stats_columns = ("style", "subtask", "question_type", "foreground_type", "granularity")
    category_column = "subtask"
    condition_hint = "pass --condition RECIPE (`hvgen list conditions`: pose, boxes, canny ...)"

    @staticmethod
    def cli_options(
        styles: Annotated[
            str,
            typer.Option(
                help="Style presets: 'all' (the 57 of the original repository) or a comma list of names."
            ),
        ] = "all",
        subtasks: Annotated[
            str,
            typer.Option(
                help="Subtasks: 'all' (the 20 of the paper) or a comma list, e.g. 'animal,color,text'."
            ),
        ] = "all",
        question_types: Annotated[
            str,
            typer.Option(
                help="Question types: 'all' or a comma list of 'multi choice', 'true or false', 'image caption' "
                "(the free-form question; aliases mc, tf, 'free form', ff, caption)."
            ),
        ] = "all",
        thin: Annotated[
            bool,
            typer.Option(
                "--thin/--no-thin",
                help="Thin questions per image at random as the released data does (pqa_postprocess.py): "
                "a subtask asked twice keeps one question, a lone one survives with p=1/3.",
            ),
        ] = False,
        allow_short: Annotated[
            bool,
            typer.Option(
                "--allow-short/--no-allow-short",
                help="Accept a --num above the vocabularies' capacity: foregrounds whose vocabularies run out get "
                "fewer images (the plan says how many). Without it such a --num is an error naming the limit.",
            ),
        ] = False,
        condition: Annotated[
            str,
            typer.Option(
                metavar="RECIPE",
                help="Give every image a condition image made by this recipe (templates/conditions/*.yaml: pose, "
                "boxes, canny ...) and render it through --controlnet; box recipes lay out the image's subject.",
            ),
        ] = "",
    ) -> None:
        """Dysca's own options (the engine adds the common ones)."""

    def __init__(self, request: Any) -> None:
        super().__init__(request)
        self._values: dict[str, tuple[str, ...]] = {}
        self._combination_counts: dict[str, int] = {}
        self._wrong: dict[tuple[str, str], Sequence[str]] = {}
        options = request.options
        self.selected_styles = parse_name_list(options.get("styles", "all"), self.style_presets, "style")
        self.selected_subtasks = parse_name_list(
            options.get("subtasks", "all"), self.subtasks, "subtask", aliases=SUBTASK_ALIASES
        )
        self.selected_question_types = parse_name_list(
            options.get("question_types", "all"),
            QUESTION_TYPES,
            "question type",
            aliases=QUESTION_TYPE_ALIASES,
        )
        self.thin = bool(options.get("thin", False))
        self.allow_short = bool(options.get("allow_short", False))
        self.condition = str(options.get("condition") or "")
        if self.condition:
            from hvgen.conditions.recipes import get_recipe, load_recipes

            self._recipes = load_recipes()
            get_recipe(self.condition, self._recipes)  # an unknown recipe fails before planning
        self._walks: dict[tuple[str, str], Iterator[dict[str, str]] | None] = {}
        self._style_cycle: tuple[int, list[str]] = (-1, [])
        self._tried: set[tuple[str, ...]] = set()
        self._spaces: dict[tuple[str, str], int] = {}  # (foreground, style) → distinct draws tried
        if not self.allow_short:
            self.check_capacity()

    def name_list_options(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        return {
            "styles": (list(self.style_presets), {}),
            "subtasks": (list(self.subtasks), SUBTASK_ALIASES),
            "question_types": (list(QUESTION_TYPES), QUESTION_TYPE_ALIASES),
        }

    def listings(self) -> dict[str, list[str]]:
        return {
            "styles": list(self.style_presets),
            "subtasks": list(self.subtasks),
            "question-types": list(QUESTION_TYPES),
        }

    # ------------------------------------------------------------------ data
    @cached_property
    def rules(self) -> dict[str, Any]:
        return self.templates.read_yaml("dysca.yaml")

    @cached_property
    def subtasks(self) -> list[str]:
        return list(self.rules["subtasks"])

    @cached_property
    def styles(self) -> dict[str, dict[str, str]]:
        entries = self.vocab.items("styles")
        for entry in entries:
            if not isinstance(entry, dict) or not {"name", "prompt", "negative_prompt"} <= set(entry):
                raise HvgenError(
                    f"style preset {entry!r} in {self.vocab.path('styles')} needs keys name, prompt, negative_prompt."
                )
        return {entry["name"]: entry for entry in entries}

    @property
    def style_presets(self) -> list[str]:
        return list(self.styles)

    @cached_property
    def foregrounds(self) -> list[Foreground]:
        result = []
        for name, spec in self.rules["foregrounds"].items():
            draws = tuple(spec["draws"])
            result.append(
                Foreground(
                    name=name,
                    draws=draws,
                    background=bool(spec.get("background")),
                    questions=tuple(spec["questions"]),
                    caption=spec["caption"],
                    subject=spec.get("subject", draws[0]),
                )
            )
        return result

    def values(self, name: str) -> tuple[str, ...]:
        """The vocabulary behind a subtask or a plain vocabulary name (styles → preset names);
        cached, since planning asks for the same lists once per image and per question."""
        if name not in self._values:
            vocab = self.rules["subtasks"].get(name, {}).get("vocab", name)
            items = self.style_presets if vocab == "styles" else self.vocab.items(vocab)
            self._values[name] = tuple(str(item) for item in items)
        return self._values[name]

    # ------------------------------------------------------------------ capacity
    @property
    def planned_foregrounds(self) -> list[Foreground]:
        """The foregrounds asked about by the selected subtasks, in plan order."""
        selected = set(self.selected_subtasks)
        return [fg for fg in self.foregrounds if selected & set(fg.questions)]

    def _draw_lists(self, fg: Foreground) -> dict[str, tuple[str, ...]]:
        """What an image of `fg` draws from (besides its style): vocabulary name → items."""
        lists = {name: self.values(name) for name in fg.draws}
        if fg.background:
            lists["background"] = self.values("background")
        return lists

    def combinations(self, fg: Foreground) -> int:
        """Distinct draws of one image of `fg` for one style (product of the vocabulary sizes)."""
        return math.prod(len(items) for items in self._draw_lists(fg).values())

    def _combinations(self, fg: Foreground) -> int:
        """`combinations(fg)`, computed once per foreground."""
        if fg.name not in self._combination_counts:
            self._combination_counts[fg.name] = self.combinations(fg)
        return self._combination_counts[fg.name]

    def capacity(self) -> dict[str, int]:
        """Distinct images each planned foreground can yield: its combinations × the selected
        styles (a prompt is the style's wrapping of the drawn content, so two images differ in a
        draw or in the style). The plan reaches exactly this number, never more."""
        styles = len(self.selected_styles)
        return {fg.name: self.combinations(fg) * styles for fg in self.planned_foregrounds}

    def requested(self, num: int | None = None) -> dict[str, int]:
        """Images per foreground that `num` (default: the request's) asks for (an even split)."""
        names = [fg.name for fg in self.planned_foregrounds]
        return dict(zip(names, split_evenly(self.request.num if num is None else num, len(names))))

    def max_num(self) -> int:
        """The largest --num whose even split fits every foreground's capacity."""
        capacity = self.capacity()

        def fits(num: int) -> bool:
            return all(count <= capacity[name] for name, count in self.requested(num).items())

        low, high = 0, sum(capacity.values())  # fits(low); the answer is at most the total
        while low < high:
            middle = (low + high + 1) // 2
            low, high = (middle, high) if fits(middle) else (low, middle - 1)
        return low

    def check_capacity(self) -> None:
        """Refuse a --num the vocabularies cannot fill (before anything is planned or written)."""
        capacity = self.capacity()
        over = {name: count for name, count in self.requested().items() if count > capacity[name]}
        if not over:
            return
        details = "; ".join(
            f"'{name}' {over[name]:,} > {capacity[name]:,} ({self._capacity_formula(name)})" for name in over
        )
        raise HvgenError(
            f"--num {self.request.num:,} asks for more images than the vocabularies can make distinct: {details}. "
            f"The largest --num that fits is {self.max_num():,}. "
            "Add items to those vocabularies with --vocab DIR (a folder with e.g. profession.txt, one item per line), "
            "select more styles, or pass --allow-short to plan fewer images for those foregrounds."
        )

    def _capacity_formula(self, name: str) -> str:
        fg = next(fg for fg in self.foregrounds if fg.name == name)
        factors = [f"{vocab} {len(items)}" for vocab, items in self._draw_lists(fg).items()]
        return " × ".join([*factors, f"{len(self.selected_styles)} styles"])

    def capacity_note(self, planned: dict[str, int]) -> str:
        """One line for the plan summary: the capacity of the tightest foregrounds."""
        capacity = self.capacity()
        tightest = sorted(capacity, key=lambda name: (capacity[name], name))[:4]
        listed = ", ".join(f"{name} {planned.get(name, 0):,} of {capacity[name]:,}" for name in tightest)
        return (
            f"vocabulary capacity (distinct images per foreground with {len(self.selected_styles)} styles; "
            f"planned of possible): {listed}{', …' if len(capacity) > len(tightest) else ''}. "
            f"--num up to {self.max_num():,} fits; --vocab DIR adds items."
        )

    # ------------------------------------------------------------------ plan
    def plan(self) -> PlanResult:
        foregrounds = self.planned_foregrounds
        counts = split_evenly(self.request.num, len(foregrounds))
        # Round-robin over foregrounds so styles (cycled below) spread over all of them.
        slots = [
            (fg, k) for k in range(max(counts, default=0)) for fg, n in zip(foregrounds, counts) if k < n
        ]
        warnings: list[str] = []
        notes: list[str] = []
        # Drawing the images is sequential (a prompt must not repeat); an image's questions
        # depend on it alone, so the plan stage may write them in several processes, starting on
        # the first images while the next are drawn. The warnings and notes come after the last.
        return PlanResult(
            records=ItemRecords(self._drawn(slots, warnings, notes), self._image_records, size=len(slots)),
            warnings=warnings,
            notes=notes,
        )

    def _drawn(
        self, slots: list[tuple[Foreground, int]], warnings: list[str], notes: list[str]
    ) -> Iterator[PlannedImage]:
        """The images of `slots`, one distinct prompt each, as they are drawn; then the plan's
        warnings and notes (or the error saying the templates make fewer distinct prompts)."""
        seen_prompts: set[str] = set()
        exhausted: dict[str, int] = {}
        planned: dict[str, int] = {}
        capacity = self.capacity()
        self._walks = {}
        self._tried = set()
        self._spaces = {}
        for index, (fg, k) in enumerate(slots):
            image = None
            if planned.get(fg.name, 0) < capacity[fg.name]:
                style = self.styles[self._style_for(index)]
                image = self._draw_image(fg, k, style, seen_prompts)
            if image is None:
                exhausted[fg.name] = exhausted.get(fg.name, 0) + 1
                continue
            seen_prompts.add(image.prompt)
            planned[fg.name] = planned.get(fg.name, 0) + 1
            yield image
        short = {
            name: missing for name, missing in exhausted.items() if planned.get(name, 0) < capacity[name]
        }
        if short and not self.allow_short:
            # Only templates that render two different draws identically get here (the capacity
            # check before planning passed): say so rather than silently plan fewer images.
            details = ", ".join(f"'{name}' {planned.get(name, 0):,} of {capacity[name]:,}" for name in short)
            raise HvgenError(
                f"the templates render some different draws as the same prompt, so fewer distinct images could be "
                f"planned than the vocabularies allow ({details}); check the foreground's content template and "
                "vocabularies for items that differ only in ways the template drops, or pass --allow-short."
            )
        warnings += [
            f"foreground '{name}': {missing:,} image(s) not planned because its vocabularies allow no more distinct "
            f"prompts with the selected styles ({planned.get(name, 0):,} planned, capacity {capacity[name]:,}); "
            "add items with --vocab DIR or select more styles."
            for name, missing in exhausted.items()
        ]
        notes.append(self.capacity_note(planned))

    def _style_for(self, index: int) -> str:
        """Styles are dealt in seeded shuffled cycles, so any plan of >= len(styles) images uses every style."""
        cycle, position = divmod(index, len(self.selected_styles))
        if self._style_cycle[0] != cycle:  # one shuffle per cycle, not per image (a tenth of the drawing)
            order = list(self.selected_styles)
            rng_for(self.request.run_seed, "dysca-style-cycle", cycle).shuffle(order)
            self._style_cycle = (cycle, order)
        return self._style_cycle[1][position]

    def _draw_image(
        self, fg: Foreground, k: int, style: dict[str, str], seen: set[str], attempts: int = 100
    ) -> PlannedImage | None:
        """Random draws first (the original's way); when they keep hitting used prompts, the
        vocabularies are nearly used up for this style, so walk the remaining combinations in a
        seeded order, then those of the other styles: the plan reaches the capacity exactly.
        Once every combination of `fg` with this style was drawn, every random draw would repeat
        one: they are skipped (a full plan asks so for ~30,000 draws of its tightest foregrounds)."""
        space = (fg.name, style["name"])
        if self._spaces.get(space, 0) >= self._combinations(fg):
            attempts = 0
        for attempt in range(attempts):
            rng = rng_for(self.request.run_seed, "dysca-image", fg.name, k, attempt)
            draws = {name: rng.choice(self.values(name)) for name in fg.draws}
            if fg.background:
                draws["background"] = rng.choice(self.values("background"))
            image = self._image(fg, draws, style, seen)
            if image is not None:
                return image
        others = [name for name in self.selected_styles if name != style["name"]]
        rng_for(self.request.run_seed, "dysca-style-fallback", fg.name, k).shuffle(others)
        for name in [style["name"], *others]:
            image = self._walk(fg, self.styles[name], seen)
            if image is not None:
                return image
        return None

    def _walk(self, fg: Foreground, style: dict[str, str], seen: set[str]) -> PlannedImage | None:
        """The next unused combination of `fg` with `style`, in a seeded order (None when all are used).
        Each combination is visited once per plan, so walking a whole space costs its size."""
        key = (fg.name, style["name"])
        if key not in self._walks:
            lists = self._draw_lists(fg)
            shuffled = {}
            for name, items in lists.items():
                order = list(items)
                rng_for(self.request.run_seed, "dysca-walk", fg.name, style["name"], name).shuffle(order)
                shuffled[name] = order
            names = list(shuffled)
            self._walks[key] = (
                dict(zip(names, combo)) for combo in itertools.product(*(shuffled[n] for n in names))
            )
        walk = self._walks[key]
        if walk is None:
            return None
        for draws in walk:
            image = self._image(fg, draws, style, seen)
            if image is not None:
                return image
        self._walks[key] = None
        return None

    def _image(
        self, fg: Foreground, draws: dict[str, str], style: dict[str, str], seen: set[str]
    ) -> PlannedImage | None:
        """The image these draws make, or None if its prompt is already planned. Draws made
        before (with this style) are known to be planned without rendering them again: near a
        foreground's capacity most random draws repeat one (3 draws per image in a full plan)."""
        tried = (fg.name, style["name"], *draws.values())  # the draws' names follow from `fg`
        if tried in self._tried:  # its prompt was planned then, or was already (`seen` only grows)
            return None
        self._tried.add(tried)
        self._spaces[tried[:2]] = self._spaces.get(tried[:2], 0) + 1
        variables = image_variables(draws, style)
        if "ocr_template" in draws:
            variables["ocr_prompt"] = self.templates.render_string(
                draws["ocr_template"], variables, origin=str(self.vocab.path("ocr_template"))
            )
        variables["content"] = self.templates.render(f"content/{_var(fg.name)}.j2", variables)
        prompt = self.templates.render("prompt.j2", variables, block="prompt")
        if prompt in seen:
            return None
        negative = self._renders.render("prompt.j2", variables, block="negative_prompt")
        image_id = self.image_id(prompt, negative)
        return PlannedImage(
            foreground=fg,
            draws=draws,
            style=style,
            prompt=prompt,
            negative_prompt=negative,
            image_id=image_id,
            image_seed=self.image_seed(image_id),
        )

    @classmethod
    def score(
        cls, records: list[Record], predictions_path: Path, embedder: str | None = None
    ) -> dict[str, Any]:
        """Dysca's own metrics (its Dysca_compute.py) per subtask, scenario and question type."""
        from .scoring import score_predictions_file

        return score_predictions_file(records, predictions_path, embedder)

    def card_context(self) -> dict[str, Any]:
        return {
            "styles": self.selected_styles,
            "subtasks": self.selected_subtasks,
            "question_types": self.selected_question_types,
            "all_style_count": len(self.style_presets),
            "thin": self.thin,
        }


# Dysca's released json + image folder (`hvgen export RUN --format dysca`), imported only when used.
register_format("dysca", f"{__package__}.release", "DyscaReleaseFormat")


__all__ = ["Dysca", "QUESTION_TYPES"]
