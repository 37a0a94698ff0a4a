"""What a judge is: `Judge` (conversations in, one reply each out), `JudgeSpec` (what the user
asked for with --judge/--judge-model) and `FunctionJudge` (a benchmark's fake judge). The judge
kinds (`http`, `local`) and the reply cache build on this module; it imports none of them."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

Messages = list[dict[str, str]]
FAKE = "fake"


@dataclass(frozen=True)
class JudgeSpec:
    """What the user asked for: `--judge` (URL, model id/folder or 'fake'), `--judge-model`
    (the model name an endpoint serves), where replies are cached (None: hvgen's cache) and how
    many requests an endpoint gets at once."""

    judge: str
    model: str | None = None
    cache: Path | None = None
    workers: int = 4


class Judge(ABC):
    """A chat model that answers conversations; `name` identifies it in cache keys."""

    name: str
    # How many conversations `reply` answers at once (requests in flight): callers hand it
    # batches of this size, so an interrupted run loses at most one batch.
    parallel: int = 1

    @abstractmethod
    def reply(self, conversations: Sequence[Messages]) -> list[str]: ...


class FunctionJudge(Judge):
    """A judge whose reply is a plain function of the conversation (a benchmark's fake judge)."""

    def __init__(self, name: str, function: Callable[[Messages], str]) -> None:
        self.name = name
        self.function = function

    def reply(self, conversations: Sequence[Messages]) -> list[str]:
        return [self.function(messages) for messages in conversations]
