"""`--scan` during render: score every prompt while its image is made, drop suspects at build.

The render stage calls `scanned_batch` instead of a plain batch: the same pipeline call, with
the attention maps captured (`attention.capture_maps` leaves the images unchanged), and each
image's FTT and spectrum scores returned for its manifest row (they land in the catalog's
``renders`` table as ``scan_ftt`` / ``scan_spectrum``). Build compares them with the model's
calibrated threshold and drops flagged images (reason ``backdoor_suspect``) and their questions
unless ``--keep-flagged``; the card lists them. Without a calibration it uses T2IShield's threshold,
rescaled and marked uncalibrated, and keeps the images below it (listed, with a warning).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import duckdb

from hvgen.analysis.assimilation import ftt_score, quantised_token_maps, spectrum_score
from hvgen.analysis.attention import capture_maps, native_size
from hvgen.analysis.scan import ScanSettings, Threshold, paper_threshold, sd1_family, token_count

DROP_REASON = "backdoor_suspect"
FLAGGED_LISTED = 50


def pixel_size(pipeline: Any, width: int | None, height: int | None) -> tuple[int, int]:
    """The image size a pipeline call renders at (its native size when none is set)."""
    native = native_size(pipeline)
    return width or native, height or native


def scanned_batch(
    render: Any, pipeline: Any, jobs: list[Any], settings: Any, device: Any, pad_to: int
) -> Any:
    """`render(pipeline, jobs, settings, device, pad_to)` with maps captured; returns (images, one
    {"scan_ftt", "scan_spectrum"} dict per job)."""
    width, height = pixel_size(pipeline, settings.width, settings.height)
    calls = max(len(jobs), pad_to)  # render pads a short batch to pad_to
    with capture_maps(pipeline, calls, height, width) as store:
        images = render(pipeline, jobs, settings, device, pad_to=pad_to)
    maps = store.maps().numpy()
    rows = []
    for job, raw in zip(jobs, maps, strict=False):
        tokens = token_count(pipeline, job.prompt)
        quantised = quantised_token_maps(raw)
        rows.append(
            {
                "scan_ftt": ftt_score(quantised, tokens),
                "scan_spectrum": spectrum_score(quantised, tokens),
                "scan_map": f"{store.height}x{store.width}",
            }
        )
    return images, rows


def run_threshold(con: duckdb.DuckDBPyConnection, config: Any) -> tuple[Threshold, str | None]:
    """The threshold for a run's scanned renders: the calibration of its model at its settings
    if one is stored, else T2IShield's (rescaled for the map size, with a warning to show). The
    size and map size come from the renders, so no model is loaded."""
    from hvgen.analysis.calibration import calibration_path, load_calibration
    from hvgen.models import model_source, resolve_settings

    row = con.execute(
        "SELECT width, height, scan_map FROM renders WHERE scan_map IS NOT NULL LIMIT 1"
    ).fetchone()
    width, height, scan_map = row
    size = tuple(int(side) for side in scan_map.split("x"))
    render = resolve_settings(config.render)
    settings = ScanSettings(render.steps, render.guidance, width, height)
    stored = load_calibration(calibration_path(model_source(config.render.model), settings, size))
    if stored is not None:
        return stored, None
    paper = paper_threshold(*size, sd1=sd1_family(model_source(config.render.model)))
    warning = (
        None
        if paper.calibrated
        else f"--scan: no calibration for {config.render.model} at {width}×{height}, {render.steps} steps; used "
        f"T2IShield's SD1.4 threshold (rescaled to {size[0]}×{size[1]} maps: {paper.ftt}), which is uncalibrated here, "
        "so images below it are listed on the card but kept. Run "
        f"`hvgen scan {config.render.model} --calibrate BENIGN_PROMPTS --steps {render.steps} --width {width} "
        f"--height {height}` and rebuild to drop them."
    )
    return paper, warning


def apply_scan_filter(
    con: duckdb.DuckDBPyConnection, threshold: Threshold, keep_flagged: bool
) -> dict[str, Any]:
    """Flag kept images whose FTT is below the threshold; drop them (and their questions) unless
    `keep_flagged`. Returns what the card reports."""
    flagged = con.execute(
        """SELECT r.image_id, i.prompt, r.scan_ftt FROM renders r JOIN kept_images i USING (image_id)
           WHERE r.scan_ftt IS NOT NULL AND r.scan_ftt < ? ORDER BY r.scan_ftt, r.image_id""",
        [threshold.ftt],
    ).fetchall()
    scanned = con.execute("SELECT count(*) FROM renders WHERE scan_ftt IS NOT NULL").fetchone()[0]
    drop = bool(flagged) and not keep_flagged and threshold.calibrated  # below an uncalibrated one: kept
    if drop:
        con.executemany(
            f"INSERT INTO drops VALUES ('image', ?, '{DROP_REASON}', NULL, NULL)",
            [[image_id] for image_id, _, _ in flagged],
        )
        con.execute(
            f"""INSERT INTO drops SELECT 'record', r.id, 'dropped_image', r.image_id, NULL FROM records r
               WHERE EXISTS (SELECT 1 FROM drops d WHERE d.kind = 'image' AND d.reason = '{DROP_REASON}'
                                                     AND d.id = r.image_id)
                 AND NOT EXISTS (SELECT 1 FROM drops d WHERE d.kind = 'record' AND d.id = r.id)"""
        )
    return {
        "threshold": asdict(threshold),
        "scanned_images": scanned,
        "flagged_images": len(flagged),
        "calibrated": threshold.calibrated,
        "dropped": drop,
        "flagged": [
            {"image_id": image_id, "prompt": prompt, "ftt": ftt}
            for image_id, prompt, ftt in flagged[:FLAGGED_LISTED]
        ],
    }
