"""`hvgen export RUN --format hqh`: HQH's released layout, for HQH's own evaluate.py.

HQH's evaluate.py reads a model-answer json (``--ans_file``: the records of HQH.json, each with
the model's ``answer`` added) and ``./image_data.json`` (keyed by ``str(image_id)``, with
``caption`` and ``image_information``), and reads ``image_id``, ``type``, ``instruction``,
``ground_truth`` and ``answer`` from each record. So this format writes, under
``RUN/formats/hqh/``:

* ``HQH_<config>.json`` per open config (HQH has only the free-form form): HQH.json's keys in
  its order — integer ``id``, integer ``image_id``, ``image`` (``./images/<n>.png``),
  ``instruction``, ``ground_truth``, ``type`` — then ``hvgen_id`` and ``item_id`` to join back;
* ``image_data.json``: the caption and details of every image, from its prompt;
* ``images/<n>.png`` (for a scenario config, ``images/<scenario>/<n>-<id>.png``, since a
  per-question scenario gives each question its own picture).

Integer ids number the run's questions and images in hex-id order from 1, so a question keeps its
integer id in every config.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError
from hvgen.publish.formats import FORMATS_DIR, ConfigSamples, ExportFormat, FormatContext
from hvgen.store.atomic import write_atomic, write_text_atomic

RELEASED_KEYS = ("id", "image_id", "image", "instruction", "ground_truth", "type")
"""Keys of an HQH.json record, in the released order."""
ID_KEY = "hvgen_id"
IMAGE_DATA = "image_data.json"


def answers_name(config: str) -> str:
    return f"HQH_{config}.json"


class HqhReleaseFormat(ExportFormat):
    """HQH.json-style open questions per config, image_data.json and the images."""

    name = "hqh"
    description = "HQH's released HQH.json + image_data.json + images, read by its own evaluate.py"
    benchmarks = ("hqh",)

    def write(self, ctx: FormatContext, configs: list[ConfigSamples], out: Path) -> list[str]:
        tables = [(item.name, item.scenario, item.table.to_pylist()) for item in configs]
        open_tables = [(n, s, [r for r in rows if r.get("form") == "open"]) for n, s, rows in tables]
        open_tables = [(n, s, rows) for n, s, rows in open_tables if rows]
        if not open_tables:
            raise HvgenError(
                "the hqh format writes HQH's free-form questions, and this export has none: plan the run with the "
                "open form (it always is, unless the records were filtered) and export again."
            )
        question_ids = sorted({row["id"] for _, _, rows in open_tables for row in rows})
        image_ids = sorted({row["image_id"] for _, _, rows in open_tables for row in rows})
        question_number = {hex_id: n for n, hex_id in enumerate(question_ids, start=1)}
        image_number = {hex_id: n for n, hex_id in enumerate(image_ids, start=1)}
        files: list[str] = []
        image_data: dict[str, dict[str, str]] = {}
        written: set[str] = set()
        for config, scenario, rows in open_tables:
            records = []
            for row in rows:
                number = image_number[row["image_id"]]
                name = (
                    f"images/{number}.png"
                    if scenario == "clean"
                    else f"images/{scenario}/{number}-{row['id']}.png"
                )
                if name not in written:
                    data = ctx.read_image(row["_image_path"])
                    write_atomic(out / name, lambda handle, data=data: handle.write(data))
                    written.add(name)
                    files.append(name)
                image_data[str(number)] = {"caption": row["caption"], "image_information": row["details"]}
                records.append(release_record(row, question_number[row["id"]], number, f"./{name}"))
            write_text_atomic(
                out / answers_name(config), json.dumps(records, ensure_ascii=False, indent=2) + "\n"
            )
            files.append(answers_name(config))
        ordered = dict(sorted(image_data.items(), key=lambda kv: int(kv[0])))
        write_text_atomic(out / IMAGE_DATA, json.dumps(ordered, ensure_ascii=False, indent=2) + "\n")
        files.append(IMAGE_DATA)
        final = ctx.run_dir / FORMATS_DIR / self.name
        write_text_atomic(out / "README.md", _readme(final, [name for name, _, _ in open_tables]))
        files.append("README.md")
        return files

    def next_steps(self, out: Path) -> str:
        return (
            f'answer each record of {out}/HQH_open.json (add its model output as "answer"), then from {out} run '
            "HQH's evaluate.py --ans_file <answers.json> (it reads ./image_data.json); or score with hvgen: "
            "hvgen score hqh RUN PRED.jsonl --judge … (predictions keyed by hvgen_id)"
        )


def release_record(row: dict[str, Any], number: int, image_number: int, image: str) -> dict[str, Any]:
    """One export row → an HQH.json record (released keys first, in order)."""
    return {
        "id": number,
        "image_id": image_number,
        "image": image,
        "instruction": row["instruction"],
        "ground_truth": row["ground_truth"],
        "type": row["type"],
        ID_KEY: row["id"],
        "item_id": row["item_id"],
        "scenario": row.get("scenario", "clean"),
    }


def _readme(out: Path, configs: list[str]) -> str:
    lines = [
        "# HQH release layout (written by `hvgen export RUN --format hqh`)",
        "",
        "HQH.json-style questions (the free-form form) per config, the image data HQH's judge prompt",
        "reads, and the images (paths relative to this folder):",
        "",
        *[f"- `{answers_name(config)}`" for config in configs],
        f"- `{IMAGE_DATA}` (keyed by `image_id`: `caption`, `image_information`)",
        "",
        "Add each model output to its record as `answer`, save the list as a json file, and run HQH's",
        "`evaluate.py --ans_file <that file> --openai_key …` from this folder (it opens `./image_data.json`).",
        "HQH's current code (HQHBench/HQHBench, evaluate.py and utils.py as of February 2025) runs as it is:",
        "the judge prompt `template` in utils.py has five `{}` and evaluate.py fills all five (instruction,",
        "ground truth, image caption, image details, the model's `answer`); it asks GPT-4o through",
        "`openai.ChatCompletion`, so it needs `openai<1`, and it retries a judge reply that lacks",
        "`Answer:` or `Extra Contradictory Claims: N` until one has both. (Some earlier commits paired a",
        "template and a `format` call that differed by one `{}` — July 2024, and evaluate.py's 18 February",
        "2025 commit before utils.py's; the current pair agrees.) `hvgen score hqh` also scores the",
        "closed-ended twins.",
        "",
        f"Folder: {out}",
        "",
    ]
    return "\n".join(lines)
