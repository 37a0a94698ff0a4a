"""`--executor ray`: shard tasks as Ray tasks, on a Ray cluster or a local Ray started on the spot.

Ray does the scheduling (each task asks for `gpus_per_task` GPUs, `cpus_per_task` CPUs and
`mem_gb` memory; Ray sets CUDA_VISIBLE_DEVICES for it) and the retries: a task whose worker dies
(a node lost, a process killed) or whose commands fail is run again, up to `retries` times
(`max_retries` + `retry_exceptions`). The retry resumes the shard from its manifest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from hvgen.errors import HvgenError
from hvgen.executors.settings import ExecutorSettings
from hvgen.executors.task import Task
from hvgen.executors.types import Outcome


def _run(task: Task) -> str:
    return task()


class RayBackend:
    name = "ray"
    retries_itself = True
    final_depends_on_shards = False

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings
        self._connection = _connected(settings.ray_address)
        self._ray: Any = None

    def __enter__(self) -> RayBackend:
        self._ray = self._connection.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._connection.__exit__(*exc)

    def run(self, tasks: list[Task], progress: Callable[[], None], poll_s: float) -> list[Outcome]:
        ray = self._ray
        remote = ray.remote(_run).options(**self._resources(gpus=self.settings.gpus_per_task))
        waiting, running, outcomes = list(tasks), {}, {}
        while waiting or running:
            while waiting and len(running) < self.settings.workers:
                task = waiting.pop(0)
                running[remote.remote(task)] = task
            ready, _ = ray.wait(list(running), num_returns=1, timeout=poll_s)
            for ref in ready:
                task = running.pop(ref)
                outcomes[task.name] = _outcome(ray, ref, task)
            if not ready:
                progress()
        return [outcomes[task.name] for task in tasks]

    def run_final(self, task: Task, progress: Callable[[], None], poll_s: float) -> Outcome:
        ref = self._ray.remote(_run).options(**self._resources(gpus=0)).remote(task)
        while not self._ray.wait([ref], timeout=poll_s)[0]:
            progress()
        return _outcome(self._ray, ref, task)

    def _resources(self, gpus: int) -> dict[str, Any]:
        options: dict[str, Any] = {
            "num_cpus": self.settings.cpus_per_task or 1,
            "num_gpus": gpus,
            "max_retries": self.settings.retries,
            "retry_exceptions": True,
            "name": "hvgen",
        }
        if self.settings.mem_gb:
            options["memory"] = int(self.settings.mem_gb * 1024**3)
        return options


def _outcome(ray: Any, ref: Any, task: Task) -> Outcome:
    try:
        ray.get(ref)
        return Outcome(task.name, ok=True, job_id=ref.task_id().hex())
    except Exception as error:  # RayTaskError (the task's TaskFailed), WorkerCrashedError ...
        cause = getattr(error, "cause", None) or error
        reason = str(cause).strip().splitlines()[-1] if str(cause).strip() else type(cause).__name__
        return Outcome(task.name, ok=False, error=f"{type(cause).__name__}: {reason}"[:500])


class _connected:
    """Use the Ray this process is connected to, or connect (address) / start a local one for the
    duration of the block."""

    def __init__(self, address: str | None) -> None:
        self.address = address
        self.started = False

    def __enter__(self) -> Any:
        import ray

        if not ray.is_initialized():
            try:
                ray.init(
                    address=self.address,
                    include_dashboard=False,
                    logging_level=logging.WARNING,
                    log_to_driver=False,
                    configure_logging=True,
                )
            except (ConnectionError, RuntimeError, ValueError) as error:
                where = f"at {self.address}" if self.address else "on this machine"
                raise HvgenError(
                    f"cannot start or reach Ray {where}: {str(error).strip().splitlines()[0][:300]}. Start a cluster "
                    "with `ray start --head` (ray_address: auto), or leave ray_address unset to start a local Ray."
                ) from None
            self.started = True
        return ray

    def __exit__(self, *exc: object) -> None:
        if self.started:
            import ray

            ray.shutdown()
