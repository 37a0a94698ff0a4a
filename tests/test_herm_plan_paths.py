"""HERM's faster planning paths agree with the plain ones: a COCO file parsed whole (orjson, or
json without it) reads as the streamed one (and fails with the same messages), the deal pass's unworded specs carry the worded
ones' ids and dealing keys, and image files checked in forked workers give the choice made one
by one."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from herm_coco import write_coco
from hvgen.generators.herm.photos import choose_images
from hvgen.generators.herm.questions import deal_key

from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.readers import coco as coco_reader
from hvgen.readers.coco import read_people
from hvgen.stages import plan_workers


@pytest.fixture(scope="module")
def coco(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_coco(tmp_path_factory.mktemp("coco"), copies=3)


READS = ("orjson", "json", "streamed")
"""How a file is read: parsed whole by orjson, whole by json (orjson not installed), or streamed."""


def read(
    coco: dict[str, Path], how: str, monkeypatch: pytest.MonkeyPatch, keypoints: Path | None = None
) -> Any:
    monkeypatch.setattr(coco_reader, "IN_MEMORY_BYTES", -1 if how == "streamed" else 2**30)
    if how == "json":
        monkeypatch.setitem(sys.modules, "orjson", None)  # `import orjson` raises ImportError
    elif how == "orjson":
        pytest.importorskip("orjson")
    return read_people(keypoints or coco["keypoints"], coco["instances"], coco["captions"], min_area=1024)


@pytest.mark.parametrize("how", READS[:2])
def test_a_file_parsed_whole_reads_as_the_streamed_one(
    coco: dict[str, Path], monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    streamed = read(coco, "streamed", monkeypatch)
    whole = read(coco, how, monkeypatch)
    assert whole.images == streamed.images and whole.counts == streamed.counts
    assert whole.licenses == streamed.licenses and len(whole.images) == 12


@pytest.mark.parametrize("how", READS)
@pytest.mark.parametrize(
    "text, message",
    [
        ("[1, 2]", "its top level is not a JSON object"),
        ('{"categories": {"id": 1}}', "'categories' is an object, not a list"),
        ('{"categories": null}', "'categories' is null, not a list"),
        ('{"images": []}', "no 'categories' list"),
        ('{"categories": [3]}', "'categories' holds a int, not objects"),
        ('{"categories": [{"id": 1, "name": "person"}], "images": "x"}', "'images' is a string, not a list"),
        ('{"categories": [{"id": 1, "name": "person"', "not valid JSON"),
        ('{"categories": [{"id": NaN, "name": "person"}]}', "not valid JSON"),
    ],
)
def test_a_broken_file_is_the_same_error_whole_or_streamed(
    coco: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, message: str, how: str
) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text(text)
    with pytest.raises(HvgenError, match=message):
        read(coco, how, monkeypatch, broken)


@pytest.mark.parametrize("how", READS[:2])
def test_keypoints_with_unlabelled_points_read_the_same_whole_or_streamed(
    coco: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    """Labelled keypoints are kept as given; an unlabelled one (v = 0) is zeroed, whatever its x, y."""
    data = json.loads(coco["keypoints"].read_text())
    data["annotations"][0]["keypoints"][:3] = [12.5, 40, 0]
    data["annotations"][1]["keypoints"][:3] = [7, 8.25, 1]
    changed = tmp_path / "keypoints.json"
    changed.write_text(json.dumps(data))
    streamed = read(coco, "streamed", monkeypatch, changed)
    whole = read(coco, how, monkeypatch, changed)
    assert whole.images == streamed.images
    people = {p.id: p for entry in whole.images.values() for p in entry.people}
    first, second = (people.get(data["annotations"][i]["id"]) for i in (0, 1))
    assert first is None or list(first.keypoint_values[:3]) == [0.0, 0.0, 0.0]
    assert second is None or list(second.keypoint_values[:3]) == [7.0, 8.25, 1.0]


def generator(coco: dict[str, Path], images: Path | None = None) -> Any:
    options = {"coco_keypoints": str(coco["keypoints"]), "coco_instances": str(coco["instances"]),
               "coco_captions": str(coco["captions"]), "images": str(images or coco["images"])}  # fmt: skip
    return get_generator("herm")(PlanRequest(run_seed=3, num=100, options=options))


def test_unworded_specs_have_the_worded_ids_and_dealing_keys(coco: dict[str, Path]) -> None:
    herm = generator(coco)
    data = read_people(coco["keypoints"], coco["instances"], coco["captions"], min_area=1024)
    dealt = 0
    for entry in data.images.values():
        if not entry.people:
            continue
        worded, unworded = herm._image_specs(entry), herm._image_specs(entry, worded=False)
        assert len(worded) == len(unworded)
        keys = [(s.id, deal_key(s)) for s in worded if deal_key(s) is not None]
        assert keys == [(s.id, deal_key(s)) for s in unworded if deal_key(s) is not None]
        dealt += len(keys)
    assert dealt > 20


def test_image_files_checked_in_workers_are_chosen_as_one_by_one(
    coco: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    images = tmp_path / "images"
    shutil.copytree(coco["images"], images)
    names = sorted(path.name for path in images.iterdir())
    (images / names[0]).unlink()  # missing
    (images / names[1]).write_bytes(b"not a jpeg")  # does not decode
    outside = tmp_path / "elsewhere.jpg"
    shutil.move(images / names[2], outside)
    os.symlink(outside, images / names[2])  # a link leading outside --images
    monkeypatch.setattr(plan_workers, "MIN_ITEMS_PER_WORKER", 1)
    forks = []
    original = plan_workers._forked_map
    monkeypatch.setattr(plan_workers, "_forked_map", lambda *args: forks.append(1) or original(*args))

    def choose(cpus: int) -> tuple[Any, ...]:
        monkeypatch.setenv("HVGEN_CPUS", str(cpus))
        herm = generator(coco, images)
        data = read_people(coco["keypoints"], coco["instances"], coco["captions"], min_area=1024)
        chosen, notes = choose_images(herm, data)
        return [e.image.id for e in chosen], notes, data.counts

    serial = choose(1)
    assert not forks
    assert choose(2) == serial and forks
    counts = serial[2]
    assert (
        counts["images_missing"] == 1 and counts["images_undecodable"] >= 1 and counts["images_outside"] == 1
    )
    assert len(serial[0]) == counts["images_planned"] > 0
