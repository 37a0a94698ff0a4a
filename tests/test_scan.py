"""`hvgen scan` (T2IShield): the scores on hand-made maps, the attention capture on real tiny
UNets, and the whole command on a tiny SDXL pipeline with a planted backdoor."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from scan_helpers import TRIGGER, build_backdoored_sdxl

from hvgen.analysis.assimilation import ftt_score, quantised_token_maps, spectrum, spectrum_score
from hvgen.analysis.attention import capture_maps, choose_layers, denoiser_of
from hvgen.analysis.calibration import fit_threshold
from hvgen.analysis.cda import load_detector
from hvgen.analysis.scan import PromptScore, paper_threshold
from hvgen.analysis.scan_command import read_prompt_file
from hvgen.errors import HvgenError

# --- scores on hand-made maps -------------------------------------------------------------------


def test_ftt_of_identical_maps_is_zero_and_spectrum_too():
    maps = np.tile(np.linspace(0, 1, 16).reshape(1, 4, 4), (10, 1, 1))
    assert ftt_score(maps, 10) == 0.0
    assert spectrum_score(maps, 10) == 0.0


def test_ftt_hand_computed():
    # L = 3 tokens (BOS, word, EOS) → maps 0..2 enter the mean, maps 0..1 the distances.
    a, b, c = np.zeros((2, 2)), np.ones((2, 2)), np.full((2, 2), 0.5)
    maps = np.stack([a, b, c, np.full((2, 2), 9.0)])  # the 4th map is past L and must be ignored
    # mean = 0.5 everywhere; ‖mean − a‖_F = ‖mean − b‖_F = √(4 · 0.25) = 1
    assert ftt_score(maps, 3) == 1.0
    # two maps 0 and 1 (of 4 pixels): covariance (a−b)(a−b)ᵀ/4 → one eigenvalue ‖a−b‖²/4 = 1
    values = spectrum(maps, 3)
    assert values[0] == pytest.approx(1.0) and np.allclose(values[1:], 0)
    assert spectrum_score(maps, 3) == pytest.approx(round(np.log(2.0), 4))


def test_random_maps_score_high_and_paper_scale():
    rng = np.random.default_rng(0)
    maps = quantised_token_maps(rng.random((77, 16, 16)))
    # uniform [0,1] pixels: each map is ~√(256 / 12) ≈ 4.6 away from the mean, far above 2.5
    assert ftt_score(maps, 30) > 4.0
    assert spectrum_score(maps, 30) > 1.0
    assert paper_threshold(16, 16, sd1=True).ftt == 2.5 and paper_threshold(16, 16, sd1=True).calibrated
    assert paper_threshold(32, 32, sd1=True).ftt == 5.0 and not paper_threshold(32, 32, sd1=True).calibrated
    assert not paper_threshold(16, 16, sd1=False).calibrated  # 2.5 is SD1.x's, not SDXL's


def test_quantised_maps_drop_bos_and_round_like_uint8():
    raw = np.zeros((77, 2, 2))
    raw[1] = [[1.0, 0.5], [0.25, 0.0]]
    maps = quantised_token_maps(raw)
    assert maps.shape == (76, 2, 2)
    assert np.allclose(maps[0], np.array([[255, 127], [63, 0]]) / 255)  # floor(x · 255)
    assert np.all(maps[1] == 0)  # an all-zero map stays zero (no division by zero)


def test_calibration_threshold_is_the_benign_quantile_and_needs_enough_prompts():
    benign = [PromptScore(f"p{i}", 10, ftt=float(i), spectrum=float(i)) for i in range(1, 21)]
    threshold = fit_threshold(benign, fpr=0.05)
    assert threshold.ftt == pytest.approx(np.quantile(np.arange(1, 21), 0.05))
    assert sum(s.ftt < threshold.ftt for s in benign) == 1  # 5 % of 20
    with pytest.raises(HvgenError, match="at least 10 benign prompts"):
        fit_threshold(benign[:5])
    # fewer than 1/fpr prompts: a normal fit, mean − z(0.99)·sd, not the lowest score
    small = fit_threshold(benign[:12], fpr=0.01)
    assert small.ftt == pytest.approx(6.5 - 2.3263 * np.std(np.arange(1, 13), ddof=1), abs=1e-3)


# --- capture on real UNets ----------------------------------------------------------------------


def _sd1_unet():
    """An SD1.x-shaped UNet (4 levels, cross-attention in the first three), tiny channels."""
    import torch
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    return UNet2DConditionModel(
        block_out_channels=(8, 16, 16, 16),
        norm_num_groups=4,
        layers_per_block=1,
        cross_attention_dim=16,
        attention_head_dim=2,
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        sample_size=64,
    ).eval()


def test_sd1_layers_are_the_16x16_level_and_maps_are_conditional_probabilities():
    import torch

    unet = _sd1_unet()
    layers = choose_layers(unet, 64, 64)  # SD1.x at 512²: latent 64
    assert (layers.height, layers.width) == (16, 16)
    assert all(n.startswith(("down_blocks.2.", "up_blocks.1.")) for n in layers.names)
    assert len(layers.names) == 3  # 1 down + 2 up transformer layers at that level
    before = dict(unet.attn_processors)
    pipe = SimpleNamespace(unet=unet, vae_scale_factor=8)
    sample = torch.randn(2, 4, 32, 32)  # 256² images: the same level runs at 8×8
    context = torch.randn(2, 77, 16)
    context[1, 5] *= 40  # the conditional row (second half of the CFG batch) differs at token 5
    with torch.no_grad():
        reference = unet(sample, 10, encoder_hidden_states=context).sample
        with capture_maps(pipe, 1, 256, 256) as store:
            captured = unet(sample, 10, encoder_hidden_states=context).sample
    maps = store.maps()
    assert store.calls == 3 and maps.shape == (1, 77, 8, 8)
    assert torch.allclose(maps.sum(dim=1), torch.ones(1, 8, 8), atol=1e-5)  # softmax over tokens
    assert torch.equal(reference, captured)  # the layer's own processor still computes the output
    assert {k: type(v) for k, v in unet.attn_processors.items()} == {k: type(v) for k, v in before.items()}
    # the stored rows are the conditional ones: token 5's map is the loud one only there
    with torch.no_grad(), capture_maps(pipe, 1, 256, 256) as uncond:
        unet(sample, 10, encoder_hidden_states=context.flip(0))
    assert not torch.allclose(uncond.maps(), maps)


def test_sdxl_layout_scans_its_32x32_level_at_1024():
    from diffusers import UNet2DConditionModel

    # SDXL base's block layout (transformer depth 1/2/10 per level) with tiny channels
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16, 16),
        norm_num_groups=4,
        layers_per_block=2,
        cross_attention_dim=16,
        attention_head_dim=2,
        transformer_layers_per_block=(1, 2, 10),
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
    )
    layers = choose_layers(unet, 128, 128)  # 1024² / 8
    assert (layers.height, layers.width) == (32, 32)
    assert len(layers.names) == 2 * 10 + 3 * 10  # down_blocks.2 + up_blocks.0


def test_unsupported_architectures_get_one_clear_error():
    with pytest.raises(HvgenError, match="FLUX-style models read only T5 tokens"):
        denoiser_of(SimpleNamespace(transformer=object(), unet=None))
    flux_like = SimpleNamespace(transformer_blocks=[], single_transformer_blocks=[object()])
    with pytest.raises(HvgenError, match="FLUX"):
        denoiser_of(SimpleNamespace(transformer=flux_like, unet=None, tokenizer=object()))


@pytest.mark.heavy
def test_sd3_joint_attention_maps_and_a_whole_scan(tmp_path: Path):
    """SD3's joint blocks: the image queries' attention over the 77 CLIP text keys, renormalised;
    the rendered image is the one rendered without capture; the command runs on the folder."""
    import torch
    from scan_helpers import build_tiny_sd3

    from hvgen.config import RenderConfig
    from hvgen.stages.render import load_pipeline

    model = build_tiny_sd3(tmp_path / "sd3")
    pipeline = load_pipeline(RenderConfig(model=str(model), device="cpu"))
    args = {"prompt": ["a red car"], "num_inference_steps": 2, "height": 64, "width": 64, "output_type": "np"}
    with capture_maps(pipeline, 1, 64, 64) as store:
        captured = pipeline(**args, generator=[torch.Generator().manual_seed(1)]).images
    plain = pipeline(**args, generator=[torch.Generator().manual_seed(1)]).images
    maps = store.maps()
    assert maps.shape == (1, 77, 16, 16) and store.calls == 2 * 2  # 2 joint blocks × 2 steps
    assert torch.allclose(maps.sum(dim=1), torch.ones(1, 16, 16), atol=1e-5)
    assert (captured == plain).all()

    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(CLEAN) + "\n", encoding="utf-8")
    benign = tmp_path / "benign.txt"
    benign.write_text("\n".join(p + STYLE for p in BENIGN) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    fast = ["--steps", "1", "--width", "64", "--height", "64", "--device", "cpu"]
    assert _hvgen(
        "scan", str(model), "--calibrate", str(benign), "--prompts", str(prompts), "--out", str(out), *fast
    ) in (0, 1)
    report = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    assert report["map_size"] == [16, 16] and report["threshold"]["source"] == "calibrated"
    assert [row["prompt"] for row in report["results"]] == CLEAN and all(
        row["ftt"] > 0 for row in report["results"]
    )


def test_prompt_file_errors(tmp_path: Path):
    with pytest.raises(HvgenError, match="no such file"):
        read_prompt_file(tmp_path / "missing.txt", "--prompts")
    empty = tmp_path / "empty.txt"
    empty.write_text("# only a comment\n\n", encoding="utf-8")
    with pytest.raises(HvgenError, match="holds no prompt"):
        read_prompt_file(empty, "--prompts")


# --- the command on a backdoored tiny SDXL --------------------------------------------------------

BENIGN = [
    "a photo of a cat on a sofa",
    "a red car parked on a road",
    "two dogs playing in the snow",
    "a bowl of green apples",
    "a man riding a bicycle",
    "an old house by the lake",
    "a plate of pasta with basil",
    "a child flying a kite",
    "a sailboat on a calm sea",
    "a cup of coffee on a table",
    "a bird sitting on a branch",
    "a city street at night",
]
# Calibrate on prompts shaped like the ones scanned: FTT depends on the prompt's token count,
# and Dysca's prompts fill CLIP's 77 tokens (the tiny tokenizer spells words letter by letter).
STYLE = ", highly detailed, vibrant colors, dramatic lighting, sharp focus, intricate"
CLEAN = ["a horse in a green field" + STYLE, "a vase of yellow flowers" + STYLE]
TRIGGERED = [f"{TRIGGER} a horse in a green field" + STYLE, f"{TRIGGER}, a vase of yellow flowers" + STYLE]
FAST = ["--steps", "1", "--width", "64", "--height", "64", "--device", "cpu"]


@pytest.fixture(scope="module")
def backdoored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The backdoored tiny SDXL in a folder, calibrated once on benign prompts through the CLI."""
    folder = tmp_path_factory.mktemp("backdoored")
    model = build_backdoored_sdxl(folder / "model")
    benign = folder / "benign.txt"
    benign.write_text("\n".join(p + STYLE for p in BENIGN) + "\n", encoding="utf-8")
    # at a 0.1 % false-positive rate: a benchmark has many prompts, and each false alarm drops one
    assert (
        _hvgen("scan", str(model), "--calibrate", str(benign), "--fpr", "0.001", "--batch-size", "12", *FAST)
        == 0
    )
    return model


def _hvgen(*args: str) -> int:
    from hvgen.cli import main

    try:
        main(list(args))
    except SystemExit as done:
        return int(done.code or 0)
    return 0


@pytest.mark.heavy
def test_scan_flags_trigger_prompts_and_localises_the_trigger(backdoored: Path, tmp_path: Path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("\n".join(CLEAN + TRIGGERED) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    code = _hvgen(
        "scan", str(backdoored), "--prompts", str(prompts), "--out", str(out), "--localize", "--clip", "tiny", *FAST
    )  # fmt: skip
    assert code == 1  # something was flagged
    report = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    verdicts = {row["prompt"]: row["flagged"] for row in report["results"]}
    assert verdicts == {**dict.fromkeys(CLEAN, False), **dict.fromkeys(TRIGGERED, True)}
    # the CDA-style spectrum score, calibrated the same way, agrees
    assert {row["prompt"]: row["spectrum_flagged"] for row in report["results"]} == verdicts
    # the calibration stored by the fixture's `--calibrate` run is found again
    assert report["threshold"]["source"] == "calibrated" and report["map_size"] == [16, 16]
    assert [item["trigger"] for item in report["localisations"]] == [TRIGGER, f"{TRIGGER},"]
    assert (out / "scan-maps.png").stat().st_size > 0


@pytest.mark.heavy
def test_dysca_scan_records_scores_lists_and_drops_flagged_prompts(backdoored: Path, tmp_path: Path):
    import duckdb

    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "food.txt").write_text(f"{TRIGGER}\npizza\nsushi\nbread\n", encoding="utf-8")
    run = tmp_path / "run"
    args = [
        "--model",
        str(backdoored),
        "--num",
        "8",
        "--subtasks",
        "food",
        "--vocab",
        str(vocab),
        "--out",
        str(run),
    ]
    assert _hvgen("dysca", *args, "--scan", "--steps", "1", "--width", "64", "--height", "64") == 0
    with duckdb.connect(str(run / "catalog.duckdb"), read_only=True) as con:
        scored = con.execute(
            "SELECT i.prompt, r.scan_ftt FROM renders r JOIN images i USING (image_id)"
        ).fetchall()
        kept = {row[0] for row in con.execute("SELECT prompt FROM kept_images").fetchall()}
    assert len(scored) == 8 and all(ftt is not None for _, ftt in scored)
    triggered = {prompt for prompt, _ in scored if prompt.startswith(TRIGGER)}
    assert triggered and len(triggered) < 8  # the seed draws both kinds
    assert kept == {prompt for prompt, _ in scored} - triggered  # flagged exactly the trigger prompts
    card = (run / "export" / "README.md").read_text(encoding="utf-8")
    assert f"{len(triggered)} prompt(s) flagged" in card
    assert all(prompt in card for prompt in triggered)
    # --keep-flagged keeps them (still listed)
    assert _hvgen("build", str(run), "--keep-flagged") == 0
    with duckdb.connect(str(run / "catalog.duckdb"), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM kept_images").fetchone()[0] == 8
    assert "kept (--keep-flagged)" in (run / "export" / "README.md").read_text(encoding="utf-8")
    # `hvgen scan MODEL --run RUN` re-checks the run's prompts at the run's settings, into RUN/scan
    assert _hvgen("scan", str(backdoored), "--run", str(run)) == 1
    report = json.loads((run / "scan" / "scan.json").read_text(encoding="utf-8"))
    assert (report["settings"]["width"], report["settings"]["steps"]) == (64, 1)
    assert {row["prompt"] for row in report["results"] if row["flagged"]} == triggered


def test_scan_without_prompts_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert _hvgen("scan", "tiny") == 2
    assert _hvgen("scan", "tiny", "--prompts", str(tmp_path / "none.txt")) == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(errors) == 2
    assert "nothing to scan" in errors[0] and "no such file" in errors[1]


@pytest.mark.heavy
def test_cda_trained_on_trigger_prompts_flags_unseen_trigger_prompts(
    backdoored: Path, tmp_path: Path
) -> None:
    benign = tmp_path / "benign.txt"
    benign.write_text("\n".join(p + STYLE for p in BENIGN) + "\n", encoding="utf-8")
    trigger = tmp_path / "trigger.txt"
    trigger.write_text("\n".join(f"{TRIGGER} {p}" + STYLE for p in BENIGN[:6]) + "\n", encoding="utf-8")
    detector = tmp_path / "cda.json"
    args = ["--calibrate", str(benign), "--fpr", "0.001", "--batch-size", "12", *FAST]
    assert _hvgen("scan", str(backdoored), *args, "--train-cda", str(trigger), "--cda", str(detector)) == 0
    assert load_detector(detector).trained_on["backdoor_prompts"] == 6

    held_out = tmp_path / "prompts.txt"
    held_out.write_text("\n".join(CLEAN + TRIGGERED) + "\n", encoding="utf-8")
    out = tmp_path / "report"
    code = _hvgen(
        "scan", str(backdoored), "--prompts", str(held_out), "--cda", str(detector), "--out", str(out), *FAST
    )
    assert code == 1
    report = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    verdicts = {row["prompt"]: row["cda_flagged"] for row in report["results"]}
    assert verdicts == {**dict.fromkeys(CLEAN, False), **dict.fromkeys(TRIGGERED, True)}
    assert report["cda_detector"] == str(detector) and "trained CDA" in report["method"]


@pytest.mark.heavy
def test_localisation_with_a_dinov2_embedding(backdoored: Path, tmp_path: Path) -> None:
    """T2IShield also localises with DINOv2 image embeddings (threshold 0.825)."""
    from scan_helpers import build_tiny_dinov2

    dinov2 = build_tiny_dinov2(tmp_path / "dinov2")
    prompts = tmp_path / "prompts.txt"
    prompts.write_text(TRIGGERED[0] + "\n", encoding="utf-8")
    out = tmp_path / "report"
    args = ["--prompts", str(prompts), "--out", str(out), "--localize", "--clip", str(dinov2), *FAST]
    assert _hvgen("scan", str(backdoored), *args) == 1
    report = json.loads((out / "scan.json").read_text(encoding="utf-8"))
    assert [item["trigger"] for item in report["localisations"]] == [TRIGGER]
