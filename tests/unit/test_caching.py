"""Prompt caching (issue 22 items 2-3): the breakpoint sweepq sends, the fake's bill by
prefix, lifetime, minimum and expiry, through the real SDK; prices of cache tokens; the
claim order that keeps a subtask's prefix warm; a batch's requests grouped by prefix."""

from __future__ import annotations

import anthropic
import pytest
from conftest import Clock

from sweepq import caching
from sweepq.fake import FakeConfig
from sweepq.fake.inprocess import InProcessBackend
from sweepq.models import price
from sweepq.queue import Queue, Sweep
from sweepq.usage import Usage

LONG = "Exemplar text. " * 400          # 6,000 characters: 1,500 tokens by the estimate


@pytest.fixture
def fake() -> InProcessBackend:
    backend = InProcessBackend(FakeConfig())
    backend.cache.clock = Clock(1_000_000.0)
    return backend


def _send(fake: InProcessBackend, model: str = "claude-sonnet-4-6", system: str = LONG,
          prompt: str = "question 1") -> Usage:
    return fake.send(model, system, prompt, 64).usage


def test_minimum_prefix_by_model_from_the_documented_table():
    assert caching.min_tokens("claude-haiku-4-5") == 4096
    assert caching.min_tokens("claude-haiku-4-5-20251001") == 4096
    assert caching.min_tokens("claude-opus-4-6") == 4096
    assert caching.min_tokens("claude-sonnet-4-6") == 1024
    assert caching.min_tokens("claude-opus-4-1") == 1024
    assert caching.min_tokens("claude-3-5-haiku-20241022") == 2048


def test_the_breakpoint_goes_on_a_system_text_past_the_floor_only():
    assert caching.system_param("claude-sonnet-4-6", "short", "5m") == "short"
    assert caching.system_param("claude-haiku-4-5", LONG, "5m") == LONG   # under 4,096
    assert caching.system_param("claude-sonnet-4-6", LONG, "off") == LONG
    assert caching.system_param("claude-sonnet-4-6", LONG, "5m") == [
        {"type": "text", "text": LONG, "cache_control": {"type": "ephemeral"}}]
    [block] = caching.system_param("claude-sonnet-4-6", LONG, "1h")
    assert block["cache_control"] == {"type": "ephemeral", "ttl": "1h"}


def test_the_first_call_writes_the_prefix_and_the_next_ones_read_it(fake):
    first, second = _send(fake), _send(fake, prompt="question 2")
    assert (first.cache_write_tokens, first.cache_read_tokens) == (1500, 0)
    assert (second.cache_write_tokens, second.cache_read_tokens) == (0, 1500)
    assert second.input_tokens == first.input_tokens   # only the question is plain input
    other_model = _send(fake, model="claude-sonnet-4-5")
    assert other_model.cache_write_tokens == 1500       # a cache is per model


def test_a_prefix_under_the_model_minimum_is_neither_written_nor_read(fake):
    fake.cache_ttl = "5m"
    haiku = [_send(fake, model="claude-haiku-4-5") for _ in range(2)]
    assert all(u.cache_write_tokens == u.cache_read_tokens == 0 for u in haiku)
    assert haiku[0].input_tokens == len(LONG + "question 1") // 4


def test_an_entry_expires_five_minutes_after_its_last_read(fake):
    _send(fake)
    fake.cache.clock.now += 299
    assert _send(fake).cache_read_tokens == 1500       # read: refreshed for 5 minutes
    fake.cache.clock.now += 299
    assert _send(fake).cache_read_tokens == 1500
    fake.cache.clock.now += 301
    assert _send(fake).cache_write_tokens == 1500      # expired: written again


def test_a_one_hour_write_lives_an_hour_and_is_priced_at_twice_the_input(fake):
    fake.cache_ttl = "1h"
    reply = fake.send("claude-sonnet-4-6", LONG, "question 1", 64)
    written = reply.usage
    fake.cache.clock.now += 3000
    read = _send(fake)
    assert read.cache_read_tokens == 1500
    assert reply.cache_write_1h_tokens == written.cache_write_tokens == 1500
    rate_in, rate_out = 3.00, 15.00                     # claude-sonnet-4-6, USD per MTok
    plain = written.input_tokens * rate_in + written.output_tokens * rate_out
    assert price("claude-sonnet-4-6", written, reply.cache_write_1h_tokens) == pytest.approx(
        (plain + 1500 * rate_in * 2.0) / 1e6)


def test_cache_tokens_are_priced_at_the_documented_multipliers():
    usage = Usage(input_tokens=100, output_tokens=10, cache_read_tokens=1000,
                  cache_write_tokens=2000)
    want = (100 * 3 + 10 * 15 + 1000 * 3 * 0.1 + 2000 * 3 * 1.25) / 1e6
    assert price("claude-sonnet-4-6", usage) == pytest.approx(want)


def test_the_fake_refuses_a_fifth_breakpoint_as_the_api_does():
    fake = InProcessBackend(FakeConfig())
    blocks = [{"type": "text", "text": f"part {i}", "cache_control": {"type": "ephemeral"}}
              for i in range(5)]
    with pytest.raises(anthropic.BadRequestError, match="A maximum of 4 blocks"):
        fake.client.messages.create(model="claude-sonnet-4-6", max_tokens=8, system=blocks,
                                    messages=[{"role": "user", "content": "hi"}])


def test_the_answer_is_the_same_with_or_without_the_breakpoint():
    fake = InProcessBackend(FakeConfig(accuracy={"*": 0.5}))
    cached = fake.send("claude-sonnet-4-6", LONG, "Q: 2 + 2?", 64).text
    fake.cache_ttl = "off"
    assert fake.send("claude-sonnet-4-6", LONG, "Q: 2 + 2?", 64).text == cached


def test_a_fresh_sweep_is_claimed_subtask_by_subtask(tmp_path):
    """Positions are task-major in canonical (subtask) order, so a subtask's tasks, every
    arm of each, are claimed together: its prefix stays warm in the cache."""
    queue = Queue.open(str(tmp_path / "q.db"))
    sweep = Sweep(name="s", benchmark="bbh", dataset="x", subtasks=["a", "b"], n_per_subtask=3,
                  start=0, arms=["haiku-only", "sonnet-only"], models={})
    tasks = [(f"bbh/{sub}/{i}", {"subtask": sub}) for sub in ("a", "b") for i in range(3)]
    queue.enqueue(sweep, tasks)
    order = [queue.claim("s", "w").task_id.split("/")[1] for _ in range(12)]
    assert order == ["a"] * 6 + ["b"] * 6


def test_grouped_puts_requests_of_one_prefix_side_by_side_in_first_seen_order():
    items = [("m", "sys-a", 1), ("m", "sys-b", 2), ("m", "sys-a", 3), ("n", "sys-a", 4),
             ("m", "sys-b", 5)]
    got = caching.grouped(items, lambda i: (i[0], i[1]))
    assert [i[2] for i in got] == [1, 3, 2, 5, 4]


def test_concurrent_first_calls_of_a_prefix_write_it_once():
    """Eight threads send the same long system text at once: the first is answered before
    the others go (caching.Warmup), so the prefix is written once and read seven times."""
    import threading

    fake = InProcessBackend(FakeConfig(latency_ms=50))
    system = LONG + " concurrent"       # a prefix no other test's process-wide gate knows
    usages: list[Usage] = []
    threads = [threading.Thread(target=lambda i=i: usages.append(
        fake.send("claude-sonnet-4-6", system, f"question {i}", 16).usage)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(u.cache_write_tokens for u in usages) == [0] * 7 + [1502]
    assert sum(u.cache_read_tokens > 0 for u in usages) == 7


def test_the_claude_cli_reports_cache_tokens_and_its_own_bill():
    """The CLI's `result` line carries the Messages API's usage, 5m/1h split included
    (../shared/claude-cli captures); sweepq keeps the tokens and the CLI's own cost."""
    import json

    from sweepq.backends import cli_reply

    result = {"type": "result", "subtype": "success", "is_error": False, "result": "Hi",
              "total_cost_usd": 0.0123,
              "usage": {"input_tokens": 12, "output_tokens": 9,
                        "cache_creation_input_tokens": 5000, "cache_read_input_tokens": 7000,
                        "cache_creation": {"ephemeral_1h_input_tokens": 5000,
                                           "ephemeral_5m_input_tokens": 0}}}
    reply = cli_reply(json.dumps(result) + "\n")
    assert reply.usage == Usage(12, 9, 7000, 5000, 0.0123)
    assert price("claude-sonnet-4-6", reply.usage) == 0.0123
