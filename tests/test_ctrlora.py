"""CtrLoRA through the diffusers render path, offline, with tiny random weights in both layouts:
CtrLoRA's own LDM checkpoints (base `control_model.*` without input_hint_block, per-condition
`lora_layer.{down,up}` + zero convs + norms, written from CtrLoRA's module names) and the
diffusers layout (`ControlNetModel.save_pretrained` + ctrlora.json, peft-named LoRAs). Each loads
through the real loading code to exactly its source tensors; a LoRA changes the ControlNet's
output; a tiny SD 1.5 pipeline renders end to end, the same bytes per seed; bad inputs are refused
in one line before a run directory exists."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from hvgen.cli import main

RECIPES = ["canny-boxes", "pose"]


@pytest.fixture(scope="module")
def files(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    from hvgen.ctrlora.tiny import build_tiny_sd15, write_tiny_ctrlora_diffusers, write_tiny_ctrlora_ldm

    root = tmp_path_factory.mktemp("ctrlora")
    base, loras = write_tiny_ctrlora_ldm(root / "ldm", RECIPES)
    dbase, dloras = write_tiny_ctrlora_diffusers(root / "diffusers", RECIPES, seed=1)
    return {
        "sd15": build_tiny_sd15(root / "sd15"),
        "ldm": base,
        **{f"ldm:{r}": p for r, p in loras.items()},
        "diffusers": dbase,
        **{f"diffusers:{r}": p for r, p in dloras.items()},
    }


def unet_config(files: dict[str, Path]) -> dict:
    from diffusers import UNet2DConditionModel

    return dict(UNet2DConditionModel.load_config(str(files["sd15"]), subfolder="unet"))


def load(files: dict[str, Path], layout: str, recipes: list[str] = RECIPES):
    from hvgen.ctrlora.model import load_ctrlora

    loras = {recipe: str(files[f"{layout}:{recipe}"]) for recipe in recipes}
    return load_ctrlora(str(files[layout]), loras, unet_config(files), torch.float32)


def ldm_source(path: Path) -> dict[str, torch.Tensor]:
    tensors = load_file(str(path)) if path.suffix == ".safetensors" else torch.load(path)["state_dict"]
    return {key.removeprefix("control_model."): value for key, value in tensors.items()}


def test_the_ctrlora_package_ships_in_the_wheel() -> None:
    import tomllib

    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "hvgen.ctrlora" in project["tool"]["setuptools"]["packages"]


def test_ldm_layout_converts_to_exactly_its_source_tensors(files: dict[str, Path]) -> None:
    """Every LDM tensor lands in exactly one diffusers parameter, unchanged, and no parameter is
    left without one (the hint encoder is gone: CtrLoRA feeds the VAE latent)."""
    model = load(files, "ldm")
    source = ldm_source(files["ldm"])
    state = model.state_dict()
    assert len(state) == len(source) and not any(k.startswith("controlnet_cond_embedding.") for k in state)
    by_bytes = {hashlib.sha256(v.numpy().tobytes()).hexdigest(): k for k, v in state.items()}
    assert len(by_bytes) == len(state)  # random tensors: each one is unique
    mapping = {k: by_bytes[hashlib.sha256(v.numpy().tobytes()).hexdigest()] for k, v in source.items()}
    assert len(set(mapping.values())) == len(source)
    assert all(torch.equal(state[mapping[k]], v) for k, v in source.items())
    expected = {
        "time_embed.0.weight": "time_embedding.linear_1.weight",
        "input_blocks.0.0.weight": "conv_in.weight",
        "input_blocks.2.0.op.weight": "down_blocks.0.downsamplers.0.conv.weight",
        "input_blocks.3.0.skip_connection.weight": "down_blocks.1.resnets.0.conv_shortcut.weight",
        "input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight": "down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k.weight",
        "zero_convs.3.0.weight": "controlnet_down_blocks.3.weight",
        "middle_block.1.norm.bias": "mid_block.attentions.0.norm.bias",
        "middle_block_out.0.weight": "controlnet_mid_block.weight",
    }  # fmt: skip
    assert {k: mapping[k] for k in expected} == expected


def test_sd15_sized_ldm_names_map_onto_a_diffusers_sd15_controlnet_exactly() -> None:
    """At SD 1.5's real shape (4 levels, 2 blocks each, attention on 3, context 768; no weights
    made: meta tensors), CtrLoRA's LDM names map one to one onto diffusers' ControlNet parameters
    of the same shapes, and its linear layers are exactly the diffusers model's."""
    from diffusers import UNet2DConditionModel

    from hvgen.ctrlora.checkpoint import ldm_key_map
    from hvgen.ctrlora.model import CtrLoRAControlNetModel, NoHint
    from hvgen.ctrlora.tiny import ldm_controlnet_shapes

    sd15 = {
        "block_out_channels": (320, 640, 1280, 1280), "layers_per_block": 2, "cross_attention_dim": 768,
        "down_block_types": ("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",), "attention_head_dim": 8,
    }  # fmt: skip
    with torch.device("meta"):
        model = CtrLoRAControlNetModel.from_unet(UNet2DConditionModel(**sd15), load_weights_from_unet=False)
    model.controlnet_cond_embedding = NoHint()
    shapes = ldm_controlnet_shapes(sd15)
    mapping = ldm_key_map(list(shapes), 2)
    params = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert sorted(mapping.values()) == sorted(params) and len(shapes) == len(params)
    assert all(params[mapping[k]] == shape for k, shape in shapes.items())
    linears = {name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)}
    ldm_linears = {mapping[k].removesuffix(".weight") for k, s in shapes.items() if len(s) == 2}
    assert ldm_linears == linears


def test_ldm_lora_merges_into_the_base_and_switches_back(files: dict[str, Path]) -> None:
    model = load(files, "ldm")
    base = {k: v.clone() for k, v in model.state_dict().items()}
    lora = ldm_source(files["ldm:pose"])
    model.use_condition("pose")
    state = model.state_dict()
    down = lora["input_blocks.3.1.transformer_blocks.0.attn1.to_q.lora_layer.down.weight"]
    up = lora["input_blocks.3.1.transformer_blocks.0.attn1.to_q.lora_layer.up.weight"]
    key = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q.weight"
    torch.testing.assert_close(state[key], base[key] + up @ down, rtol=0, atol=1e-6)
    assert torch.equal(state["controlnet_down_blocks.1.weight"], lora["zero_convs.1.0.weight"])
    assert torch.equal(state["mid_block.attentions.0.transformer_blocks.0.norm2.weight"], lora["middle_block.1.transformer_blocks.0.norm2.weight"])  # fmt: skip
    assert torch.equal(
        state["down_blocks.1.resnets.0.norm1.weight"], base["down_blocks.1.resnets.0.norm1.weight"]
    )
    model.use_condition("canny-boxes")
    model.use_condition(None)
    assert all(torch.equal(v, base[k]) for k, v in model.state_dict().items())


def test_diffusers_layout_loads_exactly_and_merges_its_peft_lora(files: dict[str, Path]) -> None:
    model = load(files, "diffusers")
    saved = load_file(str(files["diffusers"] / "diffusion_pytorch_model.safetensors"))
    kept = {k: v for k, v in saved.items() if not k.startswith("controlnet_cond_embedding.")}
    state = model.state_dict()
    assert set(state) == set(kept) and all(torch.equal(state[k], v) for k, v in kept.items())
    lora = load_file(str(files["diffusers:canny-boxes"]))
    model.use_condition("canny-boxes")
    module = "time_embedding.linear_2"
    merged = kept[f"{module}.weight"] + lora[f"{module}.lora_B.weight"] @ lora[f"{module}.lora_A.weight"]
    torch.testing.assert_close(model.state_dict()[f"{module}.weight"], merged, rtol=0, atol=1e-6)
    assert torch.equal(model.state_dict()["controlnet_mid_block.bias"], lora["controlnet_mid_block.bias"])


def test_each_lora_changes_the_controlnet_output(files: dict[str, Path]) -> None:
    from diffusers import AutoencoderKL

    model = load(files, "ldm")
    model.attach_vae(AutoencoderKL.from_pretrained(files["sd15"] / "vae"))
    generator = torch.Generator().manual_seed(0)
    image = torch.rand(1, 3, 64, 64, generator=generator)
    noisy = torch.randn(1, 4, 32, 32, generator=generator)
    text = torch.randn(1, 7, 32, generator=generator)

    def mid(recipe: str | None, sample: torch.Tensor = noisy) -> torch.Tensor:
        model.use_condition(recipe)
        with torch.no_grad():
            return model(sample, 10, text, image, return_dict=False)[1]

    base, canny, pose = mid(None), mid("canny-boxes"), mid("pose")
    assert not torch.allclose(base, canny) and not torch.allclose(canny, pose)
    assert torch.equal(canny, mid("canny-boxes"))
    # CtrLoRA's ControlNet reads the condition's latent, not the noisy latent
    assert torch.equal(canny, mid("canny-boxes", torch.randn(1, 4, 32, 32)))


def dysca(files: dict[str, Path], out: Path, layout: str, lora: str, *extra: str) -> dict[str, str]:
    args = ["dysca", "--model", str(files["sd15"]), "--controlnet", f"ctrlora:{files[layout]}"]
    args += ["--ctrlora-lora", f"canny-boxes={files[f'{layout}:{lora}']}", "--condition", "canny-boxes"]
    args += ["--num", "2", "--steps", "2", "--width", "64", "--height", "64", "--batch-size", "2"]
    main([*args, "--seed", "5", "--subtasks", "animal,color", "--quiet", *extra, "--out", str(out)])
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((out / "images").rglob("*.png"))
    }


@pytest.mark.heavy
def test_a_tiny_ctrlora_renders_through_the_render_stage_the_same_bytes_per_seed(
    files: dict[str, Path], tmp_path: Path
) -> None:
    first = dysca(files, tmp_path / "a", "ldm", "canny-boxes")
    assert len(first) == 2 and len(set(first.values())) == 2
    assert dysca(files, tmp_path / "b", "ldm", "canny-boxes") == first
    other = dysca(files, tmp_path / "c", "ldm", "pose")  # another LoRA for the same recipe
    assert other.keys() == first.keys() and not set(other.values()) & set(first.values())
    converted = dysca(files, tmp_path / "d", "diffusers", "canny-boxes")
    assert converted.keys() == first.keys() and not set(converted.values()) & set(first.values())
    assert (tmp_path / "a" / "config.yaml").read_text().count(str(files["ldm:canny-boxes"])) == 1
    published = "".join(p.read_text() for p in (tmp_path / "a" / "export").rglob("*.md"))
    assert "ctrlora:<local: base.ckpt>" in published and str(files["ldm"].parent) not in published


def test_two_recipes_render_with_their_own_lora_in_one_group_each(files: dict[str, Path]) -> None:
    from hvgen.conditions import load_recipes, make_condition
    from hvgen.config import RenderConfig
    from hvgen.ctrlora.model import load_ctrlora_pipeline
    from hvgen.models import resolve_settings
    from hvgen.stages.render import ImageJob, recipe_batches, render_batch

    loras = {recipe: str(files[f"ldm:{recipe}"]) for recipe in RECIPES}
    config = RenderConfig(
        model=str(files["sd15"]), device="cpu", controlnet=f"ctrlora:{files['ldm']}", ctrlora_loras=loras,
        steps=2, width=64, height=64,
    )  # fmt: skip
    jobs = [ImageJob(f"{i:02d}" * 8, "a cat", "", i, "x.png", (RECIPES[i % 2], "{}")) for i in range(5)]
    batches = recipe_batches(jobs, 2)
    assert [[j.condition[0] for j in b] for b in batches] == [
        ["canny-boxes"] * 2,
        ["canny-boxes"],
        ["pose"] * 2,
    ]
    pipeline = load_ctrlora_pipeline(config)
    assert type(pipeline).__name__ == "StableDiffusionControlNetPipeline"
    settings = resolve_settings(config)
    condition = make_condition("pose", {}, 3, (64, 64), load_recipes())

    def render(recipe: str) -> bytes:
        pipeline.controlnet.use_condition(recipe)
        (image,) = render_batch(
            pipeline, jobs[:1], settings, "cpu", pad_to=2, conditions=[condition], config=config
        )
        return np.asarray(image).tobytes()

    pose, canny = render("pose"), render("canny-boxes")
    assert pose != canny and render("pose") == pose


@pytest.fixture(scope="module")
def bad(files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Files that are not what their option asks for."""
    root = tmp_path_factory.mktemp("bad")
    standard = {f"control_model.{k}": v for k, v in ldm_source(files["ldm"]).items()}
    standard["control_model.input_hint_block.0.weight"] = torch.zeros(16, 3, 3, 3)
    torch.save(standard, root / "standard.ckpt")
    (root / "junk.ckpt").write_bytes(b"not a checkpoint")
    (root / "plain").mkdir()
    (root / "plain" / "config.json").write_text("{}")
    lora = load_file(str(files["ldm:pose"]))
    save_file({k: v for k, v in lora.items() if ".time_embed.0." not in k}, str(root / "partial.safetensors"))
    return {"standard": root / "standard.ckpt", "junk": root / "junk.ckpt", "plain": root / "plain",
            "partial": root / "partial.safetensors"}  # fmt: skip


@pytest.mark.parametrize(
    ("model", "controlnet", "loras", "fragment"),
    [
        ("sd15", "tiny", ["canny-boxes=ldm:pose"], "--ctrlora-lora is for a CtrLoRA ControlNet"),
        ("sd15", "ctrlora:ldm", [], "a CtrLoRA needs a LoRA per condition recipe"),
        ("sd15", "ctrlora:ldm", ["pose=ldm:pose"], "no LoRA for condition recipe canny-boxes"),
        (
            "sd15",
            "ctrlora:ldm",
            ["canny-boxes=ldm:pose", "posse=ldm:pose"],
            "unknown condition recipe 'posse'",
        ),
        ("sd15", "ctrlora:ldm", ["canny-boxes"], "give RECIPE=PATH"),
        ("tiny", "ctrlora:ldm", ["canny-boxes=ldm:pose"], "the model is SDXL-shaped"),
        ("sd15", "ctrlora:bad:standard", ["canny-boxes=ldm:pose"], "so it is a standard ControlNet"),
        ("sd15", "ctrlora:bad:junk", ["canny-boxes=ldm:pose"], "not a readable torch checkpoint"),
        ("sd15", "ctrlora:bad:plain", ["canny-boxes=ldm:pose"], "holds no ctrlora.json"),
        ("sd15", "ctrlora:ldm", ["canny-boxes=ldm"], "not a CtrLoRA condition LoRA"),
    ],
)
def test_bad_ctrlora_options_fail_in_one_line_before_the_run_exists(
    files: dict[str, Path], bad: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str],
    model: str, controlnet: str, loras: list[str], fragment: str,
) -> None:  # fmt: skip
    def path(name: str) -> str:
        return str(bad[name.removeprefix("bad:")] if name.startswith("bad:") else files[name])

    controlnet = (
        controlnet if controlnet == "tiny" else "ctrlora:" + path(controlnet.removeprefix("ctrlora:"))
    )
    args = ["dysca", "--model", "tiny" if model == "tiny" else path(model), "--controlnet", controlnet]
    for lora in loras:
        recipe, sep, name = lora.partition("=")
        args += ["--ctrlora-lora", f"{recipe}={path(name)}" if sep else recipe]
    with pytest.raises(SystemExit):
        main([*args, "--condition", "canny-boxes", "--num", "2", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert fragment in " ".join(err.split()) and "Traceback" not in err, err
    assert not (tmp_path / "r").exists()


def test_a_lora_missing_layers_or_made_for_another_base_is_refused_at_load(
    files: dict[str, Path], bad: dict[str, Path], tmp_path: Path
) -> None:
    from hvgen.ctrlora.model import load_ctrlora
    from hvgen.ctrlora.tiny import TINY_SD15_UNET, write_tiny_ctrlora_ldm
    from hvgen.errors import HvgenError

    with pytest.raises(
        HvgenError, match=r"no LoRA for 1 of the base's \d+ linear layers \(e.g. time_embedding"
    ):
        load_ctrlora(str(files["ldm"]), {"pose": str(bad["partial"])}, unet_config(files), torch.float32)
    _, other = write_tiny_ctrlora_ldm(tmp_path, ["pose"], unet={**TINY_SD15_UNET, "cross_attention_dim": 16})
    with pytest.raises(
        HvgenError, match=r"attn2.to_k is \(64, 4\) @ \(4, 16\), the layer \(64, 32\): the LoRA"
    ):
        load_ctrlora(str(files["ldm"]), {"pose": str(other["pose"])}, unet_config(files), torch.float32)
    wider = {**unet_config(files), "block_out_channels": [32, 32]}
    with pytest.raises(HvgenError, match="made for another base model"):
        load_ctrlora(str(files["ldm"]), {}, wider, torch.float32)
