"""Classifying `openai` SDK exceptions (OpenAI, and OpenAI-compatible local servers).

OpenAI answers two unrelated things with 429, told apart by the error body's `code`
and `type` (platform.openai.com/docs/guides/error-codes; the body and the codes as
quoted in github.com/mattvr/ShellGPT/issues/23 and learn.microsoft.com/…/dev-proxy/
concepts/openai-insufficient-quota):

- `insufficient_quota` (type, and code on older answers) and the billing codes
  `credit_balance_exhausted`, `organization_spend_limit_exceeded`,
  `project_spend_limit_exceeded`, `organization_usage_limit_exceeded`: exhausted, with
  no resume time: a person must add credit or raise a limit. Retrying it as a rate
  limit loops for ever (langchainjs #1929).
- `rate_limit_exceeded` (or any other 429): rate-limited until `retry-after`, else
  the latest `x-ratelimit-reset-<requests|tokens>` (Go durations such as `6m0s`,
  `12ms`) among the limits whose `x-ratelimit-remaining-*` is 0.

5xx, timeouts and connection errors are transient; 401/403 and an unknown model
(404 `model_not_found`) fatal for the run; any other 4xx fatal for the job.
"""

from __future__ import annotations

import re
import time
from typing import Any

from ..timefmt import retry_after
from . import DEFAULT_RATE_LIMIT_PAUSE, CallFailed, Failure, unreachable

BILLING_CODES = frozenset({
    "insufficient_quota", "credit_balance_exhausted", "organization_spend_limit_exceeded",
    "project_spend_limit_exceeded", "organization_usage_limit_exceeded",
})
KEY_ADVICE = "check OPENAI_API_KEY"
_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
_REMAINING = re.compile(r"^x-ratelimit-remaining-([a-z_]+)$")


def classify_openai(exc: BaseException, now: float | None = None) -> Failure:
    """What a failed `openai` SDK call means. Never raises; unknown errors are transient."""
    now = time.time() if now is None else now
    if isinstance(exc, CallFailed):
        return exc.failure
    import openai

    if isinstance(exc, openai.APIStatusError):
        return _status(exc, int(exc.status_code), now)
    if isinstance(exc, openai.APIConnectionError):
        no_connection = unreachable(exc)
        if no_connection is not None:
            return no_connection
        kind = "timed out" if isinstance(exc, openai.APITimeoutError) else "connection error"
        cause = exc.__cause__
        return Failure("transient", None,
                       f"{kind}: {type(cause).__name__}: {cause}" if cause else f"{kind}")
    return Failure("transient", None, f"{type(exc).__name__}: {exc}")


def _status(exc: Any, status: int, now: float) -> Failure:
    headers = getattr(exc.response, "headers", None)
    what = describe(exc)
    if exc.code in BILLING_CODES or exc.type in BILLING_CODES:
        return Failure("exhausted", None, f"OpenAI quota exhausted ({status}): add credit or "
                       f"raise the limit, then `sweepq resume` - {what}")
    if status == 429:
        wait = retry_after(headers, now)
        resume = now + wait if wait is not None else reset_at(headers, now)
        return Failure("rate_limited", resume, f"rate limited ({status}): {what}")
    if status in (401, 403):
        return Failure("fatal", None, f"authentication failed ({status}): {KEY_ADVICE} - "
                       f"{what}", reach="run")
    if status == 404 or exc.code == "model_not_found":
        return Failure("fatal", None, f"model not found ({status}): set another id with "
                       f"`sweepq models --sweep SWEEP ALIAS=openai:MODEL` - {what}",
                       reach="run")
    if status >= 500 or status == 408:
        wait = retry_after(headers, now)
        return Failure("transient", now + wait if wait is not None else None,
                       f"server error ({status}): {what}")
    return Failure("fatal", None, f"request rejected ({status}): {what}")


def failed_response(code: str | None, message: str | None,
                    now: float | None = None) -> Failure:
    """A Responses API answer with `status: failed` and its `error` {code, message}: never
    a result. A rate limit waits the default pause, a prompt the model refuses
    (`invalid_prompt`, `invalid_*`) fails the job, anything else (`server_error`, …) is
    transient."""
    now = time.time() if now is None else now
    what = f"response failed: {code or 'no code'}: {message or ''}".rstrip(": ")
    if code == "rate_limit_exceeded":
        return Failure("rate_limited", now + DEFAULT_RATE_LIMIT_PAUSE, what)
    if code and code.startswith("invalid_"):
        return Failure("fatal", None, what)
    return Failure("transient", None, what)


def reset_at(headers: Any, now: float) -> float:
    """When the exhausted limits refill: the latest `x-ratelimit-reset-*` whose remaining
    is 0 (any reset when none says 0), else a minute."""
    if headers is None:
        return now + DEFAULT_RATE_LIMIT_PAUSE
    waits, spent = [], []
    for name, value in headers.items():
        match = _REMAINING.match(name.lower())
        reset = headers.get(f"x-ratelimit-reset-{match.group(1)}") if match else None
        seconds = go_duration(reset) if reset else None
        if seconds is not None:
            (spent if value.strip() == "0" else waits).append(seconds)
    chosen = spent or waits
    return now + (max(chosen) if chosen else DEFAULT_RATE_LIMIT_PAUSE)


def go_duration(text: str) -> float | None:
    """`6m0s` → 360.0, `12ms` → 0.012, `1.5s` → 1.5; None when it is not one."""
    text = text.strip()
    parts = _GO_DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        return None
    return sum(float(n) * _UNITS[u] for n, u in parts)


def describe(exc: Any) -> str:
    """`<type> <code>: <message>` of the error body (the parts it has)."""
    body = exc.body if isinstance(getattr(exc, "body", None), dict) else {}
    message = body.get("message") if isinstance(body.get("message"), str) else None
    tag = " ".join(str(p) for p in dict.fromkeys((exc.type, exc.code)) if p)
    text = message or getattr(exc, "message", "") or ""
    return f"{tag}: {text}" if tag else text
