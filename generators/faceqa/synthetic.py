"""Face QA `--synthetic`: faces planned from attribute combinations, rendered from prompts.

The attributes are the labels: a prompt says "an elderly woman with a surprised expression,
gray hair, wearing eyeglasses, head turned to the left", and those are the answers. Each axis
is dealt balanced over the plan as Dysca balances its draws (every block of k faces takes each
of an axis's k values once, in a seeded order), so no value dominates; axes are dealt
independently, so combinations vary. Rules that keep labels consistent: beards only on men who
are not children, Smiling exactly when the expression is happiness.

With `--condition landmarks` the head pose is also drawn as geometry (`posed_face`): angles
uniform in the pose label's ranges (templates/faceqa/faceqa.yaml `pose_angles`), a square face
box, and the 68 landmarks of the hand-made mean face (hvgen/conditions/face_geometry.py) at that
pose in that box, seeded by (run seed, face id). The render stage draws them as the face's
ControlNet condition, and the face's `head_pose` label is the one whose yaw range holds the
drawn yaw. The expression moves the mouth, eye and brow landmarks (`expression_landmarks`:
hand-made caricatures of each expression's FACS action units, approximate, not measured).
"""

from __future__ import annotations

from typing import Any

from hvgen.conditions.face_geometry import check_layout, check_pose_ranges, pose_label, posed_face, shaped
from hvgen.errors import HvgenError
from hvgen.readers.faces.base import FaceSample, SourceInfo
from hvgen.seeding import balanced_slot, rng_for

from .sources import Face

SYNTHETIC = SourceInfo(
    name="synthetic",
    title="hvgen synthetic faces",
    licence="CC BY 4.0 (rendered by hvgen; the text-to-image model's own licence also applies)",
    redistributable=True,
    citation="Rendered with hvgen's render stage from attribute prompts (templates/faceqa/prompt.j2).",
    url="",
    tasks=("age_group", "gender", "expression", "attributes", "head_pose"),
)
SYNTHETIC_TASKS = ("age", "attribute", "attribute_zero_shot", "expression", "gender", "head_pose")


def _deal(index: int, values: list[str], run_seed: int, axis: str) -> str:
    return values[balanced_slot(index, len(values), run_seed, "faceqa-synthetic", axis)]


def synthetic_labels(index: int, run_seed: int, axes: dict[str, Any]) -> dict[str, Any]:
    """The labels of the `index`-th synthetic face (balanced per axis over the plan)."""
    age = _deal(index, list(axes["age_groups"]), run_seed, "age_group")
    gender = _deal(index, ["male", "female"], run_seed, "gender")
    expression = _deal(index, list(axes["expressions"]), run_seed, "expression")
    hair = _deal(index, list(axes["hair"]), run_seed, "hair")
    pose = _deal(index, list(axes["head_poses"]), run_seed, "head_pose")
    flags = {flag: _deal(index, ["yes", "no"], run_seed, flag) == "yes" for flag in axes["flags"]}
    beard = flags.pop("beard") and gender == "male" and age != "child"
    attributes = {column: name == hair for name, column in axes["hair"].items()}
    attributes |= {"Eyeglasses": flags["Eyeglasses"], "Wearing_Hat": flags["Wearing_Hat"],
                   "No_Beard": not beard, "Smiling": expression == "happiness"}  # fmt: skip
    return {"age_group": age, "gender": gender, "expression": expression, "hair": hair,
            "head_pose": pose, "attributes": attributes}  # fmt: skip


def prompt_variables(
    labels: dict[str, Any], axes: dict[str, Any], expression_words: dict[str, str]
) -> dict[str, Any]:
    nouns = axes["nouns"].get(labels["age_group"], axes["nouns"]["default"])
    attributes = labels["attributes"]
    return {
        "age": axes["age_groups"][labels["age_group"]],
        "noun": nouns[0] if labels["gender"] == "male" else nouns[1],
        "expression": expression_words[labels["expression"]],
        "hair": labels["hair"],
        "beard": not attributes["No_Beard"],
        "eyeglasses": attributes["Eyeglasses"],
        "hat": attributes["Wearing_Hat"],
        "pose": axes["head_poses"][labels["head_pose"]],
    }


def check_landmark_rules(axes: dict[str, Any], where: str = "templates/faceqa/faceqa.yaml synthetic") -> None:
    """The `--condition landmarks` rules of faceqa.yaml, checked before planning: an angle range
    per head-pose label (yaw ranges apart), the canvas and box side, each expression's moves."""
    check_pose_ranges(axes["pose_angles"], f"{where}.pose_angles")
    if set(axes["pose_angles"]) != set(axes["head_poses"]):
        raise HvgenError(
            f"{where}.pose_angles must give angle ranges for exactly the head_poses labels "
            f"({', '.join(axes['head_poses'])})."
        )
    check_layout(axes["landmark_canvas"], axes["box_side"], where)
    for expression, moves in (axes.get("expression_landmarks") or {}).items():
        if expression not in axes["expressions"]:
            raise HvgenError(
                f"{where}.expression_landmarks: '{expression}' is not one of the synthetic expressions "
                f"({', '.join(axes['expressions'])})."
            )
        try:
            shaped(moves)
        except HvgenError as error:
            raise HvgenError(f"{where}.expression_landmarks.{expression}: {error}") from None


def face_pose(sample_id: str, labels: dict[str, Any], run_seed: int, axes: dict[str, Any]) -> dict[str, Any]:
    """The drawn geometry of a face of its head-pose label: {angles: {yaw, pitch, roll} degrees,
    box: [x, y, w, h] pixels of the landmark canvas, landmarks: 68 [x, y] of the template shaped
    by the face's expression}, seeded per face."""
    rng = rng_for(run_seed, "faceqa-face-pose", sample_id)
    moves = (axes.get("expression_landmarks") or {}).get(labels["expression"])
    return posed_face(rng, axes["pose_angles"], labels["head_pose"], axes["landmark_canvas"], axes["box_side"],
                      moves)  # fmt: skip


def synthetic_faces(num: int, run_seed: int, rules: dict[str, Any], render_prompt: Any,
                    split_for: Any, landmarks: bool = False) -> list[Face]:  # fmt: skip
    """`num` planned faces; `render_prompt(variables)` words a prompt, `split_for(sample_id)`
    picks its split (each synthetic face is its own identity). With `landmarks` each face also
    gets its drawn pose (`face_pose`), and its head-pose label is read back from the drawn yaw."""
    axes = rules["synthetic"]
    faces = []
    for index in range(num):
        labels = synthetic_labels(index, run_seed, axes)
        sample_id = f"synthetic-{index:06d}"
        pose = face_pose(sample_id, labels, run_seed, axes) if landmarks else None
        if pose is not None:  # the answer follows the angles (the same label: drawn in its range)
            labels["head_pose"] = pose_label(pose["angles"]["yaw"], axes["pose_angles"])
        prompt = render_prompt(prompt_variables(labels, axes, rules["expression_words"]))
        sample = FaceSample(source=SYNTHETIC.name, sample_id=sample_id, kind="face", images=(), labels=labels,
                            identity=sample_id)  # fmt: skip
        faces.append(Face(sample, SYNTHETIC, split_for(sample_id), SYNTHETIC_TASKS, prompt, "", pose=pose))
    return faces
