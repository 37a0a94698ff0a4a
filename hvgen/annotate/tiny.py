"""The built-in tiny models: the captioner (`--captioner tiny`, HERM's `--annotator tiny`), a
random-weight LLaVA-shaped image-text-to-text model, and the grounder (HERM's `--grounder tiny`),
a random-weight OWL-ViT zero-shot detector. Both are built from configs, saved with
`save_pretrained` under the hvgen cache and loaded back through the normal `from_pretrained`
path, so annotation runs offline on a CPU and the real loading code is the code under test.
Their replies and boxes are junk by design: they check the machinery, not the annotations.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from hvgen.models import byte_level_alphabet, cached_model_folder

TINY_VLM_VERSION = "tiny-vlm-v1"
"""Folder name of the cached model; bump it whenever `build_tiny_vlm` changes its output."""

_SPECIALS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]

# A plain chat template: "user: <image>\nPROMPT\nassistant:". Real models ship their own.
_CHAT_TEMPLATE = (
    "{% for message in messages %}{{ message['role'] }}: "
    "{% for item in message['content'] %}{% if item['type'] == 'image' %}<image>\n"
    "{% elif item['type'] == 'text' %}{{ item['text'] }}{% endif %}{% endfor %}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


def build_tiny_vlm(directory: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny random `LlavaForConditionalGeneration` (CLIP vision tower 32² / patch 8,
    Llama text model hidden 32, 2 layers) with a `LlavaProcessor` whose byte-level BPE
    tokenizer is made from a written vocabulary (no download), save both to `directory`."""
    import torch
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
        PreTrainedTokenizerFast,
    )

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    vocab = {token: index for index, token in enumerate(_SPECIALS + byte_level_alphabet())}
    backend = Tokenizer(models.BPE(vocab=vocab, merges=[], unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        additional_special_tokens=["<image>"],
        model_max_length=512,
        padding_side="left",
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=True
        ),
        tokenizer=tokenizer,
        patch_size=8,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,  # CLIP's class token, which "default" drops
        chat_template=_CHAT_TEMPLATE,
        image_token="<image>",
    )
    config = LlavaConfig(
        vision_config=CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        ),
        text_config=LlamaConfig(
            vocab_size=len(vocab),
            hidden_size=32,
            intermediate_size=64,
            num_hidden_layers=2,
            num_attention_heads=4,
            num_key_value_heads=2,
            max_position_embeddings=512,
            bos_token_id=vocab["<s>"],
            eos_token_id=vocab["</s>"],
            pad_token_id=vocab["<pad>"],
        ),
        image_token_index=vocab["<image>"],
        vision_feature_layer=-1,
        vision_feature_select_strategy="default",
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config).eval()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    (out / "hvgen_tiny.json").write_text(json.dumps({"version": TINY_VLM_VERSION, "seed": seed}) + "\n")
    return out


def tiny_vlm_path() -> Path:
    """The cached tiny captioner folder, built on first use (`hvgen.models.cached_model_folder`)."""
    return cached_model_folder(TINY_VLM_VERSION, build_tiny_vlm, "hvgen_tiny.json")


TINY_GROUNDER_VERSION = "tiny-owlvit-v1"
"""Folder name of the cached tiny grounder; bump it whenever `build_tiny_owlvit` changes its output."""


def build_tiny_owlvit(directory: str | os.PathLike[str], *, seed: int = 0) -> Path:
    """Build a tiny random `OwlViTForObjectDetection` (CLIP-shaped text and vision towers of
    hidden size 32, 64² images in 16² patches: 16 candidate boxes) with an `OwlViTProcessor`
    whose CLIP tokenizer is made from a written vocabulary (no download), save both to `directory`."""
    import torch
    from transformers import OwlViTConfig, OwlViTForObjectDetection, OwlViTImageProcessor, OwlViTProcessor

    from hvgen.models import _tiny_clip_tokenizer

    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    # OWL-ViT ignores a text query whose first token id is 0: the padding token takes id 0
    tokenizer = _tiny_clip_tokenizer(
        out / "_tokenizer_src", ("<|padding|>", "<|startoftext|>", "<|endoftext|>")
    )
    config = OwlViTConfig(
        text_config={"vocab_size": len(tokenizer), "hidden_size": 32, "intermediate_size": 64,
                     "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 16,
                     "pad_token_id": 0, "bos_token_id": 1, "eos_token_id": 2},
        vision_config={"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 2,
                       "num_attention_heads": 4, "image_size": 64, "patch_size": 16},
        projection_dim=32,
    )  # fmt: skip
    processor = OwlViTProcessor(
        image_processor=OwlViTImageProcessor(
            size={"height": 64, "width": 64}, crop_size={"height": 64, "width": 64}
        ),
        tokenizer=tokenizer,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = OwlViTForObjectDetection(config).eval()
        with torch.no_grad():  # random box offsets saturate the sigmoid into empty boxes: keep them
            model.box_head.dense2.weight.mul_(0.01)  # small, so every box sits near its patch's prior box
            model.box_head.dense2.bias.zero_()
    model.save_pretrained(out)
    processor.save_pretrained(out)
    import shutil

    shutil.rmtree(out / "_tokenizer_src", ignore_errors=True)
    (out / "hvgen_tiny.json").write_text(json.dumps({"version": TINY_GROUNDER_VERSION, "seed": seed}) + "\n")
    return out


def tiny_grounder_path() -> Path:
    """The cached tiny grounder folder, built on first use (`hvgen.models.cached_model_folder`)."""
    return cached_model_folder(TINY_GROUNDER_VERSION, build_tiny_owlvit, "hvgen_tiny.json")
