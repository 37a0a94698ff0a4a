"""Control fidelity (issue 24, item 5): the statistics on hand-made arrays (OKS, edge F1, SSIM,
NME), the per-recipe scoring on images made to follow (or ignore) their condition, and the build
filter end to end on tiny ControlNet runs: scores cached per image, images below the threshold
dropped with their questions and absent from the export, threshold 0 keeps all, a pose the tiny
render cannot follow is dropped, and a resumed scoring gives the same numbers."""

from __future__ import annotations

import math
import random
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from PIL import Image

from hvgen.cli import main
from hvgen.conditions.drawing import draw_pose, random_shapes
from hvgen.conditions.recipes import condition_people, load_recipes, make_condition
from hvgen.fidelity.metrics import (
    COCO_SIGMAS,
    edge_f1,
    landmark_nme,
    match_people,
    oks,
    pose_agreement,
    ssim,
)
from hvgen.fidelity.score import score_image
from hvgen.store.catalog import get_meta, open_catalog
from hvgen.store.decisions import build_command

# ---------------------------------------------------------------- OKS


def _person(points: dict[int, tuple[float, float]]) -> list[list[float]]:
    """17 COCO keypoints: the given ones visible (v=2), the others unlabelled (v=0) at (0, 0)."""
    return [[*points[i], 2] if i in points else [0.0, 0.0, 0] for i in range(17)]


def _standing(left: float = 10.0) -> list[list[float]]:
    return [[left + 3 * i, 20.0 + 5 * i, 2] for i in range(17)]


def test_oks_of_identical_people_is_one() -> None:
    person = _standing()
    assert oks(person, person) == pytest.approx(1.0)
    assert pose_agreement([person], [person]) == pytest.approx(1.0)


def test_oks_of_known_shifts_matches_the_hand_computed_value() -> None:
    # nose (sigma .026) and left hip (sigma .107) labelled, area 10,000 px², both 10 px off:
    # exp(-100 / (2 * 10000 * (2 * .026)^2)) = exp(-1.849112) = 0.157370,
    # exp(-100 / (2 * 10000 * (2 * .107)^2)) = exp(-0.109180) = 0.896571; mean 0.526971.
    truth = _person({0: (50.0, 50.0), 11: (80.0, 120.0)})
    guess = [[x + 10.0, y, 1.0] for x, y, _ in truth]
    assert COCO_SIGMAS[0] == pytest.approx(0.026) and COCO_SIGMAS[11] == pytest.approx(0.107)
    assert oks(truth, guess, area=10_000) == pytest.approx((0.157370 + 0.896571) / 2, abs=1e-5)
    # the default area is the keypoint box: 30 x 70 = 2,100 px²
    nose = math.exp(-100 / (2 * 2100 * 0.052**2))
    hip = math.exp(-100 / (2 * 2100 * 0.214**2))
    assert oks(truth, guess) == pytest.approx((nose + hip) / 2)


def test_unlabelled_keypoints_are_ignored() -> None:
    truth = _person({0: (50.0, 50.0), 11: (80.0, 120.0)})
    guess = [list(point) for point in truth]
    for i in range(17):
        if i not in (0, 11):
            guess[i] = [999.0, -999.0, 0.0]  # far off where the truth has no label
    assert oks(truth, guess, area=10_000) == pytest.approx(1.0)
    assert oks(_person({}), guess) is None


def test_a_missed_person_scores_zero_and_matching_is_greedy() -> None:
    first, second = _standing(10.0), _standing(200.0)
    # one prediction, close to the second person: it is matched to them; the first scores 0
    near_second = [[x + 1.0, y, 1.0] for x, y, _ in second]
    scores = match_people([first, second], [near_second])
    assert scores[0] == 0.0 and scores[1] == pytest.approx(oks(second, near_second))
    assert pose_agreement([first, second], [near_second]) == pytest.approx(scores[1] / 2)
    assert pose_agreement([first, second], []) == 0.0
    # an extra predicted person does not lower the score
    assert pose_agreement([first], [second, first]) == pytest.approx(1.0)


# ---------------------------------------------------------------- edge F1


def _line(column: int, size: int = 32) -> np.ndarray:
    edges = np.zeros((size, size), dtype=bool)
    edges[4:28, column] = True
    return edges


def test_edge_f1_identical_disjoint_and_shifted() -> None:
    assert edge_f1(_line(10), _line(10)) == 1.0
    assert edge_f1(_line(2), _line(29)) == 0.0
    # a 32-pixel image's tolerance is 1 pixel (0.75 % of its diagonal is 0.34): a one-pixel
    # shift counts, a two-pixel shift does not, and a tolerance under a pixel refuses the first
    assert edge_f1(_line(10), _line(11)) == 1.0
    assert edge_f1(_line(10), _line(12)) == 0.0
    assert edge_f1(_line(10), _line(11), tolerance=0.5) == 0.0


def test_edge_f1_hand_computed_precision_and_recall() -> None:
    truth = np.zeros((16, 16), dtype=bool)
    truth[8, 8] = True
    pred = truth.copy()
    pred[1, 1] = True  # one false edge: precision 1/2, recall 1, F1 = 2/3
    assert edge_f1(pred, truth) == pytest.approx(2 / 3)
    empty = np.zeros_like(truth)
    assert edge_f1(empty, empty) == 1.0 and edge_f1(empty, truth) == 0.0 and edge_f1(truth, empty) == 0.0


# ---------------------------------------------------------------- SSIM and NME


def test_ssim_identical_and_a_hand_computed_case() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (32, 32)).astype(np.float64)
    assert ssim(image, image) == pytest.approx(1.0)
    # flat 100 against flat 150: no variance, so SSIM is the luminance term alone,
    # (2·100·150 + C1) / (100² + 150² + C1) with C1 = (0.01·255)² = 6.5025
    flat = ssim(np.full((16, 16), 100.0), np.full((16, 16), 150.0))
    assert flat == pytest.approx((30000 + 6.5025) / (32500 + 6.5025))
    assert ssim(image, 255 - image) < 0  # inverted structure
    with pytest.raises(ValueError, match="11 pixels"):
        ssim(np.zeros((8, 8)), np.zeros((8, 8)))


def test_ssim_matches_scikit_image_gaussian_ssim() -> None:
    metrics = pytest.importorskip("skimage.metrics")
    rng = np.random.default_rng(1)
    first = rng.integers(0, 256, (40, 48)).astype(np.float64)
    second = np.clip(first + rng.normal(0, 30, first.shape), 0, 255)
    expected = metrics.structural_similarity(
        first, second, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False
    )
    assert ssim(first, second) == pytest.approx(expected, abs=1e-6)


def test_landmark_nme_by_hand() -> None:
    truth = [[0.0, 0.0], [10.0, 0.0]]
    assert landmark_nme(truth, truth, 10.0) == 0.0
    assert landmark_nme([[3.0, 4.0], [10.0, 0.0]], truth, 10.0) == pytest.approx(0.25)  # (5 + 0) / 2 / 10


# ---------------------------------------------------------------- scoring a record's condition


RECIPES = load_recipes()
SIZE = (64, 64)


def test_condition_people_are_the_people_the_pose_recipe_draws() -> None:
    people = condition_people("pose", {"people_count": 2}, 7, SIZE, RECIPES)
    assert people is not None and len(people) == 2
    drawn = make_condition("pose", {"people_count": 2}, 7, SIZE, RECIPES)
    assert drawn.tobytes() == draw_pose(people, SIZE, None, 4, 4).tobytes()
    given = {"people": [_standing(10.0)], "canvas": [128, 128]}  # a record's own frame, scaled to 64
    scaled = condition_people("pose", given, 7, SIZE, RECIPES)
    assert scaled == [[[x / 2, y / 2, v] for x, y, v in _standing(10.0)]]
    assert condition_people("canny", {}, 7, SIZE, RECIPES) is None


def _scene(seed: int) -> Image.Image:
    """The picture the canny/grayscale recipes extract from (their source, the shapes recipe)."""
    return make_condition("shapes", {}, seed, SIZE, RECIPES)


def test_an_image_that_follows_its_edges_scores_one_and_a_blank_one_zero() -> None:
    condition = make_condition("canny", {}, 3, SIZE, RECIPES)
    followed = score_image(_scene(3), condition, "canny", {}, 3, RECIPES)
    blank = score_image(Image.new("RGB", SIZE, (90, 90, 90)), condition, "canny", {}, 3, RECIPES)
    assert (followed.metric, followed.score) == ("edge_f1", 1.0)
    assert blank.score == 0.0
    other = score_image(random_shapes(random.Random(99), SIZE, 8), condition, "canny", {}, 3, RECIPES)
    assert 0.0 <= other.score < 0.6  # another scene's edges mostly miss


def test_other_extractors_are_scored_by_ssim_of_the_re_extraction() -> None:
    condition = make_condition("grayscale", {}, 4, SIZE, RECIPES)
    followed = score_image(_scene(4), condition, "grayscale", {}, 4, RECIPES)
    assert (followed.metric, followed.score) == ("ssim", pytest.approx(1.0))
    noise = Image.fromarray(np.random.default_rng(4).integers(0, 256, (64, 64, 3), dtype=np.uint8))
    assert 0.0 <= score_image(noise, condition, "grayscale", {}, 4, RECIPES).score < 0.2


def test_a_pose_is_scored_by_oks_of_the_estimators_people() -> None:
    people = condition_people("pose", {}, 5, SIZE, RECIPES)
    condition = make_condition("pose", {}, 5, SIZE, RECIPES)
    boxes_seen: list[list[float]] = []

    def follows(image: Image.Image, boxes: list[list[float]]) -> list[list[list[float]]]:
        boxes_seen.extend(boxes)
        return [[[x, y, 0.9] for x, y, _ in person] for person in people]

    result = score_image(condition, condition, "pose", {}, 5, RECIPES, follows)
    assert (result.metric, result.score) == ("oks", pytest.approx(1.0))
    x, y, w, h = boxes_seen[0]  # the person's box holds all their keypoints
    assert all(x <= px <= x + w and y <= py <= y + h for px, py, _ in people[0])
    assert score_image(condition, condition, "pose", {}, 5, RECIPES, lambda i, b: []).score == 0.0


def test_the_tiny_vitpose_loads_from_its_folder_and_a_vitpose_plus_gets_its_coco_head() -> None:
    from transformers import VitPoseBackboneConfig, VitPoseConfig, VitPoseForPoseEstimation

    from hvgen.fidelity.pose_model import estimate_people, load_pose_model

    estimator, processor = load_pose_model("tiny", "cpu")
    box = [[4.0, 4.0, 30.0, 50.0]]
    people = estimate_people(estimator, processor, Image.new("RGB", SIZE), box, "cpu")
    assert len(people) == 1 and len(people[0]) == 17
    assert people == estimate_people(
        estimator, processor, Image.new("RGB", SIZE), box, "cpu"
    )  # deterministic
    backbone = VitPoseBackboneConfig(
        image_size=[64, 48], patch_size=[16, 16], hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
        out_indices=[1], num_experts=2, part_features=8,
    )  # fmt: skip
    plus = VitPoseForPoseEstimation(VitPoseConfig(backbone_config=backbone, num_labels=17)).eval()
    assert len(estimate_people(plus, processor, Image.new("RGB", SIZE), box, "cpu")[0]) == 17


def test_a_missing_pose_model_fails_in_one_line(tmp_path: Path) -> None:
    from hvgen.errors import ModelLoadError
    from hvgen.fidelity.pose_model import load_pose_model

    with pytest.raises(ModelLoadError, match="--fidelity-filter .*cannot load a ViTPose.*'tiny'"):
        load_pose_model(str(tmp_path / "nothing"), "cpu")


def test_boxes_and_five_point_landmarks_are_not_scored() -> None:
    for name, metric in (("boxes", "none"), ("landmarks", "landmark_nme_score")):  # 68-point faces are:
        condition = make_condition(name, {}, 1, SIZE, RECIPES)  # tests/test_fidelity_landmarks.py
        result = score_image(condition, condition, name, {}, 1, RECIPES)
        assert (result.metric, result.score) == (metric, None)


def test_a_logged_build_is_repeated_with_its_fidelity_filter() -> None:
    settings = {"fidelity_model": "tiny", "fidelity_threshold": 0.3}
    assert (
        build_command(Path("run"), settings)
        == "hvgen build run --fidelity-filter tiny --fidelity-threshold 0.3"
    )


# ---------------------------------------------------------------- the build filter end to end

RUN = ["dysca", "--model", "tiny", "--controlnet", "tiny", "--steps", "2", "--seed", "5", "--quiet"]
RUN += ["--subtasks", "animal,color"]


def _scores(run: Path) -> dict[str, float]:
    with open_catalog(run, read_only=True) as con:
        return dict(
            con.execute("SELECT image_id, score FROM fidelity_scores WHERE model = 'tiny'").fetchall()
        )


def _dropped(run: Path) -> set[str]:
    with open_catalog(run, read_only=True) as con:
        rows = con.execute("SELECT id FROM drops WHERE reason = 'low_fidelity'").fetchall()
    return {row[0] for row in rows}


def _exported_images(run: Path) -> set[str]:
    return {
        row["image_id"]
        for parquet in (run / "export" / "data").rglob("*.parquet")
        for row in pq.read_table(parquet, columns=["image_id"]).to_pylist()
    }


@pytest.fixture(scope="module")
def canny_run(tiny_cache: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("fidelity") / "canny"
    main([*RUN, "--num", "6", "--condition", "canny", "--out", str(out)])
    return out


@pytest.mark.heavy
def test_the_filter_drops_images_below_the_threshold_and_the_export_lacks_them(canny_run: Path) -> None:
    main(["build", str(canny_run), "--fidelity-filter", "tiny", "--fidelity-threshold", "0", "--quiet"])
    scores = _scores(canny_run)
    assert len(scores) == 6 and all(0.0 <= s <= 1.0 for s in scores.values())
    assert not _dropped(canny_run) and _exported_images(canny_run) == set(scores)  # 0 keeps all

    median = sorted(scores.values())[3]
    main(
        ["build", str(canny_run), "--fidelity-filter", "tiny", "--fidelity-threshold", str(median), "--quiet"]
    )
    low = {image_id for image_id, score in scores.items() if score < median}
    assert _dropped(canny_run) == low and 0 < len(low) < 6
    assert _exported_images(canny_run) == set(scores) - low
    with open_catalog(canny_run, read_only=True) as con:
        orphans = con.execute(
            "SELECT count(*) FROM kept_records WHERE image_id IN (SELECT id FROM drops WHERE kind = 'image')"
        ).fetchone()[0]
        assert (
            orphans == 0 and con.execute("SELECT count(*) FROM fidelity_scores").fetchone()[0] == 6
        )  # cached
    card = (canny_run / "export" / "README.md").read_text()
    assert "Control fidelity" in card and f"{len(low)} of 6 scored image(s) scored below {median}" in card
    assert "| edge_f1: " in card and f"| {min(scores.values()):.4f}".rstrip("0") in card


@pytest.mark.heavy
def test_a_resumed_scoring_gives_the_same_scores(canny_run: Path) -> None:
    score_all = [
        "build",
        str(canny_run),
        "--fidelity-filter",
        "tiny",
        "--fidelity-threshold",
        "0",
        "--no-export",
    ]
    main([*score_all, "--quiet"])
    before = _scores(canny_run)
    with open_catalog(canny_run) as con:  # as if the build was killed after scoring three images
        con.execute("DELETE FROM fidelity_scores WHERE image_id IN (SELECT image_id FROM fidelity_scores "
                    "ORDER BY image_id DESC LIMIT 3)")  # fmt: skip
    main([*score_all, "--quiet"])
    assert _scores(canny_run) == before


@pytest.mark.heavy
def test_a_pose_the_tiny_render_cannot_follow_is_dropped(
    tiny_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "pose"
    main([*RUN, "--num", "3", "--condition", "pose", "--out", str(run)])
    with pytest.raises(SystemExit) as exited:  # default threshold 0.5: nothing is left to export
        main(["build", str(run), "--fidelity-filter", "tiny", "--no-export", "--quiet"])
    assert exited.value.code == 2
    message = " ".join(capsys.readouterr().err.split())
    assert "dropped every question (3 images low_fidelity)" in message and "--fidelity-threshold" in message
    scores = _scores(run)
    assert len(scores) == 3 and max(scores.values()) < 0.5  # random pixels show no standing person
    assert _dropped(run) == set(scores)
    with open_catalog(run, read_only=True) as con:
        metrics = {row[0] for row in con.execute("SELECT metric FROM fidelity_scores").fetchall()}
        build = get_meta(con, "build")
    assert metrics == {"oks"}
    assert build["fidelity"]["dropped_images"] == 3 and build["fidelity"]["metrics"][0]["metric"] == "oks"


@pytest.mark.heavy
def test_a_run_without_conditions_is_built_with_a_warning(
    tiny_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "plain"
    main(
        [
            "dysca",
            "--model",
            "tiny",
            "--steps",
            "1",
            "--num",
            "2",
            "--subtasks",
            "animal",
            "--quiet",
            "--out",
            str(run),
        ]
    )
    capsys.readouterr()
    main(["build", str(run), "--fidelity-filter", "tiny", "--no-export"])
    err = " ".join(capsys.readouterr().err.split())
    assert "no kept image of" in err and "--condition RECIPE" in err
    assert _scores(run) == {} and not _dropped(run)


@pytest.mark.heavy
def test_a_benchmark_command_runs_the_filter_in_its_build(tiny_cache: Path, tmp_path: Path) -> None:
    run = tmp_path / "inline"
    main([*RUN, "--num", "2", "--condition", "canny", "--fidelity-filter", "tiny", "--fidelity-threshold", "0",
          "--out", str(run)])  # fmt: skip
    scores = _scores(run)
    assert len(scores) == 2 and _exported_images(run) == set(scores)


def test_a_benchmark_command_refuses_the_filter_without_a_controlnet(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(
            [
                "dysca",
                "--model",
                "tiny",
                "--num",
                "2",
                "--fidelity-filter",
                "tiny",
                "--out",
                str(tmp_path / "r"),
            ]
        )
    assert exited.value.code != 0
    assert "--fidelity-filter tiny: it scores how well" in " ".join(capsys.readouterr().err.split())
    assert not (tmp_path / "r").exists()


def test_an_executor_build_task_gets_the_fidelity_options(tmp_path: Path) -> None:
    from hvgen.cli.launch import build_args

    model = tmp_path / "vitpose"
    model.mkdir()
    common = {"against": None, "clip_filter": None, "clip_threshold": None, "keep_flagged": False,
              "fidelity_filter": str(model), "fidelity_threshold": 0.25}  # fmt: skip
    assert build_args(common) == ["--fidelity-filter", str(model.resolve()), "--fidelity-threshold", "0.25"]
