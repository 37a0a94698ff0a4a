"""Face QA splits without identity leaks.

A face model evaluated on a person it was trained on measures recognition, not the task; so no
identity may appear in two splits. Each source keeps its release's own partition where it has
one; an identity the partition puts in two splits is moved, all of its samples, to the split that
holds most of them (ties: the first of train, val, test) and counted. A pair or face swap shows
two people: it goes where both belong, and is left out (counted) when they belong to different
splits. A source without a partition sends each identity (or each image, when it names no
identities) to a split by a seeded hash. The check after assignment is the card's guarantee: it
raises if anything crosses.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from hvgen.errors import HvgenError
from hvgen.readers.faces.base import FaceSample
from hvgen.seeding import derive_seed

SPLIT_ORDER = ("train", "val", "test")


@dataclass
class SplitReport:
    """Per source: identities, how many the release's partition put in several splits, how many
    images were moved to fix it, and the images per split after assignment."""

    identities: int = 0
    crossing_identities: int = 0
    moved_samples: int = 0
    dropped_samples: int = 0  # pairs / face swaps whose people belong to different splits
    official: bool = False
    by_split: Counter = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {"identities": self.identities, "crossing_identities": self.crossing_identities,
                "moved_samples": self.moved_samples, "dropped_samples": self.dropped_samples,
                "official_partition": self.official,
                "by_split": dict(sorted(self.by_split.items()))}  # fmt: skip


def hashed_split(run_seed: int, shares: dict[str, float], *key: object) -> str:
    """A split for `key` by a seeded hash, in the given shares (deterministic per run seed)."""
    point = (derive_seed(run_seed, "faceqa-split", *key) % 10_000) / 10_000
    total = 0.0
    for name, share in shares.items():
        total += share
        if point < total:
            return name
    return list(shares)[-1]


def _normal(split: str) -> str:
    name = split.lower()
    return {"validation": "val", "valid": "val", "dev": "val", "training": "train", "testing": "test"}.get(
        name, name
    )


def assign_splits(
    samples: list[FaceSample], run_seed: int, shares: dict[str, float]
) -> tuple[dict[str, str], SplitReport]:
    """sample_id → split for one source's samples, and what was done to get there."""
    report = SplitReport(official=any(s.split for s in samples))
    split_of: dict[str, str] = {}
    for sample in samples:
        if sample.split:
            split_of[sample.sample_id] = _normal(sample.split)
        else:
            people = _identities(sample)
            key = min(people) if people else sample.sample_id
            split_of[sample.sample_id] = hashed_split(run_seed, shares, sample.source, key)
    rank = {name: i for i, name in enumerate(SPLIT_ORDER)}
    counts: dict[str, Counter] = defaultdict(Counter)
    for sample in samples:
        for person in _identities(sample):
            counts[person][split_of[sample.sample_id]] += 1
    report.identities = len(counts)
    report.crossing_identities = sum(len(found) > 1 for found in counts.values())
    target = {person: min(found, key=lambda name: (-found[name], rank.get(name, len(rank)), name))
              for person, found in counts.items()}  # fmt: skip
    for sample in samples:
        wanted = {target[person] for person in _identities(sample)}
        if len(wanted) > 1:  # a pair or face swap of people who belong to different splits
            del split_of[sample.sample_id]
            report.dropped_samples += 1
        elif wanted and split_of[sample.sample_id] not in wanted:
            split_of[sample.sample_id] = wanted.pop()
            report.moved_samples += 1
    check_no_identity_crosses(samples, split_of)
    report.by_split = Counter(split_of.values())
    return split_of, report


def check_no_identity_crosses(samples: list[FaceSample], split_of: dict[str, str]) -> None:
    """Raise if any identity (a face's, or one shown in a pair or a face swap) has samples in two
    splits: the leak check the card reports."""
    seen: dict[str, str] = {}
    for sample in samples:
        split = split_of.get(sample.sample_id)
        if split is None:  # left out (a pair across splits)
            continue
        for person in _identities(sample):
            first = seen.setdefault(person, split)
            if first != split:
                raise HvgenError(
                    f"source '{sample.source}': identity {person!r} is in splits {first} and {split} after "
                    "assignment; this is a bug in hvgen's split assignment, please report it."
                )


def _identities(sample: FaceSample) -> set[str]:
    """Everyone a sample shows: its identity and, for pairs and face swaps, each one shown."""
    return {person for person in (sample.identity, *sample.pair_identities) if person is not None}
