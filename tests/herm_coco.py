"""A small COCO-format person data set written by the tests: Pillow-drawn people whose
keypoints make each pose class, and objects for each person-object relation.

Who is who (image 1 and 2 are 640x480):
  image 1: P1 standing (left, left arm raised, facing the camera, holding a cup),
           P2 sitting on a chair (center, facing to the left), P3 bending (right, facing away);
  image 2: P4 lying (facing to the left), P5 riding a bicycle;
  image 3: P6 standing near a bench, a crowd region and a tiny person (not asked about);
  image 4: a file that does not decode (skipped and counted).
"""

from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageDraw

from hvgen.readers.coco import COCO_KEYPOINTS

SKELETON = [[16, 14], [14, 12], [17, 15], [15, 13], [12, 13], [6, 12], [7, 13], [6, 7], [6, 8],
            [7, 9], [8, 10], [9, 11], [2, 3], [1, 2], [1, 3], [2, 4], [3, 5], [4, 6], [5, 7]]  # fmt: skip


def _kp(**points: tuple[float, float, int]) -> list[float]:
    flat: list[float] = []
    for name in COCO_KEYPOINTS:
        x, y, v = points.get(name, (0, 0, 0))
        flat += [x, y, v]
    return flat


PEOPLE = {
    # id: (image, bbox, keypoints)
    1: (
        1,
        [80, 80, 80, 340],
        _kp(
            nose=(120, 110, 2),
            left_eye=(125, 105, 2),
            right_eye=(115, 105, 2),
            left_ear=(130, 108, 2),
            right_ear=(110, 108, 2),
            left_shoulder=(140, 150, 2),
            right_shoulder=(100, 150, 2),
            left_elbow=(150, 120, 2),
            right_elbow=(95, 200, 2),
            left_wrist=(150, 90, 2),
            right_wrist=(95, 240, 2),
            left_hip=(135, 250, 2),
            right_hip=(105, 250, 2),
            left_knee=(135, 330, 2),
            right_knee=(105, 330, 2),
            left_ankle=(135, 410, 2),
            right_ankle=(105, 410, 2),
        ),
    ),
    2: (
        1,
        [280, 150, 120, 220],
        _kp(
            nose=(310, 170, 2),
            left_eye=(315, 165, 1),
            right_eye=(318, 165, 1),
            right_ear=(325, 168, 2),
            left_shoulder=(300, 200, 2),
            right_shoulder=(340, 200, 2),
            left_elbow=(295, 240, 2),
            right_elbow=(345, 240, 2),
            left_wrist=(295, 270, 2),
            right_wrist=(345, 270, 2),
            left_hip=(305, 280, 2),
            right_hip=(335, 280, 2),
            left_knee=(360, 285, 2),
            right_knee=(380, 285, 2),
            left_ankle=(365, 360, 2),
            right_ankle=(385, 360, 2),
        ),
    ),
    3: (
        1,
        [450, 200, 110, 220],
        _kp(
            nose=(465, 235, 1),
            left_shoulder=(470, 230, 2),
            right_shoulder=(490, 230, 2),
            left_elbow=(465, 270, 2),
            right_elbow=(485, 270, 2),
            left_wrist=(460, 300, 2),
            right_wrist=(480, 300, 2),
            left_hip=(520, 250, 2),
            right_hip=(540, 250, 2),
            left_knee=(520, 330, 2),
            right_knee=(540, 330, 2),
            left_ankle=(520, 410, 2),
            right_ankle=(540, 410, 2),
        ),
    ),
    4: (
        2,
        [60, 280, 320, 60],
        _kp(
            nose=(70, 310, 2),
            left_eye=(75, 305, 1),
            left_ear=(80, 305, 2),
            left_shoulder=(100, 300, 2),
            right_shoulder=(100, 320, 2),
            left_hip=(200, 300, 2),
            right_hip=(200, 320, 2),
            left_knee=(280, 300, 2),
            right_knee=(280, 320, 2),
            left_ankle=(360, 305, 2),
            right_ankle=(360, 315, 2),
        ),
    ),
    5: (
        2,
        [460, 110, 80, 260],
        _kp(
            nose=(495, 125, 2),
            left_eye=(500, 120, 2),
            right_eye=(490, 120, 2),
            left_shoulder=(510, 150, 2),
            right_shoulder=(480, 150, 2),
            left_wrist=(530, 220, 2),
            right_wrist=(470, 220, 2),
            left_hip=(505, 230, 2),
            right_hip=(485, 230, 2),
            left_knee=(520, 290, 2),
            right_knee=(470, 290, 2),
            left_ankle=(520, 350, 2),
            right_ankle=(470, 350, 2),
        ),
    ),
    6: (
        3,
        [300, 100, 60, 300],
        _kp(
            left_shoulder=(345, 150, 2),
            right_shoulder=(315, 150, 2),
            left_hip=(340, 240, 2),
            right_hip=(320, 240, 2),
            left_knee=(340, 320, 2),
            right_knee=(320, 320, 2),
            left_ankle=(340, 390, 2),
            right_ankle=(320, 390, 2),
        ),
    ),
}
BROKEN = {"id": 9, "image_id": 4, "category_id": 1, "bbox": [100, 100, 100, 200], "area": 12000, "iscrowd": 0,
          "keypoints": _kp(), "num_keypoints": 0}  # fmt: skip
CROWD = {"id": 7, "image_id": 3, "category_id": 1, "bbox": [0, 0, 200, 100], "area": 20000, "iscrowd": 1,
         "keypoints": _kp(), "num_keypoints": 0}  # fmt: skip
TINY = {"id": 8, "image_id": 3, "category_id": 1, "bbox": [600, 20, 20, 30], "area": 600, "iscrowd": 0,
        "keypoints": _kp(), "num_keypoints": 0}  # fmt: skip
OBJECTS = [  # id, image, category id, bbox
    (101, 1, 47, [85, 230, 20, 20]),  # cup in P1's right hand
    (102, 1, 62, [290, 250, 110, 130]),  # chair under P2
    (103, 2, 2, [430, 220, 140, 120]),  # bicycle under P5
    (104, 3, 15, [380, 300, 100, 60]),  # bench near P6
]
CATEGORIES = [
    {"id": 1, "name": "person", "supercategory": "person"},
    {"id": 2, "name": "bicycle", "supercategory": "vehicle"},
    {"id": 15, "name": "bench", "supercategory": "outdoor"},
    {"id": 47, "name": "cup", "supercategory": "kitchen"},
    {"id": 62, "name": "chair", "supercategory": "furniture"},
]
LICENSES = [
    {"id": 4, "name": "Attribution License", "url": "http://creativecommons.org/licenses/by/2.0/"},
    {
        "id": 2,
        "name": "Attribution-NonCommercial License",
        "url": "http://creativecommons.org/licenses/by-nc/2.0/",
    },
]
IMAGES = [
    {
        "id": i,
        "file_name": f"{i:012d}.jpg",
        "width": 640,
        "height": 480,
        "license": 2 if i == 2 else 4,  # image 2: a NonCommercial licence
        "coco_url": f"http://images.example/{i:012d}.jpg",
    }  # fmt: skip
    for i in (1, 2, 3, 4)
]


def write_coco(root: Path, copies: int = 1) -> dict[str, Path]:
    """Write the data set under `root`; returns the paths of its parts. `copies` > 1 repeats the
    four images (copy c: image, person and object ids + 10·c, 100·c, 1000·c; its own file, a shade
    lighter), so that each kind of person and fact is in several photographs (photographic twins)."""
    images_dir = root / "images"
    images_dir.mkdir(parents=True, exist_ok=True)
    images = [dict(image, id=image["id"] + 10 * c, file_name=f"{image['id'] + 10 * c:012d}.jpg",
                   coco_url=f"http://images.example/{image['id'] + 10 * c:012d}.jpg")
              for c in range(copies) for image in IMAGES]  # fmt: skip
    people = {
        pid + 100 * c: (im + 10 * c, bbox, kp)
        for c in range(copies)
        for pid, (im, bbox, kp) in PEOPLE.items()
    }
    objects_all = [(i + 1000 * c, im + 10 * c, cat, b) for c in range(copies) for i, im, cat, b in OBJECTS]
    extra = [dict(a, id=a["id"] + 100 * c, image_id=a["image_id"] + 10 * c) for c in range(copies)
             for a in (CROWD, TINY, BROKEN)]  # fmt: skip
    annotations = []
    for person_id, (image_id, bbox, keypoints) in people.items():
        annotations.append({
            "id": person_id, "image_id": image_id, "category_id": 1, "bbox": bbox, "area": bbox[2] * bbox[3] * 0.6,
            "iscrowd": 0, "keypoints": keypoints, "num_keypoints": sum(1 for v in keypoints[2::3] if v),
        })  # fmt: skip
    annotations += extra
    person_category = {**CATEGORIES[0], "keypoints": list(COCO_KEYPOINTS), "skeleton": SKELETON}
    keypoints_file = root / "person_keypoints.json"
    keypoints_file.write_text(json.dumps({"info": {}, "licenses": LICENSES, "images": images,
                                          "annotations": annotations, "categories": [person_category]}))  # fmt: skip
    objects = [{"id": i, "image_id": im, "category_id": c, "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
               for i, im, c, b in objects_all]  # fmt: skip
    instances_file = root / "instances.json"
    instances_file.write_text(json.dumps({"licenses": LICENSES, "images": images, "categories": CATEGORIES,
                                          "annotations": objects + [dict(a, keypoints=None) for a in annotations]}))  # fmt: skip
    captions = [{"id": 900 + image["id"], "image_id": image["id"], "caption": f"A photo with people, number {image['id']}."}
                for image in images if image["id"] % 10 != 4]  # fmt: skip
    captions_file = root / "captions.json"
    captions_file.write_text(json.dumps({"images": images, "annotations": captions}))
    for image in images:
        if image["id"] % 10 == 4:
            (images_dir / image["file_name"]).write_bytes(b"not a jpeg at all")
            continue
        picture = Image.new("RGB", (640, 480), (90 + 20 * (image["id"] % 10) + image["id"] // 10, 120, 140))
        draw = ImageDraw.Draw(picture)
        for _, im, _, box in objects_all:
            if im == image["id"]:
                draw.rectangle(
                    [box[0], box[1], box[0] + box[2], box[1] + box[3]], outline=(250, 200, 0), width=3
                )
        for image_id, _, keypoints in people.values():
            if image_id != image["id"]:
                continue
            for a, b in SKELETON:
                if keypoints[3 * a - 1] and keypoints[3 * b - 1]:
                    draw.line([tuple(keypoints[3 * a - 3 : 3 * a - 1]), tuple(keypoints[3 * b - 3 : 3 * b - 1])],
                              fill=(255, 255, 255), width=4)  # fmt: skip
        picture.save(images_dir / image["file_name"], quality=90)
    return {
        "keypoints": keypoints_file,
        "instances": instances_file,
        "captions": captions_file,
        "images": images_dir,
    }
