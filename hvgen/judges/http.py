"""A judge behind an OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, TGI, llama.cpp …).

Plain HTTP through urllib (no client library): POST ``<url>/chat/completions`` with the model
name, the messages and temperature 0. The API key comes from the environment
(``HVGEN_JUDGE_API_KEY``, else ``OPENAI_API_KEY``; none is fine for a local server) and is
never printed. Network errors, 429 and 5xx are retried with exponential backoff; other HTTP
errors stop at once with the server's message.
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from hvgen.errors import HvgenError
from hvgen.judges.base import Judge, Messages

API_KEY_VARIABLES = ("HVGEN_JUDGE_API_KEY", "OPENAI_API_KEY")
RETRIED_STATUS = {408, 409, 429, 500, 502, 503, 504}


def completions_url(url: str) -> str:
    """`http://host/v1` → `http://host/v1/chat/completions` (a full URL is kept)."""
    url = url.rstrip("/")
    return url if url.endswith("/chat/completions") else f"{url}/chat/completions"


class HttpJudge(Judge):
    def __init__(
        self,
        url: str,
        model: str,
        timeout: float = 120.0,
        retries: int = 5,
        backoff: float = 1.0,
        max_tokens: int = 256,
        workers: int = 4,
    ) -> None:
        self.url = completions_url(url)
        self.model = model
        self.name = f"{self.url}#{model}"
        self.timeout, self.retries, self.backoff, self.max_tokens = timeout, retries, backoff, max_tokens
        self.api_key = next((os.environ[v] for v in API_KEY_VARIABLES if os.environ.get(v)), None)
        self.parallel = workers

    def reply(self, conversations: Sequence[Messages]) -> list[str]:
        """One reply per conversation, in order, with up to `parallel` requests in flight."""
        if self.parallel == 1 or len(conversations) == 1:
            return [self._one(messages) for messages in conversations]
        with ThreadPoolExecutor(max_workers=self.parallel) as pool:
            return list(pool.map(self._one, conversations))

    def _one(self, messages: Messages) -> str:
        body = json.dumps(
            {"model": self.model, "messages": messages, "temperature": 0, "max_tokens": self.max_tokens}
        ).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            if attempt:
                time.sleep(self.backoff * 2 ** (attempt - 1))
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    payload = json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                detail = error.read().decode("utf-8", "replace")[:300]
                last = f"HTTP {error.code}: {detail}"
                if error.code in RETRIED_STATUS:
                    continue
                raise HvgenError(
                    f"judge endpoint {self.url} refused the request ({last}); check --judge, --judge-model and the "
                    f"API key (environment variable {' or '.join(API_KEY_VARIABLES)})."
                ) from None
            except (urllib.error.URLError, TimeoutError, ConnectionError, json.JSONDecodeError) as error:
                last = str(getattr(error, "reason", error))
                continue
            try:
                return str(payload["choices"][0]["message"]["content"] or "")
            except (KeyError, IndexError, TypeError):
                raise HvgenError(
                    f"judge endpoint {self.url} answered without choices[0].message.content ({str(payload)[:200]}); "
                    "is it an OpenAI-compatible chat-completions endpoint?"
                ) from None
        raise HvgenError(
            f"judge endpoint {self.url} failed {self.retries + 1} times (last: {last}); check that the server is up "
            "and reachable, then rerun (replies already received are cached)."
        )
