"""CtrLoRA's custom-condition training layout (xyfJASON/ctrlora, `datasets/custom_dataset.py`):
a generated split trains a new condition LoRA on its (condition, image, prompt) pairs.

One data root per condition recipe, ``RUN/formats/ctrlora/<recipe>/``::

    prompt.json          one JSON object a line: {"source": "source/<id>.png",
                         "target": "target/<id>.png", "prompt": "..."}
    source/<id>.png      the condition image the render followed
    target/<id>.png      the rendered (clean) image

One pair per distinct image (not per question), in image-id order; PNG, not JPEG, so line
drawings keep their edges (CtrLoRA reads both with cv2.imread). Train with
``python scripts/train_ctrlora_finetune.py --dataroot RUN/formats/ctrlora/<recipe> ...``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

from hvgen.errors import HvgenError
from hvgen.publish.formats import ConfigSamples, ExportFormat, FormatContext
from hvgen.store.atomic import write_atomic, write_bytes_atomic
from hvgen.store.layout import CONDITION_PATH, check_key

CLEAN = "clean"


class CtrLoRAFormat(ExportFormat):
    name: ClassVar[str] = "ctrlora"
    description: ClassVar[str] = (
        "CtrLoRA custom-condition training data (source/, target/, prompt.json per recipe)"
    )

    in_all: ClassVar[bool] = False  # training data for runs with conditions, not an evaluation layout

    def check(self, config) -> None:
        if not config.render.controlnet:
            raise HvgenError(
                "--format ctrlora: this run has no condition images (it was rendered without --controlnet); "
                "render one with --controlnet MODEL --condition RECIPE."
            )

    def write(self, ctx: FormatContext, configs: list[ConfigSamples], out: Path) -> list[str]:
        clean = next((samples for samples in configs if samples.scenario == CLEAN), None)
        if clean is None or CONDITION_PATH not in clean.table.column_names:
            raise HvgenError(
                "--format ctrlora: the export has no clean images with conditions (CtrLoRA trains on the renders "
                "themselves): keep the clean scenario and render with --controlnet and --condition."
            )
        pairs: dict[str, tuple[str, str, str, str]] = {}
        columns = ["image_id", "prompt", "_image_path", CONDITION_PATH, "condition"]
        for row in clean.table.select(columns).to_pylist():
            if row[CONDITION_PATH] is None or row["image_id"] in pairs:
                continue
            recipe = (row["condition"] or {}).get("recipe") or "condition"
            check_key(recipe, "condition recipe")  # a folder name
            pairs[row["image_id"]] = (recipe, row["prompt"], row["_image_path"], row[CONDITION_PATH])
        files: list[str] = []
        lines: dict[str, list[str]] = {}
        for image_id in sorted(pairs):
            recipe, prompt, target, source = pairs[image_id]
            check_key(image_id, "image id")
            for folder, relpath in (("source", source), ("target", target)):
                name = f"{recipe}/{folder}/{image_id}.png"
                write_bytes_atomic(out / name, ctx.read_image(relpath))
                files.append(name)
            entry = {"source": f"source/{image_id}.png", "target": f"target/{image_id}.png", "prompt": prompt}
            lines.setdefault(recipe, []).append(json.dumps(entry, ensure_ascii=False) + "\n")
        for recipe, entries in sorted(lines.items()):
            data = "".join(entries).encode("utf-8")
            write_atomic(out / recipe / "prompt.json", lambda handle, data=data: handle.write(data))
            files.append(f"{recipe}/prompt.json")
        return files

    def next_steps(self, out: Path) -> str:
        return (
            f"train a CtrLoRA condition LoRA: python scripts/train_ctrlora_finetune.py --dataroot {out}/<recipe> "
            "(in a checkout of xyfJASON/ctrlora)"
        )
