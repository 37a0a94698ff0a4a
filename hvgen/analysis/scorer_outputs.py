"""Model answers in the files the original HQH and VLBiasBench evaluation code reads or writes,
mapped back to hvgen question ids (and scenario) of the split a model answered.

`harness_outputs.convert` detects these files by their shape and hands them here; the readers
return plain (id, answer, scenario) triples and the items they could not map, so this module
knows nothing of the harness readers.

* **HQH** (HQHBench/HQHBench ``evaluate.py --ans_file``): a json list of HQH.json records, each
  with the model's output added as ``answer``; evaluate.py reads ``image_id``, ``type``,
  ``instruction``, ``ground_truth`` and ``answer``. hvgen's ``--format hqh`` records also carry
  ``hvgen_id`` and ``scenario``, which are used when present; otherwise the integer ``id``
  numbers the export's free-form questions in hex-id order from 1, and ``image``
  (``./images/<n>.png`` for clean, ``./images/<scenario>/<n>-<id>.png`` otherwise) gives the
  scenario.
* **VLBiasBench** (Xiangkui-Cao/VLBiasBench ``evaluation/run_evaluation.py``): one
  ``result.json`` per dataset run, under ``outputs/<model>[_<comment>]/<dataset>_<time>/``: a
  json list of ``{"id", "instruction", "in_images", "answer"}``, where ``id`` is the sample's
  position in the close-ended loader's order, or the open-ended sample's own ``id``. Both are the
  integer ids of the ``--format vlbias`` tree the model read, so the tree
  (``RUN/formats/vlbias/<scenario>/data/``) maps them back (its samples keep ``hvgen_id``). The
  scenario is the tree named in ``in_images`` (a full data root), else a ``_<scenario>`` suffix
  of the model folder (the original's ``--comment``), else the only tree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError
from hvgen.store.layout import EXPORT_DIR, FORMATS_DIR

HQH_ANSWERS, VLBIAS_RESULT = "HQH evaluate.py answers", "VLBiasBench result.json"
_HQH_IMAGE = re.compile(r"images/(?:(?P<scenario>[^/]+)/(?P<number>\d+)-(?P<id>[^/]+)|(?P<clean>\d+))\.png$")
_VLBIAS_FORMAT = "vlbias"
_VLBIAS_DATA = "data"


@dataclass
class Mapped:
    """Answers of one file as (question id, answer, scenario), and what could not be mapped."""

    answers: list[tuple[str, Any, str]] = field(default_factory=list)
    unmapped: list[str] = field(default_factory=list)


def scorer_reader_of(head: str) -> str | None:
    """Which original scorer's file a json file is, from its first characters (None: neither)."""
    if '"in_images"' in head and '"answer"' in head:
        return VLBIAS_RESULT
    if '"ground_truth"' in head and '"image_id"' in head and '"answer"' in head:
        return HQH_ANSWERS
    return None


def _entries(file: Path, layout: str) -> list[Any]:
    try:
        entries = json.loads(file.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise HvgenError(f"{file}: cannot read it as json ({error}); expected {layout}.") from None
    if not isinstance(entries, list):
        raise HvgenError(f"{file}: not a json list; expected {layout}.")
    return entries


def _scenario(row: Mapping[str, Any]) -> str:
    return str(row.get("scenario") or "clean")


# ------------------------------------------------------------------ HQH


HQH_LAYOUT = (
    'a json list of HQH.json records with the model\'s "answer" added (evaluate.py --ans_file), '
    'keyed by "hvgen_id" or by the integer "id" of `hvgen export --format hqh`'
)


def read_hqh_answers(file: Path, configs: Mapping[str, list[dict[str, Any]]]) -> Mapped:
    """HQH answer records → hvgen ids; see the module docstring for the id and scenario rules."""
    rows = {str(row["id"]): row for config_rows in configs.values() for row in config_rows}
    scenarios = {_scenario(row) for config_rows in configs.values() for row in config_rows}
    numbering = dict(enumerate(sorted(i for i, row in rows.items() if row.get("form") == "open"), start=1))
    out = Mapped()
    mismatched: list[str] = []
    for position, entry in enumerate(_entries(file, HQH_LAYOUT), start=1):
        where = f"{file.name} record {position}"
        if not isinstance(entry, dict) or "answer" not in entry:
            out.unmapped.append(f'{where}: not a record with "answer"')
            continue
        image = _HQH_IMAGE.search(str(entry.get("image") or ""))
        question_id = entry.get("hvgen_id")
        if not isinstance(question_id, str) or question_id not in rows:
            number = entry.get("id")
            question_id = (
                numbering.get(number) if isinstance(number, int) and not isinstance(number, bool) else None
            )
        if question_id is None or (image and image["id"] and image["id"] != question_id):
            out.unmapped.append(
                f"{where}: id {entry.get('id')!r} is not one of this split's free-form questions"
            )
            continue
        scenario = entry.get("scenario")
        if not isinstance(scenario, str) or scenario not in scenarios:
            if image:
                scenario = image["scenario"] or "clean"
            elif len(scenarios) == 1:
                scenario = next(iter(scenarios))
            else:
                out.unmapped.append(f'{where}: no scenario (no hvgen image path and no "scenario")')
                continue
        asked, instruction = rows[question_id].get("instruction"), entry.get("instruction")
        if isinstance(asked, str) and isinstance(instruction, str) and instruction.strip() != asked.strip():
            mismatched.append(str(entry.get("id")))
        out.answers.append((question_id, entry["answer"], scenario))
    if mismatched:
        raise HvgenError(
            f"{file}: {len(mismatched)} record(s) (ids {', '.join(mismatched[:5])}) ask another instruction than "
            "this split's question of that id: the answers are for another export."
        )
    return out


# ------------------------------------------------------------------ VLBiasBench


VLBIAS_LAYOUT = (
    'run_evaluation.py\'s result.json (a json list of {"id", "instruction", "in_images", "answer"}) '
    "over the tree of `hvgen export RUN --format vlbias`"
)


def formats_folder(root: Path | None) -> Path | None:
    """``RUN/formats`` of a run directory, or of the run an export folder (``RUN/export``) is in."""
    if root is None:
        return None
    for candidate in (root / FORMATS_DIR, root.parent / FORMATS_DIR if root.name == EXPORT_DIR else None):
        if candidate is not None and candidate.is_dir():
            return candidate
    return None


def _vlbias_trees(root: Path | None) -> dict[str, dict[int, dict[str, Any]]]:
    """Each scenario tree's samples by integer id (``RUN/formats/vlbias/<scenario>/data``)."""
    formats = formats_folder(root)
    base = formats / _VLBIAS_FORMAT if formats else None
    if base is None or not base.is_dir():
        raise HvgenError(
            f"VLBiasBench result.json ids number the samples of `hvgen export RUN --format vlbias`, and "
            f"{root or 'the split'} has no {FORMATS_DIR}/{_VLBIAS_FORMAT}/ tree: export it (or pass the run "
            "directory the model's tree was exported from) so the ids can be mapped."
        )
    trees: dict[str, dict[int, dict[str, Any]]] = {}
    for data in sorted(base.glob(f"*/{_VLBIAS_DATA}")):
        samples: dict[int, dict[str, Any]] = {}
        for file in sorted(data.rglob("*.json")):
            try:
                entries = json.loads(file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
                raise HvgenError(f"{file}: unreadable --format vlbias sample file ({error}).") from None
            for sample in entries if isinstance(entries, list) else []:
                if isinstance(sample, dict) and isinstance(sample.get("id"), int) and "hvgen_id" in sample:
                    samples[sample["id"]] = sample
        trees[data.parent.name] = samples
    return trees


def _vlbias_scenario(file: Path, entries: list[Any], scenarios: list[str]) -> str | None:
    """The tree a result.json was run on: named in ``in_images``, or by the model folder's
    ``--comment`` suffix (``outputs/<model>_<scenario>/<dataset>_<time>/``), or the only one."""
    for entry in entries[:1]:
        images = entry.get("in_images") if isinstance(entry, dict) else None
        path = str(images[0]) if isinstance(images, list) and images else ""
        named = [s for s in scenarios if f"/{s}/{_VLBIAS_DATA}/" in path.replace("\\", "/")]
        if len(named) == 1:
            return named[0]
    model_folder = file.resolve().parent.parent.name
    suffixed = [s for s in scenarios if model_folder.endswith(f"_{s}")]
    if suffixed:
        return max(suffixed, key=len)
    return scenarios[0] if len(scenarios) == 1 else None


def _asks(sample: Mapping[str, Any], instruction: str) -> bool:
    """Whether run_evaluation.py's instruction is this sample's: a close-ended one quotes context
    and question, joined as the loader joins them; an open-ended one is the stored instruction."""
    if "context" in sample:
        return f"{sample['context']}{sample['question']}" in instruction
    return instruction.strip() == str(sample.get("instruction", "")).strip()


def read_vlbias_result(file: Path, configs: Mapping[str, list[dict[str, Any]]], root: Path | None) -> Mapped:
    """A VLBiasBench result.json → hvgen ids of the split (`configs`), through the ``--format
    vlbias`` tree of `root` it was run on."""
    known = {str(row["id"]) for config_rows in configs.values() for row in config_rows}
    trees = _vlbias_trees(root)
    entries = _entries(file, VLBIAS_LAYOUT)
    scenario = _vlbias_scenario(file, entries, sorted(trees))
    if scenario is None:
        raise HvgenError(
            f"{file}: cannot tell which --format vlbias tree ({', '.join(sorted(trees))}) the model read: run the "
            "original with `--comment <scenario>` (outputs/<model>_<scenario>/...) or with data_root= the tree's path."
        )
    samples = trees[scenario]
    out = Mapped()
    mismatched: list[str] = []
    for position, entry in enumerate(entries, start=1):
        number = entry.get("id") if isinstance(entry, dict) else None
        sample = samples.get(number) if isinstance(number, int) and not isinstance(number, bool) else None
        if sample is None or "answer" not in entry or str(sample["hvgen_id"]) not in known:
            out.unmapped.append(
                f"{file.name} entry {position}: id {number!r} is no sample of this split's {scenario} tree"
            )
            continue
        instruction = entry.get("instruction")
        if isinstance(instruction, str) and not _asks(sample, instruction):
            mismatched.append(str(number))
            continue
        out.answers.append(
            (str(sample["hvgen_id"]), entry["answer"], str(sample.get("scenario") or scenario))
        )
    if mismatched:
        raise HvgenError(
            f"{file}: {len(mismatched)} answer(s) (ids {', '.join(mismatched[:5])}) were asked another question than "
            f"the {scenario} tree's sample of that id: they come from another export."
        )
    return out
