"""A benchmark's own numeric option set in a config file's `options:` is checked with the range
its command-line option has, and the error names the file, the key and the option."""

from __future__ import annotations

from pathlib import Path

import pytest

from hvgen.cli import main
from hvgen.generator import get_generator


@pytest.mark.parametrize(
    ("bench", "key", "value", "said"),
    [
        ("faceqa", "per_label", -3, "options.per_label (--per-label) must be a whole number from 1"),
        ("faceqa", "frames", 1, "options.frames (--frames) must be a whole number from 2"),
        ("herm", "min_area", -1, "options.min_area (--min-area) must be a whole number from 0"),
        ("herm", "grounder_threshold", 7.0, "options.grounder_threshold (--grounder-threshold) must be"),
    ],
)
def test_a_config_file_option_out_of_range_names_file_key_and_option(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], bench: str, key: str, value: object, said: str
) -> None:
    path = tmp_path / "run.yaml"
    path.write_text(f"benchmark: {bench}\noptions:\n  {key}: {value}\n")
    with pytest.raises(SystemExit) as refused:
        main(["config", str(path)])
    assert refused.value.code == 2
    assert f"{path}: {said}" in capsys.readouterr().err.replace("\n", " ")


def test_every_range_checked_benchmark_option_is_found() -> None:
    """The parsers are read from the options' declarations (guards that reading itself)."""
    assert set(get_generator("faceqa").option_parsers()) >= {"per_label", "frames"}
    assert set(get_generator("herm").option_parsers()) >= {"min_area", "grounder_threshold"}
