"""Stable ids and derived seeds.

Every random choice in hvgen comes from a seed derived from (run seed, stable key), so an
item's randomness does not depend on how many items came before it, on batching or on sharding:
regenerating with the same config gives byte-identical output, a new run seed a fresh split.
"""

from __future__ import annotations

import hashlib
import random
from functools import lru_cache

_SEED_BITS = 63


_blake2b = hashlib.blake2b
_from_bytes = int.from_bytes
# A key is digested as its parts' `str`s joined by a unit separator; `map(str, ...)` makes the same
# text as a generator of `str(p)` without a Python frame per part (a plan digests millions of keys).


def stable_id(*parts: object, length: int = 16) -> str:
    """A hex id that depends only on `parts` (blake2b), e.g. stable_id("image", prompt)."""
    return _blake2b("\x1f".join(map(str, parts)).encode("utf-8"), digest_size=16).hexdigest()[:length]


def derive_seed(run_seed: int, *key: object) -> int:
    """A 63-bit seed for `key` under `run_seed` (fits torch.Generator and DuckDB BIGINT)."""
    return _seed_of("\x1f".join(map(str, (run_seed, *key))))


def _seed_of(payload: str) -> int:
    """The 63-bit seed of a key's digested text (`derive_seed`'s formula, in one place)."""
    return _from_bytes(_blake2b(payload.encode("utf-8"), digest_size=8).digest(), "big") >> (64 - _SEED_BITS)


def rng_for(run_seed: int, *key: object) -> random.Random:
    """A private `random.Random` for one item; never use the global random state."""
    return random.Random(derive_seed(run_seed, *key))


def balanced_slot(index: int, size: int, run_seed: int, *key: object) -> int:
    """The `index`-th answer position dealt for `key`: each block of `size` questions gets every
    position once, in a seeded order, so positions are balanced exactly over a plan (a model
    cannot win by always answering "A" or "True")."""
    block, offset = divmod(index, size)
    # the text `derive_seed` digests names the block's order: consecutive ranks share it
    return _block_order("\x1f".join(map(str, (run_seed, *key, block))), size)[offset]


@lru_cache(maxsize=4096)
def _block_order(payload: str, size: int) -> tuple[int, ...]:
    """One block's seeded order of `size` positions (`payload`: the block's seed text); cached,
    as a plan deals a key's ranks in order, `size` at a time."""
    order = list(range(size))
    random.Random(_seed_of(payload)).shuffle(order)
    return tuple(order)
