"""A stand-in for Slurm's commands, enough for submitit: `sbatch`, `sacct`, `scancel`, `srun`,
`scontrol requeue` (run as `python fake_slurm.py <command> ARGS...`; tests put small wrappers of
those names on PATH).

`sbatch SCRIPT` records the script, answers "Submitted batch job N" and starts a runner in the
background that honours `--dependency=afterok:...` (with kill-on-invalid-dep: a failed dependency
cancels the job) and runs each `--array` element as a local process (`bash SCRIPT` with the
SLURM_* variables Slurm sets), at most `%k` at a time. `sacct` reports the elements' states in
the `--parsable2` form submitit parses; `srun` expands %A/%a/%j/%t in --output/--error and runs the
command; `scancel` cancels; `scontrol requeue ID` kills an element and runs it again. State lives
in $FAKE_SLURM_DIR.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

STATE = Path(os.environ.get("FAKE_SLURM_DIR", "/tmp/fake-slurm"))
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY"}


def _path(element: str) -> Path:
    return STATE / "jobs" / f"{element}.json"


def _read(element: str) -> dict:
    try:
        return json.loads(_path(element).read_text())
    except (OSError, ValueError):
        return {}


def _write(element: str, **fields: object) -> None:
    path = _path(element)
    data = {**_read(element), **fields}
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    tmp.replace(path)


def _elements(job: str) -> list[str]:
    base = job.split("_")[0]
    found = sorted((STATE / "jobs").glob(f"{base}*.json"), key=lambda p: p.name)
    names = [p.stem for p in found if p.stem == base or p.stem.startswith(base + "_")]
    return names if "_" not in job else [job]


def sbatch(args: list[str]) -> None:
    script = Path(args[-1])
    text = script.read_text()
    options = dict(re.findall(r"^#SBATCH --([\w-]+)(?:=(.*))?$", text, flags=re.M))
    (STATE / "jobs").mkdir(parents=True, exist_ok=True)
    (STATE / "scripts").mkdir(parents=True, exist_ok=True)
    with open(STATE / "counter", "a+") as counter:
        fcntl.flock(counter, fcntl.LOCK_EX)
        counter.seek(0)
        job = int(counter.read() or 1000) + 1
        counter.seek(0)
        counter.truncate()
        counter.write(str(job))
    shutil.copy(script, STATE / "scripts" / f"{job}.sh")
    array = options.get("array")
    if array:
        span, _, limit = array.partition("%")
        low, _, high = span.partition("-")
        for index in range(int(low), int(high or low) + 1):
            _write(f"{job}_{index}", state="PENDING", index=index)
    else:
        _write(str(job), state="PENDING")
    meta = {"script": str(STATE / "scripts" / f"{job}.sh"), "cwd": os.getcwd(), "options": options}
    (STATE / "jobs" / f"{job}.meta").write_text(json.dumps(meta))
    log = open(STATE / f"runner-{job}.log", "ab")  # noqa: SIM115 - handed to the runner
    subprocess.Popen(
        [sys.executable, __file__, "_run", str(job)], stdout=log, stderr=log, start_new_session=True
    )
    print(f"Submitted batch job {job}")


def _run(job: str) -> None:
    meta = json.loads((STATE / "jobs" / f"{job}.meta").read_text())
    options = meta["options"]
    dependency = options.get("dependency") or ""
    needed = [d.split(":", 1)[1] for d in dependency.split(",") if d.startswith("afterok:")]
    while needed:
        states = [_read(e).get("state") for d in needed for e in _elements(d)]
        if all(state in TERMINAL for state in states):
            if any(state != "COMPLETED" for state in states):
                for element in _elements(job):
                    _write(element, state="CANCELLED", reason="DependencyNeverSatisfied")
                return
            break
        time.sleep(0.2)
    limit = int((options.get("array") or "%1000").partition("%")[2] or 1000)
    queue = _elements(job)
    running: dict[str, subprocess.Popen] = {}
    while queue or running:
        while queue and len(running) < limit:
            element = queue.pop(0)
            if _read(element).get("state") == "CANCELLED":
                continue
            running[element] = _start(job, element, meta)
        time.sleep(0.1)
        for element, process in list(running.items()):
            code = process.poll()
            if code is None:
                continue
            del running[element]
            state = _read(element).get("state")
            if state == "REQUEUED":
                queue.append(element)
            elif state != "CANCELLED":
                _write(element, state="COMPLETED" if code == 0 else "FAILED", exit_code=code)


def _start(job: str, element: str, meta: dict) -> subprocess.Popen:
    env = {
        **os.environ,
        "SLURM_JOB_ID": str(int(job) * 1000 + (_read(element).get("index") or 0)),
        "SLURM_NTASKS": "1",
        "SLURM_JOB_NUM_NODES": "1",
        "SLURM_NODEID": "0",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_JOB_NODELIST": "localhost",
    }
    if "_" in element:
        env.update(SLURM_ARRAY_JOB_ID=job, SLURM_ARRAY_TASK_ID=element.split("_")[1])
    else:
        env["SLURM_JOB_ID"] = job
    process = subprocess.Popen(["bash", meta["script"]], cwd=meta["cwd"], env=env, start_new_session=True)
    _write(element, state="RUNNING", pid=process.pid, runs=_read(element).get("runs", 0) + 1)
    return process


def sacct(args: list[str]) -> None:
    jobs = [args[i + 1] for i, arg in enumerate(args) if arg == "-j"]
    print("JobID|State|NodeList")
    for job in jobs:
        for element in _elements(job):
            print(f"{element}|{_read(element).get('state', 'UNKNOWN')}|localhost")


def _signal(element: str, signum: int, batch: bool = True) -> None:
    """Signal the element's job step (what srun runs); with `batch`, its batch script too."""
    state = _read(element)
    for key in ("step_pid", "pid") if batch else ("step_pid",):
        if state.get(key):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(state[key], signum)


def scancel(args: list[str]) -> None:
    signum = None
    if "--signal" in args:
        signum = getattr(signal, "SIG" + args[args.index("--signal") + 1].removeprefix("SIG"))
    for job in [a for a in args if re.fullmatch(r"\d+(_\d+)?", a)]:
        for element in _elements(job):
            if signum is not None:  # like Slurm: to the job steps, not the batch shell
                _signal(element, signum, batch=False)
                continue
            if _read(element).get("state") not in TERMINAL:
                _write(element, state="CANCELLED")
                _signal(element, signal.SIGKILL)


def scontrol(args: list[str]) -> None:
    """`scontrol requeue ID`: the element runs again once its processes end (the caller exits)."""
    if args[:1] == ["requeue"]:
        for element in _elements(args[1]):
            _write(element, state="REQUEUED")


def srun(args: list[str]) -> None:
    files, rest = {}, list(args)
    while rest and rest[0].startswith("--"):
        flag = rest.pop(0)
        if flag in ("--output", "--error"):
            files[flag] = rest.pop(0)
    names = {
        "%A": os.environ.get("SLURM_ARRAY_JOB_ID", ""),
        "%a": os.environ.get("SLURM_ARRAY_TASK_ID", ""),
        "%j": os.environ.get("SLURM_JOB_ID", ""),
        "%t": "0",
    }
    opened = {}
    for flag, pattern in files.items():
        for key, value in names.items():
            pattern = pattern.replace(key, value)
        Path(pattern).parent.mkdir(parents=True, exist_ok=True)
        opened[flag] = open(pattern, "ab")  # noqa: SIM115 - the child's output
    element = names["%A"] and f"{names['%A']}_{names['%a']}" or names["%j"]
    step = subprocess.Popen(
        rest, stdout=opened.get("--output"), stderr=opened.get("--error"), start_new_session=True
    )
    _write(element, step_pid=step.pid)
    sys.exit(step.wait())


if __name__ == "__main__":
    command, arguments = sys.argv[1], sys.argv[2:]
    {"sbatch": sbatch, "sacct": sacct, "scancel": scancel, "scontrol": scontrol, "srun": srun}.get(
        command, lambda a: _run(a[0])
    )(arguments)
