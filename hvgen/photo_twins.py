"""Twins of photographs: another photograph of the same label and stratum (`hvgen twins` on HERM,
Face QA's photo sources).

A photograph cannot be redrawn with a new seed. Its twin is a question the generator would ask,
with the same answer, of another photograph of the same source: the generator says what each
released question's stratum is (task, question kind, the label value that decides the answer,
source and split ...) and lists the candidates — every question it can ask of a photograph of the
source that is not in the release. `pair_photographs` pairs them:

* a candidate showing a released image, or a person the release shows (where identities are
  known), is never a twin: a twin must be unseen;
* candidates of one stratum are visited in an order drawn from the twin seed and their ids, the
  released questions in an order drawn from the twin seed and theirs: each takes the first
  candidate that fits it (the generator's `make` says whether it does and words the twin);
* without replacement: a candidate is used once, and a twin photograph serves one released
  image only (questions of different released images never share a twin image, so the images
  stay independent units for the paired test);
* a released question with no fitting candidate left is listed with the reason, not paired.

Under "no contamination" a released question and its twin are then two draws from one stratum:
exchangeable only if the release itself was drawn at random from that stratum (hvgen's plans
draw in a seeded random order), which the card and the contamination report say.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any

from hvgen.records import Record
from hvgen.seeding import derive_seed

PHOTO_TWIN_METHOD = "another photograph of the same label and stratum"
TWIN_FIELD = "twin"  # the record field of a photographic twin: {method, stratum, release_image_id}
NO_CANDIDATE = "no photograph outside the release fits its stratum"
ALL_TAKEN = (
    "no photograph outside the release fits its stratum but those already twins of other released images"
)


@dataclass(frozen=True)
class Wanted:
    """A released question to pair: its stratum (None: it cannot have a twin, `reason` says why)
    and the stratum in words (written into the twin record)."""

    record: Record
    stratum: Hashable | None
    described: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Candidate:
    """A question the generator can ask of a photograph outside the release."""

    key: str  # unique among candidates, stable (the question id the generator would give it)
    stratum: Hashable
    images: tuple[str, ...]  # the image ids it shows
    people: tuple[str, ...] = ()  # the identities it shows, where known
    payload: Any = None


@dataclass
class Pairing:
    """Twin records (sorted by id) and the released questions left without a twin (id → reason)."""

    records: list[Record]
    unpaired: dict[str, str] = field(default_factory=dict)
    candidates: int = 0

    def reasons(self) -> dict[str, int]:
        return dict(sorted(Counter(self.unpaired.values()).items()))


def twin_note(record: Record, described: str) -> dict[str, str]:
    """What a photographic twin record says about itself."""
    return {"method": PHOTO_TWIN_METHOD, "stratum": described, "release_image_id": str(record["image_id"])}


def pair_photographs(
    wanted: Iterable[Wanted],
    candidates: Iterable[Candidate],
    seed: int,
    *,
    released_images: set[str],
    released_people: set[str],
    make: Callable[[Wanted, Candidate], Record | None],
    usable: Callable[[Candidate], bool] = lambda candidate: True,
) -> Pairing:
    """Pair each wanted question with a fitting candidate (see the module docstring)."""
    strata: dict[Hashable, list[Candidate]] = defaultdict(list)
    count = 0
    for candidate in candidates:
        if set(candidate.images) & released_images or set(candidate.people) & released_people:
            continue
        strata[candidate.stratum].append(candidate)
        count += 1
    for stratum in strata.values():
        stratum.sort(key=lambda c: (derive_seed(seed, "photo-twin-candidate", c.key), c.key))
    items = sorted(
        wanted, key=lambda w: (derive_seed(seed, "photo-twin-order", str(w.record["id"])), w.record["id"])
    )
    used: set[str] = set()
    dead: set[str] = set()
    claimed: dict[str, str] = {}  # twin image id → the released image it serves
    start: dict[Hashable, int] = defaultdict(int)
    records: list[Record] = []
    unpaired: dict[str, str] = {}
    for item in items:
        record_id = str(item.record["id"])
        if item.stratum is None:
            unpaired[record_id] = item.reason or "its question has no stratum to draw from"
            continue
        owner = str(item.record["image_id"])
        pool = strata.get(item.stratum, [])
        first = start[item.stratum]
        while first < len(pool) and (pool[first].key in used or pool[first].key in dead):
            first += 1  # the used prefix is never looked at again
        start[item.stratum] = first
        twin, taken = None, int(any(c.key in used for c in pool[:first][-1:]))
        for candidate in itertools.islice(pool, first, None):
            if candidate.key in dead:
                continue
            if candidate.key in used or any(claimed.get(image, owner) != owner for image in candidate.images):
                taken += 1
                continue
            if not usable(candidate):
                dead.add(candidate.key)
                continue
            twin = make(item, candidate)
            if twin is not None:
                used.add(candidate.key)
                claimed.update({image: owner for image in candidate.images})
                break
        if twin is None:
            unpaired[record_id] = ALL_TAKEN if taken else NO_CANDIDATE
            continue
        twin[TWIN_FIELD] = twin_note(item.record, item.described)
        records.append(twin)
    records.sort(key=lambda record: str(record["id"]))
    return Pairing(records, dict(sorted(unpaired.items())), count)


def described(stratum: Iterable[tuple[str, object]]) -> str:
    """A stratum of (name, value) pairs in words: 'task=age; label=20-29; source=fairface'."""
    return "; ".join(f"{name}={value}" for name, value in stratum)
