"""The rate-limit governor (sweepq/governor.py) with an injected clock: pacing, learning,
refunds, 429 corrections, the AIMD fallback, and state shared by two connections.

Header names and meanings: https://platform.claude.com/docs/en/api/rate-limits
("Response headers"), as recorded from the real API in
https://rdrr.io/cran/tidyllm/src/tests/testthat/claude/api.anthropic.com/v1/messages-e050b5-POST.R
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import Clock

from sweepq import governor as gov
from sweepq.governor import Cost, Governor, snapshot
from sweepq.queue import Queue
from sweepq.ratelimits import read

MODEL = "claude-haiku-4-5"

# A real response's headers (the recorded capture cited above), values as the API sent them.
RECORDED = {
    "anthropic-ratelimit-input-tokens-limit": "80000",
    "anthropic-ratelimit-input-tokens-remaining": "80000",
    "anthropic-ratelimit-input-tokens-reset": "2025-08-21T12:40:59Z",
    "anthropic-ratelimit-output-tokens-limit": "16000",
    "anthropic-ratelimit-output-tokens-remaining": "16000",
    "anthropic-ratelimit-output-tokens-reset": "2025-08-21T12:41:00Z",
    "anthropic-ratelimit-requests-limit": "1000",
    "anthropic-ratelimit-requests-remaining": "999",
    "anthropic-ratelimit-requests-reset": "2025-08-21T12:40:59Z",
    "anthropic-ratelimit-tokens-limit": "96000",
    "anthropic-ratelimit-tokens-remaining": "96000",
    "anthropic-ratelimit-tokens-reset": "2025-08-21T12:40:59Z",
}


def headers(rpm: float = 60, remaining: float = 0, itpm: float | None = None,
            itpm_remaining: float | None = None, otpm: float | None = None,
            otpm_remaining: float | None = None, retry_after: int | None = None) -> dict:
    out = {"anthropic-ratelimit-requests-limit": str(rpm),
           "anthropic-ratelimit-requests-remaining": str(remaining)}
    if itpm is not None:
        out["anthropic-ratelimit-input-tokens-limit"] = str(itpm)
        out["anthropic-ratelimit-input-tokens-remaining"] = str(itpm_remaining)
    if otpm is not None:
        out["anthropic-ratelimit-output-tokens-limit"] = str(otpm)
        out["anthropic-ratelimit-output-tokens-remaining"] = str(otpm_remaining)
    if retry_after is not None:
        out["retry-after"] = str(retry_after)
    return out


def governor(path: Path, clock: Clock, owner: str = "w1") -> Governor:
    return Governor(_queue(path, clock), owner, sleep=clock.sleep)


def _queue(path: Path, clock: Clock) -> Queue:
    q = Queue.open(str(path))
    q.clock = clock
    return q


def call(g: Governor, chars: int = 300, max_tokens: int = 100):
    return g.admit(g.estimate(MODEL, None, "x" * chars, max_tokens))


def learn(g: Governor, hdrs: dict, clock: Clock) -> None:
    """A probe call answered with `hdrs`."""
    grant = call(g)
    g.settle(grant, read(hdrs, clock()), Cost(1, 10, 10))


def test_reads_every_family_of_a_recorded_response() -> None:
    limits = read({**RECORDED, "retry-after": "7"}, now=0)
    assert limits.buckets["requests"].limit == 1000
    assert limits.buckets["requests"].remaining == 999
    assert limits.buckets["input_tokens"].limit == 80000
    assert limits.buckets["output_tokens"].remaining == 16000
    assert limits.buckets["requests"].reset_at == 1755780059.0   # 2025-08-21T12:40:59Z
    assert limits.tokens_limit == 96000 and limits.retry_after == 7
    assert not read({"content-type": "application/json"}, now=0)


def test_probe_first_then_calls_evenly_spaced_at_the_learned_rate(db_path, clock) -> None:
    g = governor(db_path, clock)
    probe = g._try_admit(g.estimate(MODEL, None, "hi", 10))
    assert probe is not None
    # Nothing is known until the probe answers: nobody else is let through meanwhile.
    assert g._try_admit(g.estimate(MODEL, None, "hi", 10)) is None
    g.settle(probe, read(headers(rpm=60, remaining=0), clock()), Cost(1, 1, 1))
    slots = [g._try_admit(g.estimate(MODEL, None, "hi", 10)).slot_at for _ in range(6)]
    gaps = [b - a for a, b in zip(slots, slots[1:], strict=False)]
    # 60 RPM = 1 a second, less the margin: evenly spaced, never a burst at one instant.
    assert gaps == pytest.approx([1 / gov.RATE_MARGIN] * 5)
    assert slots[0] > clock()                     # an empty bucket: the first waits too


def test_a_full_bucket_is_used_at_once(db_path, clock) -> None:
    g = governor(db_path, clock)
    learn(g, headers(rpm=600, remaining=599), clock)
    start = clock()
    slots = [call(g).slot_at for _ in range(100)]
    assert max(slots) == start                    # 100 of the 599 left: no waiting at all


def test_remaining_corrects_the_level_down_and_only_a_fresh_answer_raises_it(db_path,
                                                                            clock) -> None:
    g = governor(db_path, clock)
    learn(g, headers(rpm=600, remaining=500), clock)
    grant = call(g)
    # Another client spent the bucket: the server says 0, so the next call waits.
    g.settle(grant, read(headers(rpm=600, remaining=0), clock()), Cost(1, 10, 10))
    now = clock()
    assert g._try_admit(g.estimate(MODEL, None, "hi", 10)).slot_at > now + 0.1   # 498 without it
    older, newer = call(g), call(g)
    # The answer to the newer call says the bucket filled again (the other client stopped):
    # the level follows the server up, as a burst's calls in flight would otherwise stay
    # subtracted for good.
    g.settle(newer, read(headers(rpm=600, remaining=400), clock()), Cost(1, 10, 10))
    assert snapshot(g.queue)[0]["limits"]["requests"]["level"] > 300
    # An answer to an older call, arriving late, knows less: it may lower, never raise.
    g.settle(older, read(headers(rpm=600, remaining=599), clock()), Cost(1, 10, 10))
    assert snapshot(g.queue)[0]["limits"]["requests"]["level"] < 401


def test_output_reserved_at_max_tokens_and_refunded_from_usage(db_path, clock) -> None:
    g = governor(db_path, clock)
    learn(g, headers(rpm=6000, remaining=5999, otpm=6000, otpm_remaining=6000), clock)
    level = snapshot(g.queue)[0]["limits"]["output_tokens"]["level"]
    grant = call(g, max_tokens=1000)
    assert snapshot(g.queue)[0]["limits"]["output_tokens"]["level"] == pytest.approx(
        level - 1000, abs=1)
    g.settle(grant, read(None), Cost(1, 50, 40))
    assert snapshot(g.queue)[0]["limits"]["output_tokens"]["level"] == pytest.approx(
        level - 40, abs=1)


def test_input_estimated_high_from_characters_then_from_usage(db_path, clock) -> None:
    g = governor(db_path, clock)
    first = g.estimate(MODEL, "sys", "x" * 1197, 10)
    assert first.cost.input_tokens >= 1200 / 4          # never below 4 characters a token
    learn(g, headers(rpm=6000, remaining=5999, itpm=60000, itpm_remaining=60000), clock)
    grant = call(g, chars=1200)
    g.settle(grant, read(None), Cost(1, 300, 10))        # the server counted 4 a token
    assert g.estimate(MODEL, None, "x" * 1200, 10).cost.input_tokens < first.cost.input_tokens


def test_a_429_with_headers_corrects_the_level_and_is_not_a_pause(db_path, clock) -> None:
    g = governor(db_path, clock)
    learn(g, headers(rpm=60, remaining=59), clock)
    grant = call(g)
    governed = g.refused(grant, read(headers(rpm=60, remaining=0, retry_after=3), clock()))
    assert governed is True
    now = clock()
    retry = g._try_admit(g.estimate(MODEL, None, "hi", 10))
    # retry-after 3 (rounded up): the bucket holds the call no sooner than 2 s from now.
    assert retry.slot_at - now >= 2.0 - 1e-6
    assert g.queue.active_pause() is None
    assert snapshot(g.queue)[0]["refusals"] == 1


def test_no_headers_fall_back_to_aimd(db_path, clock) -> None:
    g = governor(db_path, clock)
    probe = call(g)
    g.settle(probe, read(None), Cost(1, 1, 1))
    assert snapshot(g.queue)[0]["mode"] == "aimd"
    grants = [call(g) for _ in range(8)]             # no cap until a 429
    assert g.refused(grants[0], read(None)) is False    # the queue-wide pause decides
    state = snapshot(g.queue)[0]
    assert state["window"] == 4.0                     # 8 in flight, halved
    assert g._try_admit(g.estimate(MODEL, None, "x", 1)) is None   # 7 in flight >= 4
    for grant in grants[1:5]:
        g.settle(grant, read(None), Cost(1, 1, 1))    # additive increase: +1/window each
    assert snapshot(g.queue)[0]["window"] > 4.8
    assert g._try_admit(g.estimate(MODEL, None, "x", 1)) is not None


def test_two_connections_share_one_budget(tmp_path, clock) -> None:
    path = tmp_path / "shared.db"
    a, b = governor(path, clock, "a"), governor(path, clock, "b")
    learn(a, headers(rpm=60, remaining=0), clock)
    slots = []
    for g in (a, b, a, b, a, b):
        slots.append(g._try_admit(g.estimate(MODEL, None, "hi", 10)).slot_at)
    gaps = [y - x for x, y in zip(slots, slots[1:], strict=False)]
    # One bucket for both processes: their calls interleave a second apart, not two at once.
    assert gaps == pytest.approx([1 / gov.RATE_MARGIN] * 5)


def test_a_dead_process_reservations_expire_with_their_lease(tmp_path, clock) -> None:
    path = tmp_path / "shared.db"
    dead, alive = governor(path, clock, "dead"), governor(path, clock, "alive")
    probe = call(alive)
    alive.settle(probe, read(None), Cost(1, 1, 1))            # no headers: AIMD
    alive.refused(call(alive), read(None))                      # a 429: a window of one call
    orphan = dead._try_admit(dead.estimate(MODEL, None, "hi", 10))   # then its process dies
    assert orphan is not None
    assert alive._try_admit(alive.estimate(MODEL, None, "hi", 10)) is None
    clock.sleep(gov.GRANT_LEASE_SECONDS - 1)
    assert alive._try_admit(alive.estimate(MODEL, None, "hi", 10)) is None
    clock.sleep(1)
    assert alive._try_admit(alive.estimate(MODEL, None, "hi", 10)) is not None


def test_a_slow_first_call_holds_the_others_for_seconds_only(db_path, clock) -> None:
    g = governor(db_path, clock)
    assert g._try_admit(g.estimate(MODEL, None, "hi", 10)) is not None   # the probe
    assert g._try_admit(g.estimate(MODEL, None, "hi", 10)) is None
    clock.sleep(gov.PROBE_SECONDS)
    assert g._try_admit(g.estimate(MODEL, None, "hi", 10)) is not None
