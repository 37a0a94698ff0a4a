"""ControlNet rendering end to end, offline: `hvgen dysca --model tiny --controlnet tiny
--condition RECIPE` draws each image's condition in the run, renders through the tiny ControlNet,
exports both (`condition_image`), writes CtrLoRA's training layout, and a killed run resumes to
the same bytes. Bad ControlNet options fail in one line before anything is written."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from hvgen.cli import main

ARGS = ["dysca", "--model", "tiny", "--controlnet", "tiny", "--num", "3", "--steps", "2", "--seed", "5"]
ARGS += ["--batch-size", "2", "--condition", "canny-boxes", "--subtasks", "animal,color", "--quiet"]


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The console entry point in a subprocess (cwd outside the checkout, as tests/test_cli.py)."""
    return subprocess.run(
        [sys.executable, "-c", "from hvgen.cli import main; main()", *args],
        capture_output=True,
        text=True,
        cwd=tempfile.gettempdir(),
        env={**os.environ, **(env or {})},
        timeout=600,
    )


def snapshot(run: Path) -> dict[str, str]:
    """sha256 of every image, condition and exported row (with its image bytes) of a run."""
    digest = {}
    for folder in ("images", "conditions"):
        for path in sorted((run / folder).rglob("*.png")):
            digest[path.relative_to(run).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    for parquet in sorted((run / "export" / "data").rglob("*.parquet")):
        for row in pq.read_table(parquet).to_pylist():
            for key in ("image", "condition_image"):
                row[key] = hashlib.sha256(row[key]["bytes"]).hexdigest()
            digest[f"export/{parquet.parent.name}/{row['id']}"] = hashlib.sha256(
                json.dumps(row, sort_keys=True, default=str).encode()
            ).hexdigest()
    return digest


@pytest.fixture(scope="module")
def control_run(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("controlnet") / "run"
    main([*ARGS, "--out", str(out)])
    main(["export", str(out), "--format", "ctrlora", "--quiet"])
    return out


@pytest.mark.heavy
def test_each_image_has_its_condition_drawn_in_the_run(control_run: Path) -> None:
    from hvgen.conditions import load_recipes, make_condition

    records = [json.loads(line) for line in (control_run / "records.jsonl").read_text().splitlines()]
    images = {record["image_id"]: record for record in records}
    assert len(images) == 3
    for image_id, record in images.items():
        assert record["condition"]["recipe"] == "canny-boxes"
        params = json.loads(record["condition"]["params"])
        assert params["labels"] == [record["foreground"]]  # the box is named after the subject
        condition = Image.open(control_run / "conditions" / image_id[:2] / f"{image_id}.png")
        expected = make_condition("canny-boxes", params, record["image_seed"], (64, 64), load_recipes())
        assert condition.convert("RGB").tobytes() == expected.tobytes()  # same seed → same bytes
        assert np.asarray(condition).max() == 255  # the box's outline is there
        assert (control_run / "images" / image_id[:2] / f"{image_id}.png").is_file()
    rows = [json.loads(line) for line in (control_run / "manifests" / "render.00000-of-00001.jsonl").open()]
    assert all(
        row["condition_recipe"] == "canny-boxes" and len(row["condition_sha256"]) == 64 for row in rows
    )
    config = (control_run / "config.yaml").read_text()
    assert "controlnet: tiny" in config and "control_end: 1.0" in config


@pytest.mark.heavy
def test_the_export_has_the_condition_column_and_loads_with_datasets(control_run: Path) -> None:
    from datasets import load_dataset

    data = load_dataset(str(control_run / "export"), "clean", split="test")
    assert {"image", "condition_image", "condition"} <= set(data.column_names)
    assert type(data.features["condition_image"]).__name__ == "Image"
    row = data[0]
    assert row["condition"]["recipe"] == "canny-boxes"
    on_disk = Image.open(control_run / "conditions" / row["image_id"][:2] / f"{row['image_id']}.png")
    assert np.array_equal(
        np.asarray(row["condition_image"].convert("RGB")), np.asarray(on_disk.convert("RGB"))
    )
    assert row["image"].size == row["condition_image"].size == (64, 64)
    card = (control_run / "export" / "README.md").read_text()
    assert "| `condition_image` | image | The ControlNet condition image" in card
    assert "- ControlNet: `tiny` (conditioning scale 1.0, active from 0.0 to 1.0 of the steps)" in card


@pytest.mark.heavy
def test_ctrlora_layout_pairs_each_condition_with_its_render(control_run: Path) -> None:
    root = control_run / "formats" / "ctrlora" / "canny-boxes"
    lines = [json.loads(line) for line in (root / "prompt.json").read_text().splitlines()]
    records = {
        json.loads(line)["image_id"]: json.loads(line) for line in (control_run / "records.jsonl").open()
    }
    assert len(lines) == 3 and sorted(lines, key=lambda e: e["source"]) == lines
    for entry in lines:
        assert set(entry) == {"source", "target", "prompt"}
        assert entry["source"].startswith("source/") and entry["target"].startswith("target/")
        image_id = Path(entry["source"]).stem
        assert entry["prompt"] == records[image_id]["prompt"]
        assert (root / entry["source"]).read_bytes() == (
            control_run / "conditions" / image_id[:2] / f"{image_id}.png"
        ).read_bytes()
        assert (root / entry["target"]).read_bytes() == (
            control_run / "images" / image_id[:2] / f"{image_id}.png"
        ).read_bytes()
    assert sorted(p.name for p in root.iterdir()) == ["prompt.json", "source", "target"]


@pytest.mark.heavy
def test_a_killed_render_resumes_to_the_same_bytes(control_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "run"
    killed = run_cli(*ARGS, "--out", str(out), env={"HVGEN_FAULT": "render.logged:1"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    assert len(list((out / "manifests").glob("render.*.jsonl"))) == 1
    resumed = run_cli(*ARGS, "--out", str(out))
    assert resumed.returncode == 0, resumed.stderr
    assert snapshot(out) == snapshot(control_run)


@pytest.mark.heavy
def test_a_damaged_condition_is_redone_with_its_image(control_run: Path, tmp_path: Path) -> None:
    import shutil

    out = shutil.copytree(control_run, tmp_path / "run")
    condition = next((out / "conditions").rglob("*.png"))
    expected = condition.read_bytes()
    condition.write_bytes(b"not a png")
    main([*ARGS, "--out", str(out)])
    assert condition.read_bytes() == expected


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--controlnet-scale", "nan"], "--controlnet-scale must be a finite number in [0, 10]"),
        (["--controlnet-scale", "-1"], "--controlnet-scale must be a finite number in [0, 10]"),
        (["--control-start", "inf"], "--control-start must be a finite number in [0, 1)"),
        (["--control-end", "1.5"], "--control-end must be a finite number in (0, 1]"),
        (
            ["--control-start", "0.8", "--control-end", "0.2"],
            "--control-start (0.8) must be below --control-end",
        ),
        (["--controlnet", "nonsense"], "--controlnet nonsense: not a ControlNet folder"),
        (["--condition", "posse"], "unknown condition recipe 'posse' (did you mean 'pose'?)"),
    ],
)
def test_bad_controlnet_options_fail_in_one_line_before_the_run_exists(
    tmp_path: Path, extra: list[str], fragment: str
) -> None:
    args = ["dysca", "--model", "tiny", "--controlnet", "tiny", "--condition", "pose", "--num", "2"]
    result = run_cli(*args, *extra, "--out", str(tmp_path / "r"))
    assert result.returncode != 0
    assert fragment in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


def test_a_controlnet_without_a_condition_is_refused(tmp_path: Path) -> None:
    result = run_cli(
        "dysca", "--model", "tiny", "--controlnet", "tiny", "--num", "2", "--out", str(tmp_path / "r")
    )
    assert result.returncode != 0 and "--condition RECIPE" in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [  # each benchmark says how its runs get conditions, or that they never do
        (
            ["herm", "--synthetic", "--model", "tiny"],
            "hvgen herm's pose condition: a condition image needs a ControlNet",
        ),
        (
            ["herm", "--synthetic", "--model", "tiny", "--controlnet", "tiny", "--coco-keypoints", "k.json"],
            "--coco",
        ),
        (["vlbias", "--model", "tiny", "--controlnet", "tiny"], "hvgen vlbias plans no condition images"),
    ],
)
def test_conditions_and_controlnets_must_come_together_for_every_benchmark(
    tmp_path: Path, args: list[str], fragment: str
) -> None:
    result = run_cli(*args, "--num", "2", "--out", str(tmp_path / "r"))
    assert result.returncode != 0 and fragment in result.stderr and "Traceback" not in result.stderr, (
        result.stderr
    )
    assert not (tmp_path / "r").exists()


def test_a_condition_without_a_controlnet_is_refused(tmp_path: Path) -> None:
    result = run_cli(
        "dysca", "--model", "tiny", "--condition", "pose", "--num", "2", "--out", str(tmp_path / "r")
    )
    assert result.returncode != 0 and "needs a ControlNet" in result.stderr, result.stderr
    assert not (tmp_path / "r").exists()


def test_the_tiny_controlnet_matches_the_tiny_unet_and_steers_the_image(tiny_cache: Path) -> None:
    """Loaded through from_pretrained like the tiny pipeline; a different condition changes the render."""
    from hvgen.conditions import load_recipes, make_condition
    from hvgen.config import RenderConfig
    from hvgen.models import load_pipeline, resolve_settings, tiny_controlnet_path
    from hvgen.stages.render import ImageJob, render_batch

    config = RenderConfig(model="tiny", device="cpu", controlnet="tiny", steps=2)
    pipeline = load_pipeline(config)
    assert type(pipeline).__name__ == "StableDiffusionXLControlNetPipeline"
    assert (tiny_controlnet_path() / "config.json").is_file()
    settings = resolve_settings(config)
    job = ImageJob("ab" * 8, "a red fox", "", 3, "images/ab/x.png", ("pose", "{}"))
    recipes = load_recipes()

    def render(recipe: str) -> np.ndarray:
        condition = make_condition(recipe, {}, 3, (64, 64), recipes)
        (image,) = render_batch(
            pipeline, [job], settings, pipeline.device, conditions=[condition], config=config
        )
        return np.asarray(image).astype(int)

    pose, shapes = render("pose"), render("shapes")
    assert np.array_equal(pose, render("pose"))
    assert np.abs(pose - shapes).mean() > 0


def test_ctrlora_is_asked_for_by_name_and_needs_a_controlnet_run() -> None:
    from hvgen.config import RunConfig
    from hvgen.errors import HvgenError
    from hvgen.publish.formats import parse_formats

    assert "ctrlora" not in [f.name for f in parse_formats("all", "dysca")]  # `--format all` stays valid
    (ctrlora,) = parse_formats("ctrlora", "dysca")
    with pytest.raises(HvgenError, match="no condition images"):
        ctrlora.check(RunConfig(benchmark="dysca"))


def _tiny_sd15(folder: Path, tiny_sdxl: Path) -> tuple[Path, Path]:
    """A tiny random SD 1.5-shaped pipeline (hvgen.ctrlora.tiny.build_tiny_sd15: one CLIP text
    encoder, no added time embedding) and a ControlNet built from its UNet, both saved for
    from_pretrained: `--model DIR --controlnet DIR`."""
    import torch
    from diffusers import ControlNetModel, UNet2DConditionModel

    from hvgen.ctrlora.tiny import build_tiny_sd15

    assert tiny_sdxl.is_dir()  # its VAE, tokenizer and scheduler are reused
    build_tiny_sd15(folder / "sd15")
    unet = UNet2DConditionModel.from_pretrained(folder / "sd15" / "unet")
    controlnet = ControlNetModel.from_unet(unet, conditioning_embedding_out_channels=(16, 32))
    with torch.no_grad():  # a trained ControlNet's zero convolutions are not zero any more
        for block in [*controlnet.controlnet_down_blocks, controlnet.controlnet_mid_block]:
            block.weight.normal_(0.0, 0.05)
        controlnet.controlnet_cond_embedding.conv_out.weight.normal_(0.0, 0.05)
    controlnet.save_pretrained(folder / "controlnet")
    return folder / "sd15", folder / "controlnet"


def test_an_sd15_model_folder_renders_through_its_controlnet_pipeline(
    tiny_cache: Path, tmp_path: Path
) -> None:
    from hvgen.conditions import load_recipes, make_condition
    from hvgen.config import RenderConfig
    from hvgen.models import check_controlnet, load_pipeline, resolve_settings, tiny_sdxl_path
    from hvgen.stages.render import ImageJob, render_batch

    model, controlnet = _tiny_sd15(tmp_path, tiny_sdxl_path())
    check_controlnet(str(controlnet))
    config = RenderConfig(
        model=str(model), device="cpu", controlnet=str(controlnet), steps=2, width=64, height=64
    )
    pipeline = load_pipeline(config)
    assert type(pipeline).__name__ == "StableDiffusionControlNetPipeline"
    settings = resolve_settings(config)
    jobs = [ImageJob("cd" * 8, "a dog", "", 9, "images/cd/x.png", ("pose", "{}"))]
    recipes = load_recipes()
    pose = make_condition("pose", {}, 9, (64, 64), recipes)
    shapes = make_condition("shapes", {}, 9, (64, 64), recipes)
    (first,) = render_batch(
        pipeline, jobs, settings, pipeline.device, pad_to=2, conditions=[pose], config=config
    )
    (again,) = render_batch(
        pipeline, jobs, settings, pipeline.device, pad_to=2, conditions=[pose], config=config
    )
    (other,) = render_batch(
        pipeline, jobs, settings, pipeline.device, pad_to=2, conditions=[shapes], config=config
    )
    assert first.size == (64, 64) and first.tobytes() == again.tobytes() != other.tobytes()


def test_a_controlnet_folder_without_a_config_is_refused(tmp_path: Path) -> None:
    from hvgen.errors import HvgenError
    from hvgen.models import check_controlnet

    with pytest.raises(HvgenError, match="holds no config.json"):
        check_controlnet(str(tmp_path))


@pytest.mark.heavy
def test_image_once_layout_stores_each_condition_once_beside_the_pictures(
    control_run: Path, tmp_path: Path
) -> None:
    import shutil

    from datasets import load_dataset

    out = shutil.copytree(control_run, tmp_path / "run")
    main(["export", str(out), "--layout", "image-once", "--quiet"])
    questions = load_dataset(str(out / "export"), "clean", split="test")
    pictures = load_dataset(str(out / "export"), "clean_images", split="test")
    assert "condition_file" in questions.column_names and "condition_image" not in questions.column_names
    files = set(pictures["image_file"])
    assert set(questions["condition_file"]) <= files and set(questions["image_file"]) <= files
    row = pictures[pictures["image_file"].index(questions[0]["condition_file"])]
    on_disk = Image.open(out / questions[0]["condition_file"]).convert("RGB")
    assert np.array_equal(np.asarray(row["image"].convert("RGB")), np.asarray(on_disk))


def test_hvgen_list_conditions_names_the_shipped_recipes(capsys: pytest.CaptureFixture[str]) -> None:
    main(["list", "conditions"])
    names = capsys.readouterr().out.split()
    assert {"pose", "boxes", "landmarks", "canny", "canny-boxes", "inpaint"} <= set(names)


@pytest.mark.heavy
def test_changing_the_controlnet_settings_of_a_rendered_run_is_refused(control_run: Path) -> None:
    before = snapshot(control_run)
    result = run_cli(*ARGS, "--controlnet-scale", "0.5", "--out", str(control_run))
    assert result.returncode != 0
    assert (
        "different render settings (controlnet_scale: 1.0 → 0.5)" in result.stderr
        and "Traceback" not in result.stderr
    ), result.stderr
    assert snapshot(control_run) == before
