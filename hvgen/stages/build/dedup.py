"""Dedup and leak check of a run's catalog, in DuckDB SQL.

`run_dedup` recomputes the table ``drops(kind, id, reason, collided_with, distance)`` from
scratch and (re)creates the views ``kept_images`` / ``kept_records``. Nothing is deleted from
``images`` or ``records``: a rebuild with another threshold simply gives another ``drops``.
Order of the passes, and why:

1. **leak** (``leak_exact`` / ``leak_near``): our images whose pixel hash equals, or whose pHash
   is within `hamming` of, an image of an earlier release (`leak_check`). First, so that a
   leaked image cannot "use up" a duplicate group whose other members are not leaked.
2. **exact duplicates** (``exact_duplicate``): same ``pixel_sha256``; keep the smallest id.
3. **near duplicates** (``near_duplicate``): pHash Hamming distance <= `hamming` among the rest.
4. **records of dropped images** (``dropped_image``), then **duplicate questions**
   (``duplicate_question``) among the records of kept images.

Near-duplicate search (`near_duplicate_pairs`)
----------------------------------------------
Pigeonhole / multi-index hashing: split the 64-bit hash into ``m`` contiguous bands and give
band ``j`` a search radius ``r_j`` with ``sum(r_j + 1) >= d + 1``. If two hashes differ in at
most ``d`` bits, some band ``j`` differs in at most ``r_j`` bits (otherwise the distance would
be at least ``sum(r_j + 1) > d``). With ``m = d + 1`` and all ``r_j = 0`` (``bands=d+1``)
that is plain band *equality*, the textbook form; but for large collections equality on
narrow bands gives far too many candidates (1M random hashes, d = 6: seven 9-bit bands ->
~7e9 candidate pairs). So by default `plan_bands` picks ``m`` in ``1 .. d + 1``, the radii
and the band widths with a cost model (probe rows + hash-join matches, uniform bits), and
each hash probes its band value XOR every mask of <= ``r_j`` bits. d = 6 at 1M: bands of
17/17/17/13 bits with radii 1/1/1/0 -> ~5e7 probe rows, ~3e8 matches, ~6 s on 2 cores
(``scripts/bench_dedup.py``; plain band equality would not finish in minutes). Every candidate
is checked exactly with ``bit_count(xor(a, b)) <= d``: the result is exact, whatever the
plan (no false positives; no misses, by the pigeonhole argument). Each unordered pair is
probed from one side only (the side with the smaller band value), which halves the work.

Near-duplicate groups: greedy in id order
-----------------------------------------
An image is dropped if a *kept* image with a smaller id is within ``d`` of it; otherwise it is
kept (the result of visiting images in id order). We compute exactly that sequential result
in a few SQL rounds (keep every undecided image with no undecided smaller neighbour, drop
the undecided neighbours of kept images, repeat). Compared with dropping whole connected
components this never drops an image because of a chain a~b~c where a and c are far apart,
every drop names a kept image within ``d`` (``collided_with`` = the nearest one), and no two
kept images are within ``d`` of each other.

Default ``--hamming`` = 6 (`DEFAULT_HAMMING`), measured with ``scripts/bench_dedup.py
--calibrate`` on 658 distinct images (skimage's photographs and 3x3 crops of them, 200 LFW
faces upscaled from 25x25, 300 synthetic gradient+shape+noise scenes) and transformed copies:

====================  ===== ===== =====  ==================================
copy of the image      max   p99  mean   share within d=4 / 6 / 8 / 10
====================  ===== ===== =====  ==================================
resize x0.5 / x2       4     2    0.3    1.000 / 1.000 / 1.000 / 1.000
resize x0.25           6     4    0.5    0.998 / 1.000 / 1.000 / 1.000
JPEG q90               6     3    0.4    0.998 / 1.000 / 1.000 / 1.000
Gaussian blur r=1      6     2    0.4    0.998 / 1.000 / 1.000 / 1.000
JPEG q75               10    6    0.6    0.982 / 0.991 / 0.997 / 1.000
brightness x1.1        31    6    0.8    0.983 / 0.992 / 0.995 / 0.997
noise sigma=3/255      32    8    0.7    0.979 / 0.985 / 0.994 / 0.997
JPEG q50               20    10   1.0    0.962 / 0.979 / 0.985 / 0.991
resize+q75+noise       32    11   1.2    0.957 / 0.971 / 0.982 / 0.989
crop 2 % (not a dup)   22    12   4.5    0.631 / 0.865 / 0.954 / 0.986
====================  ===== ===== =====  ==================================

Distinct pairs (216,153): median 32, 0.1 % quantile 18; pairs within 4: 1, 6: 1, 8: 2,
10: 4, 12: 19. The single distinct pair within 6 is skimage's stereo pair motorcycle_left /
motorcycle_right (same scene, a few pixels of parallax), which we would want dropped anyway;
at 8 two different LFW faces collide, at 10 two synthetic scenes too. So d = 6 catches every
lossless-ish copy (resize, JPEG q90, blur: all <= 6) and ~97-99 % of noised / low-quality
copies, with no false drop of a genuinely different image in this set. Noise outliers
(distance ~32) are flat images whose DCT coefficients sit at the median: no threshold catches
them. Speed also favours 6: 1M hashes take ~6 s at d = 6 but ~45 s at d = 8 and ~65 s at
d = 10 (wider radii). Raise it (``--hamming 8``) for a stricter leak check when a few false
drops are acceptable; crops and re-framings are out of reach of any pHash threshold.
"""

from __future__ import annotations

import glob
import itertools
import json
import math
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hvgen.progress import progress_bar
from hvgen.stages.build.fingerprints import (
    FINGERPRINTS_DDL,
    fingerprint_images,
    map_fingerprints,
    phash_from_hex,
)

__all__ = [
    "DEFAULT_HAMMING",
    "REASONS",
    "Band",
    "BandPlan",
    "DedupSummary",
    "duplicate_questions",
    "exact_duplicates",
    "greedy_near_drops",
    "leak_check",
    "load_leak_fingerprints",
    "near_duplicate_pairs",
    "plan_bands",
    "run_dedup",
]

DEFAULT_HAMMING = 6
REASONS = (
    "unreadable_source",
    "leak_exact",
    "leak_near",
    "exact_duplicate",
    "near_duplicate",
    "dropped_image",
    "duplicate_question",
)
MAX_HAMMING = 32  # beyond half the bits a "near duplicate" means nothing
_MAX_MASKS_PER_BAND = 200_000

DROPS_DDL = """
CREATE TABLE IF NOT EXISTS drops (
    kind VARCHAR NOT NULL,          -- 'image' | 'record'
    id VARCHAR NOT NULL,
    reason VARCHAR NOT NULL,        -- one of hvgen.dedup.REASONS
    collided_with VARCHAR,          -- the kept item / leaked reference that caused the drop
    distance INTEGER,               -- pHash Hamming distance (0 for exact matches)
    PRIMARY KEY (kind, id)
)
"""
LEAK_DDL = """
CREATE TABLE IF NOT EXISTS leak_fingerprints (
    source VARCHAR NOT NULL,        -- the --against argument it came from
    pixel_sha256 VARCHAR,           -- NULL when the source only lists pHashes
    phash BIGINT,                   -- NULL when the source only lists sha256s
    ref VARCHAR                     -- where in the source: file#row or file:line
)
"""
DEDUP_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS dedup_runs (
    hamming INTEGER, plan VARCHAR, against VARCHAR[], finished_at TIMESTAMP
)
"""


# --------------------------------------------------------------------------- band planning


@dataclass(frozen=True)
class Band:
    """Bits ``[shift, shift + width)`` of the hash, searched within `radius` bits."""

    shift: int
    width: int
    radius: int

    @property
    def sql(self) -> str:
        """SQL expression of this band's value (of a BIGINT column ``phash``)."""
        return "phash" if self.width == 64 else f"((phash >> {self.shift}) & {(1 << self.width) - 1})"

    def masks(self) -> list[int]:
        """All XOR masks of <= radius bits inside the band (0 first), as band values."""
        out = [0]
        for nbits in range(1, self.radius + 1):
            out.extend(sum(1 << b for b in c) for c in itertools.combinations(range(self.width), nbits))
        return [m - (1 << 64) if m >= (1 << 63) else m for m in out]


@dataclass(frozen=True)
class BandPlan:
    """A split of the 64 bits into bands with per-band radii such that
    ``sum(radius + 1) >= hamming + 1``: any pair within `hamming` is within its radius in at
    least one band (generalised pigeonhole), so probing every band finds every pair."""

    hamming: int
    bands: tuple[Band, ...]

    def __post_init__(self) -> None:
        assert sum(b.width for b in self.bands) == 64
        assert sorted((b.shift, b.shift + b.width) for b in self.bands)[0][0] == 0
        assert sum(b.radius + 1 for b in self.bands) >= self.hamming + 1

    @property
    def k(self) -> int:
        return len(self.bands)

    @property
    def radius(self) -> int:
        """The largest per-band radius (0 = plain band equality)."""
        return max(b.radius for b in self.bands)

    def describe(self) -> str:
        parts = [f"{b.width}b/r{b.radius}" for b in self.bands]
        return f"{self.k} bands ({', '.join(parts)})"


def _ball(width: int, r: int) -> int:
    return sum(comb(width, i) for i in range(r + 1))


_PROBE_WEIGHT = 4.0  # measured at 1M hashes on 2 cores: one generated probe row costs ~4 join matches


def _band_cost(width: int, radius: int, n: int, n_other: int | None) -> float:
    """Estimated work of one band for uniformly distributed hash bits."""
    v = _ball(width, radius)
    if n_other is None:  # self-join: non-zero masks are probed from one side only
        factor = 1 + (v - 1) / 2
        return _PROBE_WEIGHT * n * factor + n * n / 2.0**width * factor
    return _PROBE_WEIGHT * n * v + n * n_other * v / 2.0**width


def _fit_widths(radii: list[int], n: int, n_other: int | None) -> tuple[list[int], float]:
    """Widths (summing to 64) for the given radii, by local search from an even split:
    move one bit between two bands while that lowers the estimated cost."""
    m = len(radii)
    base, extra = divmod(64, m)
    widths = [base + (1 if j < extra else 0) for j in range(m)]

    def cost(j: int, w: int) -> float:
        if w < 1 or _ball(w, radii[j]) > _MAX_MASKS_PER_BAND:
            return math.inf
        return _band_cost(w, radii[j], n, n_other)

    total = sum(cost(j, w) for j, w in enumerate(widths))
    improved = m > 1
    while improved:
        improved = False
        for i, j in itertools.permutations(range(m), 2):
            delta = cost(i, widths[i] - 1) + cost(j, widths[j] + 1) - cost(i, widths[i]) - cost(j, widths[j])
            if delta < -1e-9 * max(total, 1.0):
                widths[i] -= 1
                widths[j] += 1
                total += delta
                improved = True
    return widths, total


def _make_plan(hamming: int, m: int, n: int, n_other: int | None) -> tuple[BandPlan, float]:
    spare = max(hamming + 1 - m, 0)  # radii must add up to hamming + 1 - m
    radii = [spare // m + (1 if j < spare % m else 0) for j in range(m)]
    widths, total = _fit_widths(radii, n, n_other)
    # Lay bands out from the top bit down, widest-radius first: imagehash's first bit (our
    # sign bit, the DC coefficient) is almost always 1, which halves the selectivity of the
    # band holding it; that costs least in a wide band searched with a radius.
    order = sorted(range(m), key=lambda j: (-radii[j], -widths[j]))
    bands, top = [], 64
    for j in order:
        top -= widths[j]
        bands.append(Band(top, widths[j], radii[j]))
    return BandPlan(hamming, tuple(bands)), total


def plan_bands(
    hamming: int, bands: int | None = None, n: int = 1_000_000, n_other: int | None = None
) -> BandPlan:
    """Validate `hamming` / `bands` and pick the band split (see the module docstring).

    ``bands=None`` picks the number of bands, their widths and radii with the smallest
    estimated cost for `n` hashes searched against themselves (or against `n_other` hashes).
    ``bands=hamming+1`` is plain band equality; any ``bands`` >= 1 gives the same (exact)
    result, only the speed changes.
    """
    if not isinstance(hamming, int) or isinstance(hamming, bool) or not 0 <= hamming <= MAX_HAMMING:
        raise ValueError(
            f"hamming must be an integer between 0 and {MAX_HAMMING} (bits of a 64-bit pHash), "
            f"got {hamming!r}; the default is {DEFAULT_HAMMING}"
        )
    if bands is not None and (not isinstance(bands, int) or isinstance(bands, bool) or not 1 <= bands <= 64):
        raise ValueError(f"bands must be an integer between 1 and 64, got {bands!r}")
    n = max(n, 1)
    n_other = None if n_other is None else max(n_other, 1)
    options = [bands] if bands is not None else list(range(1, hamming + 2))
    plans = [_make_plan(hamming, m, n, n_other) for m in options]
    plans = [(p, c) for p, c in plans if math.isfinite(c)]
    if not plans:
        raise ValueError(
            f"bands={bands} with hamming={hamming} needs more than {_MAX_MASKS_PER_BAND:,} probe masks "
            f"per band; use more bands (bands={hamming + 1} is plain band equality) or leave bands unset"
        )
    return min(plans, key=lambda pc: (pc[1], -pc[0].k))[0]


# --------------------------------------------------------------------------- Hamming join


def _hamming_join(
    con: duckdb.DuckDBPyConnection,
    left: str,
    right: str | None,
    plan: BandPlan,
    out: str,
) -> None:
    """Pairs ``out(a, b, distance)`` of rows (``rid INTEGER, phash BIGINT``) within
    ``plan.hamming``. ``right=None``: self-join of `left` with ``a < b``; otherwise ``a`` is a
    rid of `left` and ``b`` of `right`."""
    d = plan.hamming
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} (a INTEGER, b INTEGER, distance INTEGER)")
    for band in plan.bands:
        vtype = "INTEGER" if band.width <= 31 else "BIGINT"
        band_expr = band.sql
        con.register("_hv_masks_arrow", pa.table({"m": pa.array(band.masks(), pa.int64())}))
        try:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _hv_masks AS SELECT m::{vtype} AS m FROM _hv_masks_arrow"
            )
        finally:
            con.unregister("_hv_masks_arrow")
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE _hv_keys_l AS SELECT rid, phash, {band_expr}::{vtype} AS v FROM {left}"
        )
        if right is None:
            # Probe only towards the larger band value (or, for an equal band, the larger rid):
            # each unordered pair is then generated once per band instead of twice.
            con.execute(
                f"""INSERT INTO {out}
                SELECT least(p.rid, k.rid), greatest(p.rid, k.rid), bit_count(xor(p.phash, k.phash))
                FROM (SELECT l.rid, l.phash, xor(l.v, f.m) AS pv, f.m = 0 AS same
                      FROM _hv_keys_l l CROSS JOIN _hv_masks f
                      WHERE f.m = 0 OR xor(l.v, f.m) > l.v) p
                JOIN _hv_keys_l k ON p.pv = k.v AND (NOT p.same OR p.rid < k.rid)
                WHERE bit_count(xor(p.phash, k.phash)) <= {d}"""
            )
        else:
            con.execute(
                f"CREATE OR REPLACE TEMP TABLE _hv_keys_r AS SELECT rid, phash, {band_expr}::{vtype} AS v FROM {right}"
            )
            con.execute(
                f"""INSERT INTO {out}
                SELECT p.rid, k.rid, bit_count(xor(p.phash, k.phash))
                FROM (SELECT l.rid, l.phash, xor(l.v, f.m) AS pv
                      FROM _hv_keys_l l CROSS JOIN _hv_masks f) p
                JOIN _hv_keys_r k ON p.pv = k.v
                WHERE bit_count(xor(p.phash, k.phash)) <= {d}"""
            )
    con.execute(f"CREATE OR REPLACE TEMP TABLE {out} AS SELECT DISTINCT a, b, distance FROM {out}")
    for t in ("_hv_masks", "_hv_keys_l", "_hv_keys_r"):
        con.execute(f"DROP TABLE IF EXISTS {t}")


def near_duplicate_pairs(
    con: duckdb.DuckDBPyConnection,
    table: str = "fingerprints",
    hamming: int = DEFAULT_HAMMING,
    bands: int | None = None,
    *,
    id_column: str = "image_id",
    hash_column: str = "phash",
    into: str = "near_pairs",
) -> duckdb.DuckDBPyRelation:
    """All distinct pairs ``(id_a, id_b, distance)`` with ``id_a < id_b`` whose hashes in
    `table` differ in at most `hamming` bits, written to the temp table `into`.

    `table` is any table or view with an id column and a BIGINT pHash column.
    """
    n = con.execute(f"SELECT count(*) FROM {table} WHERE {hash_column} IS NOT NULL").fetchone()[0]
    plan = plan_bands(hamming, bands, n=n)
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _hv_nd_items AS
        SELECT (row_number() OVER (ORDER BY {id_column}))::INTEGER AS rid, {id_column} AS id,
               {hash_column}::BIGINT AS phash
        FROM {table} WHERE {hash_column} IS NOT NULL"""
    )
    _hamming_join(con, "_hv_nd_items", None, plan, "_hv_nd_pairs")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT ia.id AS id_a, ib.id AS id_b, p.distance
        FROM _hv_nd_pairs p JOIN _hv_nd_items ia ON ia.rid = p.a JOIN _hv_nd_items ib ON ib.rid = p.b"""
    )
    con.execute("DROP TABLE IF EXISTS _hv_nd_items")
    con.execute("DROP TABLE IF EXISTS _hv_nd_pairs")
    return con.table(into)


def greedy_near_drops(
    con: duckdb.DuckDBPyConnection, pairs: str = "near_pairs", into: str = "near_drops"
) -> duckdb.DuckDBPyRelation:
    """Drop decisions ``(id, collided_with, distance)`` for the pairs table `pairs`
    (``id_a < id_b``): the id-order greedy described in the module docstring."""
    con.execute("CREATE OR REPLACE TEMP TABLE _hv_g_state (id VARCHAR PRIMARY KEY, kept BOOLEAN)")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _hv_g_pairs AS
        SELECT id_a::VARCHAR AS a, id_b::VARCHAR AS b, distance FROM {pairs}"""
    )
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _hv_g_nodes AS SELECT a AS id FROM _hv_g_pairs UNION SELECT b FROM _hv_g_pairs"
    )
    total = con.execute("SELECT count(*) FROM _hv_g_nodes").fetchone()[0]
    decided = 0
    while decided < total:
        # keep: undecided, and no undecided smaller neighbour (any kept smaller neighbour
        # would already have dropped it in the previous round)
        con.execute(
            """INSERT INTO _hv_g_state
            SELECT n.id, TRUE FROM _hv_g_nodes n
            WHERE n.id NOT IN (SELECT id FROM _hv_g_state)
              AND NOT EXISTS (SELECT 1 FROM _hv_g_pairs p WHERE p.b = n.id
                              AND p.a NOT IN (SELECT id FROM _hv_g_state))"""
        )
        con.execute(
            """INSERT INTO _hv_g_state
            SELECT DISTINCT p.b, FALSE FROM _hv_g_pairs p JOIN _hv_g_state s ON s.id = p.a AND s.kept
            WHERE p.b NOT IN (SELECT id FROM _hv_g_state)"""
        )
        now = con.execute("SELECT count(*) FROM _hv_g_state").fetchone()[0]
        if now == decided:  # cannot happen (the smallest undecided id is always kept)
            raise RuntimeError("near-duplicate grouping made no progress")
        decided = now
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT DISTINCT ON (p.b) p.b AS id, p.a AS collided_with, p.distance
        FROM _hv_g_pairs p
        JOIN _hv_g_state sb ON sb.id = p.b AND NOT sb.kept
        JOIN _hv_g_state sa ON sa.id = p.a AND sa.kept
        ORDER BY p.b, p.distance, p.a"""
    )
    for t in ("_hv_g_state", "_hv_g_pairs", "_hv_g_nodes"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return con.table(into)


# --------------------------------------------------------------------------- exact / questions


def exact_duplicates(
    con: duckdb.DuckDBPyConnection, table: str = "fingerprints", into: str = "exact_drops"
) -> duckdb.DuckDBPyRelation:
    """Images ``(id, collided_with, distance=0)`` whose ``pixel_sha256`` equals that of an image
    with a smaller id; the smallest id of each group is kept."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT image_id AS id, keep AS collided_with, 0 AS distance FROM (
            SELECT image_id, min(image_id) OVER (PARTITION BY pixel_sha256) AS keep FROM {table}
        ) WHERE image_id <> keep"""
    )
    return con.table(into)


_NORM_QUESTION = r"trim(regexp_replace(regexp_replace(lower(coalesce(question, '')), '\p{P}+', ' ', 'g'), '\s+', ' ', 'g'))"
_NORM_ANSWER = r"lower(trim(regexp_replace(coalesce(answer, ''), '\s+', ' ', 'g')))"
_NORM_OPTIONS = (
    r"list_sort(list_transform(coalesce(options, []::VARCHAR[]), "
    r"lambda x: lower(trim(regexp_replace(x, '\s+', ' ', 'g')))))"
)


def duplicate_questions(
    con: duckdb.DuckDBPyConnection, table: str = "records", into: str = "question_drops"
) -> duckdb.DuckDBPyRelation:
    """Records ``(id, collided_with)`` that repeat an earlier record (smallest id kept) on the
    same image: same question text after lowercasing, replacing punctuation by spaces and
    collapsing whitespace; same options as a set (order and case ignored); same answer
    (case/whitespace ignored). Option text keeps its punctuation ("3.5" is not "35")."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
        SELECT id, keep AS collided_with FROM (
            SELECT id, min(id) OVER (
                PARTITION BY image_id, {_NORM_QUESTION}, {_NORM_OPTIONS}, {_NORM_ANSWER}) AS keep
            FROM {table}
        ) WHERE id <> keep"""
    )
    return con.table(into)


# --------------------------------------------------------------------------- leak sources

DownloadFn = Callable[..., str]
_HUB_ID = re.compile(r"^(?:hf://datasets/)?([A-Za-z0-9][\w.-]*/[\w.-]+)(?:@([\w./-]+))?$")
_HASH_LIST_SUFFIXES = {".txt", ".lst", ".hashes", ".csv", ".tsv"}
_HEX = re.compile(r"^[0-9a-fA-F]+$")

HASH_FORMAT = (
    "pixel_sha256 = hex sha256 of the ASCII prefix 'WxH:' (the image's width and height, e.g. '1024x1024:') "
    "followed by the raw RGB bytes of the decoded image (hvgen.stages.build.fingerprints.fingerprint_image), "
    "not the sha256 of the file; phash = imagehash.phash of the RGB image as its 16-hex-digit string"
)
_HOWTO = (
    "SOURCE may be: an earlier export folder (parquet files with a datasets `image` column), "
    "a parquet file or glob, a hash list (.txt: one pixel_sha256 or pHash per line; "
    ".csv/.parquet with pixel_sha256 and/or phash columns) or a Hub dataset id OWNER/NAME[@REV]. "
    f"Hash lists hold hvgen fingerprints: {HASH_FORMAT}."
)


def _bad(source: str, what: str, fix: str = _HOWTO) -> ValueError:
    return ValueError(f"leak source {source!r}: {what}\n{fix}")


def _default_download(**kwargs: Any) -> str:
    from huggingface_hub import snapshot_download

    return snapshot_download(**kwargs)


def _resolve_files(source: str, download: DownloadFn | None) -> list[Path]:
    """SOURCE string → concrete files (parquet or hash lists)."""
    spec = source.strip()
    if not spec:
        raise _bad(source, "empty source")
    if any(ch in spec for ch in "*?["):
        files = [
            Path(f) for f in sorted(glob.glob(os.path.expanduser(spec), recursive=True)) if Path(f).is_file()
        ]
        if not files:
            raise _bad(source, f"the glob matched no files (relative to {Path.cwd()})")
        return files
    path = Path(spec).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*.parquet") if ".cache" not in p.relative_to(path).parts)
        if not files:
            raise _bad(
                source,
                f"no *.parquet files under the folder {path.resolve()}",
                "Pass the export folder of an earlier run (README.md + data/<config>/*.parquet). " + _HOWTO,
            )
        return files
    if path.is_file():
        return [path]
    m = _HUB_ID.match(spec)
    if m and path.suffix.lower() not in _HASH_LIST_SUFFIXES | {".parquet"}:
        repo_id, revision = m.group(1), m.group(2)
        fn = download or _default_download
        try:
            local = fn(
                repo_id=repo_id,
                repo_type="dataset",
                revision=revision,
                allow_patterns=["*.parquet", "**/*.parquet"],
            )
        except Exception as exc:
            raise _bad(
                source,
                f"nothing at {path.resolve()}, and downloading it as Hub dataset {repo_id!r} failed: "
                f"{type(exc).__name__}: {exc}",
                "Check the dataset id and revision, log in for a private/gated dataset "
                "(`hf auth login` or HF_TOKEN), or download it where the Hub is reachable and "
                "pass the local folder.",
            ) from exc
        return _resolve_files(str(local), None)
    raise _bad(
        source, f"no such file or folder (relative to {Path.cwd()}), and not a Hub dataset id OWNER/NAME"
    )


def _hash_rows_from_text(path: Path, source: str) -> Iterator[tuple[str | None, int | None, str]]:
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, 1):
            token = line.split("#", 1)[0].strip().split()
            if not token:
                continue
            value = token[0]
            if value.lower().startswith(("sha256:", "phash:")):
                value = value.split(":", 1)[1]
            if _HEX.match(value) and len(value) == 64:
                yield value.lower(), None, f"{path}:{lineno}"
            elif _HEX.match(value) and len(value) == 16:
                yield None, phash_from_hex(value), f"{path}:{lineno}"
            else:
                raise _bad(
                    source,
                    f"{path}:{lineno}: {value[:80]!r} is neither a 64-hex-digit pixel sha256 nor a "
                    "16-hex-digit pHash",
                    f"Hash lists hold hvgen fingerprints, one per line ('#' starts a comment): {HASH_FORMAT}. "
                    "A file sha256 (sha256sum) is not a pixel sha256 and never matches.",
                )


def _hash_rows_from_table(
    con: duckdb.DuckDBPyConnection, path: Path, source: str, reader: str
) -> Iterator[tuple[str | None, int | None, str]]:
    desc = con.execute(f"DESCRIBE SELECT * FROM {reader}('{_sql_str(path)}')").fetchall()
    cols = {name.lower(): (name, typ) for name, typ, *_ in desc}
    sha = cols.get("pixel_sha256")
    ph = cols.get("phash")
    if not sha and not ph:
        raise _bad(
            source,
            f"{path} has no pixel_sha256 or phash column (columns: {', '.join(n for n, _ in cols.values())})",
        )
    sha_sql = f'"{sha[0]}"::VARCHAR' if sha else "NULL::VARCHAR"
    ph_sql = f'"{ph[0]}"' if ph else "NULL::BIGINT"
    rows = con.execute(f"SELECT {sha_sql}, {ph_sql} FROM {reader}('{_sql_str(path)}')").fetchall()
    ph_is_int = bool(ph) and any(t in ph[1].upper() for t in ("INT", "HUGEINT"))
    for i, (s, p) in enumerate(rows):
        where = f"{path}#{i}"
        if s is not None:
            s = s.strip().lower()
            if not (_HEX.match(s) and len(s) == 64):
                raise _bad(source, f"{where}: pixel_sha256 {s[:80]!r} is not 64 hex digits")
        if p is not None and not ph_is_int:
            try:
                p = phash_from_hex(str(p))
            except ValueError as exc:
                raise _bad(source, f"{where}: phash {str(p)[:80]!r}: {exc}") from None
        elif p is not None:
            p = int(p)
            if (1 << 63) <= p < (1 << 64):  # the same 64 bits stored unsigned
                p -= 1 << 64
            elif not -(1 << 63) <= p < (1 << 63):
                raise _bad(source, f"{where}: phash {p} does not fit 64 bits")
        if s is None and p is None:
            continue
        yield s, p, where


def _sql_str(path: Path) -> str:
    return str(path).replace("'", "''")


def _image_columns(pf: pq.ParquetFile) -> list[str]:
    """Columns holding images: from the `datasets` features in the schema metadata when
    present (any name), else a column called ``image``."""
    meta = pf.schema_arrow.metadata or {}
    names = pf.schema_arrow.names
    raw = meta.get(b"huggingface")
    if raw:
        try:
            feats = json.loads(raw).get("info", {}).get("features", {})
            cols = [
                k
                for k, v in feats.items()
                if isinstance(v, dict) and v.get("_type") == "Image" and k in names
            ]
            if cols:
                return cols
        except (ValueError, AttributeError):
            pass
    return ["image"] if "image" in names else []


def _image_rows_from_parquet(
    path: Path, source: str, columns: list[str]
) -> Iterator[tuple[str, bytes | Path]]:
    pf = pq.ParquetFile(path)
    row = 0
    for batch in pf.iter_batches(columns=columns, batch_size=256):
        for col in columns:
            arr = batch.column(col)
            for i, value in enumerate(arr.to_pylist()):
                ref = f"{path}#{row + i}" + (f":{col}" if len(columns) > 1 else "")
                if value is None:
                    continue
                if isinstance(value, dict):
                    data, rel = value.get("bytes"), value.get("path")
                elif isinstance(value, bytes | bytearray):
                    data, rel = value, None
                else:
                    raise _bad(source, f"{path}: column {col!r} holds {type(value).__name__}, not an image")
                if data:
                    yield ref, bytes(data)
                elif rel:
                    p = Path(rel)
                    p = p if p.is_absolute() else path.parent / p
                    if not p.is_file():
                        raise _bad(
                            source, f"{ref}: image has no embedded bytes and its path {rel!r} does not exist"
                        )
                    yield ref, p
        row += batch.num_rows


LEAK_CACHE_DDL = """
CREATE TABLE IF NOT EXISTS leak_file_cache (
    file VARCHAR, size BIGINT, mtime_ns BIGINT,  -- the parquet file the images were decoded from
    pos VARCHAR,                                 -- '#row' or '#row:column' inside it
    pixel_sha256 VARCHAR, phash BIGINT
)
"""


def _decode_cached(
    con: duckdb.DuckDBPyConnection,
    path: Path,
    source: str,
    cols: list[str],
    workers: int | None,
    progress: bool,
) -> list[tuple[str, str, int]]:
    """Fingerprints ``(ref, pixel_sha256, phash)`` of the images in one parquet file.

    Decoding a whole earlier release is the slow part of a leak check (tens of ms per image),
    and rebuilds with other thresholds are expected, so results are cached in the catalog per
    (file, size, mtime): an unchanged file is never decoded twice.
    """
    con.execute(LEAK_CACHE_DDL)
    st = path.stat()
    key = [str(path.resolve()), st.st_size, st.st_mtime_ns]
    cached = con.execute(
        "SELECT pos, pixel_sha256, phash FROM leak_file_cache WHERE file = ? AND size = ? AND mtime_ns = ?",
        key,
    ).fetchall()
    if cached:
        return [(f"{path}{pos}", sha, ph) for pos, sha, ph in cached]
    out: list[tuple[str, str, int]] = []
    total = pq.ParquetFile(path).metadata.num_rows * len(cols)
    with progress_bar(f"leak fingerprints {path.name}", total, enabled=progress) as advance:
        for ref, fp in map_fingerprints(_image_rows_from_parquet(path, source, cols), workers=workers):
            if isinstance(fp, str):
                raise _bad(source, f"{ref}: cannot decode the image: {fp}")
            out.append((ref, fp.pixel_sha256, fp.phash))
            advance(1)
    prefix = len(str(path))
    table = pa.table(
        {
            "pos": pa.array([ref[prefix:] for ref, _, _ in out], pa.string()),
            "pixel_sha256": pa.array([sha for _, sha, _ in out], pa.string()),
            "phash": pa.array([ph for _, _, ph in out], pa.int64()),
        }
    )
    con.register("_hv_cache_arrow", table)
    try:
        con.execute("DELETE FROM leak_file_cache WHERE file = ?", key[:1])
        con.execute(
            "INSERT INTO leak_file_cache SELECT ?, ?, ?, pos, pixel_sha256, phash FROM _hv_cache_arrow", key
        )
    finally:
        con.unregister("_hv_cache_arrow")
    return out


def load_leak_fingerprints(
    con: duckdb.DuckDBPyConnection,
    against: Sequence[str],
    *,
    download: DownloadFn | None = None,
    workers: int | None = None,
    progress: bool = False,
    hash_lists: set[str] | None = None,
) -> int:
    """Rebuild ``leak_fingerprints(source, pixel_sha256, phash, ref)`` from the SOURCE strings in
    `against` (see `_HOWTO`); returns the number of fingerprints loaded. Sources read as hash
    lists (rather than images) are added to `hash_lists`, if given.

    All sources are resolved and read before the table is touched, so a bad SOURCE raises
    `ValueError` and leaves the previous table as it was. `download` replaces
    ``huggingface_hub.snapshot_download`` (tests pass a fake; nothing else contacts the Hub).
    """
    rows: list[tuple[str, str | None, int | None, str]] = []
    for source in against:
        before = len(rows)
        from_folder = not Path(source).suffix  # a folder or a Hub id, not a file or a glob of files
        for path in _resolve_files(source, download):
            suffix = path.suffix.lower()
            if suffix in {".txt", ".lst", ".hashes", ".csv", ".tsv"} and hash_lists is not None:
                hash_lists.add(source)
            if suffix in {".txt", ".lst", ".hashes"}:
                rows.extend((source, s, p, ref) for s, p, ref in _hash_rows_from_text(path, source))
            elif suffix in {".csv", ".tsv"}:
                rows.extend(
                    (source, s, p, ref) for s, p, ref in _hash_rows_from_table(con, path, source, "read_csv")
                )
            elif suffix == ".parquet":
                try:
                    pf = pq.ParquetFile(path)
                except Exception as exc:
                    raise _bad(source, f"{path} is not a readable parquet file: {exc}") from exc
                names = {n.lower() for n in pf.schema_arrow.names}
                if names & {"pixel_sha256", "phash"}:
                    if hash_lists is not None:
                        hash_lists.add(source)
                    rows.extend(
                        (source, s, p, ref)
                        for s, p, ref in _hash_rows_from_table(con, path, source, "read_parquet")
                    )
                    continue
                cols = _image_columns(pf)
                if not cols and from_folder:
                    continue  # an image-once export: question configs reference the `*_images` configs
                if not cols:
                    raise _bad(
                        source,
                        f"{path} has neither an image column (datasets Image feature) nor pixel_sha256/phash "
                        f"columns; columns: {', '.join(pf.schema_arrow.names)}",
                    )
                rows.extend(
                    (source, sha, ph, ref)
                    for ref, sha, ph in _decode_cached(con, path, source, cols, workers, progress)
                )
            else:
                raise _bad(source, f"{path}: unsupported file type {suffix or '(none)'}")
        if len(rows) == before:
            raise _bad(source, "it holds no images or hashes (empty files?)")

    table = pa.table(
        {
            "source": pa.array([r[0] for r in rows], pa.string()),
            "pixel_sha256": pa.array([r[1] for r in rows], pa.string()),
            "phash": pa.array([r[2] for r in rows], pa.int64()),
            "ref": pa.array([r[3] for r in rows], pa.string()),
        }
    )
    con.execute(LEAK_DDL)
    con.register("_hv_leak_arrow", table)
    try:
        con.execute("DELETE FROM leak_fingerprints")
        con.execute(
            "INSERT INTO leak_fingerprints SELECT source, pixel_sha256, phash, ref FROM _hv_leak_arrow"
        )
    finally:
        con.unregister("_hv_leak_arrow")
    return len(rows)


def _leak_hits(
    con: duckdb.DuckDBPyConnection, table: str, hamming: int, bands: int | None, into: str
) -> duckdb.DuckDBPyRelation:
    """Best leak hit per image of `table` against ``leak_fingerprints``: exact pixel match
    first, else the nearest pHash within `hamming`."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE _hv_lk_ours AS
        SELECT (row_number() OVER (ORDER BY image_id))::INTEGER AS rid, image_id, pixel_sha256, phash FROM {table}"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE _hv_lk_theirs AS
        SELECT (row_number() OVER (ORDER BY phash))::INTEGER AS rid, phash, min(source || ' :: ' || ref) AS ref
        FROM leak_fingerprints WHERE phash IS NOT NULL GROUP BY phash"""
    )
    n_ours = con.execute("SELECT count(*) FROM _hv_lk_ours").fetchone()[0]
    n_theirs = con.execute("SELECT count(*) FROM _hv_lk_theirs").fetchone()[0]
    plan = plan_bands(hamming, bands, n=n_ours, n_other=n_theirs)
    _hamming_join(con, "_hv_lk_ours", "_hv_lk_theirs", plan, "_hv_lk_pairs")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into} AS
        WITH exact AS (
            SELECT o.image_id AS id, 'leak_exact' AS reason, min(l.source || ' :: ' || l.ref) AS collided_with,
                   0 AS distance
            FROM _hv_lk_ours o JOIN leak_fingerprints l ON l.pixel_sha256 = o.pixel_sha256
            GROUP BY o.image_id
        ), near AS (
            SELECT DISTINCT ON (o.image_id) o.image_id AS id, 'leak_near' AS reason, t.ref AS collided_with,
                   p.distance
            FROM _hv_lk_pairs p JOIN _hv_lk_ours o ON o.rid = p.a JOIN _hv_lk_theirs t ON t.rid = p.b
            WHERE o.image_id NOT IN (SELECT id FROM exact)
            ORDER BY o.image_id, p.distance, t.ref
        )
        SELECT * FROM exact UNION ALL SELECT * FROM near"""
    )
    # How many fingerprints of each source matched some image of ours (exactly or within d):
    # a hash list that matches nothing may be in the wrong format (`DedupSummary.warnings`).
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE {into}_sources AS
        SELECT l.source, count(*) AS fingerprints,
               count(*) FILTER (WHERE l.pixel_sha256 IN (SELECT pixel_sha256 FROM _hv_lk_ours)
                   OR l.phash IN (SELECT t.phash FROM _hv_lk_pairs p JOIN _hv_lk_theirs t ON t.rid = p.b)) AS matched
        FROM leak_fingerprints l GROUP BY l.source"""
    )
    for t in ("_hv_lk_ours", "_hv_lk_theirs", "_hv_lk_pairs"):
        con.execute(f"DROP TABLE IF EXISTS {t}")
    return con.table(into)


def leak_check(
    con: duckdb.DuckDBPyConnection,
    against: Sequence[str],
    hamming: int = DEFAULT_HAMMING,
    *,
    bands: int | None = None,
    table: str = "fingerprints",
    download: DownloadFn | None = None,
    workers: int | None = None,
    progress: bool = False,
    into: str = "leak_hits",
) -> duckdb.DuckDBPyRelation:
    """Load the fingerprints of earlier releases (`against`) into ``leak_fingerprints`` and
    return ``(id, reason, collided_with, distance)`` for each of our images (rows of `table`:
    image_id, pixel_sha256, phash) that appears in them: ``leak_exact`` (same pixels) or
    ``leak_near`` (pHash within `hamming`). `run_dedup` turns these into drops."""
    plan_bands(hamming, bands)  # validate before the (possibly slow) loading
    load_leak_fingerprints(con, against, download=download, workers=workers, progress=progress)
    return _leak_hits(con, table, hamming, bands, into)


# --------------------------------------------------------------------------- the whole pass


@dataclass
class DedupSummary:
    """Counts of one `run_dedup`; `counts` has every reason of `REASONS` (0 when none)."""

    hamming: int
    plan: str  # BandPlan.describe() of the near-duplicate search
    against: tuple[str, ...]
    images_total: int
    images_kept: int
    records_total: int
    records_kept: int
    leak_fingerprints: int
    counts: dict[str, int] = field(default_factory=dict)
    # per --against source: (fingerprints that matched one of our images, fingerprints)
    source_matches: dict[str, tuple[int, int]] = field(default_factory=dict)
    hash_lists: tuple[str, ...] = ()  # the sources read as hash lists rather than images

    def warnings(self) -> list[str]:
        """What the user should look at: a hash list that matched none of its hashes (a list in
        another format matches nothing, silently). A build that leaves nothing to publish is an
        error of the export, not a warning."""
        found = []
        for source in self.hash_lists:
            matched, total = self.source_matches.get(source, (0, 0))
            if total and not matched:
                found.append(
                    f"leak source {source!r}: 0 of its {total:,} hashes matched an image of this run. Fine for a "
                    f"fresh split; if you expected matches, check the list's format: {HASH_FORMAT}."
                )
        return found

    def summary_table(self):  # -> rich.table.Table
        """A rich table for the CLI: one row per reason, then the kept totals."""
        from rich.table import Table

        title = f"dedup (Hamming ≤ {self.hamming}; {self.plan})"
        if self.against:
            title += f" · leak check against {len(self.against)} source(s), {self.leak_fingerprints:,} fingerprints"
        t = Table(title=title)
        t.add_column("reason")
        t.add_column("kind")
        t.add_column("dropped", justify="right")
        for reason in REASONS:
            kind = "record" if reason in ("dropped_image", "duplicate_question") else "image"
            t.add_row(reason, kind, f"{self.counts.get(reason, 0):,}")
        t.add_section()
        t.add_row("images kept", "image", f"{self.images_kept:,} / {self.images_total:,}")
        t.add_row("records kept", "record", f"{self.records_kept:,} / {self.records_total:,}")
        return t


def _exists(con: duckdb.DuckDBPyConnection, name: str) -> bool:
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE table_name = ? AND NOT temporary", [name]
        ).fetchone()[0]
        + con.execute(
            "SELECT count(*) FROM duckdb_views() WHERE view_name = ? AND NOT temporary", [name]
        ).fetchone()[0]
    )


def run_dedup(
    con: duckdb.DuckDBPyConnection,
    hamming: int = DEFAULT_HAMMING,
    against: Iterable[str] = (),
    *,
    bands: int | None = None,
    run_dir: str | os.PathLike | None = None,
    download: DownloadFn | None = None,
    workers: int | None = None,
    progress: bool = False,
) -> DedupSummary:
    """Recompute ``drops`` and the ``kept_images`` / ``kept_records`` views (module docstring).

    With `run_dir`, missing fingerprints are computed first (resumable); without it every
    image must already have one. The catalog changes in one transaction: an error leaves the
    previous ``drops`` in place.
    """
    against = tuple(against)
    plan_bands(hamming, bands)
    if not _exists(con, "images"):
        raise ValueError("the catalog has no `images` table: run the render stage first")
    # A source image the supply stage skipped (it does not decode) has no file to fingerprint:
    # it is dropped below, with its questions, instead.
    no_file = (
        "SELECT image_id FROM renders WHERE path IS NULL"
        if _exists(con, "renders")
        else "SELECT NULL::VARCHAR AS image_id LIMIT 0"
    )
    con.execute(
        f"CREATE OR REPLACE TEMP VIEW _hv_images_with_files AS SELECT * FROM images WHERE image_id NOT IN ({no_file})"
    )
    if run_dir is not None:
        fingerprint_images(con, run_dir, "_hv_images_with_files", workers=workers, progress=progress)
    con.execute(FINGERPRINTS_DDL)
    missing = con.execute(
        "SELECT count(*) FROM _hv_images_with_files i "
        "WHERE NOT EXISTS (SELECT 1 FROM fingerprints f WHERE f.image_id = i.image_id)"
    ).fetchone()[0]
    if missing:
        raise ValueError(
            f"{missing} images have no fingerprint yet: call fingerprint_images(con, run_dir) "
            "(or run_dedup(..., run_dir=RUN_DIR)); `hvgen build` does this for you"
        )
    n_leak = 0
    hash_lists: set[str] = set()
    source_matches: dict[str, tuple[int, int]] = {}
    con.execute(LEAK_DDL)
    if against:
        n_leak = load_leak_fingerprints(
            con, against, download=download, workers=workers, progress=progress, hash_lists=hash_lists
        )
    else:
        con.execute("DELETE FROM leak_fingerprints")
    has_records = _exists(con, "records")

    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(DROPS_DDL)
        con.execute(DEDUP_RUNS_DDL)
        con.execute("DELETE FROM drops")
        con.execute(
            f"INSERT INTO drops SELECT 'image', image_id, 'unreadable_source', NULL, NULL FROM ({no_file}) "
            "WHERE image_id IN (SELECT image_id FROM images)"
        )
        con.execute(
            """CREATE OR REPLACE TEMP TABLE _hv_fp AS
            SELECT f.image_id, f.pixel_sha256, f.phash FROM fingerprints f
            JOIN images i ON i.image_id = f.image_id"""
        )

        def remaining() -> None:
            con.execute(
                """CREATE OR REPLACE TEMP VIEW _hv_remaining AS
                SELECT * FROM _hv_fp f WHERE NOT EXISTS (
                    SELECT 1 FROM drops d WHERE d.kind = 'image' AND d.id = f.image_id)"""
            )

        if against:
            _leak_hits(con, "_hv_fp", hamming, bands, "_hv_leak_hits")
            con.execute(
                "INSERT INTO drops SELECT 'image', id, reason, collided_with, distance FROM _hv_leak_hits"
            )
            source_matches = {
                source: (matched, total)
                for source, total, matched in con.execute(
                    "SELECT source, fingerprints, matched FROM _hv_leak_hits_sources"
                ).fetchall()
            }
        remaining()  # a live view: later passes see the drops of earlier ones
        exact_duplicates(con, "_hv_remaining", "_hv_exact")
        con.execute(
            "INSERT INTO drops SELECT 'image', id, 'exact_duplicate', collided_with, distance FROM _hv_exact"
        )
        n_remaining = con.execute("SELECT count(*) FROM _hv_remaining").fetchone()[0]
        plan = plan_bands(hamming, bands, n=n_remaining)  # the plan near_duplicate_pairs uses
        near_duplicate_pairs(con, "_hv_remaining", hamming, bands, into="_hv_near_pairs")
        greedy_near_drops(con, "_hv_near_pairs", "_hv_near")
        con.execute(
            "INSERT INTO drops SELECT 'image', id, 'near_duplicate', collided_with, distance FROM _hv_near"
        )

        con.execute(
            """CREATE OR REPLACE VIEW kept_images AS
            SELECT i.* FROM images i WHERE NOT EXISTS (
                SELECT 1 FROM drops d WHERE d.kind = 'image' AND d.id = i.image_id)"""
        )
        if has_records:
            con.execute(
                """INSERT INTO drops
                SELECT 'record', r.id, 'dropped_image', r.image_id, NULL FROM records r
                WHERE r.image_id IS NULL
                   OR NOT EXISTS (SELECT 1 FROM kept_images k WHERE k.image_id = r.image_id)"""
            )
            con.execute(
                """CREATE OR REPLACE TEMP VIEW _hv_live_records AS
                SELECT * FROM records r WHERE NOT EXISTS (
                    SELECT 1 FROM drops d WHERE d.kind = 'record' AND d.id = r.id)"""
            )
            duplicate_questions(con, "_hv_live_records", "_hv_questions")
            con.execute(
                "INSERT INTO drops SELECT 'record', id, 'duplicate_question', collided_with, NULL FROM _hv_questions"
            )
            con.execute(
                """CREATE OR REPLACE VIEW kept_records AS
                SELECT r.* FROM records r WHERE NOT EXISTS (
                    SELECT 1 FROM drops d WHERE d.kind = 'record' AND d.id = r.id)"""
            )
        con.execute("DELETE FROM dedup_runs")
        con.execute(
            "INSERT INTO dedup_runs VALUES (?, ?, ?, now()::TIMESTAMP)",
            [hamming, plan.describe(), list(against)],
        )
        for t in (
            "_hv_leak_hits",
            "_hv_leak_hits_sources",
            "_hv_exact",
            "_hv_near_pairs",
            "_hv_near",
            "_hv_questions",
        ):
            con.execute(f"DROP TABLE IF EXISTS {t}")
        for v in ("_hv_remaining", "_hv_live_records"):
            con.execute(f"DROP VIEW IF EXISTS {v}")
        con.execute("DROP TABLE IF EXISTS _hv_fp")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise

    counts = dict.fromkeys(REASONS, 0)
    counts.update(dict(con.execute("SELECT reason, count(*) FROM drops GROUP BY reason").fetchall()))
    images_total = con.execute("SELECT count(*) FROM images").fetchone()[0]
    images_kept = con.execute("SELECT count(*) FROM kept_images").fetchone()[0]
    records_total = con.execute("SELECT count(*) FROM records").fetchone()[0] if has_records else 0
    records_kept = con.execute("SELECT count(*) FROM kept_records").fetchone()[0] if has_records else 0
    return DedupSummary(
        hamming=hamming,
        plan=plan.describe(),
        against=against,
        images_total=images_total,
        images_kept=images_kept,
        records_total=records_total,
        records_kept=records_kept,
        leak_fingerprints=n_leak,
        counts=counts,
        source_matches=source_matches,
        hash_lists=tuple(sorted(hash_lists)),
    )
