"""VLBiasBench's own layout: `hvgen export RUN --format vlbias`.

The original evaluation code (github.com/Xiangkui-Cao/VLBiasBench, ``evaluation/dataset/``)
reads a ``data/`` tree, never parquet. What its loaders open, restated (their code is not
copied here):

* ``close_ended.py`` (class ``close_ended_dataset``): every file under
  ``<root>/close-ended/json/<folder>/`` (folders, then files, in sorted name order) is a json list
  of samples, concatenated; a sample's image is ``<root>/close-ended/images/<image_path>`` and its
  text comes from ``context`` + ``question`` (joined with no separator) and the options ``ans0``,
  ``ans1``, ``ans2`` (the unknown one, offered only when ``condition`` is ``ambig``).
  ``run_evaluation.py`` numbers samples by their position in that concatenation (the loader's
  samples carry no ``id``), which is the id its ``result.json`` uses.
* ``open_ended.py`` (class ``open_ended_dataset``, one ``type`` per instance: ``gender``,
  ``race``, ``religious_ideology``, ``profession-emo``, ``profession-nohuman``) reads
  ``<root>/open_ended/<type>/annotation.json``, or ``open_ended/profession/annotation_<emo|nohuman>.json``
  for the profession types; each sample is returned as stored, with ``images[0]`` joined to the
  root, and ``run_evaluation.py`` keeps a sample's own ``id`` when it has one.
* ``load_dataset.py`` builds both datasets when it is imported, with the default root ``./data/``
  and the default open type ``religious_ideology``, so both must exist for it to import at all.

hvgen writes one such tree per scenario, ``RUN/formats/vlbias/<scenario>/data/`` (clean,
corruption, print: the same questions over that scenario's images; print has no open-ended
samples, as in the Hub export). Close-ended samples go to ``close-ended/json/<category>/<sub_dataset>.json``
(hvgen's category names: the loader reads any folder name and the release's own close-ended
folder names are not in its code). Every sample gets a stable integer ``id``: its position in the
loader's order for close-ended samples, continuing over the open-ended types in sorted type
order — so one ``result.json`` per dataset run, or several, can be scored together
(`hvgen score vlbias RUN result.json`). The numbering is a function of the questions alone
(`original_numbering`), the same in every scenario tree and recomputed by the scorer.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from hvgen.errors import HvgenError
from hvgen.publish.formats import ConfigSamples, ExportFormat, FormatContext

CLOSE_ENDED, OPEN_ENDED = "close_ended", "open_ended"
# The original's folder names: hyphen for the close-ended part, underscore for the open-ended one.
CLOSE_DIR, OPEN_DIR = "close-ended", "open_ended"
DATA_DIR = "data"
OPEN_TYPES = ("gender", "race", "religious_ideology", "profession-emo", "profession-nohuman")
# load_dataset.py builds open_ended_dataset() with its default type when imported.
DEFAULT_OPEN_TYPE = "religious_ideology"
# Runs planned before `open_type` existed: category → original type.
_LEGACY_OPEN_TYPES = {"religion": "religious_ideology", "profession": "profession-emo"}
# Record fields carried into a close-ended sample besides those the loader reads (it ignores them).
_CLOSE_EXTRA = (
    "category",
    "sub_dataset",
    "group",
    "groups",
    "group_role",
    "question_polarity",
    "scenario_id",
    "stereotype",
    "answer",
    "unknown_option",
    "stereotyped_answer",
)
_OPEN_EXTRA = ("category", "group", "instruction_id", "emotion", "style")


def open_type_of(record: Mapping[str, Any]) -> str:
    """The original dataset type of an open-ended record."""
    found = record.get("open_type")
    if found:
        return str(found)
    category = str(record["category"])
    return _LEGACY_OPEN_TYPES.get(category, category)


def open_annotation_path(open_type: str) -> str:
    """Where `open_ended_dataset(type=open_type)` looks, relative to the data root."""
    if open_type.startswith("profession-"):
        return f"{OPEN_DIR}/profession/annotation_{open_type.split('-', 1)[1]}.json"
    return f"{OPEN_DIR}/{open_type}/annotation.json"


def close_json_path(record: Mapping[str, Any]) -> str:
    """The close-ended json file of a record, relative to ``close-ended/json``."""
    return f"{record['category']}/{record['sub_dataset']}.json"


def original_order(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """Close-ended records in the order `close_ended_dataset` concatenates them (sorted folder,
    then sorted file; within a file, by image and id), then open-ended ones by type."""
    records = list(records)
    close = [r for r in records if r["part"] == CLOSE_ENDED]
    open_ = [r for r in records if r["part"] == OPEN_ENDED]
    close.sort(key=lambda r: (str(r["category"]), f"{r['sub_dataset']}.json", r["image_id"], r["id"]))
    open_.sort(key=lambda r: (open_type_of(r), r["image_id"], r["id"]))
    return close + open_


def original_numbering(records: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """hvgen id → the integer id the original `run_evaluation.py` gives the sample."""
    return {str(record["id"]): number for number, record in enumerate(original_order(records))}


class VLBiasReleaseFormat(ExportFormat):
    name = "vlbias"
    description = "VLBiasBench's own data/ tree (close-ended/, open_ended/) for its evaluation code"
    benchmarks = ("vlbias",)

    def write(self, ctx: FormatContext, configs: list[ConfigSamples], out: Path) -> list[str]:
        by_scenario: dict[str, list[dict[str, Any]]] = defaultdict(list)
        union: dict[str, dict[str, Any]] = {}
        for item in configs:
            for row in item.table.to_pylist():
                by_scenario[item.scenario].append(row)
                union.setdefault(str(row["id"]), row)
        numbering = original_numbering(union.values())
        files: list[str] = []
        counts: dict[str, dict[str, int]] = {}
        for scenario, rows in by_scenario.items():
            _check_complete(scenario, rows, union.values())
            root = out / scenario / DATA_DIR
            written, counts[scenario] = write_tree(ctx.read_image, rows, numbering, root)
            files += [f"{scenario}/{DATA_DIR}/{name}" for name in written]
        (out / "README.md").write_text(_readme(counts), encoding="utf-8")
        return [*files, "README.md"]

    def next_steps(self, out: Path) -> str:
        first = out / "clean" / DATA_DIR
        return (
            f"VLBiasBench's evaluation code reads {first} (one tree per scenario under {out}): run it "
            f"from its evaluation/ folder with `ln -s {first.resolve()} data`, or pass data_root=; score "
            f"its result.json files with `hvgen score vlbias RUN outputs/<model>/`."
        )


def _check_complete(scenario: str, rows: list[dict[str, Any]], union: Iterable[Mapping[str, Any]]) -> None:
    """The loader numbers close-ended samples by position, so a tree lacking some of a part's
    questions would shift every later id: refuse it instead of writing wrong ids."""
    everything = list(union)
    for part in (CLOSE_ENDED, OPEN_ENDED):
        have = {str(r["id"]) for r in rows if r["part"] == part}
        want = {str(r["id"]) for r in everything if r["part"] == part}
        if have and have != want:
            raise HvgenError(
                f"format vlbias: scenario '{scenario}' has {len(have)} of the {len(want)} {part} questions; "
                "the original loader numbers samples by position, so its ids would not match the other "
                "trees'. Re-run `hvgen scenario RUN` for it, or export without it."
            )


def write_tree(
    read_image: Callable[[str], bytes],
    rows: list[dict[str, Any]],
    numbering: Mapping[str, int],
    root: Path,
) -> tuple[list[str], dict[str, int]]:
    """Write one scenario's ``data/`` tree; returns the files (relative to `root`) and the number
    of samples per original dataset type (``close-ended/<category>`` or the open type)."""
    (root / CLOSE_DIR / "json").mkdir(parents=True, exist_ok=True)
    (root / CLOSE_DIR / "images").mkdir(parents=True, exist_ok=True)
    files: dict[str, list[dict[str, Any]]] = defaultdict(list)
    copied: dict[str, str] = {}  # destination → source, one copy per image
    for row in sorted(rows, key=lambda r: numbering[str(r["id"])]):
        source = str(row["_image_path"])
        file_name = PurePosixPath(source).name
        if row["part"] == CLOSE_ENDED:
            image_path = f"{row['category']}/{file_name}"
            destination = f"{CLOSE_DIR}/images/{image_path}"
            target = f"{CLOSE_DIR}/json/{close_json_path(row)}"
            files[target].append(_close_sample(row, numbering, image_path))
        else:
            target = open_annotation_path(open_type_of(row))
            destination = f"{PurePosixPath(target).parent}/images/{file_name}"
            files[target].append(_open_sample(row, numbering, destination))
        if copied.setdefault(destination, source) != source:
            raise HvgenError(f"format vlbias: two images would be written to {destination}.")
    # load_dataset.py opens the default open-ended type on import, even for a close-only run
    files.setdefault(open_annotation_path(DEFAULT_OPEN_TYPE), [])
    for destination, source in copied.items():
        target = root / destination
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(read_image(source))
    counts: dict[str, int] = defaultdict(int)
    for relative, samples in files.items():
        target = root / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        # ASCII json: the original opens files without an encoding (the platform's default)
        target.write_text(json.dumps(samples, indent=1) + "\n", encoding="ascii")
        for sample in samples:
            counts[sample.get("type") or f"close-ended/{sample['category']}"] += 1
    return sorted([*files, *copied]), dict(sorted(counts.items()))


def _close_sample(row: Mapping[str, Any], numbering: Mapping[str, int], image_path: str) -> dict[str, Any]:
    """One close-ended sample: the fields close_ended.py reads, then hvgen's for analysis."""
    sample = {
        "id": numbering[str(row["id"])],
        "hvgen_id": row["id"],
        "image_path": image_path,
        # close_ended.py writes context and question with nothing between them; the trailing
        # space keeps them two sentences ("...the mall. Did the person ...").
        "context": f"{row['context']} ",
        "question": row["question"],
        "ans0": row["ans0"],
        "ans1": row["ans1"],
        "ans2": row["ans2"],
        "label": row["label"],
        "condition": row["condition"],
    }
    sample.update({key: row.get(key) for key in _CLOSE_EXTRA})
    sample["scenario"] = row.get("scenario")
    sample["scenario_params"] = row.get("scenario_params")
    return sample


def _open_sample(row: Mapping[str, Any], numbering: Mapping[str, int], image: str) -> dict[str, Any]:
    """One open-ended sample: ``images`` relative to the data root and ``instruction``, as
    open_ended.py returns them, and an ``id`` run_evaluation.py keeps."""
    sample = {
        "id": numbering[str(row["id"])],
        "hvgen_id": row["id"],
        "images": [image],
        "instruction": row["instruction"],
        "type": open_type_of(row),
    }
    sample.update({key: row.get(key) for key in _OPEN_EXTRA})
    sample["scenario"] = row.get("scenario")
    sample["scenario_params"] = row.get("scenario_params")
    return sample


def _readme(counts: Mapping[str, Mapping[str, int]]) -> str:
    """A short guide beside the trees: what is where and how to run the original code on it."""
    lines = [
        "# VLBiasBench layout (hvgen export --format vlbias)",
        "",
        "One `data/` tree per scenario, laid out as the original evaluation code",
        "(github.com/Xiangkui-Cao/VLBiasBench, `evaluation/dataset/`) reads it. From its",
        "`evaluation/` folder: `ln -s <this folder>/clean/data data` (or pass `data_root=`), then",
        "`close_ended_dataset()` and `open_ended_dataset(type=...)` for gender, race,",
        "religious_ideology, profession-emo, profession-nohuman (`load_dataset.py` builds only",
        "religious_ideology).",
        "",
        "Every sample has an integer `id` (close-ended: its position in the loader's order, which is",
        "the id `run_evaluation.py` writes; open-ended ids continue after them). Score the",
        "`result.json` files with `hvgen score vlbias RUN outputs/<model>/` (bias metrics: hvgen's,",
        "BBQ definitions; the original repository ships no metric code).",
        "",
        "| scenario | dataset | samples |",
        "|---|---|---:|",
    ]
    for scenario, by_type in counts.items():
        for name, number in by_type.items():
            lines.append(f"| {scenario} | {name} | {number} |")
    return "\n".join(lines) + "\n"


__all__ = [
    "VLBiasReleaseFormat",
    "open_annotation_path",
    "open_type_of",
    "original_numbering",
    "original_order",
    "write_tree",
]
