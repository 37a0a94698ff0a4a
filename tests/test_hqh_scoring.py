"""`hvgen score hqh`: HQH's formulas, reply parsing, and the three judges (fake, endpoint, transformers)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hvgen.generators.hqh.judging import Verdict, parse_verdict
from hvgen.generators.hqh.scoring import Scored, open_metrics, parse_choice, parse_yes_no, score_hqh

from hvgen.cli import main
from hvgen.errors import HvgenError
from hvgen.generator import PlanRequest, get_generator
from hvgen.judges import JudgeSpec
from hvgen.judges.http import HttpJudge
from hvgen.scoring import PredictionLines


@pytest.fixture(scope="module")
def records():
    generator = get_generator("hqh")(PlanRequest(run_seed=11, num=16, options={}))
    return generator.plan().records


@pytest.fixture(scope="module")
def export(records, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An export-shaped folder (parquet per form) that `hvgen score` reads without rendering."""
    folder = tmp_path_factory.mktemp("hqh-export")
    for form in ("open", "closed"):
        rows = [r for r in records if r["form"] == form]
        (folder / "data" / form).mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows), folder / "data" / form / "test-00000-of-00001.parquet")
    return folder


def answers(records, wrong_every: int = 3) -> dict[str, str]:
    """Right answers, except every `wrong_every`-th open answer names the foil and closed ones pick it."""
    out = {}
    for index, record in enumerate(records):
        wrong = index % wrong_every == 0
        if record["question_type"] == "free form":
            out[record["id"]] = f"It is {record['foil']}." if wrong else record["ground_truth"]
        elif record["question_type"] == "yes/no":
            out[record["id"]] = (
                ("No" if record["answer"] == "Yes" else "Yes") if wrong else f"{record['answer']}."
            )
        else:
            chosen = record["options"].index(record["foil"]) if wrong else record["answer_index"]
            out[record["id"]] = f"({'ABCD'[chosen]})"
    return out


def write_predictions(path: Path, texts: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps({"id": k, "prediction": v}) + "\n" for k, v in texts.items()))
    return path


# ------------------------------------------------------------------ formulas and parsing


def test_hqh_formulas_on_a_hand_computed_case() -> None:
    cases = [("attribute", 0, 0), ("attribute", 1, 0), ("count", 0, 2), ("count", 1, 1)]
    items = [
        Scored(str(i), {"type": kind, "question_type": "free form"}, "clean", Verdict(main, claims))
        for i, (kind, main, claims) in enumerate(cases)
    ]
    metrics = open_metrics(items)
    # overall_hal = [0, 1, 1, 1]; main_hal = [0, 1, 0, 1]; claims = [0, 0, 2, 1]
    assert metrics["Overall Hal%"] == 75.0 and metrics["Main Hal%"] == 50.0
    assert metrics["Extra #Hal"] == 0.75
    assert metrics["attribute Hal%"] == 50.0 and metrics["count Hal%"] == 50.0


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("Answer: Correct\nExtra Contradictory Claims: 0", (0, 0)),
        ("**Answer:** Incorrect\n**Extra Contradictory Claims:** 2, the dog is red", (1, 2)),
        ("answer: incorrect. extra contradictory claims: none", (1, 0)),
        ("The answer looks fine to me.", None),
        ("Answer: Correct (no claim count given)", None),
        ("Answer: the response is incorrect.\nExtra Contradictory Claims: 1", (1, 1)),
        ("Answer:\n**Correct**\nExtra Contradictory Claims: 0 (none)", (0, 0)),
        ("The answer is correct. Extra Contradictory Claims: 0", None),
    ],
)
def test_judge_replies_are_parsed_tolerantly(reply: str, expected) -> None:
    verdict = parse_verdict(reply)
    assert (None if verdict is None else (verdict.main_hal, verdict.claim_num)) == expected


def test_closed_answers_are_parsed_without_a_judge() -> None:
    options = ["red", "teddy bear", "blue", "green"]
    assert parse_choice("(B) teddy bear", options) == "teddy bear"
    assert parse_choice("C.", options) == "blue"
    assert parse_choice("The answer is: D", options) == "green"
    assert parse_choice("I think it is a teddy bear", options) == "teddy bear"
    assert parse_choice("The answer is a teddy bear.", options) == "teddy bear"
    assert parse_choice("answer: (c)", options) == "blue"
    assert parse_choice("red or blue", options) is None
    assert parse_yes_no("Yes, there is.") == "Yes" and parse_yes_no("no.") == "No"
    assert parse_yes_no("Maybe") is None


# ------------------------------------------------------------------ fake judge, end to end


def test_fake_judge_through_the_cli(records, export: Path, tmp_path: Path, capsys) -> None:
    texts = answers(records)
    texts.pop(records[1]["id"])
    texts["ffffffffffffffff"] = "stray"
    predictions = write_predictions(tmp_path / "pred.jsonl", texts)
    out = tmp_path / "report.json"
    main(["score", "hqh", str(export), str(predictions), "--judge", "fake", "--output", str(out)])
    report = json.loads(out.read_text())
    open_records = [r for r in records if r["question_type"] == "free form" and r["id"] in texts]
    wrong_open = [r for i, r in enumerate(records) if r in open_records and i % 3 == 0]
    assert report["open"]["n"] == len(open_records)
    assert report["open"]["Main Hal%"] == round(100 * len(wrong_open) / len(open_records), 2)
    assert report["missing_ids"] == [records[1]["id"]] and report["extra_ids"] == ["ffffffffffffffff"]
    assert set(report["items"]) == set(texts) - {"ffffffffffffffff"}
    closed = [(i, r) for i, r in enumerate(records) if r["form"] == "closed" and r["id"] in texts]
    assert report["closed"]["yes/no"]["n"] + report["closed"]["multi choice"]["n"] == len(closed)
    assert all(report["items"][r["id"]] == int(i % 3 != 0) for i, r in closed)
    assert report["score"] == round(100 * sum(report["items"].values()) / len(report["items"]), 2)
    assert "Overall Hal%" in capsys.readouterr().out


def test_open_answers_without_a_judge_are_a_clear_error(records) -> None:
    lines = PredictionLines(texts={(records[0]["id"], "clean"): "a guess"})
    with pytest.raises(HvgenError, match="--judge"):
        score_hqh(records, lines, None)


# ------------------------------------------------------------------ endpoint judge


class _ChatServer(BaseHTTPRequestHandler):
    """A fake OpenAI-compatible endpoint: fails the first request with 503, then judges an answer
    Incorrect when it does not contain the ground truth's words."""

    calls: list[dict] = []
    fail_next = True

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).calls.append({"path": self.path, "auth": self.headers.get("Authorization"), "body": body})
        if type(self).fail_next:
            type(self).fail_next = False
            self.send_response(503)
            self.end_headers()
            return
        user = body["messages"][-1]["content"]
        truth = user.split("### Ground-truth answer\n")[1].split("\n")[0]
        response = user.split("### Model response\n")[1].split("\n")[0]
        verdict = "Correct" if response == truth else "Incorrect"
        payload = {"choices": [{"message": {"content": f"Answer: {verdict}\nExtra Contradictory Claims: 0"}}]}
        data = json.dumps(payload).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture()
def chat_server():
    _ChatServer.calls, _ChatServer.fail_next = [], True
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()
    thread.join()


def test_endpoint_judge_retries_then_caches(
    records, export: Path, tmp_path: Path, chat_server: str, monkeypatch
) -> None:
    monkeypatch.setenv("HVGEN_JUDGE_API_KEY", "sk-test")
    open_records = [r for r in records if r["question_type"] == "free form"][:4]
    texts = {r["id"]: r["ground_truth"] if i % 2 else "Something else." for i, r in enumerate(open_records)}
    predictions = write_predictions(tmp_path / "pred.jsonl", texts)
    cache = tmp_path / "judge.jsonl"
    args = ["score", "hqh", str(export), str(predictions), "--judge", chat_server, "--judge-model", "judge-1"]
    args += ["--judge-cache", str(cache), "--judge-workers", "2", "--output", str(tmp_path / "r.json")]
    main(args)
    first = json.loads((tmp_path / "r.json").read_text())
    assert len(_ChatServer.calls) == 5  # one 503, retried, then one call per answer
    assert {c["path"] for c in _ChatServer.calls} == {"/v1/chat/completions"}
    assert {c["auth"] for c in _ChatServer.calls} == {"Bearer sk-test"}
    assert {c["body"]["model"] for c in _ChatServer.calls} == {"judge-1"}
    assert first["open"]["Main Hal%"] == 50.0 and first["judge"]["judge_calls"] == 4
    main(args)  # the rerun asks the endpoint nothing
    again = json.loads((tmp_path / "r.json").read_text())
    assert len(_ChatServer.calls) == 5
    assert again["judge"]["cache_hits"] == 4 and again["judge"]["judge_calls"] == 0
    assert again["open"] == first["open"]


def test_endpoint_judge_gives_up_with_a_clear_error(tmp_path: Path) -> None:
    judge = HttpJudge("http://127.0.0.1:9/v1", "m", timeout=0.5, retries=1, backoff=0.01)
    with pytest.raises(HvgenError, match="failed 2 times"):
        judge.reply([[{"role": "user", "content": "hi"}]])


# ------------------------------------------------------------------ transformers judge


def tiny_chat_model(directory: Path) -> Path:
    """A random 2-layer Llama with a word-level tokenizer and a chat template, saved to disk."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    words = [
        "<unk>",
        "<s>",
        "</s>",
        "Answer",
        ":",
        "Correct",
        "Incorrect",
        "Extra",
        "Contradictory",
        "Claims",
    ]
    words += [str(n) for n in range(10)] + ["the", "is", "a", "red", "blue", "user", "system", "assistant"]
    core = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    core.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=core, unk_token="<unk>", bos_token="<s>", eos_token="</s>"
    )
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }} : {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant :{% endif %}"
    )
    tokenizer.save_pretrained(directory)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(words),
        hidden_size=16,
        intermediate_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        bos_token_id=1,
        eos_token_id=2,
    )
    LlamaForCausalLM(config).save_pretrained(directory)
    return directory


def test_transformers_judge_on_a_tiny_random_model(records, tmp_path: Path) -> None:
    model = tiny_chat_model(tmp_path / "judge-model")
    open_records = [r for r in records if r["question_type"] == "free form"][:2]
    lines = PredictionLines(texts={(r["id"], "clean"): r["ground_truth"] for r in open_records})
    spec = JudgeSpec(str(model), cache=tmp_path / "cache.jsonl")
    report = score_hqh(records, lines, spec)
    # A random model writes no verdict: its replies are counted as unparsed, not a crash.
    assert report["judge"]["judge"] == f"transformers:{model}" and report["judge"]["judge_calls"] == 2
    assert report["judge"]["n_unparsed"] == 2 and len(report["unparsed_ids"]) == 2
    assert report["open"]["n"] == 0 and report["score"] is None
    again = score_hqh(records, lines, spec)
    assert again["judge"]["cache_hits"] == 2 and again["judge"]["judge_calls"] == 0
    assert [u["reply"] for u in again["judge"]["unparsed_replies"]] == [
        u["reply"] for u in report["judge"]["unparsed_replies"]
    ]


def test_judge_model_is_refused_for_a_local_judge(records) -> None:
    lines = PredictionLines(texts={(records[0]["id"], "clean"): "x"})
    with pytest.raises(HvgenError, match="--judge-model is for endpoints"):
        score_hqh(records, lines, JudgeSpec("some/model", model="name"))


def test_cache_survives_a_torn_line_and_asks_again_only_for_it(tmp_path: Path) -> None:
    from hvgen.judges import FunctionJudge
    from hvgen.judges.cache import CachedJudge

    asked: list[str] = []

    def echo(messages):
        asked.append(messages[-1]["content"])
        return f"reply to {messages[-1]['content']}"

    conversations = [[{"role": "user", "content": text}] for text in ("a", "b", "c")]
    path = tmp_path / "cache.jsonl"
    first = CachedJudge(FunctionJudge("echo", echo), path).reply(conversations)
    assert first == ["reply to a", "reply to b", "reply to c"] and asked == ["a", "b", "c"]
    lines = path.read_text().splitlines()
    path.write_text("\n".join(lines[:2]) + "\n" + lines[2][: len(lines[2]) // 2])  # a crash mid-append
    again = CachedJudge(FunctionJudge("echo", echo), path)
    assert again.reply(conversations) == first and asked == ["a", "b", "c", "c"]
    assert (again.hits, again.misses) == (2, 1)
    other = CachedJudge(FunctionJudge("another judge", echo), path)
    other.reply(conversations[:1])
    assert asked[-1] == "a"  # the cache key includes the judge


def test_judge_options_are_checked_before_scoring(records, export: Path, tmp_path: Path, capsys) -> None:
    predictions = write_predictions(tmp_path / "p.jsonl", {records[0]["id"]: "x"})
    for args, message in [
        (["--judge-model", "gpt-4o"], "pass --judge http://host:port/v1 too"),
        (["--judge", "http://127.0.0.1:9/v1"], "--judge-model NAME"),
        (
            ["--judge", "http://127.0.0.1:9/v1", "--judge-model", "m", "--judge-workers", "0"],
            "--judge-workers must be a whole number from 1",
        ),
    ]:
        with pytest.raises(SystemExit):
            main(["score", "hqh", str(export), str(predictions), *args])
        assert message in capsys.readouterr().err
