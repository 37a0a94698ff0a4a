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

Photographs (HERM, Face QA's `--source` faces) cannot be redrawn: each released question is
paired with a question about another photograph of the same source, label and stratum
(`Generator.photo_twins`, hvgen.photo_twins), from the source folders the user gives again
(`sources`: `--source`, `--coco-keypoints`, `--images` ... as the generator takes them), checked
against the release's configuration. Questions without a partner are listed and left out.
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
from hvgen.store.layout import PHOTO_TWINS_FILE, TWIN_RELEASE_FILE, UNPAIRED_FILE
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
    sources: dict[str, Any] | None = None,
) -> RunConfig:
    """Make (or resume) the twin split of `release_path` in `out`; returns the run's config.

    `render` overrides the release's render settings (model, batch_size, device, dtype: the keys
    of `RenderConfig`); `formats` adds export formats besides the release's own; `sources` are a
    photographic release's source options (option name → value, e.g. {"source": [...]})."""
    from hvgen.models import check_model, check_model_reachable
    from hvgen.pipeline import check_device, check_scenarios, prepare_run_dir, stage_plan
    from hvgen.summary import StageTimes

    ranges.SEED.check("--seed", seed)
    ranges.RENDER_BATCH.check("--batch-size", (render or {}).get("batch_size"))
    ranges.CLIP_THRESHOLD.check("--clip-threshold", clip_threshold)
    _refuse_nested(release_path, out)
    release = read_release(release_path, layout)
    given = {key: value for key, value in (sources or {}).items() if value}
    pairing = None
    if is_photographic(release):
        if (render or {}).get("model") or clip_filter:
            raise HvgenError(
                f"--{'model' if (render or {}).get('model') else 'clip-filter'}: the twins of {release.benchmark} "
                "photographs are other photographs, not renders; leave it out."
            )
        config, pairing = photo_twin_config(release, seed, given)
    else:
        if given:
            raise HvgenError(
                f"--{sorted(given)[0].replace('_', '-')}: release {release.name} is rendered ({release.benchmark}); its "
                "twins are redrawn with new image seeds and need no source photographs. Leave it out."
            )
        config = twin_config(release, seed, render or {})
    config.scenario.scenarios = check_scenarios(config)
    if pairing is None:
        check_model(config.render.model)
        if not dry_run:
            check_device(config.render.device)
            check_model_reachable(config.render.model)
    made = "other photographs of the same label and stratum" if pairing else f"model {config.render.model}"
    info(
        f"[bold]hvgen twins[/] {release.name} ({release.benchmark}, {len(release.records)} questions, "
        f"{release.layout}) → {out}  (twin seed {seed}, {made})"
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
        if pairing is not None:
            _write_pairing(out, pairing)
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


def _write_pairing(out: Path, pairing: Any) -> None:
    """The paired twin records (the plan reads them) and the questions without a twin."""
    import json

    for path, text in (
        (out / PHOTO_TWINS_FILE, records_text(pairing.records)),
        (out / UNPAIRED_FILE, json.dumps({"unpaired": [{"id": key, "reason": why} for key, why in pairing.unpaired.items()],
                                          "reasons": pairing.reasons()}, indent=2, sort_keys=True) + "\n"),
    ):  # fmt: skip
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            write_text_atomic(path, text)


def _forget_gone_folders(config: RunConfig) -> None:
    """Twins do not plan from vocabularies or templates of their own: a folder gone is not needed."""
    for key in ("vocab_dir", "templates_dir"):
        value = getattr(config, key)
        if value and not Path(value).is_dir():
            setattr(config, key, None)


def is_photographic(release: Release) -> bool:
    """Whether the release's images are photographs (copied from a source, not rendered)."""
    cls = get_generator(release.benchmark)
    options = dict(release.config.options) if release.config is not None else {}
    return cls.photographic(cls.resolved_options(options))


def photo_twin_config(release: Release, seed: int, given: dict[str, Any]) -> tuple[RunConfig, Any]:
    """A photographic release's twin config and its pairing: the release's settings with the
    user's source folders, each released question paired with another photograph's."""
    from hvgen.stages.plan import build_generator

    if release.config is None:
        raise HvgenError(
            f"release {release.name}: its run configuration is unknown ({release.layout} layout outside its run), and "
            "photographic twins need the settings it was drawn with; pass the hvgen run or its export."
        )
    cls = get_generator(release.benchmark)
    options = cls.photo_twin_options(dict(release.config.options), given)
    base = replace(RunConfig.from_dict(release.config.to_dict()), options=options)
    _forget_gone_folders(base)
    generator = build_generator(base)
    pairing = generator.photo_twins(release.records, seed)
    reasons = "; ".join(f"{count}: {why}" for why, count in pairing.reasons().items())
    if not pairing.records:
        raise HvgenError(
            f"release {release.name}: none of its {len(release.records)} questions has a twin in the sources given "
            f"({reasons}); twins need photographs of the same labels outside the release."
        )
    if pairing.unpaired:
        warn(
            f"{len(pairing.unpaired)} of {len(release.records)} released questions have no twin and are left out "
            f"({reasons}); they are listed in RUN/{UNPAIRED_FILE}."
        )
    spec = TwinSpec(
        release=release.name,
        layout=release.layout,
        questions=len(release.records),
        records_sha256=sha256_text(records_text(release.records)),
        seed=seed,
        kind="photograph",
        twins_sha256=sha256_text(records_text(pairing.records)),
        paired=len(pairing.records),
        unpaired=pairing.reasons(),
    )
    config = replace(
        base,
        scenario=replace(base.scenario, scenarios=list(release.scenarios) or ["clean"]),
        twins=spec.to_config(),
    )
    config.validate("hvgen twins")
    return config, pairing


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
    _forget_gone_folders(base)
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
