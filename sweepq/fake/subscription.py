"""The subscription limiter, as the Claude CLI meets it: scripted replies for the fake.

A Claude subscription's windows (five hours, seven days, seven days of one model family)
end in a 429 carrying `anthropic-ratelimit-unified-*` headers; the CLI (2.1.328, the
captures in tests/data/claude-cli/2.1.328) needs three of them to print its sentence and
its `rate_limit_event` with the exact reset second: `status`, `reset` (unix seconds) and
`representative-claim` (the window). A 429 without them is a per-minute limit, which the
CLI reports as `Server is temporarily limiting requests (not your usage limit)`.

Each function returns one entry for `FakeEngine.script` (`POST /_script`), so a test or
a person decides when the limit falls: `fake.script([unified_limit("five_hour", t)])`.
"""

from __future__ import annotations

from typing import Any

from . import documented
from .wire import error_body

UNIFIED = "anthropic-ratelimit-unified-"
# The windows the binary names (`rateLimitType`), as its captures show them.
CLAIMS = ("five_hour", "seven_day", "seven_day_opus", "seven_day_sonnet")


def unified_limit(claim: str, reset_at: float | None = None,
                  reset_in: float | None = None) -> dict[str, Any]:
    """A subscription window spent until `reset_at` (unix seconds), or until `reset_in`
    seconds after the reply: the 429 the CLI turns into `You've hit your … limit ·
    resets …`."""
    if claim not in CLAIMS:
        raise ValueError(f"unknown window {claim!r}: one of {', '.join(CLAIMS)}")
    if (reset_at is None) == (reset_in is None):
        raise ValueError("give one of reset_at and reset_in")
    headers = {f"{UNIFIED}status": "rejected", f"{UNIFIED}representative-claim": claim}
    entry: dict[str, Any] = {"status": 429, "headers": headers, "body": error_body(
        "rate_limit_error", documented.RATE_LIMIT_MESSAGE)}
    if reset_at is not None:
        headers[f"{UNIFIED}reset"] = str(int(reset_at))
    else:
        entry["epoch_headers"] = {f"{UNIFIED}reset": reset_in}
    return entry


def per_minute_limit(retry_after: float = 1.0) -> dict[str, Any]:
    """A plain 429 (no unified headers): the per-minute limit, with its `retry-after`."""
    return {"status": 429, "headers": {"retry-after": f"{retry_after:g}"},
            "body": error_body("rate_limit_error", documented.RATE_LIMIT_MESSAGE)}
