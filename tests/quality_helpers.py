"""Test helpers for scoring and quality: a tiny random sentence encoder, and simulated models.

A simulated model answers each question right with its own probability (its skill), so the
scores it gets on two forms of a benchmark differ only by sampling noise: the true
parallel-forms correlation is then known from the skills alone.
"""

from __future__ import annotations

import json
import random
import string
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from hvgen.seeding import derive_seed


def tiny_embedder(directory: Path) -> Path:
    """A random 2-layer BERT with a word-piece vocabulary of letters and common words, saved
    with save_pretrained so the scorer loads it through AutoModel/AutoTokenizer like a real one."""
    from transformers import BertConfig, BertModel, BertTokenizerFast

    if (directory / "config.json").is_file():
        return directory
    directory.mkdir(parents=True, exist_ok=True)
    words = [
        "a",
        "the",
        "cat",
        "dog",
        "color",
        "red",
        "blue",
        "background",
        "style",
        "watercolor",
        "person",
        "face",
        "portrait",
    ]
    pieces = list(string.ascii_lowercase + string.digits + string.punctuation)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *words, *pieces, *[f"##{p}" for p in pieces]]
    (directory / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(directory / "vocab.txt"), model_max_length=64)
    tokenizer.save_pretrained(directory)
    config = BertConfig(
        vocab_size=len(tokenizer),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=64,
    )
    import torch

    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory)
    return directory


def letter(index: int) -> str:
    return chr(ord("A") + index)


def simulated_answer(record: Mapping[str, Any], correct: bool, rng: random.Random) -> str:
    """What a model with this outcome says: the right option's letter or a wrong one's; for a
    caption the reference itself, or an unrelated sentence."""
    options = list(record.get("options") or [])
    if not options:
        return str(record["answer"]) if correct else "a photograph of something"
    right = options.index(record["answer"])
    choice = right if correct else rng.choice([i for i in range(len(options)) if i != right])
    return f"({letter(choice)})"


def simulate_predictions(
    records: Sequence[Mapping[str, Any]], skill: float, model_seed: int, path: Path
) -> Path:
    """Write a JSONL predictions file of a model that answers each question right with
    probability `skill` (else a uniformly wrong option), seeded per model and question."""
    lines = []
    for record in records:
        rng = random.Random(derive_seed(model_seed, "simulated-answer", str(record["id"])))
        correct = rng.random() < skill
        lines.append(json.dumps({"id": record["id"], "prediction": simulated_answer(record, correct, rng)}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
