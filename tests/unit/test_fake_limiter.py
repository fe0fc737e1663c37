"""The fake's rate limiter (sweepq/fake/limiter.py) and the governor against it.

What it imitates: https://platform.claude.com/docs/en/api/rate-limits (token buckets
refilled continuously, 429 with retry-after, the anthropic-ratelimit-* headers).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import anthropic
import pytest
from conftest import ROOT, Clock, cli_env, run_cli, sdk

from sweepq import arm_registry
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.inprocess import InProcessBackend
from sweepq.fake.limiter import Limiter
from sweepq.queue import Queue
from sweepq.sample import write_sample
from sweepq.worker import Worker, WorkerConfig


def test_buckets_refill_continuously_and_refuse_with_a_rounded_up_retry_after() -> None:
    clock = Clock(100.0)
    limiter = Limiter(FakeConfig(rpm=60, itpm=600, bucket_start="empty"), clock=clock)
    assert limiter.take(10) is not None                 # empty: refused
    clock.now += 1.0                                     # one request, 10 tokens refilled
    assert limiter.take(10) is None
    wait = limiter.take(10)
    assert wait == pytest.approx(1.0)
    headers = dict(limiter.headers(0.0, retry_after=0.2))
    assert headers["retry-after"] == "1"                 # whole seconds, rounded up
    assert headers["anthropic-ratelimit-requests-limit"] == "60"
    assert headers["anthropic-ratelimit-requests-remaining"] == "0"
    assert headers["anthropic-ratelimit-input-tokens-limit"] == "600"


def test_a_small_bucket_holds_seconds_not_a_minute() -> None:
    clock = Clock(100.0)
    limiter = Limiter(FakeConfig(rpm=60, bucket_seconds=1, bucket_start="full"), clock=clock)
    assert limiter.take(1) is None
    assert limiter.take(1) is not None                  # 60 RPM enforced as 1 a second


def test_the_sdk_sees_a_429_with_the_limiter_headers() -> None:
    with FakeAPI(FakeConfig(rpm=60, bucket_start="empty")) as fake:
        client = sdk(base_url=fake.url, api_key="k", max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as info:
            client.messages.create(model="claude-haiku-4-5", max_tokens=10,
                                   messages=[{"role": "user", "content": "hi"}])
        assert info.value.response.headers["retry-after"] == "1"
        assert info.value.response.headers["anthropic-ratelimit-requests-limit"] == "60"
        assert fake.stats()["faults"] == {"limited": 1}


def _sweep(tmp_path: Path, db: Path, n: int) -> None:
    data = write_sample(tmp_path / "data", n=n)
    run_cli("enqueue", "--sweep", "s", "--subtasks", "boolean_expressions,web_of_lies",
            "--n-per-subtask", str(n), "--arms", "haiku-only", "--dataset", str(data),
            db=db, check=True)


def _work_in_process(db: Path, config: FakeConfig, governor: bool) -> InProcessBackend:
    backend = InProcessBackend(config)
    queue = Queue.open(str(db))
    sweep = queue.resolve_sweep("s")
    worker = Worker(queue, sweep, arm_registry.validate(sweep.arms, None), backend,
                    WorkerConfig(concurrency=16, governor=governor))
    assert worker.run().exit_code == 0
    return backend


@pytest.mark.parametrize("governor", [True, False])
def test_in_process_a_governed_429_is_neither_a_pause_nor_an_attempt(tmp_path, governor) -> None:
    db = tmp_path / "s.db"
    _sweep(tmp_path, db, 20)
    backend = _work_in_process(db, FakeConfig(rpm=1200, bucket_start="empty"), governor)
    stats = backend.stats()
    queue = Queue.open(str(db))
    pauses = queue.read("SELECT count(*) AS n FROM pauses WHERE reason = 'rate_limited'")[0]["n"]
    attempts = queue.read("SELECT max(attempts) AS n, count(*) AS done FROM jobs"
                          " WHERE state = 'done'")[0]
    assert attempts["done"] == 40 and attempts["n"] == 1
    if governor:
        assert stats["faults"].get("limited", 0) <= 1 and pauses == 0
    else:   # the old behaviour, for contrast: the refusal pauses the queue. (How many
        # refusals there are depends on the machine's speed against the bucket's refill:
        # on a loaded one, a single pause of 1 s can outlast the empty bucket.)
        assert stats["faults"].get("limited", 0) >= 1 and pauses >= 1


def _export(db: Path, out: Path) -> list[dict]:
    """The export's rows, timings left out (the only field a rate limit may change)."""
    run_cli("export", "--sweep", "s", "--order", "canonical", str(out), db=db, check=True)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    for row in rows:
        row.pop("wall_seconds", None)
    return rows


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_a_real_worker_process_paces_at_the_limit_without_refusals(tmp_path) -> None:
    """`sweepq work` through the real SDK against `fake-api --rpm` with empty buckets."""
    plain, limited = tmp_path / "plain.db", tmp_path / "limited.db"
    _sweep(tmp_path, plain, 50)
    _sweep(tmp_path, limited, 50)
    with FakeAPI(FakeConfig()) as fake:
        run_cli("work", "--sweep", "s", "--concurrency", "32", "--quiet", db=plain, fake=fake,
                check=True)
    with FakeAPI(FakeConfig(rpm=1500, bucket_start="empty")) as fake:
        done = subprocess.run([sys.executable, "-m", "sweepq", "--db", str(limited), "work",
                               "--sweep", "s", "--concurrency", "32", "--quiet"],
                              capture_output=True, text=True, timeout=120, env=cli_env(fake),
                              cwd=ROOT, check=False)
        stats = fake.stats()
    assert done.returncode == 0, done.stderr
    assert stats["successes"] == 100
    assert stats["faults"].get("limited", 0) <= 0.01 * stats["requests"]
    queue = Queue.open(str(limited))
    assert queue.read("SELECT count(*) AS n FROM pauses")[0]["n"] == 0
    assert queue.counts("s")["error"] == 0
    assert _export(limited, tmp_path / "a.jsonl") == _export(plain, tmp_path / "b.jsonl")
    status = json.loads(run_cli("status", "--sweep", "s", "--json", db=limited,
                                check=True).stdout)
    (model,) = status["governor"]
    assert model["limits"]["requests"]["per_minute"] == 1500 and model["mode"] == "headers"
