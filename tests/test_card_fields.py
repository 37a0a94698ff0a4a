"""Every column a dataset card lists says what it holds: no benchmark's card has an empty field
description (issue 22: HQH's card left `task`, `style`, `seed`, `image_seed` blank)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from herm_coco import write_coco

from hvgen.cli import main
from hvgen.generator import generators
from hvgen.publish.card import COMMON_FIELDS, field_description, schema_properties
from hvgen.stages.export import FRAME_FILES, FRAME_IMAGES, IMAGE_KEY

# columns the export adds to every benchmark's rows (hvgen.stages.export)
ENGINE_COLUMNS = ("scenario", "scenario_params", "image", FRAME_IMAGES, IMAGE_KEY, FRAME_FILES)


@pytest.mark.parametrize("bench", sorted(generators()))
def test_every_field_of_every_benchmark_has_a_description(bench: str) -> None:
    schema = schema_properties(generators()[bench].schema)
    assert schema, f"{bench}: no schema properties found"
    empty = [name for name in [*schema, *ENGINE_COLUMNS] if not field_description(schema, name)]
    assert not empty, f"{bench}: fields without a description in schemas/ or COMMON_FIELDS: {empty}"


def test_engine_descriptions_cover_the_columns_the_export_adds() -> None:
    assert all(COMMON_FIELDS.get(name) for name in ENGINE_COLUMNS)


def test_a_rendered_card_has_no_empty_description(tmp_path: Path) -> None:
    coco = write_coco(tmp_path / "coco")
    out = tmp_path / "run"
    main(["herm", "--quiet", "--coco-keypoints", str(coco["keypoints"]), "--coco-instances", str(coco["instances"]),
          "--coco-captions", str(coco["captions"]), "--images", str(coco["images"]), "--out", str(out)])  # fmt: skip
    card = (out / "export" / "README.md").read_text()
    table = card.split("## Dataset Structure", 1)[1]
    rows = re.findall(r"^\| `([^`]+)` \| ([^|]+) \| (.*) \|$", table, re.MULTILINE)
    assert len(rows) > 20 and {"answer_box", "width", "image_seed"} <= {name for name, _, _ in rows}
    assert [name for name, _, description in rows if not description.strip()] == []
    assert "evaluate the `test` split." in card  # one split: nothing else to choose
