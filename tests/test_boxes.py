"""hvgen.boxes: the box formats models emit, read into normalised xyxy, and IoU scoring."""

from __future__ import annotations

import math

import pytest
from box_cases import CASES, BoxCase

from hvgen.boxes import iou, parse_boxes, score_grounding, xywh_to_xyxy, xyxy_to_xywh


def close(box, expected, tol=1e-9):
    return box is not None and all(math.isclose(a, b, abs_tol=tol) for a, b in zip(box, expected))


def test_minigptv2_grid_boxes_and_delim():
    parsed = parse_boxes("<p>hat</p>{<10><20><30><40>}<delim>{< 50 ><60><70><80>}")
    assert parsed.formats == ["minigptv2", "minigptv2"]
    assert close(parsed.boxes[0], (0.1, 0.2, 0.3, 0.4))
    assert close(parsed.boxes[1], (0.5, 0.6, 0.7, 0.8))
    assert parsed.problems == []


def test_qwen_vl_divides_by_999_and_qwen2_vl_by_1000():
    qwen = parse_boxes("<ref>the man</ref><box>(999,0),(999,999)</box>")
    assert qwen.boxes == [] and qwen.problems[0].endswith("empty (zero width or height) on the 0-999 grid")
    qwen = parse_boxes("<ref>the man</ref><box>(0,0),(999,999)</box>")
    assert close(qwen.first, (0.0, 0.0, 1.0, 1.0))
    qwen2 = parse_boxes(
        "<|object_ref_start|>man<|object_ref_end|><|box_start|>(100,200),(500,1000)<|box_end|>"
    )
    assert qwen2.formats == ["qwen2_vl"] and close(qwen2.first, (0.1, 0.2, 0.5, 1.0))


def test_internvl_box_is_read_once_not_also_as_a_list():
    parsed = parse_boxes("<ref>person</ref><box>[[100, 250, 600, 750]]</box>")
    assert parsed.formats == ["internvl"]
    assert close(parsed.first, (0.1, 0.25, 0.6, 0.75))
    assert parsed.problems == []


def test_plain_lists_unit_pixels_and_grid():
    assert close(parse_boxes("[0.1, 0.2, 0.5, 0.6]").first, (0.1, 0.2, 0.5, 0.6))
    pixels = parse_boxes('{"bbox_2d": [64, 48, 320, 240], "label": "person"}', width=640, height=480)
    assert pixels.formats == ["list"] and close(pixels.first, (0.1, 0.1, 0.5, 0.5))
    grid = parse_boxes("[100, 100, 500, 500]", list_scale="grid1000")
    assert close(grid.first, (0.1, 0.1, 0.5, 0.5))
    xywh = parse_boxes("[0.100, 0.200, 0.300, 0.400]", list_layout="xywh")  # hvgen's plain herm box text
    assert close(xywh.first, (0.1, 0.2, 0.4, 0.6))
    assert close(parse_boxes([0.1, 0.2, 0.5, 0.6]).first, (0.1, 0.2, 0.5, 0.6))  # a JSON list, not text


def test_what_does_not_parse_is_reported():
    no_size = parse_boxes("[64, 48, 320, 240]")
    assert no_size.boxes == [] and "no image size" in no_size.problems[0]
    inverted = parse_boxes("{<80><10><20><50>}")
    assert inverted.boxes == [] and "inverted" in inverted.problems[0]
    outside = parse_boxes("[0.1, 0.1, 3.5, 0.5]", width=None)
    assert outside.boxes == [] and "no image size" in outside.problems[0]
    far = parse_boxes("{<10><10><180><50>}")
    assert far.boxes == [] and "outside the image" in far.problems[0]
    nothing = parse_boxes("the person on the left")
    assert nothing.boxes == [] and nothing.problems == ["no box found in 'the person on the left'"]
    broken = parse_boxes("{<10><20><30>}")
    assert broken.boxes == [] and "box-like text in no known format" in broken.problems[0]
    assert parse_boxes(None).problems == ["not text: NoneType"]
    partly = parse_boxes("{<10><20><30><40>} and also [1, 2")
    assert partly.boxes and "box-like text" in partly.problems[0]


def test_slightly_outside_is_clipped_not_refused():
    assert close(parse_boxes("{<0><0><102><100>}").first, (0.0, 0.0, 1.0, 1.0))
    assert close(parse_boxes("[-2, 0, 642, 480]", width=640, height=480).first, (0.0, 0.0, 1.0, 1.0))


@pytest.mark.parametrize(
    "kwargs",
    [{"list_scale": "percent"}, {"list_layout": "yxyx"}, {"width": 0, "height": 10}, {"width": float("nan")}],
)
def test_bad_options_are_refused(kwargs):
    with pytest.raises(ValueError):
        parse_boxes("[1, 2, 3, 4]", **kwargs)


def test_iou_and_conversions():
    assert iou((0, 0, 1, 1), (0, 0, 1, 1)) == 1.0
    assert math.isclose(iou((0, 0, 0.5, 1), (0.25, 0, 0.75, 1)), 1 / 3)
    assert iou((0, 0, 0.1, 0.1), (0.5, 0.5, 0.6, 0.6)) == 0.0
    assert iou((0.2, 0.2, 0.2, 0.2), (0.2, 0.2, 0.2, 0.2)) == 0.0
    assert close(xyxy_to_xywh(xywh_to_xyxy((0.1, 0.2, 0.3, 0.4))), (0.1, 0.2, 0.3, 0.4))


def test_score_grounding_follows_herm_first_box_any_reference_strict_threshold():
    gold = [(0.1, 0.1, 0.5, 0.5)]
    right = score_grounding("{<10><10><50><50>}", gold)
    assert right.correct and right.parsed and right.format == "minigptv2" and math.isclose(right.iou, 1.0)
    # exactly 0.5 is wrong: HERM counts IoU > 0.5
    half = score_grounding("[0.1, 0.1, 0.5, 0.3]", [(0.1, 0.1, 0.5, 0.5)])
    assert math.isclose(half.iou, 0.5) and not half.correct
    # first predicted box only, against the best of several references
    several = score_grounding(
        "{<60><60><90><90>}{<10><10><50><50>}", [(0.0, 0.0, 0.2, 0.2), (0.6, 0.6, 0.9, 0.9)]
    )
    assert several.correct
    unread = score_grounding("somewhere left", gold)
    assert not unread.parsed and not unread.correct and unread.iou == 0.0 and unread.problems
    with pytest.raises(ValueError):
        score_grounding("{<1><1><2><2>}", [])
    with pytest.raises(ValueError):
        score_grounding("{<1><1><2><2>}", gold, threshold=float("nan"))


@pytest.mark.parametrize("case", CASES, ids=[f"{i}-{c.note or c.fmt}" for i, c in enumerate(CASES)])
def test_every_case_of_the_shared_table(case: BoxCase) -> None:
    parsed = parse_boxes(case.text, **case.options)
    if case.expected is None:
        assert parsed.first is None and parsed.problems
    else:
        assert close(parsed.first, case.expected) and parsed.formats[0] == case.fmt
