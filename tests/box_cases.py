"""The one table of box answers the tests read: what models write, and the normalised box (x1, y1,
x2, y2) each should be read as, or None when nothing can be read. `hvgen.boxes` is tested on it
(test_boxes.py), and so are the copies of that code the harness exports ship — lmms-eval's
``utils.py`` and VLMEvalKit's ``score_grounding.py`` — which must read every case the same way."""

from __future__ import annotations

from typing import Any, NamedTuple


class BoxCase(NamedTuple):
    text: Any  # the model's answer (text, or a list of numbers)
    expected: tuple[float, float, float, float] | None  # the first box read (normalised xyxy), or None
    fmt: str | None  # the format it is read from
    options: dict[str, Any] = {}  # parse_boxes options: width / height (pixels), list_scale, list_layout
    note: str = ""


CASES = [
    BoxCase("{<10><20><30><40>}", (0.1, 0.2, 0.3, 0.4), "minigptv2", note="HERM / MiniGPT-v2, 0-100 grid"),
    BoxCase("<p>hat</p>{< 50 ><60><70><80>}<delim>{<1><2><3><4>}", (0.5, 0.6, 0.7, 0.8), "minigptv2"),
    BoxCase(
        "<ref>the man</ref><box>(0,0),(999,999)</box>", (0.0, 0.0, 1.0, 1.0), "qwen_vl", note="Qwen-VL /999"
    ),
    BoxCase(
        "<|object_ref_start|>man<|object_ref_end|><|box_start|>(100,200),(500,1000)<|box_end|>",
        (0.1, 0.2, 0.5, 1.0),
        "qwen2_vl",
        note="Qwen2-VL, 0-1000 grid",
    ),
    BoxCase("<ref>person</ref><box>[[100, 250, 600, 750]]</box>", (0.1, 0.25, 0.6, 0.75), "internvl"),
    BoxCase("[0.1, 0.2, 0.5, 0.6]", (0.1, 0.2, 0.5, 0.6), "list", note="corners in 0-1"),
    BoxCase(
        '```json\n[{"bbox_2d": [64, 48, 320, 240], "label": "person"}]\n```',
        (0.1, 0.1, 0.5, 0.5),
        "list",
        {"width": 640, "height": 480},
        note="Qwen2.5-VL JSON, pixels",
    ),
    BoxCase("The man is at [64, 96, 256, 288].", (0.1, 0.2, 0.4, 0.6), "list", {"width": 640, "height": 480}),
    BoxCase("[-2, 0, 642, 480]", (0.0, 0.0, 1.0, 1.0), "list", {"width": 640, "height": 480}, "clipped"),
    BoxCase("[100, 100, 500, 500]", (0.1, 0.1, 0.5, 0.5), "list", {"list_scale": "grid1000"}),
    BoxCase("[0.100, 0.200, 0.300, 0.400]", (0.1, 0.2, 0.4, 0.6), "list", {"list_layout": "xywh"}),
    BoxCase([0.1, 0.2, 0.5, 0.6], (0.1, 0.2, 0.5, 0.6), "list", note="a JSON list, not text"),
    BoxCase("{<0><0><102><100>}", (0.0, 0.0, 1.0, 1.0), "minigptv2", note="just outside: clipped"),
    # nothing readable: reported, never guessed
    BoxCase("[64, 48, 320, 240]", None, None, note="pixels without an image size"),
    BoxCase("{<80><10><20><50>}", None, None, note="inverted corners"),
    BoxCase("{<10><10><180><50>}", None, None, note="far outside the image"),
    BoxCase("<box>(999,0),(999,999)</box>", None, None, note="empty box"),
    BoxCase("the person on the left", None, None, note="no box"),
    BoxCase("{<10><20><30>}", None, None, note="three numbers"),
    BoxCase("", None, None, note="empty answer"),
]
