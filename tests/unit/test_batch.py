"""The batch runner (`work --backend batch`) on the in-process fake: same results as live,
half the cost, rounds no more than the longest call chain, faults and restarts."""

from __future__ import annotations

from pathlib import Path

import pytest

from sweepq import arm_registry
from sweepq.batch import BatchRunner
from sweepq.bbh import load_tasks
from sweepq.fake import FakeConfig
from sweepq.fake.inprocess import InProcessBackend
from sweepq.models import DEFAULT_MODELS
from sweepq.queue import Queue, Sweep
from sweepq.worker import Worker, WorkerConfig

ARMS = ["haiku-only", "sonnet-only", "echo-lexical", "echo-judge", "echo-oracle"]


def _sweep(db: Path, dataset: Path, n: int, max_attempts: int = 3,
           arms: list[str] = ARMS) -> tuple[Queue, Sweep]:
    queue = Queue.open(str(db))
    tasks = load_tasks(["web_of_lies", "boolean_expressions"], n, 0, str(dataset))
    sweep = Sweep(name="b", arms=arms, models=dict(DEFAULT_MODELS))
    queue.enqueue(sweep, [(t.task_id, t.payload()) for t in tasks], max_attempts)
    return queue, sweep


def _config(tasks_dataset: Path, n: int, **kw) -> FakeConfig:
    tasks = load_tasks(["web_of_lies", "boolean_expressions"], n, 0, str(tasks_dataset))
    return FakeConfig(answer_key={t.prompt: t.answer for t in tasks},
                      accuracy={"haiku": 0.6, "sonnet": 0.9}, **kw)


def _rows(queue: Queue) -> list[tuple]:
    return [tuple(r.values()) for r in queue.read(
        "SELECT j.task_id, j.arm, r.passed, r.detail, r.sub_calls, r.output"
        " FROM results AS r JOIN jobs AS j USING (job_id) ORDER BY j.position")]


def _cost(queue: Queue) -> float:
    return queue.read("SELECT sum(cost_usd) AS c FROM results")[0]["c"]


def _batch(queue: Queue, sweep: Sweep, fake: InProcessBackend, **kw) -> BatchRunner:
    return BatchRunner(queue, sweep, arm_registry.for_sweep(sweep.arms, sweep.prompts), fake.client,
                       WorkerConfig(lease_seconds=30, **kw), sleep=lambda s: False)


def _die_before_recording_the_id(queue: Queue, sweep: Sweep, fake: InProcessBackend,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """A run whose process "dies" right after submitting, before the id is recorded."""
    def lost(key, batch_id, expires_at):
        raise KeyboardInterrupt
    monkeypatch.setattr(queue, "batch_submitted", lost)
    with pytest.raises(KeyboardInterrupt):
        _batch(queue, sweep, fake).run()
    monkeypatch.undo()


def test_batch_equals_live_at_half_the_cost_in_chain_rounds(tmp_path, sample_bbh):
    live_q, sweep = _sweep(tmp_path / "live.db", sample_bbh, 10)
    live_fake = InProcessBackend(_config(sample_bbh, 10))
    Worker(live_q, sweep, arm_registry.for_sweep(sweep.arms, sweep.prompts), live_fake,
           WorkerConfig(concurrency=4, governor=False)).run()
    batch_q, _ = _sweep(tmp_path / "batch.db", sample_bbh, 10)
    fake = InProcessBackend(_config(sample_bbh, 10))
    runner = _batch(batch_q, sweep, fake)
    outcome = runner.run()
    assert outcome.exit_code == 0, outcome.message
    assert _rows(batch_q) == _rows(live_q) and len(_rows(batch_q)) == 100
    assert _cost(batch_q) == pytest.approx(_cost(live_q) * 0.5)
    assert runner.rounds <= 3       # echo-judge: the pair, the judge, then maybe sonnet
    calls = batch_q.read("SELECT count(*) AS n FROM calls")[0]["n"]
    assert fake.stats()["batch_requests"] == calls == live_fake.stats()["successes"]
    assert fake.stats()["successes"] == 0           # nothing went live
    states = batch_q.read("SELECT state, count(*) AS n FROM batches GROUP BY state")
    assert states == [{"state": "ingested", "n": runner.rounds}]


def test_errored_is_the_live_error_and_expired_goes_again(tmp_path, sample_bbh, monkeypatch):
    """(Backoff between attempts cut to nothing: 13 s of waiting otherwise, and the
    outcomes, not the backoff, are what is tested.)"""
    from sweepq.store import jobs as store_jobs

    monkeypatch.setattr(store_jobs, "backoff_seconds", lambda attempts: 0.0)
    queue, sweep = _sweep(tmp_path / "f.db", sample_bbh, 5, max_attempts=10)
    fake = InProcessBackend(_config(sample_bbh, 5, batch_errored=0.1, batch_expired=0.2))
    outcome = _batch(queue, sweep, fake).run()
    assert outcome.exit_code == 0, outcome.message
    assert queue.counts("b") == {"pending": 0, "running": 0, "done": 50, "error": 0}
    errors = queue.read("SELECT error_class, count(*) AS n FROM calls"
                        " WHERE error_class IS NOT NULL GROUP BY error_class")
    assert errors and errors[0]["error_class"] == "transient"
    outcomes = {r["outcome"] for r in queue.read("SELECT outcome FROM batch_requests")}
    assert outcomes == {"succeeded", "errored", "expired"}


def test_errors_in_a_batch_with_successes_never_trip_the_breaker(tmp_path, sample_bbh,
                                                                monkeypatch):
    """A third of the requests errored alike (a 500 each): the next round raises them back
    to back, yet the same batches' successes show the API works, so they are those jobs'
    failed attempts, never a breaker pause. (Backoff between attempts cut to nothing: the
    breaker is what is tested.)"""
    from sweepq.store import jobs as store_jobs

    monkeypatch.setattr(store_jobs, "backoff_seconds", lambda attempts: 0.0)
    # echo-judge alone: no job completes in the round that raises the errors, so nothing
    # live-like would come between them.
    queue, sweep = _sweep(tmp_path / "e.db", sample_bbh, 5, max_attempts=20,
                          arms=["echo-judge"])
    fake = InProcessBackend(_config(sample_bbh, 5, batch_errored=0.35))
    outcome = _batch(queue, sweep, fake).run()
    assert outcome.exit_code == 0, outcome.message
    assert queue.counts("b")["done"] == 10
    assert queue.read("SELECT count(*) AS n FROM pauses")[0]["n"] == 0
    assert queue.read("SELECT max(attempts) AS a FROM jobs")[0]["a"] > 1   # errors counted


def test_a_batch_where_everything_errored_alike_trips_the_breaker(tmp_path, sample_bbh):
    """Nothing succeeded: the same failure on every request is systemic, exactly as live
    (five jobs in a row), so the sweep stops with exit 75 and no job in error."""
    queue, sweep = _sweep(tmp_path / "a.db", sample_bbh, 5)
    fake = InProcessBackend(_config(sample_bbh, 5, batch_errored=1.0))
    outcome = _batch(queue, sweep, fake).run()
    assert outcome.exit_code == 75 and "unrecognised" in outcome.message, outcome.message
    assert queue.counts("b")["error"] == 0
    assert queue.read("SELECT reason FROM pauses") == [{"reason": "unrecognised"}]


def test_an_unrecorded_batch_is_found_by_its_key_not_sent_again(tmp_path, sample_bbh,
                                                                 monkeypatch):
    queue, sweep = _sweep(tmp_path / "k.db", sample_bbh, 2)
    fake = InProcessBackend(_config(sample_bbh, 2))
    _die_before_recording_the_id(queue, sweep, fake, monkeypatch)
    assert fake.stats()["batch_requests"] == 32      # round one: 8 calls a task
    queue.conn.execute("UPDATE jobs SET lease_expires_at = 0 WHERE state = 'running'")
    outcome = _batch(queue, sweep, fake).run()
    assert outcome.exit_code == 0, outcome.message
    assert queue.counts("b")["done"] == 20
    needed = queue.read("SELECT count(*) AS n FROM calls")[0]["n"]
    assert fake.stats()["batch_requests"] == needed     # round one was found, not resent


def test_an_unrecorded_batch_is_found_behind_more_than_a_page_of_newer_batches(
        tmp_path, sample_bbh, monkeypatch):
    queue, sweep = _sweep(tmp_path / "p.db", sample_bbh, 2)
    fake = InProcessBackend(_config(sample_bbh, 2))
    _die_before_recording_the_id(queue, sweep, fake, monkeypatch)
    others = 150                            # someone else's batches since: the list's
    for i in range(others):                 # first page (100) holds none of ours
        fake.client.messages.batches.create(requests=[{"custom_id": f"other-{i}", "params": {
            "model": "claude-haiku-4-5", "max_tokens": 8,
            "messages": [{"role": "user", "content": "hi"}]}}])
    queue.conn.execute("UPDATE jobs SET lease_expires_at = 0 WHERE state = 'running'")
    assert _batch(queue, sweep, fake).run().exit_code == 0
    needed = queue.read("SELECT count(*) AS n FROM calls")[0]["n"]
    assert fake.stats()["batch_requests"] == needed + others      # ours found, not resent
    assert queue.read("SELECT count(*) AS n FROM batches WHERE state = 'abandoned'")[0]["n"] == 0


def test_an_unrecorded_batch_still_processing_at_max_wait_is_kept_not_abandoned(
        tmp_path, sample_bbh, monkeypatch):
    queue, sweep = _sweep(tmp_path / "w.db", sample_bbh, 2)
    fake = InProcessBackend(_config(sample_bbh, 2, batch_seconds=3600))
    _die_before_recording_the_id(queue, sweep, fake, monkeypatch)
    queue.conn.execute("UPDATE jobs SET lease_expires_at = 0 WHERE state = 'running'")
    outcome = _batch(queue, sweep, fake, max_wait=0.5).run()     # found, still processing
    assert outcome.exit_code == 75, outcome.message
    assert [r["state"] for r in queue.read("SELECT state FROM batches")] == ["prepared"]
    fake.config.batch_seconds = 0
    queue.conn.execute("UPDATE jobs SET lease_expires_at = 0 WHERE state = 'running'")
    assert _batch(queue, sweep, fake).run().exit_code == 0
    needed = queue.read("SELECT count(*) AS n FROM calls")[0]["n"]
    assert fake.stats()["batch_requests"] == needed                # nothing sent twice


def test_summary_says_which_costs_were_at_the_batch_price(tmp_path, sample_bbh):
    from sweepq import page, report, views

    live_q, sweep = _sweep(tmp_path / "live.db", sample_bbh, 2)
    Worker(live_q, sweep, arm_registry.for_sweep(sweep.arms, sweep.prompts),
           InProcessBackend(_config(sample_bbh, 2)), WorkerConfig(governor=False)).run()
    assert report.summary(live_q, sweep)["batch_price"] is None
    assert "batch" not in views.render_summary(report.summary(live_q, sweep)).lower()
    queue, _ = _sweep(tmp_path / "batch.db", sample_bbh, 2)
    assert _batch(queue, sweep, InProcessBackend(_config(sample_bbh, 2))).run().exit_code == 0
    calls = queue.read("SELECT count(*) AS n FROM calls")[0]["n"]
    data = report.summary(queue, sweep)
    assert data["batch_price"] == {"calls": calls, "at_batch_price": calls, "price_factor": 0.5}
    line = f"USD: {calls:,} of {calls:,} paid calls at the Message Batches price (0.5x live)."
    assert line in views.render_summary(data)
    assert line in page.render(page.collect(queue, "b"))


def test_status_shows_batches_in_flight(tmp_path, sample_bbh):
    from sweepq import batch_view, report, views

    queue, sweep = _sweep(tmp_path / "s.db", sample_bbh, 1)
    job = queue.claim("b", "me")
    queue.prepare_batch("sqabc", "b", "me", 10, [("sqabc-1-0-x", job.job_id, 1, 0,
                                                  "claude-haiku-4-5", "x")], 0.5)
    queue.batch_submitted("sqabc", "msgbatch_1", queue.clock() + 86400)
    data = report.status(queue, sweep)
    assert [b["batch_id"] for b in data["batches"]] == ["msgbatch_1"]
    assert "batches in flight:" in views.render_status(data)
    assert "msgbatch_1  submitted  1 requests" in views.render_status(data)
    queue.close_batch("sqabc", "ingested")
    assert report.status(queue, sweep)["batches"] == []
    assert len(batch_view.rows(queue)) == 1


@pytest.mark.parametrize("limit", [{"max_requests": 5}, {"max_bytes": 4_000}])
def test_a_round_is_split_by_count_and_by_bytes_sent_side_by_side(tmp_path, sample_bbh,
                                                                   monkeypatch, limit):
    from sweepq.fake import batches as fake_batches

    # The fake refuses a batch over the lowered limit, measured on the body it receives.
    monkeypatch.setattr(fake_batches, "MAX_REQUESTS", limit.get("max_requests", 100_000))
    monkeypatch.setattr(fake_batches, "MAX_BATCH_BYTES", limit.get("max_bytes", 2**28))
    queue, sweep = _sweep(tmp_path / "split.db", sample_bbh, 2)
    fake = InProcessBackend(_config(sample_bbh, 2, batch_seconds=0.3))
    runner = BatchRunner(queue, sweep, arm_registry.for_sweep(sweep.arms, sweep.prompts),
                         fake.client, WorkerConfig(lease_seconds=30), sleep=lambda s: False,
                         **limit)
    outcome = runner.run()
    assert outcome.exit_code == 0, outcome.message
    assert queue.counts("b")["done"] == 20
    batches = queue.read("SELECT requests, bytes, submitted_at, ended_at FROM batches"
                         " ORDER BY created_at")
    assert len(batches) > runner.rounds + 2            # round one's 32 requests alone: 3+
    # A round's batches are all submitted before the first is waited for: side by side.
    assert batches[1]["submitted_at"] < batches[0]["ended_at"]
    assert all(b["requests"] <= limit.get("max_requests", 10**9) for b in batches)
    assert all(b["bytes"] <= limit.get("max_bytes", 10**12) for b in batches)
    calls = queue.read("SELECT count(*) AS n FROM calls")[0]["n"]
    assert fake.stats()["batch_requests"] == calls and fake.stats()["batches"] == len(batches)
