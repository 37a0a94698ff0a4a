"""`hvgen herm --annotator MODEL --grounder MODEL`: model-written per-person text and phrase boxes,
cached, resumable and marked model-generated, on the COCO-format fixture with the tiny models."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import hcm_contract as C
import pytest
from herm_coco import PEOPLE, write_coco
from hvgen.generators.herm.annotator import AnnotatorSettings, _clip, clean_text, tag_phrases, untagged
from test_hcm_driver import needs_checkout, run_driver

from hvgen.annotate.captioner import Captioner
from hvgen.cli import main
from hvgen.errors import HvgenError, ModelLoadError
from hvgen.models import cache_dir

TINY_VLM = "model:hvgen/tiny-vlm-v1"
TINY_OWL = "model:hvgen/tiny-owlvit-v1"


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_coco(tmp_path_factory.mktemp("coco"))


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the annotator's generate batches (the real tiny model still answers)."""
    counted: list[int] = []
    real = Captioner.describe

    def describe(self: Captioner, images, prompts, decoding, seeds):  # type: ignore[no-untyped-def]
        counted.append(len(prompts))
        return real(self, images, prompts, decoding, seeds)

    monkeypatch.setattr(Captioner, "describe", describe)
    return counted


@pytest.fixture
def fresh_replies() -> None:
    """No cached reply from an earlier test (the tiny models themselves stay cached)."""
    shutil.rmtree(cache_dir() / "herm-annotations", ignore_errors=True)


def herm(coco: dict[str, Path], out: Path, *extra: str) -> Path:
    main(["herm", "--coco-keypoints", str(coco["keypoints"]), "--coco-instances", str(coco["instances"]),
          "--coco-captions", str(coco["captions"]), "--images", str(coco["images"]), "--num", "2",
          "--annotator", "tiny", "--annotator-max-new-tokens", "12", *extra, "--out", str(out), "--quiet"])  # fmt: skip
    main(["export", str(out), "--format", "herm", "--quiet"])
    return out / "formats" / "herm"


def persons(export: Path) -> list[dict]:
    return [json.loads(line) for line in (export / C.INSTANCE).read_text(encoding="utf-8").splitlines()]


# ------------------------------------------------------------------ light
def test_reply_cleaning_and_phrase_tags() -> None:
    assert clean_text("a\x00 red\ufffd  shirt\n") == "a red shirt"
    assert untagged("he <p>stands</p> up") == "he stands up"
    text, phrases = tag_phrases("a <P>red shirt</p>, a < p >red shirt</p>, <p></p> and <p>cap <p>x</p> </p>")
    assert phrases == ["red shirt", "x"]
    assert text.count("<p>") == 2 == text.count("</p>")
    assert _clip([0, 0, 50, 50], [10, 10, 100, 100]) == [10, 10, 40, 40]
    assert _clip([200, 200, 300, 300], [10, 10, 100, 100]) is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        (AnnotatorSettings("tiny", "tiny", threshold=float("nan")), "--grounder-threshold"),
        (AnnotatorSettings("tiny", "tiny", threshold=1.5), "--grounder-threshold"),
        (AnnotatorSettings("tiny", max_new_tokens=0), "--annotator-max-new-tokens"),
        (AnnotatorSettings("tiny", max_new_tokens=10**9), "--annotator-max-new-tokens"),
        (AnnotatorSettings("", "tiny"), "add --annotator MODEL"),
    ],
)
def test_options_are_range_checked(settings: AnnotatorSettings, message: str) -> None:
    with pytest.raises(HvgenError, match=message):
        settings.check()


def test_a_reply_cache_in_use_is_refused_clearly(tmp_path: Path) -> None:
    from hvgen.annotate.reply_cache import ReplyCache

    with ReplyCache(tmp_path / "replies.jsonl") as cache:
        cache.put_many({"k": "v"})
        with pytest.raises(HvgenError, match="another hvgen process is writing the reply cache"):
            ReplyCache(tmp_path / "replies.jsonl")
    with ReplyCache(tmp_path / "replies.jsonl") as cache:
        assert cache.get("k") == "v" and "k" in cache and cache.get("other") is None


def test_bad_model_names_fail_in_one_line(coco: dict[str, Path], tmp_path: Path) -> None:
    with pytest.raises(HvgenError, match=r"--annotator nonsense: unknown model"):
        AnnotatorSettings("nonsense").check_models()
    with pytest.raises(HvgenError, match=r"--grounder ./nowhere: the folder .* does not exist"):
        AnnotatorSettings("tiny", "./nowhere").check_models()
    with pytest.raises(SystemExit) as stopped:
        main(["herm", "--coco-keypoints", str(coco["keypoints"]), "--images", str(coco["images"]),
              "--annotator", "tiny", "--grounder-threshold", "inf", "--out", str(tmp_path / "run")])  # fmt: skip
    assert stopped.value.code != 0


@pytest.mark.heavy
def test_a_picture_that_does_not_decode_keeps_the_template_text(tmp_path: Path, fresh_replies: None) -> None:
    from hvgen.generators.herm.annotator import PersonAnnotator
    from hvgen.generators.herm.facts import person_facts

    from hvgen.readers.coco import read_people
    from hvgen.templating import TemplateSet

    coco = write_coco(tmp_path / "coco")
    entry = read_people(coco["keypoints"], None, None, 1024).images[1]
    templates = TemplateSet("herm", None)
    people = person_facts(entry, templates.read_yaml("herm.yaml"))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes((coco["images"] / entry.image.file_name).read_bytes()[:2000])
    annotator = PersonAnnotator(AnnotatorSettings("tiny"), templates, 0)
    try:
        assert annotator.annotate_image(people, truncated, (640, 480)) is None
    finally:
        annotator.close()
    assert any("did not decode" in note for note in annotator.notes())


@pytest.mark.heavy
def test_a_detector_of_another_kind_is_refused(tmp_path: Path) -> None:
    from hvgen.annotate.grounder import load_grounder
    from hvgen.annotate.tiny import tiny_vlm_path

    with pytest.raises(ModelLoadError, match="model_type 'llava' is not a detector"):
        load_grounder(str(tiny_vlm_path()))
    with pytest.raises(ModelLoadError, match="cannot load the model: it is not a local folder"):
        load_grounder("nobody/no-such-detector")


# ------------------------------------------------------------------ end to end with the tiny models
@pytest.mark.heavy
def test_tiny_annotator_and_grounder_end_to_end_cached_and_resumable(
    coco: dict[str, Path], tmp_path: Path, calls: list[int], fresh_replies: None
) -> None:
    first = herm(coco, tmp_path / "run1", "--grounder", "tiny")
    records = persons(first)
    assert records and len(calls) == len(records)  # one batch of four prompts per person
    assert set(calls) == {4}
    report = C.check_export(first)
    assert report.problems == [], [str(p) for p in report.problems]
    for person in records:
        assert all(isinstance(person[key], str) and person[key].strip() for key in C.INSTANCE_TEXTS)
        source = person["annotation_source"]
        assert set(source) == {*C.INSTANCE_TEXTS, "appearance_boxes"}
        assert all(source[key] in (TINY_VLM, "template") for key in ("pose", "modality", "relation"))
        assert source["appearance"].startswith(TINY_VLM) or source["appearance"] == "template"
    assert any(person["annotation_source"]["pose"] == TINY_VLM for person in records)
    card = (tmp_path / "run1" / "export" / "README.md").read_text()
    assert "hvgen/tiny-vlm-v1" in card and "model-generated" in card and "hvgen/tiny-owlvit-v1" in card
    assert "hvgen/tiny-vlm-v1" in (first / "README.md").read_text()
    assert str(tmp_path) not in card

    calls.clear()  # a second run reads every reply from the cache: no model call
    second = herm(coco, tmp_path / "run2", "--grounder", "tiny")
    assert calls == [] and persons(second) == records
    assert (tmp_path / "run2" / "export" / "README.md").read_text() == card  # the cache leaves no trace

    log = next((cache_dir() / "herm-annotations").glob("annotator-*.jsonl"))
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(b"".join(lines[:5]) + lines[5][:20])  # killed while appending: one batch and a torn line
    third = herm(coco, tmp_path / "run3", "--grounder", "tiny")
    assert len(calls) == len(records) - 1  # the first person's batch was kept; the rest asked again
    assert persons(third) == records


def tagged_describe(self: Captioner, images, prompts, decoding, seeds):  # type: ignore[no-untyped-def]
    """Fixed replies with <p> tags (the tiny VLM never writes any): the tiny OWL-ViT grounds them."""
    return [
        "a person in a <p>red shirt</p> and <p>blue jeans</p>, with a <p>red shirt</p> again"
        if "appearance" in prompt.lower() else "standing with arms down <p>x</p>"
        for prompt in prompts
    ]  # fmt: skip


@pytest.fixture(scope="module")
def tagged(coco: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Exports whose appearance replies carry phrases, grounded at threshold 0 (every best box
    counts) and 1 (none does); the fixed replies leave the reply cache afterwards."""
    root = tmp_path_factory.mktemp("tagged")
    shutil.rmtree(cache_dir() / "herm-annotations", ignore_errors=True)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(Captioner, "describe", tagged_describe)
            return {
                threshold: herm(
                    coco, root / threshold, "--grounder", "tiny", "--grounder-threshold", threshold
                )
                for threshold in ("0", "1")
            }
    finally:
        shutil.rmtree(cache_dir() / "herm-annotations", ignore_errors=True)


@pytest.mark.heavy
def test_grounded_phrases_lie_inside_the_person(tagged: dict[str, Path]) -> None:
    export = tagged["0"]
    report = C.check_export(export)
    assert report.problems == [], [str(p) for p in report.problems]
    records = persons(export)
    boxes_by_person = {tuple(bbox): bbox for _, bbox, _ in PEOPLE.values()}
    for person in records:
        assert person["appearance"].count("<p>") == 2 and len(person["appearance_boxes"]) == 2
        assert person["pose"] == "standing with arms down x"
        assert person["annotation_source"]["appearance_boxes"] == TINY_OWL
        assert person["annotation_source"]["appearance"] == TINY_VLM
        x, y, w, h = boxes_by_person[tuple(person["bbox"])]
        for entry in person["appearance_boxes"]:
            assert len(entry) == 1
            bx, by, bw, bh = entry[0]
            assert bw >= 1 and bh >= 1
            assert x - 1e-6 <= bx and y - 1e-6 <= by and bx + bw <= x + w + 1e-6 and by + bh <= y + h + 1e-6


@pytest.mark.heavy
def test_without_a_boxed_phrase_the_keypoint_parts_are_appended(tagged: dict[str, Path]) -> None:
    export = tagged["1"]  # no best box reaches score 1
    assert C.check_export(export).problems == []
    for person in persons(export):
        assert person["appearance_boxes"][:2] == [[], []] and len(person["appearance_boxes"]) > 2
        assert person["annotation_source"]["appearance"] == TINY_VLM + "+template"
        assert person["annotation_source"]["appearance_boxes"] == "keypoints"
    run_card = (export.parent.parent / "export" / "README.md").read_text()
    assert "left without a box" in run_card and "keypoint-boxed body parts were appended" in run_card


@needs_checkout
def test_herms_own_classes_read_the_model_annotated_export(tagged: dict[str, Path]) -> None:
    for export in tagged.values():
        report = run_driver(export)
        assert report["static"]["problems"] == []
        runs = report["real"]["readers"]["runs"]
        assert runs and all(run["errors"] == [] for run in runs), runs
        for run in runs:
            assert run["items"] == run["lines"] == run["iterated"] == report["static"]["items"][run["key"]], (
                run
            )


@pytest.fixture(scope="module")
def tiny_grounding_dino(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Grounding DINO (Swin backbone, BERT text model over a written letter
    vocabulary), saved with save_pretrained: `--grounder FOLDER` loads it like a downloaded one."""
    import torch
    from transformers import (
        BertConfig,
        BertTokenizerFast,
        GroundingDinoConfig,
        GroundingDinoForObjectDetection,
        GroundingDinoImageProcessor,
        GroundingDinoProcessor,
        SwinConfig,
    )

    folder = tmp_path_factory.mktemp("grounding-dino")
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "."] + letters + [f"##{c}" for c in letters]
    (folder / "vocab.txt").write_text("\n".join(words) + "\n")
    tokenizer = BertTokenizerFast(vocab_file=str(folder / "vocab.txt"), do_lower_case=True)
    config = GroundingDinoConfig(
        backbone_config=SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[1, 2],
                                   window_size=4, out_features=["stage1", "stage2"]),
        text_config=BertConfig(vocab_size=len(words), hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64, max_position_embeddings=64),
        d_model=32, encoder_layers=1, decoder_layers=2, encoder_attention_heads=2, decoder_attention_heads=2,
        encoder_ffn_dim=64, decoder_ffn_dim=64, num_queries=10, num_feature_levels=2, encoder_n_points=2,
        decoder_n_points=2, max_text_len=32, use_timm_backbone=False, backbone=None, use_pretrained_backbone=False,
    )  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = GroundingDinoForObjectDetection(config).eval()
    model.save_pretrained(folder)
    image_processor = GroundingDinoImageProcessor(size={"shortest_edge": 64, "longest_edge": 64})
    GroundingDinoProcessor(image_processor=image_processor, tokenizer=tokenizer).save_pretrained(folder)
    return folder


@pytest.mark.heavy
def test_grounding_dino_boxes_the_phrases_inside_the_person(
    coco: dict[str, Path], tmp_path: Path, tiny_grounding_dino: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from PIL import Image

    from hvgen.annotate.grounder import load_grounder

    grounder = load_grounder(str(tiny_grounding_dino))
    with Image.open(next(coco["images"].glob("*1.jpg"))) as picture:
        crop = picture.convert("RGB").crop((80, 80, 160, 420))
    found = grounder.best_boxes(crop, ["red shirt", "blue jeans."])
    assert len(found) == 2 and all(0 <= g.score <= 1 and len(g.box) == 4 for g in found)

    shutil.rmtree(cache_dir() / "herm-annotations", ignore_errors=True)
    monkeypatch.setattr(Captioner, "describe", tagged_describe)
    try:
        export = herm(
            coco, tmp_path / "run", "--grounder", str(tiny_grounding_dino), "--grounder-threshold", "0"
        )
    finally:
        shutil.rmtree(cache_dir() / "herm-annotations", ignore_errors=True)
    assert C.check_export(export).problems == []
    boxes_by_person = {tuple(bbox): bbox for _, bbox, _ in PEOPLE.values()}
    for person in persons(export):
        assert person["annotation_source"]["appearance_boxes"] == f"model:<local: {tiny_grounding_dino.name}>"
        x, y, w, h = boxes_by_person[tuple(person["bbox"])]
        for entry in person["appearance_boxes"]:
            bx, by, bw, bh = entry[0]
            assert x - 1e-6 <= bx and y - 1e-6 <= by and bx + bw <= x + w + 1e-6 and by + bh <= y + h + 1e-6
    assert str(tiny_grounding_dino) not in (tmp_path / "run" / "export" / "README.md").read_text()
