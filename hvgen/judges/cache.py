"""Judge replies on disk, so a rerun of `hvgen score` asks the judge nothing it already asked.

One JSONL file per judge; each line is {"key": blake2b(judge name, conversation), "reply": …},
appended with a single write under an exclusive lock as soon as the reply arrives (an
interrupted scoring keeps what it paid for; a torn last line is ignored on reading).
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Sequence
from pathlib import Path

from hvgen.judges.base import Judge, Messages
from hvgen.progress import progress_bar
from hvgen.seeding import stable_id


def conversation_key(judge_name: str, messages: Messages) -> str:
    return stable_id(
        "judge-reply", judge_name, json.dumps(messages, sort_keys=True, ensure_ascii=False), length=32
    )


def default_cache_file(judge_name: str) -> Path:
    from hvgen.models import cache_dir

    return cache_dir() / "judge" / f"{stable_id('judge', judge_name)}.jsonl"


class CachedJudge(Judge):
    """`judge` with its replies remembered in `path`; `hits` / `misses` count this process's calls."""

    def __init__(self, judge: Judge, path: Path | None = None) -> None:
        self.judge = judge
        self.name = judge.name
        self.path = Path(path) if path else default_cache_file(judge.name)
        self.hits = self.misses = 0
        self._replies = self._read()

    def _read(self) -> dict[str, str]:
        replies: dict[str, str] = {}
        if not self.path.is_file():
            return replies
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
                replies[str(entry["key"])] = str(entry["reply"])
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a line torn by a crash: that reply is asked again
        return replies

    def _append(self, key: str, reply: str) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps({"key": key, "reply": reply}, ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            os.write(fd, line)
        finally:
            os.close(fd)

    def reply(self, conversations: Sequence[Messages]) -> list[str]:
        """Cached replies, asking the judge only for the rest (in batches of its `parallel`),
        each reply stored as soon as its batch is back."""
        keys = [conversation_key(self.name, messages) for messages in conversations]
        todo = list(
            {key: messages for key, messages in zip(keys, conversations) if key not in self._replies}.items()
        )
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        size = max(1, self.judge.parallel)
        with progress_bar(f"judge ({self.name})", len(todo)) as advance:
            for start in range(0, len(todo), size):
                batch = todo[start : start + size]
                for (key, _), reply in zip(batch, self.judge.reply([messages for _, messages in batch])):
                    self._replies[key] = reply
                    self._append(key, reply)
                advance(len(batch))
        return [self._replies[key] for key in keys]
