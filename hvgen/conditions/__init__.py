"""Condition images made from data, no model (issue 24): skeletons, box layouts, landmark maps
(`drawing`), face landmarks at a chosen head pose (`face_geometry`), model-free extractors
(`extractors`), and the YAML recipes that say which a record uses (`recipes`). The render stage draws a record's condition with `make_condition` and feeds it
to a ControlNet; a planner builds the record field with `condition_field`."""

from hvgen.conditions.drawing import COCO_KEYPOINTS, POSE_LIMBS, draw_boxes, draw_landmarks, draw_pose
from hvgen.conditions.extractors import EXTRACTORS, extract
from hvgen.conditions.recipes import (
    Recipe,
    condition_field,
    load_recipes,
    make_condition,
    parse_condition,
    parse_recipe,
)

__all__ = [
    "COCO_KEYPOINTS",
    "EXTRACTORS",
    "POSE_LIMBS",
    "Recipe",
    "condition_field",
    "draw_boxes",
    "draw_landmarks",
    "draw_pose",
    "extract",
    "load_recipes",
    "make_condition",
    "parse_condition",
    "parse_recipe",
]
