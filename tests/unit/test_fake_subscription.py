"""The fake's subscription limiter (sweepq.fake.subscription): the 429s the real Claude
CLI turns into its limit sentences (tests/e2e/test_claude_real.py), over real HTTP."""

from __future__ import annotations

import time

import httpx2 as httpx
import pytest

from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.subscription import UNIFIED, per_minute_limit, unified_limit

BODY = {"model": "claude-haiku-4-5", "max_tokens": 10,
        "messages": [{"role": "user", "content": "hi"}]}


def post(fake: FakeAPI) -> httpx.Response:
    return httpx.post(f"{fake.url}/v1/messages", json=BODY, timeout=10,
                      headers={"authorization": "Bearer sk-ant-oat01-placeholder"})


def test_a_window_resets_a_given_time_after_the_reply():
    with FakeAPI(FakeConfig()) as fake:
        fake.script([unified_limit("five_hour", reset_in=600),
                     unified_limit("seven_day_opus", reset_at=1796546319)])
        sent = time.time()
        first, second, third = post(fake), post(fake), post(fake)
    assert first.status_code == 429
    assert first.headers[f"{UNIFIED}representative-claim"] == "five_hour"
    assert first.headers[f"{UNIFIED}status"] == "rejected"
    assert sent + 600 <= int(first.headers[f"{UNIFIED}reset"]) <= time.time() + 601
    assert second.headers[f"{UNIFIED}reset"] == "1796546319"
    assert third.status_code == 200            # the window is the script's, then answers


def test_a_per_minute_limit_has_no_unified_headers():
    with FakeAPI(FakeConfig()) as fake:
        fake.script([per_minute_limit(2)])
        reply = post(fake)
    assert reply.status_code == 429 and reply.headers["retry-after"] == "2"
    assert not [k for k in reply.headers if k.startswith(UNIFIED)]
    assert reply.json()["error"]["type"] == "rate_limit_error"


@pytest.mark.parametrize("kwargs", [{"claim": "daily"}, {"claim": "five_hour"},
                                    {"claim": "five_hour", "reset_at": 1, "reset_in": 1}])
def test_a_window_needs_a_known_claim_and_one_reset(kwargs):
    with pytest.raises(ValueError):
        unified_limit(**kwargs)
