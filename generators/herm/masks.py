"""Optional segmentation masks for HERM's grounding answers (`hvgen herm --sam MODEL`).

A SAM model (transformers `SamModel`, e.g. facebook/sam-vit-base, or any local folder saved with
`save_pretrained`) is prompted with the answer boxes of one image at a time; each mask is stored
as COCO run-length encoding (RLE: column-major runs starting with zeros, compressed to COCO's
string form), so pycocotools' `mask.decode` reads it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from hvgen.errors import HvgenError


def encode_rle(mask: np.ndarray) -> dict[str, Any]:
    """A binary H×W mask as COCO compressed RLE: {"size": [H, W], "counts": str}."""
    height, width = mask.shape
    flat = np.asarray(mask, dtype=bool).reshape(-1, order="F")
    changes = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    runs = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat.size and flat[0]:
        runs = [0, *runs]
    return {"size": [int(height), int(width)], "counts": _compress(runs)}


def _compress(counts: list[int]) -> str:
    """pycocotools' rleToString: each count (minus the one two before it, from the third on) in
    5-bit groups, 0x20 = more groups follow, 0x10 = sign of the last group, plus 48."""
    out = []
    for index, value in enumerate(counts):
        x = value - counts[index - 2] if index > 2 else value
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = x != -1 if c & 0x10 else x != 0
            if more:
                c |= 0x20
            out.append(chr(c + 48))
    return "".join(out)


def decode_rle(rle: dict[str, Any]) -> np.ndarray:
    """The inverse of `encode_rle` (for checks; pycocotools' `mask.decode` does the same)."""
    counts, text, index = [], rle["counts"], 0
    while index < len(text):
        x, shift, more = 0, 0, True
        while more:
            c = ord(text[index]) - 48
            x |= (c & 0x1F) << (5 * shift)
            more = bool(c & 0x20)
            index += 1
            shift += 1
            if not more and c & 0x10:
                x |= -1 << (5 * shift)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    height, width = rle["size"]
    flat = np.zeros(height * width, dtype=bool)
    position, value = 0, False
    for count in counts:
        flat[position : position + count] = value
        position += count
        value = not value
    return flat.reshape((height, width), order="F")


class SamMasker:
    """Box-prompted masks from a transformers SAM model, one forward pass per image."""

    def __init__(self, model: str) -> None:
        import torch
        from transformers import SamModel, SamProcessor

        self.torch = torch
        self.device = "cuda" if torch.cuda.is_available() else "cpu"
        try:
            self.processor = SamProcessor.from_pretrained(model)
            self.model = SamModel.from_pretrained(model).to(self.device).eval()
        except Exception as error:  # transformers raises OSError, ValueError, HF errors ...
            reason = str(error).strip().splitlines()[0][:200] if str(error).strip() else type(error).__name__
            raise HvgenError(
                f"--sam {model}: cannot load a SAM model (transformers SamModel + SamProcessor) from it; pass a "
                f"local folder or a cached Hub id such as facebook/sam-vit-base. [{reason}]"
            ) from None

    def masks(self, image: Any, boxes: list[list[float]]) -> list[dict[str, Any]]:
        """COCO RLE masks of `boxes` (pixel [x1, y1, x2, y2]) in `image` (a PIL image)."""
        if not boxes:
            return []
        inputs = self.processor(image, input_boxes=[boxes], return_tensors="pt").to(self.device)
        with self.torch.inference_mode():
            output = self.model(**inputs, multimask_output=False)
        masks = self.processor.image_processor.post_process_masks(
            output.pred_masks.cpu(), inputs["original_sizes"].cpu(), inputs["reshaped_input_sizes"].cpu()
        )[0]
        return [encode_rle(mask[0].numpy()) for mask in masks]
