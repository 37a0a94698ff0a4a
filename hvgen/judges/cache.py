"""Judge replies on disk, so a rerun of `hvgen score` asks the judge nothing it already asked.

One JSONL file per judge; each line is {"key": blake2b(judge name, conversation), "reply": …}.
A reply is appended the moment it arrives — not when its batch is done: a conversation that
keeps failing must not throw away the replies of its neighbours, which were paid for. Each line
goes in one write under an exclusive lock, starting on a fresh line even after a torn tail (a
crash mid-append), so a new reply is never glued to a fragment and lost. On reading, a torn line,
a line that is not UTF-8 or not JSON, or one without a string reply is dropped: that conversation
is asked again.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
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


def read_replies(path: Path) -> dict[str, str]:
    """The cached replies by key; damaged lines are skipped (module docstring)."""
    replies: dict[str, str] = {}
    if not path.is_file():
        return replies
    for raw in path.read_bytes().split(b"\n"):
        try:
            entry = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            continue  # torn by a crash, or not text: that reply is asked again
        if (
            isinstance(entry, dict)
            and isinstance(entry.get("key"), str)
            and isinstance(entry.get("reply"), str)
        ):
            replies[entry["key"]] = entry["reply"]
    return replies


def append_reply(path: Path, key: str, reply: str) -> None:
    """Append one reply line, on a fresh line, in one locked write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = (json.dumps({"key": key, "reply": reply}, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        size = os.fstat(fd).st_size
        if size and os.pread(fd, 1, size - 1) != b"\n":
            line = b"\n" + line  # a torn tail: end it, so this reply stands on a line of its own
        view = memoryview(line)
        while view:
            view = view[os.write(fd, view) :]
    finally:
        os.close(fd)


class CachedJudge(Judge):
    """`judge` with its replies remembered in `path`; `hits` / `misses` count this process's calls."""

    def __init__(self, judge: Judge, path: Path | None = None) -> None:
        self.judge = judge
        self.name = judge.name
        self.path = Path(path) if path else default_cache_file(judge.name)
        self.hits = self.misses = 0
        self._replies = read_replies(self.path)

    def _ask(self, key: str, messages: Messages) -> None:
        (reply,) = self.judge.reply([messages])
        self._replies[key] = reply
        append_reply(self.path, key, reply)

    def reply(self, conversations: Sequence[Messages]) -> list[str]:
        """Cached replies, asking the judge only for the rest, up to its `parallel` at once, each
        reply stored as it arrives. When a conversation fails for good, nothing new is started,
        the requests in flight finish (and are stored), then the error is raised."""
        keys = [conversation_key(self.name, messages) for messages in conversations]
        todo = list(
            {key: messages for key, messages in zip(keys, conversations) if key not in self._replies}.items()
        )
        self.hits += len(keys) - len(todo)
        self.misses += len(todo)
        with progress_bar(f"judge ({self.name})", len(todo)) as advance:
            if max(1, self.judge.parallel) == 1:
                for key, messages in todo:
                    self._ask(key, messages)
                    advance(1)
            else:
                self._ask_in_parallel(todo, advance)
        return [self._replies[key] for key in keys]

    def _ask_in_parallel(self, todo: list[tuple[str, Messages]], advance) -> None:
        with ThreadPoolExecutor(max_workers=self.judge.parallel) as pool:
            pending: set[Future] = {pool.submit(self._ask, key, messages) for key, messages in todo}
            while pending:
                done, pending = wait(pending, return_when=FIRST_EXCEPTION)
                advance(len(done))
                failed = next((future for future in done if future.exception() is not None), None)
                if failed is not None:
                    for future in pending:
                        future.cancel()  # not started yet: never asked
                    wait(pending)  # those in flight finish and are stored
                    raise failed.exception()  # type: ignore[misc]
