"""The scoring commands: `hvgen score` (a model's predictions on a benchmark's questions) and
`hvgen quality` (a split's reliability and validity), with the --judge options they share."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hvgen import ranges
from hvgen.cli.options import QuietOpt, VerboseOpt, repair_run
from hvgen.cli.output import print_score_table
from hvgen.errors import HvgenError
from hvgen.progress import info, warn

EMBEDDER_HELP = (
    "Sentence-embedding model (transformers id or folder) for free-form answers scored by similarity "
    "(dysca image captions). [default: sentence-transformers/all-MiniLM-L6-v2, Dysca's]"
)


JUDGE_HELP = (
    "LLM judge for free-form answers, for benchmarks graded by one: an OpenAI-compatible endpoint (http://host:port/v1, with "
    "--judge-model; API key from $HVGEN_JUDGE_API_KEY or $OPENAI_API_KEY), a transformers chat model (id or "
    "folder), or 'fake' (a deterministic string rule for tests and dry runs, not a judge of quality)."
)
JudgeOpt = Annotated[str | None, typer.Option(metavar="URL|ID|DIR|fake", help=JUDGE_HELP)]
JudgeModelOpt = Annotated[
    str | None, typer.Option(metavar="NAME", help="Model name the --judge endpoint serves (e.g. gpt-4o).")
]
JudgeCacheOpt = Annotated[
    Path | None,
    typer.Option(
        metavar="FILE", help="Judge reply cache (JSONL). [default: $HVGEN_CACHE/judge/<judge>.jsonl]"
    ),
]


JudgeWorkersOpt = Annotated[
    int,
    typer.Option(
        metavar="N",
        help="Requests in flight at once to a --judge endpoint.",
        parser=ranges.JUDGE_WORKERS.parser("--judge-workers"),
    ),
]


def judge_spec(judge: str | None, model: str | None, cache: Path | None, workers: int = 4) -> Any:
    """The judge the options name (None without --judge; --judge-model alone is a mistake)."""
    if judge is None:
        if model:
            raise HvgenError(
                "--judge-model names the model of a --judge endpoint: pass --judge http://host:port/v1 too."
            )
        return None
    from hvgen.judges import JudgeSpec

    return JudgeSpec(judge, model, cache, workers)


def score_command(
    benchmark: Annotated[
        str, typer.Argument(metavar="BENCHMARK", help="Benchmark name, e.g. dysca or vlbias.")
    ],
    source: Annotated[
        Path,
        typer.Argument(
            metavar="RUN_OR_EXPORT", help="A run directory or an export folder holding the questions."
        ),
    ],
    predictions: Annotated[
        Path,
        typer.Argument(
            metavar="PREDICTIONS",
            help='JSONL file, one {"id": ..., "prediction": ...} per line (dysca: "scenario" too, off clean images).',
        ),
    ],
    output: Annotated[
        Path | None,
        typer.Option(
            metavar="FILE",
            help="Write the full report here (.json, or .csv for the table; '-': the JSON on stdout, the table on "
            "stderr).",
        ),
    ] = None,
    embedder: Annotated[str | None, typer.Option(metavar="ID|DIR", help=EMBEDDER_HELP)] = None,
    judge: JudgeOpt = None,
    judge_model: JudgeModelOpt = None,
    judge_cache: JudgeCacheOpt = None,
    judge_workers: JudgeWorkersOpt = 4,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Score a model's predictions on a benchmark's questions."""
    from hvgen.generator import get_generator
    from hvgen.scoring import check_benchmark, load_questions, scorer_options, write_report

    cls = get_generator(benchmark)
    repair_run(source)  # a damaged catalog is rebuilt
    records = load_questions(source)
    check_benchmark(records, cls.name, source)
    options = scorer_options(cls, embedder, judge_spec(judge, judge_model, judge_cache, judge_workers))
    try:
        report = cls.score(records, predictions, **options)
    except NotImplementedError as error:
        raise HvgenError(str(error)) from None
    if isinstance(report.get("judge"), dict):
        stats = report["judge"]
        info(
            f"judge {stats['judge']}: {stats['judge_calls']} call(s), {stats['cache_hits']} cached reply(ies)"
        )
        if stats.get("n_unparsed"):
            warn(
                f"judge replies without a verdict: {stats['n_unparsed']} (listed in the report's judge.unparsed_replies)"
            )
    to_stdout = output is not None and str(output) == "-"
    rows = report.get("table") or []
    if rows:  # with --output -, stdout holds the JSON alone and the table goes to stderr
        print_score_table(f"{cls.title} scores", rows, to_stdout)
    for key in ("missing_ids", "extra_ids", "unparsed_ids", "malformed_lines", "duplicate_lines"):
        value = report.get(key)
        if isinstance(value, list) and value:
            warn(f"{key.replace('_', ' ')}: {len(value)} (first: {value[:5]})")
        elif isinstance(value, int) and value:  # a scorer that reports only a count
            warn(f"{key.replace('_', ' ')}: {value}")
    if to_stdout:
        import json

        sys.stdout.write(json.dumps(report, indent=2, sort_keys=True, default=str) + "\n")
    elif output:
        write_report(report, output)
        info(f"report written to {output}")


def quality_command(
    form_a: Annotated[
        Path, typer.Argument(metavar="RUN_A", help="The split to assess (run or export folder).")
    ],
    form_b: Annotated[
        Path,
        typer.Argument(metavar="RUN_B", help="A parallel form: same config, another seed (see --forms)."),
    ],
    predictions: Annotated[
        list[str],
        typer.Option(
            metavar="MODEL=A.jsonl,B.jsonl",
            help="One model's predictions on RUN_A and on RUN_B (as for `hvgen score`). Repeat for each model; "
            "correlations across models need at least 3.",
        ),
    ],
    retest: Annotated[
        list[str] | None,
        typer.Option(
            metavar="MODEL=A2.jsonl", help="The model's second answers to RUN_A (another sampling seed)."
        ),
    ] = None,
    criterion: Annotated[
        Path | None,
        typer.Option(
            metavar="CSV", help="External score per model (columns model,score) for criterion validity."
        ),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option(
            "--json",
            metavar="FILE",
            help="Write the full report (JSON) here; '-' for stdout. [default: RUN_A/quality/quality.json]",
        ),
    ] = None,
    plot: Annotated[
        Path | None,
        typer.Option(
            metavar="PNG", help="Form A vs form B scatter. [default: RUN_A/quality/parallel-forms.png]"
        ),
    ] = None,
    embedder: Annotated[str | None, typer.Option(metavar="ID|DIR", help=EMBEDDER_HELP)] = None,
    judge: JudgeOpt = None,
    judge_model: JudgeModelOpt = None,
    judge_cache: JudgeCacheOpt = None,
    judge_workers: JudgeWorkersOpt = 4,
    seed: Annotated[
        int, typer.Option(metavar="INTEGER", help="Bootstrap seed.", parser=ranges.SEED.parser("--seed"))
    ] = 0,
    bootstrap: Annotated[
        int,
        typer.Option(
            metavar="N",
            help="Bootstrap resamples per CI.",
            parser=ranges.QUALITY_BOOTSTRAP.parser("--bootstrap"),
        ),
    ] = 2000,
    verbose: VerboseOpt = 0,
    quiet: QuietOpt = False,
) -> None:
    """Measure a benchmark split's reliability and validity (HQM): parallel forms, test-retest,
    criterion validity, KR-20/alpha, item difficulty and discrimination, taxonomy coverage."""
    from hvgen.analysis.quality_cli import run_quality

    for form in (form_a, form_b):
        repair_run(form)  # a damaged catalog (or config.yaml) is rebuilt before it is read
    run_quality(
        form_a,
        form_b,
        predictions,
        retest or [],
        criterion,
        json_path,
        plot,
        embedder,
        seed,
        bootstrap,
        judge=judge_spec(judge, judge_model, judge_cache, judge_workers),
    )
