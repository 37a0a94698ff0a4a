"""Test helpers for HQH: export-shaped folders from a plan, and simulated models."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from hvgen.generator import PlanRequest, get_generator
from hvgen.seeding import derive_seed


def export_of(seed: int, folder: Path, num: int = 32) -> list[dict]:
    """An export-shaped folder (one parquet file) of an HQH plan: `hvgen score` and `hvgen
    quality` read it like an export, with no rendering."""
    records = get_generator("hqh")(PlanRequest(run_seed=seed, num=num, options={})).plan().records
    (folder / "data" / "all").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(records), folder / "data" / "all" / "test-00000-of-00001.parquet")
    return records


def simulate(records: list[dict], skill: float, model: str, path: Path) -> Path:
    """A model right with probability `skill` (seeded per model and question): the truth in
    words, else the foil (a wrong value of the same vocabulary)."""
    lines = []
    for record in records:
        rng = random.Random(derive_seed(0, model, record["id"]))
        right = rng.random() < skill
        if record["question_type"] == "free form":
            answer = record["ground_truth"] if right else f"It is {record['foil']}."
        elif record["question_type"] == "yes/no":
            answer = record["answer"] if right else ("No" if record["answer"] == "Yes" else "Yes")
        else:
            answer = record["answer"] if right else record["foil"]
        lines.append(json.dumps({"id": record["id"], "prediction": answer}))
    path.write_text("\n".join(lines) + "\n")
    return path
