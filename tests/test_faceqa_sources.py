"""hvgen faceqa over every real reader's fixture (tests/face_sources.py): each source's release
layout → one run → every task config exported and read back by `load_dataset`; no identity in
two splits; the licence gate holds for the sources that forbid redistribution."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest
from datasets import load_dataset
from face_sources import write_all_sources

from hvgen.cli import main
from hvgen.publish.licence_gate import unredistributable_images


def _hvgen(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as done:
        return int(done.code or 0)
    return 0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("face-sources")
    sources = write_all_sources(root / "data")
    out = root / "run"
    args = [arg for name, folder in sorted(sources.items()) for arg in ("--source", f"{name}={folder}")]
    assert _hvgen("faceqa", *args, "--num", "40", "--frames", "2", "--out", str(out)) == 0
    return out


@pytest.mark.heavy
def test_every_reader_feeds_the_export_and_load_dataset_reads_every_config(run: Path) -> None:
    card = (run / "export" / "README.md").read_text(encoding="utf-8")
    configs = [
        line.split(":", 1)[1].strip() for line in card.splitlines() if line.startswith("- config_name:")
    ]
    expected = {"attribute", "age", "gender", "expression", "verification", "forgery", "forgery_method"}
    assert expected <= set(configs), configs
    assert "dynamic_expression" in configs
    sources_seen = set()
    for name in configs:
        splits = load_dataset(str(run / "export"), name)  # one load_dataset split per official partition
        assert sum(table.num_rows for table in splits.values()) > 0, name
        for split, table in splits.items():
            assert set(table["split"]) == {split}, (name, split)
            sources_seen |= set(table["source"])
    # every reader contributed questions (the `images` source has no labels, so no question)
    with duckdb.connect(str(run / "catalog.duckdb"), read_only=True) as con:
        planned = {row[0] for row in con.execute("SELECT DISTINCT source FROM records").fetchall()}
    assert planned == sources_seen
    assert planned >= {"fairface", "utkface", "celeba", "rafdb", "affectnet", "ferplus", "lfw", "ffpp",
                       "celebdf", "dfdc", "ffiw", "dfew", "mafw", "ferv39k"}  # fmt: skip


@pytest.mark.heavy
def test_no_identity_crosses_splits_and_restricted_images_stay_home(run: Path) -> None:
    splits: dict[tuple[str, str], set[str]] = defaultdict(set)
    for line in (run / "records.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for identity in [record.get("identity"), *record.get("pair_identities", [])]:
            if identity:
                splits[(record["source"], identity)].add(record["split"])
    assert splits and all(len(found) == 1 for found in splits.values()), {
        key: found for key, found in splits.items() if len(found) > 1
    }
    assert unredistributable_images(run / "export") == []  # only FairFace's images are embedded


def test_reader_options_follow_the_folder(tmp_path: Path) -> None:
    from face_sources import write_dfew, write_ffpp
    from hvgen.generators.faceqa.sources import open_readers, parse_source_specs

    from hvgen.errors import HvgenError

    dfew, ffpp = write_dfew(tmp_path / "dfew"), write_ffpp(tmp_path / "ffpp")
    specs = parse_source_specs([f"dfew={dfew},fold=1", f"ffpp={ffpp},methods=Deepfakes+FaceSwap"])
    assert specs["dfew"].options == {"fold": "1"}
    assert specs["ffpp"].options == {"methods": ["Deepfakes", "FaceSwap"]}
    readers = open_readers(specs)
    methods = {s.labels.get("manipulation") for s in readers["ffpp"].samples()}
    assert methods == {None, "Deepfakes", "FaceSwap"}
    with pytest.raises(HvgenError, match="unknown option 'fld'; the dfew reader takes fold, frames_cache"):
        parse_source_specs([f"dfew={dfew},fld=2"])


@pytest.mark.heavy
def test_captioner_annotates_every_face_apart_from_labels(tmp_path: Path) -> None:
    """--captioner tiny (a random LLaVA, built offline, loaded through from_pretrained) over
    FairFace and a plain image folder: every face is annotated once, each record of a face carries
    its annotation marked model-generated, the source labels are untouched. A random model's
    replies do not parse, so no caption question is asked of them (the next test asks them)."""
    from face_sources import write_fairface, write_images

    from hvgen.annotate import read_annotations
    from hvgen.models import cache_dir

    fairface, images = write_fairface(tmp_path / "fairface"), write_images(tmp_path / "images")
    out = tmp_path / "run"
    sources = ["--source", f"fairface={fairface}", "--source", f"images={images}"]
    assert _hvgen("faceqa", *sources, "--captioner", "tiny", "--num", "4", "--out", str(out)) == 0
    logs = sorted((cache_dir() / "faceqa-annotations").glob("*.jsonl"), key=lambda p: p.stat().st_mtime)
    annotations = read_annotations(logs[-1])
    assert {key.split(":")[0] for key in annotations} == {"fairface", "images"}
    assert all(a.model_generated and a.generated_by == "hvgen/tiny-vlm-v1" for a in annotations.values())
    records = [json.loads(line) for line in (out / "records.jsonl").read_text(encoding="utf-8").splitlines()]
    for record in records:
        annotation = json.loads(record["vlm_annotation"])
        assert annotation["model_generated"] is True
        assert annotation["caption"] == annotations[record["prompt"]].caption
        assert "vlm" not in record["labels"] and "caption" not in json.loads(record["labels"])
    asked = sum(1 for a in annotations.values() if a.caption)
    assert sum(r["task"] == "caption" for r in records) == asked


def test_caption_task_answers_with_the_models_caption(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The caption task on parsed annotations (a real VLM's; here written by hand): one question
    per face, its answer the caption, unlabelled faces included; `hvgen score faceqa` skips them."""
    from face_sources import write_fairface, write_images
    from hvgen.generators.faceqa.scoring import score_predictions

    from hvgen.annotate import Annotation
    from hvgen.generator import PlanRequest, get_generator
    from hvgen.stages.plan import plan_records

    fairface, images = write_fairface(tmp_path / "fairface"), write_images(tmp_path / "images")
    cls = get_generator("faceqa")
    monkeypatch.setattr("hvgen.annotate.check_captioner", lambda name: None)

    def annotate(self, faces):  # what annotate_images returns for a model that answers well
        return {
            face.prompt: Annotation(face.prompt, str(face.prompt), f"a face from {face.prompt}", ["smiling"], "parsed",
                                    "reply", "some/vlm", "face.j2@0", {"mode": "greedy"})
            for face in faces if face.sample.kind == "face"
        }  # fmt: skip

    monkeypatch.setattr(cls, "_annotate", annotate)
    options = {"source": [f"fairface={fairface}", f"images={images}"], "captioner": "some/vlm"}
    records = plan_records(cls(PlanRequest(run_seed=3, num=4, options=options)))
    captions = [r for r in records if r["task"] == "caption"]
    assert {r["source"] for r in captions} == {"fairface", "images"}
    assert all(
        r["answer"] == f"a face from {r['prompt']}" and r["question_type"] == "image caption"
        for r in captions
    )
    assert {r["source"] for r in records if r["task"] != "caption"} == {
        "fairface"
    }  # no labels, no labelled task
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text("".join(json.dumps({"id": r["id"], "prediction": "A"}) + "\n" for r in records))
    report = score_predictions(records, predictions)
    assert report["captions_not_scored"] == len(captions) and report["extra_ids"] == []


def _toliststr(value: str) -> list[str]:
    """VLMEvalKit's vlmeval/smp/misc.py `toliststr`, re-stated: a '[...]' cell is a Python list."""
    import ast

    return (
        [str(item) for item in ast.literal_eval(value)]
        if value.startswith("[") and value.endswith("]")
        else [value]
    )


@pytest.mark.heavy
def test_harness_formats_carry_every_image_of_a_multi_image_question(run: Path) -> None:
    """VLMEvalKit: a pair / clip row holds lists in `image` and `image_path` (ImageBaseDataset
    reads them with toliststr); lmms-eval: the task evaluates the test split and doc_to_visual
    gives the image, then the frames — or says why a withheld image is missing."""
    import base64
    import io
    import sys

    import yaml
    from PIL import Image
    from test_format_vlmevalkit import load_like_vlmevalkit

    assert _hvgen("export", str(run), "--format", "vlmevalkit", "--format", "lmms-eval") == 0
    records = {
        json.loads(line)["id"]: json.loads(line)
        for line in (run / "records.jsonl").read_text("utf-8").splitlines()
    }
    tsvs = sorted((run / "formats" / "vlmevalkit").glob("*forgery_MCQ.tsv"))
    assert tsvs
    data = load_like_vlmevalkit(tsvs[0])
    for _, line in data.iterrows():
        images, paths = _toliststr(line["image"]), _toliststr(line["image_path"])
        assert len(images) == len(paths) == 1 + len(records[line["id"]]["frames"]) == 3  # image + --frames 2
        assert Image.open(io.BytesIO(base64.b64decode(images[-1]))).size == (16, 16)

    folder = run / "formats" / "lmms-eval"
    (task_file,) = folder.glob("*/*_forgery.yaml")
    assert yaml.load(task_file.read_text(), Loader=yaml.BaseLoader)["test_split"] == "test"
    sys.path.insert(0, str(task_file.parent))
    try:
        import utils  # the task folder's utils.py, as lmms-eval imports it
    finally:
        sys.path.remove(str(task_file.parent))
        sys.modules.pop("utils", None)
    frame = Image.new("RGB", (8, 8))
    assert len(utils.doc_to_visual({"id": "x", "image": frame, "frame_images": [frame, frame]})) == 3
    with pytest.raises(ValueError, match="forbids redistribution.*--with-images"):
        utils.doc_to_visual({"id": "x", "image": None})
