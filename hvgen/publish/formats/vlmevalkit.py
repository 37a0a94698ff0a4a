"""Extra export formats for evaluation toolkits that do not read Hub parquet.

VLMEvalKit reads a TSV per dataset: ``index``, ``image`` (base64), ``question``, option columns
``A``..``D`` and ``answer`` (the option letter for choice questions), plus free columns such as
``category``. hvgen writes one TSV per export config under ``export/vlmevalkit/``; free-form
questions keep their reference text in ``answer`` and have no option columns.
"""

from __future__ import annotations

import base64
import csv
import io
from pathlib import Path

import pyarrow as pa

from hvgen.publish.formats import ConfigSamples, ExportFormat, FormatContext
from hvgen.store.atomic import write_text_atomic

LETTERS = "ABCDEFGHIJ"


class VLMEvalKitFormat(ExportFormat):
    name = "vlmevalkit"
    description = "VLMEvalKit custom-dataset TSVs (base64 images)"

    def write(self, ctx: FormatContext, configs: list[ConfigSamples], out: Path) -> list[str]:
        files = []
        for item in configs:
            target = out / f"{item.name}.tsv"
            write_vlmevalkit_tsv(
                ctx.read_image, item.table, target, ctx.generator.category_column, ctx.config.export.split
            )
            files.append(target.name)
        return files


def write_vlmevalkit_tsv(read_image, table: pa.Table, target: Path, category_column: str, split: str) -> int:
    """Write `table` (export rows with `_image_path`) as a VLMEvalKit TSV; returns the row count."""
    rows = table.to_pylist()
    width = max((len(row.get("options") or []) for row in rows), default=0)
    letters = list(LETTERS[:width])
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(
        [
            "index",
            "id",
            "image",
            "question",
            *letters,
            "answer",
            "answer_text",
            "question_type",
            "category",
            "split",
        ]
    )
    encoded: dict[str, str] = {}  # questions of one image share its encoding
    for index, row in enumerate(rows):
        path = row["_image_path"]
        if path not in encoded:
            encoded[path] = base64.b64encode(read_image(path)).decode("ascii")
        options = row.get("options") or []
        has_letter = options and isinstance(row.get("answer_index"), int)
        answer = LETTERS[row["answer_index"]] if has_letter else (row.get("answer") or "")
        writer.writerow(
            [
                index,
                row["id"],
                encoded[path],
                row["question"],
                *[options[i] if i < len(options) else "" for i in range(width)],
                answer,
                row.get("answer") or "",
                row.get("question_type", ""),
                row.get(category_column, ""),
                split,
            ]
        )
    write_text_atomic(target, buffer.getvalue())
    return len(rows)
