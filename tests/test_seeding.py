"""`balanced_slot` deals the answer positions of released data: its values must never change."""

from __future__ import annotations

import random

import pytest

from hvgen.seeding import balanced_slot, derive_seed


def _reference(index: int, size: int, run_seed: int, *key: object) -> int:
    """The original definition: one seeded shuffle per block of `size` consecutive ranks."""
    block, offset = divmod(index, size)
    order = list(range(size))
    random.Random(derive_seed(run_seed, *key, block)).shuffle(order)
    return order[offset]


@pytest.mark.parametrize(
    "key", [("herm-positions", ("pose_mc", 4)), ("faceqa", 1.0, "b"), ("dealt", 1, 3), ()]
)
@pytest.mark.parametrize("size", [1, 2, 4, 7])
def test_balanced_slot_matches_the_original_deal(key: tuple[object, ...], size: int) -> None:
    for run_seed in (0, 7, 2**40):
        # ranks in order, then out of order (a cached block order must not depend on the calls before)
        for index in [*range(200), *range(199, -1, -3)]:
            assert balanced_slot(index, size, run_seed, *key) == _reference(index, size, run_seed, *key)


def test_equal_keys_of_different_text_deal_apart() -> None:
    """1 and 1.0 hash alike but are digested as different text: a cache must not mix them up."""
    a = [balanced_slot(i, 4, 3, "k", (1,)) for i in range(400)]
    b = [balanced_slot(i, 4, 3, "k", (1.0,)) for i in range(400)]
    assert a == [_reference(i, 4, 3, "k", (1,)) for i in range(400)]
    assert b == [_reference(i, 4, 3, "k", (1.0,)) for i in range(400)]
    assert a != b
