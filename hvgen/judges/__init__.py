"""LLM judges: chat models that grade free-form answers (`hvgen score … --judge`).

A judge takes chat conversations (system + user messages) and returns one reply per
conversation. Three kinds, picked by what `--judge` names:

* an OpenAI-compatible chat-completions endpoint (``http(s)://host:port/v1``) with
  ``--judge-model NAME`` (`hvgen.judges.http`);
* any causal chat model through transformers, a Hub id or a local folder (`hvgen.judges.local`);
* ``fake``: a deterministic judge the benchmark supplies for tests and dry runs.

Replies are cached on disk (`hvgen.judges.cache`), so re-scoring costs nothing. What the prompt
says and how a reply is read belong to the benchmark (its judge template and parser).

`base` holds the interface the kinds and the cache import; this package head picks a kind
(`open_judge`). Imported by benchmark scorers and the CLI.
"""

from __future__ import annotations

from hvgen.errors import HvgenError
from hvgen.judges.base import FAKE, FunctionJudge, Judge, JudgeSpec, Messages


def open_judge(spec: JudgeSpec, fake: Judge | None = None) -> Judge:
    """The judge `spec` names (not cached; see `hvgen.judges.cache.CachedJudge`)."""
    target = spec.judge.strip()
    if target == FAKE:
        if fake is None:
            raise HvgenError("this benchmark has no fake judge: pass --judge URL or a chat model id/folder.")
        return fake
    if target.startswith(("http://", "https://")):
        if not spec.model:
            raise HvgenError(
                f"--judge {target} is an endpoint: name the model it serves with --judge-model NAME "
                "(e.g. --judge-model gpt-4o, HQH's judge)."
            )
        from hvgen.judges.http import HttpJudge

        if spec.workers < 1:
            raise HvgenError(f"--judge-workers {spec.workers}: give at least 1 request in flight.")
        return HttpJudge(target, spec.model, workers=spec.workers)
    if spec.model:
        raise HvgenError(
            f"--judge-model is for endpoints (--judge http://…); '{target}' is already a model id or folder."
        )
    from hvgen.judges.local import TransformersJudge

    return TransformersJudge(target)


__all__ = ["FAKE", "FunctionJudge", "Judge", "JudgeSpec", "Messages", "open_judge"]
