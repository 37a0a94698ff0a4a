"""Leak-check sources: earlier releases (export folders, parquet files, globs, Hub dataset ids) and
hash lists, read into the catalog table ``leak_fingerprints(source, pixel_sha256, phash, ref)``.

A separate job from deciding what to drop (`hvgen.stages.build.dedup`): resolving a SOURCE,
decoding an earlier release's images (cached per file, size and mtime, since that is the slow
part) and validating hash lists, with one clear error per bad source.
"""

from __future__ import annotations

import glob
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from hvgen.progress import progress_bar
from hvgen.stages.build.fingerprints import map_fingerprints, phash_from_hex

__all__ = ["HASH_FORMAT", "LEAK_DDL", "DownloadFn", "load_leak_fingerprints"]

LEAK_DDL = """
CREATE TABLE IF NOT EXISTS leak_fingerprints (
    source VARCHAR NOT NULL,        -- the --against argument it came from
    pixel_sha256 VARCHAR,           -- NULL when the source only lists pHashes
    phash BIGINT,                   -- NULL when the source only lists sha256s
    ref VARCHAR                     -- where in the source: file#row or file:line
)
"""

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
