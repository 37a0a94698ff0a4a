"""Loading any image-text-to-text model through transformers, and asking it about images.

`--captioner` takes `tiny` (the built-in random model, offline), a local folder saved with
`save_pretrained`, or a Hub id (OWNER/NAME; read from the local Hugging Face cache when there is
no network). The model is loaded with the image-text-to-text auto class of the installed
transformers and its processor; prompts go through the processor's chat template when it has
one (each model formats images its own way), else straight to the processor.

Decoding is greedy (deterministic) unless a temperature is given; then every image is sampled
on its own with a seed derived from its key (hvgen.seeding), so a reply does not depend on its
batch neighbours.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hvgen.errors import HvgenError, ModelLoadError, did_you_mean
from hvgen.models import looks_like_path, pick_device, pick_dtype

TINY = "tiny"
AUTO_CLASSES = ("AutoModelForImageTextToText", "AutoModelForVision2Seq")
"""The auto class for chat-style vision-language models: the first name the installed
transformers has (ImageTextToText since 4.46; Vision2Seq before, removed in 5)."""


@dataclass(frozen=True)
class Decoding:
    """How replies are generated; stored in every row so differently made rows never mix."""

    max_new_tokens: int = 96
    temperature: float = 0.0
    seed: int = 0

    @property
    def sampling(self) -> bool:
        return self.temperature > 0

    def as_row(self) -> dict[str, Any]:
        if not self.sampling:
            return {"max_new_tokens": self.max_new_tokens, "mode": "greedy"}
        return {
            "max_new_tokens": self.max_new_tokens,
            "mode": "sample",
            "seed": self.seed,
            "temperature": self.temperature,
        }


def captioner_id(captioner: str) -> str:
    """The name stored as `generated_by`: the id or folder as given; the tiny model's version."""
    if captioner == TINY:
        from hvgen.annotate.tiny import TINY_VLM_VERSION

        return f"hvgen/{TINY_VLM_VERSION}"
    return captioner


CAPTIONER_KIND = "an image-text-to-text model (e.g. HuggingFaceTB/SmolVLM-256M-Instruct)"


def check_captioner(captioner: str, flag: str = "--captioner", kind: str = CAPTIONER_KIND) -> None:
    """Refuse a `--captioner` that cannot be a model before any work starts: a missing folder,
    a folder without config.json, a file, or a bare word that is not `tiny` nor OWNER/NAME.
    `flag` is the option's name in messages (HERM's `--annotator` loads the same models), `kind`
    what a Hub id must name (HERM's `--grounder` checks detectors here too)."""
    if captioner == TINY:
        return
    path = Path(captioner).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise HvgenError(
                f"{flag} {captioner}: the folder {path.resolve()} holds no config.json, so it is not a "
                "transformers model folder (save one with `model.save_pretrained(DIR)` and "
                "`processor.save_pretrained(DIR)`)."
            )
        return
    if path.exists():
        raise HvgenError(f"{flag} {captioner}: {path.resolve()} is a file; a local model is a folder.")
    if looks_like_path(captioner):
        raise HvgenError(
            f"{flag} {captioner}: the folder {path.resolve()} does not exist. Check the path, or give a "
            "Hub id OWNER/NAME, or 'tiny' for the built-in offline test model."
        )
    if "/" not in captioner:
        raise HvgenError(
            f"{flag} {captioner}: unknown model{did_you_mean(captioner, [TINY])}. Give a Hub id OWNER/NAME "
            f"of {kind}, a local model folder, or 'tiny' (built-in random model, for offline checks)."
        )


class Captioner:
    """A loaded vision-language model with its processor, answering one prompt per image."""

    def __init__(self, name: str, model: Any, processor: Any, device: str, dtype: Any) -> None:
        self.name, self.model, self.processor = name, model, processor
        self.device, self.dtype = device, dtype
        self.encoder_decoder = bool(getattr(model.config, "is_encoder_decoder", False))
        tokenizer = getattr(processor, "tokenizer", None)
        if tokenizer is not None and not self.encoder_decoder:
            tokenizer.padding_side = "left"  # decoder-only batches generate after the prompt
        self.pad_token_id = getattr(tokenizer, "pad_token_id", None)
        if self.pad_token_id is None:
            self.pad_token_id = getattr(tokenizer, "eos_token_id", None)

    def describe(
        self, images: list[Any], prompts: list[str], decoding: Decoding, seeds: list[int]
    ) -> list[str]:
        """One reply per (image, prompt): a batch when greedy, image by image when sampling."""
        import torch

        if not decoding.sampling:
            return self._generate(images, prompts, decoding)
        replies = []
        devices = [self.model.device] if self.model.device.type == "cuda" else []
        for image, prompt, seed in zip(images, prompts, seeds):
            with torch.random.fork_rng(devices=devices):  # the caller's random state is left alone
                torch.manual_seed(seed)
                replies.extend(self._generate([image], [prompt], decoding))
        return replies

    def _generate(self, images: list[Any], prompts: list[str], decoding: Decoding) -> list[str]:
        import torch

        inputs = self._inputs(images, prompts)
        options: dict[str, Any] = {"max_new_tokens": decoding.max_new_tokens, "num_beams": 1}
        if decoding.sampling:
            options.update(do_sample=True, temperature=decoding.temperature, top_p=1.0, top_k=0)
        else:
            options.update(do_sample=False)
        if self.pad_token_id is not None:
            options["pad_token_id"] = self.pad_token_id
        with torch.inference_mode():
            output = self.model.generate(**inputs, **options)
        if not self.encoder_decoder:
            output = output[:, inputs["input_ids"].shape[1] :]
        return [text.strip() for text in self.processor.batch_decode(output, skip_special_tokens=True)]

    def _inputs(self, images: list[Any], prompts: list[str]) -> dict[str, Any]:
        """Model inputs: through the chat template (one user turn: image + prompt) when the
        processor has one, else the prompt and image straight to the processor."""
        import torch

        if getattr(self.processor, "chat_template", None):
            conversations = [
                [
                    {
                        "role": "user",
                        "content": [{"type": "image", "image": image}, {"type": "text", "text": prompt}],
                    }
                ]
                for image, prompt in zip(images, prompts)
            ]
            options: dict[str, Any] = {
                "add_generation_prompt": True,
                "tokenize": True,
                "return_dict": True,
                "return_tensors": "pt",
            }
            if "processor_kwargs" in inspect.signature(self.processor.apply_chat_template).parameters:
                options["processor_kwargs"] = {"padding": True}
            else:
                options["padding"] = True
            batch = self.processor.apply_chat_template(conversations, **options)
        else:
            batch = self.processor(text=prompts, images=images, padding=True, return_tensors="pt")
        moved: dict[str, Any] = {}
        for name, value in dict(batch).items():
            if isinstance(value, torch.Tensor):
                value = (
                    value.to(self.device, dtype=self.dtype)
                    if value.is_floating_point()
                    else value.to(self.device)
                )
            moved[name] = value
        return moved


def auto_model_class() -> Any:
    import transformers

    for name in AUTO_CLASSES:
        if hasattr(transformers, name):
            return getattr(transformers, name)
    raise HvgenError(  # pragma: no cover - transformers < 4.26
        f"transformers {transformers.__version__} has no image-text-to-text auto class; "
        "install transformers >= 4.46 (pip install -U transformers)."
    )


def load_captioner(
    captioner: str, device: str = "auto", dtype: str = "auto", flag: str = "--captioner"
) -> Captioner:
    """Load `captioner` (tiny, folder or Hub id) on `device` in `dtype` (auto: bf16 on CUDA,
    float32 elsewhere). Any failure is one ModelLoadError saying what and how to fix."""
    import transformers
    from transformers import AutoConfig, AutoProcessor

    check_captioner(captioner, flag)
    source = captioner
    if captioner == TINY:
        from hvgen.annotate.tiny import tiny_vlm_path

        source = str(tiny_vlm_path())
        transformers.utils.logging.set_verbosity_error()  # its random weights warn about nothing useful
    device = pick_device(device)
    torch_dtype = pick_dtype(dtype, device, cuda_default="bfloat16")
    auto_class = auto_model_class()
    try:
        config = AutoConfig.from_pretrained(source)
    except OSError as error:
        raise ModelLoadError(_not_found(captioner, error, flag)) from None
    except (ValueError, KeyError) as error:
        raise ModelLoadError(
            f"{flag} {captioner}: transformers {transformers.__version__} does not know this model's "
            f"architecture ({_first_line(error)}). Upgrade transformers (pip install -U transformers) or pick "
            "another image-text-to-text model; hvgen does not run remote code."
        ) from None
    model_type = getattr(config, "model_type", "?")
    try:
        model = auto_class.from_pretrained(source, **{_dtype_argument(): torch_dtype})
    except ValueError as error:
        if "Unrecognized configuration class" not in str(error):
            raise ModelLoadError(
                f"{flag} {captioner}: cannot load the model ({_first_line(error)})."
            ) from None
        architectures = ", ".join(getattr(config, "architectures", None) or []) or "unknown"
        raise ModelLoadError(
            f"{flag} {captioner}: its architecture (model_type '{model_type}', {architectures}) is not an "
            f"image-text-to-text model that {auto_class.__name__} of transformers {transformers.__version__} can "
            "load. Use a vision-language chat model (e.g. HuggingFaceTB/SmolVLM-256M-Instruct, "
            "llava-hf/llava-1.5-7b-hf, Qwen/Qwen2.5-VL-3B-Instruct) or 'tiny'."
        ) from None
    except OSError as error:
        raise ModelLoadError(_not_found(captioner, error, flag)) from None
    try:
        processor = AutoProcessor.from_pretrained(source)
    except (OSError, ValueError, TypeError) as error:
        raise ModelLoadError(
            f"{flag} {captioner}: the model loaded but its processor did not ({_first_line(error)}). "
            "A model folder needs the processor files too: `processor.save_pretrained(DIR)`."
        ) from None
    model.to(device).eval()
    return Captioner(captioner_id(captioner), model, processor, device, torch_dtype)


def _dtype_argument() -> str:
    """`dtype` since transformers 4.56 (`torch_dtype` before; it still works there, with a warning)."""
    import transformers
    from packaging.version import Version

    return "dtype" if Version(transformers.__version__) >= Version("4.56") else "torch_dtype"


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _not_found(captioner: str, error: BaseException, flag: str = "--captioner") -> str:
    return (
        f"{flag} {captioner}: cannot load the model: it is not a local folder and not in the local "
        "Hugging Face cache, and it cannot be downloaded here (no network, or HF_HUB_OFFLINE=1). On a machine "
        f"with network run `hf download {captioner}` and copy the cache (~/.cache/huggingface), or pass the "
        f"model's folder; 'tiny' needs no download. [{_first_line(error)}]"
    )
