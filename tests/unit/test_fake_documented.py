"""The fake speaks the API as Anthropic documents it (issue 9, item 6).

Each test names the page the fact comes from; the fake keeps the same facts, with the
same addresses, in `sweepq/fake/documented.py`. All over real HTTP with the real SDK.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

import anthropic
import pytest
from conftest import sdk

from sweepq.fake import FakeAPI, FakeConfig, documented
from sweepq.fake.cli import _spend_window

ERRORS_DOC = "https://platform.claude.com/docs/en/api/errors"
RATE_LIMITS_DOC = "https://platform.claude.com/docs/en/api/rate-limits"
HAIKU = "claude-haiku-4-5"
FAMILIES = ("requests", "tokens", "input-tokens", "output-tokens")
REGAIN = r"You will regain access on (\d{4}-\d\d-\d\d) at (\d\d:\d\d) UTC\."


def client(fake: FakeAPI) -> anthropic.Anthropic:
    return sdk(api_key="k", base_url=fake.url, max_retries=0)


def ask(fake: FakeAPI, model: str = HAIKU, prompt: str = "hi"):
    return client(fake).messages.with_raw_response.create(
        model=model, max_tokens=64, messages=[{"role": "user", "content": prompt}])


def error_of(fake: FakeAPI, model: str = HAIKU) -> anthropic.APIStatusError:
    with pytest.raises(anthropic.APIStatusError) as ei:
        ask(fake, model)
    return ei.value


def test_unknown_model_is_404_not_found_and_the_list_is_configurable():
    """ERRORS_DOC: 404 not_found_error."""
    with FakeAPI() as fake:
        e = error_of(fake, "claude-haiku-9-9")
        assert isinstance(e, anthropic.NotFoundError) and e.type == "not_found_error"
        assert e.api_message == "model: claude-haiku-9-9"
        assert ask(fake, "claude-haiku-4-5-20251001").parse().model == "claude-haiku-4-5-20251001"
    with FakeAPI(FakeConfig(models=("claude-own-1",))) as fake:
        assert isinstance(error_of(fake, HAIKU), anthropic.NotFoundError)
        assert ask(fake, "claude-own-1").parse().stop_reason == "end_turn"
    assert fake.stats()["rejected"] == {"404": 1}


@pytest.mark.parametrize("kind", ["tier", "tier-message-only"])
def test_tier_spend_cap_is_the_documented_429(kind):
    """RATE_LIMITS_DOC "Spend limits": 429 rate_limit_error, details.error_code
    enforced_spend_limit_reached (not on every response), no retry-after."""
    with FakeAPI(FakeConfig(exhaust_after=0, exhaust_for=120, spend_limit=kind)) as fake:
        t0 = time.time()
        e = error_of(fake)
    assert isinstance(e, anthropic.RateLimitError) and e.type == "rate_limit_error"
    assert e.error_code == (documented.SPEND_LIMIT_CODE if kind == "tier" else None)
    assert "retry-after" not in e.response.headers
    m = re.fullmatch(r"You have reached your API usage limits: your organization has crossed "
                     r"its monthly API usage threshold, set based on your organization's API "
                     r"tier\. " + REGAIN, e.api_message)
    assert m, e.api_message
    regain = datetime.strptime(" ".join(m.groups()), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert 120 <= regain.timestamp() - t0 <= 181


@pytest.mark.parametrize("kind, wording", [("organization", "specified"),
                                           ("workspace", "specified workspace")])
def test_user_spend_limits_are_the_documented_400s(kind, wording):
    """ERRORS_DOC 400: a spend limit set for an organisation or a workspace."""
    with FakeAPI(FakeConfig(exhaust_after=0, exhaust_for=60, spend_limit=kind)) as fake:
        e = error_of(fake)
    assert isinstance(e, anthropic.BadRequestError) and e.type == "invalid_request_error"
    assert re.fullmatch(f"You have reached your {wording} API usage limits\\. {REGAIN}",
                        e.api_message), e.api_message


def test_spend_limit_alone_lasts_until_the_first_of_next_month(monkeypatch):
    now = datetime(2026, 12, 15, 12, 0, tzinfo=UTC).timestamp()
    monkeypatch.setattr(time, "time", lambda: now)          # the fake's clock, fixed
    after, seconds = _spend_window("workspace", None, 0.0)
    assert (after, seconds) == (0, 16.5 * 86_400)           # to 2027-01-01 00:00 UTC
    reset = documented.next_month_utc(now)
    assert reset.day == 1 and (reset.hour, reset.minute) == (0, 0)
    assert _spend_window("tier", 3, 7.0) == (3, 7.0)
    assert documented.next_month_utc(datetime(2026, 12, 31, 23, 59, tzinfo=UTC).timestamp()) \
        == datetime(2027, 1, 1, tzinfo=UTC)


def _assert_limit_headers(headers, requests_remaining: str | None = None) -> None:
    assert re.fullmatch(r"[0-9a-f-]{36}", headers["anthropic-organization-id"])
    for family in FAMILIES:
        limit = int(headers[f"anthropic-ratelimit-{family}-limit"])
        assert 0 <= int(headers[f"anthropic-ratelimit-{family}-remaining"]) <= limit
        reset = headers[f"anthropic-ratelimit-{family}-reset"]
        assert datetime.strptime(reset, "%Y-%m-%dT%H:%M:%SZ")       # RFC 3339, UTC
    if requests_remaining is not None:
        assert headers["anthropic-ratelimit-requests-remaining"] == requests_remaining


def test_every_response_carries_the_rate_limit_families_and_the_organization():
    """RATE_LIMITS_DOC "Response headers": anthropic-ratelimit-{requests,tokens,
    input-tokens,output-tokens}-{limit,remaining,reset}; anthropic-organization-id."""
    with FakeAPI(FakeConfig(faults={429: 1.0})) as fake:
        _assert_limit_headers(error_of(fake).response.headers, requests_remaining="0")
    with FakeAPI() as fake:
        _assert_limit_headers(ask(fake).headers)
        _assert_limit_headers(error_of(fake, "gpt-4o").response.headers)
        fake.script([{"status": 529}])
        assert "anthropic-organization-id" in error_of(fake).response.headers


def test_usage_has_cache_creation_and_service_tier():
    """The SDK's Usage type (anthropic/types/usage.py, cache_creation.py): cache_creation
    by TTL and service_tier, as the Messages API returns them."""
    with FakeAPI() as fake:
        usage = ask(fake).parse().usage
    assert usage.cache_creation is not None
    assert (usage.cache_creation.ephemeral_5m_input_tokens,
            usage.cache_creation.ephemeral_1h_input_tokens) == (0, 0)
    assert usage.service_tier == "standard"
    assert usage.cache_creation_input_tokens == 0 and usage.cache_read_input_tokens == 0


def test_request_too_large_is_413(monkeypatch):
    """ERRORS_DOC: 413 request_too_large (the Messages API takes 32 MB)."""
    monkeypatch.setattr(documented, "MAX_REQUEST_BYTES", 1000)
    with FakeAPI(FakeConfig(faults={413: 1.0})) as fake:
        e = error_of(fake)                              # a 413 fault has the documented type
        assert e.status_code == 413 and e.type == "request_too_large"
    with FakeAPI() as fake:
        with pytest.raises(anthropic.APIStatusError) as ei:
            ask(fake, prompt="x" * 2000)
        assert ei.value.status_code == 413 and ei.value.type == "request_too_large"
        assert fake.stats()["rejected"] == {"413": 1}
        assert ask(fake, prompt="x" * 100).parse().stop_reason == "end_turn"
