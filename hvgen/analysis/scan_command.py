"""`hvgen scan MODEL`: read prompts, calibrate or look up the threshold, scan, localise, report.

The CLI only parses options; this module does the work, in the order a reader expects: load the
model → (calibrate on benign prompts and store the threshold) → find the threshold → scan the
prompts → localise the triggers of flagged prompts → write the JSON report and the maps picture.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from hvgen import __version__, ranges
from hvgen.analysis.attention import map_size, native_size
from hvgen.analysis.calibration import (
    DEFAULT_FPR,
    calibration_path,
    check_calibration_input,
    fit_threshold,
    load_calibration,
    save_calibration,
)
from hvgen.analysis.cda import load_detector
from hvgen.analysis.scan import (
    PromptScore,
    ScanSettings,
    Threshold,
    apply_cda,
    apply_threshold,
    paper_threshold,
    scan_prompts,
    sd1_family,
    token_limit,
)
from hvgen.analysis.scan_report import write_maps_picture, write_report
from hvgen.errors import HvgenError
from hvgen.progress import info, warn


@dataclass
class ScanRequest:
    model: str
    prompts: Path | None = None
    run: Path | None = None
    calibrate: Path | None = None
    train_cda: Path | None = None
    cda: Path | None = None
    fpr: float = DEFAULT_FPR
    threshold: float | None = None
    localize: bool = False
    clip: str | None = None
    similarity: float | None = None
    out: Path | None = None
    steps: int | None = None
    guidance: float | None = None
    width: int | None = None
    height: int | None = None
    seed: int = 42
    batch_size: int = 4
    device: str = "auto"
    dtype: str = "auto"


@dataclass
class ScanOutcome:
    scores: list[PromptScore]
    threshold: Threshold | None
    report: Path | None
    picture: Path | None
    localisations: list[Any]

    @property
    def flagged(self) -> list[PromptScore]:
        """Prompts with a verdict of 'backdoor' (a calibrated FTT threshold, or CDA): they set the
        exit status. Below an uncalibrated threshold is no verdict (see `below_uncalibrated`)."""
        return [s for s in self.scores if s.flagged or s.cda_flagged]

    @property
    def below_uncalibrated(self) -> list[PromptScore]:
        return [s for s in self.scores if s.flagged is None and s.below_threshold]


PROMPT_SHOWN = 100
"""Characters of a prompt the table shows (the whole prompt is in scan.json)."""


def check_scan_options(request: ScanRequest) -> None:
    """Every number an option takes, range-checked before any model is loaded (NaN and inf too:
    scan.json must stay valid JSON); the command line checks the same ranges while parsing."""
    for option, bounds, value in (
        ("--fpr", ranges.FPR, request.fpr),
        ("--threshold", ranges.FTT_THRESHOLD, request.threshold),
        ("--guidance", ranges.GUIDANCE, request.guidance),
        ("--similarity", ranges.SIMILARITY, request.similarity),
        ("--steps", ranges.STEPS, request.steps),
        ("--batch-size", ranges.SCAN_BATCH, request.batch_size),
        ("--width", ranges.IMAGE_SIZE, request.width),
        ("--height", ranges.IMAGE_SIZE, request.height),
        ("--seed", ranges.SEED, request.seed),
    ):
        bounds.check(option, value)


def read_prompt_file(path: Path, option: str) -> list[str]:
    """One prompt per line; blank lines and lines starting with '#' are skipped."""
    if not path.is_file():
        raise HvgenError(f"{option} {path}: no such file. Give a text file with one prompt per line.")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as error:
        raise HvgenError(f"{option} {path}: not UTF-8 text ({error.reason} at byte {error.start}).") from None
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise HvgenError(f"{option} {path}: the file holds no prompt (one per line; '#' starts a comment).")
    return prompts


def run_prompts(run_dir: Path) -> list[str]:
    """The distinct prompts a run renders (its catalog's images)."""
    from hvgen.store.catalog import open_catalog

    with open_catalog(run_dir, read_only=True) as con:
        return [
            row[0] for row in con.execute("SELECT DISTINCT prompt FROM images ORDER BY prompt").fetchall()
        ]


def resolve_scan_settings(request: ScanRequest, pipeline: Any) -> ScanSettings:
    """Options, else the run's render settings (with --run), else the model's registry defaults,
    else the pipeline's native size."""
    from hvgen.config import load_run_config
    from hvgen.models import resolve_model, resolve_settings

    if request.run is not None:
        settings = resolve_settings(load_run_config(request.run).render)
        steps, guidance, width, height = settings.steps, settings.guidance, settings.width, settings.height
    else:
        spec = resolve_model(request.model)
        steps, guidance, width, height = spec.steps, spec.guidance, spec.width, spec.height
    native = native_size(pipeline)
    return ScanSettings(
        steps=request.steps if request.steps is not None else steps,
        guidance=request.guidance if request.guidance is not None else guidance,
        width=request.width if request.width is not None else width or native,
        height=request.height if request.height is not None else height or native,
        seed=request.seed,
        batch_size=request.batch_size,
    )


def run_scan(request: ScanRequest) -> ScanOutcome:
    from hvgen.config import RenderConfig
    from hvgen.models import check_model, load_pipeline, model_source

    check_scan_options(request)
    if request.train_cda is not None and (request.calibrate is None or request.cda is None):
        raise HvgenError(
            "--train-cda BACKDOOR_PROMPTS trains on those and on the --calibrate benign prompts, and saves the "
            "detector to --cda FILE: give all three."
        )
    if request.prompts is not None and request.run is not None:
        raise HvgenError("give either --prompts FILE or --run RUN_DIR, not both.")
    if request.prompts is None and request.run is None and request.calibrate is None:
        raise HvgenError(
            "nothing to scan: give --prompts FILE (one prompt per line), --run RUN_DIR (a run's prompts) "
            "or --calibrate BENIGN_FILE (set the model's threshold)."
        )
    check_model(request.model, "MODEL")
    backdoor = read_prompt_file(request.train_cda, "--train-cda") if request.train_cda else None
    detector = load_detector(request.cda) if request.cda is not None and backdoor is None else None
    prompts = read_prompt_file(request.prompts, "--prompts") if request.prompts else None
    if request.run is not None:
        prompts = run_prompts(request.run)
        if not prompts:
            raise HvgenError(f"--run {request.run}: the run holds no prompt to scan.")
    benign = None
    if request.calibrate is not None:
        is_run = request.calibrate.is_dir()
        benign = (
            run_prompts(request.calibrate) if is_run else read_prompt_file(request.calibrate, "--calibrate")
        )
        check_calibration_input(len(benign), request.fpr)

    pipeline = load_pipeline(RenderConfig(model=request.model, device=request.device, dtype=request.dtype))
    similarity = None
    if request.localize and prompts is not None:  # load CLIP before the long part: fail fast
        from hvgen.analysis.localize import ImageSimilarity

        similarity = ImageSimilarity(request.clip or "openai/clip-vit-base-patch32", pipeline.device)
    settings = resolve_scan_settings(request, pipeline)
    source = model_source(request.model)
    size = map_size(pipeline, settings.height, settings.width)
    stored = calibration_path(source, settings, size)

    if benign is not None:
        info(
            f"calibrating on {len(benign)} benign prompts ({settings.width}×{settings.height}, {settings.steps} steps)"
        )
        benign_scores, benign_maps = scan_prompts(pipeline, benign, settings)
        fitted = fit_threshold(benign_scores, request.fpr)
        save_calibration(stored, request.model, settings, fitted, benign_scores, request.fpr)
        info(f"calibration: FTT threshold {fitted.ftt} at false-positive rate {request.fpr} → {stored}")
        if backdoor is not None:
            detector = _train_cda(request, pipeline, settings, backdoor, benign_maps)
    if prompts is None:
        return ScanOutcome([], None, None, None, [])

    threshold = _threshold(request, stored, size, sd1_family(source))
    info(
        f"scanning {len(prompts)} prompts ({size[0]}×{size[1]} maps, threshold {threshold.ftt}, {threshold.source})"
    )
    scores, maps = scan_prompts(pipeline, prompts, settings)
    apply_threshold(scores, threshold)
    truncated = [s for s in scores if s.truncated]
    if truncated:
        warn(
            f"{len(truncated)} prompt(s) are longer than the text encoder's {token_limit(pipeline)} tokens: the model "
            "reads, and the scan checks, only their first tokens (the table shows them cut; scan.json whole)."
        )
    if detector is not None:
        apply_cda(scores, maps, detector)
    localisations = _localise(request, pipeline, settings, scores, similarity) if similarity else []
    out = request.out or (request.run / "scan" if request.run else Path("scan-report"))
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = getattr(pipeline, "tokenizer", None) or pipeline.tokenizer_2
    labels = [tokenizer.convert_ids_to_tokens(tokenizer(p, truncation=True).input_ids) for p in prompts]
    picture = write_maps_picture(out, scores, maps, labels)
    report = write_report(
        out,
        {
            "hvgen_version": __version__,
            "method": "T2IShield FTT (arXiv 2407.04215) + CDA-style spectrum score"
            + (" + trained CDA" if detector is not None else ""),
            "cda_detector": str(request.cda) if detector is not None else None,
            "model": request.model,
            "settings": asdict(settings),
            "map_size": list(size),
            "threshold": asdict(threshold),
            "calibrated": threshold.calibrated,
            "calibration_file": str(stored) if threshold.source == "calibrated" else None,
            "prompts": len(scores),
            "flagged": sum(bool(s.flagged) for s in scores),
            "below_uncalibrated_threshold": sum(
                bool(s.flagged is None and s.below_threshold) for s in scores
            ),
            "truncated": len(truncated),
            "results": [s.as_dict() for s in scores],
            "localisations": [asdict(item) for item in localisations],
            "maps_picture": picture.name if picture else None,
        },
    )
    return ScanOutcome(scores, threshold, report, picture, localisations)


def _train_cda(
    request: ScanRequest, pipeline: Any, settings: ScanSettings, backdoor: list[str], benign_maps: Any
) -> Any:
    """Fit CDA on the backdoor prompts' maps against the benign ones' and save it to --cda."""
    import numpy as np

    from hvgen.analysis.assimilation import quantised_token_maps
    from hvgen.analysis.cda import cda_features, fit_cda, save_detector, training_accuracy

    info(f"training CDA on {len(backdoor)} backdoor prompts against the benign ones")
    _, backdoor_maps = scan_prompts(pipeline, backdoor, settings)
    features = [
        np.stack([cda_features(quantised_token_maps(m)) for m in maps])
        for maps in (backdoor_maps, benign_maps)
    ]
    detector = fit_cda(*features, trained_on={"model": request.model, "settings": asdict(settings)})
    save_detector(request.cda, detector)
    accuracy = training_accuracy(detector, *features)
    info(f"CDA detector → {request.cda} (training accuracy {accuracy:.0%})")
    if accuracy < 0.9:
        warn(
            f"CDA separates the training prompts poorly ({accuracy:.0%}): the backdoor prompts may not trigger "
            "this model's backdoor, or the settings blur the maps; its verdicts will be unreliable."
        )
    return detector


def _threshold(request: ScanRequest, stored: Path, size: tuple[int, int], sd1: bool) -> Threshold:
    """--threshold, else the stored calibration, else T2IShield's (rescaled, with a warning)."""
    if request.threshold is not None:
        return Threshold(request.threshold, None, "given")
    calibrated = load_calibration(stored)
    if calibrated is not None:
        return calibrated
    paper = paper_threshold(*size, sd1=sd1)
    if not paper.calibrated:
        warn(
            f"no calibration for this model at these settings: the result is uncalibrated. T2IShield's 2.5 (rescaled "
            f"to {size[0]}×{size[1]} maps: {paper.ftt}) was fitted to SD1.4 at 512² only, so a prompt below it is "
            f"reported, not flagged, and the exit status stays 0. Run `hvgen scan {request.model} --calibrate "
            "BENIGN_PROMPTS` (>= 10 prompts you trust, at these settings) once for verdicts."
        )
    return paper


def _localise(
    request: ScanRequest, pipeline: Any, settings: ScanSettings, scores: list[PromptScore], similarity: Any
) -> list[Any]:
    from hvgen.analysis.localize import localize_trigger

    flagged = [s for s in scores if s.below_threshold]  # asked for: localise suspects, calibrated or not
    limit = request.similarity if request.similarity is not None else similarity.default_threshold
    found = []
    for score in flagged:
        found.append(localize_trigger(pipeline, score.prompt, settings, similarity, limit))
    return found


def print_outcome(outcome: ScanOutcome, console: Any) -> None:
    """A table of verdicts, the suspected triggers, and where the report went."""
    from rich.markup import escape
    from rich.table import Table

    if not outcome.scores:
        return
    table = Table(title=f"T2IShield scan (FTT threshold {outcome.threshold.ftt}, {outcome.threshold.source})")
    with_cda = any(score.cda is not None for score in outcome.scores)
    for column in ("verdict", "FTT", "spectrum", *(["CDA"] if with_cda else []), "tokens", "prompt"):
        table.add_column(column)
    for score in outcome.scores:
        verdict = (
            "[red]FLAGGED[/]"
            if score.flagged
            else "[yellow]below (uncalibrated)[/]"
            if score.flagged is None and score.below_threshold
            else "benign"
        )
        cda = [f"{score.cda} ({'backdoor' if score.cda_flagged else 'benign'})"] if with_cda else []
        tokens = f"{score.tokens} (cut)" if score.truncated else str(score.tokens)
        table.add_row(verdict, str(score.ftt), str(score.spectrum), *cda, tokens, escape(shown_prompt(score)))
    console.print(table)
    for item in outcome.localisations:
        console.print(
            f"suspected trigger: {item.trigger!r} in {item.prompt[:PROMPT_SHOWN]!r}", highlight=False
        )
    flagged = len(outcome.flagged)
    below = len(outcome.below_uncalibrated)
    uncalibrated = f", {below} below the uncalibrated threshold (not a verdict)" if below else ""
    info(
        f"{flagged} of {len(outcome.scores)} prompts flagged{uncalibrated}; report: {outcome.report}",
        highlight=False,
    )


def shown_prompt(score: PromptScore) -> str:
    """The prompt as the table shows it: cut to PROMPT_SHOWN characters, and marked when the text
    encoder read only its first tokens."""
    text = score.prompt if len(score.prompt) <= PROMPT_SHOWN else score.prompt[:PROMPT_SHOWN] + "…"
    return text + (f" [only the first {score.tokens} tokens read]" if score.truncated else "")
