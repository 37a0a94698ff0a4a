"""Re-annotation with a vision-language model (hvgen.annotate, `hvgen annotate`).

The model is the built-in tiny random LLaVA, built from configs, saved with `save_pretrained`
into the session's HVGEN_CACHE and loaded back through the real `from_pretrained` path. Its
replies are junk, so these tests check the mechanics (rows, marking, determinism, resume);
the reply parser is checked on hand-written replies.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import hvgen.annotate.annotations as annotations_module
from hvgen.annotate import annotate_images, parse_reply, read_annotations
from hvgen.annotate.parsing import NO_ATTRIBUTES, NO_CAPTION, PARSED, UNPARSED
from hvgen.annotate.tiny import TINY_VLM_VERSION, tiny_vlm_path
from hvgen.cli import main
from hvgen.errors import HvgenError, ModelLoadError

STATUSES = {PARSED, NO_ATTRIBUTES, NO_CAPTION, UNPARSED, "unreadable_image"}
FIELDS = {
    "key",
    "image",
    "caption",
    "attributes",
    "status",
    "reply",
    "generated_by",
    "prompt_version",
    "decoding",
    "model_generated",
}
FAST = {"batch_size": 2, "max_new_tokens": 6, "device": "cpu"}


@pytest.fixture(scope="session")
def tiny_vlm(tiny_cache: Path) -> Path:
    """The tiny captioner's folder, built once per session under HVGEN_CACHE."""
    path = tiny_vlm_path()
    assert path.parent == tiny_cache
    return path


@pytest.fixture(scope="session")
def images(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Five small face-sized PNGs (solid colours and noise), one in a subfolder."""
    folder = tmp_path_factory.mktemp("faces")
    (folder / "sub").mkdir()
    colours = [(230, 30, 30), (20, 200, 40), (30, 40, 220), (240, 240, 240)]
    for index, colour in enumerate(colours):
        Image.new("RGB", (40 + 6 * index, 48), colour).save(folder / f"face{index}.png")
    noise = np.random.default_rng(0).integers(0, 255, (36, 36, 3), dtype=np.uint8)
    Image.fromarray(noise).save(folder / "sub" / "noise.png")
    return folder


@pytest.fixture(scope="session")
def short_prompt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short prompt, so the image (not the text) dominates the tiny model's input."""
    path = tmp_path_factory.mktemp("prompt") / "short.j2"
    path.write_text("Describe face {{ key }}.\n", encoding="utf-8")
    return path


def items_of(folder: Path) -> list[tuple[str, Path]]:
    return [(path.relative_to(folder).as_posix(), path) for path in sorted(folder.rglob("*.png"))]


@pytest.fixture(scope="session")
def full_run(
    tiny_vlm: Path, images: Path, short_prompt: Path, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, dict]:
    """One uninterrupted annotation of the five images: the reference file."""
    out = tmp_path_factory.mktemp("full") / "annotations.jsonl"
    result = annotate_images(items_of(images), "tiny", out, prompt=short_prompt, **FAST)
    return out, result


def rows_of(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_every_image_gets_one_marked_row(full_run: tuple[Path, dict], images: Path) -> None:
    out, result = full_run
    rows = rows_of(out)
    keys = [key for key, _ in items_of(images)]
    assert [row["key"] for row in rows] == keys == list(result)
    for row in rows:
        assert set(row) == FIELDS
        assert row["model_generated"] is True
        assert row["generated_by"] == f"hvgen/{TINY_VLM_VERSION}"
        assert row["prompt_version"].startswith("short.j2@")
        assert row["decoding"] == {"max_new_tokens": 6, "mode": "greedy"}
        assert row["status"] in STATUSES
        assert isinstance(row["reply"], str)
        assert result[row["key"]].as_row() == row
    assert read_annotations(out) == result
    # the image reaches the model: different pictures, different replies
    assert len({row["reply"] for row in rows}) > 1


def test_batching_does_not_change_replies(
    full_run: tuple[Path, dict], images: Path, short_prompt: Path, tmp_path: Path
) -> None:
    out, _ = full_run
    one_by_one = tmp_path / "single.jsonl"
    annotate_images(items_of(images), "tiny", one_by_one, prompt=short_prompt, **{**FAST, "batch_size": 1})
    assert one_by_one.read_bytes() == out.read_bytes()


def test_rerun_skips_finished_keys_without_loading_the_model(
    full_run: tuple[Path, dict], images: Path, short_prompt: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out, result = full_run
    before = out.read_bytes()

    def must_not_load(*args: object, **kwargs: object) -> None:
        raise AssertionError("the model was loaded although every key was annotated")

    monkeypatch.setattr(annotations_module, "load_captioner", must_not_load)
    again = annotate_images(items_of(images), "tiny", out, prompt=short_prompt, **FAST)
    assert again == result
    assert out.read_bytes() == before


def test_resume_after_a_partial_log_with_a_torn_line(
    full_run: tuple[Path, dict], images: Path, short_prompt: Path, tmp_path: Path
) -> None:
    reference = full_run[0].read_bytes()
    lines = reference.splitlines(keepends=True)
    partial = tmp_path / "annotations.jsonl"
    partial.write_bytes(b"".join(lines[:3]) + lines[3][: len(lines[3]) // 2])  # crash mid-append
    annotate_images(items_of(images), "tiny", partial, prompt=short_prompt, **FAST)
    assert partial.read_bytes() == reference


def test_resume_from_rows_out_of_order_gives_the_same_file(
    full_run: tuple[Path, dict], images: Path, short_prompt: Path, tmp_path: Path
) -> None:
    reference = full_run[0].read_bytes()
    lines = reference.splitlines(keepends=True)
    shuffled = tmp_path / "annotations.jsonl"
    shuffled.write_bytes(lines[4] + lines[0])
    annotate_images(items_of(images), "tiny", shuffled, prompt=short_prompt, **FAST)
    assert shuffled.read_bytes() == reference


def test_a_log_made_differently_is_refused(full_run: tuple[Path, dict], images: Path, tmp_path: Path) -> None:
    log = tmp_path / "annotations.jsonl"
    log.write_bytes(full_run[0].read_bytes())
    with pytest.raises(HvgenError, match="made differently.*short.j2.*face.j2"):
        annotate_images(items_of(images), "tiny", log, **FAST)  # the built-in prompt this time


def test_sampling_is_seeded_per_image(
    images: Path, short_prompt: Path, tmp_path: Path, tiny_vlm: Path
) -> None:
    items = items_of(images)[:2]
    settings = {**FAST, "max_new_tokens": 8, "temperature": 1.0}
    files = {}
    for name, seed in [("a", 1), ("b", 1), ("c", 2)]:
        files[name] = tmp_path / f"{name}.jsonl"
        annotate_images(items, "tiny", files[name], prompt=short_prompt, seed=seed, **settings)
    one_by_one = tmp_path / "single.jsonl"  # each image's seed is its own: neighbours do not matter
    annotate_images(items, "tiny", one_by_one, prompt=short_prompt, seed=1, **{**settings, "batch_size": 1})
    assert files["a"].read_bytes() == files["b"].read_bytes() == one_by_one.read_bytes()
    assert files["a"].read_bytes() != files["c"].read_bytes()
    assert rows_of(files["a"])[0]["decoding"] == {
        "max_new_tokens": 8,
        "mode": "sample",
        "seed": 1,
        "temperature": 1.0,
    }


def test_a_model_folder_loads_and_a_broken_image_is_recorded(tiny_vlm: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.png"
    Image.new("RGB", (32, 32), (120, 60, 30)).save(good)
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png at all")
    result = annotate_images(
        [("good", good), ("broken", broken)], str(tiny_vlm), tmp_path / "out.jsonl", **FAST
    )
    assert result["broken"].status == "unreadable_image" and result["broken"].reply is None
    assert result["good"].status in STATUSES - {"unreadable_image"}
    assert result["good"].generated_by == str(tiny_vlm)


def test_bad_items_are_one_clear_error(images: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    first = items_of(images)[0]
    with pytest.raises(HvgenError, match="appears twice"):
        annotate_images([first, first], "tiny", out)
    with pytest.raises(HvgenError, match="not found: .*missing.png"):
        annotate_images([("x", tmp_path / "missing.png")], "tiny", out)
    with pytest.raises(HvgenError, match="--batch-size must be .*, got 0"):
        annotate_images([first], "tiny", out, batch_size=0)
    bad_prompt = tmp_path / "bad.j2"
    bad_prompt.write_text("Describe {{ person }}.", encoding="utf-8")
    with pytest.raises(HvgenError, match="bad.j2.*'person' is undefined.*key, file_name"):
        annotate_images([first], "tiny", out, prompt=bad_prompt, device="cpu")
    assert not out.exists()  # no empty log left behind by a failed start


# --- reply parsing, on hand-written replies ---------------------------------------------------


def test_parse_the_requested_two_lines() -> None:
    reply = (
        "Caption: A smiling young woman with long black hair and round glasses, facing the camera.\n"
        "Attributes: young adult, Smiling, black hair, eyeglasses, frontal pose, smiling."
    )
    parsed = parse_reply(reply)
    assert parsed.status == PARSED
    assert (
        parsed.caption == "A smiling young woman with long black hair and round glasses, facing the camera."
    )
    assert parsed.attributes == ["young adult", "smiling", "black hair", "eyeglasses", "frontal pose"]


def test_parse_markdown_and_json_replies() -> None:
    markdown = (
        "**Caption:** An older man with a grey beard.\n**Attributes:**\n1. elderly\n2) beard\n- grey hair"
    )
    parsed = parse_reply(markdown)
    assert (parsed.caption, parsed.attributes) == (
        "An older man with a grey beard.",
        ["elderly", "beard", "grey hair"],
    )
    fenced = 'Sure!\n```json\n{"Caption": "A child laughing.", "attributes": ["child", "laughing", 3]}\n```'
    parsed = parse_reply(fenced)
    assert (parsed.status, parsed.caption, parsed.attributes) == (
        PARSED,
        "A child laughing.",
        ["child", "laughing"],
    )
    assert parse_reply('{"caption": "A man.", "tags": "hat; sunglasses"}').attributes == ["hat", "sunglasses"]


def test_parse_missing_parts() -> None:
    no_attributes = parse_reply("Caption: A woman with red hair looking left.")
    assert (no_attributes.status, no_attributes.caption, no_attributes.attributes) == (
        NO_ATTRIBUTES,
        "A woman with red hair looking left.",
        [],
    )
    no_caption = parse_reply("Attributes: beard, hat")
    assert (no_caption.status, no_caption.caption, no_caption.attributes) == (
        NO_CAPTION,
        None,
        ["beard", "hat"],
    )


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "   \n ",
        "\x10\ufffd<*\ufffd\ufffdo\ufffd",  # what the tiny random model says
        "I cannot help with that.",  # no labels: not guessed into a caption
        "Caption: \x02\x03\ufffd\nAttributes: \ufffd, ,",
        "{not json at all",
        '{"caption": 3, "attributes": {"a": 1}}',
        "```json\n[1, 2]\n```",
    ],
)
def test_parse_junk_never_raises(reply: str) -> None:
    parsed = parse_reply(reply)
    assert (parsed.status, parsed.caption, parsed.attributes) == (UNPARSED, None, [])


# --- the command ------------------------------------------------------------------------------


def test_command_annotates_a_folder(
    images: Path,
    short_prompt: Path,
    full_run: tuple[Path, dict],
    tmp_path: Path,
    capsys: pytest.CaptureFixture,
) -> None:
    out = tmp_path / "out"
    args = ["annotate", str(images), "--captioner", "tiny", "--out", str(out), "--prompt", str(short_prompt)]
    main([*args, "--batch-size", "2", "--max-new-tokens", "6", "--device", "cpu"])
    assert "5 image(s) annotated by tiny" in capsys.readouterr().err
    rows = rows_of(out / "annotations.jsonl")
    reference = rows_of(full_run[0])
    assert [{k: v for k, v in row.items() if k != "image"} for row in rows] == [
        {k: v for k, v in row.items() if k != "image"} for row in reference
    ]
    assert (
        rows[-1]["key"] == "sub/noise.png" and rows[-1]["image"] == "sub/noise.png"
    )  # named inside the folder, never a machine path


def test_command_help_explains_every_option(capsys: pytest.CaptureFixture) -> None:
    main(["annotate", "--help"])  # exit status 0 returns normally
    text = " ".join(capsys.readouterr().out.split())
    for option in ["--captioner", "--out", "--prompt", "--batch-size", "--max-new-tokens", "--temperature"]:
        assert option in text
    assert "model_generated" in text and "resumes" in text


def cli_error(args: list[str], capsys: pytest.CaptureFixture) -> str:
    with pytest.raises(SystemExit) as done:
        main(args)
    assert done.value.code == 2
    return " ".join(capsys.readouterr().err.split())


def test_command_errors(images: Path, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    out = ["--out", str(tmp_path / "out")]
    missing = cli_error(["annotate", str(tmp_path / "nowhere"), "--captioner", "tiny", *out], capsys)
    assert "no such folder" in missing and "nowhere" in missing
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "notes.txt").write_text("no images here")
    assert "no images found" in cli_error(
        ["annotate", str(tmp_path / "empty"), "--captioner", "tiny", *out], capsys
    )
    typo = cli_error(["annotate", str(images), "--captioner", "tinyy", *out], capsys)
    assert "unknown model (did you mean 'tiny'?)" in typo
    assert "does not exist" in cli_error(
        ["annotate", str(images), "--captioner", "./no/such/model", *out], capsys
    )
    (tmp_path / "not-a-model").mkdir()
    no_config = cli_error(
        ["annotate", str(images), "--captioner", str(tmp_path / "not-a-model"), *out], capsys
    )
    assert "no config.json" in no_config


def test_an_uncached_hub_model_says_how_to_get_it(
    images: Path, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf-home"))
    message = cli_error(
        [
            "annotate",
            str(images),
            "--captioner",
            "nobody/no-such-vlm",
            "--out",
            str(tmp_path / "o"),
            "--device",
            "cpu",
        ],
        capsys,
    )
    assert "--captioner nobody/no-such-vlm" in message
    assert "HF_HUB_OFFLINE=1" in message and "hf download nobody/no-such-vlm" in message


def test_a_model_that_is_not_image_text_to_text_is_refused(tmp_path: Path, tiny_cache: Path) -> None:
    from hvgen.annotate.captioner import load_captioner
    from hvgen.surrogate import build_tiny_clip

    clip = build_tiny_clip(tmp_path / "clip")
    with pytest.raises(ModelLoadError, match="model_type 'clip'.*not an image-text-to-text model"):
        load_captioner(str(clip), device="cpu")
