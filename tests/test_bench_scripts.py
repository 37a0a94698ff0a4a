"""The bench_* scripts run end to end on tiny sizes (their numbers are not checked, their
correctness checks are: recall, identical pair sets, row counts)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
pytestmark = pytest.mark.heavy


def run_script(name: str, *args: str, cwd: Path) -> str:
    result = subprocess.run(
        [sys.executable, str(SCRIPTS / name), *args], capture_output=True, text=True, cwd=cwd, timeout=600
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return result.stdout


def test_timing_helper_alternates_warms_up_and_fits_exponents() -> None:
    sys.path.insert(0, str(SCRIPTS))
    try:
        from _timing import Config, compare, geometric_mean, growth_exponent
    finally:
        sys.path.remove(str(SCRIPTS))
    calls: list[str] = []

    def config(name: str) -> Config:
        return Config(name, lambda: calls.append(name) or 1.0, warm=lambda: calls.append(f"warm {name}"))

    results = compare([config("a"), config("b"), config("c")], repeats=3, warmup=1)
    assert calls[:3] == ["warm a", "warm b", "warm c"]
    assert calls[3:] == ["a", "b", "c", "b", "c", "a", "c", "a", "b"]  # rotated: nobody always first
    assert results["a"].seconds == [1.0, 1.0, 1.0] and results["a"].min == results["a"].median == 1.0
    assert growth_exponent([10, 100, 1000], [1, 10, 100]) == pytest.approx(1.0)
    assert growth_exponent([10, 100], [1, 100]) == pytest.approx(2.0)
    assert geometric_mean([2.0, 0.5]) == pytest.approx(1.0)


def test_bench_export_times_every_config_and_fits_the_exponent(tmp_path: Path) -> None:
    out = run_script(
        "bench_export.py",
        "--sizes",
        "300,700",
        "--base-images",
        "40",
        "--repeats",
        "1",
        "--warmup",
        "0",
        "--png-bytes",
        "200",
        cwd=tmp_path,
    )
    assert "growth exponent" in out
    for config in ("clean", "print", "adversarial"):
        assert f"  {config}" in out
    # print skips the OCR questions, adversarial exports every question
    rows = {
        line.split()[0]: line.split()
        for line in out.splitlines()
        if line.startswith(("print ", "adversarial "))
    }
    assert int(rows["adversarial"][2].replace(",", "")) >= int(rows["print"][2].replace(",", ""))


def test_bench_dedup_recall_and_side_by_side(tmp_path: Path) -> None:
    pytest.importorskip("imagededup")
    out = run_script(
        "bench_dedup.py",
        *("--sizes", "2000", "4000", "--old-sizes", "--pairs", "40", "--subsets", "1", "--subset-n", "1000"),
        *("--imagededup-n", "600", "--sample", "300", "--cache", str(tmp_path / "cache")),
        cwd=tmp_path,
    )
    assert "300 sampled images obey the rule against all" in out
    assert "1 random subsets of 1,000: kept sets, named images and distances equal" in out
    assert "growth exponent of CPU time" in out
    assert "drop sets identical" in out and "EXTRAPOLATED" not in out


def test_bench_corruption_reports_geometric_mean(tmp_path: Path) -> None:
    pytest.importorskip("imagecorruptions")
    out = run_script(
        "bench_corruption.py",
        "--num",
        "3",
        "--size",
        "64",
        "--types",
        "gaussian_noise,motion_blur",
        "--repeats",
        "1",
        cwd=tmp_path,
    )
    assert "geometric mean" in out
    assert "motion_blur*" in out and "like-for-like" in out  # 64² is not 224²: scaled kernels marked


def test_bench_adversarial_runs_the_real_scenario(tmp_path: Path) -> None:
    baseline = tmp_path / "adversarial_rev.py"  # stands in for `git show REV:... > FILE`
    baseline.write_text((SCRIPTS.parent / "hvgen" / "scenarios" / "adversarial.py").read_text())
    out = run_script(
        "bench_adversarial.py",
        "--baseline",
        str(baseline),
        "--num",
        "6",
        "--size",
        "48",
        "--batch-sizes",
        "1,4",
        "--steps",
        "2",
        "--repeats",
        "1",
        cwd=tmp_path,
    )
    assert "batch 1" in out and "batch 4 baseline" in out and "questions/s" in out


def test_bench_render_tiny(tmp_path: Path) -> None:
    out = run_script(
        "bench_render.py",
        "--num",
        "2",
        "--batch-sizes",
        "1,2",
        "--steps",
        "1",
        "--repeats",
        "1",
        cwd=tmp_path,
    )
    assert "naive loop" in out and "hvgen render, batch 2" in out and "raw diffusers, batch 2" in out


def test_bench_scan_tiny(tmp_path: Path) -> None:
    out = run_script(
        "bench_scan.py", "--num", "2", "--batch-size", "2", "--steps", "1", "--repeats", "1", "--warmup", "0",
        cwd=tmp_path,
    )  # fmt: skip
    assert "render + scan gives the plain render's pixels: True" in out
    assert "scan overhead during render" in out and "scan only" in out


def test_bench_plan_times_both_benchmarks_and_loads_no_model_library(tmp_path: Path) -> None:
    out = run_script(
        "bench_plan.py",
        "--dysca-num",
        "30",
        "--herm-persons",
        "40",
        "--repeats",
        "1",
        "--warmup",
        "0",
        cwd=tmp_path,
    )
    rows = [line for line in out.splitlines() if line.startswith(("dysca --num 30 ", "herm 40 persons"))]
    assert len(rows) == 2, out
    for row in rows:
        assert row.rstrip().endswith("| -"), row  # a dry run imported no torch, albumentations ...
        assert int(row.split()[4].replace(",", "")) > 0  # records planned


def test_bench_threads_renders_alone_and_next_to_a_busy_process(tmp_path: Path) -> None:
    out = run_script(
        "bench_threads.py", "--num", "2", "--steps", "1", "--repeats", "1", "--warmup", "0", cwd=tmp_path
    )
    import os

    cores = len(os.sched_getaffinity(0))
    assert f"T={cores} busy" in out and f"T={max(1, cores - 1)} alone" in out
    assert "next to a busy process / alone" in out
