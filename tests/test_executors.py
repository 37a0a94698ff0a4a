"""Launching a run's shards through real engines (hvgen.executors), and `hvgen status`.

Every launch is compared byte for byte with a one-process run of the same config: local child
processes (a failed round listed, then rerun), Ray on this machine (ray.init with 2 CPUs; a
worker killed mid-task with os.kill and retried by Ray), Slurm through a fake sbatch / sacct /
srun / scancel / scontrol on PATH (tests/fake_slurm.py: records the scripts, runs the array
elements as local processes; a preempted element is requeued, a failed one resubmitted, the
dependent export cancelled and resubmitted), and submitit's LocalExecutor and DebugExecutor.

CPU renders depend on the number of CPU threads (torch reductions round differently), so every
process here runs with OMP_NUM_THREADS=1, as Ray sets for a 1-CPU task.
"""

from __future__ import annotations

import filecmp
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from hvgen.cli import main
from hvgen.errors import HvgenError
from hvgen.executors.settings import ExecutorSettings, require_engine, resolve_settings

REPO = Path(__file__).resolve().parent.parent
RUN_ARGS = ["dysca", "--scenario", "clean", "--model", "tiny", "--num", "6", "-q"]


@pytest.fixture(autouse=True)
def one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory: pytest.TempPathFactory, tiny_cache: Path) -> Path:
    """The same run in one process (a fresh interpreter with one CPU thread)."""
    out = tmp_path_factory.mktemp("baseline") / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # cwd: not the checkout, whose hvgen/ `python -m` would import instead of the installed package
    command = [sys.executable, "-m", "hvgen", *RUN_ARGS, "--out", str(out)]
    subprocess.run(command, check=True, env=env, cwd=out.parent)
    return out


def same_tree(a: Path, b: Path) -> bool:
    """Whether two folders hold the same files with the same bytes."""
    files_a = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    return files_a == files_b and all(filecmp.cmp(a / f, b / f, shallow=False) for f in files_a)


def write_config(path: Path, **executor: object) -> Path:
    path.write_text(yaml.safe_dump({"benchmark": "dysca", "executor": executor}))
    return path


def status_json(run: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict:
    capsys.readouterr()
    main(["status", str(run), "--json", *args])
    return json.loads(capsys.readouterr().out)


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("section", "message"),
    [
        (
            {"workers": 0},
            "workers (--workers) must be a whole number from 1 to 100,000 (tasks at once), got 0",
        ),
        ({"workers": 10**9}, "workers (--workers) must be a whole number from 1 to 100,000"),
        ({"retries": -1}, "retries must be a whole number from 0 to 100, got -1"),
        ({"mem_gb": float("nan")}, "mem_gb must be a finite number in (0, 65536] (GB), got nan"),
        ({"mem_gb": float("inf")}, "mem_gb must be a finite number in (0, 65536] (GB), got inf"),
        ({"gpus_per_task": -1}, "gpus_per_task must be a whole number from 0 to 64"),
        ({"time_min": 0}, "time_min must be a whole number from 1 to 525,600"),
        ({"name": "kubernetes"}, "executor (--executor) must be one of local, slurm, ray"),
        ({"sbatch_args": ["qos=high"]}, "sbatch_args must be long options such as '--qos=high'"),
        ({"sbatch_args": [3]}, "must be a list of names"),
        ({"wokers": 2}, "unknown key 'wokers' (did you mean 'workers'?)"),
        ({"workers": "2"}, "'workers' must be an integer, got str '2'"),
    ],
)
def test_executor_settings_are_checked_in_one_line(tmp_path: Path, section: dict, message: str) -> None:
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"benchmark": "dysca", "executor": section}))
    with pytest.raises(HvgenError) as error:
        resolve_settings(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_command_line_overrides_the_section_and_one_worker_runs_in_process(tmp_path: Path) -> None:
    path = write_config(tmp_path / "c.yaml", name="slurm", workers=8, partition="gpu")
    settings = resolve_settings(path, executor="ray", workers=2)
    assert (settings.name, settings.workers, settings.partition) == ("ray", 2, "gpu")
    assert not resolve_settings(None).distributed  # no executor given: the usual in-process run
    with pytest.raises(
        HvgenError, match="--workers must be|workers \\(--workers\\) must be a whole number from 1"
    ):
        resolve_settings(None, executor="local", workers=0)


def test_the_readme_executor_example_is_valid(tmp_path: Path) -> None:
    readme = (REPO / "README.md").read_text()
    example = readme.split("## Beyond one machine", 1)[1].split("```yaml\n", 1)[1].split("```", 1)[0]
    (tmp_path / "slurm.yaml").write_text(example)
    settings = resolve_settings(tmp_path / "slurm.yaml")
    assert (settings.name, settings.workers, settings.shard_count, settings.gpus_per_task) == (
        "slurm",
        32,
        64,
        1,
    )


def test_a_missing_engine_names_the_extra_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    for name, extra in (("ray", 'pip install "hvgen[ray]"'), ("slurm", 'pip install "hvgen[slurm]"')):
        with pytest.raises(HvgenError, match=re.escape(f"package, which is not installed: {extra}.")):
            require_engine(ExecutorSettings(name=name))
    require_engine(ExecutorSettings(name="local"))


def test_the_executor_section_stays_out_of_the_run_config(tmp_path: Path) -> None:
    """How a run is launched changes no data: it must not reach config.yaml (nor the card)."""
    from hvgen.config import RunConfig

    path = write_config(tmp_path / "c.yaml", name="ray", workers=2)
    assert "executor" not in RunConfig.load(path).to_dict()


@pytest.mark.parametrize(
    ("rank", "gpus", "device"), [("3", 8, "cuda:3"), ("9", 8, "cuda:1"), (None, 8, "cuda"), ("3", 1, "cuda")]
)
def test_auto_device_follows_local_rank(
    monkeypatch: pytest.MonkeyPatch, rank: str | None, gpus: int, device: str
) -> None:
    """torchrun / local workers on a node of several GPUs: process k renders on cuda:k."""
    import torch

    from hvgen.models import pick_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: gpus)
    if rank is None:
        monkeypatch.delenv("LOCAL_RANK", raising=False)
    else:
        monkeypatch.setenv("LOCAL_RANK", rank)
    assert pick_device("auto") == device
    assert pick_device("cuda:0") == "cuda:0"


def test_config_command_checks_and_shows_the_executor_section(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`hvgen config FILE` checks the file as `--config` would, its executor: section included."""
    with pytest.raises(SystemExit) as refused:
        main(["config", str(write_config(tmp_path / "bad.yaml", name="slurm", workers=-3))])
    assert refused.value.code == 2
    assert (
        "workers (--workers) must be a whole number from 1 to 100,000 (tasks at once), got -3"
        in capsys.readouterr().err
    )
    main(["config", "--json", str(write_config(tmp_path / "good.yaml", name="slurm", workers=4))])
    shown = json.loads(capsys.readouterr().out)["executor"]
    assert shown["name"] == "slurm" and shown["workers"] == 4 and shown["retries"] >= 0


def test_adversarial_surrogate_follows_local_rank(monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack's surrogate CLIP takes the process's own GPU too, not cuda:0 for every worker;
    without a GPU it stays on the CPU (never MPS: its kernels are not the CPU contract's)."""
    import torch

    from hvgen.scenarios.adversarial import _attack_device

    monkeypatch.setenv("LOCAL_RANK", "1")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    assert _attack_device() == "cuda:1"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _attack_device() == "cpu"


def test_shard_and_executor_together_are_refused(tmp_path: Path) -> None:
    with pytest.raises(SystemExit):
        main(
            [
                *RUN_ARGS,
                "--out",
                str(tmp_path / "r"),
                "--shard",
                "0/2",
                "--executor",
                "local",
                "--workers",
                "2",
            ]
        )


# --- local processes, hvgen status -------------------------------------------------------------


@pytest.mark.heavy
def test_local_workers_fail_list_rerun_and_match_one_process(
    tmp_path: Path, baseline: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "run"
    args = [*RUN_ARGS, "--out", str(run), "--executor", "local", "--workers", "2"]
    # each shard process is killed (kill -9) after logging its 2nd image; with no retries the
    # launch ends with the unfinished shards listed
    monkeypatch.setenv("HVGEN_FAULT", "render.logged:2")
    with pytest.raises(SystemExit) as failed:
        main([*args, "--config", str(write_config(tmp_path / "c.yaml", retries=0))])
    assert failed.value.code == 2
    message = capsys.readouterr().err
    assert "shards did not finish through local" in message and "exit code -9" in message
    assert f"log: {run / 'logs' / 'local'}" in message
    assert f"run it by hand: hvgen render {run} --shard" in message
    status = status_json(run, capsys)
    assert status["shards"] == 2 and status["executor"] == "local"
    (render,) = status["stages"]
    assert 0 < render["done"] < render["total"] == 6
    assert any(task["state"] == "failed" and task["attempts"] == 1 for task in status["tasks"])
    unfinished = [shard["index"] for shard in render["shards"] if shard["done"] < shard["total"]]
    finished_before = {s["index"]: s["done"] for s in render["shards"]}
    assert all(shard["rate"] for shard in render["shards"] if shard["done"])  # finished just now

    # the same command again: only the unfinished shards are launched
    monkeypatch.delenv("HVGEN_FAULT")
    main(args)
    status = status_json(run, capsys)
    assert status["stages"][0]["done"] == 6
    attempts = {task["name"]: task["attempts"] for task in status["tasks"]}
    for index, done in finished_before.items():
        tag = f"{index:05d}-of-00002"
        assert (attempts[tag] > 1) == (index in unfinished), (tag, done, attempts)
    assert same_tree(baseline / "export", run / "export")


def test_status_of_a_one_process_run(baseline: Path, capsys: pytest.CaptureFixture[str]) -> None:
    status = status_json(baseline, capsys)
    assert status["shards"] == 1 and status["executor"] is None and status["tasks"] == []
    assert [(s["stage"], s["done"], s["total"], s["eta_s"]) for s in status["stages"]] == [
        ("render", 6, 6, 0.0)
    ]
    split = status_json(baseline, capsys, "--shards", "3")
    assert sum(shard["total"] for shard in split["stages"][0]["shards"]) == 6
    main(["status", str(baseline)])
    table = capsys.readouterr().out
    assert "render" in table and "6 / 6" in table
    with pytest.raises(SystemExit):
        main(["status", str(baseline), "--shards", "0"])
    assert "--shards must be a whole number from 1 to 100,000 (shards), got 0" in capsys.readouterr().err


# --- Ray ---------------------------------------------------------------------------------------


@pytest.mark.heavy
def test_ray_two_workers_one_killed_mid_task_is_retried(
    tmp_path: Path, baseline: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        run = tmp_path / "run"
        killed: list[int] = []
        log = run / "logs" / "ray" / "00001-of-00002.log"

        def kill_the_first_attempt() -> None:  # the Ray worker running shard 1, as soon as it started
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                text = log.read_text() if log.is_file() else ""
                if "# hvgen task attempt" in text:
                    pid = int(text.split(" pid ")[1].split()[0])
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
                    return
                time.sleep(0.05)

        killer = threading.Thread(target=kill_the_first_attempt, daemon=True)
        killer.start()
        main([*RUN_ARGS, "--out", str(run), "--executor", "ray", "--workers", "2"])
        killer.join(timeout=5)
        assert killed, "no task was killed"
        assert log.read_text().count("# hvgen task attempt") == 2  # killed, then retried by Ray
        status = status_json(run, capsys)
        assert status["executor"] == "ray" and status["stages"][0]["done"] == 6
        assert same_tree(baseline / "export", run / "export")
    finally:
        ray.shutdown()


# --- Slurm -------------------------------------------------------------------------------------


@pytest.fixture
def fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """sbatch, sacct, scancel, srun and scontrol on PATH, backed by tests/fake_slurm.py."""
    bin_dir, state = tmp_path / "bin", tmp_path / "slurm-state"
    bin_dir.mkdir()
    for command in ("sbatch", "sacct", "scancel", "srun", "scontrol"):
        wrapper = bin_dir / command
        wrapper.write_text(
            f'#!/bin/sh\nexec {sys.executable} {REPO / "tests" / "fake_slurm.py"} {command} "$@"\n'
        )
        wrapper.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM_DIR", str(state))
    return state


def settled_slurm_states(state_dir: Path, timeout_s: float = 60) -> dict[str, dict]:
    """Every fake-Slurm job's record once none is still running.

    The launcher returns as soon as submitit finds the export's result file; the batch script
    exits a moment later and only then is the job COMPLETED (real Slurm too: RUNNING, COMPLETING,
    COMPLETED). Reading the records straight away raced with that.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        states = {p.stem: json.loads(p.read_text()) for p in (state_dir / "jobs").glob("*.json")}
        if all(s.get("state") not in {"PENDING", "RUNNING", "REQUEUED"} for s in states.values()):
            return states
        if time.monotonic() > deadline:
            return states  # the assertions below name the job that never finished
        time.sleep(0.1)


@pytest.mark.heavy
def test_slurm_array_requeue_resubmit_and_dependent_export(
    tmp_path: Path,
    baseline: Path,
    fake_slurm: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    pytest.importorskip("submitit")
    from hvgen.analysis.status import run_status

    run = tmp_path / "run"
    config = write_config(
        tmp_path / "slurm.yaml",
        name="slurm",
        workers=2,
        gpus_per_task=1,
        cpus_per_task=1,
        mem_gb=8,
        time_min=90,
        partition="gpu",
        account="proj",
        sbatch_args=["--qos=high", "--constraint=h100"],
        setup=["echo task setup"],
    )
    args = [*RUN_ARGS, "--out", str(run), "--config", str(config)]
    main([*args, "--dry-run"])  # plan only: which shard is smaller
    totals = [shard.total for shard in run_status(run, shards=2).stages[0].shards]
    small = totals.index(min(totals))
    log = run / "logs" / "slurm" / f"{small:05d}-of-00002.log"
    preempted: list[str] = []

    def preempt_the_small_shard() -> None:  # as Slurm does before preempting: the warning signal
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            if log.is_file() and "# hvgen task attempt" in log.read_text():
                job = json.loads((run / "logs" / "slurm" / "tasks.json").read_text())["tasks"][log.stem][
                    "job_id"
                ]
                subprocess.run(["scancel", "--signal", "USR2", job], check=True)
                preempted.append(job)
                return
            time.sleep(0.05)

    monkeypatch.setenv("HVGEN_FAULT", "render.logged:3")  # a shard of more than 3 images fails once
    thread = threading.Thread(target=preempt_the_small_shard, daemon=True)
    thread.start()
    main(args)
    thread.join(timeout=5)

    assert same_tree(baseline / "export", run / "export")
    scripts = sorted((fake_slurm / "scripts").glob("*.sh"), key=lambda p: int(p.stem))
    first = scripts[0].read_text()
    for line in ("--array=0-1%2", "--gpus-per-node=1", "--cpus-per-task=1", "--mem=8GB", "--time=90",
                 "--partition=gpu", "--account=proj", "--qos=high", "--constraint=h100", "--requeue"):  # fmt: skip
        assert f"#SBATCH {line}\n" in first, line
    assert "echo task setup" in first
    export_jobs = [s for s in scripts if "--dependency=afterok:" in s.read_text()]
    assert export_jobs and "--gpus-per-node" not in export_jobs[0].read_text()
    assert "#SBATCH --kill-on-invalid-dep=yes" in export_jobs[0].read_text()
    states = settled_slurm_states(fake_slurm)
    # the preempted element was requeued by submitit (scontrol requeue) and ran again
    assert preempted and states[preempted[0]]["runs"] == 2 and states[preempted[0]]["state"] == "COMPLETED"
    assert "Requeued job" in (run / "logs" / "slurm" / "submitit" / f"{preempted[0]}_0_log.out").read_text()
    if max(totals) > 3:  # a shard killed by the fault: resubmitted in a new array, export resubmitted
        assert len(scripts) - len(export_jobs) >= 2  # the array, then the failed shard again
        assert states[export_jobs[0].stem]["state"] == "CANCELLED"
    assert states[export_jobs[-1].stem]["state"] == "COMPLETED"
    status = status_json(run, capsys)
    assert status["executor"] == "slurm" and all(task["state"] == "done" for task in status["tasks"])


@pytest.mark.heavy
def test_slurm_rerun_waits_for_the_jobs_still_running(
    tmp_path: Path, baseline: Path, fake_slurm: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The launcher was lost while shard 0's job still ran: the same command again submits only
    shard 1 and waits for the job it finds in the ledger (sacct: RUNNING) instead of a second copy."""
    pytest.importorskip("submitit")
    run, go = tmp_path / "run", tmp_path / "go"
    main([*RUN_ARGS, "--out", str(run), "--dry-run"])
    job = tmp_path / "earlier.sh"
    job.write_text(
        f"while [ ! -f {go} ]; do sleep 0.2; done\ncd {tmp_path}\n"  # not the checkout (see `baseline`)
        f"exec {sys.executable} -m hvgen -q render {run} --shard 0/2\n"
    )
    submitted = subprocess.run(["sbatch", str(job)], check=True, capture_output=True, text=True).stdout
    earlier = submitted.split()[-1]
    ledger = {
        "executor": "slurm",
        "shards": 2,
        "tasks": {"00000-of-00002": {"state": "running", "job_id": earlier}},
    }
    (run / "logs" / "slurm").mkdir(parents=True)
    (run / "logs" / "slurm" / "tasks.json").write_text(json.dumps(ledger))

    def release_when_shard_1_is_submitted() -> None:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and len(list((fake_slurm / "scripts").glob("*.sh"))) < 2:
            time.sleep(0.1)
        go.touch()

    threading.Thread(target=release_when_shard_1_is_submitted, daemon=True).start()
    config = write_config(tmp_path / "slurm.yaml", name="slurm", workers=2)
    main(["render", str(run), "--executor-config", str(config)])
    assert "2 of 2 shards to run (1 still running from an earlier launch)" in capsys.readouterr().err
    scripts = sorted(p.stem for p in (fake_slurm / "scripts").glob("*.sh"))
    assert len(scripts) == 2 and "--array" not in (fake_slurm / "scripts" / f"{scripts[1]}.sh").read_text()
    assert same_tree(baseline / "images", run / "images")
    assert {t["name"]: t["state"] for t in status_json(run, capsys)["tasks"]} == {
        "00000-of-00002": "done",
        "00001-of-00002": "done",
    }


@pytest.mark.heavy
def test_submitit_local_and_debug_executors(tmp_path: Path, baseline: Path) -> None:
    """submitit's stand-ins run the same tasks: render through LocalExecutor (2 processes), the
    export through DebugExecutor (in this process)."""
    pytest.importorskip("submitit")
    run = tmp_path / "run"
    main([*RUN_ARGS, "--out", str(run), "--dry-run"])
    local = write_config(tmp_path / "local.yaml", name="slurm", workers=2, slurm_backend="local")
    main(["render", str(run), "--executor-config", str(local), "-q"])
    assert len(list((run / "logs" / "slurm" / "submitit").glob("*_result.pkl"))) == 2
    debug = write_config(tmp_path / "debug.yaml", name="slurm", slurm_backend="debug")
    main(["export", str(run), "--executor-config", str(debug), "-q"])
    assert "# hvgen task attempt: export" in (run / "logs" / "slurm" / "export.log").read_text()
    assert same_tree(baseline / "export", run / "export")


def test_status_waits_for_a_process_writing_the_catalog(tmp_path: Path) -> None:
    """A launcher polls status while its tasks run; DuckDB's write lock (an export job, a shard
    syncing manifests) excludes readers too, so status waits for it instead of failing the launch."""
    from hvgen.analysis.status import run_status

    run = tmp_path / "run"
    main([*RUN_ARGS, "--out", str(run), "--dry-run"])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', flush=True); "
         "time.sleep(2); c.close()", str(run / "catalog.duckdb")],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    started = time.monotonic()
    status = run_status(run, shards=2)
    holder.wait(timeout=30)
    assert time.monotonic() - started >= 0.5 and status.stages[0].shards
