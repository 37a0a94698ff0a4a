"""A judge behind an OpenAI-compatible chat-completions endpoint (OpenAI, vLLM, TGI, llama.cpp …).

Plain HTTP through urllib (no client library): POST ``<url>/chat/completions`` with the model
name, the messages and temperature 0. The API key comes from the environment
(``HVGEN_JUDGE_API_KEY``, else ``OPENAI_API_KEY``; none is fine for a local server) and is
never printed. Every transient fault is retried with exponential backoff, within a bounded
number of tries and a bounded total time per conversation: refused or reset connections,
timeouts, a reply cut short (``IncompleteRead``), a reply that is not HTTP (``BadStatusLine``),
a 200 whose body is not UTF-8 JSON, and 408/409/429/5xx. Then one line says what failed last.
Other HTTP errors (401, 404 ...) stop at once with the server's message.
"""

from __future__ import annotations

import http.client
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
        max_seconds: float = 600.0,
    ) -> None:
        self.url = completions_url(url)
        self.model = model
        self.name = f"{self.url}#{model}"
        self.timeout, self.retries, self.backoff, self.max_tokens = timeout, retries, backoff, max_tokens
        # the most one conversation may take, tries and waits together (a dead server is not
        # waited on for retries × timeout)
        self.max_seconds = max_seconds
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
        deadline = time.monotonic() + self.max_seconds
        last, tries = "", 0
        for attempt in range(self.retries + 1):
            if attempt:
                pause = self.backoff * 2 ** (attempt - 1)
                if time.monotonic() + pause >= deadline:
                    break
                time.sleep(pause)
            left = deadline - time.monotonic()
            if left <= 0:
                break
            tries += 1
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=min(self.timeout, left)) as response:
                    payload = json.loads(response.read().decode("utf-8"))
            except urllib.error.HTTPError as error:
                last = f"HTTP {error.code}: {_error_detail(error)}"
                if error.code in RETRIED_STATUS:
                    continue
                raise HvgenError(
                    f"judge endpoint {self.url} refused the request ({last}); check --judge, --judge-model and the "
                    f"API key (environment variable {' or '.join(API_KEY_VARIABLES)})."
                ) from None
            except (OSError, http.client.HTTPException, ValueError) as error:
                # OSError: refused / reset / timed out (URLError, TimeoutError, ConnectionError);
                # HTTPException: a reply cut short (IncompleteRead) or not HTTP (BadStatusLine);
                # ValueError: a body that is not UTF-8 (UnicodeDecodeError) or not JSON
                last = _describe(error)
                continue
            try:
                return str(payload["choices"][0]["message"]["content"] or "")
            except (KeyError, IndexError, TypeError):
                raise HvgenError(
                    f"judge endpoint {self.url} answered without choices[0].message.content ({str(payload)[:200]}); "
                    "is it an OpenAI-compatible chat-completions endpoint?"
                ) from None
        raise HvgenError(
            f"judge endpoint {self.url} failed {tries} time{'' if tries == 1 else 's'} (last: {last}); check that the server is up and "
            "reachable, then rerun (replies already received are cached)."
        )


def _describe(error: BaseException) -> str:
    """One line for a transient fault: its kind and reason (a URLError wraps the real one)."""
    reason = getattr(error, "reason", None)
    cause = reason if isinstance(reason, BaseException) else error
    text = " ".join(
        str(reason if reason is not None and not isinstance(reason, BaseException) else cause).split()
    )
    return f"{type(cause).__name__}: {text[:200]}" if text else type(cause).__name__


def _error_detail(error: urllib.error.HTTPError) -> str:
    """The body of an HTTP error reply, as far as it can be read (it may itself be cut short)."""
    try:
        return " ".join(error.read().decode("utf-8", "replace").split())[:300]
    except (OSError, http.client.HTTPException, ValueError):
        return "(no readable body)"
