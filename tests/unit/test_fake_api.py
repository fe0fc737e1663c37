"""sweepq.fake against the real anthropic SDK over real loopback HTTP (no mocks)."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import anthropic
import pytest
from click.testing import CliRunner
from conftest import sdk

from sweepq.arms import judge_prompt
from sweepq.bbh import make_task
from sweepq.fake import CREDIT_MESSAGE, KNOWN_MODELS, SPEND_LIMIT_CODE, FakeAPI, FakeConfig
from sweepq.fake.cli import fake_api_command

REPO = Path(__file__).resolve().parents[2]
HAIKU = "claude-haiku-4-5"
SONNET = "claude-sonnet-4-6"
MCQ = (
    "Which is the largest?\n"
    "Options:\n"
    "(A) a mouse\n"
    "(B) an elephant\n"
    "(C) a cat\n"
    "(D) a dog"
)


def client(fake: FakeAPI, **kw) -> anthropic.Anthropic:
    return sdk(api_key="test-key", base_url=fake.url, max_retries=0, **kw)


def ask(c: anthropic.Anthropic, prompt: str = "hi", model: str = HAIKU, **kw):
    return c.messages.create(
        model=model, max_tokens=256, messages=[{"role": "user", "content": prompt}], **kw
    )


def text_of(msg) -> str:
    return msg.content[0].text


def final_answer(msg) -> str:
    return re.findall(r"^Answer: (.+)$", text_of(msg), re.MULTILINE)[-1]


def raw_post(url: str, data: bytes, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=data, method="POST",
                                 headers={"content-type": "application/json", **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture
def fake():
    with FakeAPI() as f:
        yield f


def test_success_with_usage_and_headers(fake):
    c = client(fake)
    raw = c.messages.with_raw_response.create(
        model=HAIKU, max_tokens=256, system="Be brief.", extra_body={"temperature": 0.0},
        messages=[{"role": "user", "content": "What is 2+2? " * 10}],
    )
    assert raw.headers["request-id"].startswith("req_")
    msg = raw.parse()
    assert msg.id.startswith("msg_") and msg.type == "message" and msg.role == "assistant"
    assert msg.model == HAIKU and msg.stop_reason == "end_turn" and msg.stop_sequence is None
    assert msg.usage.input_tokens == len("Be brief." + "What is 2+2? " * 10) // 4
    assert msg.usage.output_tokens >= 1
    assert msg.usage.cache_creation_input_tokens == 0 and msg.usage.cache_read_input_tokens == 0
    assert text_of(msg).splitlines()[-1] == "Answer: 0"   # free form, no key
    # system as a list of text blocks, content as blocks, extra top-level fields ignored
    msg = c.messages.create(
        model=HAIKU, max_tokens=64,
        system=[{"type": "text", "text": "sys", "cache_control": {"type": "ephemeral"}}],
        messages=[{"role": "user", "content": [{"type": "text", "text": MCQ}]}],
        extra_body={"cache_control": {"type": "ephemeral"}, "tools": []},
    )
    assert final_answer(msg) in "ABCD"
    st = fake.stats()
    assert st["requests"] == 2 and st["successes"] == 2
    assert st["successes_by_model"] == {HAIKU: 2}
    assert sum(st["success_hashes"].values()) == 2


def test_max_tokens_truncates(fake):
    msg = client(fake).messages.create(model=HAIKU, max_tokens=2,
                                       messages=[{"role": "user", "content": MCQ}])
    assert msg.stop_reason == "max_tokens" and msg.usage.output_tokens == 2


def test_determinism(fake):
    c = client(fake)
    first = text_of(ask(c, MCQ))
    assert text_of(ask(c, MCQ)) == first
    # another server with the same seed answers the same
    with FakeAPI(FakeConfig(seed=0)) as other:
        assert text_of(ask(client(other), MCQ)) == first
    # the system prompt is part of the hash: some systems change the pick
    answers = {final_answer(ask(c, MCQ, system=f"persona {i}")) for i in range(12)}
    assert len(answers) > 1 and answers <= set("ABCD")
    st = fake.stats()
    assert st["success_hashes"][max(st["success_hashes"], key=st["success_hashes"].get)] == 2


def test_answer_key_and_accuracy():
    free = "Is the sky blue? Answer True or False."
    cfg = FakeConfig(answer_key={MCQ: "B", free: "True", "How many legs has a cat?": "4"},
                     accuracy={"haiku": 1.0, "sonnet": 0.0},
                     models=(*KNOWN_MODELS, "claude-opus-4-7"))
    with FakeAPI(cfg) as fake:
        c = client(fake)
        assert final_answer(ask(c, MCQ, HAIKU)) == "B"
        wrong = final_answer(ask(c, MCQ, SONNET))
        assert wrong in "ACD" and len(wrong) == 1
        assert final_answer(ask(c, free, HAIKU)) == "True"
        assert final_answer(ask(c, free, SONNET)) == "False"
        assert final_answer(ask(c, "How many legs has a cat?", SONNET)) == "5"
        # unknown model substring defaults to 1.0 when a key is present
        assert final_answer(ask(c, MCQ, "claude-opus-4-7")) == "B"
        # no key entry: a label chosen by the hash; free form answers 0
        assert final_answer(ask(c, MCQ + "\n", SONNET)) in "ABCD"
        assert final_answer(ask(c, "unkeyed question", SONNET)) == "0"


def test_accuracy_fraction_is_roughly_respected():
    prompts = [f"Question {i}\n(A) yes\n(B) no\n(C) maybe" for i in range(200)]
    cfg = FakeConfig(answer_key={p: "(C)" for p in prompts}, accuracy={"haiku": 0.7})
    with FakeAPI(cfg) as fake:
        c = client(fake)
        answers = [final_answer(ask(c, p)) for p in prompts]
    assert set(answers) <= {"(A)", "(B)", "(C)"}
    assert 0.6 < answers.count("(C)") / len(answers) < 0.8


def test_judge_yes_no(fake):
    """A prompt `arms.judge_prompt` built is judged: YES when the last answers match."""
    c = client(fake)
    task = make_task("web_of_lies", 0, "Does Ann tell the truth?", "Yes")

    def judge(a: str, b: str) -> str:
        prompt = judge_prompt(task, f"thinking\nAnswer: {a}",
                              f"Answer: wrong\nmore\nAnswer: {b}")
        return text_of(ask(c, prompt, SONNET)).splitlines()[0]

    assert judge("(B)", " (b) ") == "YES"
    assert judge("(B)", "(C)") == "NO"
    assert text_of(ask(c, judge_prompt(task, "no answer", "Answer: x"))).startswith("NO")
    # Text merely resembling a judge prompt is an ordinary question.
    assert final_answer(ask(c, "<response_a>Answer: A</response_a><response_b>Answer: A"
                               "</response_b>")) == "0"


@pytest.mark.parametrize("kwargs, fragment", [
    (dict(max_tokens=0, messages=[{"role": "user", "content": "hi"}]), "max_tokens"),
    (dict(max_tokens=10, messages=[]), "at least one message"),
    (dict(max_tokens=10, messages=[{"role": "robot", "content": "hi"}]), "role"),
    (dict(max_tokens=10, messages=[{"role": "user", "content": [{"type": "bogus"}]}]), "bogus"),
    (dict(max_tokens=10, messages=[{"role": "user", "content": ""}]), "non-empty"),
    (dict(max_tokens=10, messages=[{"role": "user", "content": "hi"}],
          extra_body={"temperature": 3}), "temp"),
])
def test_validation_errors(fake, kwargs, fragment):
    with pytest.raises(anthropic.BadRequestError) as ei:
        client(fake).messages.create(model=HAIKU, **kwargs)
    assert ei.value.type == "invalid_request_error" and fragment in ei.value.api_message
    assert fake.stats()["successes"] == 0


def test_raw_invalid_bodies_and_paths(fake):
    url = fake.url + "/v1/messages"
    hdr = {"x-api-key": "k"}
    status, body = raw_post(url, b"{not json", hdr)
    assert status == 400 and body["type"] == "error"
    assert body["error"]["type"] == "invalid_request_error"
    status, body = raw_post(url, json.dumps({"model": HAIKU, "messages": [
        {"role": "user", "content": "hi"}]}).encode(), hdr)
    assert status == 400 and body["error"]["message"] == "max_tokens: Field required"
    status, body = raw_post(fake.url + "/v1/nothing", b"{}", hdr)
    assert status == 404 and body["error"]["type"] == "not_found_error"
    with pytest.raises(anthropic.NotFoundError) as ei:
        ask(client(fake), model="gpt-4o")
    assert ei.value.api_message == "model: gpt-4o"
    status, body = raw_post(fake.url + "/v1/messages/count_tokens", json.dumps(
        {"model": HAIKU, "messages": [{"role": "user", "content": "x" * 40}]}).encode(), hdr)
    assert status == 200 and body == {"input_tokens": 10}


def test_authentication():
    with FakeAPI(FakeConfig(valid_api_keys={"good"})) as fake:
        no_key = client(fake, default_headers={"Authorization": anthropic.Omit()})
        with pytest.raises(anthropic.AuthenticationError) as ei:
            ask(no_key)
        assert ei.value.type == "authentication_error"
        with pytest.raises(anthropic.AuthenticationError):
            ask(client(fake))                                  # "test-key" is not valid
        ok = sdk(api_key="good", base_url=fake.url, max_retries=0)
        assert ask(ok).stop_reason == "end_turn"
        status, _ = raw_post(fake.url + "/v1/messages", json.dumps(
            {"model": HAIKU, "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]}
        ).encode(), {"x-api-key": "good"})
        assert status == 200


def test_scripted_responses_take_precedence(fake):
    c = client(fake)
    fake.script([
        {"status": 529},
        {"status": 429, "headers": {"retry-after": "7"}},
        {"status": 200, "body": {"id": "msg_x", "type": "message", "role": "assistant",
                                 "model": HAIKU, "content": [{"type": "text", "text": "hello"}],
                                 "stop_reason": "end_turn", "stop_sequence": None,
                                 "usage": {"input_tokens": 1, "output_tokens": 1}}},
        {"reset": True},
    ])
    with pytest.raises(anthropic.OverloadedError) as ei:
        ask(c)
    assert isinstance(ei.value, anthropic.InternalServerError) and ei.value.status_code == 529
    assert ei.value.type == "overloaded_error" and ei.value.api_message == "Overloaded"
    with pytest.raises(anthropic.RateLimitError) as ei:
        ask(c)
    assert ei.value.response.headers["retry-after"] == "7"
    assert text_of(ask(c, "ignored")) == "hello"
    with pytest.raises(anthropic.APIConnectionError):
        ask(c)
    assert ask(c).stop_reason == "end_turn"                   # script used up
    # the same over HTTP; precedence over authentication too
    status, body = raw_post(fake.url + "/_script", json.dumps([{"status": 503}]).encode())
    assert status == 200 and body == {"queued": 1}
    status, body = raw_post(fake.url + "/v1/messages", b"garbage")
    assert status == 503 and body["error"]["type"] == "api_error"
    st = fake.stats()
    assert st["scripted"] == 5 and st["faults"] == {"529": 1, "429": 1, "reset": 1, "503": 1}


def test_exhaustion_window():
    with FakeAPI(FakeConfig(exhaust_after=2, exhaust_for=1.0)) as fake:
        c = client(fake)
        ask(c, "one")
        ask(c, "two")
        t0 = time.time()
        errors = []
        for _ in range(2):
            with pytest.raises(anthropic.RateLimitError) as ei:
                ask(c, "three")
            errors.append(ei.value)
        e = errors[0]
        assert isinstance(e, anthropic.EnforcedSpendLimitReachedError)
        assert e.error_code == SPEND_LIMIT_CODE and e.type == "rate_limit_error"
        assert "retry-after" not in e.response.headers
        # The tier cap's documented text (platform.claude.com/docs/en/api/rate-limits).
        m = re.fullmatch(r"You have reached your API usage limits: your organization has "
                         r"crossed its monthly API usage threshold, set based on your "
                         r"organization's API tier\. You will regain "
                         r"access on (\d{4}-\d\d-\d\d) at (\d\d:\d\d) UTC\.", e.api_message)
        assert m, e.api_message
        regain = datetime.strptime(" ".join(m.groups()), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
        assert 0 < regain.timestamp() - (t0 + 1.0) <= 61      # rounded up to the next minute
        time.sleep(1.05)
        assert ask(c, "three").stop_reason == "end_turn"
        for i in range(3):                                       # the window happens once
            ask(c, f"later {i}")
        st = fake.stats()
        assert st["faults"] == {"exhausted": 2} and st["successes"] == 6


def test_credit_exhausted():
    with FakeAPI(FakeConfig(credit_exhausted=True)) as fake:
        with pytest.raises(anthropic.BadRequestError) as ei:
            ask(client(fake))
        assert ei.value.type == "invalid_request_error"
        assert ei.value.api_message == CREDIT_MESSAGE
        assert fake.stats()["faults"] == {"credit": 1}


def test_connection_resets():
    with FakeAPI(FakeConfig(reset_rate=1.0)) as fake:
        c = client(fake)
        for _ in range(3):
            with pytest.raises(anthropic.APIConnectionError):
                ask(c)
        assert fake.stats()["faults"] == {"reset": 3}


def test_rate_limit_fault_headers():
    with FakeAPI(FakeConfig(faults={429: 1.0}, retry_after=2.5)) as fake:
        sent = time.time()
        with pytest.raises(anthropic.RateLimitError) as ei:
            ask(client(fake))
        answered = time.time()
        h = ei.value.response.headers
        assert h["retry-after"] == "2.5"
        assert h["anthropic-ratelimit-requests-remaining"] == "0"
        reset = datetime.strptime(h["anthropic-ratelimit-requests-reset"], "%Y-%m-%dT%H:%M:%SZ")
        # now + retry-after rounded up to whole seconds, "now" being between the request's
        # two ends however long it took
        at = reset.replace(tzinfo=UTC).timestamp()
        assert sent + 2.5 <= at <= math.ceil(answered + 2.5)
        assert ei.value.error_code is None


def _outcomes(seed: int, n: int = 40) -> tuple[list[str], dict]:
    cfg = FakeConfig(seed=seed, faults={529: 0.15, 500: 0.1, 429: 0.1, 503: 0.05},
                     reset_rate=0.05)
    out = []
    with FakeAPI(cfg) as fake:
        c = client(fake)
        for i in range(n):
            try:
                ask(c, f"q{i}")
                out.append("ok")
            except anthropic.APIStatusError as e:
                out.append(str(e.status_code))
            except anthropic.APIConnectionError:
                out.append("reset")
        return out, fake.stats()


def test_fault_rates_are_deterministic_per_seed():
    a, stats = _outcomes(7)
    assert a == _outcomes(7)[0]
    assert a != _outcomes(8)[0]
    assert 5 < a.count("ok") < 40
    assert stats["successes"] == a.count("ok")
    assert stats["faults"] == {k: a.count(k) for k in set(a) - {"ok"}}


def test_streaming_with_sdk(fake):
    c = client(fake)
    plain = text_of(ask(c, MCQ))
    events = list(c.messages.create(model=HAIKU, max_tokens=256, stream=True,
                                    messages=[{"role": "user", "content": MCQ}]))
    kinds = [e.type for e in events]
    assert kinds[0] == "message_start" and kinds[1] == "content_block_start"
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    deltas = [e.delta.text for e in events if e.type == "content_block_delta"]
    assert "".join(deltas) == plain
    assert events[-2].delta.stop_reason == "end_turn" and events[-2].usage.output_tokens > 0
    with c.messages.stream(model=HAIKU, max_tokens=256,
                           messages=[{"role": "user", "content": MCQ}]) as s:
        final = s.get_final_message()
    assert text_of(final) == plain and final.usage.input_tokens > 0


def test_concurrent_requests_are_not_serialised():
    with FakeAPI(FakeConfig(latency_ms=300)) as fake:
        c = client(fake)
        with ThreadPoolExecutor(20) as pool:
            texts = list(pool.map(lambda i: text_of(ask(c, f"{MCQ}\n#{i}")), range(20)))
        assert fake.stats()["successes"] == 20
        assert fake.stats()["max_in_flight"] >= 10     # answered side by side, not in turn
    with FakeAPI(FakeConfig()) as fake:                 # concurrency doesn't change answers
        c = client(fake)
        assert texts == [text_of(ask(c, f"{MCQ}\n#{i}")) for i in range(20)]


def test_stats_endpoint_and_reset(fake):
    ask(client(fake))
    with urllib.request.urlopen(fake.url + "/stats", timeout=5) as r:
        st = json.loads(r.read())
    assert st == fake.stats() and st["successes"] == 1
    status, _ = raw_post(fake.url + "/_stats/reset", b"")
    assert status == 200
    assert fake.stats() == {"requests": 0, "successes": 0, "successes_by_model": {},
                            "faults": {}, "rejected": {}, "scripted": 0, "success_hashes": {},
                            "max_in_flight": 0, "batches": 0, "batch_requests": 0,
                            "batch_results": {}}


def test_stop_closes_kept_alive_connections():
    fake = FakeAPI().start()
    c = client(fake)
    ask(c)
    fake.stop()
    with pytest.raises(anthropic.APIConnectionError):
        ask(c)


def test_cli_serves_and_stops_on_sigterm(tmp_path):
    key = tmp_path / "key.json"
    key.write_text(json.dumps({MCQ: "D"}))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "sweepq", "fake-api",
         "--port", "0", "--answer-key", str(key), "--accuracy", "haiku=1.0",
         "--api-key", "test-key"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
    )
    try:
        timer = threading.Timer(10, proc.kill)
        timer.start()
        line = proc.stdout.readline()
        timer.cancel()
        m = re.fullmatch(r"fake-api listening on (http://127\.0\.0\.1:\d+)\n", line)
        assert m, (line, proc.stderr.read() if proc.poll() is not None else "")
        c = sdk(api_key="test-key", base_url=m.group(1), max_retries=0)
        assert final_answer(ask(c, MCQ)) == "D"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("args, fragment", [
    (["--faults", "529:2"], "[0, 1]"),
    (["--faults", "abc"], "STATUS:RATE"),
    (["--faults", "200:0.1"], "STATUS:RATE"),
    (["--accuracy", "haiku"], "MODEL=RATE"),
    (["--faults", "529:0.6", "--resets", "0.6"], "more than 1"),
    (["--latency-ms", "-1"], ">= 0"),
    (["--answer-key", "/nonexistent/key.json"], "cannot read"),
])
def test_cli_bad_parameters(args, fragment):
    result = CliRunner().invoke(fake_api_command, args)
    assert result.exit_code == 2
    assert fragment in result.output and "Traceback" not in result.output


def test_config_validation():
    with pytest.raises(ValueError):
        FakeAPI(FakeConfig(faults={529: 1.5}))
    with pytest.raises(ValueError):
        FakeAPI().script([{"headers": {}}])


def test_chunked_request_bodies_are_refused_not_decoded(fake):
    """http.server does not decode chunked requests; the fake answers 411 (the SDK always
    sends a content-length). The whole request goes out in one write before the answer is
    read: the fake may close as soon as it has the headers, and a client still sending
    chunks then would see a broken pipe instead of the answer."""
    import socket

    body = b'9\r\n{"model":\r\n5\r\n"x"}\r\n0\r\n\r\n'
    request = (b"POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nx-api-key: k\r\n"
               b"content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n" + body)
    with socket.create_connection(("127.0.0.1", fake.port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, payload = answer.partition(b"\r\n\r\n")
    assert head.split(b"\r\n")[0].split()[1] == b"411"
    assert json.loads(payload)["error"]["type"] == "invalid_request_error"
    assert fake.stats()["requests"] == 0


@pytest.mark.parametrize("args, fragment", [
    (["--models", ""], "at least one model"),
    (["--spend-limit", "galaxy"], "galaxy"),
])
def test_cli_bad_models_and_spend_limit(args, fragment):
    result = CliRunner().invoke(fake_api_command, args)
    assert result.exit_code == 2 and fragment in result.output
