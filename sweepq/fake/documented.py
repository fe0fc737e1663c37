"""What Anthropic documents about the Messages API's replies, each fact next to its source.

The fake answers with these texts, headers and fields so sweepq's classifier is tested
against the shapes the real API sends, not against shapes written from memory. When a
page changes, change the line next to its address and the tests that cite it.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

ERRORS_DOC = "https://platform.claude.com/docs/en/api/errors"
RATE_LIMITS_DOC = "https://platform.claude.com/docs/en/api/rate-limits"
# Response fields: the installed SDK's own types (anthropic/types/usage.py,
# anthropic/types/cache_creation.py) and the Messages reference
# (https://platform.claude.com/docs/en/api/messages).


# The Messages API's request size limit (ERRORS_DOC "Request size limits": 32 MB).
MAX_REQUEST_BYTES = 32 * 1024 * 1024

CREDIT_MESSAGE = (
    "Your credit balance is too low to access the Anthropic API. "
    "Please go to Plans & Billing to upgrade or purchase credits."
)
RATE_LIMIT_MESSAGE = (
    "This request would exceed the rate limit for your organization of 50 requests per "
    "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see "
    "the response headers for current usage. Please reduce the prompt length or the maximum "
    "tokens requested, or try again later."
)

# HTTP status -> (error.type, error.message): the types as ERRORS_DOC "HTTP errors" lists
# them (413 is `request_too_large`, not `invalid_request_error`); the messages as the API
# sends them. Statuses not listed get ("api_error", <reason phrase>).
ERROR_BODIES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error",
          "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found"),
    408: ("timeout_error", "Request timed out"),
    413: ("request_too_large", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", RATE_LIMIT_MESSAGE),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Gateway timeout"),
    529: ("overloaded_error", "Overloaded"),
}

# The tier's monthly spend cap: 429 rate_limit_error with details.error_code, no
# retry-after, access back at 00:00 UTC on the 1st of next month (RATE_LIMITS_DOC,
# "Spend limits"). Not every response carries `details`, so a client must also know
# the message.
SPEND_LIMIT_CODE = "enforced_spend_limit_reached"
TIER_CAP_MESSAGE = (
    "You have reached your API usage limits: your organization has crossed its monthly API "
    "usage threshold, set based on your organization's API tier. You will regain access on "
    "{regain:%Y-%m-%d} at {regain:%H:%M} UTC."
)
# Spend limits a user set for the organisation or a workspace: 400 invalid_request_error
# (ERRORS_DOC, 400; the workspace wording as the API sent it in
# https://github.com/anthropics/claude-code/issues/1047).
ORGANIZATION_LIMIT_MESSAGE = (
    "You have reached your specified API usage limits. You will regain access on "
    "{regain:%Y-%m-%d} at {regain:%H:%M} UTC."
)
WORKSPACE_LIMIT_MESSAGE = (
    "You have reached your specified workspace API usage limits. You will regain access on "
    "{regain:%Y-%m-%d} at {regain:%H:%M} UTC."
)


def spend_limit_error(kind: str, regain: datetime) -> tuple[int, str, str, dict | None]:
    """(status, error type, message, details) of the spend-limit error `kind` names."""
    if kind in ("tier", "tier-message-only"):
        details = {"error_code": SPEND_LIMIT_CODE} if kind == "tier" else None
        return 429, "rate_limit_error", TIER_CAP_MESSAGE.format(regain=regain), details
    text = ORGANIZATION_LIMIT_MESSAGE if kind == "organization" else WORKSPACE_LIMIT_MESSAGE
    return 400, "invalid_request_error", text.format(regain=regain), None


def next_month_utc(now: float) -> datetime:
    """00:00 UTC on the 1st of the month after `now`: when a monthly spend limit resets."""
    t = datetime.fromtimestamp(now, UTC)
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return datetime(year, month, 1, tzinfo=UTC)


def rfc3339(ts: float) -> str:
    """A reset time as the rate-limit headers give it (RFC 3339, whole seconds, UTC)."""
    return datetime.fromtimestamp(math.ceil(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Every response carries the organisation's id (seen on real responses, e.g. the
# recorded ones in https://rdrr.io/cran/tidyllm/src/tests/testthat/claude/api.anthropic.com/v1/messages-e050b5-POST.R).
ORGANIZATION_ID = "00000000-0000-4000-8000-000000000000"

# Limits per minute for each header family (RATE_LIMITS_DOC "Response headers":
# anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset},
# resets in RFC 3339). Without a limiter (`--rpm` and friends) the fake is an account
# that is never limited, and says so: limits far above anything a sweep here can send,
# so the governor, which believes the headers, never paces an unlimited fake.
RATE_LIMITS: dict[str, int] = {
    "requests": 1_000_000, "tokens": 1_000_000_000, "input-tokens": 800_000_000,
    "output-tokens": 200_000_000,
}


def ratelimit_headers(now: float, *, exhausted: bool = False,
                      reset_in: float = 1.0) -> list[tuple[str, str]]:
    """The full rate-limit header families and the organisation id, for any response.

    `exhausted` reports the requests family at 0 remaining (a rate-limit 429).
    """
    headers = [("anthropic-organization-id", ORGANIZATION_ID)]
    for family, limit in RATE_LIMITS.items():
        remaining = 0 if exhausted and family == "requests" else limit - 1
        headers += [
            (f"anthropic-ratelimit-{family}-limit", str(limit)),
            (f"anthropic-ratelimit-{family}-remaining", str(remaining)),
            (f"anthropic-ratelimit-{family}-reset", rfc3339(now + reset_in)),
        ]
    return headers


def usage(input_tokens: int, output_tokens: int, write_5m: int = 0, write_1h: int = 0,
          read: int = 0) -> dict:
    """A response's `usage`, with every field the SDK's `Usage` type names that a plain
    text reply fills (`cache_creation` broken down by TTL, `service_tier`)."""
    return {
        "input_tokens": input_tokens, "output_tokens": output_tokens,
        "cache_creation_input_tokens": write_5m + write_1h, "cache_read_input_tokens": read,
        "cache_creation": {"ephemeral_5m_input_tokens": write_5m,
                           "ephemeral_1h_input_tokens": write_1h},
        "service_tier": "standard",
    }
