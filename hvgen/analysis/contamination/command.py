"""`hvgen contamination`: read the release, its twins and each model's answers on both, score
them with the benchmark's own scorer, and test every model (`run_contamination`).

Only choice questions enter (options and an answer index: multiple choice, true/false, yes/no),
scored right or wrong exactly as `hvgen score` scores them; free-form questions are left out
(their scores are similarities or an LLM judge's, not right/wrong, and scoring them needs a
model this test should not depend on) and counted in the report.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgen import ranges
from hvgen.analysis.contamination.assess import assess
from hvgen.analysis.contamination.items import build_item_table
from hvgen.analysis.harness_outputs import convert, split_rows
from hvgen.errors import HvgenError
from hvgen.generator import Generator
from hvgen.photo_twins import TWIN_FIELD
from hvgen.progress import QUIET, info, verbosity, warn
from hvgen.publish.formats.vlmevalkit import dataset_prefix
from hvgen.records import Record
from hvgen.report_tables import print_rows
from hvgen.scoring import load_questions, scorer_options
from hvgen.store.atomic import write_text_atomic
from hvgen.store.layout import CONFIG_FILE, CONTAMINATION_PLOT, CONTAMINATION_REPORT


@dataclass(frozen=True)
class ModelFiles:
    """One model's answers: on the release and on the twins (each a file or a folder of files)."""

    model: str
    release: Path
    twins: Path


def parse_model_files(values: Sequence[str]) -> list[ModelFiles]:
    """`MODEL=RELEASE,TWINS` options → one entry per model (each side a file or a folder)."""
    models: dict[str, ModelFiles] = {}
    for value in values:
        model, sep, rest = value.partition("=")
        paths = [Path(p.strip()) for p in rest.split(",") if p.strip()]
        if not sep or not model.strip() or len(paths) != 2:
            raise HvgenError(
                f"--predictions {value!r}: expected MODEL=RELEASE_PREDICTIONS,TWIN_PREDICTIONS (two files or folders: "
                "the model's answers on the release, then on the twins), e.g. --predictions llava=rel.jsonl,twins.jsonl"
            )
        if model.strip() in models:
            raise HvgenError(f"--predictions names model '{model.strip()}' twice; give each model once.")
        models[model.strip()] = ModelFiles(model.strip(), paths[0], paths[1])
    if not models:
        raise HvgenError(
            "--predictions is required: MODEL=RELEASE_PREDICTIONS,TWIN_PREDICTIONS, once per model."
        )
    return [models[name] for name in sorted(models)]


def run_contamination(
    release: Path,
    twins: Path,
    predictions: Sequence[str],
    *,
    alpha: float = 0.05,
    json_path: Path | None = None,
    plot: Path | None = None,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """The contamination report of every model, printed, written as JSON and plotted."""
    from hvgen.analysis.contamination.report import model_rows, notes, subtask_rows, verdict_line, warnings

    ranges.ALPHA.check("--alpha", alpha)
    ranges.CONTAMINATION_BOOTSTRAP.check("--bootstrap", n_resamples)
    ranges.SEED.check("--seed", seed)
    models = parse_model_files(predictions)
    report = assess_files(release, twins, models, alpha=alpha, n_resamples=n_resamples, seed=seed)
    in_run = (twins / CONFIG_FILE).is_file()
    plot = plot or (twins / CONTAMINATION_PLOT if in_run else _beside(json_path))
    if plot is not None:
        from hvgen.analysis.contamination.report import write_plot

        report["plot"] = str(write_plot(report, plot))
    text = json.dumps(report, indent=2, sort_keys=True) + "\n"
    if json_path is not None and str(json_path) == "-":
        sys.stdout.write(text)
        return report
    asked_for_json = json_path is not None
    json_path = json_path or (twins / CONTAMINATION_REPORT if in_run else None)
    if verbosity() > QUIET or not asked_for_json:
        _print_tables(report, model_rows, subtask_rows)
    for line in warnings(report):
        warn(line)
    for line in notes(report):
        info(line, highlight=False)
    for model in report["models"]:
        info(verdict_line(report, model), highlight=False)
    if json_path is not None:
        write_text_atomic(json_path, text)
        info(f"report written to {json_path}")
    if report.get("plot"):
        info(f"plot written to {report['plot']}")
    return report


def _beside(json_path: Path | None) -> Path | None:
    return json_path.with_suffix(".png") if json_path is not None and str(json_path) != "-" else None


def _print_tables(report: dict[str, Any], model_rows: Any, subtask_rows: Any) -> None:
    from rich.console import Console

    console = Console() if sys.stdout.isatty() else Console(width=400)
    for title, rows in (
        (
            f"{report['benchmark']}: accuracy on the release vs its twins (α = {report['alpha']})",
            model_rows(report),
        ),
        (f"per {report['subtask_column']} (Holm-adjusted across them)", subtask_rows(report)),
    ):
        print_rows(console, title, rows)


def assess_files(
    release: Path,
    twins: Path,
    models: Sequence[ModelFiles],
    *,
    alpha: float = 0.05,
    n_resamples: int = 2000,
    seed: int = 0,
) -> dict[str, Any]:
    """Read, score and test (no printing): the JSON report."""
    from hvgen.analysis.quality_report import benchmark_of

    records_release, records_twins = load_questions(release), load_questions(twins)
    cls = benchmark_of(records_release, release)
    if benchmark_of(records_twins, twins) is not cls:
        raise HvgenError(
            f"{release} and {twins} hold different benchmarks: a twin split is the same benchmark."
        )
    kind = check_twins(records_release, records_twins, release, twins, cls.category_column)
    choice_release = [r for r in records_release if is_choice(r)]
    choice_twins = [r for r in records_twins if is_choice(r)]
    if not choice_release:
        raise HvgenError(
            f"{release} has no choice question (options and an answer): nothing to test right/wrong."
        )
    prefix = dataset_prefix(cls)
    rows_release, rows_twins = split_rows(release, prefix), split_rows(twins, prefix)
    scores: dict[str, dict[str, dict[str, float]]] = {"release": {}, "twins": {}}
    bookkeeping: dict[str, dict[str, Any]] = {}
    for entry in models:
        bookkeeping[entry.model] = {}
        for side, path, records, everything, rows in (
            ("release", entry.release, choice_release, records_release, rows_release),
            ("twins", entry.twins, choice_twins, records_twins, rows_twins),
        ):
            items, counts = _score(cls, records, everything, path, rows)
            scores[side][entry.model] = items
            bookkeeping[entry.model][side] = counts
    by_id = {str(r["id"]): r for r in records_release}
    column = cls.category_column
    keys = {key for side in scores.values() for items in side.values() for key in items}
    info_of = {
        key: (str(by_id[key.split("@")[0]]["image_id"]), str(by_id[key.split("@")[0]].get(column)))
        for key in keys
        if key.split("@")[0] in by_id
    }
    table = build_item_table(scores["release"], scores["twins"], info_of)
    report = assess(table, alpha=alpha, n_resamples=n_resamples, seed=seed)
    for model, row in report["models"].items():
        row["files"] = bookkeeping[model]
    report.update(
        {
            "benchmark": cls.name,
            "release": str(release),
            "twins": str(twins),
            "subtask_column": column,
            "n_free_form_questions_left_out": len(records_release) - len(choice_release),
            "method": METHOD,
            "twin_kind": kind,
        }
    )
    if kind == "photograph":
        twin_ids = {str(r["id"]) for r in records_twins}
        report["n_release_questions_without_twin"] = sum(
            str(r["id"]) not in twin_ids for r in records_release
        )
        report["method"] += " " + PHOTO_METHOD
    return report


METHOD = (
    "Choice questions scored right/wrong by the benchmark's scorer; items paired by question id and scenario, "
    "clustered by released image. Within a model: exact one-sided sign-flip test over images of release minus "
    "twin right answers (= exact McNemar with one item per image; p_mcnemar_items ignores the clustering), "
    "percentile cluster-bootstrap interval of the accuracy gap. Across models: paired log odds ratio log(b/c) "
    "minus the median of the other models' (and the accuracy gap minus theirs, descriptive), joint cluster "
    "bootstrap (intervals, one-sided p). Verdict 'evidence' when the within-model "
    "test and (with two or more models) the cross-model test reject at alpha; subtasks named only then, by Holm."
)


PHOTO_METHOD = (
    "Photographic twins: each twin is the released question asked of another photograph of the same label and "
    "stratum, so the test compares two samples of one stratum; they are exchangeable, and a gap evidence of "
    "contamination, only if the release was drawn at random from its strata."
)


def is_choice(record: Record) -> bool:
    """A question answered right or wrong: options, and the index of the right one."""
    index = record.get("answer_index")
    return bool(record.get("options")) and isinstance(index, int) and not isinstance(index, bool)


def check_twins(
    release: list[Record], twins: list[Record], release_path: Path, twins_path: Path, column: str = "task"
) -> str:
    """Refuse a pair that is not a release and its twins: no shared question, questions that
    differ, or the very same images (the release passed twice). Returns the twins' kind:
    "render" (the released record with a new image seed) or "photograph" (the released question
    asked of another photograph of the same label and stratum)."""
    twin_by_id = {str(r["id"]): r for r in twins}
    shared = [r for r in release if str(r["id"]) in twin_by_id]
    if not shared:
        raise HvgenError(
            f"{twins_path} shares no question id with {release_path}: it is not a twin split of it "
            f"(make one with `hvgen twins {release_path} --out RUN`)."
        )
    if any(isinstance(twin.get(TWIN_FIELD), dict) for twin in twins):
        _check_photo_twins(
            shared, twin_by_id, {str(r["image_id"]) for r in release}, release_path, twins_path, column
        )
        return "photograph"
    for record in shared:
        twin = twin_by_id[str(record["id"])]
        for key in ("question", "options", "answer", "image_id"):
            if record.get(key) != twin.get(key):
                raise HvgenError(
                    f"question {record['id']} differs between {release_path} and {twins_path} ({key}): twins keep "
                    "every field of the released record but the image seed."
                )
    if all(record.get("image_seed") == twin_by_id[str(record["id"])].get("image_seed") for record in shared):
        raise HvgenError(
            f"{twins_path} has the release's own image seeds: it is the release itself, not its twins "
            f"(pass the run made by `hvgen twins {release_path} --out RUN`)."
        )
    return "render"


def _check_photo_twins(
    shared: list[Record], twin_by_id: dict[str, Record], released_images: set[str], release_path: Path,
    twins_path: Path, column: str,
) -> None:  # fmt: skip
    """Photographic twins keep the question's subtask, kind and answer position, and show no
    released image."""
    for record in shared:
        twin = twin_by_id[str(record["id"])]
        for key in (column, "question_type", "answer_index"):
            if record.get(key) != twin.get(key):
                raise HvgenError(
                    f"question {record['id']} differs between {release_path} and {twins_path} ({key}): a photographic "
                    "twin keeps the released question's subtask, kind and answer position."
                )
        if len(record.get("options") or []) != len(twin.get("options") or []):
            raise HvgenError(
                f"question {record['id']}: its twin in {twins_path} offers another number of options than the release."
            )
        if str(twin["image_id"]) in released_images:
            raise HvgenError(
                f"question {record['id']}: its twin in {twins_path} shows an image of the release {release_path}; a "
                "twin must be unseen (make the twins with `hvgen twins`)."
            )


def _score(
    cls: type[Generator], records: list[Record], everything: list[Record], path: Path, rows: Any
) -> tuple[dict[str, float], dict[str, Any]]:
    """Item scores of one model on one side's choice questions (`records`, of `everything`);
    harness outputs are converted first; answers to free-form questions are counted, not scored."""
    converted = convert([path], rows)
    free_form = {str(r["id"]) for r in everything} - {str(r["id"]) for r in records}
    kept = [line for line in converted.lines if line["id"] not in free_form]
    with tempfile.TemporaryDirectory(prefix="hvgen-contamination-") as folder:
        lines = Path(folder) / "predictions.jsonl"
        lines.write_text("".join(json.dumps(line) + "\n" for line in kept), encoding="utf-8")
        report = cls.score(records, lines, **scorer_options(cls, None))
    items = report.get("items") or {}
    if not items:
        raise HvgenError(
            f"{path}: none of its answers is to a choice question of the split it was given for."
        )
    counts = {
        "path": str(path),
        "read": converted.sources,
        "n_scored": len(items),
        "n_missing": len(report.get("missing_ids") or []),
        "n_extra": len(report.get("extra_ids") or []),
        "n_free_form_answers_left_out": len(converted.lines) - len(kept),
        "n_unreadable": len(converted.unmapped),
        "unreadable": converted.unmapped[:20],
    }
    return {key: float(value) for key, value in items.items()}, counts
