"""Twins of Face QA's photographs (`hvgen twins` on a `--source` release): the released question —
same wording, options, answer position — asked of another face of the same source and split whose
labels make the same answer right.

The stratum of a question: its source, split, task, question kind and number of frames, and the
label values that decide its answer — the label itself (an age bin, a gender, an expression, real
or manipulated, same person or not), the attribute a true/false statement names and its truth, the
truth of every attribute a "which apply" question offers, the decade of an age asked as a number
(the twin's answer is then its own age). A face of a person the release shows is never a twin
(where the source names identities), nor any released image. Caption questions (a model's
description of one face) have no twin.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hvgen.errors import HvgenError
from hvgen.photo_twins import Candidate, Pairing, Wanted, described, pair_photographs
from hvgen.records import Record
from hvgen.seeding import stable_id

from .questions import CAPTION, FREE_FORM, MULTI_CHOICE, MULTI_SELECT, TASK_LABELS, TRUE_OR_FALSE
from .sources import Face, _split_options, absolute_source_spec, decodes, face_of, has_files, open_readers
from .splits import _identities, assign_splits


def twin_options(released: dict[str, Any], given: dict[str, Any]) -> dict[str, Any]:
    """The release's options with the user's `--source` folders: the same sources (names and
    reader options) as the release, or a one-line refusal."""
    unknown = sorted(key for key, value in given.items() if value and key != "source")
    if unknown:
        raise HvgenError(
            f"--{unknown[0].replace('_', '-')} is not a Face QA option; its photographs come from --source."
        )
    theirs = _by_name(released.get("source") or [])
    specs = list(given.get("source") or [])
    if not specs:
        raise HvgenError(
            "twins of Face QA photographs need the release's sources: pass --source NAME=DIR for each of "
            f"{', '.join(sorted(theirs)) or 'its sources'} (the folders given to `hvgen faceqa`)."
        )
    ours = _by_name(specs)
    for name in sorted(set(theirs) | set(ours)):
        if name not in ours:
            raise HvgenError(
                f"--source {name}=DIR is missing: the release draws faces from {name}; pass its folder."
            )
        if name not in theirs:
            raise HvgenError(
                f"--source {name}: not a source of the release ({', '.join(sorted(theirs))}); a twin comes from "
                "the same source as its released face."
            )
        if ours[name] != theirs[name]:
            raise HvgenError(
                f"--source {name}: reader options {ours[name] or '(none)'} differ from the release's "
                f"{theirs[name] or '(none)'}; pass the same ones, or the faces would not be the release's."
            )
    return {**released, "source": [absolute_source_spec(spec) for spec in specs]}


def _by_name(specs: list[str]) -> dict[str, dict[str, str]]:
    """NAME=DIR[,KEY=VALUE] specs → name → the reader options that choose samples (folders are
    not compared — they move — nor a path option such as a frames cache)."""
    out = {}
    for spec in specs:
        name, _, rest = str(spec).partition("=")
        options = _split_options(rest)[1]
        paths = _path_options(name.strip())
        out[name.strip()] = {key: value for key, value in options.items() if key not in paths}
    return out


def _path_options(name: str) -> set[str]:
    """The keyword options of a face reader that name a file or folder."""
    import inspect

    from hvgen.readers.faces.base import face_reader

    try:
        parameters = inspect.signature(face_reader(name).__init__).parameters
    except HvgenError:
        return set()
    return {key for key, param in parameters.items() if "Path" in str(param.annotation)}


@dataclass(frozen=True)
class _Pool:
    samples: dict[str, Any]
    split_of: dict[str, str]
    folder: Any
    info: Any


def face_twins(generator: Any, released: list[Record], seed: int) -> Pairing:
    """Pair every released question with a question about another face (see the module docstring);
    `generator` is the twin run's FaceQA, built with the user's --source folders."""
    from .questions import QuestionPlanner

    frames = generator.frames
    pools = {}
    for name, reader in open_readers(generator.source_specs_parsed, generator.follow_symlinks).items():
        samples = list(reader.samples())
        split_of, _ = assign_splits(samples, generator.request.run_seed, generator.rules["split_shares"])
        pools[name] = _Pool({s.sample_id: s for s in samples}, split_of, reader.source_folder(), reader.info)
    released_images: set[str] = set()
    released_people: set[str] = set()
    released_samples: set[tuple[str, str]] = set()
    for record in released:
        sample = _released_sample(record, pools, frames)
        released_people |= _identities(sample)
        released_samples.add((record["source"], record["sample_id"]))
        released_images |= {
            str(record["image_id"]),
            *(str(f["image_id"]) for f in record.get("frames") or []),
        }
    planner = QuestionPlanner(
        generator.templates, generator.rules, generator.request.run_seed, set(generator.unseen), {}
    )

    def candidates() -> Any:
        for name, pool in pools.items():
            for sample_id, sample in pool.samples.items():
                if (name, sample_id) in released_samples or sample_id not in pool.split_of:
                    continue
                if not has_files(sample, frames):
                    continue
                tasks = generator._tasks_of(sample)
                face = face_of(sample, pool.info, pool.split_of[sample_id], tasks, pool.folder, frames)
                images = (stable_id("faceqa-image", name, face.file_name),
                          *(stable_id("faceqa-image", name, f) for f in face.frame_files))  # fmt: skip
                people = tuple(sorted(_identities(sample)))
                for task in tasks:
                    yield Candidate(f"{name}:{sample_id}:{task}", (name, face.split, task, len(face.frame_files)),
                                    images, people, face)  # fmt: skip

    def make(item: Wanted, candidate: Candidate) -> Record | None:
        face: Face = candidate.payload
        record = item.record
        answer = _answer_for(record, face, planner)
        if answer is None:
            return None
        return {**record, **generator.face_fields(face), **answer}

    wanted = [_wanted(record) for record in released]
    decoded: dict[str, bool] = {}

    def usable(candidate: Candidate) -> bool:
        face: Face = candidate.payload
        key = f"{face.info.name}:{face.sample.sample_id}"
        if key not in decoded:
            decoded[key] = decodes(face.sample, frames)
        return decoded[key]

    return pair_photographs(wanted, candidates(), seed, released_images=released_images,
                            released_people=released_people, make=make, usable=usable)  # fmt: skip


def _released_sample(record: Record, pools: dict[str, _Pool], frames: int) -> Any:
    """The source sample a released question shows; refuse sources that do not hold it."""
    source, sample_id = str(record["source"]), str(record["sample_id"])
    if source not in pools:
        raise HvgenError(
            f"question {record['id']} shows a face of source '{source}': pass --source {source}=DIR."
        )
    pool = pools[source]
    sample = pool.samples.get(sample_id)
    face = (
        face_of(sample, pool.info, "", (), pool.folder, frames)
        if sample is not None and has_files(sample, frames)
        else None
    )
    if face is None or face.file_name != record["file_name"]:
        raise HvgenError(
            f"--source {source}: the release's face {sample_id} ({record['file_name']}) is not in this folder as it "
            "was: pass the folder (and reader options) the release was made from."
        )
    return sample


def _wanted(record: Record) -> Wanted:
    """A released question's stratum (coarse: the candidates' index) and its words."""
    if record["question_type"] == CAPTION:
        return Wanted(
            record, None, reason="a caption question: the answer is a model's description of that one face"
        )
    stratum = (
        str(record["source"]),
        str(record["split"]),
        str(record["task"]),
        len(record.get("frames") or []),
    )
    words = [("source", record["source"]), ("split", record["split"]), ("task", record["task"]),
             ("question", record["question_type"])]  # fmt: skip
    labels = json.loads(record["labels"])
    if record["question_type"] == FREE_FORM:
        words.append(("age decade", _decade(labels.get(record["label_key"]))))
    elif record.get("attribute"):
        words.append((str(record["attribute"]), record["answer"]))
    elif record["question_type"] == MULTI_SELECT:
        words.append(("options' truth", record["answer"]))
    else:
        words.append((str(record["label_key"]), labels.get(record["label_key"])))
    return Wanted(record, stratum, described(words))


def _decade(age: Any) -> str | None:
    return None if age is None else f"{int(age) // 10 * 10}s"


def _answer_for(record: Record, face: Face, planner: Any) -> dict[str, Any] | None:
    """The fields the twin changes besides its face ({} when the released answer holds for
    `face` as it is), or None when `face` does not fit the released question's stratum."""
    labels = face.sample.labels
    key = record["label_key"]
    released = json.loads(record["labels"])
    if next((k for k in TASK_LABELS[record["task"]] if labels.get(k) is not None), None) != key:
        return None  # the face is labelled otherwise (an age in years, not a bin)
    qtype = record["question_type"]
    if qtype == FREE_FORM:
        if _decade(labels[key]) != _decade(released.get(key)):
            return None
        return {"answer": str(int(labels[key])), "answer_value": int(labels[key])}
    if qtype == TRUE_OR_FALSE and record.get("attribute"):
        value = (labels.get("attributes") or {}).get(record["attribute"])
        return {} if value is not None and str(bool(value)) == record["answer"] else None
    if qtype == MULTI_SELECT:
        names = {planner.label(a): a for a in released.get("attributes") or {}}
        attributes = labels.get("attributes") or {}
        for index, option in enumerate(record["options"]):
            value = attributes.get(names.get(option, ""))
            if value is None or bool(value) != (index in record["answer_indices"]):
                return None
        return {}
    if qtype in (
        MULTI_CHOICE,
        TRUE_OR_FALSE,
    ):  # the label is the answer (or decides it: forgery, same person)
        return {} if str(labels[key]) == str(released.get(key)) else None
    return None
