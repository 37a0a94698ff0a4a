"""Face QA questions: a face's labels → specs → worded questions with balanced answers.

Every answer is a label of the face (nothing is guessed). Distractors come from the same label
set of the same source (an expression question on RAF-DB offers RAF-DB's expressions). Answer
positions (multiple choice), truth values (true/false) and the number of right options ("which
of these apply") are dealt in seeded rotation per question wording, as HERM does, so each is
balanced exactly over the plan.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from hvgen.seeding import balanced_slot, derive_seed, stable_id

from .sources import Face

MULTI_CHOICE, TRUE_OR_FALSE, MULTI_SELECT, FREE_FORM, CAPTION = (
    "multi choice",
    "true or false",
    "multi select",
    "free form",
    "image caption",
)
LETTERS = "ABCD"
_INSTRUCTION_BLOCK = {MULTI_CHOICE: "multi_choice", TRUE_OR_FALSE: "true_or_false", MULTI_SELECT: "multi_select",
                      FREE_FORM: "number", CAPTION: "caption"}  # fmt: skip
# task → the label keys it reads, in order of preference.
TASK_LABELS = {"attribute": ("attributes",), "attribute_zero_shot": ("attributes",),
               "age": ("age_bin", "age_group", "age"), "gender": ("gender",), "race": ("race",),
               "expression": ("expression",), "head_pose": ("head_pose",),
               # multi-image: a pair's two faces, a clip's sampled frames
               "verification": ("same_person",), "forgery": ("forgery",), "forgery_method": ("manipulation",),
               "dynamic_expression": ("expression",),
               # a vision-language model's caption of the face (--captioner): model-generated, not a label
               "caption": ("vlm_caption",)}  # fmt: skip
FORGERY_OPTIONS = {"real": "real", "fake": "manipulated"}
TASKS = tuple(TASK_LABELS)


@dataclass
class Spec:
    """A question before its answer position or truth is dealt."""

    id: str
    face: Face
    task: str
    question_type: str
    block: str
    label_key: str
    truth: str = ""
    pool: tuple[str, ...] = ()  # the same label set's other values (distractors)
    attribute_pool: dict[str, bool] = field(default_factory=dict)  # attributes a question may name
    answer_value: int | None = None


@dataclass
class Worded:
    """A question ready for its record."""

    spec: Spec
    question: str
    instruction: str
    options: list[str]
    answer: str
    answer_index: int | None
    answer_indices: list[int]
    attribute: str | None


class QuestionPlanner:
    """Asks a face every task it was chosen for, with the wording in templates/faceqa/."""

    def __init__(self, templates: Any, rules: dict[str, Any], run_seed: int, unseen: set[str],
                 label_values: dict[str, dict[str, list[Any]]], captions: dict[str, str] | None = None) -> None:  # fmt: skip
        self.captions = captions or {}  # face prompt → its VLM caption (--captioner)
        self.templates = templates
        self.rules = rules
        self.run_seed = run_seed
        self.unseen = unseen
        self.label_values = label_values  # source → label key → values
        self.not_asked = set(rules["not_asked"])

    # ------------------------------------------------------------------ specs
    def specs(self, face: Face) -> list[Spec]:
        specs: list[Spec] = []
        labels = face.sample.labels
        for task in face.tasks:
            if task == "caption":
                if self.captions.get(face.prompt):
                    specs.append(
                        self._spec(
                            face, task, CAPTION, "caption", "vlm_caption", truth=self.captions[face.prompt]
                        )
                    )
                continue
            key = next((k for k in TASK_LABELS[task] if labels.get(k) is not None), None)
            if key is None:
                continue
            if task == "attribute":
                seen = {
                    a: bool(v)
                    for a, v in labels[key].items()
                    if a not in self.unseen and a not in self.not_asked
                }
                if seen:
                    specs.append(
                        self._spec(face, task, TRUE_OR_FALSE, "attribute_tf", key, attribute_pool=seen)
                    )
                if (
                    len(seen) >= self.rules["multi_select_options"]
                    and any(seen.values())
                    and not all(seen.values())
                ):
                    specs.append(
                        self._spec(face, task, MULTI_SELECT, "attribute_multi", key, attribute_pool=seen)
                    )
            elif task == "attribute_zero_shot":
                unseen = {a: bool(v) for a, v in labels[key].items() if a in self.unseen}
                if unseen:
                    specs.append(self._spec(face, task, TRUE_OR_FALSE, "attribute_zero_shot_tf", key,
                                            attribute_pool=unseen))  # fmt: skip
            elif task == "verification":
                specs.append(self._spec(face, task, TRUE_OR_FALSE, "verification_tf", key,
                                        truth=str(bool(labels[key]))))  # fmt: skip
            elif task == "forgery":
                truth = FORGERY_OPTIONS[str(labels[key])]
                pool = tuple(v for v in FORGERY_OPTIONS.values() if v != truth)
                specs.append(self._spec(face, task, MULTI_CHOICE, "forgery_mc", key, truth=truth, pool=pool))
            elif key == "age":
                specs.append(self._spec(face, task, FREE_FORM, "age_number", key, truth=str(int(labels[key])),
                                        answer_value=int(labels[key])))  # fmt: skip
            else:
                truth = str(labels[key])
                values = self._values(face, key)
                pool = tuple(v for v in values if v != truth)
                if pool:
                    specs.append(
                        self._spec(face, task, MULTI_CHOICE, f"{task}_mc", key, truth=truth, pool=pool)
                    )
        return specs

    def _values(self, face: Face, key: str) -> list[str]:
        """The label set distractors come from: the source's values, or the vocabulary's."""
        found = [str(v) for v in self.label_values.get(face.info.name, {}).get(key, [])]
        vocabulary = {"age_bin": "age_bins", "gender": "genders", "race": "races"}.get(key)
        if len(found) < 2 and vocabulary:
            return [str(v) for v in self.rules[vocabulary]]
        return found

    def _spec(self, face: Face, task: str, qtype: str, block: str, key: str, **kwargs: Any) -> Spec:
        spec_id = stable_id("faceqa", face.info.name, face.sample.sample_id, task, qtype)
        return Spec(spec_id, face, task, qtype, block, key, **kwargs)

    # ------------------------------------------------------------------ wording
    def word_all(self, specs: list[Spec]) -> list[Worded]:
        """Deal positions / truths in id order (balanced per wording), then word each question."""
        dealt: dict[tuple[str, int], int] = defaultdict(int)
        worded = []
        for spec in sorted(specs, key=lambda s: s.id):
            rng = random.Random(derive_seed(self.run_seed, "record", spec.id))
            worded.append(self._word(spec, rng, dealt))
        return worded

    def _deal(self, dealt: dict[tuple[str, int], int], block: str, size: int) -> int:
        key = (block, size)
        slot = balanced_slot(dealt[key], size, self.run_seed, "faceqa-positions", block, size)
        dealt[key] += 1
        return slot

    def _word(self, spec: Spec, rng: random.Random, dealt: dict[tuple[str, int], int]) -> Worded:
        variables: dict[str, Any] = {
            "source_title": spec.face.info.title,
            "frames": len(spec.face.frame_files),
        }
        options: list[str] = []
        answer, answer_index, answer_indices, attribute = spec.truth, None, [], None
        if spec.question_type == MULTI_CHOICE:
            wrong = rng.sample(spec.pool, min(self.rules["choices"] - 1, len(spec.pool)))
            position = self._deal(dealt, spec.block, len(wrong) + 1)
            options = wrong[:position] + [spec.truth] + wrong[position:]
            answer_index = position
        elif spec.question_type == TRUE_OR_FALSE and not spec.attribute_pool:  # a fact of the sample (pairs)
            options = ["True", "False"]
            answer_index = options.index(answer)
        elif spec.question_type == TRUE_OR_FALSE:
            options = ["True", "False"]
            want = self._deal(dealt, spec.block, 2) == 0
            matching = sorted(a for a, v in spec.attribute_pool.items() if v == want)
            if not matching:  # the face has no attribute of the dealt truth: ask the other one
                want = not want
                matching = sorted(a for a, v in spec.attribute_pool.items() if v == want)
            attribute = rng.choice(matching)
            variables["statement"] = self.statement(attribute)
            answer = "True" if want else "False"
            answer_index = options.index(answer)
        elif spec.question_type == MULTI_SELECT:
            size = self.rules["multi_select_options"]
            true = sorted(a for a, v in spec.attribute_pool.items() if v)
            false = sorted(a for a, v in spec.attribute_pool.items() if not v)
            wanted = 1 + self._deal(dealt, spec.block, size - 1)  # 1 .. size-1 right options
            count = max(size - len(false), min(wanted, len(true)))
            picked = rng.sample(true, count) + rng.sample(false, size - count)
            rng.shuffle(picked)
            options = [self.label(a) for a in picked]
            answer_indices = sorted(i for i, a in enumerate(picked) if spec.attribute_pool[a])
            answer = ", ".join(LETTERS[i] for i in answer_indices)
        question = self.templates.render("questions.j2", variables, block=spec.block)
        instruction = self.templates.render(
            "instructions.j2", {"question": question, "options": options},
            block=_INSTRUCTION_BLOCK[spec.question_type], one_line=False,
        )  # fmt: skip
        return Worded(spec, question, instruction, options, answer, answer_index, answer_indices, attribute)

    def label(self, attribute: str) -> str:
        known = self.rules["attributes"].get(attribute)
        return known[0] if known else attribute.replace("_", " ").lower()

    def statement(self, attribute: str) -> str:
        known = self.rules["attributes"].get(attribute)
        return known[1] if known else f"has the attribute '{attribute.replace('_', ' ').lower()}'"


def unseen_attributes(names: list[str], rules: dict[str, Any], chosen: list[str] | None) -> list[str]:
    """The zero-shot task's held-out attributes: `chosen`, or `unseen_count` of the vocabulary's
    askable ones (plus any a source adds) picked by a fixed salt: the same in every run and
    release, so zero-shot scores compare."""
    askable = sorted((set(rules["attributes"]) | set(names)) - set(rules["not_asked"]))
    if chosen:
        return sorted(chosen)
    ranked = sorted(askable, key=lambda name: stable_id(rules["unseen_salt"], name))
    return sorted(
        ranked[: min(int(rules["unseen_count"]), max(0, len(askable) - rules["multi_select_options"]))]
    )
