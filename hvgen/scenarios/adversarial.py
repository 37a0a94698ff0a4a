"""Adversarial scenario: L∞ attacks on a surrogate CLIP zero-shot classifier.

Dysca publishes no code or parameters for its adversarial scenario, so this follows the
project design: the surrogate (a transformers `CLIPModel`) classifies the image among the
question's candidate answers — the options of a multiple-choice record (label =
``answer_index``), else ``[truth, foil]`` (label 0) — with prompts "a photo of {class}", and an
untargeted attack (default PGD, ε = 8/255, α = 2/255, 10 steps) pushes it away from the true
answer.

Where the perturbation lives: the attack runs on the *full-resolution* image in [0, 1]. The
classifier module itself centre-crops, resizes (differentiable `F.interpolate`, antialiased)
to the CLIP input size and normalises, so gradients flow back to every full-resolution pixel
and the ε-ball constrains the image that is saved, not a 224² copy. The result is rounded to
8 bits and then projected again onto the ball in integer units, so
``max |saved − clean| ≤ floor(255·ε)/255 ≤ ε`` holds exactly on the stored PNG (rounding alone
would only give ε + 0.5/255). Reported predictions are those of the surrogate on the stored
uint8 images.

Attacks come from torchattacks behind one small interface, `make_attack`, so the backend can
be swapped: torchattacks 3.4 and 3.5 pin ``requests~=2.25.1``, so hvgen requires 3.3.x.

Determinism: PGD starts from the clean image (``random_start=False``). torchattacks draws a
random start for the whole batch from one generator, which would make a sample depend on its
batch neighbours (and so on how a resumed run happens to batch); without it, and since PGD steps
follow the *sign* of the gradient (invariant to the batch-mean loss scaling), every sample's
result depends on that sample alone. Attacks that still draw random numbers (APGD) are seeded
from the batch's seeds inside `torch.random.fork_rng`, so global RNG state is untouched.
"""

from __future__ import annotations

import difflib
import hashlib
import math
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from hvgen.scenarios.base import ScenarioInput, ScenarioOutput
from hvgen.surrogate import load_surrogate

__all__ = [
    "ATTACKS",
    "AdversarialScenario",
    "Attack",
    "ZeroShotCLIP",
    "candidate_classes",
    "load_surrogate",
    "make_attack",
]

PROMPT = "a photo of {}"
CLASS_SLOTS = 8
"""Width of the class axis (padded with masked slots), fixed so tensor shapes never vary."""
MASKED_LOGIT = -1e4
"""Logit of padding classes: large negative but finite, so softmax/CE stay NaN-free."""

Attack = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""An attack: (images [B, 3, H, W] in [0, 1], labels [B]) → adversarial images, same shape."""


def _torchattacks_factory(name: str) -> Callable[[nn.Module, float, float, int], Attack]:
    def build(model: nn.Module, eps: float, alpha: float, steps: int) -> Attack:
        import torchattacks  # imported lazily: it pulls in torchvision

        if name == "pgd":
            return torchattacks.PGD(model, eps=eps, alpha=alpha, steps=steps, random_start=False)
        if name == "fgsm":
            return torchattacks.FGSM(model, eps=eps)
        if name == "bim":
            return torchattacks.BIM(model, eps=eps, alpha=alpha, steps=steps)
        if name == "mifgsm":
            return torchattacks.MIFGSM(model, eps=eps, alpha=alpha, steps=steps, decay=1.0)
        if name == "apgd":
            # APGD picks its own step sizes; it reseeds torch's global RNG from `seed`, which
            # `AdversarialScenario` confines with fork_rng.
            seed = int(torch.randint(0, 2**31 - 1, ()).item())
            return torchattacks.APGD(
                model, norm="Linf", eps=eps, steps=steps, n_restarts=1, seed=seed, loss="ce"
            )
        raise AssertionError(name)

    return build


ATTACKS: dict[str, str] = {
    "pgd": "projected gradient descent with random start (torchattacks.PGD)",
    "fgsm": "single signed-gradient step of size ε (torchattacks.FGSM)",
    "bim": "iterative FGSM without random start (torchattacks.BIM)",
    "mifgsm": "momentum iterative FGSM, decay 1.0 (torchattacks.MIFGSM)",
    "apgd": "auto-PGD with cross-entropy loss, step size adapted (torchattacks.APGD)",
}
"""Attack name → description. All are untargeted L∞ attacks."""


def make_attack(name: str, model: nn.Module, eps: float, alpha: float, steps: int) -> Attack:
    """The attack `name` against `model` (which maps [0, 1] images to logits). The only place
    that knows the backend: swap torchattacks here without touching the scenario."""
    if name not in ATTACKS:
        close = difflib.get_close_matches(name, list(ATTACKS), n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ValueError(f"Unknown attack {name!r}.{hint} Valid: {', '.join(ATTACKS)}.")
    return _torchattacks_factory(name)(model, eps, alpha, steps)


class ZeroShotCLIP(nn.Module):
    """CLIP zero-shot classifier over per-sample class sets, differentiable from the pixels.

    Input: images [B, 3, H, W] in [0, 1] at any resolution. The module centre-crops to a
    square, resizes to the CLIP input size (antialiased bilinear) and normalises — what the
    CLIP processor does, but inside autograd. Classes are set per batch with `set_classes`
    (text embeddings padded to [B, K, D] with a mask); padded logits are `MASKED_LOGIT`.
    """

    def __init__(self, clip: nn.Module, image_size: int, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.clip = clip
        self.image_size = int(image_size)
        # Not named mean/std: torchattacks >= 3.4 would read those as its own normalisation.
        self.register_buffer(
            "pixel_mean", torch.tensor(mean, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "pixel_std", torch.tensor(std, dtype=torch.float32).view(1, 3, 1, 1), persistent=False
        )
        self.text: torch.Tensor | None = None
        self.mask: torch.Tensor | None = None

    def set_classes(self, text_embeds: torch.Tensor, mask: torch.Tensor) -> None:
        """`text_embeds` [B, K, D] (L2-normalised), `mask` [B, K] (True = real class)."""
        self.text, self.mask = text_embeds, mask

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        h, w = images.shape[-2:]
        side = min(h, w)
        top, left = (h - side) // 2, (w - side) // 2
        x = images[..., top : top + side, left : left + side]
        if side != self.image_size:
            x = F.interpolate(
                x,
                size=(self.image_size, self.image_size),
                mode="bilinear",
                align_corners=False,
                antialias=True,
            )
        return ((x - self.pixel_mean) / self.pixel_std).to(self.clip.dtype)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if self.text is None or self.mask is None:
            raise RuntimeError("ZeroShotCLIP.set_classes must be called before forward")
        feats = _features(self.clip.get_image_features(pixel_values=self.preprocess(images)))
        feats = F.normalize(feats.float(), dim=-1)  # similarities and the loss in float32
        scale = self.clip.logit_scale.float().exp()
        logits = scale * torch.einsum("bd,bkd->bk", feats, self.text)
        return logits.masked_fill(~self.mask, MASKED_LOGIT)


def _features(out: Any) -> torch.Tensor:
    """transformers 4 returns projected features as a tensor, 5 as `pooler_output`."""
    return out if isinstance(out, torch.Tensor) else out.pooler_output


def candidate_classes(record: dict[str, Any] | None) -> tuple[list[str], int] | None:
    """(classes, label) for a record, or None if it has no usable candidates.

    Multiple-choice → its options and ``answer_index``; anything else → ``[truth, foil]`` and
    label 0 (true/false options "True"/"False" mean nothing to CLIP)."""
    if not record:
        return None
    options = record.get("options") or []
    index = record.get("answer_index")
    if record.get("question_type") == "multi choice" and len(options) >= 2 and isinstance(index, int):
        if 0 <= index < len(options) and len({str(o) for o in options}) == len(options):
            return [str(o) for o in options], index
        return None
    truth, foil = record.get("truth"), record.get("foil")
    if truth and foil and str(truth) != str(foil):
        return [str(truth), str(foil)], 0
    return None


def _torch_dtype(name: str, device: str) -> torch.dtype:
    """The surrogate's dtype: 'auto' is bfloat16 on CUDA (tensor cores; fp32's exponent range,
    so attack gradients do not overflow as they can in fp16) and float32 elsewhere."""
    from hvgen.errors import HvgenError
    from hvgen.models import pick_dtype

    try:
        return pick_dtype(name, device, cuda_default="bfloat16")
    except HvgenError:
        raise ValueError(f"unknown dtype {name!r}: use auto, float32, float16 or bfloat16") from None


def _batch_seed(seeds: Sequence[int]) -> int:
    digest = hashlib.blake2b(",".join(str(int(s)) for s in seeds).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


class AdversarialScenario:
    """Untargeted L∞ attack per record on a surrogate CLIP zero-shot classifier.

    The surrogate is loaded lazily on the first batch (constructing the scenario is cheap and
    validates the options). Params per sample: attack, eps, alpha, steps, surrogate, classes,
    label, pred_before, pred_after, success (= pred_after ≠ label), linf (achieved, in [0, 1]).
    """

    name: ClassVar[str] = "adversarial"
    level: ClassVar[Literal["image", "record"]] = "record"

    def __init__(
        self,
        surrogate: str = "openai/clip-vit-large-patch14",
        attack: str = "pgd",
        eps: float = 8 / 255,
        alpha: float = 2 / 255,
        steps: int = 10,
        device: str | None = None,
        batch_size: int = 16,
        label: str | None = None,
        dtype: str = "auto",
    ) -> None:
        if attack not in ATTACKS:
            close = difflib.get_close_matches(attack, list(ATTACKS), n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ValueError(f"Unknown attack {attack!r}.{hint} Valid: {', '.join(ATTACKS)}.")
        if not 0 < eps <= 1:
            raise ValueError(f"eps must be in (0, 1] (pixel scale [0, 1]), got {eps}")
        if math.floor(eps * 255 + 1e-6) < 1:
            raise ValueError(f"eps={eps} is below one 8-bit level (1/255); the saved image could not change")
        if steps < 1 or batch_size < 1:
            raise ValueError("steps and batch_size must be ≥ 1")
        self.surrogate = surrogate
        self.label = label or surrogate  # how samples name the surrogate (no machine path)
        self.attack = attack
        self.eps = float(eps)
        self.alpha = float(alpha)
        self.steps = int(steps)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        self.batch_size = int(batch_size)
        self.dtype = _torch_dtype(dtype, self.device)
        self._classifier: ZeroShotCLIP | None = None
        self._tokenizer: Any = None
        self._text_cache: dict[str, torch.Tensor] = {}

    # ----------------------------------------------------------------- model plumbing

    def _ensure_loaded(self) -> ZeroShotCLIP:
        if self._classifier is None:
            clip, processor = load_surrogate(self.surrogate, self.device, self.dtype)
            ip = processor.image_processor
            size = clip.config.vision_config.image_size  # what the position embeddings expect
            classifier = ZeroShotCLIP(clip, size, ip.image_mean, ip.image_std).to(self.device).eval()
            self._classifier, self._tokenizer = classifier, processor.tokenizer
        return self._classifier

    @torch.no_grad()
    def _embed(self, classes: Sequence[str]) -> dict[str, torch.Tensor]:
        """Text embeddings of class names, cached. Each name is encoded alone and padded to the
        tokenizer's fixed length, so its embedding never depends on which other names were new
        in the same batch (padding to the longest would change shapes, and so the rounding)."""
        missing = [c for c in dict.fromkeys(classes) if c not in self._text_cache]
        if missing:
            clip = self._ensure_loaded().clip
            for name in missing:
                tokens = self._tokenizer(
                    [PROMPT.format(name)],
                    padding="max_length",
                    max_length=self._tokenizer.model_max_length,
                    truncation=True,
                    return_tensors="pt",
                ).to(self.device)
                features = _features(clip.get_text_features(**tokens)).float()
                self._text_cache[name] = F.normalize(features, dim=-1)[0]
        return {c: self._text_cache[c] for c in classes}

    def _set_classes(self, classifier: ZeroShotCLIP, class_lists: list[list[str]]) -> None:
        embeds = self._embed([c for cl in class_lists for c in cl])
        needed = max(len(cl) for cl in class_lists)
        k = CLASS_SLOTS * math.ceil(needed / CLASS_SLOTS)  # fixed unless a record has > CLASS_SLOTS
        dim = next(iter(embeds.values())).shape[-1]
        text = torch.zeros(len(class_lists), k, dim, device=self.device)
        mask = torch.zeros(len(class_lists), k, dtype=torch.bool, device=self.device)
        for i, cl in enumerate(class_lists):
            for j, c in enumerate(cl):
                text[i, j] = embeds[c]
                mask[i, j] = True
        classifier.set_classes(text, mask)

    # ----------------------------------------------------------------- scenario API

    def apply_batch(self, inputs: list[ScenarioInput]) -> list[ScenarioOutput]:
        outputs: list[ScenarioOutput | None] = [None] * len(inputs)
        work: dict[tuple[int, int], list[tuple[int, list[str], int]]] = {}
        for i, item in enumerate(inputs):
            cand = candidate_classes(item.record)
            if cand is None:
                outputs[i] = ScenarioOutput(
                    image=None, skip_reason="record has no candidate answers (options or truth/foil)"
                )
                continue
            # images of one size form one tensor; the stage usually sends a single size
            work.setdefault((item.image.height, item.image.width), []).append((i, *cand))
        for group in work.values():
            for start in range(0, len(group), self.batch_size):
                chunk = group[start : start + self.batch_size]
                results = self._attack_chunk([inputs[i] for i, _, _ in chunk], chunk)
                for (i, _, _), out in zip(chunk, results, strict=True):
                    outputs[i] = out
        return [o for o in outputs if o is not None]

    def _attack_chunk(
        self, items: list[ScenarioInput], chunk: list[tuple[int, list[str], int]]
    ) -> list[ScenarioOutput]:
        classifier = self._ensure_loaded()
        class_lists = [classes for _, classes, _ in chunk]
        labels = [label for _, _, label in chunk]
        clean_u8 = np.stack([np.asarray(it.image.convert("RGB")) for it in items])  # B,H,W,3
        # Fixed shapes make a sample independent of its batch neighbours (see module doc): pad
        # the batch to `batch_size` rows (blank images, the first row's classes) and the class
        # axis to a fixed number of slots; the padding is attacked too and thrown away.
        padding = self.batch_size - len(items)
        padded = np.concatenate([clean_u8, np.zeros((padding, *clean_u8.shape[1:]), np.uint8)])
        clean = torch.from_numpy(padded).to(self.device).permute(0, 3, 1, 2).float() / 255
        target = torch.tensor(labels + [0] * padding, device=self.device)
        self._set_classes(classifier, class_lists + [class_lists[0]] * padding)

        devices = [torch.device(self.device).index or 0] if torch.device(self.device).type == "cuda" else []
        with torch.random.fork_rng(devices=devices):
            torch.manual_seed(_batch_seed([it.seed for it in items]))
            attack = make_attack(self.attack, classifier, self.eps, self.alpha, self.steps)
            adv = attack(clean, target).detach()[: len(items)]

        # 8-bit rounding, then re-projection onto the ε-ball in integer units (see module doc)
        budget = math.floor(self.eps * 255 + 1e-6)
        adv_u8 = (adv.clamp(0, 1) * 255).round().permute(0, 2, 3, 1).to(torch.int16).cpu().numpy()
        base = clean_u8.astype(np.int16)
        adv_u8 = np.clip(adv_u8, base - budget, base + budget).clip(0, 255).astype(np.uint8)

        with torch.no_grad():
            adv_padded = np.concatenate([adv_u8, padded[len(items) :]])
            adv_t = torch.from_numpy(adv_padded).to(self.device).permute(0, 3, 1, 2).float() / 255
            pred_before = classifier(clean).argmax(dim=1).tolist()
            pred_after = classifier(adv_t).argmax(dim=1).tolist()
        linf = np.abs(adv_u8.astype(np.int16) - base).reshape(len(items), -1).max(axis=1)

        outputs = []
        for b, (_, classes, label) in enumerate(chunk):
            params = {
                "attack": self.attack,
                "eps": self.eps,
                "alpha": self.alpha,
                "steps": self.steps,
                "surrogate": self.label,
                "classes": classes,
                "label": label,
                "pred_before": int(pred_before[b]),
                "pred_after": int(pred_after[b]),
                "success": bool(pred_after[b] != label),
                "linf": float(linf[b]) / 255,
            }
            outputs.append(ScenarioOutput(image=Image.fromarray(adv_u8[b]), params=params))
        return outputs
