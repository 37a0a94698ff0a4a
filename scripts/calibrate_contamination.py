"""Calibrate `hvgen contamination`: false-positive rate and power on simulated models.

Simulated releases (hvgen.analysis.contamination.simulate): questions over images of
`--per-image` questions each, question difficulty N(0, 1.5) on the logit scale shared by an item
and its twin, an independent render effect N(0, render sd) per image and side. Models of
abilities -0.5 … 1.5 (accuracies of roughly 40 % to 75 %); a memorising model has ability 0.5
and answers a given share of the released items right from memory.

Tables (every cell: `--runs` seeds, fixed, so the script prints the same numbers every time):

1. false-positive rate of one clean model: the clustered exact test the verdict uses, next to
   McNemar over items (which ignores that questions share an image), per split size and render sd;
2. false-positive rate of the verdict with five clean models, with twins exactly like the release
   and with a harder twin split (every twin render's logit effect shifted by --shift), next to the
   within-model test alone (what a one-model verdict would say);
3. power: share of runs in which a memorising model is flagged, per memorised share and split size,
   alone (within-model test) and as one of five models (the full verdict);
4. the smallest split size in the grid that detects 5 % memorisation in 80 % of runs.

Example: python scripts/calibrate_contamination.py            (the README's tables; 75 min on a busy 2-core machine)
         python scripts/calibrate_contamination.py --quick    (a smoke run)
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np

from hvgen.analysis.contamination.assess import EVIDENCE, assess
from hvgen.analysis.contamination.items import cluster_sums
from hvgen.analysis.contamination.paired import mcnemar, sign_flip
from hvgen.analysis.contamination.simulate import SimulatedModel, SimulatedRelease, simulate

ABILITIES = (-0.5, 0.0, 0.5, 1.0, 1.5)


def clean_models() -> list[SimulatedModel]:
    return [SimulatedModel(f"clean{i}", ability) for i, ability in enumerate(ABILITIES)]


def with_memoriser(fraction: float) -> list[SimulatedModel]:
    """Four clean models and one that memorised `fraction` of the release (ability 0.5)."""
    clean = [model for model in clean_models() if model.ability != 0.5]
    return [*clean, SimulatedModel("memoriser", 0.5, fraction)]


def within_rejects(table, model: str, alpha: float) -> tuple[bool, bool]:
    """(clustered exact test rejects, item-level McNemar rejects) for one model."""
    release, twins = table.release[model], table.twins[model]
    differences = cluster_sums(release - twins, table.clusters, len(table.cluster_names))
    return sign_flip(differences).p_value <= alpha, mcnemar(release, twins).p_value <= alpha


def rate(hits: int, total: int) -> str:
    """A rate with its Monte-Carlo standard error."""
    share = hits / total
    return f"{100 * share:.1f} % ± {100 * math.sqrt(max(share * (1 - share), 1e-12) / total):.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=400, help="seeds per cell of the false-positive tables")
    parser.add_argument("--power-runs", type=int, default=200, help="seeds per cell of the power tables")
    parser.add_argument("--alpha", type=float, default=0.05)
    parser.add_argument("--sizes", default="500,1000,2000,4000,8000,16000", help="split sizes (questions)")
    parser.add_argument("--fractions", default="0.02,0.05,0.1,0.2", help="memorised shares of the release")
    parser.add_argument("--per-image", type=int, default=7, help="questions per image (Dysca: ~7)")
    parser.add_argument(
        "--shift", type=float, default=-0.6, help="render effect of a harder twin split (logit)"
    )
    parser.add_argument("--resamples", type=int, default=499, help="bootstrap resamples of the verdict")
    parser.add_argument("--tables", default="1,2,3", help="which tables to compute (3 includes 4)")
    parser.add_argument("--quick", action="store_true", help="tiny run to check the script works")
    args = parser.parse_args()
    if not (0 < args.alpha < 0.5 and args.runs >= 1 and args.power_runs >= 1 and args.resamples >= 99):
        parser.error("--alpha must be in (0, 0.5), --runs and --power-runs >= 1, --resamples >= 99")
    sizes = [int(s) for s in args.sizes.split(",")]
    fractions = [float(f) for f in args.fractions.split(",")]
    if args.quick:
        args.runs, args.power_runs, args.resamples, sizes, fractions = 20, 10, 99, [300, 1000], [0.2]
    alpha, started = args.alpha, time.perf_counter()

    print(f"alpha = {alpha}; {args.per_image} questions per image; seeds per cell: {args.runs} (false positives), "
          f"{args.power_runs} (power); ± is one Monte-Carlo standard error\n")  # fmt: skip

    tables = {int(t) for t in args.tables.split(",")}
    if 1 in tables:
        table_one(args, sizes, alpha)
    if 2 in tables:
        table_two(args, sizes, alpha)
    if 3 in tables:
        table_three(args, sizes, fractions, alpha)
    print(f"\n({time.perf_counter() - started:.0f} s)")


def table_one(args: argparse.Namespace, sizes: list[int], alpha: float) -> None:
    print("1. false-positive rate, one clean model (ability 0.5)\n")
    print("| questions | render sd | clustered exact test (verdict) | McNemar over items |")
    print("|---:|---:|---:|---:|")
    for size in sizes[:3]:
        for render_sd in (0.5, 1.0):
            release = SimulatedRelease(n_items=size, items_per_image=args.per_image, render_sd=render_sd)
            hits = np.zeros(2, dtype=int)
            for seed in range(args.runs):
                hits += within_rejects(simulate(release, [SimulatedModel("m")], seed), "m", alpha)
            print(f"| {size:,} | {render_sd} | {rate(hits[0], args.runs)} | {rate(hits[1], args.runs)} |")


def table_two(args: argparse.Namespace, sizes: list[int], alpha: float) -> None:
    print("\n2. false-positive rate of the verdict, five clean models (abilities -0.5 … 1.5)\n")
    print("| questions | twin split | verdict (5 models) | within-model test alone |")
    print("|---:|---|---:|---:|")
    for size in sorted({sizes[0], sizes[min(2, len(sizes) - 1)], sizes[-1]}):
        for label, shift in (("like the release", 0.0), (f"harder (shift {args.shift})", args.shift)):
            release = SimulatedRelease(n_items=size, items_per_image=args.per_image, twin_shift=shift)
            flagged = within = total = 0
            for seed in range(args.runs):
                report = assess(
                    simulate(release, clean_models(), seed), alpha, args.resamples, seed, by_subtask=False
                )
                for row in report["models"].values():
                    flagged += row["verdict"] == EVIDENCE
                    within += row["overall"]["p_value"] <= alpha
                    total += 1
            print(f"| {size:,} | {label} | {rate(flagged, total)} | {rate(within, total)} |")


def table_three(args: argparse.Namespace, sizes: list[int], fractions: list[float], alpha: float) -> None:
    print("\n3. power: share of runs in which the memorising model is flagged\n")
    header = " | ".join(f"{size:,}" for size in sizes)
    print(f"| memorised | model | {header} |")
    print("|---:|---|" + "---:|" * len(sizes))
    needed: dict[str, int | None] = {}
    for fraction in fractions:
        for setting in ("alone", "one of 5 models"):
            cells = []
            for size in sizes:
                release = SimulatedRelease(n_items=size, items_per_image=args.per_image)
                hits = 0
                for seed in range(args.power_runs):
                    if setting == "alone":
                        table = simulate(release, [SimulatedModel("memoriser", 0.5, fraction)], seed)
                        hits += within_rejects(table, "memoriser", alpha)[0]
                    else:
                        table = simulate(release, with_memoriser(fraction), seed)
                        report = assess(table, alpha, args.resamples, seed, by_subtask=False)
                        hits += report["models"]["memoriser"]["verdict"] == EVIDENCE
                power = hits / args.power_runs
                cells.append(f"{100 * power:.0f} %")
                if math.isclose(fraction, 0.05) and power >= 0.8 and needed.get(setting) is None:
                    needed[setting] = size
                needed.setdefault(setting, None)
            print(f"| {100 * fraction:g} % | {setting} | " + " | ".join(cells) + " |")

    if any(math.isclose(f, 0.05) for f in fractions):
        print(
            "\n4. questions needed to detect 5 % memorisation in 80 % of runs (smallest size in the grid)\n"
        )
        for setting, size in needed.items():
            print(f"- {setting}: " + (f"{size:,} questions" if size else f"more than {sizes[-1]:,}"))


if __name__ == "__main__":
    main()
