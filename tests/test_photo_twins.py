"""Twins of photographic releases (`hvgen twins` on Face QA `--source` and HERM releases): another
photograph of the same label and stratum, and `hvgen contamination` on them.

The pairing machinery (hvgen.photo_twins) is checked on its own first (fast); then a Face QA
release over the test sources (tests/faceqa_fixtures.py) and a HERM release over the COCO fixture
repeated four times (tests/herm_coco.py) are twinned end to end (heavy): every twin has its
released question's task, label and stratum, shows no released image or person, repeats no
other twin, is the same for the same seed; questions without a partner are listed with a reason;
and the contamination report runs on simulated answers, with the photographic caveat.
"""

from __future__ import annotations

import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from faceqa_fixtures import write_test_celebs, write_test_clips, write_test_faces
from herm_coco import write_coco

from hvgen.cli import main
from hvgen.errors import HvgenError
from hvgen.photo_twins import (
    ALL_TAKEN,
    NO_CANDIDATE,
    PHOTO_TWIN_METHOD,
    TWIN_FIELD,
    Candidate,
    Wanted,
    pair_photographs,
)

LETTERS = "ABCD"


# ------------------------------------------------------------------ the pairing on its own


def _pairing(seed: int, candidates: list[Candidate], wanted: list[Wanted], **kw: Any) -> Any:
    def make(item: Wanted, candidate: Candidate) -> dict[str, Any]:
        return {"id": item.record["id"], "image_id": candidate.images[0], "key": candidate.key}

    return pair_photographs(
        wanted, candidates, seed, make=make, **{"released_images": set(), "released_people": set(), **kw}
    )


def _world() -> tuple[list[Wanted], list[Candidate]]:
    wanted = [
        Wanted({"id": f"q{i}", "image_id": f"r{i // 2}"}, ("age", i % 3), f"age={i % 3}") for i in range(12)
    ]
    wanted.append(Wanted({"id": "cap", "image_id": "r0"}, None, reason="a caption"))
    candidates = [Candidate(f"c{j}", ("age", j % 3), (f"img{j}",), (f"p{j % 7}",)) for j in range(30)]
    return wanted, candidates


def test_pairing_is_deterministic_without_replacement_and_keeps_the_stratum() -> None:
    wanted, candidates = _world()
    first = _pairing(1, candidates, wanted)
    assert first.records == _pairing(1, list(reversed(candidates)), list(reversed(wanted))).records
    assert first.records != _pairing(2, candidates, wanted).records
    keys = [record["key"] for record in first.records]
    assert len(keys) == len(set(keys)) == 12  # no candidate twice
    stratum = {w.record["id"]: w.stratum for w in wanted}
    by_key = {c.key: c for c in candidates}
    for record in first.records:
        assert by_key[record["key"]].stratum == stratum[record["id"]]
        assert record[TWIN_FIELD]["method"] == PHOTO_TWIN_METHOD
    assert first.unpaired == {"cap": "a caption"}


def test_pairing_never_shows_the_release_and_lists_who_is_left_out() -> None:
    wanted, candidates = _world()
    released_images = {f"img{j}" for j in range(0, 30, 2)}
    pairing = _pairing(3, candidates, wanted, released_images=released_images, released_people={"p1"})
    by_key = {c.key: c for c in candidates}
    for record in pairing.records:
        candidate = by_key[record["key"]]
        assert not set(candidate.images) & released_images and "p1" not in candidate.people
    # each twin image serves one released image only
    owners: dict[str, set[str]] = defaultdict(set)
    for record in pairing.records:
        owners[record["image_id"]].add(record[TWIN_FIELD]["release_image_id"])
    assert all(len(found) == 1 for found in owners.values())
    # a stratum with no candidate, and one whose candidates are all taken
    wanted.append(Wanted({"id": "lonely", "image_id": "r9"}, ("age", 99), "age=99"))
    few = [Candidate("only", ("gender", "f"), ("g1",))]
    greedy = [Wanted({"id": f"g{i}", "image_id": f"s{i}"}, ("gender", "f"), "") for i in range(2)]
    pairing = _pairing(1, few, [*wanted, *greedy])
    assert pairing.unpaired["lonely"] == NO_CANDIDATE
    assert sorted(pairing.unpaired.values()).count(ALL_TAKEN) == 1
    assert pairing.reasons()[NO_CANDIDATE] >= 13


def test_a_candidate_that_does_not_fit_or_decode_is_skipped() -> None:
    wanted, candidates = _world()
    broken = {"c0", "c3"}
    pairing = pair_photographs(
        wanted, candidates, 1, released_images=set(), released_people=set(),
        make=lambda item, c: None if c.key == "c6" else {"id": item.record["id"], "key": c.key},
        usable=lambda c: c.key not in broken,
    )  # fmt: skip
    assert not {"c0", "c3", "c6"} & {record["key"] for record in pairing.records}


def test_which_releases_are_photographs() -> None:
    from hvgen.generator import get_generator

    faceqa = get_generator("faceqa")
    assert faceqa.photographic({"source": ["fairface=<local: ff>"], "synthetic": False})
    assert not faceqa.photographic({"source": [], "synthetic": True})  # rendered faces: redrawn
    assert get_generator("herm").photographic({}) and not get_generator("dysca").photographic({})


# ------------------------------------------------------------------ Face QA


def records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def faces(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("face-twins")
    sources = [
        f"test_faces={write_test_faces(root / 'faces', count=120)}",
        f"test_celebs={write_test_celebs(root / 'celebs')}",
        f"test_clips={write_test_clips(root / 'clips', count=5)}",
    ]
    flags = [part for spec in sources for part in ("--source", spec)]
    release, twins = root / "release", root / "twins"
    main(["faceqa", *flags, "--num", "5", "--out", str(release)])
    main(["twins", str(release / "export"), "--out", str(twins), *flags])
    return {"root": root, "flags": flags, "release": release, "twins": twins}


@pytest.mark.heavy
def test_face_twins_ask_the_released_question_of_another_face_of_its_stratum(faces: dict[str, Any]) -> None:
    release, twins = records(faces["release"]), records(faces["twins"])
    by_id = {r["id"]: r for r in release}
    released_images = {r["image_id"] for r in release} | {f["image_id"] for r in release for f in r["frames"]}
    released_people = {r["identity"] for r in release if r["identity"]}
    assert twins and len(twins) < len(release)
    for twin in twins:
        ours = by_id[twin["id"]]
        for key in (
            "task",
            "question_type",
            "question",
            "options",
            "answer_index",
            "source",
            "split",
            "label_key",
        ):
            assert twin[key] == ours[key], key
        if twin["question_type"] != "free form":
            assert twin["answer"] == ours["answer"]
        labels, released_labels = json.loads(twin["labels"]), json.loads(ours["labels"])
        if twin["attribute"]:
            assert str(labels["attributes"][twin["attribute"]]) == twin["answer"]
        elif twin["question_type"] == "multi choice":
            assert labels[twin["label_key"]] == released_labels[twin["label_key"]]
        assert twin["image_id"] not in released_images and twin["sample_id"] != ours["sample_id"]
        assert twin["identity"] is None or twin["identity"] not in released_people
        assert twin[TWIN_FIELD]["method"] == PHOTO_TWIN_METHOD
        assert twin[TWIN_FIELD]["release_image_id"] == ours["image_id"]
    # no twin repeats: a face asked one task once; a twin face stands for one released face
    asked = [(t["sample_id"], t["task"], t["question_type"]) for t in twins]
    assert len(asked) == len(set(asked))
    owners: dict[str, set[str]] = defaultdict(set)
    for twin in twins:
        owners[twin["image_id"]].add(by_id[twin["id"]]["image_id"])
    assert all(len(found) == 1 for found in owners.values())


@pytest.mark.heavy
def test_face_twins_without_a_partner_are_listed_with_a_reason(faces: dict[str, Any]) -> None:
    release, twins = records(faces["release"]), records(faces["twins"])
    listed = json.loads((faces["twins"] / "twins" / "unpaired.json").read_text())
    missing = {r["id"] for r in release} - {t["id"] for t in twins}
    assert {entry["id"] for entry in listed["unpaired"]} == missing
    assert sum(listed["reasons"].values()) == len(missing)
    # every clip of the test source is in the release: no clip is left to be a twin
    clips = {r["id"] for r in release if r["source"] == "test_clips"}
    assert clips and clips <= missing
    assert {entry["reason"] for entry in listed["unpaired"] if entry["id"] in clips} == {NO_CANDIDATE}
    card = (faces["twins"] / "export" / "README.md").read_text()
    assert "another photograph of the same label and stratum" in card
    assert f"{len(twins)} of the {len(release)} released questions have a twin" in card
    assert (
        str(faces["root"]) not in card
        and str(faces["root"]) not in (faces["twins"] / "twins" / "unpaired.json").read_text()
    )


@pytest.mark.heavy
def test_face_twins_are_the_same_for_the_same_seed(faces: dict[str, Any], tmp_path: Path) -> None:
    for source in (faces["release"], faces["release"] / "export"):
        out = tmp_path / f"again-{source.name}"
        main(["twins", str(source), "--out", str(out), *faces["flags"], "--dry-run"])
        assert (out / "records.jsonl").read_bytes() == (faces["twins"] / "records.jsonl").read_bytes()
    main(
        [
            "twins",
            str(faces["release"]),
            "--out",
            str(tmp_path / "seed2"),
            *faces["flags"],
            "--seed",
            "2",
            "--dry-run",
        ]
    )
    other = {r["id"]: r["image_id"] for r in records(tmp_path / "seed2")}
    ours = {r["id"]: r["image_id"] for r in records(faces["twins"])}
    assert other != ours


@pytest.mark.heavy
def test_face_twins_refuse_sources_that_are_not_the_release_s(
    faces: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from hvgen.twins.command import make_twins

    with pytest.raises(SystemExit) as exit_info:  # on the command line: one line, exit 2, nothing made
        main(["twins", str(faces["release"]), "--out", str(tmp_path / "twins"), *faces["flags"][:4]])
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert (
        exit_info.value.code == 2 and len(errors) == 1 and "--source test_clips=DIR is missing" in errors[0]
    )

    release, flags = faces["release"] / "export", faces["flags"]
    specs = flags[1::2]
    cases = [
        ({}, "need the release's sources"),
        ({"source": specs[:2]}, "--source test_clips=DIR is missing"),
        ({"source": [*specs[:2], specs[2] + ",fold=2"]}, "differ from the release"),
        ({"images": "x"}, "not a Face QA option"),
    ]
    other = write_test_faces(tmp_path / "other", count=3)  # a folder without the release's faces
    cases.append(({"source": [f"test_faces={other}", *specs[1:]]}, "is not in this folder as it was"))
    for given, message in cases:
        with pytest.raises(HvgenError, match=message):
            make_twins(release, tmp_path / "twins", sources=given, dry_run=True)
        assert not (tmp_path / "twins").exists()
    with pytest.raises(HvgenError, match="not renders"):
        make_twins(release, tmp_path / "twins", sources={"source": specs}, render={"model": "tiny"})


@pytest.mark.heavy
def test_a_twin_run_whose_pairing_was_edited_is_refused(faces: dict[str, Any], tmp_path: Path) -> None:
    from hvgen.config import RunConfig
    from hvgen.stages.plan import plan_generator

    out = tmp_path / "twins"
    main(["twins", str(faces["release"]), "--out", str(out), *faces["flags"], "--dry-run"])
    paired = out / "twins" / "photographs.jsonl"
    paired.write_text(paired.read_text().replace('"task": "age"', '"task": "gender"'))
    generator = plan_generator(out, RunConfig.load(out / "config.yaml"))
    with pytest.raises(HvgenError, match="is not the twins this run paired"):
        list(generator.plan().records)


def _simulated(run: Path, p_right: float, seed: int) -> dict[str, str]:
    """A model's answers to the choice questions of a run: right with probability `p_right`."""
    rng = random.Random(seed)
    answers = {}
    for record in records(run):
        if not record["options"] or record.get("answer_index") is None and not record.get("answer_indices"):
            continue
        right = rng.random() < p_right
        if record["question_type"] == "multi select":
            answers[record["id"]] = record["answer"] if right else LETTERS[len(record["options"]) - 1] + ", A"
        else:
            index = record["answer_index"] if right else (record["answer_index"] + 1) % len(record["options"])
            answers[record["id"]] = f"({LETTERS[index]})"
    return answers


def _contamination(release: Path, twins: Path, tmp_path: Path) -> dict[str, Any]:
    """Two clean models and one that memorised the release, through `hvgen contamination`."""
    options = []
    for index, (model, p_release, p_twins) in enumerate(
        (("a", 0.6, 0.6), ("b", 0.7, 0.7), ("memo", 1.0, 0.5))
    ):
        files = []
        for side, run, p in (("release", release, p_release), ("twins", twins, p_twins)):
            path = tmp_path / f"{model}-{side}.jsonl"
            lines = [
                {"id": key, "prediction": answer}
                for key, answer in _simulated(run, p, 10 * index + len(side)).items()
            ]
            path.write_text("".join(json.dumps(line) + "\n" for line in lines))
            files.append(path)
        options += ["--predictions", f"{model}={files[0]},{files[1]}"]
    out = tmp_path / "report.json"
    main(["contamination", "--release", str(release), "--twins", str(twins), *options, "--json", str(out)])
    return json.loads(out.read_text())


@pytest.mark.heavy
def test_contamination_on_face_twins_says_it_compares_two_samples_of_a_stratum(
    faces: dict[str, Any], tmp_path: Path
) -> None:
    from hvgen.analysis.contamination.report import PHOTO_CAVEAT, notes

    report = _contamination(faces["release"], faces["twins"], tmp_path)
    assert report["twin_kind"] == "photograph" and "two samples of one stratum" in report["method"]
    assert PHOTO_CAVEAT in notes(report) and report["n_release_questions_without_twin"] > 0
    assert report["models"]["memo"]["overall"]["gap"] > 0.3
    assert report["models"]["memo"]["overall"]["p_value"] < 0.05


# ------------------------------------------------------------------ HERM


@pytest.fixture(scope="module")
def herm(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("herm-twins")
    coco = write_coco(root / "coco", copies=4)
    flags = ["--coco-keypoints", str(coco["keypoints"]), "--coco-instances", str(coco["instances"]),
             "--coco-captions", str(coco["captions"]), "--images", str(coco["images"])]  # fmt: skip
    release, twins = root / "release", root / "twins"
    main(["herm", *flags, "--num", "3", "--out", str(release)])
    main(["twins", str(release / "export"), "--out", str(twins), *flags])
    return {"root": root, "flags": flags, "release": release, "twins": twins}


@pytest.mark.heavy
def test_herm_twins_keep_task_level_aspect_and_answer_from_another_photograph(herm: dict[str, Any]) -> None:
    release, twins = records(herm["release"]), records(herm["twins"])
    by_id = {r["id"]: r for r in release}
    released_coco = {r["coco_image_id"] for r in release}
    assert twins and len(twins) < len(release)
    seen = set()
    owners: dict[str, set[str]] = defaultdict(set)
    for twin in twins:
        ours = by_id[twin["id"]]
        for key in ("task", "level", "aspect", "question_type", "answer_index", "box_format"):
            assert twin[key] == ours[key], key
        if twin["question_type"] == "true or false" or (
            twin["question_type"] == "multi choice" and twin["aspect"] != "nearest"
        ):
            assert (twin["answer"], twin["options"]) == (ours["answer"], ours["options"])
        assert twin["coco_image_id"] not in released_coco
        assert twin[TWIN_FIELD]["method"] == PHOTO_TWIN_METHOD
        key = (twin["image_id"], twin["question"], twin["answer"], tuple(twin["options"]))
        assert key not in seen  # no twin repeats
        seen.add(key)
        owners[twin["image_id"]].add(ours["image_id"])
    assert all(len(found) == 1 for found in owners.values())
    listed = json.loads((herm["twins"] / "twins" / "unpaired.json").read_text())
    assert {e["id"] for e in listed["unpaired"]} == set(by_id) - {t["id"] for t in twins}


@pytest.mark.heavy
def test_herm_twins_are_deterministic_and_refuse_other_sources(herm: dict[str, Any], tmp_path: Path) -> None:
    from hvgen.twins.command import make_twins

    main(["twins", str(herm["release"]), "--out", str(tmp_path / "again"), *herm["flags"], "--dry-run"])
    assert (tmp_path / "again" / "records.jsonl").read_bytes() == (
        herm["twins"] / "records.jsonl"
    ).read_bytes()
    flags = dict(zip((f[2:].replace("-", "_") for f in herm["flags"][::2]), herm["flags"][1::2]))
    release = herm["release"] / "export"
    for given, message in (
        (
            {k: v for k, v in flags.items() if k != "images"},
            "need the release's COCO data: pass --images DIR",
        ),
        ({k: v for k, v in flags.items() if k != "coco_instances"}, "--coco-instances is missing"),
        ({**flags, "source": ["x=y"]}, "not a HERM option"),
    ):
        with pytest.raises(HvgenError, match=message):
            make_twins(release, tmp_path / "twins", sources=given, dry_run=True)
    other = write_coco(tmp_path / "small")  # the fixture once: the release's copies 2-4 are not in it
    released = {r["coco_image_id"] for r in records(herm["release"])}
    if max(released) > 10:
        with pytest.raises(HvgenError, match="not in it"):
            make_twins(
                release, tmp_path / "twins", sources={**flags, "coco_keypoints": str(other["keypoints"])}
            )
    assert not (tmp_path / "twins").exists()


@pytest.mark.heavy
def test_contamination_runs_on_herm_twins(herm: dict[str, Any], tmp_path: Path) -> None:
    report = _contamination(herm["release"], herm["twins"], tmp_path)
    assert report["twin_kind"] == "photograph"
    assert set(report["models"]) == {"a", "b", "memo"}
    assert report["models"]["memo"]["overall"]["gap"] > 0.3
