"""`--executor local --workers N`: N child processes on this machine (no engine to install).

Each running task gets a worker slot, exported as LOCAL_RANK, as torchrun does: with several GPUs
`--device auto` puts slot k on cuda:k (hvgen.models.pick_device). Retries are the launcher's
rounds (hvgen.executors.driver), a failed task is simply run again.
"""

from __future__ import annotations

import queue
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, wait

from hvgen.executors.settings import ExecutorSettings
from hvgen.executors.task import Task
from hvgen.executors.types import Outcome


class LocalBackend:
    name = "local"
    retries_itself = False
    final_depends_on_shards = False

    def __init__(self, settings: ExecutorSettings) -> None:
        self.settings = settings

    def __enter__(self) -> LocalBackend:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def run(self, tasks: list[Task], progress: Callable[[], None], poll_s: float) -> list[Outcome]:
        workers = self.settings.workers
        slots: queue.SimpleQueue[int] = queue.SimpleQueue()
        for slot in range(workers):
            slots.put(slot)

        def attempt(task: Task) -> Outcome:
            slot = slots.get()
            try:
                task.with_env(LOCAL_RANK=str(slot), LOCAL_WORLD_SIZE=str(workers))()
                return Outcome(task.name, ok=True)
            except Exception as error:  # the task's own failure, recorded; the round goes on
                return Outcome(task.name, ok=False, error=str(error))
            finally:
                slots.put(slot)

        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="hvgen-task") as pool:
            futures = [pool.submit(attempt, task) for task in tasks]
            while wait(futures, timeout=poll_s).not_done:
                progress()
            return [future.result() for future in futures]

    def run_final(self, task: Task, progress: Callable[[], None], poll_s: float) -> Outcome:
        return self.run([task], progress, poll_s)[0]
