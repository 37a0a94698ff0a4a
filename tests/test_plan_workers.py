"""A large plan made item by item (`ItemRecords`: the images of Dysca or HERM and their
questions) is made by forked worker processes (hvgen.stages.plan_workers): records.jsonl, the catalog and the plan
summary are the same as when this process makes it alone."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest
from herm_coco import write_coco

from hvgen.config import RunConfig
from hvgen.errors import HvgenError
from hvgen.generator import ItemRecords, PlanResult
from hvgen.stages import plan_workers
from hvgen.stages.plan import build_generator, plan_records, run_plan, serialise_records

CONFIG = RunConfig(benchmark="dysca", num=90, seed=7)
FORKS = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="plan workers are forked on Linux only"
)


@pytest.fixture
def small_items(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Workers for a plan of a few dozen images; returns the number of worker plans made."""
    monkeypatch.setattr(plan_workers, "MIN_ITEMS_PER_WORKER", 10)
    made: list[int] = []
    original = plan_workers.stage_in_workers

    def counted(*args, **kwargs):
        parts = original(*args, **kwargs)
        if parts is not None:
            made.append(len(parts))
        return parts

    monkeypatch.setattr("hvgen.stages.plan.stage_in_workers", counted)
    return made


def plan_in(run_dir: Path, cpus: int, monkeypatch: pytest.MonkeyPatch, config: RunConfig = CONFIG):
    monkeypatch.setenv("HVGEN_CPUS", str(cpus))
    return run_plan(run_dir, config)


def catalog_rows(run_dir: Path) -> tuple[list, list]:
    con = duckdb.connect(str(run_dir / "catalog.duckdb"), read_only=True)
    try:
        return con.execute("DESCRIBE records").fetchall(), con.execute("SELECT * FROM records").fetchall()
    finally:
        con.close()


def herm_config(root: Path) -> RunConfig:
    """HERM on 32 COCO photographs: its answer positions are dealt over the whole plan in id order
    (`DealOrder`, made in this process) before the workers word each image's questions."""
    coco = write_coco(root, copies=8)
    options = {"coco_keypoints": str(coco["keypoints"]), "coco_instances": str(coco["instances"]),
               "coco_captions": str(coco["captions"]), "images": str(coco["images"])}  # fmt: skip
    return RunConfig(benchmark="herm", num=100, seed=7, options=options)


@FORKS
@pytest.mark.parametrize("bench", ["dysca", "herm"])
def test_workers_write_the_bytes_one_process_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_items: list[int], bench: str
) -> None:
    config = CONFIG if bench == "dysca" else herm_config(tmp_path / "coco")
    serial = plan_in(tmp_path / "serial", 1, monkeypatch, config)
    assert small_items == [], "one CPU: no worker"
    parallel = plan_in(tmp_path / "parallel", 2, monkeypatch, config)
    # Dysca streams its images to one part per worker as it draws them; HERM's items are ranges.
    assert small_items == [2 if bench == "dysca" else 2 * plan_workers.PARTS_PER_WORKER], (
        "the plan was shared"
    )
    text = (tmp_path / "parallel" / "records.jsonl").read_bytes()
    assert text == (tmp_path / "serial" / "records.jsonl").read_bytes()
    assert text.decode() == serialise_records(plan_records(build_generator(config)))
    assert serial == parallel  # counts, answer balance, warnings and notes
    assert catalog_rows(tmp_path / "parallel") == catalog_rows(tmp_path / "serial")
    assert not list((tmp_path / "parallel").glob(".plan-sort.*")), "the workers' runs are removed"


@FORKS
def test_map_in_workers_returns_each_range_in_item_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """A pass over the items before the records (HERM's deal) in forked workers: each range's
    result, in item order; with one CPU, once over all items in this process."""
    monkeypatch.setattr(plan_workers, "MIN_ITEMS_PER_WORKER", 10)
    items = [f"item {i}" for i in range(45)]

    def work(part: Sequence[str]) -> tuple[int, list[str]]:
        return os.getpid(), list(part)

    monkeypatch.setenv("HVGEN_CPUS", "2")
    shared = plan_workers.map_in_workers(items, work)
    assert len(shared) == 2 * plan_workers.PARTS_PER_WORKER
    assert [item for _, part in shared for item in part] == items
    assert os.getpid() not in {pid for pid, _ in shared}
    monkeypatch.setenv("HVGEN_CPUS", "1")
    assert plan_workers.map_in_workers(items, work) == [(os.getpid(), items)]


@FORKS
def test_short_vocabulary_warnings_count_the_files_workers_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_items: list[int]
) -> None:
    vocab = tmp_path / "vocab"
    vocab.mkdir()
    (vocab / "color.txt").write_text("red\nblue\n", encoding="utf-8")  # 2 items: 2-option questions
    config = RunConfig(benchmark="dysca", num=60, seed=2, vocab_dir=str(vocab))
    serial = plan_in(tmp_path / "serial", 1, monkeypatch, config)
    parallel = plan_in(tmp_path / "parallel", 2, monkeypatch, config)
    assert small_items, "the plan was shared"
    assert any("color.txt" in warning for warning in serial.warnings), serial.warnings
    assert parallel.warnings == serial.warnings


@pytest.mark.parametrize("streamed", [False, True])
def test_an_error_in_a_worker_is_raised_here_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_items: list[int], streamed: bool
) -> None:
    base = build_generator(CONFIG)

    class Failing(type(base)):
        def plan(self) -> PlanResult:
            result = super().plan()
            if streamed:  # images still being drawn when the workers start
                fails = ItemRecords(result.records._each(), self._failing, size=result.records.size)
            else:
                fails = ItemRecords(result.records.every_item(), self._failing)
            return PlanResult(fails, result.warnings, result.notes)

        def _failing(self, image):
            if image.foreground.name == "anime":
                raise HvgenError("an anime image cannot be asked about")
            return self._image_records(image)

    monkeypatch.setenv("HVGEN_CPUS", "2")
    with pytest.raises(HvgenError, match="an anime image cannot be asked about"):
        run_plan(tmp_path, CONFIG, Failing(base.request))
    assert small_items == [] and not (tmp_path / "records.jsonl").exists()
    assert not list(tmp_path.glob(".plan-sort.*")), "the workers' runs are removed"


@FORKS
def test_an_error_drawing_a_streamed_plan_stops_its_workers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_items: list[int]
) -> None:
    """The stage's process fails while the workers stage the first images: it raises, and the
    workers stop (the plan does not hang on them), nothing is written."""
    base = build_generator(CONFIG)

    class Stuck(type(base)):
        def plan(self) -> PlanResult:
            result = super().plan()

            def drawn():
                for index, image in enumerate(result.records._each()):
                    if index == 40:
                        raise HvgenError("the drawing failed")
                    yield image

            return PlanResult(
                ItemRecords(drawn(), self._image_records, size=90), result.warnings, result.notes
            )

    monkeypatch.setenv("HVGEN_CPUS", "2")
    with pytest.raises(HvgenError, match="the drawing failed"):
        run_plan(tmp_path, CONFIG, Stuck(base.request))
    assert small_items == [] and not (tmp_path / "records.jsonl").exists()


def test_streamed_item_records_make_their_items_when_asked() -> None:
    made: list[int] = []

    def items():
        for n in (1, 2, 3):
            made.append(n)
            yield n

    records = ItemRecords(items(), lambda n: [{"id": f"{n}-{i}"} for i in range(n)], size=3)
    assert records.streamed and made == [] and records.size == 3
    assert [r["id"] for r in records.records_in(1, 2)] == ["2-0", "2-1"] and made == [1, 2]
    assert [r["id"] for r in records] == ["1-0", "2-0", "2-1", "3-0", "3-1", "3-2"]
    assert not records.streamed and records.items == [1, 2, 3] and made == [1, 2, 3]
    chunked = ItemRecords(iter(range(5)), lambda n: [], size=5)
    assert list(chunked.chunks(2)) == [[0, 1], [2, 3], [4]] and chunked.every_item() == [0, 1, 2, 3, 4]


def test_item_records_read_as_the_list_of_their_records() -> None:
    records = ItemRecords([1, 2, 3], lambda n: [{"id": f"{n}-{i}"} for i in range(n)])
    assert [r["id"] for r in records] == ["1-0", "2-0", "2-1", "3-0", "3-1", "3-2"]
    assert [r["id"] for r in records.records_in(1, 2)] == ["2-0", "2-1"]
    assert len(records) == 6 and records[-1] == {"id": "3-2"} and records == list(records)


@pytest.mark.parametrize(
    "records",
    [
        [{"id": "a", "n": None}, {"id": "b", "n": 3}, {"id": "c", "n": 2.5}],
        [{"id": "a", "o": []}, {"id": "b", "o": ["x", None]}, {"id": "c", "o": ["y"]}],
        [{"id": "a", "s": {"x": 1}}, {"id": "b", "s": {"y": "z", "x": None}}, {"id": "c", "s": None}],
        [{"id": "a", "f": [{"p": 1}, {"q": True}]}, {"id": "b", "f": [{"q": False, "p": 2}]}, {"id": "c"}],
        [{"id": "a", "t": [True]}, {"id": "b", "t": None}, {"id": "c", "t": [False, None]}],
    ],
)
def test_arrow_types_equal_from_pylist(records: list[dict]) -> None:
    """For the first record's keys (`from_pylist`'s columns; `arrow_types` types every key)."""
    import pyarrow as pa

    from hvgen.stages.plan import arrow_types

    for ordered in (records, records[::-1]):
        types = arrow_types(ordered)
        assert pa.schema([types.field(key) for key in ordered[0]]) == pa.Table.from_pylist(ordered).schema
