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

Determinism: a sample's bytes depend on that sample alone — not on its batch neighbours, its
position in a batch or the thread count — so sharded, resumed and uninterrupted runs agree.
PGD starts from the clean image (``random_start=False``): torchattacks draws a random start for
the whole batch from one generator, which would tie a sample to its neighbours; PGD steps follow
the *sign* of the gradient. Attacks that draw random numbers (APGD) are seeded from the
seeds of the samples attacked together (on CPU: the sample's own) inside `torch.random.fork_rng`,
so global RNG state is untouched.

On CPU each sample is attacked on its own (a batch of one) at one torch thread, samples side by
side on a thread pool (`hvgen.torch_threads`): CPU kernels round a row by its batch position and
by the thread count (MKL's AVX2 sgemm, as on AMD EPYC: by position even single-threaded), which
padding batches to a fixed shape does not fix. ``scripts/bench_adversarial.py`` measures the cost.

On CUDA samples are attacked in batches padded to `batch_size`, for throughput (fixed shapes,
so the same kernels run whatever the batch holds). The contract there is weaker, and not
measured (no GPU was available): bytes may change with the GPU model, the software stack
(driver, CUDA, cuDNN, torch) and `batch_size`, and two kernels accumulate with atomic adds (the
backward of the antialiased resize and of flash attention), so a gradient component near zero
can change sign between two runs on the same GPU. APGD's random start is drawn per batch there.

A change to the attack that gives other bytes on the same stack (another step rule, projection or
rounding) bumps ``ADVERSARIAL_VERSION`` (``hvgen.scenarios.versions``): a resumed run then redoes
the outputs of the older version.
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from hvgen.cpu_budget import torch_cpu_threads
from hvgen.models import pick_device
from hvgen.scenarios.attack_settings import ATTACKS, check_attack_name, check_attack_settings
from hvgen.scenarios.base import ScenarioInput, ScenarioOutput
from hvgen.surrogate import load_surrogate
from hvgen.torch_threads import map_one_thread_each, torch_threads

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


def make_attack(name: str, model: nn.Module, eps: float, alpha: float, steps: int) -> Attack:
    """The attack `name` against `model` (which maps [0, 1] images to logits). The only place
    that knows the backend: swap torchattacks here without touching the scenario."""
    check_attack_name(name)
    return _torchattacks_factory(name)(model, eps, alpha, steps)


class ZeroShotCLIP(nn.Module):
    """CLIP zero-shot classifier over per-sample class sets, differentiable from the pixels.

    Input: images [B, 3, H, W] in [0, 1] at any resolution. The module centre-crops to a
    square, resizes to the CLIP input size (antialiased bilinear) and normalises — what the
    CLIP processor does, but inside autograd. Classes come with each call (text embeddings
    padded to [B, K, D] with a mask; padded logits are `MASKED_LOGIT`); `bind` fixes them for an
    attack, which calls ``model(images)``. Holding no per-batch state, one instance serves
    several threads at once.
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

    def forward(self, images: torch.Tensor, text: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Logits [B, K]: `text` [B, K, D] (L2-normalised), `mask` [B, K] (True = real class)."""
        feats = _features(self.clip.get_image_features(pixel_values=self.preprocess(images)))
        feats = F.normalize(feats.float(), dim=-1)  # similarities and the loss in float32
        scale = self.clip.logit_scale.float().exp()
        logits = scale * torch.einsum("bd,bkd->bk", feats, text)
        return logits.masked_fill(~mask, MASKED_LOGIT)

    def bind(self, text: torch.Tensor, mask: torch.Tensor) -> nn.Module:
        """This classifier with its classes fixed: images → logits, what an attack calls."""
        return _WithClasses(self, text, mask)


class _WithClasses(nn.Module):
    """A `ZeroShotCLIP` and one batch's classes (a fresh one per attack, shared by nobody)."""

    def __init__(self, classifier: ZeroShotCLIP, text: torch.Tensor, mask: torch.Tensor):
        super().__init__()
        self.classifier = classifier
        self.text, self.mask = text, mask

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.classifier(images, self.text, self.mask)

    def __repr__(self) -> str:
        # torchattacks names its model with str(model): skip printing the whole CLIP per attack
        return "ZeroShotCLIP()"


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


def _attack_device() -> str:
    """The GPU this process owns (cuda:LOCAL_RANK under torchrun or `--executor local --workers N`,
    as the render stage picks it), else the CPU: several workers of one node must not all attack on
    cuda:0."""
    device = pick_device("auto")
    return device if device.startswith("cuda") else "cpu"


def _torch_dtype(name: str, device: str) -> torch.dtype:
    """The surrogate's dtype: 'auto' is bfloat16 on CUDA (tensor cores; fp32's exponent range,
    so attack gradients do not overflow as they can in fp16) and float32 elsewhere."""
    from hvgen.errors import HvgenError
    from hvgen.models import pick_dtype

    try:
        return pick_dtype(name, device, cuda_default="bfloat16")
    except HvgenError:
        raise ValueError(f"unknown dtype {name!r}: use auto, float32, float16 or bfloat16") from None


def _attack_seed(seeds: Sequence[int]) -> int:
    digest = hashlib.blake2b(",".join(str(int(s)) for s in seeds).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


RANDOM_ATTACKS = frozenset({"apgd"})
"""Attacks that draw from torch's global RNG (APGD's random start). The global generator is
shared by every thread, so these are seeded and run one at a time under `_GLOBAL_RNG`; the
others touch no RNG and run in parallel (a test checks that they leave the RNG untouched)."""
_GLOBAL_RNG = threading.Lock()


@dataclass(frozen=True)
class _Job:
    """One record to attack: its position in the call's inputs, the input and its candidates."""

    index: int
    item: ScenarioInput
    classes: list[str]
    label: int


class AdversarialScenario:
    """Untargeted L∞ attack per record on a surrogate CLIP zero-shot classifier.

    The surrogate is loaded lazily on the first batch (constructing the scenario is cheap and
    validates the options). Params per sample: attack, eps, alpha, steps, surrogate, classes,
    label, pred_before, pred_after, success (= pred_after ≠ label), linf (achieved, in [0, 1]).
    On CPU every sample is attacked alone at one torch thread, samples in parallel on as many
    threads as torch's thread count; on CUDA in batches padded to `batch_size` (module doc).
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
        check_attack_settings(attack, eps, steps, batch_size, dtype)
        self.surrogate = surrogate
        self.label = label or surrogate  # how samples name the surrogate (no machine path)
        self.attack = attack
        self.eps = float(eps)
        self.alpha = float(alpha)
        self.steps = int(steps)
        self.device = device or _attack_device()
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

    def _class_tensors(self, class_lists: list[list[str]]) -> tuple[torch.Tensor, torch.Tensor]:
        """(text [B, K, D], mask [B, K]) for `ZeroShotCLIP`; K is a multiple of `CLASS_SLOTS`."""
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
        return text, mask

    # ----------------------------------------------------------------- scenario API

    def apply_batch(self, inputs: list[ScenarioInput]) -> list[ScenarioOutput]:
        outputs: list[ScenarioOutput | None] = [None] * len(inputs)
        jobs = []
        for i, item in enumerate(inputs):
            cand = candidate_classes(item.record)
            if cand is None:
                outputs[i] = ScenarioOutput(
                    image=None, skip_reason="record has no candidate answers (options or truth/foil)"
                )
            else:
                jobs.append(_Job(i, item, *cand))
        if jobs:
            attack = self._attack_each if torch.device(self.device).type == "cpu" else self._attack_batched
            for job, output in zip(jobs, attack(jobs), strict=True):
                outputs[job.index] = output
        return [o for o in outputs if o is not None]

    def _attack_each(self, jobs: list[_Job]) -> list[ScenarioOutput]:
        """CPU: every sample alone at one torch thread — the only way its bytes cannot depend on
        its neighbours, its batch position or the thread count (module doc)."""
        with torch_threads(1):
            self._ensure_loaded()
            self._embed([c for job in jobs for c in job.classes])  # the pool threads only read the cache
        return map_one_thread_each(
            lambda job: self._attack([job], rows=1)[0], jobs, workers=torch_cpu_threads()
        )

    def _attack_batched(self, jobs: list[_Job]) -> list[ScenarioOutput]:
        """CUDA: images of one size form a batch of `batch_size` rows (the last one padded), so
        tensor shapes, and so the kernels chosen, never depend on how many records came."""
        by_size: dict[tuple[int, int], list[_Job]] = {}
        for job in jobs:
            by_size.setdefault((job.item.image.height, job.item.image.width), []).append(job)
        done: dict[int, ScenarioOutput] = {}
        for group in by_size.values():
            for start in range(0, len(group), self.batch_size):
                chunk = group[start : start + self.batch_size]
                for job, output in zip(chunk, self._attack(chunk, rows=self.batch_size), strict=True):
                    done[job.index] = output
        return [done[job.index] for job in jobs]

    @contextmanager
    def _seeded(self, seeds: Sequence[int]) -> Iterator[None]:
        """Seed an attack that draws random numbers from its samples' seeds, leaving the global
        RNG as it was; the others run as they are (they draw nothing)."""
        if self.attack not in RANDOM_ATTACKS:
            yield
            return
        device = torch.device(self.device)
        devices = [device.index or 0] if device.type == "cuda" else []
        with _GLOBAL_RNG, torch.random.fork_rng(devices=devices):
            torch.manual_seed(_attack_seed(seeds))
            yield

    def _attack(self, jobs: list[_Job], rows: int) -> list[ScenarioOutput]:
        """Attack `jobs` (images of one size) as one batch of `rows` ≥ len(jobs) rows; the
        padding rows (blank images with the first job's classes) are attacked and thrown away."""
        classifier = self._ensure_loaded()
        class_lists = [job.classes for job in jobs]
        clean_u8 = np.stack([np.asarray(job.item.image.convert("RGB")) for job in jobs])  # B,H,W,3
        padding = rows - len(jobs)
        padded = np.concatenate([clean_u8, np.zeros((padding, *clean_u8.shape[1:]), np.uint8)])
        clean = torch.from_numpy(padded).to(self.device).permute(0, 3, 1, 2).float() / 255
        target = torch.tensor([job.label for job in jobs] + [0] * padding, device=self.device)
        model = classifier.bind(*self._class_tensors(class_lists + [class_lists[0]] * padding))

        with self._seeded([job.item.seed for job in jobs]):
            attack = make_attack(self.attack, model, self.eps, self.alpha, self.steps)
            adv = attack(clean, target).detach()[: len(jobs)]

        # 8-bit rounding, then re-projection onto the ε-ball in integer units (see module doc)
        budget = math.floor(self.eps * 255 + 1e-6)
        adv_u8 = (adv.clamp(0, 1) * 255).round().permute(0, 2, 3, 1).to(torch.int16).cpu().numpy()
        base = clean_u8.astype(np.int16)
        adv_u8 = np.clip(adv_u8, base - budget, base + budget).clip(0, 255).astype(np.uint8)

        with torch.no_grad():
            adv_padded = np.concatenate([adv_u8, padded[len(jobs) :]])
            adv_t = torch.from_numpy(adv_padded).to(self.device).permute(0, 3, 1, 2).float() / 255
            pred_before = model(clean).argmax(dim=1).tolist()
            pred_after = model(adv_t).argmax(dim=1).tolist()
        linf = np.abs(adv_u8.astype(np.int16) - base).reshape(len(jobs), -1).max(axis=1)

        outputs = []
        for b, job in enumerate(jobs):
            params = {
                "attack": self.attack,
                "eps": self.eps,
                "alpha": self.alpha,
                "steps": self.steps,
                "surrogate": self.label,
                "classes": job.classes,
                "label": job.label,
                "pred_before": int(pred_before[b]),
                "pred_after": int(pred_after[b]),
                "success": bool(pred_after[b] != job.label),
                "linf": float(linf[b]) / 255,
            }
            outputs.append(ScenarioOutput(image=Image.fromarray(adv_u8[b]), params=params))
        return outputs
