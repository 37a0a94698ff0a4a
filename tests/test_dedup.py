"""Dedup / leak check on a tiny catalog of generated images (no network, a few seconds)."""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import duckdb
import imagehash
import numpy as np
import pytest
from PIL import Image, ImageDraw, PngImagePlugin

from hvgen.stages.build.dedup import (
    DEFAULT_HAMMING,
    REASONS,
    duplicate_questions,
    leak_check,
    near_duplicate_drops,
    run_dedup,
)
from hvgen.stages.build.fingerprints import (
    fingerprint_image,
    fingerprint_images,
    phash_from_hex,
    phash_to_hex,
)

N_DISTINCT = 10


def scene(seed: int, size: int = 160) -> Image.Image:
    """A visually distinct picture: a seeded gradient, a few shapes and mild noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    a = rng.uniform(0, 2 * np.pi)
    t = np.cos(a) * x + np.sin(a) * y
    t = (t - t.min()) / (t.max() - t.min())
    arr = rng.integers(0, 256, 3) * (1 - t[..., None]) + rng.integers(0, 256, 3) * t[..., None]
    img = Image.fromarray(arr.astype(np.uint8))
    draw = ImageDraw.Draw(img)
    for _ in range(4):
        x0, y0 = (int(v) for v in rng.integers(0, size - 30, 2))
        box = (x0, y0, x0 + int(rng.integers(20, 100)), y0 + int(rng.integers(20, 100)))
        fill = tuple(int(v) for v in rng.integers(0, 256, 3))
        (draw.ellipse if rng.integers(0, 2) else draw.rectangle)(box, fill=fill)
    noisy = np.asarray(img).astype(float) + rng.normal(0, 4, (size, size, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


def jpeg(img: Image.Image, quality: int = 90) -> Image.Image:
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def noised(img: Image.Image, sigma: float = 2.0) -> Image.Image:
    a = np.asarray(img).astype(float) + np.random.default_rng(99).normal(0, sigma, (img.height, img.width, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


def png_bytes(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, "PNG", **kw)
    return buf.getvalue()


def hamming(a: int, b: int) -> int:
    return bin((a ^ b) & (2**64 - 1)).count("1")


# Images of the test catalog: id -> (picture, how it relates to the others)
def catalog_images() -> dict[str, Image.Image]:
    base = {f"img{i:02d}": scene(i) for i in range(N_DISTINCT)}
    out = dict(base)
    out["img00_exact"] = base["img00"].copy()  # same pixels, written differently below
    out["img01_resized"] = base["img01"].resize((80, 80), Image.BICUBIC)
    out["img02_jpeg90"] = jpeg(base["img02"], 90)
    out["img03_noised"] = noised(base["img03"])
    return out


def write_run(run_dir: Path) -> duckdb.DuckDBPyConnection:
    """A run dir like the render stage writes: images/<shard>/<id>.png + catalog tables."""
    con = duckdb.connect(str(run_dir / "catalog.duckdb"))
    con.execute(
        """CREATE TABLE images(image_id VARCHAR PRIMARY KEY, path VARCHAR, prompt VARCHAR,
           negative_prompt VARCHAR, seed BIGINT)"""
    )
    con.execute(
        """CREATE TABLE records(id VARCHAR PRIMARY KEY, image_id VARCHAR, question VARCHAR,
           options VARCHAR[], answer VARCHAR, question_type VARCHAR, subtask VARCHAR)"""
    )
    for i, (image_id, img) in enumerate(catalog_images().items()):
        rel = Path("images") / f"{i % 2:02d}" / f"{image_id}.png"
        (run_dir / rel).parent.mkdir(parents=True, exist_ok=True)
        if image_id == "img00_exact":  # other compression level + a text chunk: other file bytes
            info = PngImagePlugin.PngInfo()
            info.add_text("comment", "re-encoded")
            img.save(run_dir / rel, compress_level=0, pnginfo=info)
        else:
            img.save(run_dir / rel, compress_level=6)
        con.execute(
            "INSERT INTO images VALUES (?, ?, ?, '', ?)", [image_id, str(rel), f"prompt {image_id}", i]
        )
        con.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, 'multi choice', 'color')",
            [f"r_{image_id}_a", image_id, "What colour is the car?", ["red", "blue", "green"], "red"],
        )
        con.execute(
            "INSERT INTO records VALUES (?, ?, ?, ?, ?, 'true or false', 'color')",
            [f"r_{image_id}_b", image_id, "Is the sky blue?", ["yes", "no"], "yes"],
        )
    # duplicates of the question on img04: punctuation / case / spacing / option order differ
    con.execute(
        "INSERT INTO records VALUES ('r_img04_c', 'img04', '  what COLOUR is the car ', "
        "['Green', 'red', 'blue'], 'Red', 'multi choice', 'color')"
    )
    # not duplicates: other answer, other options
    con.execute(
        "INSERT INTO records VALUES ('r_img04_d', 'img04', 'What colour is the car?', "
        "['red', 'blue', 'green'], 'blue', 'multi choice', 'color')"
    )
    con.execute(
        "INSERT INTO records VALUES ('r_img04_e', 'img04', 'What colour is the car?', "
        "['red', 'blue', 'black'], 'red', 'multi choice', 'color')"
    )
    return con


@pytest.fixture()
def run(tmp_path: Path) -> tuple[Path, duckdb.DuckDBPyConnection]:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    con = write_run(run_dir)
    fingerprint_images(con, run_dir, progress=False)
    yield run_dir, con
    con.close()


def drops(con: duckdb.DuckDBPyConnection, kind: str = "image") -> dict[str, tuple[str, str, int | None]]:
    rows = con.execute(
        "SELECT id, reason, collided_with, distance FROM drops WHERE kind = ?", [kind]
    ).fetchall()
    return {r[0]: (r[1], r[2], r[3]) for r in rows}


# --------------------------------------------------------------------------- fingerprints


def test_fixture_images_are_what_the_tests_assume() -> None:
    """Guard: distinct scenes are far apart, planted copies are within the default threshold."""
    fps = {k: fingerprint_image(v) for k, v in catalog_images().items()}
    distinct = [f"img{i:02d}" for i in range(N_DISTINCT)]
    closest = min(hamming(fps[a].phash, fps[b].phash) for a, b in itertools.combinations(distinct, 2))
    assert closest > DEFAULT_HAMMING + 2
    for copy, orig in [("img01_resized", "img01"), ("img02_jpeg90", "img02"), ("img03_noised", "img03")]:
        assert hamming(fps[copy].phash, fps[orig].phash) <= DEFAULT_HAMMING
        assert fps[copy].pixel_sha256 != fps[orig].pixel_sha256


def test_fingerprint_is_about_pixels_not_files(tmp_path: Path) -> None:
    img = scene(7)
    a, b = tmp_path / "a.png", tmp_path / "b.png"
    img.save(a, compress_level=1)
    img.save(b, compress_level=9)
    assert a.read_bytes() != b.read_bytes()
    fa, fb = fingerprint_image(a), fingerprint_image(b)
    assert fa == fb == fingerprint_image(img) == fingerprint_image(png_bytes(img))
    assert fingerprint_image(img.convert("RGBA")) == fa  # alpha channel ignored
    # a lossy copy: other pixels, near-identical pHash
    fj = fingerprint_image(jpeg(img, 95))
    assert fj.pixel_sha256 != fa.pixel_sha256 and hamming(fj.phash, fa.phash) <= 4
    # same pixels, other size (crop) must not collide on the exact hash
    assert fingerprint_image(img.crop((0, 0, 159, 160))).pixel_sha256 != fa.pixel_sha256


def test_phash_is_imagehash_as_signed_int64() -> None:
    img = scene(3)
    fp = fingerprint_image(img)
    assert -(2**63) <= fp.phash < 2**63
    assert phash_to_hex(fp.phash) == str(imagehash.phash(img)) == fp.phash_hex
    assert phash_from_hex(fp.phash_hex) == fp.phash
    assert phash_from_hex("ffffffffffffffff") == -1
    assert (
        duckdb.sql(f"SELECT bit_count(xor({fp.phash}::BIGINT, {fp.phash ^ 0b1011}::BIGINT))").fetchall()[0][0]
        == 3
    )


def test_fingerprint_images_is_resumable_and_reports_bad_files(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    con = write_run(run_dir)
    total = con.execute("SELECT count(*) FROM images").fetchone()[0]
    assert fingerprint_images(con, run_dir, progress=False) == total
    assert fingerprint_images(con, run_dir, progress=False) == 0  # nothing left to do
    con.execute("DELETE FROM fingerprints WHERE image_id IN ('img05', 'img06')")
    assert fingerprint_images(con, run_dir, progress=False, executor="thread", workers=2) == 2

    # a missing and a corrupt file: the rest is still saved, one error names both
    con.execute("INSERT INTO images VALUES ('ghost', 'images/00/ghost.png', '', '', 0)")
    (run_dir / "images/00/broken.png").write_bytes(b"not a png")
    con.execute("INSERT INTO images VALUES ('broken', 'images/00/broken.png', '', '', 0)")
    con.execute("INSERT INTO images VALUES ('late', 'images/00/late.png', '', '', 0)")
    scene(50).save(run_dir / "images/00/late.png")
    with pytest.raises(ValueError, match=r"could not fingerprint 2 of 3") as err:
        fingerprint_images(con, run_dir, progress=False)
    assert "ghost" in str(err.value) and "broken" in str(err.value)
    assert con.execute("SELECT count(*) FROM fingerprints WHERE image_id = 'late'").fetchone()[0] == 1
    con.close()


def test_process_pool_gives_the_same_fingerprints(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    con = write_run(run_dir)
    fingerprint_images(con, run_dir, progress=False, executor="process", workers=2)
    got = dict(con.execute("SELECT image_id, phash FROM fingerprints").fetchall())
    expected = {k: fingerprint_image(v).phash for k, v in catalog_images().items()}
    assert got == expected
    con.close()


# --------------------------------------------------------------------------- near duplicates
# (the search itself, against a brute force of the rule: tests/test_near_duplicates.py)


def test_near_duplicate_drops_in_sql_follow_id_order_without_chaining() -> None:
    """a~b~c (a and c far apart) keeps a and c; ids are visited in id order, not row order."""
    a = 0x0F0F_0F0F_0F0F_0F0F
    b = a ^ 0b111  # 3 bits from a
    c = b ^ (0b111 << 8)  # 3 bits from b, 6 from a
    far = ~a & (2**64 - 1)
    rows = [("c", c), ("far", far), ("b", b), ("a", a), ("a_copy", a), ("nohash", None)]
    con = duckdb.connect()
    con.execute("CREATE TABLE f(image_id VARCHAR, phash BIGINT)")
    con.executemany(
        "INSERT INTO f VALUES (?, ?)", [(i, None if h is None else h - 2**64 * (h >= 2**63)) for i, h in rows]
    )
    plan = near_duplicate_drops(con, "f", 4, into="nd")
    assert sorted(con.execute("SELECT * FROM nd").fetchall()) == [("a_copy", "a", 0), ("b", "a", 3)]
    near_duplicate_drops(con, "f", 6, into="nd")  # now c is within 6 of the kept a
    assert sorted(con.execute("SELECT * FROM nd").fetchall()) == [
        ("a_copy", "a", 0),
        ("b", "a", 3),
        ("c", "a", 6),
    ]
    assert isinstance(plan, str) and plan
    with pytest.raises(ValueError, match="hamming must be an integer between 0 and 32"):
        near_duplicate_drops(con, "f", 33)


# --------------------------------------------------------------------------- the whole pass


def test_run_dedup_finds_planted_duplicates_and_keeps_distinct_images(run) -> None:
    run_dir, con = run
    n_images = con.execute("SELECT count(*) FROM images").fetchone()[0]
    n_records = con.execute("SELECT count(*) FROM records").fetchone()[0]
    summary = run_dedup(con, hamming=DEFAULT_HAMMING)

    img = drops(con)
    assert img == {
        "img00_exact": ("exact_duplicate", "img00", 0),
        "img01_resized": ("near_duplicate", "img01", img["img01_resized"][2]),
        "img02_jpeg90": ("near_duplicate", "img02", img["img02_jpeg90"][2]),
        "img03_noised": ("near_duplicate", "img03", img["img03_noised"][2]),
    }
    assert all(0 <= img[k][2] <= DEFAULT_HAMMING for k in img)
    kept = {r[0] for r in con.execute("SELECT image_id FROM kept_images").fetchall()}
    assert kept == {f"img{i:02d}" for i in range(N_DISTINCT)}

    rec = drops(con, "record")
    for image_id in img:
        assert rec[f"r_{image_id}_a"] == ("dropped_image", image_id, None)
    assert rec["r_img04_c"] == ("duplicate_question", "r_img04_a", None)
    assert "r_img04_d" not in rec and "r_img04_e" not in rec  # other answer / other options

    assert summary.counts == {
        "unreadable_source": 0,
        "leak_exact": 0,
        "leak_near": 0,
        "exact_duplicate": 1,
        "near_duplicate": 3,
        "dropped_image": 8,
        "duplicate_question": 1,
    }
    assert set(summary.counts) == set(REASONS)
    assert (summary.images_total, summary.images_kept) == (n_images, N_DISTINCT)
    assert (summary.records_total, summary.records_kept) == (n_records, n_records - 9)
    # the catalog itself is untouched
    assert con.execute("SELECT count(*) FROM images").fetchone()[0] == n_images
    assert con.execute("SELECT count(*) FROM records").fetchone()[0] == n_records
    assert con.execute("SELECT count(*) FROM kept_records").fetchone()[0] == n_records - 9


def test_rebuild_with_another_threshold_changes_only_drops(run) -> None:
    run_dir, con = run
    run_dedup(con, hamming=DEFAULT_HAMMING)
    first = drops(con)
    run_dedup(con, hamming=0)  # exact pHash only: the near duplicates come back
    second = drops(con)
    assert set(second) == {"img00_exact"} | {k for k, v in first.items() if v[2] == 0}
    assert "img01_resized" not in second or first["img01_resized"][2] == 0
    assert con.execute("SELECT count(*) FROM images").fetchone()[0] == 14
    assert con.execute("SELECT hamming FROM dedup_runs").fetchall() == [(0,)]
    run_dedup(con, hamming=DEFAULT_HAMMING)
    assert drops(con) == first  # deterministic
    # reopen the file: drops and the views persist for the export stage
    con.close()
    con2 = duckdb.connect(str(run_dir / "catalog.duckdb"))
    assert con2.execute("SELECT count(*) FROM kept_images").fetchone()[0] == N_DISTINCT
    con2.close()


def test_run_dedup_needs_fingerprints_or_run_dir(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    con = write_run(run_dir)
    with pytest.raises(ValueError, match="have no fingerprint yet"):
        run_dedup(con)
    summary = run_dedup(con, run_dir=run_dir)
    assert summary.images_kept == N_DISTINCT
    con.close()


def test_duplicate_questions_standalone() -> None:
    con = duckdb.connect()
    con.execute(
        "CREATE TABLE records(id VARCHAR, image_id VARCHAR, question VARCHAR, options VARCHAR[], answer VARCHAR)"
    )
    con.executemany(
        "INSERT INTO records VALUES (?, ?, ?, ?, ?)",
        [
            ("q1", "i1", "How many dogs are there?", ["1", "2"], "2"),
            ("q2", "i1", "how many dogs, are there", ["2", "1"], " 2 "),
            ("q0", "i1", "HOW   MANY DOGS ARE THERE?!", ["2", "1"], "2"),
            ("q3", "i2", "How many dogs are there?", ["1", "2"], "2"),  # other image
            ("q4", "i1", "Describe the image.", None, "a dog"),  # free form: no options
            ("q5", "i1", "describe the image", [], "A dog"),
            ("q6", "i1", "Is it 3.5?", ["3.5", "35"], "3.5"),
            ("q7", "i1", "Is it 3.5?", ["3.5", "35"], "35"),  # other answer
        ],
    )
    got = sorted(duplicate_questions(con).fetchall())
    assert got == [("q1", "q0"), ("q2", "q0"), ("q5", "q4")]


# --------------------------------------------------------------------------- leak check


def write_export(folder: Path, images: dict[str, Image.Image]) -> Path:
    """An earlier release as `datasets` writes it: README.md + data/<config>/<split>-*.parquet."""
    from datasets import Dataset, Features, Value
    from datasets import Image as ImageFeature

    (folder / "data" / "clean").mkdir(parents=True, exist_ok=True)
    (folder / "README.md").write_text("---\nconfigs: []\n---\n")
    ds = Dataset.from_dict(
        {
            "id": list(images),
            "image": [{"bytes": png_bytes(im), "path": None} for im in images.values()],
        },
        features=Features({"id": Value("string"), "image": ImageFeature()}),
    )
    out = folder / "data" / "clean" / "test-00000-of-00001.parquet"
    ds.to_parquet(str(out))
    return out


def test_leak_check_against_a_previous_export_drops_the_overlap(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir, con = run
    ours = catalog_images()
    old = tmp_path / "old_release"
    write_export(
        old,
        {
            "old_a": ours["img05"],  # same pixels -> leak_exact
            "old_b": jpeg(ours["img06"], 90),  # lossy copy -> leak_near
            "old_c": scene(1000),  # unrelated
        },
    )
    summary = run_dedup(con, hamming=DEFAULT_HAMMING, against=[str(old)])
    img = drops(con)
    assert img["img05"][0] == "leak_exact" and img["img05"][2] == 0
    assert img["img05"][1].startswith(str(old)) and "#0" in img["img05"][1]
    assert img["img06"][0] == "leak_near" and 0 <= img["img06"][2] <= DEFAULT_HAMMING
    assert summary.counts["leak_exact"] == 1 and summary.counts["leak_near"] == 1
    assert summary.images_kept == N_DISTINCT - 2 and summary.leak_fingerprints == 3
    assert con.execute("SELECT count(*) FROM leak_fingerprints").fetchone()[0] == 3
    # the other passes are unchanged
    assert img["img00_exact"][0] == "exact_duplicate" and img["img03_noised"][0] == "near_duplicate"
    # a rebuild does not decode the old release again (cached per file, size and mtime)
    import hvgen.stages.build.leak_sources

    def no_decoding(*a, **k):
        raise AssertionError("decoded a cached file again")

    monkeypatch.setattr(hvgen.stages.build.leak_sources, "map_fingerprints", no_decoding)
    assert run_dedup(con, hamming=4, against=[str(old)]).counts["leak_exact"] == 1
    monkeypatch.undo()
    # without --against the leak drops disappear again (recomputed from scratch)
    run_dedup(con, hamming=DEFAULT_HAMMING)
    assert (
        "img05" not in drops(con) and con.execute("SELECT count(*) FROM leak_fingerprints").fetchone()[0] == 0
    )


def test_leak_sources_hash_lists_globs_and_hub(run, tmp_path: Path) -> None:
    run_dir, con = run
    fps = dict(con.execute("SELECT image_id, pixel_sha256 FROM fingerprints").fetchall())
    phs = dict(con.execute("SELECT image_id, phash FROM fingerprints").fetchall())
    txt = tmp_path / "hashes.txt"
    txt.write_text(
        f"# released hashes\n{fps['img07']}\n\nphash:{phash_to_hex(phs['img08'] ^ 0b11)}  # near\n"
    )
    csv = tmp_path / "hashes.csv"
    csv.write_text(f"pixel_sha256,phash\n{fps['img09']},\n,{phs['img04']}\n")
    pq_dir = tmp_path / "pq"
    pq_dir.mkdir()
    duckdb.sql(f"COPY (SELECT '{phash_to_hex(phs['img01'])}' AS phash) TO '{pq_dir / 'h.parquet'}'")

    hits = leak_check(
        con, [str(txt), str(csv), str(pq_dir / "*.parquet")], DEFAULT_HAMMING, table="fingerprints"
    )
    got = {r[0]: (r[1], r[3]) for r in hits.fetchall()}
    assert got["img07"] == ("leak_exact", 0)
    assert got["img08"] == ("leak_near", 2)
    assert got["img09"] == ("leak_exact", 0)
    assert got["img04"] == ("leak_near", 0)
    assert got["img01"] == ("leak_near", 0)
    # the resized copy of img01 is near its pHash too
    assert got["img01_resized"][0] == "leak_near"

    # a Hub dataset id goes through the injected downloader (never the network in tests)
    export = tmp_path / "snapshot"
    write_export(export, {"x": catalog_images()["img02"]})
    calls: list[dict] = []

    def fake_download(**kw):
        calls.append(kw)
        return str(export)

    hits = leak_check(con, ["someone/old-dysca@v1"], download=fake_download)
    assert calls[0]["repo_id"] == "someone/old-dysca" and calls[0]["repo_type"] == "dataset"
    assert calls[0]["revision"] == "v1"
    assert {r[0] for r in hits.fetchall()} >= {"img02"}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: str(p / "nope"), "no such file or folder"),
        (lambda p: str(p / "empty_dir"), "no \\*.parquet files"),
        (lambda p: str(p / "*.nothing"), "matched no files"),
        (lambda p: str(p / "bad.txt"), "neither a 64-hex-digit"),
        (lambda p: str(p / "cols.csv"), "no pixel_sha256 or phash column"),
        (lambda p: str(p / "noimg.parquet"), "neither an image column"),
        (lambda p: "someone/missing-dataset", "downloading it as Hub dataset"),
    ],
)
def test_bad_leak_sources_raise_one_clear_error(run, tmp_path: Path, make, message: str) -> None:
    run_dir, con = run
    (tmp_path / "empty_dir").mkdir()
    (tmp_path / "bad.txt").write_text("abc123\n")
    (tmp_path / "cols.csv").write_text("a,b\n1,2\n")
    duckdb.sql(f"COPY (SELECT 1 AS x) TO '{tmp_path / 'noimg.parquet'}'")

    def offline(**kw):
        raise ConnectionError("Hub unreachable")

    run_dedup(con)
    before = drops(con)
    assert before
    with pytest.raises(ValueError, match=message) as err:
        run_dedup(con, against=[make(tmp_path)], download=offline)
    assert "leak source" in str(err.value)
    assert drops(con) == before  # a failed rebuild leaves the previous drops


def test_summary_table_renders() -> None:
    from rich.console import Console

    from hvgen.stages.build.dedup import DedupSummary

    s = DedupSummary(6, "4 bands", ("old",), 10, 8, 20, 15, 3, dict.fromkeys(REASONS, 1))
    console = Console(record=True, width=120)
    console.print(s.summary_table())
    text = console.export_text()
    assert "near_duplicate" in text and "8 / 10" in text and "Hamming ≤ 6" in text
