"""`hvgen export RUN --format dysca`: the released Dysca layout, for Dysca's own scorer.

Dysca's evaluation script (``evaluate_LVLMs/Dysca_compute.py`` of Benchmark-Dysca/Dysca) reads a
ground-truth json (``--file_ground_truth``, a list of released records) and a model-output json
(``--file_model_output``, a list of ``{"answer": ...}`` in the *same order*: it pairs them by list
position, not by id). From the ground truth it reads ``question_type`` (exactly "multi choice",
"true or false" or "image caption"), ``question_majority``, ``answer`` and ``instruction`` — it
recovers the option list by splitting the instruction between "Choices:\\n" and "\\nHint:" and
taking the text after "(X) " on each line. An inference loop joins a data root with
``images[0]``.

So this format writes, under ``RUN/formats/dysca/``:

* ``Dysca_<config>.json`` per export config (scenario): the released keys in the released order
  (an integer ``id``, ``images``, ``prompt``, ``negative_prompt``, ``instruction``, ``question``,
  ``answer``, ``question_type``, ``task``, ``options``, ``question_majority``), then hvgen's own
  fields (``granularity`` — written by the original code too —, ``hvgen_id``, seeds, scenario
  parameters, ...), so predictions can be joined back to the Hub export by ``hvgen_id``;
* the images those ``images`` paths name, relative to the folder: one tree serves every config
  (``images/ab/<image_id>.png`` for clean, ``scenarios/<scenario>/ab/<key>.png`` otherwise);
* ``README.md`` saying how to run the scorer.

Integer ids number the union of the configs' questions in hvgen-id order from 1, so a question
has the same integer id in every config and the same run always gives the same ids.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError
from hvgen.publish.formats import FORMATS_DIR, ConfigSamples, ExportFormat, FormatContext
from hvgen.store.atomic import write_atomic, write_text_atomic
from hvgen.store.files import checked_relpath

RELEASED_KEYS = (
    "id",
    "images",
    "prompt",
    "negative_prompt",
    "instruction",
    "question",
    "answer",
    "question_type",
    "task",
    "options",
    "question_majority",
)
"""Keys of a released Dysca.json record, in the released order (pqa_generate/README.md)."""
RELEASED_QUESTION_TYPES = ("multi choice", "true or false", "image caption")
CHOICE_TYPES = ("multi choice", "true or false")
ID_KEY = "hvgen_id"
"""Our stable hex id, kept beside the released integer id to join predictions back."""
_INTERNAL = {"_image_path", "_condition_path"}
SCORER = "evaluate_LVLMs/Dysca_compute.py"


def ground_truth_name(config: str) -> str:
    """File name of one config's ground truth (the scorer's --file_ground_truth)."""
    return f"Dysca_{config}.json"


def scorer_choices(instruction: str) -> list[str]:
    """The option texts Dysca_compute.py recovers from an instruction: the lines between
    "Choices:\\n" and "\\nHint:", each without its "(X) " prefix."""
    block = instruction.split("Choices:\n")[-1].split("\nHint:")[0]
    return [" ".join(line.split(" ")[1:]) for line in block.split("\n")]


class DyscaReleaseFormat(ExportFormat):
    """Dysca.json-style ground truth per scenario plus the image tree it names."""

    name = "dysca"
    description = "Dysca's released json + image folder, read by its own Dysca_compute.py"
    benchmarks = ("dysca",)

    def write(self, ctx: FormatContext, configs: list[ConfigSamples], out: Path) -> list[str]:
        tables = [(item.name, item.table.to_pylist()) for item in configs]
        all_ids = sorted({row["id"] for _, rows in tables for row in rows})
        int_ids = {hex_id: number for number, hex_id in enumerate(all_ids, start=1)}
        files: list[str] = []
        copied: set[str] = set()
        for config, rows in tables:
            records = []
            for row in rows:
                records.append(release_record(row, int_ids[row["id"]], config, ctx.run_dir))
                path = row["_image_path"]
                if path not in copied:
                    target = out / checked_relpath(path, "export rows")
                    data = ctx.read_image(path)
                    write_atomic(target, lambda handle, data=data: handle.write(data))
                    copied.add(path)
                    files.append(path)
            name = ground_truth_name(config)
            write_text_atomic(out / name, json.dumps(records, ensure_ascii=False, indent=2) + "\n")
            files.append(name)
        final = ctx.run_dir / FORMATS_DIR / self.name  # `out` is a staging folder renamed to this
        write_text_atomic(out / "README.md", _readme(final, [config for config, _ in tables]))
        files.append("README.md")
        return files

    def next_steps(self, out: Path) -> str:
        gt = _first_ground_truth(out)
        config = gt.stem.removeprefix("Dysca_")
        return (
            f"score with Dysca's own scorer (fix its two argument names first: see {out / 'README.md'}):\n"
            f"  {scorer_command(gt, config)}\n"
            f"  (MODEL_{config}.json: a json list in the order of {gt.name}, one "
            f'{{"id": ..., "answer": "<model output>"}} per question; images at {out}/<images[0]>)'
        )


def scorer_command(ground_truth: Path, config: str, model: str = "MODEL") -> str:
    """The command line that scores one config with the original scorer."""
    return (
        f"python {SCORER} --file_ground_truth {ground_truth} --file_model_output {model}_{config}.json "
        f"--evaluation_score {model}_{config}.xlsx --model_name {model}"
    )


def release_record(
    row: dict[str, Any], number: int, config: str, run_dir: Path | str = "RUN"
) -> dict[str, Any]:
    """One export row → a released Dysca.json record (released keys first, in order), checked
    so that Dysca_compute.py reads it as intended."""
    missing = [key for key in RELEASED_KEYS if key not in row]
    if missing:
        raise HvgenError(f"config '{config}': rows lack the released Dysca field(s) {missing}.")
    question_type = row["question_type"]
    if question_type not in RELEASED_QUESTION_TYPES:
        raise HvgenError(
            f"config '{config}', record {row['id']}: question_type {question_type!r} is not one of the "
            f"released values {list(RELEASED_QUESTION_TYPES)}, and Dysca_compute.py would silently skip it. "
            f"The run was planned by an older hvgen: re-plan it and redo the per-question scenarios "
            f"(rendered images are kept): `hvgen plan {run_dir} --force && hvgen scenario {run_dir} "
            f"&& hvgen export {run_dir} --format dysca`."
        )
    options = list(row["options"] or [])
    if question_type in CHOICE_TYPES and scorer_choices(row["instruction"]) != options:
        raise HvgenError(
            f"config '{config}', record {row['id']}: Dysca_compute.py would read the options "
            f"{scorer_choices(row['instruction'])} from the instruction, not {options}; the instruction "
            "template must list them as '(A) option' lines between 'Choices:' and 'Hint:'."
        )
    record: dict[str, Any] = {key: row[key] for key in RELEASED_KEYS}
    record["id"] = number
    record["images"] = [row["_image_path"]]
    record["options"] = options
    extras = {key: value for key, value in row.items() if key not in (*RELEASED_KEYS, *_INTERNAL)}
    if "granularity" in extras:
        record["granularity"] = extras.pop("granularity")  # the original writes it right after
    record[ID_KEY] = row["id"]
    if isinstance(extras.get("scenario_params"), str):
        extras["scenario_params"] = json.loads(extras["scenario_params"])
    record.update(extras)
    return record


def _first_ground_truth(out: Path) -> Path:
    found = sorted(out.glob(ground_truth_name("*")), key=lambda p: (p.name != ground_truth_name("clean"), p))
    return found[0] if found else out / ground_truth_name("clean")


def _readme(out: Path, configs: list[str]) -> str:
    lines = [
        "# Dysca release layout (written by `hvgen export RUN --format dysca`)",
        "",
        "One ground-truth json per scenario, in the released Dysca.json format, and the images they",
        "name (paths relative to this folder):",
        "",
        *[f"- `{ground_truth_name(config)}`" for config in configs],
        "",
        "Model outputs: a json list in the same order as the ground truth (the scorer pairs them by",
        'position), one `{"id": <id>, "answer": "<model output>"}` per question. Then, from a checkout',
        "of https://github.com/Benchmark-Dysca/Dysca:",
        "",
        "```",
        *[scorer_command(out / ground_truth_name(config), config) for config in configs],
        "```",
        "",
        "Dysca_compute.py as released reads `args.file_model_result` and `args.evaluation_result`,",
        "but defines `--file_model_output` and `--evaluation_score`: rename the two attributes in the",
        "script (or it stops with AttributeError). It lists the subtask `emotion` where the data say",
        "`expression`, so expression questions are never scored; it needs a CUDA device (`cuda:0`)",
        "and the sentence-transformers model all-MiniLM-L6-v2 for image captions.",
        "",
    ]
    return "\n".join(lines)
