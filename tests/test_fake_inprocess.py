"""The in-process backend: the same answers and failures as the HTTP fake, without sockets.

`InProcessBackend` runs the fake's engine behind an httpx transport, so the real SDK
still builds each request and raises its own exceptions. These tests hold it to the
HTTP fake (same config, same requests -> same replies, same classified failures) and
show that the fake follows prompt templates edited in `bbh` and `arms`.
"""

from __future__ import annotations

import anthropic
import pytest

from sweepq import arms, bbh
from sweepq.arms import JUDGE_SYSTEM, PERSONA_A, PERSONA_B, judge_agrees, judge_prompt
from sweepq.backends import AnthropicBackend
from sweepq.bbh import make_task, score
from sweepq.failures.api import classify
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.inprocess import InProcessBackend
from sweepq.models import DEFAULT_MODELS

HAIKU, SONNET = DEFAULT_MODELS["haiku"], DEFAULT_MODELS["sonnet"]


def tasks() -> list[bbh.Task]:
    """Tasks built now, so a monkeypatched template shapes their prompts."""
    return [
        make_task("web_of_lies", 0, "Ann lies. Does Bob, who calls Ann a liar, tell the truth?",
                  "Yes"),
        make_task("boolean_expressions", 1, "not ( True ) and False is", "False"),
        make_task("date_understanding", 2, "Which day follows Monday?", "(B)",
                  [("A", "Sunday"), ("B", "Tuesday"), ("C", "Friday")]),
        make_task("object_counting", 3, "I have two apples and a pear. How many fruits?", "3"),
    ]


def requests(ts: list[bbh.Task]) -> list[tuple[str, str | None, str, int]]:
    out = []
    for t in ts:
        out += [(HAIKU, PERSONA_A, t.prompt, 1024), (HAIKU, PERSONA_B, t.prompt, 1024),
                (SONNET, None, t.prompt, 8), (HAIKU, JUDGE_SYSTEM,
                                              judge_prompt(t, "x\nAnswer: A", "y\nAnswer: A"), 16)]
    return [*out, ("claude-no-such-model", None, "hi", 64)]


def outcomes(backend, reqs) -> list[tuple]:
    """Each request's reply, or its failure as the classifier and the SDK see it."""
    out: list[tuple] = []
    for req in reqs:
        try:
            r = backend.send(*req)
            u = r.usage
            out.append(("ok", r.text, u.input_tokens, u.output_tokens, u.cache_read_tokens,
                        u.cache_write_tokens, u.cost_usd))
        except Exception as exc:  # compared whole below
            f = classify(exc)
            message = f.message.split(" (request_id")[0]
            if f.message.startswith("connection error:"):
                # A dropped connection reads as a reset or as a protocol error depending on
                # timing, even over real HTTP: the class and kind are what must agree.
                message = "connection error"
            out.append((type(exc).__name__, getattr(exc, "status_code", None), f.kind,
                        f.scope, message))
    return out


CONFIGS = {
    "calm": FakeConfig(),
    "keyed": FakeConfig(answer_key={t.prompt: t.answer for t in tasks()},
                        accuracy={"haiku": 0.5, "sonnet": 1.0}, seed=4),
    "faulty": FakeConfig(seed=7, faults={529: 0.2, 500: 0.1, 429: 0.1}, reset_rate=0.1,
                         retry_after=0.5),
}


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_in_process_equals_http_through_the_real_sdk(name, monkeypatch):
    reqs = requests(tasks())
    with FakeAPI(CONFIGS[name]) as fake:
        monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
        monkeypatch.setenv("ANTHROPIC_BASE_URL", fake.url)
        over_http = outcomes(AnthropicBackend(timeout=10), reqs)
        http_stats = fake.stats()
    in_process = InProcessBackend(CONFIGS[name])
    assert outcomes(in_process, reqs) == over_http
    kinds = {o[0] for o in over_http}
    assert "ok" in kinds and "NotFoundError" in kinds
    if name == "faulty":
        assert {"APIConnectionError", "RateLimitError", "InternalServerError"} <= kinds
    mine = in_process.stats()
    for key in ("requests", "successes", "successes_by_model", "faults", "rejected"):
        assert mine[key] == http_stats[key], key


def test_failures_are_real_sdk_exceptions_with_headers():
    backend = InProcessBackend()
    backend.script([{"status": 429, "headers": {"retry-after": "3"}}, {"reset": True},
                    {"status": 529}])
    with pytest.raises(anthropic.RateLimitError) as ei:
        backend.send(HAIKU, None, "hi", 10)
    assert ei.value.response.headers["retry-after"] == "3"
    assert classify(ei.value).kind == "rate_limited"
    with pytest.raises(anthropic.APIConnectionError):
        backend.send(HAIKU, None, "hi", 10)
    with pytest.raises(anthropic.OverloadedError):
        backend.send(HAIKU, None, "hi", 10)
    assert backend.send(HAIKU, None, "hi", 256).text.endswith("Answer: 0")
    assert backend.stats()["faults"] == {"429": 1, "reset": 1, "529": 1}


def test_api_keys_are_checked_in_process_too():
    cfg = FakeConfig(valid_api_keys={"sk-ant-right"})
    with pytest.raises(anthropic.AuthenticationError):
        InProcessBackend(cfg, api_key="sk-ant-wrong").send(HAIKU, None, "hi", 10)
    assert InProcessBackend(cfg, api_key="sk-ant-right").send(HAIKU, None, "hi", 10).text


def _right_and_wrong(backend: InProcessBackend, ts: list[bbh.Task]) -> None:
    """Haiku (accuracy 1) always scores right, sonnet (0) always parseably wrong; the judge
    agrees exactly when the two answers match."""
    for t in ts:
        right = backend.send(HAIKU, PERSONA_A, t.prompt, 1024).text
        wrong = backend.send(SONNET, PERSONA_A, t.prompt, 1024).text
        assert score(right, t) == (True, "passed"), (right, t.prompt)
        assert score(wrong, t)[1].startswith("expected "), (wrong, t.prompt)
        same = backend.send(HAIKU, JUDGE_SYSTEM, judge_prompt(t, right, right), 16).text
        differ = backend.send(HAIKU, JUDGE_SYSTEM, judge_prompt(t, right, wrong), 16).text
        assert judge_agrees(same) and not judge_agrees(differ), (same, differ)


def test_answers_follow_the_prompt_templates(monkeypatch):
    """Editing bbh's option and answer lines or arms' judge prompt does not break the fake."""
    def keyed() -> tuple[InProcessBackend, list[bbh.Task]]:
        ts = tasks()
        cfg = FakeConfig(answer_key={t.prompt: t.answer for t in ts},
                         accuracy={"haiku": 1.0, "sonnet": 0.0})
        return InProcessBackend(cfg), ts

    _right_and_wrong(*keyed())
    monkeypatch.setattr(bbh, "OPTION_LINE", "{label}) {text}")
    monkeypatch.setattr(bbh, "ANSWER_LINE", "Final answer: {answer}")
    monkeypatch.setattr(arms, "JUDGE_PROMPT", "Two replies to <q>{question}</q>.\nFirst:\n{a}\n"
                                              "---\nSecond:\n{b}\n---\nSame final choice?")
    backend, ts = keyed()
    assert "\nA) " in ts[0].prompt and "<q>" in judge_prompt(ts[0], "a", "b")   # patched
    assert bbh.prompt_labels(ts[0].prompt) == ["A", "B"]
    _right_and_wrong(backend, ts)
    text = backend.send(HAIKU, PERSONA_A, ts[2].prompt, 1024).text
    assert text.splitlines()[-1] == "Final answer: B"
