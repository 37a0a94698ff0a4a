"""Trigger localisation (T2IShield §3.3): binary search over a flagged prompt's words.

A backdoor trigger decides the image on its own, so the half of the prompt that holds it renders
(same seed) to nearly the reference image of the whole prompt, and the other half does not.
Render both halves, compare their CLIP image embeddings with the reference's, keep the closer
half while its cosine similarity reaches the threshold, and stop at one word: the suspect.
T2IShield recurses into the *first* half above the threshold; hvgen takes the more similar half
(the same when one half is clearly the trigger's, and not fooled when both pass). Thresholds in
the reference code: 0.85 for CLIP ViT-B/32 (0.825 for DINOv2).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from hvgen.analysis.scan import ScanSettings, prompt_seed
from hvgen.models import seeded_generators

DEFAULT_SIMILARITY = 0.85


@dataclass
class Localisation:
    prompt: str
    trigger: str | None
    steps: list[dict[str, Any]] = field(default_factory=list)


class ImageSimilarity:
    """Cosine similarity of CLIP image embeddings (any CLIP checkpoint, 'tiny' for tests)."""

    def __init__(self, clip: str, device: Any) -> None:
        from hvgen.errors import ModelLoadError
        from hvgen.surrogate import load_surrogate

        try:
            self.model, self.processor = load_surrogate(clip, device)
        except ModelLoadError as error:
            reason = str(error.__cause__ or error).splitlines()[0][:200]
            raise ModelLoadError(
                f"--localize could not load the CLIP {clip!r} ({reason}). Pass --clip PATH to a local CLIP "
                "checkpoint (e.g. a saved openai/clip-vit-base-patch32), or --clip tiny for an offline test."
            ) from None
        self.device = device

    def embed(self, images: list[Any]) -> Any:
        import torch

        inputs = self.processor(images=images, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            features = self.model.get_image_features(**inputs)
        features = getattr(features, "pooler_output", features)  # transformers 5 returns an output object
        return torch.nn.functional.normalize(features.float(), dim=-1)


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
