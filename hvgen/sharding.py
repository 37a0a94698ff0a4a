"""Splitting work between processes.

`--shard i/N` (or RANK/WORLD_SIZE from torchrun / `accelerate launch`) assigns each item by a
stable hash of its id, so N processes never collide and a rerun gives each the same items.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

from hvgen.errors import HvgenError
from hvgen.ranges import MAX_SHARDS


@dataclass(frozen=True)
class Shard:
    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise HvgenError(f"invalid shard {self.index}/{self.count}: use --shard i/N with 0 <= i < N.")

    @property
    def is_whole(self) -> bool:
        return self.count == 1

    @property
    def tag(self) -> str:
        """A file-name-safe label, e.g. '00003-of-00008'."""
        return f"{self.index:05d}-of-{self.count:05d}"

    def owns(self, item_id: str) -> bool:
        return self.count == 1 or shard_of(item_id, self.count) == self.index


def check_shard_option(value: str | None) -> str | None:
    """--shard as typed: 'i/N' with N a whole number from 1 to MAX_SHARDS and i from 0 to N-1, or
    one line saying so (a typer `parser=`, so it is refused while the command line is parsed)."""
    if value is None:
        return None
    parts = str(value).strip().split("/")
    if len(parts) == 2 and all(part.strip().isdigit() for part in parts):
        index, count = (int(part) for part in parts)
        if 1 <= count <= MAX_SHARDS and index < count:
            return value
    raise HvgenError(
        f"--shard must be i/N (shard i of N: N a whole number from 1 to {MAX_SHARDS:,}, i from 0 to N-1, "
        f"e.g. --shard 0/4), got {value!r}."
    )


def shard_of(item_id: str, count: int) -> int:
    """The index of the shard (of `count`) that owns `item_id`: a stable hash bucket."""
    digest = hashlib.blake2b(item_id.encode("utf-8"), digest_size=8).digest()
    return int.from_bytes(digest, "big") % count


def parse_shard(value: str | None) -> Shard:
    """Parse 'i/N'; with no value fall back to RANK/WORLD_SIZE, else the whole job."""
    if value:
        check_shard_option(value)
        index_text, count_text = value.split("/")
        return Shard(int(index_text), int(count_text))
    rank, world = os.environ.get("RANK"), os.environ.get("WORLD_SIZE")
    if rank is not None and world is not None:
        try:
            return Shard(int(rank), int(world))
        except ValueError:
            raise HvgenError(
                f"RANK={rank!r} / WORLD_SIZE={world!r} in the environment are not integers (torchrun and "
                "accelerate set them); unset them or pass --shard i/N."
            ) from None
    return Shard()
