"""The API's documented spend-limit texts, and failures that must not error a sweep.

Each exception is a real `anthropic` exception built by the SDK's own code
(`_make_status_error_from_response`) from an `httpx` response, as the SDK builds it
when the API answers.

Sources (cited per case):
- ERRORS: https://platform.claude.com/docs/en/api/errors - 400 invalid_request_error
  "You have reached your specified API usage limits" / "…specified workspace API usage
  limits", stating when access resumes;
- RATE_LIMITS: https://platform.claude.com/docs/en/api/rate-limits - the usage tier's
  monthly spend cap: 429 rate_limit_error, `details.error_code`
  enforced_spend_limit_reached on the Messages API, no retry-after, resets 00:00 UTC on
  the 1st of next month. The message without `details`: "This request would exceed your
  account's monthly spend limit. Please try again later." (seen in can1357/oh-my-pi#5418).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import anthropic
import httpx2
import pytest
from conftest import sdk

from sweepq.failures.api import classify

ERRORS = "https://platform.claude.com/docs/en/api/errors"
RATE_LIMITS = "https://platform.claude.com/docs/en/api/rate-limits"
NOW = datetime(2026, 11, 25, 21, 21, 16, tzinfo=UTC).timestamp()
NEXT_MONTH = datetime(2026, 12, 1, tzinfo=UTC).timestamp()


def sdk_exception(status: int, etype: str, message: str, code: str | None = None,
                  headers: dict | None = None) -> anthropic.APIStatusError:
    error: dict = {"type": etype, "message": message}
    if code is not None:
        error["details"] = {"error_code": code}
    body = {"type": "error", "error": error, "request_id": "req_011CTest"}
    request = httpx2.Request("POST", "https://api.anthropic.com/v1/messages",
                             content=json.dumps({"model": "claude-haiku-4-5"}).encode())
    response = httpx2.Response(status, headers=headers or {}, json=body, request=request)
    client = sdk(api_key="sk-ant-test", max_retries=0)
    try:
        return client._make_status_error_from_response(response)
    finally:
        client.close()


ORG = ("You have reached your specified API usage limits. "
       "You will regain access on 2026-12-01 at 00:00 UTC.")
WORKSPACE = ("You have reached your specified workspace API usage limits. "
             "You will regain access on 2027-01-01 at 00:00 UTC.")
TIER_TEXT = "This request would exceed your account's monthly spend limit. Please try again later."

CASES = [
    pytest.param(400, "invalid_request_error", ORG, None,
                 datetime(2026, 12, 1, tzinfo=UTC).timestamp(), id=f"org-limit {ERRORS}"),
    pytest.param(400, "invalid_request_error", WORKSPACE, None,
                 datetime(2027, 1, 1, tzinfo=UTC).timestamp(), id=f"workspace-limit {ERRORS}"),
    pytest.param(400, "invalid_request_error",
                 "You have reached your specified workspace API usage limits.", None,
                 NEXT_MONTH, id=f"workspace-limit-no-date {ERRORS}"),
    pytest.param(429, "rate_limit_error", TIER_TEXT, "enforced_spend_limit_reached",
                 NEXT_MONTH, id=f"tier-cap-code {RATE_LIMITS}"),
    pytest.param(429, "rate_limit_error", TIER_TEXT, None, NEXT_MONTH,
                 id=f"tier-cap-message-only {RATE_LIMITS}"),
    pytest.param(429, "rate_limit_error", "Your organization has reached its monthly spend "
                 "limit.", None, NEXT_MONTH, id=f"tier-cap-other-wording {RATE_LIMITS}"),
    # The docs describe the cap ("crossed its monthly API usage threshold", access back on
    # the 1st) without quoting the message: the wordings the fake sends, and a date.
    pytest.param(429, "rate_limit_error", "You have reached your API usage limits: your "
                 "organization has crossed its monthly API usage threshold, set based on your "
                 "organization's API tier. You will regain access on 2027-01-01 at 00:00 UTC.",
                 None, datetime(2027, 1, 1, tzinfo=UTC).timestamp(),
                 id=f"tier-cap-threshold-wording {RATE_LIMITS}"),
    pytest.param(429, "rate_limit_error", "Access is paused. You will regain access on "
                 "2026-12-01 at 00:00 UTC.", None, datetime(2026, 12, 1, tzinfo=UTC).timestamp(),
                 id=f"tier-cap-regain-date-only {RATE_LIMITS}"),
]


@pytest.mark.parametrize("status, etype, message, code, resume_at", CASES)
def test_spend_limits_are_exhausted_until_the_regain_time(status, etype, message, code,
                                                          resume_at):
    exc = sdk_exception(status, etype, message, code)
    assert isinstance(exc, anthropic.BadRequestError if status == 400
                      else anthropic.RateLimitError)
    failure = classify(exc, now=NOW)
    assert (failure.kind, failure.resume_at, failure.reach) == ("exhausted", resume_at, "job")


def test_a_plain_rate_limit_is_still_a_rate_limit():
    """RATE_LIMITS: a 429 that names no spend limit is paced, not a month's pause."""
    exc = sdk_exception(429, "rate_limit_error", "Number of request tokens has exceeded your "
                        "per-minute rate limit", headers={"retry-after": "7"})
    failure = classify(exc, now=NOW)
    assert (failure.kind, failure.resume_at) == ("rate_limited", NOW + 7)


def test_a_quoted_limit_sentence_in_another_400_is_the_job_s():
    """ERRORS: the sentence decides only at the start of an invalid_request_error."""
    exc = sdk_exception(400, "invalid_request_error",
                        f"messages.0.content: {WORKSPACE} is not valid")
    assert (classify(exc, now=NOW).kind, classify(exc, now=NOW).reach) == ("fatal", "job")


def test_a_key_that_cannot_be_sent_stops_the_run(fake_api):
    """A malformed key (a newline in it) fails every request before any answer: fatal for
    the run, and the key never reaches the message."""
    client = sdk(api_key="sk-ant-api03-SECRET\nrest", base_url=fake_api.url, max_retries=0)
    with pytest.raises(anthropic.APIConnectionError) as info:
        client.messages.create(model="claude-haiku-4-5", max_tokens=8,
                               messages=[{"role": "user", "content": "hi"}])
    failure = classify(info.value, now=NOW)
    assert (failure.kind, failure.reach) == ("fatal", "run")
    assert "ANTHROPIC_API_KEY" in failure.message and "SECRET" not in failure.message
