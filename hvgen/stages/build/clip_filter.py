"""CLIP-score filter: drop images that do not show their prompt (Dysca's clean_data.py).

Dysca scores every image with CLIP (``logits_per_image`` of the image against its prompt, i.e.
100 × cosine similarity for OpenAI CLIP) and drops it when the score is ≤ 25. Scores are cached
per (model, image) in the catalog table ``clip_scores``, so a rebuild with another threshold
costs no inference. Dropped images (reason ``low_clip_score``) and their questions
(``dropped_image``) are added to ``drops``; the ``kept_*`` views exclude them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
from PIL import Image

from hvgen import ranges
from hvgen.progress import progress_bar
from hvgen.stages.build.image_drops import drop_images
from hvgen.surrogate import load_surrogate

DEFAULT_CLIP_THRESHOLD = 25.0


def check_clip_threshold(threshold: float | None) -> None:
    """--clip-threshold is a CLIP score, 100 x a cosine similarity: a finite number in [-100, 100]."""
    ranges.CLIP_THRESHOLD.check("--clip-threshold", threshold)


CLIP_SCORES_DDL = "CREATE TABLE IF NOT EXISTS clip_scores (model VARCHAR, image_id VARCHAR, score DOUBLE)"


def compute_clip_scores(
    con: duckdb.DuckDBPyConnection, run_dir: Path, model: str, device: str = "cpu", batch_size: int = 16
) -> int:
    """Score the kept images that have no score under `model` yet; returns how many were scored."""
    import torch

    con.execute(CLIP_SCORES_DDL)
    todo = con.execute(
        """SELECT i.image_id, i.path, i.prompt FROM kept_images i
           WHERE NOT EXISTS (SELECT 1 FROM clip_scores s WHERE s.model = ? AND s.image_id = i.image_id)
           ORDER BY i.image_id""",
        [model],
    ).fetchall()
    if not todo:
        return 0
    clip, processor = load_surrogate(model, device)
    with progress_bar(f"clip scores ({Path(model).name})", len(todo)) as advance:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            images = [_rgb(run_dir / path) for _, path, _ in batch]
            inputs = processor(
                text=[prompt for _, _, prompt in batch],
                images=images,
                return_tensors="pt",
                padding=True,
                truncation=True,
            ).to(device)
            with torch.inference_mode():
                logits = clip(**inputs).logits_per_image  # [images, texts]
            scores = logits.diagonal().float().cpu().tolist()
            con.executemany(
                "INSERT INTO clip_scores VALUES (?, ?, ?)",
                [[model, image_id, score] for (image_id, _, _), score in zip(batch, scores, strict=True)],
            )
            advance(len(batch))
    return len(todo)


def apply_clip_filter(con: duckdb.DuckDBPyConnection, model: str, threshold: float) -> dict[str, Any]:
    """Add drops for kept images scoring ≤ `threshold` and for their records."""
    low = con.execute(
        """SELECT s.image_id, s.score FROM clip_scores s JOIN kept_images k USING (image_id)
           WHERE s.model = ? AND s.score <= ?""",
        [model, threshold],
    ).fetchall()
    drop_images(con, [image_id for image_id, _ in low], "low_clip_score")
    return {"model": model, "threshold": threshold, "dropped_images": len(low)}


def _rgb(path: Path) -> Image.Image:
    with Image.open(path) as image:
        return image.convert("RGB")


LABEL_DROP_REASON = "clip_contradicts_label"


def apply_label_checks(
    con: duckdb.DuckDBPyConnection,
    run_dir: Path,
    model: str,
    checks: dict[str, list[tuple[list[str], int]]],
    device: str = "cpu",
) -> dict[str, Any]:
    """CLIP zero-shot check of images whose content is known (rendered from labels): for each
    (texts, truth) check of an image, the text CLIP ranks first must be the truth; an image where
    another text wins is dropped (reason ``clip_contradicts_label``) with its records. Ties go to
    the first text."""
    import torch

    kept = dict(con.execute("SELECT image_id, path FROM kept_images ORDER BY image_id").fetchall())
    todo = sorted(image_id for image_id in checks if image_id in kept and checks[image_id])
    dropped: list[str] = []
    if todo:
        clip, processor = load_surrogate(model, device)
        with progress_bar(f"label checks ({Path(model).name})", len(todo)) as advance:
            for image_id in todo:
                image = _rgb(run_dir / kept[image_id])
                for texts, truth in checks[image_id]:
                    inputs = processor(text=list(texts), images=[image], return_tensors="pt", padding=True,
                                       truncation=True).to(device)  # fmt: skip
                    with torch.inference_mode():
                        logits = clip(**inputs).logits_per_image[0].float().cpu().tolist()
                    if max(range(len(logits)), key=lambda i: (logits[i], -i)) != truth:
                        dropped.append(image_id)
                        break
                advance(1)
    drop_images(con, dropped, LABEL_DROP_REASON)
    return {"model": model, "checked_images": len(todo), "dropped_images": len(dropped)}
