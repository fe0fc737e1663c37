"""Classification of anthropic SDK failures (sweepq.failures.api).

Real `anthropic` exceptions raised by the real SDK from real HTTP responses served by
`sweepq.fake` on 127.0.0.1. The Claude CLI's are in test_failures_cli.py.
"""

from __future__ import annotations

import re
import socket
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import anthropic
import httpx2
import pytest
from conftest import examples, sdk
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepq.errors import SweepqError
from sweepq.failures import CallFailed, Failure
from sweepq.failures.api import classify
from sweepq.fake import FakeAPI, FakeConfig

FAKE_CLAUDE = Path(__file__).parents[1] / "bin" / "claude"
TEST_KEY = "sk-ant-test-0123456789"
KEY_PATTERN = re.compile(r"sk-ant-(?!\*\*\*)[A-Za-z0-9_-]+")


def ts(iso: str) -> float:
    """Unix seconds of an ISO 8601 time with an offset."""
    return datetime.fromisoformat(iso).timestamp()


def at(wall: str, zone: str) -> float:
    """Unix seconds of a wall-clock time (`YYYY-MM-DDTHH:MM`) in an IANA zone."""
    return datetime.fromisoformat(wall).replace(tzinfo=ZoneInfo(zone)).timestamp()


NOW = ts("2026-07-15T12:00:00+00:00")  # fixed "now" for every SDK case


def err(etype: str, message: str, code: str | None = None) -> dict:
    """An API error body as the real API sends it."""
    error: dict = {"type": etype, "message": message}
    if code is not None:
        error["details"] = {"error_code": code}
    return {"type": "error", "error": error, "request_id": "req_011CTest"}


def assert_clean(failure: Failure) -> None:
    assert "\n" not in failure.message and "\r" not in failure.message
    assert len(failure.message) <= 300
    assert not KEY_PATTERN.search(failure.message), failure.message
    assert TEST_KEY not in failure.message


# --------------------------------------------------------------------------- SDK


@pytest.fixture(scope="module")
def fake():
    with FakeAPI() as server:
        yield server


def sdk_error(server: FakeAPI, response: dict | None, model: str = "claude-haiku-4-5", **kw):
    """What the real SDK raises for `response` (scripted) or for the fake's own decision."""
    if response is not None:
        server.script([response])
    client = sdk(api_key=TEST_KEY, base_url=server.url, max_retries=0, **kw)
    try:
        client.messages.create(
            model=model, max_tokens=16, messages=[{"role": "user", "content": "hi"}]
        )
    except Exception as exc:  # noqa: BLE001 - the point is to catch what the SDK raises
        return exc
    finally:
        client.close()
    raise AssertionError(f"the SDK raised nothing for {response!r}")


USAGE_LIMITS = (
    "You have reached your specified API usage limits. "
    "You will regain access on 2026-09-01 at 00:00 UTC."
)
CREDIT = (
    "Your credit balance is too low to access the Anthropic API. "
    "Please go to Plans & Billing to upgrade or purchase credits."
)
RATE = "This request would exceed the rate limit for your organization of 50 requests per minute."

# (response, exception class the SDK must raise, kind, resume_at, scope)
SDK_CASES = [
    # --- rate limited ----------------------------------------------------------------
    pytest.param(
        {"status": 429, "headers": {"retry-after": "7"}, "body": err("rate_limit_error", RATE)},
        anthropic.RateLimitError, "rate_limited", NOW + 7, "job", id="429-retry-after-seconds",
    ),
    pytest.param(
        {"status": 429, "headers": {"retry-after": "Wed, 15 Jul 2026 12:00:30 GMT"},
         "body": err("rate_limit_error", RATE)},
        anthropic.RateLimitError, "rate_limited", NOW + 30, "job", id="429-retry-after-http-date",
    ),
    pytest.param(
        {"status": 429,
         "headers": {"anthropic-ratelimit-requests-limit": "50",
                     "anthropic-ratelimit-requests-remaining": "0",
                     "anthropic-ratelimit-requests-reset": "2026-11-25T20:00:00Z"},
         "body": err("rate_limit_error", RATE)},
        anthropic.RateLimitError, "rate_limited", ts("2026-11-25T20:00:00+00:00"), "job",
        id="429-requests-reset-header",
    ),
    pytest.param(
        {"status": 429,
         "headers": {
             "anthropic-ratelimit-requests-remaining": "12",
             "anthropic-ratelimit-requests-reset": "2026-07-15T13:00:00Z",  # not exhausted
             "anthropic-ratelimit-input-tokens-remaining": "0",
             "anthropic-ratelimit-input-tokens-reset": "2026-07-15T12:00:20Z",
             "anthropic-ratelimit-output-tokens-remaining": "0",
             "anthropic-ratelimit-output-tokens-reset": "2026-07-15T12:00:45Z",
             "anthropic-ratelimit-tokens-remaining": "0",
             "anthropic-ratelimit-tokens-reset": "2026-07-15T12:00:40Z"},
         "body": err("rate_limit_error", RATE)},
        anthropic.RateLimitError, "rate_limited", NOW + 45, "job",
        id="429-latest-exhausted-token-reset",
    ),
    pytest.param(
        {"status": 429,
         "headers": {"retry-after": "3",
                     "anthropic-ratelimit-tokens-remaining": "0",
                     "anthropic-ratelimit-tokens-reset": "2026-07-15T12:10:00Z"},
         "body": err("rate_limit_error", RATE)},
        anthropic.RateLimitError, "rate_limited", NOW + 3, "job", id="429-retry-after-wins",
    ),
    pytest.param(
        {"status": 429, "body": err("rate_limit_error", RATE)},
        anthropic.RateLimitError, "rate_limited", NOW + 60, "job", id="429-no-advice",
    ),
    pytest.param(
        {"status": 429, "headers": {"retry-after": "20"},
         "body": err("rate_limit_error", "Ramp limit exceeded.", "ramp_limit_exceeded")},
        anthropic.RateLimitError, "rate_limited", NOW + 20, "job", id="429-ramp-limit",
    ),
    # --- exhausted ---------------------------------------------------------------------
    pytest.param(
        {"status": 429, "body": err("rate_limit_error", USAGE_LIMITS,
                                    "enforced_spend_limit_reached")},
        anthropic.RateLimitError, "exhausted", ts("2026-09-01T00:00:00+00:00"), "job",
        id="429-enforced-spend-limit-dated",
    ),
    pytest.param(
        {"status": 429, "body": err("rate_limit_error", "Your organization has reached its "
                                    "monthly spend limit.", "enforced_spend_limit_reached")},
        anthropic.RateLimitError, "exhausted", ts("2026-08-01T00:00:00+00:00"), "job",
        id="429-enforced-spend-limit-next-month",
    ),
    pytest.param(
        {"status": 429, "body": err("rate_limit_error", "Contract spend limit reached.",
                                    "contract_spend_limit_reached")},
        anthropic.RateLimitError, "exhausted", ts("2026-08-01T00:00:00+00:00"), "job",
        id="429-contract-spend-limit",
    ),
    pytest.param(
        {"status": 402, "body": err("billing_error", "The linked organization has reached a "
                                    "spend limit.", "linked_organization_spend_limit_reached")},
        anthropic.PaymentRequiredError, "exhausted", None, "job", id="402-linked-org-spend",
    ),
    pytest.param(
        {"status": 402, "body": err("billing_error", "Billing problem.")},
        anthropic.PaymentRequiredError, "exhausted", None, "job", id="402-billing",
    ),
    pytest.param(
        {"status": 400, "body": err("invalid_request_error", USAGE_LIMITS)},
        anthropic.BadRequestError, "exhausted", ts("2026-09-01T00:00:00+00:00"), "job",
        id="400-usage-limits-dated",
    ),
    pytest.param(
        {"status": 400, "body": err("invalid_request_error", CREDIT)},
        anthropic.BadRequestError, "exhausted", None, "job", id="400-credit-balance",
    ),
    # --- transient ---------------------------------------------------------------------
    *[
        pytest.param(
            {"status": status, "body": err(etype, "x")},
            cls, "transient", None, "job", id=f"{status}-transient",
        )
        for status, etype, cls in [
            (529, "overloaded_error", anthropic.OverloadedError),
            (500, "api_error", anthropic.InternalServerError),
            (502, "api_error", anthropic.InternalServerError),
            (503, "api_error", anthropic.ServiceUnavailableError),
            (504, "timeout_error", anthropic.GatewayTimeoutError),
            (408, "timeout_error", anthropic.RequestTimeoutError),
        ]
    ],
    pytest.param(
        {"status": 529, "headers": {"retry-after": "12"}, "body": err("overloaded_error", "x")},
        anthropic.OverloadedError, "transient", NOW + 12, "job", id="529-retry-after",
    ),
    pytest.param(
        {"status": 503, "headers": {"retry-after": "5"}, "body": "<html>upstream down</html>"},
        anthropic.ServiceUnavailableError, "transient", NOW + 5, "job", id="503-html-retry-after",
    ),
    pytest.param(
        {"status": 409, "body": err("conflict_error", "x")},
        anthropic.ConflictError, "transient", None, "job", id="409-unknown-is-transient",
    ),
    pytest.param(
        {"reset": True}, anthropic.APIConnectionError, "transient", None, "job",
        id="connection-reset",
    ),
    # --- fatal -------------------------------------------------------------------------
    pytest.param(
        {"status": 401, "body": err("authentication_error", "invalid x-api-key")},
        anthropic.AuthenticationError, "fatal", None, "run", id="401",
    ),
    pytest.param(
        {"status": 403, "body": err("permission_error", "Your API key does not have "
                                    "permission to use the specified resource.")},
        anthropic.PermissionDeniedError, "fatal", None, "run", id="403",
    ),
    pytest.param(
        {"status": 404, "body": err("not_found_error", "model: claude-haiku-4-5")},
        anthropic.NotFoundError, "fatal", None, "run", id="404-model",
    ),
    pytest.param(
        {"status": 400, "body": err("invalid_request_error", "max_tokens: Field required")},
        anthropic.BadRequestError, "fatal", None, "job", id="400-malformed",
    ),
    pytest.param(  # the documented sentence, but not at the start: no substring match
        {"status": 400, "body": err("invalid_request_error",
                                    "messages.0: Your credit balance is too low is not a role")},
        anthropic.BadRequestError, "fatal", None, "job", id="400-credit-words-not-anchored",
    ),
    pytest.param(  # the documented sentence, but under another error type
        {"status": 400, "body": err("api_error", CREDIT)},
        anthropic.BadRequestError, "fatal", None, "job", id="400-credit-words-wrong-type",
    ),
    pytest.param(
        {"status": 413, "body": err("invalid_request_error", "Request exceeds the maximum "
                                    "allowed number of bytes.")},
        anthropic.ContentTooLargeError, "fatal", None, "job", id="413",
    ),
    pytest.param(
        {"status": 422, "body": err("invalid_request_error", "Unprocessable.")},
        anthropic.UnprocessableEntityError, "fatal", None, "job", id="422",
    ),
]


@pytest.mark.parametrize("response, exc_type, kind, resume_at, scope", SDK_CASES)
def test_classify_sdk_exceptions(fake, response, exc_type, kind, resume_at, scope):
    exc = sdk_error(fake, response)
    assert isinstance(exc, exc_type), repr(exc)
    failure = classify(exc, now=NOW)
    assert (failure.kind, failure.resume_at, failure.reach) == (kind, resume_at, scope), failure
    assert_clean(failure)


def test_auth_failures_name_the_key_variable(fake):
    for status, etype, lead in ((401, "authentication_error", "authentication failed"),
                                (403, "permission_error", "permission denied")):
        exc = sdk_error(fake, {"status": status, "body": err(etype, "nope " * 100)})
        message = classify(exc, now=NOW).message
        # the advice comes first, so cutting a long API message never loses it
        assert message.startswith(f"{lead} ({status}): check ANTHROPIC_API_KEY")


def test_unknown_model_names_the_model(fake):
    # Not scripted: the fake's own validation rejects a non-Claude model id with a 404.
    exc = sdk_error(fake, None, model="gpt-4o-mini")
    assert isinstance(exc, anthropic.NotFoundError)
    failure = classify(exc, now=NOW)
    assert (failure.kind, failure.reach) == ("fatal", "run")
    assert "gpt-4o-mini" in failure.message


def test_timeout_is_transient():
    with FakeAPI(FakeConfig(latency_ms=1500)) as slow:
        exc = sdk_error(slow, None, timeout=0.2)
    assert isinstance(exc, anthropic.APITimeoutError)
    failure = classify(exc, now=NOW)
    assert (failure.kind, failure.resume_at) == ("transient", None)


@pytest.mark.parametrize(
    "body",
    [
        err("invalid_request_error", "bad header x-api-key: sk-ant-api03-SECRET-abc_DEF"),
        err("authentication_error", "invalid x-api-key sk-ant-api03-SECRET"),
        err("rate_limit_error", "slow down, sk-ant-api03-SECRET"),
        err("api_error", "sk-ant-api03-SECRET\nleaked on two lines"),
        err("not_found_error", "model: claude-x (key sk-ant-api03-SECRET)"),
        "plain text body with sk-ant-api03-SECRET",
    ],
)
@pytest.mark.parametrize("status", [400, 401, 404, 429, 500])
def test_planted_key_never_reaches_the_message(fake, status, body):
    exc = sdk_error(fake, {"status": status, "body": body})
    assert "SECRET" in str(exc) or "SECRET" in repr(getattr(exc, "body", ""))  # it was planted
    failure = classify(exc, now=NOW)
    assert "SECRET" not in failure.message
    assert "sk-ant-api03" not in failure.message
    assert_clean(failure)


# --------------------------------------------------------------------------- non-SDK


@pytest.mark.parametrize(
    "exc",
    [
        httpx2.ConnectError("connection refused"),
        httpx2.ReadTimeout("read timed out"),
        httpx2.RemoteProtocolError("peer closed connection"),
        TimeoutError("timed out"),
        ConnectionResetError(104, "Connection reset by peer"),
        socket.gaierror(-3, "Temporary failure in name resolution"),
        RuntimeError("something odd"),
        KeyError("usage"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_leaked_and_unknown_exceptions_are_transient(exc):
    failure = classify(exc, now=NOW)
    assert (failure.kind, failure.resume_at, failure.reach) == ("transient", None, "job")
    assert type(exc).__name__ in failure.message
    assert_clean(failure)


def test_unknown_exception_message_is_one_short_line():
    exc = ValueError("first line\nsecond line\twith tab " + "x" * 500)
    failure = classify(exc, now=NOW)
    assert failure.message.startswith("ValueError: first line second line with tab xxx")
    assert len(failure.message) <= 300 and "\n" not in failure.message


def test_sweepq_error_is_unchanged_and_not_a_model_failure():
    assert issubclass(SweepqError, Exception) and SweepqError.exit_code == 1
    assert classify(SweepqError("bad flag"), now=NOW).kind == "transient"


def test_call_failed_carries_its_failure():
    failure = Failure("exhausted", 123.0, "claude CLI: limit")
    exc = CallFailed(failure)
    assert exc.failure is failure and str(exc) == "claude CLI: limit"
    assert classify(exc, now=NOW) is failure


def test_failure_scrubs_whatever_builds_it():
    failure = Failure("fatal", None, "key sk-ant-api03-SECRET\nin two lines", reach="run")
    assert failure.message == "key sk-ant-*** in two lines"


@settings(max_examples=examples(200), deadline=None)
@given(
    st.text(max_size=400),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-",
            min_size=1, max_size=60),
    st.text(max_size=400),
)
def test_any_exception_text_gives_a_clean_transient(before, key, after):
    failure = classify(RuntimeError(before + "sk-ant-" + key + after), now=NOW)
    assert failure.kind == "transient"
    assert_clean(failure)
    assert "sk-ant-" + key not in failure.message
