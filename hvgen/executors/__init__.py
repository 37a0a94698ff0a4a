"""Beyond one machine: run a run's shards on an engine people already run.

`--executor local|slurm|ray` with `--workers N` cuts the work into shards (`--shard i/N`, a stable
hash of item ids) and runs one task per shard through the engine — child processes here, a Slurm
job array (submitit), Ray tasks — retried by the engine, then the final export once. The run
directory on a shared filesystem is the only coordination: what is done is read from its
manifests, so a rerun launches only the unfinished shards. Nothing else in hvgen knows which
engine ran a shard.

    settings.py  the `executor:` settings, range-checked
    task.py      one task: hvgen commands in a child process (hvgen.cli.child), logged in RUN/logs/
    driver.py    rounds of unfinished shards, bounded retries, the final task, the failure list
    local.py / slurm.py / ray.py   thin adapters over each engine
"""

from hvgen.executors.driver import LaunchResult, ShardWork, run_distributed
from hvgen.executors.settings import ExecutorSettings, resolve_settings

__all__ = ["ExecutorSettings", "LaunchResult", "ShardWork", "resolve_settings", "run_distributed"]
