"""What a backend reports back about a task."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Outcome:
    name: str  # the task's name: a shard tag or 'export'
    ok: bool
    error: str | None = None
    job_id: str | None = None  # the engine's id (Slurm job, Ray task), when it has one
