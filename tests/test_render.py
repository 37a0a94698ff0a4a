"""Rendering with the tiny diffusers pipeline: loading, batching, resuming, sharding, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hvgen.config import RenderConfig, RunConfig
from hvgen.errors import HvgenError
from hvgen.models import tiny_sdxl_path
from hvgen.pipeline import prepare_run_dir, stage_plan
from hvgen.sharding import Shard, parse_shard
from hvgen.stages.render import ImageJob, RenderSettings, load_pipeline, render_batch, run_render

SETTINGS = RenderSettings(steps=2, guidance=7.5, width=64, height=64)


def test_tiny_model_is_a_saved_diffusers_folder(tiny_pipeline) -> None:
    folder = tiny_sdxl_path()
    assert (folder / "model_index.json").is_file() and (folder / "unet" / "config.json").is_file()
    assert type(tiny_pipeline).__name__ == "StableDiffusionXLPipeline"
    assert tiny_pipeline.tokenizer.model_max_length == 77


def test_an_image_does_not_depend_on_its_batch(tiny_pipeline) -> None:
    """Padded to the batch size, a short batch renders each image byte for byte as a full one
    does (unpadded, batched kernels may round a level differently): resumed and sharded runs,
    whose last batches are short, give the bytes of an uninterrupted run."""
    import torch

    jobs = [
        ImageJob(f"{i:016x}", prompt, "blurry", seed, "")
        for i, (prompt, seed) in enumerate(
            [("a red cat, on the lawn", 11), ("a blue car", 12), ("an owl in space", 13), ("a dog", 14)]
        )
    ]
    previous = torch.get_num_threads()
    torch.set_num_threads(2)  # multi-threaded kernels are where the batch shape changes the rounding
    try:
        together = render_batch(tiny_pipeline, jobs, SETTINGS, tiny_pipeline.device, pad_to=4)
        for subset in ([1], [3, 0], [2, 1, 3]):
            alone = render_batch(
                tiny_pipeline, [jobs[i] for i in subset], SETTINGS, tiny_pipeline.device, pad_to=4
            )
            assert len(alone) == len(subset)
            for index, image in zip(subset, alone):
                assert np.array_equal(np.asarray(image), np.asarray(together[index]))
    finally:
        torch.set_num_threads(previous)
    assert not np.array_equal(np.asarray(together[0]), np.asarray(together[1]))


def test_prompt_and_seed_both_change_the_image(tiny_pipeline) -> None:
    base = ImageJob("0" * 16, "a red cat", "", 1, "")
    images = [
        render_batch(tiny_pipeline, [job], SETTINGS, tiny_pipeline.device)[0]
        for job in (
            base,
            ImageJob("0" * 16, "a green dog", "", 1, ""),
            ImageJob("0" * 16, "a red cat", "", 2, ""),
        )
    ]
    arrays = [np.asarray(image, dtype=np.int16) for image in images]
    assert np.abs(arrays[0] - arrays[1]).mean() > 0.5
    assert np.abs(arrays[0] - arrays[2]).mean() > 0.5


def _planned_run(tmp_path: Path, num: int = 6) -> tuple[Path, RunConfig]:
    config = RunConfig(
        benchmark="dysca", num=num, seed=5, options={"subtasks": "animal", "question_types": "mc"}
    )
    config.render = RenderConfig(model="tiny", steps=2, batch_size=4, device="cpu")
    run_dir = tmp_path / "run"
    prepare_run_dir(run_dir, config)
    stage_plan(run_dir, config)
    return run_dir, config


def test_rerun_renders_only_what_is_missing(tmp_path: Path, tiny_pipeline) -> None:
    run_dir, config = _planned_run(tmp_path)
    first = run_render(run_dir, config.render, Shard(), pipeline=tiny_pipeline)
    assert first.rendered == 6
    pngs = sorted(run_dir.glob("images/*/*.png"))
    assert len(pngs) == 6 and all(Image.open(p).size == (64, 64) for p in pngs)
    again = run_render(run_dir, config.render, Shard(), pipeline=tiny_pipeline)
    assert again.rendered == 0 and again.already_done == 6

    # A crash between writing and logging, and a torn manifest line, make those images pending again.
    manifest = next((run_dir / "manifests").glob("render.*.jsonl"))
    lines = manifest.read_text().splitlines()
    pngs[0].unlink()
    manifest.write_text("\n".join(lines[:-1]) + "\n" + lines[-1][:20])
    redo = run_render(run_dir, config.render, Shard(), pipeline=tiny_pipeline)
    assert redo.rendered == 2
    assert not list(run_dir.glob("images/*/.*.tmp"))


def test_rendering_is_reproducible(tmp_path: Path, tiny_pipeline) -> None:
    digests = []
    for name in ("a", "b"):
        run_dir, config = _planned_run(tmp_path / name, num=3)
        run_render(run_dir, config.render, Shard(), pipeline=tiny_pipeline)
        digests.append({p.name: p.read_bytes() for p in run_dir.glob("images/*/*.png")})
    assert digests[0] == digests[1]


def test_shards_split_the_work_without_collisions(tmp_path: Path, tiny_pipeline) -> None:
    run_dir, config = _planned_run(tmp_path, num=8)
    summaries = [run_render(run_dir, config.render, Shard(i, 3), pipeline=tiny_pipeline) for i in range(3)]
    assert sum(s.rendered for s in summaries) == 8
    assert sum(s.total_in_shard for s in summaries) == 8
    manifests = sorted((run_dir / "manifests").glob("render.*.jsonl"))
    ids = [json.loads(line)["image_id"] for m in manifests for line in m.read_text().splitlines()]
    assert len(ids) == len(set(ids)) == 8


def test_shard_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_shard("2/4") == Shard(2, 4)
    with pytest.raises(HvgenError, match="i/N"):
        parse_shard("4/4")
    with pytest.raises(HvgenError, match="i/N"):
        parse_shard("two")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert parse_shard(None) == Shard(1, 2)


def test_unloadable_model_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    with pytest.raises(HvgenError) as error:
        load_pipeline(RenderConfig(model="sdxl", device="cpu"))
    message = str(error.value)
    assert "stabilityai/stable-diffusion-xl-base-1.0" in message
    assert "--model tiny" in message and "--model PATH" in message
    assert "\n" not in message
    with pytest.raises(HvgenError, match="--model tiny"):
        load_pipeline(RenderConfig(model=str(tmp_path / "no-such-folder"), device="cpu"))
