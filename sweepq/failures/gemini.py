"""Classifying `google-genai` SDK exceptions (the Gemini Developer API).

Gemini answers every exceeded quota with 429 `RESOURCE_EXHAUSTED`; which quota ran out
is in the error's `details`: a `google.rpc.QuotaFailure` whose `violations` name the
`quotaId` (e.g. `GenerateRequestsPerDayPerProjectPerModel-FreeTier`, or
`…PerMinute…`), and a `google.rpc.RetryInfo` with a `retryDelay` such as `"43s"`
(bodies quoted in github.com/langgenius/dify/issues/19838 and google-gemini/gemini-cli
issues 8437 and 2020). Requests-per-day quotas reset at midnight Pacific time
(ai.google.dev/gemini-api/docs/rate-limits).

- a violated quota whose id says `PerDay`: exhausted until the next midnight in
  America/Los_Angeles (DST honoured);
- any other 429 (per-minute, or no details at all): rate-limited for `retryDelay`, else
  `retry-after`, else a minute;
- 401/403, an invalid key (400 with `ErrorInfo.reason` `API_KEY_INVALID`) and an
  unknown model (404): fatal for the run; any other 4xx fatal for the job;
- 5xx (`UNAVAILABLE`, `INTERNAL`), timeouts and connection errors: transient.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from ..timefmt import next_occurrence, retry_after
from . import DEFAULT_RATE_LIMIT_PAUSE, CallFailed, Failure, unreachable

PACIFIC = ZoneInfo("America/Los_Angeles")
KEY_ADVICE = "check GEMINI_API_KEY (or GOOGLE_API_KEY)"
_QUOTA_FAILURE = "type.googleapis.com/google.rpc.QuotaFailure"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"


def classify_gemini(exc: BaseException, now: float | None = None) -> Failure:
    """What a failed `google-genai` call means. Never raises; unknown errors are transient."""
    now = time.time() if now is None else now
    if isinstance(exc, CallFailed):
        return exc.failure
    from google.genai import errors

    if isinstance(exc, errors.APIError):
        return _status(exc, int(exc.code or 0), now)
    return unreachable(exc) or Failure("transient", None, f"{type(exc).__name__}: {exc}")


def _status(exc: Any, status: int, now: float) -> Failure:
    details = error_details(exc)
    what = f"{exc.status or status}: {exc.message or ''}".strip()
    if status == 429 or exc.status == "RESOURCE_EXHAUSTED":
        daily = [q for q in quota_ids(details) if "PerDay" in q]
        if daily:
            return Failure("exhausted", midnight_pacific(now),
                           f"Gemini daily quota exhausted ({', '.join(daily)}): {what}")
        delay = retry_delay(details)
        if delay is None:
            delay = retry_after(getattr(exc.response, "headers", None), now)
        return Failure("rate_limited", now + (DEFAULT_RATE_LIMIT_PAUSE if delay is None
                                              else delay), f"rate limited ({status}): {what}")
    if status in (401, 403) or "API_KEY_INVALID" in _reasons(details):
        return Failure("fatal", None, f"authentication failed ({status}): {KEY_ADVICE} - "
                       f"{what}", reach="run")
    if status == 404:
        return Failure("fatal", None, f"model not found ({status}): set another id with "
                       f"`sweepq models --sweep SWEEP ALIAS=gemini:MODEL` - {what}",
                       reach="run")
    if status >= 500 or status == 408:
        return Failure("transient", None, f"server error ({status}): {what}")
    return Failure("fatal", None, f"request rejected ({status}): {what}")


def error_details(exc: Any) -> list[dict]:
    """The `details` list of the error body (`{"error": {..., "details": [...]}}`)."""
    body = exc.details if isinstance(exc.details, dict) else {}
    inner = body.get("error", body)
    details = inner.get("details") if isinstance(inner, dict) else None
    return [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []


def quota_ids(details: list[dict]) -> list[str]:
    """The `quotaId`s (else `quotaMetric`s) of every QuotaFailure violation."""
    ids = []
    for detail in details:
        if detail.get("@type") == _QUOTA_FAILURE:
            for v in detail.get("violations") or []:
                if isinstance(v, dict):
                    ids.append(str(v.get("quotaId") or v.get("quotaMetric") or ""))
    return [i for i in ids if i]


def retry_delay(details: list[dict]) -> float | None:
    """RetryInfo's `retryDelay` (a protobuf Duration in JSON: `"43s"`, `"0.5s"`)."""
    for detail in details:
        raw = detail.get("retryDelay") if detail.get("@type") == _RETRY_INFO else None
        if isinstance(raw, str) and raw.endswith("s"):
            try:
                return max(float(raw[:-1]), 0.0)
            except ValueError:
                return None
    return None


def midnight_pacific(now: float) -> float:
    """The next 00:00 in America/Los_Angeles after `now`: when daily quotas reset."""
    return next_occurrence(0, 0, PACIFIC, datetime.fromtimestamp(now, UTC)).timestamp()


def _reasons(details: list[dict]) -> set[str]:
    return {str(d.get("reason")) for d in details if d.get("@type") == _ERROR_INFO}
