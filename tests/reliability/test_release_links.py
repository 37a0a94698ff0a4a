"""A release given to `hvgen twins` is what lies in its folder: a parquet file or card linked in
from elsewhere is refused in one line, not turned into twin records."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from hvgen.errors import HvgenError
from hvgen.twins.release import _read_export


def _export(root: Path) -> Path:
    data = root / "export" / "data" / "clean"
    data.mkdir(parents=True)
    row = {"id": "q1", "image_id": "i1", "scenario": "clean", "question": "?", "options": ["a", "b"]}
    pq.write_table(pa.Table.from_pylist([row]), data / "test-00000-of-00001.parquet")
    return root / "export"


def test_a_parquet_linked_in_from_outside_is_refused(tmp_path: Path) -> None:
    export = _export(tmp_path / "release")
    outside = tmp_path / "elsewhere.parquet"
    pq.write_table(pa.Table.from_pylist([{"id": "secret", "scenario": "clean"}]), outside)
    (export / "data" / "clean" / "test-00001-of-00001.parquet").symlink_to(outside)
    with pytest.raises(HvgenError, match="leads outside the release folder"):
        _read_export(export)


def test_a_card_linked_in_from_outside_is_refused(tmp_path: Path) -> None:
    export = _export(tmp_path / "release")
    (tmp_path / "other.md").write_text("---\n---\n")
    (export / "README.md").symlink_to(tmp_path / "other.md")
    with pytest.raises(HvgenError, match="leads outside the release folder"):
        _read_export(export)
