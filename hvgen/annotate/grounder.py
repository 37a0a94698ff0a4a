"""Phrase grounding with a zero-shot object detector loaded through transformers.

`--grounder` takes `tiny` (a built-in random OWL-ViT, offline), a local folder saved with
`save_pretrained`, or a Hub id (read from the local Hugging Face cache when there is no network)
of an OWL-ViT, OWLv2 or Grounding DINO detector (`AutoModelForZeroShotObjectDetection`; e.g.
google/owlv2-base-patch16-ensemble, IDEA-Research/grounding-dino-tiny). OWL models take every
phrase as one text query of a single forward pass; Grounding DINO reads one caption, so each
phrase is its own pass ("phrase.") and a box scores its best over the phrase's tokens. Each
phrase gets its best-scoring box. Thresholds are the caller's: the raw best score is returned,
so a cached result serves any threshold.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hvgen.annotate.captioner import TINY, _dtype_argument, _first_line, _not_found, check_captioner
from hvgen.errors import ModelLoadError
from hvgen.models import pick_device, pick_dtype

GROUNDER_KIND = (
    "a zero-shot object detector (OWL-ViT / OWLv2 / Grounding DINO, e.g. google/owlv2-base-patch16-ensemble)"
)
SUPPORTED = {"owlvit": "OWL-ViT", "owlv2": "OWLv2", "grounding-dino": "Grounding DINO"}
"""model_type → name: the detectors whose outputs `Grounder.best_boxes` reads (OWL: one logit per
candidate box and text query, OWLv2 boxes relative to the image padded to a square; Grounding
DINO: one logit per query box and caption token, boxes relative to the image)."""


def grounder_id(grounder: str) -> str:
    """The name stored in records: the id or folder as given; the tiny model's version."""
    if grounder == TINY:
        from hvgen.annotate.tiny import TINY_GROUNDER_VERSION

        return f"hvgen/{TINY_GROUNDER_VERSION}"
    return grounder


def check_grounder(grounder: str, flag: str = "--grounder") -> None:
    """Refuse a value that cannot be a detector before any work starts."""
    check_captioner(grounder, flag, GROUNDER_KIND)


@dataclass(frozen=True)
class Grounded:
    """The best box of one phrase: [x1, y1, x2, y2] in the pixels of the image asked about."""

    score: float
    box: list[float]


class Grounder:
    """A loaded zero-shot detector with its processor."""

    def __init__(self, name: str, model: Any, processor: Any, device: str, dtype: Any) -> None:
        self.name, self.model, self.processor = name, model, processor
        self.device, self.dtype = device, dtype
        self.model_type = model.config.model_type
        text_config = getattr(model.config, "text_config", None)
        self.max_tokens = int(getattr(text_config, "max_position_embeddings", 16) or 16)

    def best_boxes(self, image: Any, phrases: Sequence[str]) -> list[Grounded]:
        """The best-scoring box of each phrase in `image` (a PIL image), in its pixels."""
        if not phrases:
            return []
        if self.model_type == "grounding-dino":
            return [self._caption_box(image, phrase) for phrase in phrases]
        return self._query_boxes(image, phrases)

    def _run(self, inputs: Any) -> Any:
        import torch

        moved = {}
        for name, value in dict(inputs).items():
            if isinstance(value, torch.Tensor):
                floating = value.is_floating_point()
                moved[name] = value.to(self.device, dtype=self.dtype) if floating else value.to(self.device)
        with torch.inference_mode():
            return self.model(**moved)

    def _query_boxes(self, image: Any, phrases: Sequence[str]) -> list[Grounded]:
        """OWL-ViT / OWLv2: every phrase a text query of one forward pass."""
        import torch

        inputs = self.processor(text=[list(phrases)], images=image, return_tensors="pt",
                                padding="max_length", truncation=True, max_length=self.max_tokens)  # fmt: skip
        output = self._run(inputs)
        scores = output.logits[0].float().sigmoid()  # [candidate boxes, queries]
        boxes = output.pred_boxes[0].float()  # [candidate boxes, 4]: cx, cy, w, h in 0-1
        width, height = image.size
        side = max(width, height)  # OWLv2 pads the image to a square at the bottom / right
        scale = (side, side) if self.model_type == "owlv2" else (width, height)
        found = []
        for query in range(len(phrases)):
            best = int(torch.argmax(scores[:, query]))
            found.append(_grounded(float(scores[best, query]), boxes[best], *scale))
        return found

    def _caption_box(self, image: Any, phrase: str) -> Grounded:
        """Grounding DINO: the phrase is the caption ("red shirt."); a box scores its best
        probability over the phrase's own tokens (not [CLS], [SEP] or the full stop)."""
        import torch

        tokenizer = self.processor.tokenizer
        caption = phrase.lower().strip().rstrip(".") + "."
        limit = int(getattr(self.model.config, "max_text_len", 256))
        inputs = self.processor(
            images=image, text=caption, return_tensors="pt", truncation=True, max_length=limit
        )
        skip = {tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id,
                tokenizer.convert_tokens_to_ids(".")}  # fmt: skip
        ids = inputs["input_ids"][0].tolist()
        positions = [i for i, token in enumerate(ids) if token not in skip] or [0]
        output = self._run(inputs)
        scores = output.logits[0].float().sigmoid()[:, positions].max(dim=-1).values  # [query boxes]
        best = int(torch.argmax(scores))
        width, height = image.size
        return _grounded(float(scores[best]), output.pred_boxes[0, best].float(), width, height)


def _grounded(score: float, box: Any, scale_x: float, scale_y: float) -> Grounded:
    """A (cx, cy, w, h) box in 0-1 of a `scale_x` × `scale_y` frame → its corners in pixels."""
    cx, cy, w, h = (float(v) for v in box)
    corners = [(cx - w / 2) * scale_x, (cy - h / 2) * scale_y, (cx + w / 2) * scale_x, (cy + h / 2) * scale_y]
    return Grounded(round(score, 6), [round(v, 2) for v in corners])


def load_grounder(
    grounder: str, device: str = "auto", dtype: str = "auto", flag: str = "--grounder"
) -> Grounder:
    """Load `grounder` (tiny, folder or Hub id) on `device`; any failure is one ModelLoadError."""
    import transformers
    from transformers import AutoConfig, AutoModelForZeroShotObjectDetection, AutoProcessor

    check_grounder(grounder, flag)
    source = grounder
    if grounder == TINY:
        from hvgen.annotate.tiny import tiny_grounder_path

        source = str(tiny_grounder_path())
        transformers.utils.logging.set_verbosity_error()  # its random weights warn about nothing useful
    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device, cuda_default="float16")
    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as error:
        raise ModelLoadError(_not_found(grounder, error, flag)) from None
    except (ValueError, KeyError) as error:
        raise ModelLoadError(
            f"{flag} {grounder}: transformers {transformers.__version__} does not know this model's architecture "
            f"({_first_line(error)}). Upgrade transformers or pick an OWL-ViT / OWLv2 / Grounding DINO detector."
        ) from None
    model_type = getattr(config, "model_type", "?")
    if model_type not in SUPPORTED:
        raise ModelLoadError(
            f"{flag} {grounder}: model_type '{model_type}' is not a detector hvgen can ground phrases with; "
            f"use {', '.join(SUPPORTED.values())} (e.g. google/owlv2-base-patch16-ensemble, "
            "IDEA-Research/grounding-dino-tiny) or 'tiny'."
        )
    try:
        model = AutoModelForZeroShotObjectDetection.from_pretrained(
            source, **{_dtype_argument(): torch_dtype}
        )
        processor = AutoProcessor.from_pretrained(source)
    except OSError as error:
        raise ModelLoadError(_not_found(grounder, error, flag)) from None
    except (ValueError, TypeError) as error:
        raise ModelLoadError(f"{flag} {grounder}: cannot load the detector ({_first_line(error)}).") from None
    model.to(device).eval()
    return Grounder(grounder_id(grounder), model, processor, device, torch_dtype)
