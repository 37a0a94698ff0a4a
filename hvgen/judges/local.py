"""A judge that is any causal chat model loaded with transformers (Hub id or local folder).

The conversation goes through the tokenizer's chat template when it has one (plain "role:
content" lines otherwise), then greedy decoding: the same prompt always gets the same reply.
"""

from __future__ import annotations

from collections.abc import Sequence

from hvgen.errors import HvgenError
from hvgen.judges.base import Judge, Messages


class TransformersJudge(Judge):
    def __init__(self, model: str, max_new_tokens: int = 128, device: str | None = None) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.model = AutoModelForCausalLM.from_pretrained(model).to(self.device).eval()
        except (OSError, ValueError) as error:
            reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
            raise HvgenError(
                f"cannot load the judge '{model}' as a transformers causal LM ({reason}). Pass --judge with a chat "
                "model id or folder, an endpoint URL (http://host:port/v1 with --judge-model), or 'fake'."
            ) from None
        self.name = f"transformers:{model}"
        self.max_new_tokens = max_new_tokens

    def prompt_ids(self, messages: Messages):
        if getattr(self.tokenizer, "chat_template", None):
            ids = self.tokenizer.apply_chat_template(
                messages, add_generation_prompt=True, return_tensors="pt"
            )
            if not hasattr(ids, "shape"):  # newer transformers return a BatchEncoding
                ids = ids["input_ids"]
            return ids
        text = "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant:"
        return self.tokenizer(text, return_tensors="pt").input_ids

    def reply(self, conversations: Sequence[Messages]) -> list[str]:
        import torch

        replies = []
        pad = (
            self.tokenizer.pad_token_id
            if self.tokenizer.pad_token_id is not None
            else self.tokenizer.eos_token_id
        )
        for messages in conversations:
            ids = self.prompt_ids(messages).to(self.device)
            with torch.no_grad():
                out = self.model.generate(
                    ids,
                    attention_mask=torch.ones_like(ids),
                    max_new_tokens=self.max_new_tokens,
                    do_sample=False,
                    pad_token_id=pad,
                )
            replies.append(self.tokenizer.decode(out[0, ids.shape[1] :], skip_special_tokens=True))
        return replies
