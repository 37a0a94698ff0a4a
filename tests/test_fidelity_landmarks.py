"""Control fidelity of face landmark maps: the NME → score mapping on hand-made faces, the face box
rule, the faces a landmarks recipe draws, scoring through a stand-in estimator, the tiny
whole-body ViTPose (133 keypoints, 68 face), a COCO-only model leaving faces unscored with one
warning, and the build filter end to end on a Face QA landmarks run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from hvgen.cli import main
from hvgen.conditions.recipes import condition_faces, load_recipes, make_condition
from hvgen.fidelity.metrics import NME_FAILURE, face_agreement, interocular, landmark_score
from hvgen.fidelity.pose_model import FACE_BOX_MARGIN, face_box
from hvgen.fidelity.score import score_image
from hvgen.store.catalog import open_catalog

RECIPES = load_recipes()
SIZE = (64, 64)


def _face(left: float = 10.0, top: float = 10.0) -> list[list[float]]:
    """68 points in a 40 × 40 square; outer eye corners (36, 45) 40 pixels apart."""
    points = [[left + (i % 9) * 5.0, top + (i // 9) * 5.0] for i in range(68)]
    points[36], points[45] = [left, top + 15.0], [left + 40.0, top + 15.0]
    return points


# ---------------------------------------------------------------- NME → score


def test_identical_faces_score_one_and_a_known_shift_the_hand_computed_value() -> None:
    face = _face()
    assert interocular(face) == 40.0
    assert face_agreement([face], [face]) == 1.0
    shifted = [[x + 3.0, y, 0.9] for x, y in face]  # every point 3 px off: NME 3 / 40 = 0.075
    assert face_agreement([face], [shifted]) == pytest.approx(1 - 0.075 / NME_FAILURE)  # 0.25
    far = [[x, y + 4.0] for x, y in face]  # NME 0.1: the failure point
    assert face_agreement([face], [far]) == pytest.approx(0.0)
    assert face_agreement([face, face], [face, far]) == pytest.approx(0.5)  # mean over faces
    assert landmark_score(0.05) == pytest.approx(0.5) and landmark_score(1.0) == 0.0
    with pytest.raises(ValueError, match=">= 0"):
        landmark_score(float("nan"))


def test_five_point_faces_have_no_nme_score() -> None:
    five = [[20.0, 20.0], [40.0, 20.0], [30.0, 30.0], [22.0, 40.0], [38.0, 40.0]]
    assert face_agreement([five], [five]) is None


# ---------------------------------------------------------------- the face box


def test_the_face_box_widens_the_landmarks_extent_and_clips_to_the_image() -> None:
    face = [[10.0, 20.0], [50.0, 20.0], [30.0, 60.0]]  # extent 40 × 40, margin 10 each side
    assert FACE_BOX_MARGIN == 0.25
    assert face_box(face, (100, 100)) == [0.0, 10.0, 60.0, 60.0]
    assert face_box(face, (55, 65)) == [0.0, 10.0, 55.0, 55.0]  # clipped right and bottom
    assert face_box([[5.0, 5.0]] * 3, (64, 64)) == [5.0, 5.0, 1.0, 1.0]  # at least a pixel


# ---------------------------------------------------------------- the faces a recipe draws


def test_condition_faces_are_the_record_faces_in_image_pixels() -> None:
    face = _face(20.0, 20.0)
    faces = condition_faces("landmarks", {"faces": [face], "canvas": [128, 128]}, 3, SIZE, RECIPES)
    assert faces == [[[x / 2, y / 2] for x, y in face]]
    assert condition_faces("pose", {}, 3, SIZE, RECIPES) is None


def test_seeded_faces_are_the_five_point_faces_the_recipe_draws() -> None:
    faces = condition_faces("landmarks", {"faces_count": 2}, 7, SIZE, RECIPES)
    assert faces is not None and len(faces) == 2 and all(len(face) == 5 for face in faces)
    drawn = np.asarray(make_condition("landmarks", {"faces_count": 2}, 7, SIZE, RECIPES).convert("L"))
    assert all(drawn[int(y), int(x)] == 255 for face in faces for x, y in face)


# ---------------------------------------------------------------- scoring a record


def test_a_landmark_map_is_scored_by_the_estimators_face_keypoints() -> None:
    face = _face(8.0, 8.0)
    params = {"faces": [face]}
    condition = make_condition("landmarks", params, 1, SIZE, RECIPES)
    boxes_seen: list[list[float]] = []

    def follows(image: Image.Image, boxes: list[list[float]]) -> list[list[list[float]]]:
        boxes_seen.extend(boxes)
        return [[[x, y, 1.0] for x, y in face]]

    result = score_image(condition, condition, "landmarks", params, 1, RECIPES, estimate_faces=follows)
    assert (result.metric, result.score) == ("landmark_nme_score", 1.0)
    assert boxes_seen == [face_box(face, SIZE)]
    no_head = score_image(
        condition, condition, "landmarks", params, 1, RECIPES, estimate_faces=lambda i, b: None
    )
    assert (no_head.metric, no_head.score) == ("landmark_nme_score", None)
    with pytest.raises(ValueError, match="whole-body pose estimator"):
        score_image(condition, condition, "landmarks", params, 1, RECIPES)


def test_five_point_faces_stay_unscored_without_asking_the_estimator() -> None:
    condition = make_condition("landmarks", {}, 1, SIZE, RECIPES)

    def never(image: Image.Image, boxes: list[list[float]]) -> list[list[list[float]]]:
        raise AssertionError("five-point faces need no estimator")

    result = score_image(condition, condition, "landmarks", {}, 1, RECIPES, estimate_faces=never)
    assert (result.metric, result.score) == ("landmark_nme_score", None)


# ---------------------------------------------------------------- the whole-body model


def test_the_tiny_wholebody_vitpose_gives_68_face_keypoints_and_17_body_ones() -> None:
    from hvgen.fidelity.pose_model import estimate_faces, estimate_people, is_wholebody, load_pose_model

    estimator, processor = load_pose_model("tiny", "cpu", wholebody=True)
    assert is_wholebody(estimator) and estimator.config.backbone_config.num_experts == 6
    image, box = Image.new("RGB", SIZE), [[4.0, 4.0, 30.0, 40.0]]
    faces = estimate_faces(estimator, processor, image, box, "cpu")
    assert (
        len(faces) == 1
        and len(faces[0]) == 68
        and faces == estimate_faces(estimator, processor, image, box, "cpu")
    )
    assert len(estimate_people(estimator, processor, image, box, "cpu")[0]) == 17  # its body keypoints
    coco, coco_processor = load_pose_model("tiny", "cpu")
    assert not is_wholebody(coco)
    with pytest.raises(ValueError, match="17 keypoints, not COCO-WholeBody's 133"):
        estimate_faces(coco, coco_processor, image, box, "cpu")


def test_a_wholebody_model_scoring_people_and_faces_is_loaded_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """One checkpoint serving both the pose and the landmark maps of a build is one model in memory
    (and one load); `tiny` is two models, the 17-keypoint one and its whole-body twin."""
    from hvgen.fidelity import pose_model
    from hvgen.stages.build.fidelity_filter import pose_estimators

    loads: list[tuple[str, bool]] = []
    real_load = pose_model.load_pose_model

    def counted(model: str, device: str, wholebody: bool = False) -> tuple[object, object]:
        loads.append((model, wholebody))
        return real_load(model, device, wholebody)

    monkeypatch.setattr(pose_model, "load_pose_model", counted)
    image, box = Image.new("RGB", SIZE), [[4.0, 4.0, 30.0, 40.0]]
    wholebody = str(pose_model.tiny_wholebody_path())
    people, faces = pose_estimators(wholebody, "cpu")
    for _ in range(2):
        assert len(people(image, box)[0]) == 17 and len(faces(image, box)[0]) == 68
    assert len(loads) == 1
    loads.clear()
    people, faces = pose_estimators("tiny", "cpu")
    for _ in range(2):
        people(image, box)
        faces(image, box)
    assert loads == [("tiny", False), ("tiny", True)]


def test_a_model_without_a_wholebody_head_leaves_faces_unscored_with_one_warning(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from hvgen.fidelity.pose_model import tiny_vitpose_path
    from hvgen.stages.build.fidelity_filter import _LazyFaces, _PoseModels

    faces = _LazyFaces(_PoseModels(str(tiny_vitpose_path()), "cpu"))  # the 17-keypoint COCO tiny
    box = [[4.0, 4.0, 30.0, 40.0]]
    assert faces(Image.new("RGB", SIZE), box) is None and faces(Image.new("RGB", SIZE), box) is None
    message = " ".join(capsys.readouterr().err.split())
    assert message.count("warning:") == 1 and "no whole-body head" in message and "num_labels 133" in message


# ---------------------------------------------------------------- the build filter end to end


@pytest.mark.heavy
def test_a_face_qa_landmarks_run_is_scored_and_a_high_threshold_drops_it(
    tiny_cache: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = tmp_path / "faces"
    main(["faceqa", "--synthetic", "--condition", "landmarks", "--model", "tiny", "--controlnet", "tiny",
          "--num", "4", "--steps", "1", "--seed", "3", "--out", str(run), "--quiet"])  # fmt: skip
    main(["build", str(run), "--fidelity-filter", "tiny", "--fidelity-threshold", "0", "--quiet"])
    with open_catalog(run, read_only=True) as con:
        rows = con.execute("SELECT metric, score FROM fidelity_scores WHERE model = 'tiny'").fetchall()
        kept = con.execute("SELECT count(*) FROM kept_images").fetchone()[0]
    assert len(rows) == 4 == kept
    assert {metric for metric, _ in rows} == {"landmark_nme_score"}
    assert all(score is not None and 0.0 <= score <= 1.0 for _, score in rows)
    card = (run / "export" / "README.md").read_text()
    assert "Control fidelity" in card and "| landmark_nme_score: " in card
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:  # random weights follow no face: 0.99 drops them all
        main(["build", str(run), "--fidelity-filter", "tiny", "--fidelity-threshold", "0.99", "--no-export"])
    assert exited.value.code == 2
    assert "4 images low_fidelity" in " ".join(capsys.readouterr().err.split())
