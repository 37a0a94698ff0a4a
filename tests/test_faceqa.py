"""hvgen faceqa over two test-only sources (tests/faceqa_fixtures.py): answers are the labels,
balanced positions, leak-free splits, --per-label, the seen/unseen attribute split, the race
opt-in, errors, the export + licence gate (per-row images, push refusal) and the scorer."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from datasets import load_dataset
from faceqa_fixtures import write_test_celebs, write_test_clips, write_test_faces
from hvgen.generators.faceqa.questions import TASKS
from hvgen.generators.faceqa.scoring import parse_selection, score_predictions
from hvgen.generators.faceqa.splits import assign_splits

from hvgen.cli import main
from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.publish.hub import PushError, push_folder
from hvgen.readers.faces.base import FaceSample
from hvgen.stages.plan import plan_records, serialise_records


class FakeApi:
    """Records every Hub call (as tests/test_hub.py's)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def create_repo(self, repo_id, **kw):
        self.calls.append("create_repo")
        return f"https://huggingface.co/datasets/{repo_id}"

    def upload_folder(self, **kw):
        self.calls.append("upload_folder")


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    root = tmp_path_factory.mktemp("faces")
    faces, celebs = write_test_faces(root / "faces"), write_test_celebs(root / "celebs")
    clips = write_test_clips(root / "clips")
    return [f"test_faces={faces}", f"test_celebs={celebs}", f"test_clips={clips}"]


def every_split(folder: str, config: str):
    """All rows of an export config: Face QA writes one `load_dataset` split per partition."""
    from datasets import concatenate_datasets

    return concatenate_datasets(list(load_dataset(folder, config).values()))


def plan(sources: list[str], seed: int = 1, num: int = 100, **extra: object) -> list[dict]:
    options = {"source": sources, **extra}
    return plan_records(get_generator("faceqa")(PlanRequest(run_seed=seed, num=num, options=options)))


def test_answers_are_the_source_labels(sources: list[str]) -> None:
    records = plan(sources)
    assert {r["task"] for r in records} == {
        "attribute",
        "attribute_zero_shot",
        "age",
        "gender",
        "expression",
        "verification",
        "forgery",
        "forgery_method",
        "dynamic_expression",
    }
    for r in records:
        labels = json.loads(r["labels"])
        if r["task"] == "forgery":
            assert r["answer"] == {"real": "real", "fake": "manipulated"}[labels["forgery"]]
            assert sorted(r["options"]) == ["manipulated", "real"]
        elif r["task"] == "verification":
            assert r["answer"] == str(labels["same_person"]) and len(r["frames"]) == 1
        elif r["question_type"] == "multi choice":
            assert (
                r["answer"] == str(labels[r["label_key"]]) and r["options"][r["answer_index"]] == r["answer"]
            )
            assert len(set(r["options"])) == len(r["options"])
        elif r["question_type"] == "true or false":
            assert r["answer"] == str(labels["attributes"][r["attribute"]])
        elif r["question_type"] == "multi select":
            right = {i for i, option in enumerate(r["options"]) if r["answer"].count("ABCD"[i])}
            assert right == set(r["answer_indices"]) and 1 <= len(right) <= 3
        else:
            assert r["task"] == "age" and r["answer_value"] == labels["age"] == int(r["answer"])
        assert r["redistributable"] is (r["source"] != "test_celebs")
    # distractors come from the same source's label set: test_faces has 5 age bins only
    ages = {o for r in records if r["label_key"] == "age_bin" for o in r["options"]}
    assert ages == {"10-19", "20-29", "30-39", "40-49", "50-59"}
    # clips: 8 of 20 frames, uniformly spread (segment middles), the middle one as `image`
    clip = next(r for r in records if r["task"] == "forgery" and r["sample_id"] == "clip1")
    assert clip["source_frames"] == [f"clips/clip1/frame/{i}.png" for i in (1, 3, 6, 8, 11, 13, 16, 18)]
    assert clip["file_name"] == "clips/clip1/frame/11.png" and len(clip["frames"]) == 8
    methods = [r for r in records if r["task"] == "forgery_method"]
    assert methods and all(set(r["options"]) == {"Deepfakes", "FaceSwap"} for r in methods)
    assert {r["sample_id"] for r in methods} == {"clip1", "clip3", "clip5"}  # fakes only
    # files that do not decode (f003) or are missing (f005) are skipped, not asked about
    assert not {"f003.png", "f005.png"} & {r["sample_id"] for r in records}


def test_positions_balanced_and_plan_deterministic(sources: list[str]) -> None:
    records = plan(sources)
    by_wording: dict[tuple[str, str, int], Counter] = defaultdict(Counter)
    for r in records:
        if r["answer_index"] is not None:
            by_wording[(r["task"], r["question_type"], len(r["options"]))][r["answer_index"]] += 1
    for (_, _, size), counts in by_wording.items():
        spread = [counts.get(i, 0) for i in range(size)]
        assert max(spread) - min(spread) <= 1, (size, spread)  # dealt in rotation
    selects = Counter(len(r["answer_indices"]) for r in records if r["question_type"] == "multi select")
    assert set(selects) <= {1, 2, 3} and max(selects.values()) - min(selects.values()) <= 2
    assert serialise_records(records) == serialise_records(plan(sources))
    assert serialise_records(records) != serialise_records(plan(sources, seed=2))


def test_no_identity_crosses_splits(sources: list[str]) -> None:
    records = plan(sources)
    splits = defaultdict(set)
    for r in records:
        if r["identity"] is not None:
            splits[(r["source"], r["identity"])].add(r["split"])
    assert splits and all(len(s) == 1 for s in splits.values())
    # the release put p1's faces in train and test, and its pair with p2 in test: p1 moved whole to
    # test (3 of its 5 samples); p2 belongs to val, so the p1-p2 pair crosses splits and is left out
    assert splits[("test_celebs", "p1")] == {"test"} and splits[("test_celebs", "p2")] == {"val"}
    assert "pair-1" not in {r["sample_id"] for r in records}
    assert {r["split"] for r in records if r["sample_id"] == "pair-0"} == {"train"}
    samples = [FaceSample("s", f"i{n}", "face", (), {}, split=split, identity=who)
               for n, (split, who) in enumerate([("train", "a"), ("test", "a"), ("test", "a"),
                                                  ("val", "b"), ("train", "c")])]  # fmt: skip
    samples += [FaceSample("s", "ab", "pair", (), {}, split="test", pair_identities=("a", "b")),
                FaceSample("s", "cc", "pair", (), {}, split="val", pair_identities=("c",))]  # fmt: skip
    split_of, report = assign_splits(samples, 0, {"train": 0.8, "val": 0.1, "test": 0.1})
    assert split_of == {"i0": "test", "i1": "test", "i2": "test", "i3": "val", "i4": "train", "cc": "train"}
    assert (report.crossing_identities, report.moved_samples, report.dropped_samples) == (3, 2, 1)


def test_per_label_balances_each_task(sources: list[str]) -> None:
    records = plan(sources, per_label=2)
    expressions = Counter(r["answer"] for r in records if r["task"] == "expression")
    assert expressions == dict.fromkeys(
        ["neutral", "happiness", "sadness", "surprise", "fear", "disgust", "anger"], 2
    )
    genders = Counter((r["source"], r["answer"]) for r in records if r["task"] == "gender")
    assert set(genders.values()) == {2} and len(genders) == 4
    with pytest.raises(HvgenError, match="--per-label must be a whole number from 1"):
        plan(sources, per_label=0)


def test_seen_and_unseen_attributes_are_disjoint(sources: list[str]) -> None:
    records = plan(sources)
    unseen = {r["attribute"] for r in records if r["task"] == "attribute_zero_shot"}
    seen = {r["attribute"] for r in records if r["task"] == "attribute" and r["attribute"]}
    seen_options = {o for r in records if r["question_type"] == "multi select" for o in r["options"]}
    generator = get_generator("faceqa")(PlanRequest(run_seed=9, num=1, options={"source": sources}))
    assert unseen and seen and unseen <= set(generator.unseen) and not seen & unseen
    labels = {generator.rules["attributes"][a][0] for a in generator.unseen}
    assert not seen_options & labels and len(generator.unseen) == 8
    assert generator.unseen == get_generator("faceqa")(PlanRequest(1, 1, {})).unseen  # same in every run
    chosen = plan(sources, unseen_attributes="Eyeglasses,Bangs")
    assert {r["attribute"] for r in chosen if r["task"] == "attribute_zero_shot"} <= {"Eyeglasses", "Bangs"}
    with pytest.raises(HvgenError, match="did you mean 'Eyeglasses'"):
        plan(sources, unseen_attributes="Eyeglases")


def test_race_only_with_opt_in(sources: list[str]) -> None:
    assert not [r for r in plan(sources) if r["task"] == "race"]
    race = [r for r in plan(sources, include_race=True) if r["task"] == "race"]
    assert race and all(r["source"] == "test_faces" and "Test Faces" in r["question"] for r in race)


def test_bad_input_is_one_clear_error(sources: list[str], tmp_path: Path) -> None:
    with pytest.raises(HvgenError, match="unknown face source 'test_face'.*did you mean 'test_faces'"):
        plan(["test_face=" + sources[0].split("=")[1]])
    with pytest.raises(HvgenError, match="expected NAME=DIR"):
        plan(["test_faces"])
    with pytest.raises(HvgenError, match="no such folder"):
        plan([f"test_faces={tmp_path / 'absent'}"])
    with pytest.raises(HvgenError, match="labels.csv: missing"):  # check() runs before planning
        plan([sources[1], f"test_faces={tmp_path}"])
    with pytest.raises(HvgenError, match="cannot be combined with --source"):
        plan(sources, synthetic=True)
    with pytest.raises(HvgenError, match="needs --source NAME=DIR"):
        plan([])


def test_export_licence_gate_and_score(sources: list[str], tmp_path: Path) -> None:
    out = tmp_path / "run"
    given = [a for s in sources for a in ("--source", s)]
    main(["faceqa", "--quiet", "--out", str(out), *given])
    export = out / "export"
    rows = {}
    for task in TASKS:
        if task in ("race", "head_pose", "caption"):  # opt-in, synthetic-only, --captioner-only
            continue
        dataset = every_split(str(export), task)
        assert set(dataset["task"]) == {task}
        for row in dataset:
            # images of the non-redistributable source are not in the export; the others are
            assert (row["image"] is None) is (row["redistributable"] is False)
            if row.get("frames"):  # multi-image: the further images, in order
                assert (row["frame_images"] is None) is (row["redistributable"] is False)
                if row["frame_images"] is not None:
                    assert [im.size for im in row["frame_images"]] == [(16, 16)] * len(row["frames"])
            rows[row["id"]] = {k: v for k, v in row.items() if k not in ("image", "frame_images")}
    forgery = every_split(str(export), "forgery")
    assert len(forgery[0]["frame_images"]) == 8 and forgery[0]["frame_images"][0].getpixel((0, 0)) != (
        0,
        0,
        0,
    )
    assert not (export / "data" / "race").exists()
    card = (export / "README.md").read_text()
    assert (
        "| `test_celebs` | Test Celebs | research only (no redistribution) | **no** | @misc{testcelebs}"
        in card
    )
    assert "6 identities; 2 in more than one split of the release, moved whole (2 samples)" in card
    assert "1 pairs of people in different splits left out" in card
    assert "**Held-out (unseen) attributes**" in card and "--include-race" in card
    # the default export may be pushed; one holding a non-redistributable image may not
    api = FakeApi()
    push_folder(export, "me/faces", api=api, token="hf_x", large=False)
    assert api.calls == ["create_repo", "upload_folder"]
    with_images = tmp_path / "local"
    main(["faceqa", "--quiet", "--out", str(with_images), "--with-images", *given])
    assert every_split(str(with_images / "export"), "attribute")[0]["image"] is not None
    api = FakeApi()
    with pytest.raises(PushError, match="forbids redistribution.*nothing was uploaded"):
        push_folder(with_images / "export", "me/faces", api=api, token="hf_x", large=False)
    assert api.calls == []
    with pytest.raises(SystemExit) as refused:
        main(["push", str(with_images), "--repo-id", "me/faces", "--dry-run"])
    assert refused.value.code != 0
    # scoring: right letters / option text / numbers score 1; a malformed answer counts, never crashes
    records = list(rows.values())
    perfect = tmp_path / "perfect.jsonl"
    perfect.write_text("".join(json.dumps({"id": r["id"], "prediction": r["answer"],
                                           "probability": float(r["answer"] == "manipulated")}) + "\n"
                               for r in records))  # fmt: skip
    report = score_predictions(records, perfect)
    assert report["score"] == 100.0 and report["age_mae"] == 0.0 and not report["missing_ids"]
    assert set(report["by_source"]) == {"test_faces", "test_celebs", "test_clips"}
    assert len(report["items"]) == len(records)
    assert report["forgery_auc"] == {"test_clips": {"auc": 1.0, "questions": 6}}
    lines = [{"id": r["id"], "prediction": "I cannot tell"} for r in records[:3]]
    lines += [
        {"id": r["id"], "prediction": str(r["answer_value"] + 4)}
        for r in records
        if r["answer_value"] is not None
    ]
    lines += [{"id": "unknown", "prediction": "A"}]
    partial = tmp_path / "partial.jsonl"
    partial.write_text("".join(json.dumps(line) + "\n" for line in lines) + "not json\n")
    report = score_predictions(records, partial)
    assert report["malformed_predictions"] >= 1 and report["extra_ids"] == ["unknown"]
    assert len(report["malformed_lines"]) == 1 and report["age_mae"] == 4.0
    assert len(report["missing_ids"]) == len(records) - len(lines) + 1
    main(["score", "faceqa", str(export), str(partial), "--output", str(tmp_path / "report.json")])
    assert json.loads((tmp_path / "report.json").read_text())["age_mae"] == 4.0


def test_parse_selection() -> None:
    options = ["eyeglasses", "hat", "bangs", "goatee"]
    assert parse_selection("A, C", options) == {0, 2}
    assert parse_selection("B and D.", options) == {1, 3}
    assert parse_selection("(A) (B)", options) == {0, 1}
    assert parse_selection("The person wears a hat and has bangs", options) == {1, 2}
    assert parse_selection("no idea", options) is None
    assert parse_selection("D", options[:3]) is None


def test_tasks_are_export_configs() -> None:
    generator = get_generator("faceqa")(PlanRequest(1, 1, {}))
    assert [c.name for c in generator.export_configs(["clean"])] == list(TASKS)
    assert all(c.skip_if_empty for c in generator.export_configs(["clean"]))


def synthetic_plan(num: int, seed: int = 1) -> list[dict]:
    generator = get_generator("faceqa")(PlanRequest(run_seed=seed, num=num, options={"synthetic": True}))
    assert generator.supplies_images is False  # rendered, not copied
    return plan_records(generator)


def test_synthetic_attributes_are_balanced_and_in_the_prompt() -> None:
    records = synthetic_plan(24)
    faces = {r["image_id"]: (json.loads(r["labels"]), r["prompt"]) for r in records}
    assert len(faces) == 24 and {r["source"] for r in records} == {"synthetic"}
    labels = [face for face, _ in faces.values()]
    for axis, size in (("age_group", 4), ("gender", 2), ("hair", 4), ("head_pose", 3)):
        assert set(Counter(face[axis] for face in labels).values()) == {24 // size}, axis
    assert Counter(face["attributes"]["Eyeglasses"] for face in labels) == {True: 12, False: 12}
    for face, prompt in faces.values():
        assert (
            f"{face['hair']} hair" in prompt and ("eyeglasses" in prompt) == face["attributes"]["Eyeglasses"]
        )
        assert face["attributes"]["Smiling"] == (face["expression"] == "happiness")
        assert ("beard" in prompt) == (not face["attributes"]["No_Beard"])
        if face["gender"] == "female" or face["age_group"] == "child":
            assert face["attributes"]["No_Beard"]
    for r in records:
        if r["question_type"] == "multi choice":
            assert r["answer"] == str(json.loads(r["labels"])[r["label_key"]])
    assert {r["task"] for r in records} >= {"age", "gender", "expression", "head_pose", "attribute"}
    assert all(r["redistributable"] for r in records)


@pytest.mark.heavy
def test_synthetic_end_to_end_with_clip_label_check(tmp_path: Path) -> None:
    """Render 12 faces with the tiny model, check their labels with the tiny (random) CLIP: the
    build drops exactly the images where CLIP ranks another label's text first."""
    import torch
    from PIL import Image

    from hvgen.store.catalog import get_meta, open_catalog
    from hvgen.surrogate import load_surrogate

    out = tmp_path / "synthetic"
    main(["faceqa", "--synthetic", "--num", "12", "--model", "tiny", "--steps", "1", "--verify-clip", "tiny", "--quiet",
          "--out", str(out)])  # fmt: skip
    with open_catalog(out, read_only=True) as con:
        checked = get_meta(con, "build")["labels"]
        dropped = {
            row[0]
            for row in con.execute("SELECT id FROM drops WHERE reason = 'clip_contradicts_label'").fetchall()
        }
        images = dict(con.execute("SELECT image_id, path FROM images").fetchall())
    assert checked["checked_images"] == 12 and checked["dropped_images"] == len(dropped) < 12
    generator = get_generator("faceqa")(PlanRequest(run_seed=2024, num=12, options={"synthetic": True}))
    clip, processor = load_surrogate("tiny", "cpu")
    records = {r["image_id"]: r for r in plan_records(generator)}
    for image_id, path in images.items():  # the oracle: CLIP called here, not through the build stage
        image = Image.open(out / path).convert("RGB")
        agrees = []
        for texts, truth in generator.label_checks(records[image_id]):
            inputs = processor(text=texts, images=[image], return_tensors="pt", padding=True)
            with torch.inference_mode():
                agrees.append(int(clip(**inputs).logits_per_image[0].argmax()) == truth)
        assert (image_id in dropped) is not all(agrees)
    dataset = every_split(str(out / "export"), "head_pose")
    assert len(dataset) == 12 - len(dropped) and all(row["image"].size == (64, 64) for row in dataset)
    assert not {row["image_id"] for row in dataset} & dropped
    card = (out / "export" / "README.md").read_text()
    assert "license: cc-by-4.0" in card and "are **synthetic**" in card and "clip_contradicts_label" in card
    api = FakeApi()
    push_folder(out / "export", "me/synthetic-faces", api=api, token="hf_x", large=False)
    assert api.calls == ["create_repo", "upload_folder"]
    with pytest.raises(HvgenError, match="use it with --synthetic"):
        get_generator("faceqa")(PlanRequest(1, 1, {"source": [], "verify_clip": "tiny"}))


def test_licence_gate_reads_only_real_parquet_and_checks_image_once_pictures(tmp_path: Path) -> None:
    """The gate's convention on hand-made exports: any benchmark's rows marked
    redistributable = false must carry no image bytes, also in the image-once layout."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hvgen.publish.licence_gate import unredistributable_images

    export = tmp_path / "export"
    (export / "data" / "x").mkdir(parents=True)
    (export / "README.md").write_text("---\nlicense: other\n---\n")
    (export / "data" / "x" / "test-00000-of-00001.parquet").write_bytes(b"not parquet")
    assert unredistributable_images(export) == []
    questions = pa.table(
        {"id": ["a", "b"], "redistributable": [True, False], "image_file": ["p1.png", "p2.png"]}
    )
    pq.write_table(questions, export / "data" / "x" / "test-00000-of-00001.parquet")
    (export / "data" / "x_images").mkdir()
    pictures = pa.table({"image_file": ["p1.png"], "image": [{"bytes": b"png", "path": "p1.png"}]})
    pq.write_table(pictures, export / "data" / "x_images" / "test-00000-of-00001.parquet")
    assert unredistributable_images(export) == []  # only the redistributable picture is there
    pictures = pa.table({"image_file": ["p1.png", "p2.png"],
                         "image": [{"bytes": b"png", "path": "p1.png"}, {"bytes": b"png", "path": "p2.png"}]})  # fmt: skip
    pq.write_table(pictures, export / "data" / "x_images" / "test-00000-of-00001.parquet")
    assert unredistributable_images(export) == ["data/x_images/test-00000-of-00001.parquet: 1 pictures"]
    with pytest.raises(PushError, match="nothing was uploaded"):
        push_folder(export, "me/x", dry_run=True)


def test_frames_are_planned_images_and_verified_on_export(tmp_path: Path) -> None:
    """The engine's multi-image records: a clip's frames are planned, supplied and checked like
    primary images — a frame changed behind the stage's back, or missing, stops the export, and the
    commands the message names put the frame back."""
    import os

    from hvgen.stages.export import IncompleteRunError
    from hvgen.store.catalog import open_catalog

    clips = write_test_clips(tmp_path / "clips", count=2, frames=10)
    out = tmp_path / "run"
    main(["faceqa", "--quiet", "--frames", "4", "--source", f"test_clips={clips}", "--out", str(out)])
    with open_catalog(out, read_only=True) as con:
        frames = con.execute("SELECT DISTINCT unnest(frames).image_id FROM records").fetchall()
        planned = dict(con.execute("SELECT image_id, path FROM images").fetchall())
    assert len(frames) == 8 and {f for (f,) in frames} <= set(planned)  # 2 clips x 4 frames, all planned
    primary = {r["image_id"] for r in plan([f"test_clips={clips}"], seed=2024, frames=4)}
    frame_only = next(planned[f] for (f,) in frames if f not in primary)
    target = out / frame_only
    stat = target.stat()
    data = bytearray(target.read_bytes())
    data[-20] ^= 0xFF  # same size, same time, other bytes
    original = target.read_bytes()
    target.write_bytes(bytes(data))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    with pytest.raises(IncompleteRunError, match="1 of 8 images"):  # rewritten in place: not done
        _export(out)
    target.unlink()
    with pytest.raises(IncompleteRunError, match="1 of 8 images"):
        _export(out)
    main(["render", str(out), "--quiet"])
    main(["scenario", str(out), "--quiet"])
    _export(out)
    assert target.read_bytes() == original


def _export(out: Path) -> None:
    from hvgen.config import RunConfig
    from hvgen.pipeline import stage_export

    stage_export(out, RunConfig.load(out / "config.yaml"))


def test_multi_select_is_free_text_for_evaluation_toolkits() -> None:
    """VLMEvalKit and lmms-eval have no multi-select kind: "which apply" rows go out as VQA."""
    from hvgen.publish.formats.templates.task_utils import VQA, question_kind

    doc = {"id": "x", "options": ["a", "b", "c", "d"], "answer_index": None, "answer_indices": [0, 2]}
    assert question_kind(doc) == VQA
    with pytest.raises(ValueError, match="needs the index"):
        question_kind({**doc, "answer_indices": []})


def test_every_harness_export_evaluates_the_same_split(sources: list[str], tmp_path: Path, capsys) -> None:
    """Face QA exports every split; the VLMEvalKit files and the lmms-eval tasks both hold the test
    split (or the one --split names), and the card says which. A split the export lacks is refused."""
    import pandas as pd
    import yaml

    out = tmp_path / "run"
    main(["faceqa", "--quiet", "--out", str(out), *[a for s in sources for a in ("--source", s)]])
    split_of = {
        r["id"]: r["split"] for r in map(json.loads, (out / "records.jsonl").read_text().splitlines())
    }
    assert {"train", "test"} <= set(split_of.values())

    def harness_ids(split: str) -> tuple[set[str], set[str]]:
        tsv = {
            i for f in (out / "formats" / "vlmevalkit").glob("*.tsv") for i in pd.read_csv(f, sep="\t")["id"]
        }
        tasks = [yaml.safe_load(f.read_text().replace("!function", "")) for f in (out / "formats" / "lmms-eval").rglob("FaceQA_*.yaml")]  # fmt: skip
        assert tasks and {t["test_split"] for t in tasks} == {split}
        readme = (out / "formats" / "vlmevalkit" / "README.md").read_text()
        assert f"The files hold the `{split}` split only" in readme
        return tsv, {t["dataset_name"] for t in tasks}

    for split in (None, "train"):
        main(["export", str(out), "--quiet", "--format", "vlmevalkit", "--format", "lmms-eval",
              *(["--split", split] if split else [])])  # fmt: skip
        expected = split or "test"
        ids, configs = harness_ids(expected)
        wanted = {i for i, s in split_of.items() if s == expected}
        assert ids and ids <= wanted and len(ids) == len(wanted)  # every row of the split, no other
        card = (out / "export" / "README.md").read_text()
        assert f"evaluate the `{expected}` split only, in every config and both harnesses" in card
        assert "--split NAME" in card
    before = (out / "formats" / "lmms-eval").stat().st_mtime_ns
    with pytest.raises(SystemExit):
        main(["export", str(out), "--quiet", "--format", "lmms-eval", "--split", "holdout"])
    assert "--split holdout: the export has no such split" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["export", str(out), "--quiet", "--format", "lmms-eval", "--split", "no such"])
    assert "export.eval_split (--split) must be a split name" in capsys.readouterr().err
    assert (out / "formats" / "lmms-eval").stat().st_mtime_ns == before  # nothing rewritten
