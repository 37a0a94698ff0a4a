#!/usr/bin/env python
"""Planning throughput: records per second of the whole plan stage (generate, validate, sort,
write records.jsonl and the catalog) for Dysca and HERM, in a fresh process per run.

Each run is `hvgen <benchmark> ... --dry-run` in a child process (the real command: start-up,
checks, plan). The child times the plan stage itself (`hvgen.stages.plan.run_plan`: CPU and
wall seconds; its plan worker processes' CPU seconds too, hvgen.stages.plan_workers) and the parent
the whole command (`os.wait4`: CPU seconds, wall, peak RSS). On a shared machine read the CPU
columns: wall time includes the neighbours' load; "idle 2-core s" estimates the stage's wall time
on two idle cores from its CPU seconds (its own + its workers' / 2: it waits while they run).

    python scripts/bench_plan.py                                   # Dysca --num 20000, HERM 100k persons
    python scripts/bench_plan.py --baseline /tmp/main/.venv/bin/python --repeats 3

`--baseline PYTHON` times another interpreter's hvgen too (a venv with `pip install -e` of a
`git worktree` of the older commit): every configuration is warmed up once (discarded), then the
rounds alternate them in rotated order; the table gives min and median per configuration and
the ratio of the minima. Both write the same records.jsonl (its sha256 is compared).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import machine  # noqa: E402
from bench_herm import write_data as write_herm_data  # noqa: E402

CPUS = 2
"""The CPUs the estimated idle wall time assumes (`plan_path`): the stage's process waits while
its workers run, so on idle CPUs the stage lasts about its own CPU time plus the workers' / CPUS."""

CHILD = """
import json, resource, sys, time
cpu0, wall0 = time.process_time(), time.perf_counter()
import hvgen.pipeline as pipeline
plan = {}
original = pipeline.run_plan
def workers_cpu():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime
def timed(*args, **kwargs):
    cpu, wall, workers = time.process_time(), time.perf_counter(), workers_cpu()
    result = original(*args, **kwargs)
    plan.update(cpu=time.process_time() - cpu, wall=time.perf_counter() - wall, workers=workers_cpu() - workers)
    return result
pipeline.run_plan = timed
from hvgen.cli import main
try:
    main(sys.argv[2:])
except SystemExit as done:
    if done.code:
        raise
heavy = [m for m in ("torch", "albumentations", "diffusers", "transformers", "datasets")
         if m in sys.modules and type(sys.modules[m]).__name__ != "_LazyModule"]
with open(sys.argv[1], "w") as handle:
    json.dump({"plan": plan, "heavy": heavy}, handle)
"""


@dataclass
class Runs:
    name: str
    plan_cpu: list[float] = field(default_factory=list)  # this process's and its plan workers'
    plan_main: list[float] = field(default_factory=list)  # the stage's process alone
    plan_path: list[float] = field(default_factory=list)  # main + workers / CPUs: wall on idle CPUs
    plan_wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    peak_mib: list[float] = field(default_factory=list)
    records: int = 0
    sha: str = ""
    heavy: list[str] = field(default_factory=list)


def plan_once(python: str, args: list[str], workdir: Path, runs: Runs, keep: bool) -> None:
    out = workdir / "run"
    shutil.rmtree(out, ignore_errors=True)
    report = workdir / "report.json"
    command = [python, "-c", CHILD, str(report), *args, "--out", str(out), "--dry-run", "--quiet"]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=workdir, env={**os.environ, "HVGEN_NO_PROGRESS": "1"})
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status):
        raise SystemExit(f"{runs.name}: the plan exited with {os.waitstatus_to_exitcode(status)}")
    data = json.loads(report.read_text())
    records_file = out / "records.jsonl"
    runs.records = sum(1 for _ in records_file.open("rb"))
    runs.sha = hashlib.sha256(records_file.read_bytes()).hexdigest()[:16]
    runs.heavy = data["heavy"]
    if keep:
        main, workers = data["plan"]["cpu"], data["plan"].get("workers", 0.0)
        runs.plan_cpu.append(main + workers)
        runs.plan_main.append(main)
        runs.plan_path.append(main + workers / CPUS)
        runs.plan_wall.append(data["plan"]["wall"])
        runs.cpu.append(usage.ru_utime + usage.ru_stime)
        runs.wall.append(wall)
        runs.peak_mib.append(usage.ru_maxrss / 1024)
    shutil.rmtree(out, ignore_errors=True)


def rate(records: int, seconds: list[float], pick) -> str:
    return f"{records / pick(seconds):,.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--dysca-num", type=int, default=20_000, help="Dysca images (0: skip Dysca)")
    parser.add_argument("--herm-persons", type=int, default=100_000, help="HERM person annotations (0: skip)")
    parser.add_argument("--baseline", metavar="PYTHON", help="also time this interpreter's hvgen, alternated")
    parser.add_argument("--repeats", type=int, default=3, help="timed rounds per configuration")
    parser.add_argument("--warmup", type=int, default=1, help="untimed runs per configuration first")
    args = parser.parse_args()
    if args.repeats < 1 or args.warmup < 0:
        parser.error("--repeats must be >= 1 and --warmup >= 0")
    pythons = {"this": sys.executable, **({"baseline": args.baseline} if args.baseline else {})}
    print(machine(), f"; load average {os.getloadavg()[0]:.1f} at start", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-plan-") as tmp:
        root = Path(tmp)
        benches: dict[str, list[str]] = {}
        if args.dysca_num:
            benches[f"dysca --num {args.dysca_num:,}"] = [
                "dysca", "--num", str(args.dysca_num), "--allow-short", "--scenario", "all",
            ]  # fmt: skip
        if args.herm_persons:
            herm = root / "herm-data"
            herm.mkdir()
            benches[f"herm {args.herm_persons:,} persons"] = [
                "herm",
                *write_herm_data(herm, args.herm_persons),
            ]
        results: dict[tuple[str, str], Runs] = {}
        (root / "round").mkdir()
        for bench, bench_args in benches.items():
            configs = [(bench, name) for name in pythons]
            for key in configs:
                results[key] = Runs(f"{bench} [{key[1]}]")
                workdir = root / f"{key[1]}-{len(results)}"
                workdir.mkdir()
                for _ in range(args.warmup):
                    plan_once(pythons[key[1]], bench_args, workdir, results[key], keep=False)
            for round_ in range(args.repeats):
                shift = round_ % len(configs)
                for key in configs[shift:] + configs[:shift]:
                    runs = results[key]
                    plan_once(pythons[key[1]], bench_args, root / "round", runs, keep=True)
                    print(f"  round {round_ + 1}/{args.repeats} {runs.name}: {runs.records:,} records, plan stage "
                          f"{runs.plan_cpu[-1]:.2f} CPU s ({runs.plan_main[-1]:.2f} in its process) / "
                          f"{runs.plan_wall[-1]:.2f} s wall, command "
                          f"{runs.cpu[-1]:.2f} CPU s / {runs.wall[-1]:.2f} s wall", flush=True)  # fmt: skip
        print(f"\nload average {os.getloadavg()[0]:.1f} at the end (2 cores: above 2 the machine was shared)")
        print(
            "records/s = records / seconds; min = best run, med = median run; plan CPU s counts the plan's worker"
        )
        print(
            f"processes; 'idle {CPUS}-core s' = the stage process's CPU s + its workers' / {CPUS} (wall on idle CPUs)"
        )
        print(
            f"{'benchmark':<24} {'hvgen':<8} {'records':>9} | {'plan CPU s min/med':>18} {'rec/CPU-s':>10} | "
            f"{'idle ' + str(CPUS) + '-core s':>13} {'rec/s':>8} | "
            f"{'plan wall s min/med':>19} {'rec/s':>8} | {'command CPU s':>13} {'command wall s':>14} "
            f"{'rec/s':>8} | {'peak MiB':>8} | heavy imports"
        )
        for (bench, name), runs in results.items():
            print(
                f"{bench:<24} {name:<8} {runs.records:>9,} | "
                f"{min(runs.plan_cpu):>8.2f}/{statistics.median(runs.plan_cpu):<9.2f} "
                f"{rate(runs.records, runs.plan_cpu, min):>10} | "
                f"{min(runs.plan_path):>13.2f} {rate(runs.records, runs.plan_path, min):>8} | "
                f"{min(runs.plan_wall):>9.2f}/{statistics.median(runs.plan_wall):<9.2f} "
                f"{rate(runs.records, runs.plan_wall, min):>8} | {min(runs.cpu):>13.2f} {min(runs.wall):>14.2f} "
                f"{rate(runs.records, runs.wall, min):>8} | {max(runs.peak_mib):>8,.0f} | {','.join(runs.heavy) or '-'}"
            )
        for bench in benches:
            if len(pythons) > 1:
                this, base = results[(bench, "this")], results[(bench, "baseline")]
                same = "identical" if this.sha == base.sha else "DIFFERENT"
                print(
                    f"{bench}: plan stage CPU {min(base.plan_cpu) / min(this.plan_cpu):.1f}x less than the "
                    f"baseline (min/min), idle {CPUS}-core time {min(base.plan_path) / min(this.plan_path):.1f}x "
                    f"less, command CPU {min(base.cpu) / min(this.cpu):.1f}x; records.jsonl {same}"
                )


if __name__ == "__main__":
    main()
