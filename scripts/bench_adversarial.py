"""Adversarial scenario throughput: questions/s of hvgen's `AdversarialScenario` per batch size.

The real scenario class (torchattacks PGD against a CLIP zero-shot classifier whose classes are
each question's options, through a differentiable resize of the full-resolution image, 8-bit
rounding and re-projection) runs on real Dysca records (a small real plan) paired with synthetic
scenes of `--size`² pixels. Timed: `apply_batch` over `--num` questions — the attack and the
params, not the PNG encoding of the stage. Each batch size is a configuration of `_timing.py`
(warm-up, which also loads the surrogate; alternated rounds; min and median).

Surrogates: `tiny` (hvgen's built-in random CLIP, 32² input: the engine's overheads),
`clip-l-random` (CLIP ViT-L/14's published architecture — vision 1024 wide × 24 layers at 224²,
patch 14; text 768 × 12 — with random weights, built from the config in code: the cost of the
default surrogate `openai/clip-vit-large-patch14` without a download), `clip-b-random` (ViT-B/32's:
vision 768 × 12 at 224², patch 32, text 512 × 12; a real-sized model that a CPU attacks in
seconds), or any CLIP id / folder. `--threads 1,2` compares torch thread counts.

    python scripts/bench_adversarial.py                                   # CPU, tiny surrogate
    git show REV:hvgen/scenarios/adversarial.py > /tmp/adversarial_rev.py  # another version,
    python scripts/bench_adversarial.py --baseline /tmp/adversarial_rev.py # timed alternately
    python scripts/bench_adversarial.py --device cuda --surrogate clip-l-random --size 1024 \\
        --num 256 --batch-sizes 1,8,16,32
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Config, compare, machine  # noqa: E402

CLIP_L = {
    "text_config": {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        "projection_dim": 768,
    },
    "vision_config": {
        "hidden_size": 1024,
        "intermediate_size": 4096,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "image_size": 224,
        "patch_size": 14,
        "hidden_act": "quick_gelu",
        "projection_dim": 768,
    },
    "projection_dim": 768,
    "logit_scale_init_value": 2.6592,
}
"""openai/clip-vit-large-patch14's config.json (architecture fields)."""

CLIP_B = {
    "text_config": {
        "hidden_size": 512,
        "intermediate_size": 2048,
        "num_hidden_layers": 12,
        "num_attention_heads": 8,
        "max_position_embeddings": 77,
        "hidden_act": "quick_gelu",
        "projection_dim": 512,
    },
    "vision_config": {
        "hidden_size": 768,
        "intermediate_size": 3072,
        "num_hidden_layers": 12,
        "num_attention_heads": 12,
        "image_size": 224,
        "patch_size": 32,
        "hidden_act": "quick_gelu",
        "projection_dim": 512,
    },
    "projection_dim": 512,
    "logit_scale_init_value": 2.6592,
}
"""openai/clip-vit-base-patch32's config.json (architecture fields)."""

RANDOM_CLIPS = {"clip-l-random": CLIP_L, "clip-b-random": CLIP_B}


def build_clip_random(directory: Path, architecture: dict[str, Any] = CLIP_L, seed: int = 0) -> Path:
    """A CLIP architecture (`CLIP_L`, `CLIP_B`) with random weights and a small character-level
    tokenizer, saved so `load_surrogate` (CLIPModel/CLIPProcessor.from_pretrained) reads it like
    the real one."""
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    from hvgen.surrogate import _tiny_vocab

    vocab, merges = _tiny_vocab()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=77)
    text = dict(architecture["text_config"], vocab_size=len(vocab))
    text.update(
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    config = CLIPConfig(
        text_config=text,
        vision_config=architecture["vision_config"],
        projection_dim=architecture["projection_dim"],
        logit_scale_init_value=architecture["logit_scale_init_value"],
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CLIPModel(config).eval()
    model.save_pretrained(directory)
    processor = CLIPImageProcessor(size={"shortest_edge": 224}, crop_size={"height": 224, "width": 224})
    CLIPProcessor(image_processor=processor, tokenizer=tokenizer).save_pretrained(directory)
    return directory


def inputs_for(num: int, size: int, seed: int) -> list[Any]:
    """`num` ScenarioInputs: real Dysca questions with synthetic scenes of size²."""
    import numpy as np
    from PIL import Image, ImageDraw

    from hvgen.config import RunConfig
    from hvgen.pipeline import resolve_config
    from hvgen.scenarios.base import ScenarioInput
    from hvgen.seeding import derive_seed
    from hvgen.stages.plan import build_generator, plan_records

    config = resolve_config(RunConfig(benchmark="dysca", seed=seed, num=max(14, num // 5 + 1)))
    records = plan_records(build_generator(config))[:num]
    if len(records) < num:
        raise SystemExit(f"the plan has only {len(records)} questions; lower --num")
    rng = np.random.default_rng(seed)
    images: dict[str, Image.Image] = {}
    items = []
    for record in records:
        if record["image_id"] not in images:
            image = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
            draw = ImageDraw.Draw(image)
            for _ in range(4):
                x0, y0 = (int(v) for v in rng.integers(0, size // 2, 2))
                draw.ellipse(
                    (x0, y0, x0 + size // 3, y0 + size // 4),
                    fill=tuple(int(v) for v in rng.integers(0, 256, 3)),
                )
            images[record["image_id"]] = image
        seed_ = derive_seed(seed, "scenario", "adversarial", record["id"])
        items.append(ScenarioInput(image=images[record["image_id"]], seed=seed_, record=record))
    return items


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=64, help="questions per configuration and round")
    parser.add_argument("--size", type=int, default=256, help="image side (Dysca: 1024)")
    parser.add_argument("--batch-sizes", default="1,4,16")
    parser.add_argument(
        "--surrogate", default="tiny", help="tiny, clip-l-random, clip-b-random, or a CLIP id / folder"
    )
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10, help="PGD iterations (hvgen's default: 10)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument(
        "--threads",
        default="",
        help="torch thread counts to compare, e.g. 1,2 (default: torch's own, the cores)",
    )
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another version of hvgen/scenarios/adversarial.py (git show REV:PATH > FILE): each batch "
        "size is also timed with its AdversarialScenario, in the same rounds",
    )
    args = parser.parse_args(argv)

    import torch

    from hvgen.scenarios.adversarial import AdversarialScenario
    from hvgen.surrogate import tiny_clip_path

    try:
        thread_counts = (
            [int(t) for t in args.threads.split(",")] if args.threads else [torch.get_num_threads()]
        )
    except ValueError:
        raise SystemExit(f"--threads takes a comma list of integers, got {args.threads!r}") from None
    if min(thread_counts) < 1:
        raise SystemExit(f"--threads must be >= 1, got {args.threads}")
    print(f"# adversarial benchmark — {machine()}, torch threads {','.join(map(str, thread_counts))}")
    temp = tempfile.TemporaryDirectory(prefix="hvgen-bench-adv-")
    if args.surrogate == "tiny":
        surrogate = str(tiny_clip_path())
    elif args.surrogate in RANDOM_CLIPS:
        started = time.perf_counter()
        surrogate = str(build_clip_random(Path(temp.name) / args.surrogate, RANDOM_CLIPS[args.surrogate]))
        print(f"built {args.surrogate} in {time.perf_counter() - started:.0f} s")
    else:
        surrogate = args.surrogate
    items = inputs_for(args.num, args.size, args.seed)
    print(
        f"{len(items)} questions on {len({id(i.image) for i in items})} images of {args.size}², "
        f"surrogate {args.surrogate}, PGD {args.steps} steps, device {args.device}"
    )
    success: dict[str, float] = {}
    versions = {"": AdversarialScenario}
    if args.baseline:
        versions[" baseline"] = load_scenario_class(args.baseline)

    def config(batch_size: int, threads: int, version: str) -> Config:
        scenario = versions[version](
            surrogate=surrogate,
            steps=args.steps,
            device=args.device,
            batch_size=batch_size,
            label=args.surrogate,
        )
        name = f"batch {batch_size}" + (f" threads {threads}" if len(thread_counts) > 1 else "") + version

        def run() -> float:
            torch.set_num_threads(threads)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            started = time.perf_counter()
            outputs = scenario.apply_batch(items)
            if args.device.startswith("cuda"):
                torch.cuda.synchronize()
            seconds = time.perf_counter() - started
            done = [o.params for o in outputs if o.image is not None]
            success[name] = sum(p["success"] for p in done) / max(len(done), 1)
            return seconds

        return Config(name, run)

    configs = [
        config(int(size), threads, version)
        for size in args.batch_sizes.split(",")
        for threads in thread_counts
        for version in versions
    ]
    try:
        results = compare(configs, repeats=args.repeats, warmup=args.warmup)
    finally:
        temp.cleanup()
    base = results[configs[0].name].min
    print(
        f"{'config':<29} {'questions/s (min time)':>23} {'(median time)':>14} {'vs first':>9} {'attack success':>15}"
    )
    for item in configs:
        timing = results[item.name]
        print(
            f"{item.name:<29} {len(items) / timing.min:>23.1f} {len(items) / timing.median:>14.1f} "
            f"{base / timing.min:>8.2f}x {success[item.name]:>15.2f}"
        )


def load_scenario_class(path: Path) -> Any:
    """`AdversarialScenario` from a copy of the module at another revision (imported under its
    own name, so both versions live in this process)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("hvgen_adversarial_baseline", path)
    if spec is None or spec.loader is None or not path.is_file():
        raise SystemExit(f"--baseline {path}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module.AdversarialScenario


if __name__ == "__main__":
    main()
