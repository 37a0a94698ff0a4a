"""Face QA `--synthetic`: faces planned from attribute combinations, rendered from prompts.

The attributes are the labels: a prompt says "an elderly woman with a surprised expression,
gray hair, wearing eyeglasses, head turned to the left", and those are the answers. Each axis
is dealt balanced over the plan as Dysca balances its draws (every block of k faces takes each
of an axis's k values once, in a seeded order), so no value dominates; axes are dealt
independently, so combinations vary. Rules that keep labels consistent: beards only on men who
are not children, Smiling exactly when the expression is happiness.
"""

from __future__ import annotations

from typing import Any

from hvgen.readers.faces.base import FaceSample, SourceInfo
from hvgen.seeding import balanced_slot

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


def synthetic_faces(num: int, run_seed: int, rules: dict[str, Any], render_prompt: Any,
                    split_for: Any) -> list[Face]:  # fmt: skip
    """`num` planned faces; `render_prompt(variables)` words a prompt, `split_for(sample_id)`
    picks its split (each synthetic face is its own identity)."""
    axes = rules["synthetic"]
    faces = []
    for index in range(num):
        labels = synthetic_labels(index, run_seed, axes)
        sample_id = f"synthetic-{index:06d}"
        prompt = render_prompt(prompt_variables(labels, axes, rules["expression_words"]))
        sample = FaceSample(source=SYNTHETIC.name, sample_id=sample_id, kind="face", images=(), labels=labels,
                            identity=sample_id)  # fmt: skip
        faces.append(Face(sample, SYNTHETIC, split_for(sample_id), SYNTHETIC_TASKS, prompt, ""))
    return faces
