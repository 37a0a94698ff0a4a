"""HQH (arXiv 2406.17115), regenerated: free-form hallucination questions of eight types —
attribute, action, count, comparison, environment, existence, OCR, relation — over synthetic
images whose prompt is the ground truth, with closed-ended twins (yes/no, multiple choice) of
each item so open and closed forms can be compared.

This module only wires data to the engine: the rules are in ``templates/hqh/hqh.yaml``, the
wording in ``templates/hqh/types/*.j2`` and ``instructions.j2``, the word lists in
``templates/hqh/vocab/``; items and their twins are built in `items.py` beside this module, scores
in `scoring.py` (with an LLM judge for the open form).
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, ClassVar

import typer

from hvgen.errors import HvgenError, parse_name_list
from hvgen.generator import ExportConfig, Generator, PlanResult, split_evenly
from hvgen.judges import JudgeSpec
from hvgen.publish.formats import register_format
from hvgen.records import Record
from hvgen.seeding import rng_for

from .items import (
    MULTI_CHOICE,
    OPEN,
    QUESTION_TYPES,
    YES_NO,
    Dealer,
    HqhType,
    PlannedItem,
    item_records,
)

TWINS = {"yes-no": YES_NO, "multi-choice": MULTI_CHOICE}
TWIN_ALIASES = {"yes/no": "yes-no", "yn": "yes-no", "mc": "multi-choice", "multi choice": "multi-choice"}
TYPE_ALIASES = {"ocr": "OCR", "attributes": "attribute", "actions": "action", "relations": "relation"}
_ATTEMPTS = 100


class Hqh(Generator):
    """HQH: eight hallucination types, open instructions with closed-ended twins."""

    name = "hqh"
    title = "HQH"
    schema = "hqh"
    template_version = "hqh-1"
    default_num = 80
    stats_columns = ("type", "question_type", "polarity", "style")
    category_column = "type"
    uses_judge: ClassVar[bool] = True

    @staticmethod
    def cli_options(
        types: Annotated[
            str,
            typer.Option(
                help="Hallucination types: 'all' (HQH's eight) or a comma list of attribute, action, count, "
                "comparison, environment, existence, OCR, relation."
            ),
        ] = "all",
        twins: Annotated[
            str,
            typer.Option(
                help="Closed-ended twins of each open item: 'all' (yes-no and multi-choice), a comma list of "
                "them, or 'none' (HQH's open form only)."
            ),
        ] = "all",
    ) -> None:
        """HQH's own options (the engine adds the common ones; --num counts items, one image each)."""

    def __init__(self, request: Any) -> None:
        super().__init__(request)
        options = request.options
        self.selected_types = parse_name_list(
            options.get("types", "all"), list(self.types), "type", aliases=TYPE_ALIASES
        )
        twins = options.get("twins", "all")
        chosen = [] if twins == "none" else parse_name_list(twins, list(TWINS), "twin", aliases=TWIN_ALIASES)
        self.question_types = [OPEN, *(TWINS[name] for name in TWINS if name in chosen)]

    def name_list_options(self) -> dict[str, tuple[list[str], dict[str, str]]]:
        return {"types": (list(self.types), TYPE_ALIASES), "twins": (list(TWINS), TWIN_ALIASES)}

    def listings(self) -> dict[str, list[str]]:
        return {"types": list(self.types), "question-types": list(QUESTION_TYPES), "twins": list(TWINS)}

    # ------------------------------------------------------------------ data
    @cached_property
    def rules(self) -> dict[str, Any]:
        return self.templates.read_yaml("hqh.yaml")

    @cached_property
    def types(self) -> dict[str, HqhType]:
        result = {}
        for name, spec in self.rules["types"].items():
            draws = dict(spec["draws"])
            if spec["asks"] not in draws:
                raise HvgenError(
                    f"hqh.yaml: type '{name}' asks '{spec['asks']}', which it does not draw ({list(draws)})."
                )
            result[name] = HqhType(
                name=name,
                draws=draws,
                asks=spec["asks"],
                choices=tuple(spec["choices"]) if spec.get("choices") else None,
                probe_absent=bool(spec.get("probe_absent")),
                task=spec.get("task", "perception"),
            )
        return result

    @cached_property
    def entries(self) -> dict[str, list[dict[str, str]]]:
        """Every vocabulary the types draw from, as {"name": value, <extra keys>...} entries
        (a .txt line is {"name": line}; a YAML mapping may add e.g. a plural)."""
        names = {vocab for kind in self.types.values() for vocab in kind.draws.values()} | {"style"}
        out = {}
        for vocab in sorted(names):
            entries = []
            for entry in self.vocab.items(vocab):
                if isinstance(entry, dict):
                    if "name" not in entry:
                        raise HvgenError(
                            f"vocabulary {self.vocab.path(vocab)}: entry {entry!r} needs a 'name' key."
                        )
                    entries.append({key: str(value) for key, value in entry.items()})
                else:
                    entries.append({"name": str(entry)})
            out[vocab] = entries
        return out

    def values(self, vocab: str) -> tuple[str, ...]:
        return tuple(entry["name"] for entry in self.entries[vocab])

    # ------------------------------------------------------------------ plan
    def plan(self) -> PlanResult:
        kinds = [self.types[name] for name in self.selected_types]
        counts = split_evenly(self.request.num, len(kinds))
        slots = [(kind, k) for k in range(max(counts, default=0)) for kind, n in zip(kinds, counts) if k < n]
        dealer = Dealer(self.request.run_seed)
        base = {"generator": self.name, "template_version": self.template_version}
        seen: set[str] = set()
        short: dict[str, int] = {}
        records: list[Record] = []
        for kind, k in slots:
            item = self._draw_item(kind, k, seen)
            if item is None:
                short[kind.name] = short.get(kind.name, 0) + 1
                continue
            seen.add(item.prompt)
            pool = (
                tuple(item.values[n] for n in kind.choices)
                if kind.choices
                else self.values(kind.draws[kind.asks])
            )
            records.extend(
                item_records(
                    item,
                    self.question_types,
                    self.templates,
                    pool,
                    int(self.rules["max_options"]),
                    dealer,
                    base,
                    self.record_seed,
                )
            )
        warnings = [
            f"type '{name}': {missing} item(s) not planned: {_ATTEMPTS} draws in a row repeated planned prompts, so "
            "its vocabularies are nearly used up; add items with --vocab DIR or plan fewer (--num)."
            for name, missing in short.items()
        ]
        planned = len({r["item_id"] for r in records})
        notes = [
            f"{planned} items (one image each) over {len(kinds)} types, {len(records)} questions ({', '.join(self.question_types)})."
        ]
        return PlanResult(records=records, warnings=warnings, notes=notes)

    def _draw_item(self, kind: HqhType, k: int, seen: set[str]) -> PlannedItem | None:
        """Random draws (distinct within a vocabulary) until the prompt is new; None when the
        vocabularies keep repeating planned prompts."""
        for attempt in range(_ATTEMPTS):
            rng = rng_for(self.request.run_seed, "hqh-image", kind.name, k, attempt)
            item = self._item(
                kind, self._draws(kind, rng.choice, rng.sample), rng.choice(self.values("style"))
            )
            if item.prompt not in seen:
                return item
        return None

    def _draws(
        self, kind: HqhType, choice: Callable[[Any], Any], sample: Callable[[Any, int], Any]
    ) -> dict[str, dict[str, str]]:
        by_vocab: dict[str, list[str]] = {}
        for name, vocab in kind.draws.items():
            by_vocab.setdefault(vocab, []).append(name)
        draws: dict[str, dict[str, str]] = {}
        for vocab, names in by_vocab.items():
            entries = self.entries[vocab]
            if len(entries) < len(names):
                raise HvgenError(
                    f"type '{kind.name}' draws {len(names)} distinct items from vocabulary '{vocab}', which has "
                    f"{len(entries)}; add items to {self.vocab.path(vocab)}."
                )
            for name, entry in zip(
                names, sample(entries, len(names)) if len(names) > 1 else [choice(entries)]
            ):
                draws[name] = entry
        return {name: draws[name] for name in kind.draws}

    def _item(self, kind: HqhType, draws: dict[str, dict[str, str]], style: str) -> PlannedItem:
        values = {name: entry["name"] for name, entry in draws.items()}
        variables: dict[str, Any] = dict(values)
        for name, entry in draws.items():
            variables.update({f"{name}_{key}": value for key, value in entry.items() if key != "name"})
        if kind.choices:
            order = list(kind.choices)
            rng_for(self.request.run_seed, "hqh-order", kind.name, *values.values()).shuffle(order)
            variables["first"], variables["second"] = (values[n] for n in order[:2])
        template = f"types/{kind.name}.j2"
        variables["content"] = self.templates.render(template, variables, block="content")
        prompt = self.templates.render("prompt.j2", {**variables, "style": style}, block="prompt")
        negative = str(self.rules.get("negative_prompt", ""))
        image_id = self.image_id(prompt, negative)
        details = "; ".join(f"{name}: {value}" for name, value in values.items())
        return PlannedItem(
            type=kind,
            values=values,
            variables=variables,
            style=style,
            prompt=prompt,
            negative_prompt=negative,
            image_id=image_id,
            image_seed=self.image_seed(image_id),
            caption=self.templates.render(template, variables, block="caption"),
            details=details,
        )

    # ------------------------------------------------------------------ export, card, score
    def export_configs(self, scenarios: list[str]) -> list[ExportConfig]:
        """`open` / `closed` for the clean images, `<scenario>_open` / `<scenario>_closed` otherwise:
        HQH's open form and the closed twins are different tasks, scored differently."""
        forms = ["open"] + (["closed"] if len(self.question_types) > 1 else [])
        return [
            ExportConfig(
                name=form if scenario == "clean" else f"{scenario}_{form}",
                scenario=scenario,
                where=f"form = '{form}'",
                skip_if_empty=True,
            )
            for scenario in scenarios
            for form in forms
        ]

    def card_context(self) -> dict[str, Any]:
        return {"types": self.selected_types, "question_types": self.question_types}

    @classmethod
    def score(
        cls,
        records: list[Record],
        predictions_path: Path,
        embedder: str | None = None,
        judge: JudgeSpec | None = None,
    ) -> dict[str, Any]:
        """HQH's metrics (its evaluate.py): open answers through the judge, twins by parsing."""
        from .scoring import score_predictions_file

        return score_predictions_file(records, predictions_path, judge)


# HQH's released HQH.json + image_data.json + images (`hvgen export RUN --format hqh`).
register_format("hqh", f"{__package__}.release", "HqhReleaseFormat")


__all__ = ["Hqh"]
