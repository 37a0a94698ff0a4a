"""hvgen faceqa over every real reader's fixture (tests/face_sources.py): each source's release
layout → one run → every task config exported and read back by `load_dataset`; no identity in
two splits; the licence gate holds for the sources that forbid redistribution."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import duckdb
import pytest
from datasets import load_dataset
from face_sources import write_all_sources

from hvgen.cli import main
from hvgen.publish.licence_gate import unredistributable_images


def _hvgen(*args: str) -> int:
    try:
        main(list(args))
    except SystemExit as done:
        return int(done.code or 0)
    return 0


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("face-sources")
    sources = write_all_sources(root / "data")
    out = root / "run"
    args = [arg for name, folder in sorted(sources.items()) for arg in ("--source", f"{name}={folder}")]
    assert _hvgen("faceqa", *args, "--num", "40", "--frames", "2", "--out", str(out)) == 0
    return out


@pytest.mark.heavy
def test_every_reader_feeds_the_export_and_load_dataset_reads_every_config(run: Path) -> None:
    card = (run / "export" / "README.md").read_text(encoding="utf-8")
    configs = [
        line.split(":", 1)[1].strip() for line in card.splitlines() if line.startswith("- config_name:")
    ]
    expected = {"attribute", "age", "gender", "expression", "verification", "forgery", "forgery_method"}
    assert expected <= set(configs), configs
    assert "dynamic_expression" in configs
    sources_seen = set()
    for name in configs:
        rows = load_dataset(str(run / "export"), name)
        table = next(iter(rows.values()))
        assert table.num_rows > 0, name
        sources_seen |= set(table["source"])
    # every reader contributed questions (the `images` source has no labels, so no question)
    with duckdb.connect(str(run / "catalog.duckdb"), read_only=True) as con:
        planned = {row[0] for row in con.execute("SELECT DISTINCT source FROM records").fetchall()}
    assert planned == sources_seen
    assert planned >= {"fairface", "utkface", "celeba", "rafdb", "affectnet", "ferplus", "lfw", "ffpp",
                       "celebdf", "dfdc", "ffiw", "dfew", "mafw", "ferv39k"}  # fmt: skip


@pytest.mark.heavy
def test_no_identity_crosses_splits_and_restricted_images_stay_home(run: Path) -> None:
    splits: dict[tuple[str, str], set[str]] = defaultdict(set)
    for line in (run / "records.jsonl").read_text(encoding="utf-8").splitlines():
        record = json.loads(line)
        for identity in [record.get("identity"), *record.get("pair_identities", [])]:
            if identity:
                splits[(record["source"], identity)].add(record["split"])
    assert splits and all(len(found) == 1 for found in splits.values()), {
        key: found for key, found in splits.items() if len(found) > 1
    }
    assert unredistributable_images(run / "export") == []  # only FairFace's images are embedded


def test_reader_options_follow_the_folder(tmp_path: Path) -> None:
    from face_sources import write_dfew, write_ffpp

    from hvgen.errors import HvgenError
    from hvgen.generators.faceqa_sources import open_readers, parse_source_specs

    dfew, ffpp = write_dfew(tmp_path / "dfew"), write_ffpp(tmp_path / "ffpp")
    specs = parse_source_specs([f"dfew={dfew},fold=1", f"ffpp={ffpp},methods=Deepfakes+FaceSwap"])
    assert specs["dfew"].options == {"fold": "1"}
    assert specs["ffpp"].options == {"methods": ["Deepfakes", "FaceSwap"]}
    readers = open_readers(specs)
    methods = {s.labels.get("manipulation") for s in readers["ffpp"].samples()}
    assert methods == {None, "Deepfakes", "FaceSwap"}
    with pytest.raises(HvgenError, match="unknown option 'fld'; the dfew reader takes fold, frames_cache"):
        parse_source_specs([f"dfew={dfew},fld=2"])
