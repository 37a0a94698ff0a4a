"""What launching through an executor costs: `hvgen render RUN` of a tiny-model run in one
process vs. through each engine with 1 and 2 workers, on this machine.

Each configuration renders the same planned run (`--num` images, copied fresh from one plan for
every repetition) with the built-in tiny model:

    in-process         hvgen render RUN                                       (the reference)
    E 1 worker         hvgen render RUN --executor E --workers 1              (1 task)
    E 1 worker x4      ... --workers 1 with 4 shards                          (4 tasks, one at a time)
    E 2 workers        hvgen render RUN --executor E --workers 2              (2 tasks at once)

for E = local (child processes), ray (a local Ray started by the command: the single-machine
case of a cluster) and slurm through submitit's LocalExecutor (`slurm_backend: local`: submitit's
pickling, job folders and polling, without a cluster). Printed: wall time (min / median over
alternated rounds, after a warm-up: scripts/_timing.py), the ratio to in-process, the launch
overhead (1 worker − in-process) and the overhead per task ((4 tasks − 1 task) / 3: what one
more task costs, mostly a fresh interpreter and model load plus the engine's dispatch). A GPU
cluster's figures are not measured here.

    python scripts/bench_executors.py                  # --num 8 --rounds 3
    python scripts/bench_executors.py --engines local,ray --rounds 2
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import Config, compare, machine  # noqa: E402

ENGINES = {
    "local": {"name": "local"},
    "ray": {"name": "ray"},
    "slurm": {"name": "slurm", "slurm_backend": "local"},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--num", type=int, default=8, help="images in the run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--engines", default="local,ray,slurm")
    args = parser.parse_args()
    engines = [name.strip() for name in args.engines.split(",")]
    unknown = sorted(set(engines) - set(ENGINES))
    if unknown or not 1 <= args.num <= 10_000 or not 1 <= args.rounds <= 100:
        parser.error(
            f"--engines from {', '.join(ENGINES)}; --num 1-10000; --rounds 1-100 (unknown: {unknown})"
        )

    work = Path(tempfile.mkdtemp(prefix="hvgen-bench-executors-"))
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HVGEN_NO_PROGRESS": "1"}
    plan = work / "plan"
    hvgen = [sys.executable, "-m", "hvgen", "-q"]
    subprocess.run(
        [*hvgen, "dysca", "--model", "tiny", "--num", str(args.num), "--out", str(plan), "--dry-run"],
        check=True,
        env=env,
        cwd=work,  # not a checkout: `python -m hvgen` there would import its hvgen/, not the installed one
    )

    def render(extra: list[str], config: dict | None = None) -> float:
        run = work / "run"
        shutil.rmtree(run, ignore_errors=True)
        shutil.copytree(plan, run)
        command = [*hvgen, "render", str(run), *extra]
        if config is not None:
            path = work / "executor.yaml"
            path.write_text("executor:\n" + "".join(f"  {k}: {v}\n" for k, v in config.items()))
            command += ["--executor-config", str(path)]
        start = time.perf_counter()
        subprocess.run(command, check=True, env=env, cwd=work)
        return time.perf_counter() - start

    configs = [Config("in-process", lambda: render([]))]
    for engine in engines:
        base = ENGINES[engine]
        configs += [
            Config(f"{engine} 1 worker", lambda b=base: render([], {**b, "workers": 1, "shards": 1})),
            Config(f"{engine} 1 worker x4", lambda b=base: render([], {**b, "workers": 1, "shards": 4})),
            Config(f"{engine} 2 workers", lambda b=base: render([], {**b, "workers": 2})),
        ]
    print(
        f"machine: {machine()}; load average {os.getloadavg()[0]:.1f}; {args.num} tiny images, OMP_NUM_THREADS=1"
    )
    results = compare(configs, repeats=args.rounds, warmup=1, log=print)
    reference = results["in-process"]
    print(f"\n{'configuration':<22} {'min s':>8} {'median s':>9} {'min / in-process':>17}")
    for name, timing in results.items():
        print(f"{name:<22} {timing.min:>8.2f} {timing.median:>9.2f} {timing.min / reference.min:>17.2f}")
    print(
        f"\n{'engine':<8} {'launch overhead s':>18} {'overhead per task s':>20} {'2 workers / 1 worker':>21}"
    )
    for engine in engines:
        one, four, two = (
            results[f"{engine} {suffix}"] for suffix in ("1 worker", "1 worker x4", "2 workers")
        )
        print(
            f"{engine:<8} {one.min - reference.min:>18.2f} {(four.min - one.min) / 3:>20.2f} {two.min / one.min:>21.2f}"
        )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
