"""`hvgen score` and `hvgen quality` refuse nonsense in one line (issue 21, item 9).

`score herm` used to exit 0 with accuracy 0 on an empty, blank, binary or all-unknown-ids file
(`score faceqa` on all-unknown ids), and a UTF-8 byte-order mark made line 1 "malformed".
`quality` gave reliability 1.000 for one run passed as both forms, a number after warnings when
40 % of a file was another run's, a traceback for `--bootstrap -1`, an out-of-memory kill for a
huge `--bootstrap`, and a numpy warning with an empty row for a NaN criterion.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from face_sources import write_fairface
from herm_coco import write_coco
from quality_helpers import simulate_predictions
from reliability_helpers import one_error_line

from hvgen.cli import main


def _fails(capsys: pytest.CaptureFixture[str], argv: list[str], *expected: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    line = one_error_line(capsys.readouterr().err)
    for text in expected:
        assert text in line, line
    return line


def _records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("score-runs")
    coco = write_coco(root / "coco")
    main(["herm", "--coco-keypoints", str(coco["keypoints"]), "--images", str(coco["images"]),
          "--out", str(root / "herm"), "--dry-run", "-q"])  # fmt: skip
    source = write_fairface(root / "faces")
    main(["faceqa", "--source", f"fairface={source}", "--out", str(root / "faceqa"), "--dry-run", "-q"])
    return {"herm": root / "herm", "faceqa": root / "faceqa"}


NONSENSE = {
    "empty": (b"", "is empty"),
    "blank": (b"\n   \n\t\n", "is empty"),
    "binary": (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)), "binary"),
    "latin-1": ('{"id": "caf\xe9", "prediction": "A"}\n'.encode("latin-1"), "not UTF-8"),
    "unknown ids": (
        b'{"id": "nope-1", "prediction": "A"}\n{"id": "nope-2", "prediction": "B"}\n',
        "none of the 2",
    ),
}


@pytest.mark.parametrize("bench", ["herm", "faceqa"])
@pytest.mark.parametrize("case", sorted(NONSENSE))
def test_nonsense_predictions_are_refused(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], bench: str, case: str
) -> None:
    data, expected = NONSENSE[case]
    predictions = tmp_path / "predictions.jsonl"
    predictions.write_bytes(data)
    _fails(capsys, ["score", bench, str(runs[bench]), str(predictions)], expected)


@pytest.mark.parametrize("bench", ["herm", "faceqa"])
def test_a_byte_order_mark_is_accepted(
    runs: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], bench: str
) -> None:
    records = _records(runs[bench])
    predictions = tmp_path / "predictions.jsonl"
    lines = [json.dumps({"id": r["id"], "prediction": "ABCD"[r["answer_index"]] if r.get("options") else r["answer"]})
             for r in records]  # fmt: skip
    predictions.write_bytes(b"\xef\xbb\xbf" + "\n".join(lines).encode() + b"\n")
    report_path = tmp_path / "report.json"
    main(["score", bench, str(runs[bench]), str(predictions), "--output", str(report_path)])
    report = json.loads(report_path.read_text())
    assert not report["malformed_lines"] and "malformed" not in capsys.readouterr().err


# ------------------------------------------------------------------ quality

SKILLS = {"m1": 0.3, "m2": 0.6, "m3": 0.9}


@pytest.fixture(scope="module")
def forms(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("quality") / "dysca"
    main(["dysca", "--model", "tiny", "--num", "20", "--subtasks", "animal,color", "--question-types", "mc,tf",
          "--forms", "2", "--out", str(out), "--dry-run", "-q"])  # fmt: skip
    return out


def _predictions(forms: Path, folder: Path) -> list[str]:
    args = []
    for index, (model, skill) in enumerate(SKILLS.items()):
        paths = [simulate_predictions(_records(forms / f), skill, index, folder / f"{model}-{f}.jsonl")
                 for f in ("form-a", "form-b")]  # fmt: skip
        args += ["--predictions", f"{model}={paths[0]},{paths[1]}"]
    return args


def test_one_run_as_both_forms_is_refused(
    forms: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    form_a = forms / "form-a"
    args = []
    for index, (model, skill) in enumerate(SKILLS.items()):
        path = simulate_predictions(_records(form_a), skill, index, tmp_path / f"{model}.jsonl")
        args += ["--predictions", f"{model}={path},{path}"]
    _fails(capsys, ["quality", str(form_a), str(form_a), *args, "--json", "-"], "same folder", "--forms 2")
    copy = tmp_path / "copy"
    copy.symlink_to(form_a, target_is_directory=True)
    _fails(capsys, ["quality", str(form_a), str(copy), *args, "--json", "-"], "same folder")


def test_predictions_partly_of_another_run_are_refused(
    forms: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = _predictions(forms, tmp_path)
    own, other = _records(forms / "form-a"), _records(forms / "form-b")
    mixed = tmp_path / "mixed.jsonl"
    keep = own[: int(len(own) * 0.6)]
    foreign = other[: int(len(own) * 0.4)]
    mixed.write_text("".join(json.dumps({"id": r["id"], "prediction": "A"}) + "\n" for r in keep + foreign))
    model, files = args[1].split("=")
    args[1] = f"{model}={mixed},{files.split(',')[1]}"
    _fails(capsys, ["quality", str(forms / "form-a"), str(forms / "form-b"), *args, "--json", "-"],
           "--predictions m1", "answer no question of form A", "at most 5%")  # fmt: skip


@pytest.mark.parametrize("value", ["-1", "0", "99", "1000000000"])
def test_bootstrap_out_of_range_is_one_line(
    forms: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    args = ["quality", str(forms / "form-a"), str(forms / "form-b"), *_predictions(forms, tmp_path)]
    _fails(capsys, [*args, "--bootstrap", value, "--json", "-"], "--bootstrap", "100 to 100,000", value)


@pytest.mark.parametrize("value", ["nan", "inf", "-inf", "NaN"])
def test_a_criterion_that_is_not_a_finite_number(
    forms: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], value: str
) -> None:
    criterion = tmp_path / "criterion.csv"
    criterion.write_text(f"model,score\nm1,1.0\nm2,{value}\nm3,3.0\n")
    args = ["quality", str(forms / "form-a"), str(forms / "form-b"), *_predictions(forms, tmp_path)]
    _fails(capsys, [*args, "--criterion", str(criterion), "--json", "-"], "line 3", "not a finite number")


def test_forms_drawn_from_one_source_say_how_many_questions_they_share(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fairface(tmp_path / "faces")
    for seed in ("2024", "7"):
        main(["faceqa", "--source", f"fairface={source}", "--num", "4", "--seed", seed,
              "--out", str(tmp_path / seed), "--dry-run", "-q"])  # fmt: skip
    ids = [{r["id"] for r in _records(tmp_path / seed)} for seed in ("2024", "7")]
    shared = ids[0] & ids[1]
    assert 0 < len(shared) < len(ids[0])  # 4 of 8 faces each: some drawn by both seeds
    args = []
    for index, (model, skill) in enumerate(SKILLS.items()):
        paths = [simulate_predictions(_records(tmp_path / seed), skill, index, tmp_path / f"{model}-{seed}.jsonl")
                 for seed in ("2024", "7")]  # fmt: skip
        args += ["--predictions", f"{model}={paths[0]},{paths[1]}"]
    capsys.readouterr()
    out = tmp_path / "q.json"
    main(
        [
            "quality",
            str(tmp_path / "2024"),
            str(tmp_path / "7"),
            *args,
            "--bootstrap",
            "100",
            "--json",
            str(out),
        ]
    )
    report = json.loads(out.read_text())
    assert report["shared_questions"]["count"] == len(shared)
    assert "content hashes" in report["shared_questions"]["why"]
    assert f"share {len(shared)} question ids" in capsys.readouterr().err


def test_the_whole_source_asked_twice_is_not_two_forms(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = write_fairface(tmp_path / "faces")
    for seed in ("2024", "7"):  # --num above the source's 8 faces: both seeds take every face
        main(["faceqa", "--source", f"fairface={source}", "--seed", seed, "--out", str(tmp_path / seed),
              "--dry-run", "-q"])  # fmt: skip
    args = []
    for index, (model, skill) in enumerate(SKILLS.items()):
        paths = [simulate_predictions(_records(tmp_path / seed), skill, index, tmp_path / f"{model}-{seed}.jsonl")
                 for seed in ("2024", "7")]  # fmt: skip
        args += ["--predictions", f"{model}={paths[0]},{paths[1]}"]
    _fails(
        capsys,
        ["quality", str(tmp_path / "2024"), str(tmp_path / "7"), *args, "--json", "-"],
        "hold the same",
    )


def test_rendered_forms_share_no_question(forms: Path) -> None:
    ids = [{r["id"] for r in _records(forms / f)} for f in ("form-a", "form-b")]
    assert ids[0] and not ids[0] & ids[1]


def test_quality_still_works(forms: Path, tmp_path: Path) -> None:
    out = tmp_path / "q.json"
    main(["quality", str(forms / "form-a"), str(forms / "form-b"), *_predictions(forms, tmp_path),
          "--bootstrap", "100", "--json", str(out)])  # fmt: skip
    report = json.loads(out.read_text())
    assert report["shared_questions"]["count"] == 0 and report["parallel_forms"]["n_models"] == 3
