"""`hvgen export RUN --format herm` on the COCO-format fixture: the export passes the static
re-statement of what Human-Centric-MLLM reads (`hcm_contract`) for every class × task and, with
HCM_DIR naming a checkout, HERM's own classes iterate every record and eval_inference.py's scorers
give a perfect model 1.0."""

from __future__ import annotations

import json
import os
from pathlib import Path

import hcm_contract as C
import pytest
from herm_coco import write_coco
from hvgen.generators.herm import release as R
from test_hcm_driver import needs_checkout, run_driver

from hvgen.cli import main


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("herm-export")
    coco = write_coco(root / "coco")
    out = root / "run"
    main(["herm", "--coco-keypoints", str(coco["keypoints"]), "--coco-instances", str(coco["instances"]),
          "--coco-captions", str(coco["captions"]), "--images", str(coco["images"]), "--out", str(out)])  # fmt: skip
    main(["export", str(out), "--format", "herm"])
    return out / "formats" / "herm"


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_release_names_equal_the_contracts() -> None:
    assert [(r.key, r.config, r.cls, r.task, r.file, r.template) for r in R.READERS] == [
        (r.key, r.config, r.cls, r.task, r.file, r.template) for r in C.READERS
    ]
    for name in ("IMAGES", "DENSE_CAPTION", "INSTANCE", "PARSING", "INSTRUCTION", "TEMPLATES", "EVAL_BBOX",
                 "EVAL_MULTI_BBOX", "EVAL_MULTICHOICE", "EVAL_TYPES", "CHOICE_KEYS", "GRID", "IOU_THRESHOLD"):  # fmt: skip
        assert getattr(R, name) == getattr(C, name), name
    for box in ([0.1, 0.2, 0.3, 0.4], [0.005, 0.0, 0.013, 0.02], [0.9, 0.95, 0.1, 0.05]):
        assert R.herm_grid_box(box) == C.herm_grid_box(box) and R.grid_iou(box) == pytest.approx(
            C.grid_iou(box)
        )


def test_the_export_passes_the_contract_for_every_class_and_task(exported: Path) -> None:
    report = C.check_export(exported)
    assert report.problems == [], [str(p) for p in report.problems]
    persons = lines(exported / C.INSTANCE)
    assert len(persons) == 6  # P1-P6 of the fixture (the tiny person and crowd are not asked about)
    for reader in C.READERS:
        if reader.file == C.PARSING:
            assert not (exported / C.PARSING).exists()  # no CIHP masks: not written, said in the README
            continue
        assert report.items[reader.key] == report.lines[reader.file] > 0, reader.key
    for person in persons:
        assert set(person) == set(C.INSTANCE_FIELDS)
        assert all("." not in refer for refer in person["refer"])  # HERM's processors replace '.' by spaces
        assert person["refer"][-1].startswith("the person at {<")
    assert all(
        lines(exported / name) for name in (C.DENSE_CAPTION, C.INSTRUCTION, C.EVAL_BBOX, C.EVAL_MULTICHOICE)
    )
    assert all(
        "" not in (exported / name).read_text().split("\n")[:-1] for name in C.REQUIRED
    )  # no blank line


def test_facts_reach_the_person_records(exported: Path) -> None:
    persons = lines(exported / C.INSTANCE)
    by_box = {tuple(p["bbox"]): p for p in persons}
    p1, p2, p5 = by_box[(80, 80, 80, 340)], by_box[(280, 150, 120, 220)], None
    assert "holding a cup" in p1["modality"] and "standing" in p1["pose"]
    assert "sitting on a chair" in p2["modality"] and "sitting" in p2["pose"]
    assert any("riding a bicycle" in p["modality"] for p in persons)
    assert "relative to the person sitting on a chair, the person is to the left, in front" in p1["relation"]
    assert "nearest person is the person sitting on a chair" in p1["relation"]
    phrases = [p["appearance"].count("<p>") for p in persons]
    assert all(n == len(p["appearance_boxes"]) for n, p in zip(phrases, persons)) and p5 is None


def test_the_readme_and_the_left_out_questions(exported: Path) -> None:
    readme = (exported / "README.md").read_text()
    assert "true/false" in readme and "part_parsing.jsonl" in readme and "/tmp" not in readme
    for reader in C.READERS:
        if reader.file != C.PARSING:
            assert f"`{reader.key}`" in readme
    choice = lines(exported / C.EVAL_MULTICHOICE)
    assert all(all(f"{k}. " in row["question"] for k in "ABCD") for row in choice)
    for name in json.loads(json.dumps([r.template for r in C.READERS if r.template and r.file != C.PARSING])):
        assert (exported / "templates" / name).is_file()


def test_export_refuses_when_the_annotations_changed(
    exported: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The records are re-derived from the COCO files at export: a moved person is one clear error."""
    run = exported.parent.parent
    keypoints = run.parent / "coco" / "person_keypoints.json"
    saved = keypoints.read_text()
    data = json.loads(saved)
    data["annotations"][0]["bbox"][0] += 7
    keypoints.write_text(json.dumps(data))
    try:
        with pytest.raises(SystemExit):
            main(["export", str(run), "--format", "herm"])
    finally:
        keypoints.write_text(saved)
    assert "is not where the run planned it" in capsys.readouterr().err
    assert (exported / C.INSTANCE).is_file()  # the earlier export is untouched


@needs_checkout
def test_herms_own_code_reads_the_export_and_scores_a_perfect_model_one(exported: Path) -> None:
    report = run_driver(exported)
    assert report["static"]["problems"] == []
    runs = report["real"]["readers"]["runs"]
    assert runs and all(run["errors"] == [] for run in runs), runs
    for run in runs:
        assert run["items"] == run["lines"] == run["iterated"] == report["static"]["items"][run["key"]], run
    scores = {(f["file"], f["model"]): f for f in report["real"]["eval"]["files"]}
    for name in (C.EVAL_BBOX, C.EVAL_MULTICHOICE):
        assert scores[(name, "perfect")].get("accuracy") == 1.0, scores[(name, "perfect")]
    assert os.environ.get("HCM_DIR")
