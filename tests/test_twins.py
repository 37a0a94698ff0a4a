"""Twin splits of a tiny Dysca release (`hvgen twins`) and `hvgen contamination` on them.

A small rendered release (12 images, clean + print) checks what a twin is — every record field
kept but the image seed, the scenario draws kept, new pixels, a card that names the release —
and that harness outputs (VLMEvalKit's prediction spreadsheets, lmms-eval's logged samples from a
real lmms-eval run) give the same report as hvgen's own predictions. A planned-only release of
2,000 choice questions (340 images: simulated models do not look at pixels) checks the test's
calibration on the real structure of a Dysca release: clean models flagged at no more than the
nominal rate over repeated seeds, a model that memorised 20 % of it flagged.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from hvgen.analysis.contamination.assess import EVIDENCE, assess
from hvgen.analysis.contamination.simulate import ItemStructure, SimulatedModel, SimulatedRelease, simulate
from hvgen.cli import main
from hvgen.errors import HvgenError

pytestmark = pytest.mark.heavy
LETTERS = "ABCDEFGH"
HAS_LMMS_EVAL = importlib.util.find_spec("lmms_eval") is not None


def records(run: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run / "records.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A rendered release with its harness formats, and its twins (seed 1)."""
    root = tmp_path_factory.mktemp("twins")
    release, twins = root / "release", root / "twins"
    tiny = ["--model", "tiny", "--steps", "2"]
    main(["dysca", *tiny, "--num", "12", "--scenario", "clean,print", "--out", str(release)])
    main(["export", str(release), "--format", "vlmevalkit", "--format", "lmms-eval", "--format", "dysca"])
    main(["twins", str(release), "--out", str(twins)])
    return release, twins


def test_twins_keep_every_field_but_the_image_seed(pair: tuple[Path, Path]) -> None:
    release, twins = pair
    ours, theirs = records(release), records(twins)
    assert [r["id"] for r in ours] == [r["id"] for r in theirs]
    for old, new in zip(ours, theirs):
        assert {key for key in old if old[key] != new[key]} == {"image_seed"}
    # the release's formats come along, so each harness runs on the twins the same way
    assert sorted(p.name for p in (twins / "formats").iterdir()) == ["dysca", "lmms-eval", "vlmevalkit"]


def _rows(run: Path, config: str) -> dict[str, dict[str, Any]]:
    table = pq.read_table(sorted((run / "export" / "data" / config).glob("*.parquet")))
    return {row["id"]: row for row in table.to_pylist()}


def test_twin_images_are_new_and_scenario_draws_the_same(pair: tuple[Path, Path]) -> None:
    release, twins = pair
    for config in ("clean", "print"):
        ours, theirs = _rows(release, config), _rows(twins, config)
        assert ours.keys() == theirs.keys()
        for key, row in ours.items():
            assert row["scenario_params"] == theirs[key]["scenario_params"]  # same printed text, placement
            assert (
                hashlib.sha256(row["image"]["bytes"]).digest()
                != hashlib.sha256(theirs[key]["image"]["bytes"]).digest()
            )


def test_twin_card_names_the_release_seed_and_method(pair: tuple[Path, Path]) -> None:
    release, twins = pair
    card = (twins / "export" / "README.md").read_text()
    assert "## Twin split" in card and f"release `{release.name}`" in card and "twin seed 1" in card
    assert "@misc{dysca_twins_1" in card and str(release.parent) not in card  # no machine path
    config = (twins / "config.yaml").read_text()
    assert "records_sha256" in config and "seed: 1" in config


def test_every_release_layout_gives_the_same_twins(pair: tuple[Path, Path], tmp_path: Path) -> None:
    """Read from the run, its export or its Dysca-format folder: byte-identical twin plans; another
    twin seed: other image seeds only."""
    release, twins = pair
    expected = (twins / "records.jsonl").read_bytes()
    for source in (release / "export", release / "formats" / "dysca"):
        out = tmp_path / source.name
        main(["twins", str(source), "--out", str(out), "--dry-run"])
        assert (out / "records.jsonl").read_bytes() == expected, source
    main(["twins", str(release), "--out", str(tmp_path / "seed2"), "--seed", "2", "--dry-run"])
    other = records(tmp_path / "seed2")
    assert all(a["image_seed"] != b["image_seed"] for a, b in zip(records(twins), other))


def test_a_rendered_release_takes_no_source_photographs(pair: tuple[Path, Path], tmp_path: Path) -> None:
    from hvgen.twins.command import make_twins

    with pytest.raises(HvgenError, match="is rendered"):
        make_twins(pair[0], tmp_path / "t", sources={"coco_keypoints": "k.json"}, dry_run=True)
    assert not (tmp_path / "t").exists()


def test_photographs_need_the_release_configuration() -> None:
    """Photographic twins (tests/test_photo_twins.py) are drawn with the release's settings: a
    photographic release whose configuration is unknown is refused."""
    from hvgen.twins.command import is_photographic, photo_twin_config
    from hvgen.twins.release import Release

    release = Release("herm", [], ["clean"], None, "r", "export")
    assert is_photographic(release)
    with pytest.raises(HvgenError, match="its run configuration is unknown"):
        photo_twin_config(release, 1, {})


# ------------------------------------------------------------------ harness outputs


def _answer(record: dict[str, Any], right: bool) -> str:
    index = record["answer_index"] if right else (record["answer_index"] + 1) % len(record["options"])
    return f"({LETTERS[index]})"


def _simulated_answers(run: Path, seed: int) -> dict[str, dict[str, bool]]:
    """model → question id → right, per side: two clean models and one that memorised 60 %."""
    rng = np.random.default_rng(seed)
    out: dict[str, dict[str, bool]] = {}
    ids = [r["id"] for r in records(run) if r["options"]]
    for model, (p_release, p_twins) in {"a": (0.6, 0.6), "b": (0.7, 0.7), "memo": (1.0, 0.4)}.items():
        for side, p in (("release", p_release), ("twins", p_twins)):
            out[f"{model}/{side}"] = {i: bool(rng.random() < p) for i in ids}
    return out


def _write_jsonl(run: Path, right: dict[str, bool], path: Path) -> Path:
    lines = []
    for record in records(run):
        if record["options"]:
            for scenario in ("clean", "print"):
                lines.append(
                    {
                        "id": record["id"],
                        "prediction": _answer(record, right[record["id"]]),
                        "scenario": scenario,
                    }
                )
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _write_vlmevalkit(run: Path, right: dict[str, bool], folder: Path) -> Path:
    """VLMEvalKit's prediction files: the data set's TSV without `image`, plus `prediction`."""
    folder.mkdir(parents=True)
    by_id = {r["id"]: r for r in records(run)}
    for tsv in sorted((run / "formats" / "vlmevalkit").glob("*.tsv")):
        frame = pd.read_csv(tsv, sep="\t", dtype={"id": str}, keep_default_na=False).drop(columns=["image"])
        if tsv.stem.endswith("_VQA"):
            continue
        frame["prediction"] = [_answer(by_id[i], right[i]) for i in frame["id"]]
        frame.to_excel(folder / f"model_{tsv.stem}.xlsx", index=False)
    return folder


def _write_lmms_eval(run: Path, right: dict[str, bool], folder: Path) -> Path:
    """A real lmms-eval run (`simple_evaluate` with --log_samples' tracker) with a fake model."""
    from lmms_eval import evaluator
    from lmms_eval.api.model import lmms
    from lmms_eval.loggers import EvaluationTracker
    from lmms_eval.tasks import TaskManager

    by_id = {r["id"]: r for r in records(run)}

    class Fake(lmms):
        def loglikelihood(self, requests: list[Any]) -> list[Any]:
            raise NotImplementedError

        def generate_until_multi_round(self, requests: list[Any]) -> list[Any]:
            raise NotImplementedError

        def generate_until(self, requests: list[Any]) -> list[str]:
            answers = []
            for request in requests:
                _context, _kwargs, _visual, doc_id, task, split = request.args
                doc = self.task_dict[task][split][doc_id]
                record = by_id[doc["id"]]
                answers.append(_answer(record, right[doc["id"]]) if record["options"] else "a caption")
            return answers

    manager = TaskManager("WARNING", include_path=str(run / "formats" / "lmms-eval"), include_defaults=False)
    result = evaluator.simple_evaluate(
        model=Fake(),
        tasks=["Dysca"],
        task_manager=manager,
        bootstrap_iters=0,
        log_samples=True,
        verbosity="WARNING",
    )
    tracker = EvaluationTracker(output_path=str(folder))
    tracker.general_config_tracker.model_name_sanitized = "fake"
    tracker.date_id = "20260101_000000"
    samples = result.pop("samples")
    for task in result["configs"]:
        tracker.save_results_samples(task_name=task, samples=samples[task])
    return folder / "fake"


@pytest.mark.skipif(not HAS_LMMS_EVAL, reason='lmms-eval is not installed (pip install ".[harness]")')
def test_two_harnesses_give_the_report_hvgen_predictions_give(
    pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    release, twins = pair
    answers = _simulated_answers(release, seed=0)
    monkeypatch.chdir(tmp_path)  # lmms-eval's task writes submissions/ in the working directory
    options = []
    for model in ("a", "b", "memo"):
        rel, tw = answers[f"{model}/release"], answers[f"{model}/twins"]
        if model == "a":
            files = (
                _write_vlmevalkit(release, rel, tmp_path / "a_rel"),
                _write_vlmevalkit(twins, tw, tmp_path / "a_tw"),
            )
        elif model == "b":
            files = (
                _write_lmms_eval(release, rel, tmp_path / "b_rel"),
                _write_lmms_eval(twins, tw, tmp_path / "b_tw"),
            )
        else:
            files = (
                _write_jsonl(release, rel, tmp_path / "memo_rel.jsonl"),
                _write_jsonl(twins, tw, tmp_path / "memo_tw.jsonl"),
            )
        options += ["--predictions", f"{model}={files[0]},{files[1]}"]
    main(
        [
            "contamination",
            "--release",
            str(release),
            "--twins",
            str(twins),
            *options,
            "--json",
            str(tmp_path / "h.json"),
        ]
    )
    harness = json.loads((tmp_path / "h.json").read_text())
    plain = []
    for model in ("a", "b", "memo"):
        files = [
            _write_jsonl(run, answers[f"{model}/{side}"], tmp_path / f"{model}_{side}.jsonl")
            for run, side in ((release, "release"), (twins, "twins"))
        ]
        plain += ["--predictions", f"{model}={files[0]},{files[1]}"]
    main(
        [
            "contamination",
            "--release",
            str(release),
            "--twins",
            str(twins),
            *plain,
            "--json",
            str(tmp_path / "p.json"),
        ]
    )
    reference = json.loads((tmp_path / "p.json").read_text())
    for model in ("a", "b", "memo"):
        assert harness["models"][model]["overall"] == reference["models"][model]["overall"], model
        assert harness["models"][model]["verdict"] == reference["models"][model]["verdict"]
        assert harness["models"][model]["files"]["release"]["n_missing"] == 0
    assert "VLMEvalKit" in " ".join(harness["models"]["a"]["files"]["release"]["read"])
    assert "lmms-eval" in " ".join(harness["models"]["b"]["files"]["twins"]["read"])
    assert harness["models"]["memo"]["verdict"] == EVIDENCE
    assert (twins / "contamination" / "gaps.png").is_file()  # the twin run keeps the plot


def test_the_release_given_as_its_own_twins_is_refused(pair: tuple[Path, Path], tmp_path: Path) -> None:
    release, _ = pair
    preds = _write_jsonl(release, _simulated_answers(release, 1)["a/release"], tmp_path / "p.jsonl")
    from hvgen.analysis.contamination.command import run_contamination

    with pytest.raises(HvgenError, match="release itself"):
        run_contamination(release, release, [f"m={preds},{preds}"])


# ------------------------------------------------------------------ calibration on a 2,000-question release


@pytest.fixture(scope="module")
def planned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A planned (not rendered) tiny Dysca release of ~2,000 choice questions and its twins."""
    root = tmp_path_factory.mktemp("planned")
    release, twins = root / "release", root / "twins"
    main(["dysca", "--model", "tiny", "--num", "340", "--question-types", "multi choice,true or false",
          "--out", str(release), "--dry-run"])  # fmt: skip
    main(["twins", str(release), "--out", str(twins), "--dry-run"])
    return release, twins


def _structure(run: Path) -> ItemStructure:
    chosen = [r for r in records(run) if r["options"]]
    images = sorted({r["image_id"] for r in chosen})
    index = {image: i for i, image in enumerate(images)}
    return ItemStructure(
        keys=tuple(r["id"] for r in chosen),
        clusters=np.array([index[r["image_id"]] for r in chosen]),
        cluster_names=tuple(images),
        groups=tuple(r["subtask"] for r in chosen),
    )


def test_clean_models_on_a_dysca_release_are_flagged_at_most_at_the_nominal_rate(
    planned: tuple[Path, Path],
) -> None:
    """Five clean models of different abilities on the real questions and images of the release,
    200 seeds: the share of "evidence" verdicts is within alpha + 3 Monte-Carlo standard errors."""
    structure = _structure(planned[0])
    assert 1900 <= len(structure.keys) <= 2100
    models = [SimulatedModel(f"m{i}", ability) for i, ability in enumerate((-0.5, 0.0, 0.5, 1.0, 1.5))]
    flagged = total = 0
    for seed in range(200):
        table = simulate(SimulatedRelease(), models, seed, structure=structure)
        report = assess(table, n_resamples=200, seed=seed, by_subtask=False)
        flagged += sum(row["verdict"] == EVIDENCE for row in report["models"].values())
        total += len(models)
    assert flagged / total <= 0.05 + 3 * np.sqrt(0.05 * 0.95 / total)


def test_a_model_that_memorised_20_percent_of_2000_questions_is_flagged(
    planned: tuple[Path, Path], tmp_path: Path
) -> None:
    """Through `hvgen contamination` itself, for three seeds: the memoriser is flagged, alone and
    among four clean models."""
    release, twins = planned
    structure = _structure(release)
    by_id = {r["id"]: r for r in records(release)}
    models = [SimulatedModel(f"clean{i}", a) for i, a in enumerate((0.0, 0.5, 1.0, 1.5))]
    models.append(SimulatedModel("memoriser", 0.5, memorised=0.2))
    for seed in range(3):
        table = simulate(SimulatedRelease(), models, seed, structure=structure)
        options = []
        for model in table.models:
            paths = []
            for side, answers in (("release", table.release[model]), ("twins", table.twins[model])):
                path = tmp_path / f"{seed}_{model}_{side}.jsonl"
                path.write_text(
                    "".join(
                        json.dumps({"id": key, "prediction": _answer(by_id[key], bool(right))}) + "\n"
                        for key, right in zip(table.keys, answers)
                    )
                )
                paths.append(path)
            options += ["--predictions", f"{model}={paths[0]},{paths[1]}"]
        out = tmp_path / f"report{seed}.json"
        main(["contamination", "--release", str(release), "--twins", str(twins), *options, "--json", str(out),
              "--bootstrap", "500", "-q"])  # fmt: skip
        report = json.loads(out.read_text())
        assert report["models"]["memoriser"]["verdict"] == EVIDENCE
        direct = assess(table, n_resamples=500, seed=0)
        assert report["models"]["memoriser"]["overall"]["gap"] == pytest.approx(
            direct["models"]["memoriser"]["overall"]["gap"]
        )
        alone = ["--predictions", next(o for o in options if o.startswith("memoriser="))]
        main(
            [
                "contamination",
                "--release",
                str(release),
                "--twins",
                str(twins),
                *alone,
                "--json",
                str(out),
                "-q",
            ]
        )
        assert json.loads(out.read_text())["models"]["memoriser"]["verdict"] == EVIDENCE
