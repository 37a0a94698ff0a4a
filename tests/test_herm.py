"""hvgen herm on a small COCO-format fixture: readers and their errors, the plan's facts,
determinism, the end-to-end export read back by `datasets`, and the scorer."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_dataset
from herm_coco import write_coco
from hvgen.generators.herm.questions import TASKS
from hvgen.generators.herm.scoring import parse_box, parse_choice, score_predictions

from hvgen.cli import main
from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.readers.coco import read_people
from hvgen.stages.plan import plan_records, serialise_records


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_coco(tmp_path_factory.mktemp("coco"))


def options(coco: dict[str, Path], **extra: object) -> dict[str, object]:
    return {"coco_keypoints": str(coco["keypoints"]), "coco_instances": str(coco["instances"]),
            "coco_captions": str(coco["captions"]), "images": str(coco["images"]), **extra}  # fmt: skip


def plan(coco: dict[str, Path], seed: int = 1, **extra: object) -> list[dict]:
    generator = get_generator("herm")(PlanRequest(run_seed=seed, num=100, options=options(coco, **extra)))
    return plan_records(generator)


def test_reader_counts_crowd_and_tiny_people(coco: dict[str, Path]) -> None:
    data = read_people(coco["keypoints"], coco["instances"], coco["captions"], min_area=1024)
    assert data.counts["crowd_regions"] == 1 and data.counts["tiny_persons"] == 1
    assert [p.id for p in data.images[3].people] == [6]
    assert data.images[3].crowd == 1 and data.images[3].tiny == 1
    assert sorted(o.category for o in data.images[1].objects) == ["chair", "cup"]
    assert data.images[1].captions == ["A photo with people, number 1."]
    # a smaller minimum keeps the tiny person
    assert [p.id for p in read_people(coco["keypoints"], min_area=100).images[3].people] == [6, 8]


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["annotations"][0].update(bbox=[1, 2, 3]), "image 1: field 'bbox'"),
        (lambda d: d["annotations"][1].update(keypoints=[0] * 50), "image 1: field 'keypoints'"),
        (lambda d: d["annotations"][0].update(image_id=77), "image 77: field 'image_id'"),
        (lambda d: d["images"][0].update(file_name=None), "image 1: field 'file_name'"),
        (lambda d: d.update(categories=[{"id": 1, "name": "dog"}]), "no category named 'person'"),
    ],
)
def test_broken_records_are_one_clear_error(
    coco: dict[str, Path], tmp_path: Path, mutate, message: str
) -> None:
    data = json.loads(coco["keypoints"].read_text())
    mutate(data)
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(data))
    with pytest.raises(HvgenError, match=message) as error:
        read_people(broken)
    assert str(broken) in str(error.value)


def test_truncated_file_is_a_clear_error(coco: dict[str, Path], tmp_path: Path) -> None:
    broken = tmp_path / "cut.json"
    broken.write_bytes(coco["keypoints"].read_bytes()[:3000])
    with pytest.raises(HvgenError, match="not valid JSON"):
        read_people(broken)


def test_plan_facts_match_the_hand_computed_answers(coco: dict[str, Path]) -> None:
    records = plan(coco)
    counting = {r["coco_image_id"]: r["answer"] for r in records if r["task"] == "counting"}
    assert counting == {1: "3", 2: "2"}  # image 3 has a crowd region and a tiny person: no count
    poses = {
        r["person_id"]: r["answer"]
        for r in records
        if r["aspect"] == "pose" and r["question_type"] == "multi choice"
    }
    expected = {1: "standing", 2: "sitting", 3: "bending", 4: "lying", 5: "standing", 6: "standing"}
    assert poses and all(expected[p] == answer for p, answer in poses.items())
    captions = " ".join(r["answer"] for r in records if r["task"] == "dense_caption")
    for phrase in ("holding a cup", "sitting on a chair", "riding a bicycle", "bending", "lying"):
        assert phrase in captions
    rec = [r for r in records if r["task"] == "inst_rec"]
    assert rec and all(r["answer_box"] == r["person_box"] for r in rec)
    # image 2: P4 is the leftmost / lying one, P5 the rightmost / standing one / riding a bicycle
    assert {r["person_id"] for r in rec if r["coco_image_id"] == 2} == {4, 5}
    assert {r["coco_image_id"] for r in records} == {1, 2, 3}  # image 4 does not decode
    assert Counter(r["task"] for r in records).keys() == set(TASKS)
    for r in records:
        if r["question_type"] == "multi choice":
            assert (
                len(set(r["options"])) == len(r["options"]) and r["options"][r["answer_index"]] == r["answer"]
            )


def test_positions_are_balanced_and_plan_is_deterministic(coco: dict[str, Path]) -> None:
    records = plan(coco)
    tf = Counter(r["answer"] for r in records if r["question_type"] == "true or false")
    assert abs(tf["True"] - tf["False"]) <= len({r["aspect"] for r in records}) + 3
    assert serialise_records(records) == serialise_records(plan(coco))
    assert serialise_records(records) != serialise_records(plan(coco, seed=2))


def test_minigptv2_box_format(coco: dict[str, Path]) -> None:
    records = plan(coco, box_format="minigptv2")
    grounding = [r for r in records if r["question_type"] == "grounding"]
    assert grounding and all(r["answer"].startswith("{<") for r in grounding)
    assert parse_box(grounding[0]["answer"]) == pytest.approx(grounding[0]["answer_box"], abs=0.011)


def test_missing_images_folder_and_bad_options(coco: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(HvgenError, match="none of the annotated images"):
        plan(coco, images=str(tmp_path))
    with pytest.raises(HvgenError, match="--box-format"):
        plan(coco, box_format="xyxy")
    with pytest.raises(HvgenError, match="--coco-instances .*no such file"):
        plan(coco, coco_instances=str(tmp_path / "missing.json"))
    with pytest.raises(HvgenError, match="needs --coco-keypoints"):
        get_generator("herm")(PlanRequest(run_seed=1, num=5, options={"images": str(tmp_path)}))
    # `hvgen list` builds every generator without inputs: that must work
    assert "standing" in get_generator("herm")(PlanRequest(run_seed=0, num=1, options={})).listings()["poses"]


def test_fact_recall_of_a_description() -> None:
    from hvgen.generators.herm.scoring import fact_recall

    reference = "a large person on the left, standing, raising both arms, holding a cup"
    assert (
        fact_recall("A large person on the left,  standing, raising both arms, holding a cup.", reference)
        == 1.0
    )
    assert fact_recall("a large person on the left who is standing", reference) == 0.5
    assert fact_recall("a cat", reference) == 0.0 and fact_recall("anything", "") == 0.0


def test_parsers() -> None:
    assert parse_choice("B", ["x", "y"]) == 1
    assert parse_choice("(A) standing", ["standing", "sitting"]) == 0
    assert parse_choice("the person is sitting.", ["standing", "sitting"]) == 1
    assert parse_choice("D", ["x", "y"]) is None and parse_choice(None, ["x"]) is None
    assert parse_box("at [0.1, 0.2, 0.3, 0.4]") == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert parse_box("<|box_start|>(100,200),(400,600)<|box_end|>") == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert parse_box("{<10><20><40><60>}") == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert parse_box("somewhere") is None


@pytest.mark.heavy
def test_end_to_end_export_load_and_score(coco: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["herm", "--coco-keypoints", str(coco["keypoints"]), "--coco-instances", str(coco["instances"]),
            "--coco-captions", str(coco["captions"]), "--images", str(coco["images"]), "--out", str(out)]  # fmt: skip
    main(args)
    main(["build", str(out)])  # dedup and stats through the engine's build stage (nothing is a duplicate)
    export = out / "export"
    card = (export / "README.md").read_text()
    assert "1 that do not decode" in card and "CC BY 4.0" in card
    rows = {}
    for task in TASKS:
        dataset = load_dataset(str(export), task, split="test")
        assert len(dataset) > 0 and set(dataset["task"]) == {task}
        rows.update({row["id"]: row for row in dataset.remove_columns("image")})
        assert dataset[0]["image"].size == (640, 480)
    records = [r for r in rows.values()]
    # a perfect prediction file scores 100 %: letters for choices, box text for grounding
    perfect = tmp_path / "perfect.jsonl"
    perfect.write_text("".join(
        json.dumps({"id": r["id"], "prediction": "ABCD"[r["answer_index"]] if r["options"] else r["answer"]}) + "\n"
        for r in records))  # fmt: skip
    report = score_predictions(records, perfect)
    assert report["overall_accuracy"] == 1.0 and report["malformed_predictions"] == 0
    assert all(row["mean_iou"] in (None, 1.0) for row in report["table"])
    # boxes shifted right by half their width: IoU = (w/2) / (3w/2) = 1/3 < 0.5, all wrong
    shifted = tmp_path / "shifted.jsonl"
    lines = []
    for r in records:
        if r["question_type"] == "grounding":
            x, y, w, h = r["answer_box"]
            lines.append({"id": r["id"], "prediction": [x + w / 2, y, w, h]})
        elif r["options"]:
            lines.append({"id": r["id"], "prediction": r["answer"]})  # the option's text
        elif r["task"] == "inst_identify":  # the description's first fact only
            lines.append({"id": r["id"], "prediction": r["answer"].split(",")[0].upper()})
    lines.append({"id": "nonsense"})
    shifted.write_text("".join(json.dumps(line) + "\n" for line in lines) + "not json\n")
    report = score_predictions(records, shifted)
    grounding = [row for row in report["table"] if row["question_type"] == "grounding"]
    assert grounding and all(row["accuracy"] == 0.0 and row["mean_iou"] == pytest.approx(1 / 3, abs=0.01)
                             for row in grounding)  # fmt: skip
    assert all(row["accuracy"] == 1.0 for row in report["table"] if row["question_type"] != "grounding"
               and row["task"] != "inst_identify")  # fmt: skip
    identify = [row for row in report["table"] if row["task"] == "inst_identify"]
    facts = [len(r["answer"].split(",")) for r in records if r["task"] == "inst_identify"]
    assert len(identify) == 1 and identify[0]["accuracy"] == 0.0 and min(facts) > 1
    assert identify[0]["fact_recall"] == pytest.approx(sum(1 / n for n in facts) / len(facts), abs=1e-4)
    assert len(report["malformed_lines"]) == 2
    main(["score", "herm", str(export), str(shifted), "--output", str(tmp_path / "report.json")])
    # push warns about image 2's NonCommercial licence, unless the export holds no images
    herm = get_generator("herm")
    assert herm.publish_warnings(out, {}) == [
        "1 of 3 images to upload carry a licence that restricts reuse (1 Attribution-NonCommercial License); "
        "check that you may redistribute them, or rebuild with --no-images to publish annotations only."
    ]
    assert herm.publish_warnings(out, {"no_images": True}) == []
    assert {r["license"] for r in records if r["coco_image_id"] == 2} == {"Attribution-NonCommercial License"}
    assert json.loads((tmp_path / "report.json").read_text())["iou_threshold"] == 0.5


@pytest.mark.heavy
def test_no_images_export_with_sam_masks(coco: dict[str, Path], tiny_sam: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    main(["herm", "--coco-keypoints", str(coco["keypoints"]), "--images", str(coco["images"]), "--no-images",
          "--sam", str(tiny_sam), "--out", str(out)])  # fmt: skip
    dataset = load_dataset(str(out / "export"), "pose", split="test")
    assert "image" not in dataset.column_names
    assert dataset[0]["file_name"].endswith(".jpg") and dataset[0]["coco_url"].startswith("http://")
    card = (out / "export" / "README.md").read_text()
    assert "holds no images" in card and "SAM" in card
    parts = load_dataset(str(out / "export"), "part_rec", split="test")
    masks = [row["answer_mask"] for row in parts if row["question_type"] == "grounding"]
    assert masks and all(mask["size"] == [480, 640] and mask["counts"] for mask in masks)


@pytest.mark.heavy
def test_bench_script_runs_small(tmp_path: Path) -> None:
    import subprocess
    import sys

    script = Path(__file__).resolve().parents[1] / "scripts" / "bench_herm.py"
    done = subprocess.run([sys.executable, str(script), "--instances", "40"], capture_output=True, text=True,
                          timeout=300, cwd=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    assert "peak RSS" in done.stdout and "questions in" in done.stdout


def test_restricted_licences() -> None:
    from hvgen.generators.herm.licences import restricted_licence as _restricted

    assert _restricted("Attribution-NonCommercial-ShareAlike License")
    assert _restricted("Attribution-NoDerivs License") and _restricted("unknown")
    assert not _restricted("Attribution License") and not _restricted("No known copyright restrictions")


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random SAM (transformers SamModel + SamProcessor), saved and reloaded from a folder."""
    import torch
    from transformers import (
        SamConfig,
        SamImageProcessor,
        SamMaskDecoderConfig,
        SamModel,
        SamProcessor,
        SamPromptEncoderConfig,
        SamVisionConfig,
    )

    vision = SamVisionConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, mlp_dim=64, image_size=64,
                             patch_size=16, output_channels=16, window_size=2, global_attn_indexes=[1], num_pos_feats=8)  # fmt: skip
    prompt = SamPromptEncoderConfig(hidden_size=16, image_size=64, patch_size=16, mask_input_channels=4)
    decoder = SamMaskDecoderConfig(hidden_size=16, num_attention_heads=2, mlp_dim=32, iou_head_hidden_dim=16)
    config = SamConfig(vision_config=vision.to_dict(), prompt_encoder_config=prompt.to_dict(),
                       mask_decoder_config=decoder.to_dict())  # fmt: skip
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-sam")
    SamModel(config).save_pretrained(folder)
    SamProcessor(
        SamImageProcessor(size={"longest_edge": 64}, pad_size={"height": 64, "width": 64})
    ).save_pretrained(folder)
    return folder


def test_rle_round_trip_and_coco_string() -> None:
    import numpy as np
    from hvgen.generators.herm.masks import decode_rle, encode_rle

    assert encode_rle(np.array([[0, 1], [1, 1]], bool)) == {"size": [2, 2], "counts": "13"}
    big = np.zeros((300, 400), bool)
    big[10:290, 5:395] = True
    # first run: 5 empty columns of 300 + 10 rows = 1510 -> 5-bit groups 6, 15, 1 -> "V_1"
    assert encode_rle(big)["counts"].startswith("V_1")
    rng = np.random.default_rng(0)
    for _ in range(20):
        mask = rng.random((int(rng.integers(1, 30)), int(rng.integers(1, 30)))) < rng.random()
        assert (decode_rle(encode_rle(mask)) == mask).all()


def test_rle_matches_pycocotools() -> None:
    import numpy as np
    from hvgen.generators.herm.masks import encode_rle

    coco_mask = pytest.importorskip("pycocotools.mask")
    rng = np.random.default_rng(1)
    for _ in range(20):
        mask = rng.random((int(rng.integers(1, 60)), int(rng.integers(1, 60)))) < rng.random()
        reference = coco_mask.encode(np.asfortranarray(mask.astype(np.uint8)))
        assert encode_rle(mask)["counts"] == reference["counts"].decode()
        assert (coco_mask.decode(encode_rle(mask)) == mask).all()


def test_sam_masks_on_a_tiny_model(coco: dict[str, Path], tiny_sam: Path, tmp_path: Path) -> None:
    from hvgen.generators.herm.masks import decode_rle

    records = plan(coco, sam=str(tiny_sam))
    grounding = [r for r in records if r["question_type"] == "grounding"]
    assert grounding and all(r["answer_mask"]["size"] == [480, 640] for r in grounding)
    assert all(decode_rle(r["answer_mask"]).shape == (480, 640) for r in grounding)
    assert all(r["answer_mask"] is None for r in records if r["question_type"] != "grounding")
    assert serialise_records(records) == serialise_records(plan(coco, sam=str(tiny_sam)))
    with pytest.raises(HvgenError, match="--sam"):
        plan(coco, sam=str(tmp_path / "no-such-model"))


@pytest.mark.heavy
def test_tasks_without_questions_are_left_out(coco: dict[str, Path], tmp_path: Path) -> None:
    # seed 1 and --num 1 plan image 3 alone: a crowd region, so no counting and no referring expression
    out = tmp_path / "run"
    main(["herm", "--seed", "1", "--num", "1", "--coco-keypoints", str(coco["keypoints"]),
          "--images", str(coco["images"]), "--out", str(out)])  # fmt: skip
    configs = sorted(path.name for path in (out / "export" / "data").iterdir())
    assert "counting" not in configs and "inst_rec" not in configs and "pose" in configs
    card = (out / "export" / "README.md").read_text()
    assert "`counting`" not in card
    for name in configs:
        assert len(load_dataset(str(out / "export"), name, split="test")) > 0


def test_an_image_that_does_not_decode_is_skipped_logged_and_counted(
    coco: dict[str, Path], tmp_path: Path
) -> None:
    """A truncated JPEG passes the plan's header check but fails to decode when supplied: the run
    goes on, the skip is logged (a resume does not retry it), build drops the image and its
    questions, and the card counts them."""
    import shutil

    from hvgen.store.catalog import open_catalog

    data = tmp_path / "coco"
    shutil.copytree(coco["images"].parent, data)
    images = data / coco["images"].name
    victim = images / "000000000001.jpg"
    victim.write_bytes(victim.read_bytes()[: victim.stat().st_size // 2])
    out = tmp_path / "run"
    args = ["herm", "--coco-keypoints", str(data / coco["keypoints"].name), "--images", str(images),
            "--out", str(out)]  # fmt: skip
    main(args)
    with open_catalog(out, read_only=True) as con:
        skipped = con.execute("SELECT image_id, skip_reason FROM renders WHERE path IS NULL").fetchall()
        assert (
            len(skipped) == 1 and "000000000001.jpg" in skipped[0][1] and "does not decode" in skipped[0][1]
        )
        total = con.execute("SELECT count(*) FROM records").fetchone()[0]
        lost = con.execute("SELECT count(*) FROM records WHERE image_id = ?", [skipped[0][0]]).fetchone()[0]
        kept = con.execute("SELECT count(*) FROM kept_records").fetchone()[0]
    assert lost > 0 and kept == total - lost
    exported = sum(len(load_dataset(str(out / "export"), task, split="test")) for task in TASKS
                   if (out / "export" / "data" / task).is_dir())  # fmt: skip
    assert exported == kept
    card = (out / "export" / "README.md").read_text()
    assert (
        f"Skipped: 1 source image(s) did not decode; they and their {lost} question(s) are left out." in card
    )
    main(["build", str(out)])  # build drops the image and its questions, with reasons
    with open_catalog(out, read_only=True) as con:
        drops = dict(con.execute("SELECT reason, count(*) FROM drops GROUP BY 1").fetchall())
        assert con.execute("SELECT count(*) FROM kept_records").fetchone()[0] == kept
    assert drops == {"unreadable_source": 1, "dropped_image": lost}
    manifest = sorted((out / "manifests").glob("render.*.jsonl"))
    before = sum(len(path.read_text().splitlines()) for path in manifest)
    main([*args, "--quiet"])  # a resume: nothing is retried, nothing is logged again
    assert sum(len(path.read_text().splitlines()) for path in manifest) == before


def test_help_offers_only_the_options_a_benchmark_can_use(capsys: pytest.CaptureFixture[str]) -> None:
    """HERM copies photographs: no text-to-image or perturbation option in its --help, and
    passing one is an error rather than silently ignored; Dysca, which renders, keeps them."""

    from hvgen.cli.options import OPTION_GROUPS, common_options

    main(["herm", "--help"])
    herm_help = capsys.readouterr().out  # --synthetic renders: the model options, no perturbation
    for option in ("--scenario", "--corruptions", "--attack"):
        assert option not in herm_help, option
    for option in ("--coco-keypoints", "--synthetic", "--model", "--controlnet", "--num", "--out", "--seed"):
        assert option in herm_help, option
    with pytest.raises(SystemExit) as exit_info:
        main(["herm", "--scenario", "blur", "--out", "runs/x"])
    assert exit_info.value.code != 0
    main(["dysca", "--help"])
    dysca_help = capsys.readouterr().out
    assert all(option in dysca_help for option in ("--model", "--steps", "--corruptions"))

    class RendersToo(get_generator("herm")):  # a generator that both copies and renders photographs
        cli_option_groups = frozenset({"text_to_image"})

    names = {param.name for param in common_options(RendersToo)}
    assert set(OPTION_GROUPS["text_to_image"]) <= names and not set(OPTION_GROUPS["perturbations"]) & names


def test_a_truncated_source_image_is_refused_even_if_a_library_allows_them(tmp_path: Path) -> None:
    """lmms-eval sets PIL's LOAD_TRUNCATED_IMAGES for the whole process on import; the supply
    stage must still refuse a truncated photograph (seen in a full CI run)."""
    from PIL import Image, ImageFile

    from hvgen.stages.supply import UnreadableSourceError, load_source_image

    path = tmp_path / "photo.jpg"
    Image.new("RGB", (64, 64), "red").save(path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(UnreadableSourceError, match="does not decode"):
            load_source_image(path)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # the process's setting is given back
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_grounding_is_scored_by_iou_from_any_box_format_and_reports_what_did_not_parse(
    tmp_path: Path,
) -> None:
    """hvgen.boxes reads the model's box (MiniGPT-v2 grid, Qwen2-VL, a pixel list); IoU > 0.5 is right."""
    record = {"question_type": "grounding", "task": "inst_rec", "level": "instance", "options": [],
              "answer_index": None, "answer_box": [0.1, 0.2, 0.3, 0.4], "width": 1000, "height": 500}  # fmt: skip
    predictions = {"a": "{<10><20><40><60>}", "b": "<|box_start|>(100,200),(400,600)<|box_end|>",
                   "c": [100, 100, 300, 200], "d": "{<60><60><90><90>}", "e": "somewhere", "f": "[5, 6]"}  # fmt: skip
    records = [{**record, "id": key} for key in predictions]
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps({"id": k, "prediction": v}) + "\n" for k, v in predictions.items()))
    report = score_predictions(records, path)
    (row,) = report["table"]
    assert (
        row["accuracy"] == pytest.approx(3 / 6) and row["malformed"] == 2
    )  # a, b, c right; d wrong; e, f unread
    assert row["mean_iou"] == pytest.approx(3 / 6, abs=1e-3)
    assert [p["id"] for p in report["grounding_problems"]] == ["e", "f"]
    # each answered question's score, as `hvgen contamination` and `hvgen quality` pair them
    assert report["items"] == {"a": 1.0, "b": 1.0, "c": 1.0, "d": 0.0, "e": 0.0, "f": 0.0}
    assert "no box found" in report["grounding_problems"][0]["problems"][0]
