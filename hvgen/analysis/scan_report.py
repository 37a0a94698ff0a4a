"""The scan's report: JSON with every prompt's scores and verdict, and a picture of the token
maps of the most suspicious prompt beside the least suspicious one's, so a reader can see the
assimilation (near-identical maps) the verdict rests on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from hvgen.analysis.assimilation import quantised_token_maps
from hvgen.analysis.scan import PromptScore
from hvgen.store.atomic import save_png_atomic, write_text_atomic

REPORT_FILE = "scan.json"
MAPS_FILE = "scan-maps.png"
MAPS_SHOWN = 8
CELL = 48


def write_report(folder: Path, report: dict[str, Any]) -> Path:
    path = folder / REPORT_FILE
    write_text_atomic(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return path


def write_maps_picture(
    folder: Path, scores: list[PromptScore], maps: np.ndarray, token_labels: list[list[str]]
) -> Path | None:
    """Rows: the lowest-FTT prompt (flagged or most suspicious) and the highest-FTT one; columns:
    their first token maps as the score sees them (max-scaled, uint8-rounded). None with < 2 prompts."""
    from PIL import Image, ImageDraw

    if len(scores) < 2:
        return None
    order = sorted(range(len(scores)), key=lambda i: scores[i].ftt)
    rows = [order[0], order[-1]]
    label_width, title_height = 4 * CELL, 14
    canvas = Image.new("L", (label_width + MAPS_SHOWN * CELL, len(rows) * (CELL + title_height)), 255)
    draw = ImageDraw.Draw(canvas)
    for row, index in enumerate(rows):
        score = scores[index]
        top = row * (CELL + title_height)
        verdict = "FLAGGED" if score.flagged else ("benign" if score.flagged is False else "?")
        draw.text((2, top + 2), f"{verdict} FTT {score.ftt}", fill=0)
        draw.text((2, top + 16), score.prompt[:28], fill=0)
        quantised = quantised_token_maps(maps[index])
        shown = min(MAPS_SHOWN, score.tokens - 1, len(quantised))
        for column in range(shown):
            cell = Image.fromarray((quantised[column] * 255).astype(np.uint8)).resize(
                (CELL, CELL), Image.NEAREST
            )
            canvas.paste(cell, (label_width + column * CELL, top + title_height))
            labels = token_labels[index]
            if column + 1 < len(labels):
                draw.text((label_width + column * CELL + 2, top), labels[column + 1][:7], fill=0)
    path = folder / MAPS_FILE
    save_png_atomic(canvas, path)
    return path
