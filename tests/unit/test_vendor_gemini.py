"""Gemini judges: the backend through the real `google-genai` SDK against the loopback
generateContent fake, and failure classification.

Sources: the per-day QuotaFailure body (quotaId GenerateRequestsPerDayPerProjectPerModel)
github.com/langgenius/dify/issues/19838; per-minute and per-day violations in one body
github.com/google-gemini/gemini-cli/issues/8437; a RESOURCE_EXHAUSTED with no details
github.com/google-gemini/gemini-cli/issues/2020; "Requests per day (RPD) quotas reset at
midnight Pacific time": ai.google.dev/gemini-api/docs/rate-limits.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from sweepq import arms
from sweepq.failures import CallFailed
from sweepq.failures.gemini import classify_gemini, midnight_pacific
from sweepq.fake.gemini import FakeGemini, error, quota_error
from sweepq.vendors.gemini import GeminiBackend
from sweepq.vendors.router import RouterBackend

KEY = "gemini-test-key"
# 2026-07-01 10:00 PDT (17:00 UTC): the next reset is 2026-07-02 00:00 PDT (07:00 UTC).
NOW = datetime(2026, 7, 1, 17, 0, tzinfo=UTC).timestamp()


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    with FakeGemini(api_key=KEY) as f:
        yield f


def failure_of(fake, *scripted, model="gemini-2.5-flash"):
    fake.script(list(scripted))
    with pytest.raises(CallFailed) as info:
        GeminiBackend(fake.url).send(model, None, "hello", 16)
    return info.value.failure, info.value.__cause__


def test_the_real_sdk_gets_content_and_a_judge_gets_a_verdict(fake):
    b = GeminiBackend(fake.url)
    reply = b.send("gemini-2.5-flash", "be brief", "What is 2+2? Options: (A) 4 (B) 5", 256)
    assert reply.text and reply.stop_reason == "end_turn" and reply.usage.output_tokens > 0
    a, b2 = "Reasoning.\nAnswer: (A)", "Other reasoning.\nAnswer: (B)"
    verdict = b.send("gemini-2.5-flash", arms.JUDGE_SYSTEM,
                     arms.JUDGE_PROMPT.format(question="q", a=a, b=b2), 64)
    assert verdict.text.startswith(arms.JUDGE_DISAGREE)


def test_google_api_key_is_read_too(fake, monkeypatch):
    monkeypatch.delenv("GEMINI_API_KEY")
    monkeypatch.setenv("GOOGLE_API_KEY", KEY)
    assert GeminiBackend(fake.url).send("gemini-2.5-flash", None, "hi", 32).text


def test_a_per_day_quota_is_exhausted_until_midnight_pacific(fake):
    failure, cause = failure_of(fake, quota_error("Day"))
    assert failure.kind == "exhausted" and "PerDay" in failure.message
    resume = classify_gemini(cause, now=NOW).resume_at
    assert datetime.fromtimestamp(resume, ZoneInfo("America/Los_Angeles")).isoformat() == \
        "2026-07-02T00:00:00-07:00"


def test_the_daily_quota_running_out_mid_run(fake):
    fake.quota_after = 1
    GeminiBackend(fake.url).send("gemini-2.5-flash", None, "one", 16)
    failure, _ = failure_of(fake)
    assert failure.kind == "exhausted"


def test_a_body_naming_minute_and_day_quotas_is_the_day(fake):   # gemini-cli #8437
    both = quota_error("Minute")
    both.body["error"]["details"][0]["violations"] += \
        quota_error("Day").body["error"]["details"][0]["violations"]
    assert failure_of(fake, both)[0].kind == "exhausted"


def test_a_per_minute_quota_is_a_rate_limit_for_its_retry_delay(fake):
    failure, cause = failure_of(fake, quota_error("Minute", retry_delay="43s"))
    assert failure.kind == "rate_limited"
    assert classify_gemini(cause, now=NOW).resume_at == pytest.approx(NOW + 43)


def test_resource_exhausted_without_details_waits_a_minute(fake):   # gemini-cli #2020
    _, cause = failure_of(fake, error(429, "RESOURCE_EXHAUSTED",
                                      "Resource has been exhausted (e.g. check quota)."))
    failure = classify_gemini(cause, now=NOW)
    assert (failure.kind, failure.resume_at) == ("rate_limited", NOW + 60)


def test_midnight_pacific_honours_winter_time():
    jan = datetime(2026, 1, 15, 9, 0, tzinfo=UTC).timestamp()   # 01:00 PST
    assert datetime.fromtimestamp(midnight_pacific(jan), UTC).isoformat() == \
        "2026-01-16T08:00:00+00:00"


@pytest.mark.parametrize("scripted, kind", [
    (error(503, "UNAVAILABLE", "The model is overloaded. Please try again later."),
     "transient"),
    (error(500, "INTERNAL", "An internal error has occurred."), "transient"),
    (error(400, "INVALID_ARGUMENT", "Request contains an invalid argument."), "fatal"),
])
def test_server_errors_are_transient_and_bad_requests_fail_the_job(fake, scripted, kind):
    failure = failure_of(fake, scripted)[0]
    assert failure.kind == kind and failure.reach == "job"


def test_a_wrong_key_and_an_unknown_model_stop_the_run(fake, monkeypatch):
    monkeypatch.setenv("GEMINI_API_KEY", "wrong-key-value")
    failure = failure_of(fake)[0]
    assert (failure.kind, failure.reach) == ("fatal", "run") and "GEMINI_API_KEY" in \
        failure.message
    monkeypatch.setenv("GEMINI_API_KEY", KEY)
    fake.models = ("gemini-2.5-flash",)
    failure = failure_of(fake, model="gemini-9")[0]
    assert (failure.kind, failure.reach) == ("fatal", "run")


def test_the_router_scopes_gemini_failures(fake):
    fake.quota_after = 0
    with pytest.raises(CallFailed) as info:
        RouterBackend(claude=None).send(f"gemini:gemini-2.5-flash@{fake.url}", None, "x", 8)
    assert (info.value.failure.kind, info.value.failure.pause_scope) == ("exhausted", "gemini")
