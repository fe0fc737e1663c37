"""Classifying anthropic SDK exceptions.

Decisions come from exception types, HTTP status codes, the error body's `type`
and `details.error_code`, and response headers. Message text decides only for
the documented sentences that have no code of their own (platform.claude.com/docs/
en/api/errors and /en/api/rate-limits):

- 400 `invalid_request_error` "You have reached your specified API usage limits. You
  will regain access on … UTC." (an organisation's user-set spend limit) and "…your
  specified workspace API usage limits…" (a workspace's);
- 400 "Your credit balance is too low…";
- 429 `rate_limit_error` for the usage tier's monthly spend cap, which carries
  `details.error_code: enforced_spend_limit_reached` on the Messages API but not on
  every response: its message then speaks of a spend limit, the monthly API usage
  threshold, or when access is regained. It resets at 00:00 UTC on the 1st of next
  month.
"""

from __future__ import annotations

import json
import re
import socket
import time
from datetime import UTC, datetime
from typing import Any

from ..timefmt import first_of_next_month_utc, parse_rfc3339, retry_after
from . import DEFAULT_RATE_LIMIT_PAUSE, CallFailed, Failure, unreachable

# Anchored: a sentence quoted inside some other error never decides.
_USAGE_LIMITS = re.compile(r"^You have reached your specified (?:\w+ )?API usage limits\b")
_CREDIT_LOW = re.compile(r"^Your credit balance is too low\b")
# The tier cap's wording is not documented word for word (the docs describe it: the
# organisation "crossed its monthly API usage threshold"), so any of its likely words
# decides, and above all a regain-access date, which no per-minute rate limit carries.
_SPEND_CAP_TEXT = re.compile(r"\b(?:spend (?:limit|cap)|API usage (?:limit|threshold)s?|"
                             r"monthly (?:API )?(?:spend|usage)|regain access)\b",
                             re.IGNORECASE)
_REGAIN_ACCESS = re.compile(
    r"You will regain access on (\d{4})-(\d{2})-(\d{2}) at (\d{1,2}):(\d{2}) UTC\b")
_SPEND_LIMIT_CODES = frozenset({"enforced_spend_limit_reached", "contract_spend_limit_reached"})
_FATAL_JOB_STATUSES = frozenset({400, 413, 422, 431})
_TRANSIENT_BODY_TYPES = frozenset({"api_error", "overloaded_error", "timeout_error"})
_RATELIMIT_REMAINING = re.compile(r"^anthropic-ratelimit-([a-z0-9-]+)-remaining$")
KEY_ADVICE = "check ANTHROPIC_API_KEY"


def classify(exc: BaseException, now: float | None = None) -> Failure:
    """Decide what a failed model call means. Never raises; unknown exceptions are transient
    (and the breaker in `Queue.fail` stops a sweep they would otherwise wear down)."""
    now = time.time() if now is None else now
    if isinstance(exc, CallFailed):
        return exc.failure
    import anthropic

    if isinstance(exc, anthropic.APIStatusError):
        return _classify_status(exc, now)
    if isinstance(exc, anthropic.APIConnectionError):
        return _connection_failure(exc)
    if _is_network_error(exc):
        return Failure("transient", None, f"network error: {type(exc).__name__}: {exc}")
    return Failure("transient", None, f"{type(exc).__name__}: {exc}")


def _connection_failure(exc: Any) -> Failure:
    """A request that never got a connection (refused, no route, no name, connect
    timeout) is unreachable; one cut or timed out after it was sent is transient (the
    server may have been working on that job). A key that can't be put in a header
    (a newline, a stray character) fails every request the same way: fatal for the run."""
    import anthropic
    import httpx2

    cause = exc.__cause__
    if isinstance(cause, httpx2.LocalProtocolError) and "header" in str(cause).lower():
        return Failure("fatal", None, "the request could not be sent: a header holds an "
                       f"illegal character; {KEY_ADVICE} (no newline or space in it)",
                       reach="run")
    no_connection = unreachable(exc)
    if no_connection is not None:
        return no_connection
    detail = f"{type(cause).__name__}: {cause}" if cause is not None else str(exc)
    kind = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "connection error"
    return Failure("transient", None, f"{kind}: {detail}")


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, socket.timeout, ConnectionError, socket.gaierror)):
        return True
    import httpx2

    return isinstance(exc, (httpx2.TransportError, httpx2.TimeoutException))


def _classify_status(exc: Any, now: float) -> Failure:
    status = int(exc.status_code)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    # The status decides; the body's `type` only when the status can't (an `error` event
    # inside a 200 stream).
    streamed = exc.type if status < 400 else None
    for decide in (_exhausted, _rate_limited, _fatal_run, _transient):
        failure = decide(exc, status, streamed, headers, now)
        if failure is not None:
            return failure
    if status in _FATAL_JOB_STATUSES:
        return Failure("fatal", None, f"request rejected ({status}): {_describe(exc)}")
    # Anything else (409, 412, 499, a future status): conservative.
    wait = retry_after(headers, now)
    return Failure("transient", now + wait if wait is not None else None,
                   f"{type(exc).__name__} ({status}): {_describe(exc)}")


def _exhausted(exc: Any, status: int, streamed: str | None, headers: Any,
               now: float) -> Failure | None:
    """Spend limits (the tier cap, user-set organisation and workspace limits) and billing."""
    message = (exc.api_message or "").strip()
    what = _describe(exc)
    tier_cap = exc.error_code in _SPEND_LIMIT_CODES or (
        exc.type == "rate_limit_error" and _SPEND_CAP_TEXT.search(message) is not None)
    if status == 429 and tier_cap:
        resume = _regain_access(message)
        if resume is None:
            wait = retry_after(headers, now)
            resume = now + wait if wait is not None else first_of_next_month_utc(now)
        return Failure("exhausted", resume, f"spend limit reached ({status}): {what}")
    if status == 402 or exc.type == "billing_error":
        return Failure("exhausted", None, f"billing ({status}): a person must act - {what}")
    if status == 400 and exc.type == "invalid_request_error":
        if _USAGE_LIMITS.match(message):
            resume = _regain_access(message) or first_of_next_month_utc(now)
            return Failure("exhausted", resume, f"API usage limit reached ({status}): {what}")
        if _CREDIT_LOW.match(message):
            return Failure("exhausted", None,
                           f"credit balance too low ({status}): a person must act - {what}")
    return None


def _rate_limited(exc: Any, status: int, streamed: str | None, headers: Any,
                  now: float) -> Failure | None:
    if status != 429 and streamed != "rate_limit_error":
        return None
    wait = retry_after(headers, now)
    if wait is not None:
        resume = now + wait
    else:
        reset = _ratelimit_reset(headers)
        resume = max(now, reset) if reset is not None else now + DEFAULT_RATE_LIMIT_PAUSE
    return Failure("rate_limited", resume, f"rate limited ({status}): {_describe(exc)}")


def _fatal_run(exc: Any, status: int, streamed: str | None, headers: Any,
               now: float) -> Failure | None:
    """Credentials and unknown models: every call of every worker fails the same way."""
    what = _describe(exc)
    if status == 401 or streamed == "authentication_error":
        return Failure("fatal", None, f"authentication failed ({status}): {KEY_ADVICE} - {what}",
                       reach="run")
    if status == 403 or streamed == "permission_error":
        return Failure("fatal", None, f"permission denied ({status}): {KEY_ADVICE} - {what}",
                       reach="run")
    if status == 404 or streamed == "not_found_error":
        model = _requested_model(exc)
        named = f"model {model!r} not found" if model else "not found"
        return Failure("fatal", None, f"{named} ({status}): {MODEL_ADVICE} - {what}",
                       reach="run")
    return None


# `SWEEP` is replaced by the worker with the sweep's name.
MODEL_ADVICE = "set another id with `sweepq models --sweep SWEEP ALIAS=MODEL_ID`"


def _transient(exc: Any, status: int, streamed: str | None, headers: Any,
               now: float) -> Failure | None:
    if status >= 500 or status == 408 or streamed in _TRANSIENT_BODY_TYPES:
        wait = retry_after(headers, now)
        return Failure("transient", now + wait if wait is not None else None,
                       f"server error ({status}): {_describe(exc)}")
    return None


def _regain_access(message: str | None) -> float | None:
    match = _REGAIN_ACCESS.search(message or "")
    if not match:
        return None
    y, mo, d, h, mi = (int(g) for g in match.groups())
    try:
        return datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _ratelimit_reset(headers: Any) -> float | None:
    """The latest `anthropic-ratelimit-<x>-reset` among the limits whose `-remaining` is 0."""
    if headers is None:
        return None
    latest: float | None = None
    for name, value in headers.items():
        match = _RATELIMIT_REMAINING.match(name.lower())
        if not match or value.strip() != "0":
            continue
        reset = headers.get(f"anthropic-ratelimit-{match.group(1)}-reset")
        when = parse_rfc3339(reset) if reset else None
        if when is not None and (latest is None or when > latest):
            latest = when
    return latest


def _requested_model(exc: Any) -> str | None:
    try:
        payload = json.loads(exc.request.content)
    except Exception:
        return None
    model = payload.get("model") if isinstance(payload, dict) else None
    return model if isinstance(model, str) else None


def _describe(exc: Any) -> str:
    """`<type> <error_code>: <api message>` for an APIStatusError (the parts it has)."""
    tag = " ".join(p for p in (exc.type, exc.error_code) if p)
    text = exc.api_message or exc.message or ""
    return f"{tag}: {text}" if tag else text
