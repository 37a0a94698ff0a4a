"""`hvgen twins RELEASE --out RUN`: a twin split of a release, planned, rendered, perturbed and
exported like any run (`make_twins`).

The twin run copies the release's settings — benchmark, options, run seed (so corruption types,
printed text and attacks are drawn exactly as for the released item), scenarios and their
settings, text-to-image model and sampler — from its config (a run directory, or the
configuration an export's card prints). Only the image seeds change. A release whose run seed is
unknown (a Dysca-format folder taken out of its run) gets its scenarios' random choices drawn
afresh from the twin seed: still the same distribution, so the pairs stay exchangeable, with a
little more noise. Rendering the twins with another model than the release is allowed
(`--model`) and warned about: such twins differ in difficulty, which only the cross-model
comparison of `hvgen contamination` can separate from contamination.
"""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

from hvgen import ranges
from hvgen.config import RunConfig
from hvgen.errors import HvgenError
from hvgen.generator import get_generator
from hvgen.progress import info, warn
from hvgen.stages.twin_plan import TwinSpec, records_text, sha256_text
from hvgen.store.atomic import write_text_atomic
from hvgen.store.layout import TWIN_RELEASE_FILE
from hvgen.twins.release import Release, read_release

DEFAULT_TWIN_SEED = 1


def make_twins(
    release_path: Path,
    out: Path,
    *,
    seed: int = DEFAULT_TWIN_SEED,
    layout: str = "auto",
    formats: list[str] | None = None,
    render: dict[str, Any] | None = None,
    clip_filter: str | None = None,
    clip_threshold: float | None = None,
    dry_run: bool = False,
    overwrite: bool = False,
) -> RunConfig:
    """Make (or resume) the twin split of `release_path` in `out`; returns the run's config.

    `render` overrides the release's render settings (model, batch_size, device, dtype: the keys
    of `RenderConfig`); `formats` adds export formats besides the release's own."""
    from hvgen.models import check_model, check_model_reachable
    from hvgen.pipeline import check_device, check_scenarios, prepare_run_dir, stage_plan
    from hvgen.summary import StageTimes

    ranges.SEED.check("--seed", seed)
    ranges.RENDER_BATCH.check("--batch-size", (render or {}).get("batch_size"))
    ranges.CLIP_THRESHOLD.check("--clip-threshold", clip_threshold)
    _refuse_nested(release_path, out)
    release = read_release(release_path, layout)
    _refuse_photographs(release)
    config = twin_config(release, seed, render or {})
    config.scenario.scenarios = check_scenarios(config)
    check_model(config.render.model)
    if not dry_run:
        check_device(config.render.device)
        check_model_reachable(config.render.model)
    info(
        f"[bold]hvgen twins[/] {release.name} ({release.benchmark}, {len(release.records)} questions, "
        f"{release.layout}) → {out}  (twin seed {seed}, model {config.render.model})"
    )
    created = not out.exists()
    config = prepare_run_dir(out, config, overwrite=overwrite)
    times = StageTimes()
    try:
        text = records_text(release.records)
        if sha256_text(text) != TwinSpec.from_config(config.twins or {}).records_sha256:
            raise HvgenError("internal: the release copy does not hash to the config's records_sha256")
        copy = out / TWIN_RELEASE_FILE
        if not copy.is_file() or copy.read_text(encoding="utf-8") != text:
            write_text_atomic(copy, text)
        with times.stage("plan"):
            summary = stage_plan(out, config)
    except HvgenError:
        if created:  # nothing made yet: leave nothing behind
            shutil.rmtree(out, ignore_errors=True)
        raise
    if summary is not None:
        info(f"plan: {summary.records} twin questions over {summary.images} images")
    if dry_run:
        info(
            f"dry run: nothing rendered; `hvgen render {out}` (it shards), then `hvgen scenario` and `hvgen export`."
        )
        return config
    _render_and_export(out, config, times, formats or [], release, clip_filter, clip_threshold)
    return config


def _refuse_nested(release: Path, out: Path) -> None:
    """The twin run must be its own folder: not the release, not inside it, not around it (a
    later `--overwrite` of one would delete the other)."""
    a, b = release.resolve(), out.resolve()
    if a == b or a in b.parents or b in a.parents:
        raise HvgenError(
            f"--out {out} and the release {release} overlap: make the twins in a folder of their own, e.g. "
            f"--out {a.parent / (a.name + '-twins')}."
        )


def twin_config(release: Release, seed: int, render: dict[str, Any]) -> RunConfig:
    """The twin run's config: the release's own, with the twin spec and any render overrides."""
    known = release.config is not None
    if release.config is None:
        images = len({str(record["image_id"]) for record in release.records})
        base = RunConfig(benchmark=release.benchmark, num=max(1, images), seed=seed)
        warn(
            f"release {release.name}: its run configuration is unknown ({release.layout} layout outside its run): "
            "twins use the default render and scenario settings (pass --model, and keep the release's settings) and "
            "draw scenario choices (corruption types, printed text) from the twin seed."
        )
    else:
        base = RunConfig.from_dict(release.config.to_dict())  # a copy
    if base.benchmark != release.benchmark:
        raise HvgenError(
            f"release {release.name}: its config says {base.benchmark} but its questions are {release.benchmark}."
        )
    for key in ("vocab_dir", "templates_dir"):  # twins do not plan: a folder that is gone is not needed
        value = getattr(base, key)
        if value and not Path(value).is_dir():
            setattr(base, key, None)
    spec = TwinSpec(
        release=release.name,
        layout=release.layout,
        questions=len(release.records),
        records_sha256=sha256_text(records_text(release.records)),
        seed=seed,
        release_seed_known=known,
    )
    released_model = base.render.model
    overrides = {key: value for key, value in render.items() if value is not None}
    config = replace(
        base,
        render=replace(base.render, **overrides),
        scenario=replace(base.scenario, scenarios=list(release.scenarios) or ["clean"]),
        twins=spec.to_config(),
    )
    if config.render.model.startswith("<local"):
        raise HvgenError(
            f"release {release.name} was rendered with a local model folder ({config.render.model}); pass the same "
            "model with --model PATH."
        )
    if known and config.render.model != released_model:
        warn(
            f"the twins are rendered with {config.render.model}, the release with {released_model}: twins from "
            "another model differ in difficulty, which only a comparison across several models can tell apart "
            "from contamination (give `hvgen contamination` the predictions of several models)."
        )
    config.validate("hvgen twins")
    return config


def _refuse_photographs(release: Release) -> None:
    """Twins redraw rendered images; photographs (HERM's COCO, Face QA's sources) cannot be."""
    cls = get_generator(release.benchmark)
    photographic = "text_to_image" not in cls.cli_option_groups
    if not photographic and release.config is not None:
        from hvgen.stages.plan import build_generator

        try:
            photographic = build_generator(release.config).supplies_images
        except HvgenError:
            photographic = False
    if photographic:
        raise HvgenError(
            f"twins of {release.benchmark} are not supported yet: its images are photographs, which cannot be redrawn "
            "with a new seed; a twin would be another photograph of the same label and stratum, which hvgen does "
            "not draw yet. Twins work for rendered benchmarks (dysca, vlbias, hqh)."
        )


def _render_and_export(
    run_dir: Path,
    config: RunConfig,
    times: Any,
    formats: list[str],
    release: Release,
    clip_filter: str | None,
    clip_threshold: float | None,
) -> None:
    """Render, perturb, filter like the release (CLIP filter, the generator's label checks) and
    export, then write the run's summary."""
    from hvgen.pipeline import stage_build, stage_export, stage_render, stage_scenarios
    from hvgen.sharding import Shard
    from hvgen.stages.plan import build_generator
    from hvgen.summary import build_summary, write_summary

    with times.stage("render"):
        rendered = stage_render(run_dir, config, Shard())
    info(f"render: {rendered.rendered} rendered, {rendered.already_done} already done")
    for name in config.scenario.scenarios:
        with times.stage(f"scenario {name}"):
            for item in stage_scenarios(
                run_dir, replace(config, scenario=replace(config.scenario, scenarios=[name])), Shard()
            ):
                info(f"scenario {item.scenario}: {item.written} written, {item.already_done} already done")
    warnings: list[str] = []
    if clip_filter or config.render.scan or build_generator(config).label_checker():
        with times.stage("build"):
            result = stage_build(run_dir, config, clip_model=clip_filter, clip_threshold=clip_threshold)
            warnings += result.dedup.warnings() + (result.warnings or [])
    chosen = sorted({*release.formats, *formats})
    with times.stage("export"):
        exported = stage_export(run_dir, config, formats=chosen or None)
    for item in exported:
        info(f"export: config '{item.name}': {item.rows} rows")
    write_summary(run_dir, build_summary(run_dir, config.benchmark, exported, times, warnings))
    info(
        f"twins done: {run_dir / 'export'}. Run each model on the release and on the twins, then "
        f"`hvgen contamination --release RELEASE --twins {run_dir} --predictions MODEL=RELEASE.jsonl,TWINS.jsonl`."
    )
