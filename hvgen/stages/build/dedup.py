"""Dedup and leak check of a run's catalog: DuckDB for the tables, numpy for the pHash search.

`run_dedup` recomputes the table ``drops(kind, id, reason, collided_with, distance)`` from
scratch and (re)creates the views ``kept_images`` / ``kept_records``. Nothing is deleted from
``images`` or ``records``: a rebuild with another threshold simply gives another ``drops``.
Order of the passes, and why:

1. **leak** (``leak_exact`` / ``leak_near``): our images whose pixel hash equals, or whose pHash
   is within `hamming` of, *any* image of an earlier release (`leak_check`; the nearest one is
   named). First, so that a leaked image cannot "use up" a duplicate group whose other members
   are not leaked.
2. **exact duplicates** (``exact_duplicate``): same ``pixel_sha256``; keep the smallest id.
3. **near duplicates** (``near_duplicate``) among the rest, in id order: keep an image unless a
   *kept* image with a smaller id is within `hamming` of its pHash; then drop it, naming the
   earliest such kept image (`near_duplicate_drops`; the search itself, and why it is built
   the way it is, in `hvgen.stages.build.near_duplicates`). A chain a~b~c with a and c far
   apart keeps a and c; no two kept images are within `hamming`.
4. **records of dropped images** (``dropped_image``), then **duplicate questions**
   (``duplicate_question``) among the records of kept images.

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
them. Raise it (``--hamming 8``) for a stricter leak check when a few false
drops are acceptable; crops and re-framings are out of reach of any pHash threshold.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from hvgen.stages.build.fingerprints import FINGERPRINTS_DDL, fingerprint_images
from hvgen.stages.build.leak_sources import HASH_FORMAT, LEAK_DDL, DownloadFn, load_leak_fingerprints
from hvgen.stages.build.near_duplicates import check_hamming, greedy_near_duplicates, nearest_within
from hvgen.store.catalog import query_arrow

__all__ = [
    "DEFAULT_HAMMING",
    "REASONS",
    "DedupSummary",
    "duplicate_questions",
    "exact_duplicates",
    "leak_check",
    "load_leak_fingerprints",
    "near_duplicate_drops",
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
DEDUP_RUNS_DDL = """
CREATE TABLE IF NOT EXISTS dedup_runs (
    hamming INTEGER, plan VARCHAR, against VARCHAR[], finished_at TIMESTAMP
)
"""


# --------------------------------------------------------------------------- near duplicates


def near_duplicate_drops(
    con: duckdb.DuckDBPyConnection,
    table: str = "fingerprints",
    hamming: int = DEFAULT_HAMMING,
    *,
    id_column: str = "image_id",
    hash_column: str = "phash",
    into: str = "near_drops",
) -> str:
    """Write ``into(id, collided_with, distance)``: the images of `table` (an id column and a
    BIGINT pHash column; rows without a pHash take no part) dropped by the id-order rule of the
    module docstring, each with the earliest kept image within `hamming`. Returns the
    description of the search plan used."""
    check_hamming(hamming)
    data = query_arrow(
        con,
        f"SELECT {id_column}::VARCHAR AS id, {hash_column}::BIGINT AS phash FROM {table} "
        f"WHERE {hash_column} IS NOT NULL ORDER BY {id_column}",
    )
    ids = data.column("id").combine_chunks()
    result = greedy_near_duplicates(data.column("phash").to_numpy(), hamming)
    dropped = np.flatnonzero(result.kept_by >= 0)
    drops = pa.table(
        {
            "id": ids.take(pa.array(dropped)),
            "collided_with": ids.take(pa.array(result.kept_by[dropped])),
            "distance": pa.array(result.distance[dropped].astype(np.int32)),
        }
    )
    con.register("_hv_near_arrow", drops)
    try:
        con.execute(f"CREATE OR REPLACE TEMP TABLE {into} AS SELECT * FROM _hv_near_arrow")
    finally:
        con.unregister("_hv_near_arrow")
    return result.describe()


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


# --------------------------------------------------------------------------- leak check


def _leak_hits(
    con: duckdb.DuckDBPyConnection, table: str, hamming: int, into: str
) -> duckdb.DuckDBPyRelation:
    """Best leak hit per image of `table` against ``leak_fingerprints``: an exact pixel match
    first, else the nearest release pHash within `hamming` (ties: the smaller reference)."""
    ours = query_arrow(con, f"SELECT image_id, phash FROM {table} WHERE phash IS NOT NULL")
    theirs = query_arrow(
        con,
        """SELECT phash, min(source || ' :: ' || ref) AS ref FROM leak_fingerprints
        WHERE phash IS NOT NULL GROUP BY phash ORDER BY ref, phash""",
    )
    our_hashes = ours.column("phash").to_numpy()
    their_hashes = theirs.column("phash").to_numpy()
    nearest, distance = nearest_within(our_hashes, their_hashes, hamming)
    found = np.flatnonzero(nearest >= 0)
    near = pa.table(
        {
            "id": ours.column("image_id").combine_chunks().take(pa.array(found)),
            "collided_with": theirs.column("ref").combine_chunks().take(pa.array(nearest[found])),
            "distance": pa.array(distance[found].astype(np.int32)),
        }
    )
    # which release hashes are within `hamming` of one of ours (for the per-source counts)
    matched, _ = nearest_within(their_hashes, our_hashes, hamming)
    their_matched = pa.table({"phash": pa.array(their_hashes[matched >= 0])})
    con.register("_hv_leak_near_arrow", near)
    con.register("_hv_leak_matched_arrow", their_matched)
    try:
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {into} AS
            WITH exact AS (
                SELECT o.image_id AS id, 'leak_exact' AS reason,
                       min(l.source || ' :: ' || l.ref) AS collided_with, 0 AS distance
                FROM {table} o JOIN leak_fingerprints l ON l.pixel_sha256 = o.pixel_sha256
                GROUP BY o.image_id
            )
            SELECT * FROM exact
            UNION ALL
            SELECT id, 'leak_near', collided_with, distance FROM _hv_leak_near_arrow
            WHERE id NOT IN (SELECT id FROM exact)"""
        )
        # How many fingerprints of each source matched one of our images (exactly or within d):
        # a hash list that matches nothing may be in the wrong format (`DedupSummary.warnings`).
        con.execute(
            f"""CREATE OR REPLACE TEMP TABLE {into}_sources AS
            SELECT l.source, count(*) AS fingerprints,
                   count(*) FILTER (WHERE l.pixel_sha256 IN (SELECT pixel_sha256 FROM {table})
                       OR l.phash IN (SELECT phash FROM _hv_leak_matched_arrow)) AS matched
            FROM leak_fingerprints l GROUP BY l.source"""
        )
    finally:
        con.unregister("_hv_leak_near_arrow")
        con.unregister("_hv_leak_matched_arrow")
    return con.table(into)


def leak_check(
    con: duckdb.DuckDBPyConnection,
    against: Sequence[str],
    hamming: int = DEFAULT_HAMMING,
    *,
    table: str = "fingerprints",
    download: DownloadFn | None = None,
    workers: int | None = None,
    progress: bool = False,
    into: str = "leak_hits",
) -> duckdb.DuckDBPyRelation:
    """Load the fingerprints of earlier releases (`against`) into ``leak_fingerprints`` and
    return ``(id, reason, collided_with, distance)`` for each of our images (rows of `table`:
    image_id, pixel_sha256, phash) that appears in them: ``leak_exact`` (same pixels) or
    ``leak_near`` (pHash within `hamming` of any release image). `run_dedup` turns these into
    drops."""
    check_hamming(hamming)  # before the (possibly slow) loading
    load_leak_fingerprints(con, against, download=download, workers=workers, progress=progress)
    return _leak_hits(con, table, hamming, into)


# --------------------------------------------------------------------------- the whole pass


@dataclass
class DedupSummary:
    """Counts of one `run_dedup`; `counts` has every reason of `REASONS` (0 when none)."""

    hamming: int
    plan: str  # how the near-duplicate search ran (BandPlan.describe())
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
    check_hamming(hamming)
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
            _leak_hits(con, "_hv_fp", hamming, "_hv_leak_hits")
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
        plan = near_duplicate_drops(con, "_hv_remaining", hamming, into="_hv_near")
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
            [hamming, plan, list(against)],
        )
        for t in (
            "_hv_leak_hits",
            "_hv_leak_hits_sources",
            "_hv_exact",
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
        plan=plan,
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
