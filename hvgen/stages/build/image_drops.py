"""Dropping images with their records: the one write every image filter of the build makes
(CLIP score, CLIP label check, control fidelity), and the score summary their cards report."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import duckdb
import numpy as np


def drop_images(con: duckdb.DuckDBPyConnection, image_ids: Sequence[str], reason: str) -> None:
    """Add a `reason` drop for each image, and a ``dropped_image`` drop for each of their records
    not dropped already; the ``kept_*`` views then exclude both."""
    if image_ids:  # DuckDB's executemany refuses an empty list
        con.executemany(
            "INSERT INTO drops VALUES ('image', ?, ?, NULL, NULL)", [[i, reason] for i in image_ids]
        )
    con.execute(
        """INSERT INTO drops SELECT 'record', r.id, 'dropped_image', r.image_id, NULL FROM records r
           WHERE EXISTS (SELECT 1 FROM drops d WHERE d.kind = 'image' AND d.reason = ? AND d.id = r.image_id)
             AND NOT EXISTS (SELECT 1 FROM drops d WHERE d.kind = 'record' AND d.id = r.id)""",
        [reason],
    )


def distribution(scores: Sequence[float]) -> dict[str, Any]:
    """count, min, quartiles and max of `scores` (numpy's linear quantiles), rounded to 4 places;
    only the count when there is none."""
    if not scores:
        return {"count": 0}
    values = np.asarray(scores, dtype=np.float64)
    q1, median, q3 = np.quantile(values, [0.25, 0.5, 0.75])
    numbers = {"min": values.min(), "q1": q1, "median": median, "q3": q3, "max": values.max()}
    return {"count": len(values), **{key: round(float(value), 4) for key, value in numbers.items()}}
