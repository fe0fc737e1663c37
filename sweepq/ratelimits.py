"""The rate-limit headers of a Messages API response, read into numbers.

Every response, a success or a 429, carries `anthropic-ratelimit-{requests,
input-tokens,output-tokens,tokens}-{limit,remaining,reset}` (limits per minute,
what the token bucket holds now, and when it will be full again in RFC 3339) and a
429 adds `retry-after` in whole seconds (https://platform.claude.com/docs/en/api/
rate-limits, "Response headers"; as recorded from the real API in
https://rdrr.io/cran/tidyllm/src/tests/testthat/claude/api.anthropic.com/v1/messages-e050b5-POST.R).
The governor paces from these; a response without them (the Claude CLI, a proxy
that strips them) leaves it to fall back on AIMD.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .timefmt import parse_rfc3339, retry_after

# Header family -> the governor's resource name. `tokens` (input + output together) is
# read and shown but not paced: where it is sent it is the sum of the other two.
FAMILIES: dict[str, str] = {
    "requests": "requests",
    "input-tokens": "input_tokens",
    "output-tokens": "output_tokens",
}
RESOURCES: tuple[str, ...] = tuple(FAMILIES.values())


@dataclass(frozen=True)
class Bucket:
    """One limit as a response reported it."""

    limit: float                # per minute
    remaining: float | None     # in the bucket when the server answered
    reset_at: float | None      # unix seconds when it is full again


@dataclass(frozen=True)
class RateLimits:
    """What one response said about the account's limits."""

    buckets: dict[str, Bucket] = field(default_factory=dict)   # resource -> bucket
    retry_after: float | None = None                            # seconds, 429s only
    tokens_limit: float | None = None                           # the combined family

    def __bool__(self) -> bool:
        return bool(self.buckets)


def _number(raw: Any) -> float | None:
    try:
        value = float(str(raw).strip())
    except (TypeError, ValueError):
        return None
    return value if value >= 0 and value == value and value != float("inf") else None


def read(headers: Any, now: float | None = None) -> RateLimits:
    """The limits in `headers` (anything with a case-insensitive `.get`); empty when absent.

    A family without a positive `-limit` is skipped: there is nothing to pace it by.
    """
    if headers is None:
        return RateLimits()
    now = time.time() if now is None else now
    buckets: dict[str, Bucket] = {}
    for family, resource in FAMILIES.items():
        limit = _number(headers.get(f"anthropic-ratelimit-{family}-limit"))
        if not limit:
            continue
        reset = headers.get(f"anthropic-ratelimit-{family}-reset")
        buckets[resource] = Bucket(
            limit=limit,
            remaining=_number(headers.get(f"anthropic-ratelimit-{family}-remaining")),
            reset_at=parse_rfc3339(reset) if reset else None)
    return RateLimits(buckets, retry_after(headers, now),
                      _number(headers.get("anthropic-ratelimit-tokens-limit")))
