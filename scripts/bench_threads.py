"""Render next to a busy neighbour: does sizing torch's threads and the I/O pool to the CPUs
(hvgen/cpu_budget.py) keep the render stage from collapsing when another process wants a core?

Each configuration renders the same planned tiny run (`hvgen render`, a fresh copy each time, in
its own process so its thread pools start as a user's would) with `HVGEN_CPUS=T`, which sizes
torch's intra-op threads, the PNG writer pool and the process pools together:

* T = every core this process may use (what torch's default and hvgen's budget both give on an
  unrestricted machine: the "before" of issue 23 item 6);
* T = one core fewer (leaving the neighbour its core);

each alone and next to one busy process (a Python loop spinning on one core for the whole run).
Warm-up, alternated rounds, min and median wall seconds (`_timing.py`), and per T the slowdown
busy / alone.

    python scripts/bench_threads.py                 # 12 tiny images, 4 steps, 3 rounds
    python scripts/bench_threads.py --num 24 --repeats 5
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

SPIN = "import time\nend = time.time() + 3600\nwhile time.time() < end:\n    pass\n"


def hvgen(*args: str, env: dict[str, str], cwd: Path) -> None:
    """One hvgen command in its own process (cwd outside any checkout); raise on failure."""
    done = subprocess.run(
        [sys.executable, "-m", "hvgen", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if done.returncode:
        raise SystemExit(f"hvgen {' '.join(args)} failed:\n{done.stderr[-2000:]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--num", type=int, default=12, help="tiny images per render")
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1)
    args = parser.parse_args(argv)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    threads = sorted({cores, max(1, cores - 1)}, reverse=True)
    print(f"machine: {machine()}; load average before: {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory(prefix="bench-threads-") as tmp:
        work = Path(tmp)
        env = {**os.environ, "HVGEN_NO_PROGRESS": "1"}
        env.pop("OMP_NUM_THREADS", None)
        planned = work / "planned"
        hvgen("dysca", "--model", "tiny", "--num", str(args.num), "--steps", str(args.steps), "--subtasks",
              "animal", "--dry-run", "--quiet", "--out", str(planned), env=env, cwd=work)  # fmt: skip

        def render(cpus: int, busy: bool) -> float:
            run = work / f"run-{cpus}-{int(busy)}"
            shutil.rmtree(run, ignore_errors=True)
            shutil.copytree(planned, run)
            spinner = subprocess.Popen([sys.executable, "-c", SPIN]) if busy else None
            try:
                time.sleep(0.2 if busy else 0)  # the neighbour is running before the render starts
                start = time.perf_counter()
                hvgen("render", str(run), "--quiet", env={**env, "HVGEN_CPUS": str(cpus)}, cwd=work)
                return time.perf_counter() - start
            finally:
                if spinner:
                    spinner.kill()
                    spinner.wait()

        configs = [
            Config(f"T={cpus} {'busy' if busy else 'alone'}", lambda c=cpus, b=busy: render(c, b))
            for cpus in threads
            for busy in (False, True)
        ]
        results = compare(configs, repeats=args.repeats, warmup=args.warmup, log=print)
    print(f"\n{args.num} tiny images x {args.steps} steps, wall seconds:")
    for timing in results.values():
        print(f"  {timing.name:<12} {timing.describe()}")
    for cpus in threads:
        alone, busy = results[f"T={cpus} alone"], results[f"T={cpus} busy"]
        print(f"  T={cpus}: next to a busy process / alone = {busy.min / alone.min:.2f}x (min), "
              f"{busy.median / alone.median:.2f}x (median)")  # fmt: skip


if __name__ == "__main__":
    main()
