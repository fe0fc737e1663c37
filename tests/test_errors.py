"""Classification of model-call failures (sweepq.errors).

SDK cases are real `anthropic` exceptions raised by the real SDK from real HTTP
responses served by `sweepq.fake` on 127.0.0.1. CLI cases run the stand-in
`tests/bin/claude` and feed its real exit code and output to `classify_cli`.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import anthropic
import httpx2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepq.errors import (
    Failure,
    ModelCallError,
    SweepqError,
    classify,
    classify_cli,
    next_occurrence,
)
from sweepq.fake import FakeAPI, FakeConfig

FAKE_CLAUDE = Path(__file__).parent / "bin" / "claude"
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
    client = anthropic.Anthropic(api_key=TEST_KEY, base_url=server.url, max_retries=0, **kw)
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
    assert (failure.kind, failure.resume_at, failure.scope) == (kind, resume_at, scope), failure
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
    assert (failure.kind, failure.scope) == ("fatal", "run")
    assert "gpt-4o-mini" in failure.message


def test_timeout_is_transient():
    with FakeAPI(FakeConfig(latency_ms=1500)) as slow:
        exc = sdk_error(slow, None, timeout=0.2)
    assert isinstance(exc, anthropic.APITimeoutError)
    failure = classify(exc, now=NOW)
    assert (failure.kind, failure.resume_at) == ("transient", None)


def test_connection_refused_is_transient():
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = anthropic.Anthropic(api_key=TEST_KEY, base_url=f"http://127.0.0.1:{port}",
                                 max_retries=0)
    with pytest.raises(anthropic.APIConnectionError) as info:
        client.messages.create(model="claude-haiku-4-5", max_tokens=16,
                               messages=[{"role": "user", "content": "hi"}])
    assert classify(info.value, now=NOW).kind == "transient"


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
    assert (failure.kind, failure.resume_at, failure.scope) == ("transient", None, "job")
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


def test_model_call_error_carries_its_failure():
    failure = Failure("exhausted", 123.0, "claude CLI: limit")
    exc = ModelCallError(failure)
    assert exc.failure is failure and str(exc) == "claude CLI: limit"
    assert classify(exc, now=NOW) is failure


def test_failure_scrubs_whatever_builds_it():
    failure = Failure("fatal", None, "key sk-ant-api03-SECRET\nin two lines", scope="run")
    assert failure.message == "key sk-ant-*** in two lines"


@settings(max_examples=200, deadline=None)
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


# --------------------------------------------------------------------------- CLI


def run_claude(scenario: str, fmt: str = "text", **env: str) -> subprocess.CompletedProcess:
    args = [sys.executable, str(FAKE_CLAUDE), "--print", "--model", "claude-sonnet-4-5"]
    if fmt != "text":
        args += ["--output-format", fmt]
    if fmt == "stream-json":
        args.append("--verbose")
    args.append("Which option? (A) one (B) two")
    full_env = {**os.environ, "FAKE_CLAUDE_SCENARIO": scenario, **env}
    return subprocess.run(args, capture_output=True, text=True, encoding="utf-8",
                          env=full_env, stdin=subprocess.DEVNULL, timeout=30, check=False)


def cli(scenario: str, fmt: str = "text", now: float = NOW, tz: str | None = None, **env):
    proc = run_claude(scenario, fmt, **env)
    return proc, classify_cli(proc.returncode, proc.stdout, proc.stderr, now=now, tz=tz)


def test_fake_claude_is_an_executable_script():
    assert FAKE_CLAUDE.read_text().startswith("#!/usr/bin/env python3\n")
    assert os.access(FAKE_CLAUDE, os.X_OK)
    proc = subprocess.run([str(FAKE_CLAUDE), "-p", "--output-format", "json"], input="hi",
                          capture_output=True, text=True, timeout=30, check=False,
                          env={**os.environ, "FAKE_CLAUDE_SCENARIO": "ok"})
    assert proc.returncode == 0


@pytest.mark.parametrize("fmt", ["text", "json", "stream-json"])
def test_cli_success_is_none(fmt):
    proc, failure = cli("ok", fmt)
    assert proc.returncode == 0 and failure is None
    assert "Answer: A" in proc.stdout


def test_cli_ok_json_has_the_real_fields():
    import json

    proc = run_claude("ok", "json")
    obj = json.loads(proc.stdout)
    assert obj["type"] == "result" and obj["is_error"] is False
    assert obj["result"].endswith("Answer: A")
    assert set(obj["usage"]) >= {"input_tokens", "output_tokens", "cache_read_input_tokens",
                                 "cache_creation_input_tokens"}
    assert obj["total_cost_usd"] > 0


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_cli_answer_quoting_a_limit_message_is_still_success(fmt):
    proc, failure = cli("ok-mentions-limit", fmt, tz="UTC")
    assert proc.returncode == 0 and failure is None


LA, SE, REC, LON = "America/Los_Angeles", "Europe/Stockholm", "America/Recife", "Europe/London"

# (scenario, now, tz argument, expected resume_at)
CLI_LIMIT_CASES = [
    pytest.param("usage-epoch", ts("2025-11-12T10:00:00+00:00"), None, 1762952400.0,
                 id="epoch"),
    pytest.param("five-hour", at("2026-07-15T01:00", LA), LA, at("2026-07-15T02:00", LA),
                 id="2am-before"),
    pytest.param("five-hour", at("2026-07-15T03:00", LA), LA, at("2026-07-16T02:00", LA),
                 id="2am-after-is-tomorrow"),
    pytest.param("five-hour-tz", at("2026-07-15T10:00", SE), LA, at("2026-07-15T15:00", SE),
                 id="3pm-text-zone-wins"),
    pytest.param("five-hour-tz", at("2026-07-15T16:00", SE), LA, at("2026-07-16T15:00", SE),
                 id="3pm-after-is-tomorrow"),
    pytest.param("hit-limit-date", at("2026-03-01T09:00", REC), None,
                 at("2026-04-23T16:00", REC), id="apr23-this-year"),
    pytest.param("hit-limit-date", at("2026-04-23T17:00", REC), None,
                 at("2027-04-23T16:00", REC), id="apr23-next-year"),
    pytest.param("session-limit", at("2026-07-15T00:30", LA), None, at("2026-07-15T00:50", LA),
                 id="12:50am-before"),
    pytest.param("session-limit", at("2026-07-15T01:00", LA), None, at("2026-07-16T00:50", LA),
                 id="12:50am-after"),
    pytest.param("weekly-limit", at("2026-07-15T02:00", LON), None, at("2026-07-15T03:00", LON),
                 id="3am-london-summer"),
    # Clocks go back at 02:00 BST on 2026-10-25: 23:30 BST is 22:30 UTC and the next 03:00 is
    # 03:00 GMT = 03:00 UTC, 4.5 hours later (a naive 3.5 h would be wrong by an hour).
    pytest.param("weekly-limit", ts("2026-10-24T23:30:00+01:00"), None,
                 ts("2026-10-25T03:00:00+00:00"), id="3am-london-dst-ends"),
]


@pytest.mark.parametrize("fmt", ["text", "json"])
@pytest.mark.parametrize("scenario, now, tz, resume_at", CLI_LIMIT_CASES)
def test_cli_limit_messages_are_exhausted(scenario, now, tz, resume_at, fmt):
    proc, failure = cli(scenario, fmt, now=now, tz=tz)
    assert proc.returncode == 1
    assert failure is not None
    assert (failure.kind, failure.resume_at, failure.scope) == ("exhausted", resume_at, "job")
    assert_clean(failure)
    if fmt == "json":
        assert '"api_error_status": 429' in proc.stdout


@pytest.mark.parametrize("scenario", ["usage-epoch", "five-hour", "weekly-limit"])
def test_cli_stream_json_rate_limit_event(scenario):
    resets = int(ts("2026-07-15T17:00:00+00:00"))
    proc, failure = cli(scenario, "stream-json", now=NOW, tz=LA,
                        FAKE_CLAUDE_RESETS_AT=str(resets))
    assert proc.returncode == 1 and '"rate_limit_event"' in proc.stdout
    assert failure is not None
    assert (failure.kind, failure.resume_at) == ("exhausted", float(resets))


def test_cli_time_without_zone_uses_local_zone(monkeypatch):
    monkeypatch.setenv("TZ", "Asia/Tokyo")
    now = at("2026-07-15T01:00", "Asia/Tokyo")
    _, failure = cli("five-hour", now=now, tz=None)
    assert failure is not None and failure.resume_at == at("2026-07-15T02:00", "Asia/Tokyo")


def test_cli_reset_just_passed_is_a_short_pause_not_a_day():
    now = at("2026-07-15T02:02", LA)  # "resets 2am", two minutes late (skew, rounding)
    _, failure = cli("five-hour", now=now, tz=LA)
    assert failure is not None and failure.kind == "exhausted"
    assert failure.resume_at == now + 60


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_cli_limit_printed_as_an_answer_with_exit_0_is_exhausted(fmt):
    proc, failure = cli("usage-epoch-exit0", fmt, now=ts("2025-11-12T10:00:00+00:00"))
    assert proc.returncode == 0
    assert failure is not None and failure.kind == "exhausted"
    assert failure.resume_at == 1762952400.0


@pytest.mark.parametrize("fmt", ["text", "json", "stream-json"])
@pytest.mark.parametrize("scenario", ["auth", "forbidden"])
def test_cli_auth_is_fatal_for_the_run(scenario, fmt):
    proc, failure = cli(scenario, fmt)
    assert proc.returncode == 1
    assert failure is not None
    assert (failure.kind, failure.scope) == ("fatal", "run")
    assert "claude login" in failure.message
    assert_clean(failure)


@pytest.mark.parametrize(
    "scenario, fmt, kind, resume_at",
    [
        ("server-error", "json", "transient", None),
        ("server-error", "text", "transient", None),
        ("crash", "text", "transient", None),
        ("crash", "json", "transient", None),
        ("killed", "json", "transient", None),
        ("rate-429-other", "json", "rate_limited", NOW + 60),
    ],
)
def test_cli_unrecognised_failures_are_not_exhausted(scenario, fmt, kind, resume_at):
    proc, failure = cli(scenario, fmt)
    assert proc.returncode != 0
    assert failure is not None
    assert (failure.kind, failure.resume_at, failure.scope) == (kind, resume_at, "job")
    assert_clean(failure)


def test_cli_crash_message_names_the_error():
    _, failure = cli("crash")
    assert failure is not None and "EPIPE" in failure.message


@pytest.mark.parametrize(
    "text",
    [
        "Claude AI usage limit reached|1762952400 and then some",
        "note: 5-hour limit reached ∙ resets 2am",
        "You've hit your limit · resets someday",
        "5-hour limit reached - resets 2am",  # not the CLI's separator
        "Claude AI usage limit reached",
    ],
)
def test_cli_near_misses_are_not_exhausted(text):
    failure = classify_cli(1, text + "\n", "", now=NOW, tz="UTC")
    assert failure is not None and failure.kind == "transient"


def test_cli_success_with_a_limit_line_inside_the_answer_is_success():
    answer = "5-hour limit reached \u2219 resets 2am\nAnswer: A\n"
    assert classify_cli(0, answer, "", now=NOW, tz="UTC") is None


def test_cli_rejected_event_without_reset_uses_the_text():
    stdout = "\n".join([
        '{"type":"rate_limit_event","rate_limit_info":{"status":"rejected"}}',
        '{"type":"result","is_error":true,"api_error_status":429,'
        '"result":"You\'ve hit your weekly limit \u00b7 resets 3am (Europe/London)"}',
    ])
    failure = classify_cli(1, stdout, "", now=at("2026-07-15T02:00", LON))
    assert failure is not None and failure.kind == "exhausted"
    assert failure.resume_at == at("2026-07-15T03:00", LON)
    assert "weekly limit" in failure.message


def test_cli_rejected_event_on_a_successful_run_is_success():
    stdout = "\n".join([
        '{"type":"rate_limit_event","rate_limit_info":{"status":"rejected",'
        '"resetsAt":1762952400,"rateLimitType":"seven_day_opus"}}',
        '{"type":"result","is_error":false,"result":"Answer: B"}',
    ])
    assert classify_cli(0, stdout, "", now=NOW) is None


def test_cli_both_separators_are_understood():
    for sep in ("\u2219", "\u00b7"):
        failure = classify_cli(1, f"5-hour limit reached {sep} resets 2am\n", "", now=NOW,
                               tz="UTC")
        assert failure is not None and failure.kind == "exhausted"
        assert failure.resume_at == ts("2026-07-16T02:00:00+00:00")


# --------------------------------------------------------------------------- next_occurrence


@pytest.mark.parametrize(
    "hour, minute, zone, now, month, day, expected",
    [
        (2, 0, LA, "2026-07-15T01:00", None, None, "2026-07-15T02:00"),
        (2, 0, LA, "2026-07-15T03:00", None, None, "2026-07-16T02:00"),
        (2, 0, LA, "2026-07-15T02:00", None, None, "2026-07-16T02:00"),  # strictly after
        (16, 0, REC, "2026-12-31T23:00", 4, 23, "2027-04-23T16:00"),
        (0, 0, "UTC", "2027-03-01T00:00", 2, 29, "2028-02-29T00:00"),  # leap day
    ],
)
def test_next_occurrence(hour, minute, zone, now, month, day, expected):
    tz = ZoneInfo(zone)
    got = next_occurrence(hour, minute, tz, datetime.fromisoformat(now).replace(tzinfo=tz),
                          month=month, day=day)
    assert got == datetime.fromisoformat(expected).replace(tzinfo=tz)
    assert got.tzinfo is tz


def test_next_occurrence_spring_forward_gap_los_angeles():
    # 2026-03-08: 02:00 PST jumps to 03:00 PDT; "2:30am" does not exist that night and
    # resolves with the pre-change offset, i.e. 10:30 UTC = 03:30 PDT.
    tz = ZoneInfo(LA)
    now = datetime(2026, 3, 8, 1, 0, tzinfo=tz)
    got = next_occurrence(2, 30, tz, now)
    assert got.astimezone(UTC) == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)
    assert got.astimezone(UTC) - now.astimezone(UTC) == timedelta(hours=1, minutes=30)


def test_next_occurrence_fall_back_ambiguous_los_angeles():
    # 2026-11-01: 01:30 happens twice (PDT, then PST an hour later).
    tz = ZoneInfo(LA)
    first = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT
    second = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)  # 01:30 PST
    before = datetime(2026, 11, 1, 0, 0, tzinfo=tz)
    assert next_occurrence(1, 30, tz, before).astimezone(UTC) == first
    between = datetime(2026, 11, 1, 9, 0, tzinfo=UTC)
    assert next_occurrence(1, 30, tz, between).astimezone(UTC) == second
    assert next_occurrence(1, 30, tz, second).astimezone(UTC) == datetime(
        2026, 11, 2, 9, 30, tzinfo=UTC)


ZONES = ["UTC", LA, LON, REC, SE, "Australia/Lord_Howe", "Asia/Kolkata", "Pacific/Chatham"]


@settings(max_examples=300, deadline=None)
@given(
    st.integers(0, 23),
    st.integers(0, 59),
    st.sampled_from(ZONES),
    st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                 timezones=st.just(UTC)),
)
def test_next_occurrence_properties(hour, minute, zone, now):
    tz = ZoneInfo(zone)
    got = next_occurrence(hour, minute, tz, now)
    delta = got.astimezone(UTC) - now
    assert timedelta(0) < delta <= timedelta(hours=25)
    wall = got.astimezone(tz)
    if (wall.hour, wall.minute) != (hour, minute):  # only when that wall time doesn't exist
        naive = datetime.combine(wall.date(), datetime.min.time()).replace(hour=hour,
                                                                           minute=minute)
        roundtrip = naive.replace(tzinfo=tz).astimezone(UTC).astimezone(tz)
        assert (roundtrip.hour, roundtrip.minute) != (hour, minute)
