"""The in-process backend: the same answers and failures as the HTTP fake, without sockets.

`InProcessBackend` runs the fake's engine behind an httpx transport, so the real SDK
still builds each request and raises its own exceptions. These tests hold it to the
HTTP fake (same config, same requests -> same replies, same classified failures) and
show that the fake follows a second prompt set's templates.
"""

from __future__ import annotations

import json
from dataclasses import replace

import anthropic
import pytest

from sweepq import arms, bbh, prompts
from sweepq.arms import JUDGE_SYSTEM, PERSONA_A, PERSONA_B, judge_prompt
from sweepq.backends import AnthropicBackend
from sweepq.bbh import make_task
from sweepq.bbh_answers import score
from sweepq.failures.api import classify
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.inprocess import InProcessBackend
from sweepq.models import DEFAULT_MODELS
from sweepq.prompts import PromptSet, default_set, parse
from sweepq.prompts_toml import render
from sweepq.task import Task

HAIKU, SONNET = DEFAULT_MODELS["haiku"], DEFAULT_MODELS["sonnet"]


def tasks() -> list[Task]:
    """Tasks built now, so a monkeypatched template shapes their prompts."""
    return [
        make_task("web_of_lies", 0, "Ann lies. Does Bob, who calls Ann a liar, tell the truth?",
                  "Yes"),
        make_task("boolean_expressions", 1, "not ( True ) and False is", "False"),
        make_task("date_understanding", 2, "Which day follows Monday?", "(B)",
                  [("A", "Sunday"), ("B", "Tuesday"), ("C", "Friday")]),
        make_task("object_counting", 3, "I have two apples and a pear. How many fruits?", "3"),
    ]


def requests(ts: list[Task]) -> list[tuple[str, str | None, str, int]]:
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
                        f.reach, message))
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


def _right_and_wrong(backend: InProcessBackend, ts: list[Task],
                     ps: PromptSet | None = None) -> None:
    """Haiku (accuracy 1) always scores right, sonnet (0) always parseably wrong; the judge
    agrees exactly when the two answers match (the judge of `ps`, default: the default's)."""
    ps = ps or default_set()
    for t in ts:
        right = backend.send(HAIKU, PERSONA_A, t.prompt, 1024).text
        wrong = backend.send(SONNET, PERSONA_A, t.prompt, 1024).text
        assert score(right, t) == (True, "passed"), (right, t.prompt)
        assert score(wrong, t)[1].startswith("expected "), (wrong, t.prompt)
        same = backend.send(HAIKU, JUDGE_SYSTEM, ps.judge_prompt(t.prompt, right, right), 16)
        differ = backend.send(HAIKU, JUDGE_SYSTEM, ps.judge_prompt(t.prompt, right, wrong), 16)
        assert ps.agrees(same.text) and not ps.agrees(differ.text), (same.text, differ.text)
        assert judge_prompt(t, right, wrong) == default_set().judge_prompt(t.prompt, right,
                                                                           wrong)


def test_answers_follow_a_second_prompt_set(monkeypatch):
    """A sweep's own set (another option line and judge question) is read by the fake when
    it is given the set, and the answer line bbh asks for may change too."""
    _right_and_wrong(InProcessBackend(FakeConfig(
        answer_key={t.prompt: t.answer for t in tasks()},
        accuracy={"haiku": 1.0, "sonnet": 0.0})), tasks())
    data = json.loads(json.dumps(default_set().data))
    data["task"]["option"] = "{label}) {text}"
    data["judge"]["question"] = ("Two replies to <q>{question}</q>.\nFirst:\n{a}\n---\n"
                                 "Second:\n{b}\n---\nSame final choice?")
    custom = parse(render(data), "custom")
    monkeypatch.setattr(bbh, "ANSWER_LINE", "Final answer: {answer}")
    ts = [replace(t, prompt=custom.task_prompt(t.subtask, t.question, t.choices))
          for t in tasks()]
    backend = InProcessBackend(FakeConfig(answer_key={t.prompt: t.answer for t in ts},
                                          accuracy={"haiku": 1.0, "sonnet": 0.0},
                                          prompt_sets=(custom,)))
    assert "\nA) " in ts[0].prompt and custom.labels(ts[0].prompt) == ["A", "B"]
    _right_and_wrong(backend, ts, custom)
    text = backend.send(HAIKU, PERSONA_A, ts[2].prompt, 1024).text
    assert text.splitlines()[-1] == "Final answer: B"


def test_the_default_set_is_the_shipped_file_and_asks_for_the_answer_line():
    """One source for the default texts: the shipped file; the constants code knows them by
    are read from it, and its templates ask for bbh's answer line."""
    shipped = prompts.builtin("default")
    assert default_set().sha256 == shipped.sha256 == prompts.digest(shipped.data)
    assert (arms.PERSONA_A, arms.JUDGE_PROMPT, bbh.OPTION_LINE) == (
        shipped.persona_a, shipped.get("judge.question"), shipped.get("task.option"))
    assert bbh.ANSWER_LINE.format(answer="X") in shipped.get("task.multiple_choice")
