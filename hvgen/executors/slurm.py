"""`--executor slurm`: shard tasks as one Slurm job array, through submitit.

submitit writes the sbatch script (``#SBATCH --array=0-N%workers``, time, GPUs, CPUs, memory,
partition, account, ``--requeue`` and any free-form `sbatch_args`), submits it, and runs each
task in its array element (SLURM_ARRAY_TASK_ID picks the task). A task is *checkpointable*
(hvgen.executors.task.Task.checkpoint): when Slurm preempts it or its time limit nears, submitit
requeues it, up to `requeues` times, and the requeued job resumes the shard from its manifest.
A task that fails is resubmitted by the launcher's next round (hvgen.executors.driver).

The final export goes in as its own job depending on the array (``afterok``, killed if a shard
fails): it runs when the last shard finishes, whether or not this command is still waiting.

`slurm_backend: local | debug` swaps in submitit's stand-ins (processes on this machine, or
in-process for a debugger) to try a Slurm config without a cluster.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hvgen.executors.settings import ExecutorSettings
from hvgen.executors.task import Task
from hvgen.executors.types import Outcome
from hvgen.store.tasks import executor_logs

ACTIVE_STATES = {
    "PENDING",
    "RUNNING",
    "REQUEUED",
    "CONFIGURING",
    "COMPLETING",
    "SUSPENDED",
    "PREEMPTED",
    "READY",
}
"""Slurm states of a job that will still run (sacct); a rerun waits for it instead of resubmitting."""


def sbatch_flags(args: list[str]) -> dict[str, Any]:
    """['--qos=high', '--exclusive'] → {'qos': 'high', 'exclusive': True} (submitit's form)."""
    flags: dict[str, Any] = {}
    for arg in args:
        key, sep, value = arg[2:].partition("=")
        flags[key] = value if sep else True
    return flags


class SlurmBackend:
    name = "slurm"
    retries_itself = False

    def __init__(self, settings: ExecutorSettings, run_dir: Path) -> None:
        self.settings = settings
        self.run_dir = run_dir
        self.folder = executor_logs(run_dir, "slurm") / "submitit"
        self.final_depends_on_shards = settings.slurm_backend == "slurm"
        self._final_job: Any = None
        self._final_name: str | None = None
        self.on_submit: Callable[[str, str], None] = lambda name, job_id: None

    def __enter__(self) -> SlurmBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def _executor(self, gpus: int, extra: dict[str, Any] | None = None) -> Any:
        import submitit

        s = self.settings
        executor = submitit.AutoExecutor(
            folder=self.folder, cluster=s.slurm_backend, slurm_max_num_timeout=s.requeues
        )
        params: dict[str, Any] = {
            "name": f"hvgen-{self.run_dir.name}",
            "timeout_min": s.time_min,
            "nodes": 1,
            "tasks_per_node": 1,
        }
        if gpus:
            params["gpus_per_node"] = gpus
        if s.cpus_per_task:
            params["cpus_per_task"] = s.cpus_per_task
        if s.mem_gb:
            params["mem_gb"] = s.mem_gb
        if s.slurm_backend == "slurm":
            params["slurm_array_parallelism"] = s.workers
            params["slurm_additional_parameters"] = {
                "requeue": True,
                **sbatch_flags(s.sbatch_args),
                **(extra or {}),
            }
            if s.partition:
                params["slurm_partition"] = s.partition
            if s.account:
                params["slurm_account"] = s.account
            if s.setup:
                params["slurm_setup"] = list(s.setup)
        executor.update_parameters(**params)
        return executor

    def still_running(self, job_ids: dict[str, str]) -> dict[str, Any]:
        """Jobs of an earlier launch (task name → job id) that Slurm will still run, as jobs to wait for."""
        if self.settings.slurm_backend != "slurm" or not job_ids:
            return {}
        import submitit

        jobs = {
            name: submitit.SlurmJob(folder=self.folder, job_id=job_id) for name, job_id in job_ids.items()
        }
        return {
            name: job
            for name, job in jobs.items()
            if job.watcher.get_state(job.job_id, mode="force") in ACTIVE_STATES
        }

    def run(
        self,
        tasks: list[Task],
        progress: Callable[[], None],
        poll_s: float,
        then: Task | None = None,
        running: dict[str, Any] | None = None,
    ) -> list[Outcome]:
        """Submit `tasks` as one array (and `then` as a job depending on it), wait for them and for
        the `running` jobs of an earlier launch; one outcome per task, in order."""
        running = dict(running or {})
        fresh = [task for task in tasks if task.name not in running]
        width = self.settings.workers
        if self.settings.slurm_backend != "slurm" and len(fresh) > width:  # no %parallelism there: waves
            waves = [fresh[start : start + width] for start in range(0, len(fresh), width)]
            outcomes = {o.name: o for wave in waves for o in self.run(wave, progress, poll_s)}
            return [outcomes[task.name] for task in tasks]
        executor = self._executor(self.settings.gpus_per_task)
        jobs: dict[str, Any] = {}
        if fresh:
            with executor.batch():
                submitted = [executor.submit(task) for task in fresh]
            jobs = {task.name: job for task, job in zip(fresh, submitted)}
            for name, job in jobs.items():
                self.on_submit(name, job.job_id)
        jobs.update({name: job for name, job in running.items() if name in {task.name for task in tasks}})
        if then is not None and self.final_depends_on_shards:
            earlier = running.get(then.name)
            if earlier is not None and not fresh:  # queued by an earlier launch after the jobs still running
                self.adopt_final(then.name, earlier)
            else:
                if earlier is not None:  # it would not wait for the shards submitted now
                    earlier.cancel(check=False)
                fresh_names = {task.name for task in fresh}
                arrays = {job.job_id.split("_")[0] for name, job in jobs.items() if name in fresh_names}
                others = {job.job_id for name, job in jobs.items() if name not in fresh_names}
                self._submit_final(then, sorted(arrays | others))
        self._wait(list(jobs.values()), progress, poll_s)
        return [self._outcome(jobs[task.name], task) for task in tasks]

    def run_final(self, task: Task, progress: Callable[[], None], poll_s: float) -> Outcome:
        if self._final_job is None or self._final_name != task.name:
            self._submit_final(task, [])
        job = self._final_job
        self._wait([job], progress, poll_s)
        return self._outcome(job, task)

    def adopt_final(self, name: str, job: Any) -> None:
        """Wait for this final job (an earlier launch's) instead of submitting another."""
        self._final_job, self._final_name = job, name

    def drop_final(self) -> None:
        """Cancel a final job whose shards failed (Slurm kills it too: kill-on-invalid-dep)."""
        if self._final_job is not None and self.settings.slurm_backend == "slurm":
            self._final_job.cancel(check=False)
        self._final_job = None

    def _submit_final(self, task: Task, after: list[str]) -> None:
        """Submit the final job, to start once every job in `after` (an array id: all its elements;
        an element id of an earlier launch's array: that element) has succeeded."""
        extra = (
            {"dependency": ",".join(f"afterok:{job}" for job in after), "kill-on-invalid-dep": "yes"}
            if after
            else {}
        )
        executor = self._executor(0, extra)
        self._final_job = executor.submit(task)
        self._final_name = task.name
        self.on_submit(task.name, self._final_job.job_id)

    def _wait(self, jobs: list[Any], progress: Callable[[], None], poll_s: float) -> None:
        if self.settings.slurm_backend == "debug":  # runs each job in this process, now
            for job in jobs:
                job.exception()
            return
        while not all(job.done() for job in jobs):
            progress()
            time.sleep(poll_s)

    def _outcome(self, job: Any, task: Task) -> Outcome:
        if self.settings.slurm_backend == "debug" or job.paths.result_pickle.exists():
            error = job.exception()
            if error is None:
                return Outcome(task.name, ok=True, job_id=job.job_id)
            lines = [line for line in str(error).splitlines() if line.strip() and not line.startswith("-")]
            reason = next(
                (line for line in reversed(lines) if "TaskFailed" in line or "Error" in line),
                lines[-1] if lines else "",
            )
            return Outcome(task.name, ok=False, error=reason.strip()[:500], job_id=job.job_id)
        state = job.state
        if state == "COMPLETED":  # a job of an earlier launch, adopted: it ran without a result file here
            return Outcome(task.name, ok=True, job_id=job.job_id)
        return Outcome(
            task.name,
            ok=False,
            error=f"Slurm job {job.job_id} ended {state} without a result (see {job.paths.stderr})",
            job_id=job.job_id,
        )
