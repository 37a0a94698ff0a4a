"""Trigger localisation (T2IShield §3.3): binary search over a flagged prompt's words.

A backdoor trigger decides the image on its own, so the half of the prompt that holds it renders
(same seed) to nearly the reference image of the whole prompt, and the other half does not.
Render both halves, compare their CLIP image embeddings with the reference's, keep the closer
half while its cosine similarity reaches the threshold, and stop at one word: the suspect.
T2IShield recurses into the *first* half above the threshold; hvgen takes the more similar half
(the same when one half is clearly the trigger's, and not fooled when both pass). Thresholds in
the reference code: 0.85 for CLIP ViT-B/32, 0.825 for DINOv2 — both offered here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hvgen.analysis.scan import ScanSettings, prompt_seed
from hvgen.models import seeded_generators

DEFAULT_SIMILARITY = 0.85
DINOV2_SIMILARITY = 0.825


@dataclass
class Localisation:
    prompt: str
    trigger: str | None
    steps: list[dict[str, Any]] = field(default_factory=list)


class ImageSimilarity:
    """Cosine similarity of image embeddings: a CLIP checkpoint's image features ('tiny' for
    tests), or a DINOv2 checkpoint's [CLS] embedding — T2IShield offers both."""

    def __init__(self, model: str, device: Any) -> None:
        from hvgen.errors import ModelLoadError
        from hvgen.surrogate import load_surrogate

        self.device = device
        self.kind = "dinov2" if _model_type(model) == "dinov2" else "clip"
        try:
            if self.kind == "dinov2":
                self.model, self.processor = _load_dinov2(model, device)
            else:
                self.model, self.processor = load_surrogate(model, device)
        except Exception as error:
            reason = str(error.__cause__ or error).splitlines()[0][:200]
            raise ModelLoadError(
                f"--localize could not load the image model {model!r} ({reason}). Pass --clip PATH to a local CLIP "
                "or DINOv2 checkpoint (e.g. a saved openai/clip-vit-base-patch32 or facebook/dinov2-base), or "
                "--clip tiny for an offline test."
            ) from None

    @property
    def default_threshold(self) -> float:
        """T2IShield's similarity threshold for this kind of embedding."""
        return DINOV2_SIMILARITY if self.kind == "dinov2" else DEFAULT_SIMILARITY

    def embed(self, images: list[Any]) -> Any:
        import torch

        inputs = self.processor(images=images, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            if self.kind == "dinov2":
                features = self.model(**inputs).pooler_output  # the layer-normed [CLS] token
            else:
                features = self.model.get_image_features(**inputs)
        features = getattr(features, "pooler_output", features)  # transformers 5 returns an output object
        return torch.nn.functional.normalize(features.float(), dim=-1)


def _model_type(model: str) -> str | None:
    """The checkpoint's `model_type` from its config (local folder or cached Hub id), if readable."""
    if model == "tiny":
        return "clip"
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(model).model_type
    except Exception:  # not found offline, not a transformers model: the CLIP loader says why
        return None


def _load_dinov2(model: str, device: Any) -> tuple[Any, Any]:
    from transformers import AutoImageProcessor, Dinov2Model

    network = Dinov2Model.from_pretrained(model).to(device).eval()
    network.requires_grad_(False)
    return network, AutoImageProcessor.from_pretrained(model)


def render_images(pipeline: Any, prompts: list[str], seed: int, settings: ScanSettings) -> list[Any]:
    """PIL images of `prompts`, all with the seed of the prompt under search (as T2IShield does)."""
    import torch

    generators = seeded_generators(pipeline.device, [seed] * len(prompts))
    with torch.inference_mode():
        return pipeline(
            prompt=prompts,
            generator=generators,
            num_inference_steps=settings.steps,
            guidance_scale=settings.guidance,
            width=settings.width,
            height=settings.height,
        ).images


def localize_trigger(
    pipeline: Any,
    prompt: str,
    settings: ScanSettings,
    similarity: ImageSimilarity,
    threshold: float = DEFAULT_SIMILARITY,
) -> Localisation:
    """The suspected trigger word of `prompt` (None when no half stays close to the reference)."""
    seed = prompt_seed(settings.seed, prompt)
    (reference,) = similarity.embed(render_images(pipeline, [prompt], seed, settings))
    words = prompt.split()
    result = Localisation(prompt, None)
    while len(words) > 1:
        middle = len(words) // 2
        halves = [words[:middle], words[middle:]]
        texts = [" ".join(half) for half in halves]
        embeddings = similarity.embed(render_images(pipeline, texts, seed, settings))
        scores = [round(float(embedding @ reference), 4) for embedding in embeddings]
        best = max(range(2), key=lambda i: scores[i])
        result.steps.append({"halves": texts, "similarity": scores})
        if scores[best] < threshold:
            return result
        words = halves[best]
    result.trigger = words[0] if words else None
    return result
