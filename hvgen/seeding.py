"""Stable ids and derived seeds.

Every random choice in hvgen comes from a seed derived from (run seed, stable key), so an
item's randomness does not depend on how many items came before it, on batching or on sharding:
regenerating with the same config gives byte-identical output, a new run seed a fresh split.
"""

from __future__ import annotations

import hashlib
import random

_SEED_BITS = 63


def _digest(parts: tuple[object, ...], size: int) -> bytes:
    payload = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return hashlib.blake2b(payload, digest_size=size).digest()


def stable_id(*parts: object, length: int = 16) -> str:
    """A hex id that depends only on `parts` (blake2b), e.g. stable_id("image", prompt)."""
    return _digest(parts, 16).hex()[:length]


def derive_seed(run_seed: int, *key: object) -> int:
    """A 63-bit seed for `key` under `run_seed` (fits torch.Generator and DuckDB BIGINT)."""
    return int.from_bytes(_digest((run_seed, *key), 8), "big") >> (64 - _SEED_BITS)


def rng_for(run_seed: int, *key: object) -> random.Random:
    """A private `random.Random` for one item; never use the global random state."""
    return random.Random(derive_seed(run_seed, *key))


def dealt(run_seed: int, key: object, size: int, index: int) -> int:
    """The `index`-th value of 0..size-1 dealt in seeded shuffled cycles: over any n draws each
    value comes up n/size times (±1), unlike independent draws, so e.g. answer positions stay
    balanced on small plans too; the order inside each cycle is still unpredictable."""
    cycle, position = divmod(index, size)
    order = list(range(size))
    rng_for(run_seed, "dealt", key, size, cycle).shuffle(order)
    return order[position]
