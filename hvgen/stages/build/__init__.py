"""Build stage: decide what of a finished run is published — dedup, leak check, CLIP filter.

Nothing is deleted: the ``drops`` table says what is left out and why, and the export reads the
``kept_*`` views. The modules: `fingerprints` (pixel sha256 + pHash per image), `dedup` (exact,
near-duplicate and question dedup, leak check against earlier releases), `clip_filter` and
`fidelity_filter` (control fidelity of ControlNet renders).
Imported by `hvgen.pipeline` (`stage_build`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgen.config import RunConfig
from hvgen.errors import HvgenError
from hvgen.scenarios.versions import scenario_versions
from hvgen.stages.build.dedup import DedupSummary
from hvgen.store.catalog import open_catalog, set_meta
from hvgen.store.decisions import decision_state, log_build, set_stale_export_aside
from hvgen.store.layout import EXPORT_DIR
from hvgen.store.work import completeness, sync_manifests


@dataclass
class BuildResult:
    dedup: DedupSummary
    clip: dict[str, Any] | None = None
    scan: dict[str, Any] | None = None
    warnings: list[str] | None = None
    labels: dict[str, Any] | None = None  # the generator's CLIP label checks
    fidelity: dict[str, Any] | None = None  # the control-fidelity filter's summary


def run_build(
    run_dir: Path,
    config: RunConfig,
    scenarios: dict[str, str],
    hamming: int | None = None,
    against: list[str] | None = None,
    clip_model: str | None = None,
    clip_threshold: float | None = None,
    keep_flagged: bool = False,
    fidelity_model: str | None = None,
    fidelity_threshold: float | None = None,
) -> BuildResult:
    """Dedup + leak check (+ optional CLIP-score and control-fidelity filters) in the catalog, over
    verified renders."""
    from hvgen.models import pick_device
    from hvgen.stages.build.clip_filter import (
        DEFAULT_CLIP_THRESHOLD,
        apply_clip_filter,
        check_clip_threshold,
        compute_clip_scores,
    )
    from hvgen.stages.build.dedup import DEFAULT_HAMMING, run_dedup
    from hvgen.stages.build.fidelity_filter import check_fidelity_threshold

    check_clip_threshold(clip_threshold)
    check_fidelity_threshold(fidelity_threshold)

    with open_catalog(run_dir) as con:
        sync_manifests(con, run_dir, scenarios, scenario_versions(scenarios))
        missing = completeness(con, {}).missing["render"]
        if missing:
            raise HvgenError(
                f"{missing} planned images of {run_dir} are not rendered yet (or their files are damaged): "
                f"run `hvgen render {run_dir}` first (it redoes exactly those)."
            )
        try:
            dedup = run_dedup(
                con,
                DEFAULT_HAMMING if hamming is None else hamming,
                against or [],
                run_dir=run_dir,
                progress=True,
            )
            clip = None
            if clip_model:
                compute_clip_scores(con, run_dir, clip_model, device=pick_device(config.render.device))
                threshold = DEFAULT_CLIP_THRESHOLD if clip_threshold is None else clip_threshold
                clip = apply_clip_filter(con, clip_model, threshold)
            fidelity = _fidelity(con, run_dir, config, fidelity_model, fidelity_threshold)
            labels = _check_labels(con, run_dir, config)
            scan, warnings = None, []
            if con.execute("SELECT count(*) FROM renders WHERE scan_map IS NOT NULL").fetchone()[0]:
                from hvgen.analysis.render_scan import apply_scan_filter, run_threshold

                threshold, warning = run_threshold(con, config)
                warnings += [warning] if warning else []
                scan = apply_scan_filter(con, threshold, keep_flagged)
            if fidelity is not None and not fidelity["scored_images"] + fidelity["unscored_images"]:
                warnings.append(
                    f"--fidelity-filter: no kept image of {run_dir} was rendered from a condition, so nothing was "
                    "scored; the filter applies to runs made with --controlnet and --condition RECIPE."
                )
            set_meta(con, "build", {"hamming": hamming, "against": against or [], "clip": clip, "scan": scan,
                                    "labels": labels, "fidelity": fidelity})  # fmt: skip
        except ValueError as error:  # bad --against source, threshold ...
            raise HvgenError(str(error)) from None
        log_build(
            run_dir,
            {
                "hamming": hamming,
                "against": list(against or []),
                "clip_model": clip_model,
                "clip_threshold": clip_threshold,
                "keep_flagged": keep_flagged,
                "fidelity_model": fidelity_model,
                "fidelity_threshold": fidelity_threshold,
            },
        )
        stale = set_stale_export_aside(run_dir, decision_state(con, list(scenarios)))
    if stale is not None:
        warnings.append(
            f"{run_dir / EXPORT_DIR} was written before this build's decisions; moved it to {stale} so that "
            f"`load_dataset` cannot read rows it no longer keeps (`hvgen export {run_dir}` writes the current one)."
        )
    return BuildResult(dedup, clip, scan, warnings, labels, fidelity)


def _fidelity(
    con: Any, run_dir: Path, config: RunConfig, model: str | None, threshold: float | None
) -> dict[str, Any] | None:
    """The control-fidelity filter (`fidelity_filter`), when a model is given."""
    if not model:
        return None
    from hvgen.models import pick_device
    from hvgen.stages.build.fidelity_filter import (
        DEFAULT_FIDELITY_THRESHOLD,
        apply_fidelity_filter,
        compute_fidelity_scores,
    )

    compute_fidelity_scores(con, run_dir, model, device=pick_device(config.render.device))
    return apply_fidelity_filter(con, model, DEFAULT_FIDELITY_THRESHOLD if threshold is None else threshold)


def _check_labels(con: Any, run_dir: Path, config: RunConfig) -> dict[str, Any] | None:
    """The generator's CLIP label checks (`Generator.label_checker`), when it asks for them."""
    from hvgen.models import pick_device
    from hvgen.stages.build.clip_filter import apply_label_checks
    from hvgen.stages.plan import build_generator

    generator = build_generator(config)
    model = generator.label_checker()
    if not model:
        return None
    checks: dict[str, list[tuple[list[str], int]]] = {}
    cursor = con.execute("SELECT * FROM kept_records ORDER BY id")
    names = [column[0] for column in cursor.description]
    for row in cursor.fetchall():
        record = dict(zip(names, row))
        for check in generator.label_checks(record):
            if check not in checks.setdefault(record["image_id"], []):
                checks[record["image_id"]].append(check)
    return apply_label_checks(con, run_dir, model, checks, device=pick_device(config.render.device))
