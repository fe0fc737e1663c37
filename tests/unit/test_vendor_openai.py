"""OpenAI and local OpenAI-compatible judges: model ids, the backend through the real
`openai` SDK against the loopback Chat Completions fake, and failure classification.

Sources of the error formats (cited where each case is tested):
- the `insufficient_quota` body: github.com/mattvr/ShellGPT/issues/23 (code set) and
  huggingface.co/spaces/microsoft/HuggingGPT/discussions/5 (same type, code null);
- the billing codes under type `insufficient_quota`: learn.microsoft.com/en-us/
  microsoft-cloud/dev/dev-proxy/concepts/openai-insufficient-quota;
- `rate_limit_exceeded` and the `x-ratelimit-*` headers with Go durations (`6m0s`,
  `12ms`): community.openai.com/t/how-to-get-rate-limit-reset-time-for-response-api/
  1268905 and platform.openai.com/docs/guides/rate-limits.
"""

from __future__ import annotations

import pytest

from sweepq import arms
from sweepq.errors import SweepqError
from sweepq.failures import CallFailed
from sweepq.failures.openai import classify_openai, go_duration
from sweepq.fake.openai import QUOTA_MESSAGE, FakeOpenAI, error, rate_limited
from sweepq.models import parse_model_pairs, price
from sweepq.usage import Usage
from sweepq.vendors import target
from sweepq.vendors.openai import OpenAIBackend
from sweepq.vendors.router import RouterBackend

NOW = 1_800_000_000.0


@pytest.fixture
def fake(monkeypatch):
    with FakeOpenAI(api_key="sk-test-openai") as f:
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
        yield f


def backend(fake: FakeOpenAI) -> OpenAIBackend:
    return OpenAIBackend(fake.url + "/v1")


def failure_of(fake: FakeOpenAI, *scripted, model: str = "gpt-5.4-mini"):
    fake.script(list(scripted))
    with pytest.raises(CallFailed) as info:
        backend(fake).send(model, None, "hello", 16)
    return info.value.failure, info.value.__cause__


@pytest.mark.parametrize("model_id, expected", [
    ("claude-haiku-4-5", target.Target("anthropic", "claude-haiku-4-5")),
    ("openai:gpt-5.4-mini", target.Target("openai", "gpt-5.4-mini")),
    ("gemini:gemini-2.5-flash", target.Target("gemini", "gemini-2.5-flash")),
    ("local:qwen3:4b@http://127.0.0.1:11434/v1",
     target.Target("local", "qwen3:4b", "http://127.0.0.1:11434/v1")),
    ("local:llama3.2", target.Target("local", "llama3.2", target.DEFAULT_LOCAL_URL)),
    ("openai:gpt-5.4@http://127.0.0.1:9/v1",
     target.Target("openai", "gpt-5.4", "http://127.0.0.1:9/v1")),
])
def test_model_ids_name_their_provider(model_id, expected):
    assert target.parse(model_id) == expected


@pytest.mark.parametrize("bad", ["azure:gpt-4o", "openai:", "local:qwen@ftp://x"])
def test_a_model_map_with_an_unknown_provider_is_refused(bad):
    with pytest.raises(SweepqError):
        parse_model_pairs([f"judge={bad}"])


def test_a_call_s_scope_is_its_provider_or_its_claude_family():
    """Which scoped pauses a call waits for; a Claude exhaustion of the whole account is
    a pause with no scope, which every call waits for."""
    assert target.parse("claude-haiku-4-5").scope == "claude-haiku"
    assert target.parse("claude-opus-4-6").scope == "claude-opus"
    assert target.parse("claude-3-5-sonnet-20241022").scope == "claude-sonnet"
    assert target.parse("claude-next").scope is None
    assert target.parse("openai:gpt-5.4-mini").scope == "openai"
    assert target.parse("local:qwen3:4b@http://h:1/v1").scope == "local@http://h:1/v1"


def test_the_real_sdk_gets_a_completion_and_a_judge_gets_a_verdict(fake):
    b = backend(fake)
    reply = b.send("gpt-5.4-mini", "be brief", "What is 2+2? Options: (A) 4 (B) 5", 256)
    assert reply.text and reply.stop_reason == "end_turn"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    same = "Reasoning.\nAnswer: (A)"
    verdict = b.send("gpt-5.4-mini", arms.JUDGE_SYSTEM,
                     arms.JUDGE_PROMPT.format(question="q", a=same, b=same), 64)
    assert verdict.text.startswith(arms.JUDGE_AGREE)
    assert fake.stats()["successes_by_model"] == {"gpt-5.4-mini": 2}


def test_a_local_server_needs_no_key(monkeypatch, fake):
    monkeypatch.delenv("OPENAI_API_KEY")
    fake.api_key = None
    reply = OpenAIBackend(fake.url + "/v1", local=True).send("qwen3:4b", None, "hi", 32)
    assert reply.text


def test_openai_without_a_key_is_one_line(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(SweepqError, match="OPENAI_API_KEY is not set"):
        OpenAIBackend("http://127.0.0.1:9/v1")


@pytest.mark.parametrize("code, etype", [
    ("insufficient_quota", "insufficient_quota"),        # ShellGPT #23
    (None, "insufficient_quota"),                        # HuggingGPT discussion 5
    ("credit_balance_exhausted", "insufficient_quota"),  # learn.microsoft.com dev-proxy page
    ("project_spend_limit_exceeded", "insufficient_quota"),
    ("organization_spend_limit_exceeded", "insufficient_quota"),
])
def test_an_empty_quota_is_exhaustion_with_no_resume_time(fake, code, etype):
    failure, _ = failure_of(fake, error(429, code, QUOTA_MESSAGE, etype=etype))
    assert (failure.kind, failure.resume_at) == ("exhausted", None)
    assert "quota" in failure.message


def test_the_quota_running_out_mid_run_is_exhaustion(fake):
    fake.quota_after = 1
    backend(fake).send("gpt-5.4-mini", None, "one", 16)
    failure, _ = failure_of(fake)
    assert failure.kind == "exhausted" and fake.stats()["exhausted"] == 1


def test_a_rate_limit_waits_for_the_spent_limit_to_reset(fake):
    failure, cause = failure_of(fake, rate_limited(reset="6m0s"))
    now_failure = classify_openai(cause, now=NOW)
    assert failure.kind == "rate_limited"
    assert now_failure.resume_at == pytest.approx(NOW + 360)   # requests: remaining 0


def test_retry_after_beats_the_reset_headers(fake):
    _, cause = failure_of(fake, rate_limited(reset="6m0s", retry_after="20"))
    assert classify_openai(cause, now=NOW).resume_at == pytest.approx(NOW + 20)


def test_a_429_with_no_headers_waits_a_minute(fake):
    _, cause = failure_of(fake, error(429, "rate_limit_exceeded", "Rate limit reached"))
    assert classify_openai(cause, now=NOW).resume_at == pytest.approx(NOW + 60)


@pytest.mark.parametrize("text, seconds", [("6m0s", 360), ("12ms", 0.012), ("1s", 1),
                                           ("1h2m3.5s", 3723.5), ("soon", None), ("", None)])
def test_go_durations(text, seconds):
    assert go_duration(text) == (pytest.approx(seconds) if seconds is not None else None)


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors_are_transient(fake, status):
    failure, _ = failure_of(fake, error(status, None, "The server had an error",
                                        etype="server_error"))
    assert failure.kind == "transient"


def test_a_wrong_key_and_an_unknown_model_stop_the_run(fake, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-wrong")
    failure, _ = failure_of(fake)
    assert (failure.kind, failure.reach) == ("fatal", "run") and "OPENAI_API_KEY" in \
        failure.message
    assert "sk-wrong" not in failure.message
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    fake.models = ("gpt-5.4-mini",)
    failure, _ = failure_of(fake, model="gpt-9")
    assert (failure.kind, failure.reach) == ("fatal", "run") and "model_not_found" in \
        failure.message


def test_a_bad_request_fails_the_job_only(fake):
    failure, _ = failure_of(fake, error(400, "context_length_exceeded", "too long"))
    assert (failure.kind, failure.reach) == ("fatal", "job")


class _Claude:
    def __init__(self):
        self.models = []

    def send(self, model, system, prompt, max_tokens):
        from sweepq.backends import Reply

        self.models.append(model)
        return Reply("claude says hi")


def test_the_router_sends_by_provider_and_scopes_vendor_failures(fake):
    claude = _Claude()
    router = RouterBackend(claude)
    assert router.send("claude-haiku-4-5", None, "hi", 8).text == "claude says hi"
    assert router.send(f"openai:gpt-5.4-mini@{fake.url}/v1", None, "hi", 32).text
    assert claude.models == ["claude-haiku-4-5"]
    fake.quota_after = 0
    with pytest.raises(CallFailed) as info:
        router.send(f"openai:gpt-5.4-mini@{fake.url}/v1", None, "hi", 32)
    assert (info.value.failure.kind, info.value.failure.pause_scope) == ("exhausted", "openai")


def test_a_missing_key_at_the_router_is_fatal_for_the_run(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(CallFailed) as info:
        RouterBackend(_Claude()).send("openai:gpt-5.4-mini", None, "hi", 8)
    assert (info.value.failure.kind, info.value.failure.reach) == ("fatal", "run")


def test_prices_use_the_vendors_id_and_unknown_is_none():
    usage = Usage(input_tokens=1_000_000, output_tokens=0)
    assert price("openai:no-such-model", usage) is None
    assert price("local:qwen3:4b@http://127.0.0.1:11434/v1", usage) is None
    assert price("claude-haiku-4-5", usage) == pytest.approx(1.0)
