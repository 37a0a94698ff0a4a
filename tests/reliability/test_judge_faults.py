"""The endpoint judge (`hvgen score … --judge URL`) against a real local server that misbehaves:
a body cut short, a reply that is not HTTP, a 200 that is not UTF-8, a reset connection and a
server that never answers. Each is retried with backoff, a bounded number of times and within a
bounded total, then said in one line; every reply received is cached as it arrives; the cache
survives a torn or undecodable line. Only 127.0.0.1, and every test counts the requests."""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from reliability_helpers import one_error_line

from hvgen.cli import main
from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.judges.cache import CachedJudge, conversation_key
from hvgen.judges.http import HttpJudge

FAULTS = ("short_body", "not_http", "not_utf8", "reset", "timeout")
CLIENT_TIMEOUT = 0.4  # the judge's per-request timeout in these tests; "timeout" hangs longer


class Plan:
    """What the server does with each request: `faults[text]` lists the faults the conversation
    whose last message is `text` meets on its successive tries (then a good reply); `always[text]`
    is a fault it meets on every try. `requests` counts the tries per text."""

    def __init__(self) -> None:
        self.faults: dict[str, list[str]] = {}
        self.always: dict[str, str] = {}
        self.requests: Counter[str] = Counter()
        self.lock = threading.Lock()

    def next_fault(self, text: str) -> str | None:
        with self.lock:
            self.requests[text] += 1
            if text in self.always:
                return self.always[text]
            queue = self.faults.get(text) or []
            return queue.pop(0) if queue else None


class Handler(socketserver.StreamRequestHandler):
    """A raw-socket OpenAI-compatible endpoint, so it can break HTTP itself."""

    plan: Plan

    def handle(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = self.request.recv(65536)
            if not chunk:
                return
            head += chunk
        header, body = head.split(b"\r\n\r\n", 1)
        length = next(
            int(line.split(b":", 1)[1])
            for line in header.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        while len(body) < length:
            body += self.request.recv(65536)
        text = json.loads(body)["messages"][-1]["content"]
        fault = self.plan.next_fault(text)
        reply = json.dumps({"choices": [{"message": {"content": f"verdict for {text}"}}]}).encode()
        if fault == "short_body":  # promises 500 bytes, sends 20, hangs up: IncompleteRead
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n"
            )
            self.wfile.write(reply[:20])
        elif fault == "not_http":  # BadStatusLine
            self.wfile.write(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        elif fault == "not_utf8":  # a 200 whose body is not UTF-8
            data = b"\xff\xfe\xfa" + reply
            self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % len(data) + data)
        elif fault == "reset":  # RST instead of a reply
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif fault == "timeout":  # never answers within the client's timeout
            time.sleep(CLIENT_TIMEOUT * 3)
        else:
            self.wfile.write(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % len(reply)
                + reply
            )


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@pytest.fixture()
def endpoint() -> Iterator[tuple[str, Plan]]:
    plan = Plan()
    handler = type("PlannedHandler", (Handler,), {"plan": plan})
    server = Server(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", plan
    server.shutdown()
    server.server_close()
    thread.join()


def ask(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def judge(url: str, retries: int = 3, **kwargs) -> HttpJudge:
    return HttpJudge(url, "judge-1", timeout=CLIENT_TIMEOUT, retries=retries, backoff=0.01, **kwargs)


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_retried_then_the_reply_is_used(endpoint, fault: str) -> None:
    url, plan = endpoint
    plan.faults["q"] = [fault, fault]
    assert judge(url).reply([ask("q")]) == ["verdict for q"]
    assert plan.requests["q"] == 3


@pytest.mark.parametrize("fault", FAULTS)
def test_a_fault_that_persists_is_one_line_after_a_bounded_number_of_tries(endpoint, fault: str) -> None:
    url, plan = endpoint
    plan.always["q"] = fault
    started = time.monotonic()
    with pytest.raises(HvgenError) as error:
        judge(url, retries=2).reply([ask("q")])
    assert plan.requests["q"] == 3  # the first try and two retries, no more
    message = str(error.value)
    assert "\n" not in message and "failed 3 times" in message and "last:" in message
    assert time.monotonic() - started < 3 * CLIENT_TIMEOUT + 5


def test_the_total_time_of_one_conversation_is_bounded(endpoint) -> None:
    """Many retries against a server that never answers stop at `max_seconds`, not after
    retries x timeout."""
    url, plan = endpoint
    plan.always["q"] = "timeout"
    started = time.monotonic()
    with pytest.raises(HvgenError, match="failed"):
        judge(url, retries=50, max_seconds=1.0).reply([ask("q")])
    assert time.monotonic() - started < 2.5
    assert 1 <= plan.requests["q"] <= 4


def test_replies_received_before_a_failure_are_cached(endpoint, tmp_path: Path) -> None:
    """One conversation of a batch fails for good: the replies of the others, which arrived,
    are in the cache (the error says so), and a rerun asks only for the failed one."""
    url, plan = endpoint
    plan.always["bad"] = "reset"
    plan.faults["slow"] = ["short_body"]
    cache = tmp_path / "judge.jsonl"
    texts = ["a", "b", "bad", "slow", "c"]
    with pytest.raises(HvgenError, match="replies already received are cached"):
        CachedJudge(judge(url, retries=2, workers=5), cache).reply([ask(t) for t in texts])
    stored = [json.loads(line) for line in cache.read_text().splitlines()]
    assert {entry["reply"] for entry in stored} == {f"verdict for {t}" for t in texts if t != "bad"}
    plan.always.clear()
    before = Counter(plan.requests)
    again = CachedJudge(judge(url, workers=5), cache)
    assert again.reply([ask(t) for t in texts]) == [f"verdict for {t}" for t in texts]
    assert plan.requests - before == Counter({"bad": 1}) and again.hits == 4 and again.misses == 1


def test_a_torn_cache_tail_does_not_swallow_the_next_reply(endpoint, tmp_path: Path) -> None:
    url, plan = endpoint
    cache = tmp_path / "judge.jsonl"
    first = CachedJudge(judge(url), cache)
    first.reply([ask("a")])
    with open(cache, "ab") as handle:  # a crash mid-append
        handle.write(b'{"key": "' + conversation_key(first.name, ask("x")).encode() + b'", "rep')
    CachedJudge(judge(url), cache).reply([ask("b")])
    lines = cache.read_bytes().split(b"\n")
    assert lines[-1] == b"" and json.loads(lines[-2])["reply"] == "verdict for b"
    third = CachedJudge(judge(url), cache)
    assert third.reply([ask("a"), ask("b")]) == ["verdict for a", "verdict for b"]
    assert plan.requests == Counter({"a": 1, "b": 1})  # nothing paid twice
    assert third.misses == 0


def test_an_undecodable_cache_line_is_dropped_and_asked_again(endpoint, tmp_path: Path) -> None:
    url, plan = endpoint
    cache = tmp_path / "judge.jsonl"
    CachedJudge(judge(url), cache).reply([ask("a"), ask("b")])
    lines = cache.read_bytes().splitlines(keepends=True)
    key_b = conversation_key(judge(url).name, ask("b"))
    damaged = [b"\xff\xfe" + line if key_b.encode() in line else line for line in lines]  # not UTF-8 any more
    cache.write_bytes(b"".join(damaged) + b'{"key": 5, "reply": "x"}\n[1, 2]\n{"key": "k", "reply": 3}\n')
    again = CachedJudge(judge(url), cache)
    assert again.reply([ask("a"), ask("b")]) == ["verdict for a", "verdict for b"]
    assert again.hits == 1 and again.misses == 1
    assert plan.requests == Counter({"a": 1, "b": 2})


@pytest.fixture()
def hqh_export(tmp_path: Path) -> tuple[Path, list[dict]]:
    """An HQH export-shaped folder that `hvgen score` reads without rendering."""
    records = get_generator("hqh")(PlanRequest(run_seed=11, num=16, options={})).plan().records
    folder = tmp_path / "export"
    for form in ("open", "closed"):
        rows = [r for r in records if r["form"] == form]
        (folder / "data" / form).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), folder / "data" / form / "test-00000-of-00001.parquet")
    return folder, records


def test_score_hqh_against_a_failing_endpoint_is_one_line_and_keeps_what_it_paid_for(
    endpoint, hqh_export, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    url, plan = endpoint
    folder, records = hqh_export
    open_records = [r for r in records if r["question_type"] == "free form"][:4]
    predictions = tmp_path / "pred.jsonl"
    predictions.write_text(
        "".join(json.dumps({"id": r["id"], "prediction": "a guess"}) + "\n" for r in open_records)
    )
    cache = tmp_path / "judge.jsonl"
    args = ["score", "hqh", str(folder), str(predictions), "--judge", url, "--judge-model", "judge-1"]
    args += ["--judge-cache", str(cache), "--judge-workers", "4", "--output", str(tmp_path / "r.json")]
    # the judge's text is the filled-in template: make every conversation but the second one fail
    # until the endpoint is fixed, with fast retries
    monkeypatch.setattr(HttpJudge, "__init__", _fast_init(HttpJudge.__init__))
    original = plan.next_fault
    seen: list[str] = []

    def fail_the_second(text: str) -> str | None:
        if text not in seen:
            seen.append(text)
        original(text)
        return "not_http" if seen.index(text) == 1 else None

    plan.next_fault = fail_the_second  # type: ignore[method-assign]
    with pytest.raises(SystemExit) as refused:
        main(args)
    assert refused.value.code == 2
    line = one_error_line(capsys.readouterr().err)
    assert "failed 3 times" in line and "BadStatusLine" in line
    assert len(cache.read_text().splitlines()) == 3  # the three replies that came back
    plan.next_fault = original  # type: ignore[method-assign]
    before = sum(plan.requests.values())
    main(args)
    assert sum(plan.requests.values()) - before == 1  # only the one that failed is asked again
    assert json.loads((tmp_path / "r.json").read_text())["judge"]["cache_hits"] == 3


def _fast_init(init):
    def fast(self, url, model, **kwargs):
        init(self, url, model, **{**kwargs, "timeout": CLIENT_TIMEOUT, "retries": 2, "backoff": 0.01})

    return fast
