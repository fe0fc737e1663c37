"""The breaker: one failure no classifier knows, ending job after job, pauses the queue
instead of erroring the sweep (counted in the database, across processes)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import canonical, enqueue, run_cli

from sweepq import db
from sweepq.failures import Failure, signature
from sweepq.fake import FakeAPI
from sweepq.queue import BREAKER_JOBS, Queue, Result, Sweep

UNKNOWN = {"status": 418, "body": {"type": "error", "error": {
    "type": "teapot_error", "message": "Flux capacitor 7 misaligned (req_011CTest)"}}}


def queue_with(path: Path, n: int, max_attempts: int = 1) -> Queue:
    queue = Queue(db.connect(path))
    queue.enqueue(Sweep(name="s", arms=["a"]), [(f"t/{i}", {"q": i}) for i in range(n)],
                  max_attempts=max_attempts)
    return queue


def fail_next(queue: Queue, message: str, worker: str = "w") -> int:
    job = queue.claim("s", worker)
    assert job is not None
    failure = Failure("transient", None, message)
    queue.fail(job.job_id, worker, failure.message, "transient", signature=signature(failure))
    return job.job_id


def complete_next(queue: Queue) -> None:
    job = queue.claim("s", "w")
    assert queue.complete(job.job_id, "w", Result(True, "passed", 0.1, 1))


def test_signature_masks_numbers_and_ids():
    a = Failure("transient", None, "server error (500): req_011CAbc at 127.0.0.1:8080")
    b = Failure("transient", None, "server error (503): req_011CXyz at 127.0.0.1:9090")
    assert signature(a) == signature(b)
    assert signature(a) != signature(Failure("fatal", None, a.message))


def test_five_jobs_in_a_row_trip_it_and_nothing_is_charged(db_path):
    queue = queue_with(db_path, 8)  # one attempt each: without the breaker, 5 errors
    for i in range(BREAKER_JOBS - 1):
        fail_next(queue, f"odd failure {i}")
        assert queue.active_pause() is None
    fail_next(queue, "odd failure 99")
    pause = queue.active_pause()
    assert (pause.reason, pause.resume_at, pause.set_by) == ("unrecognised", None, "breaker")
    assert "odd failure" in pause.message
    assert queue.counts("s") == {"pending": 8, "running": 0, "done": 0, "error": 0}
    rows = queue.read("SELECT attempts, available_at, errors FROM jobs")
    assert all(r["attempts"] == 0 and r["available_at"] == 0 for r in rows)
    assert sum(len(json.loads(r["errors"])) for r in rows) == BREAKER_JOBS  # trail kept


def test_a_success_in_between_resets_it(db_path):
    queue = queue_with(db_path, 20, max_attempts=3)
    for _ in range(4):
        fail_next(queue, "blip")
        fail_next(queue, "blip")
        complete_next(queue)
    assert queue.active_pause() is None


def test_different_failures_do_not_add_up(db_path):
    queue = queue_with(db_path, 10)
    for message in ["a", "b", "a", "b", "a", "b", "a"]:
        fail_next(queue, f"failure {message}")
    assert queue.active_pause() is None


def test_the_same_job_failing_again_counts_once(db_path):
    queue = queue_with(db_path, 3, max_attempts=9)
    for _ in range(6):
        job = queue.claim("s", "w")
        failure = Failure("transient", None, "same")
        queue.fail(job.job_id, "w", "same", signature=signature(failure))
        queue.conn.execute("UPDATE jobs SET available_at = 0")  # no backoff in this test
    assert queue.active_pause() is None  # 6 failures, but 3 jobs


def test_two_connections_count_together(db_path):
    """Two processes are two connections: the streak is a row, so they add up."""
    first = queue_with(db_path, 10)
    second = Queue(db.connect(db_path))
    for i in range(BREAKER_JOBS):
        fail_next(first if i % 2 else second, "shared cause", worker=f"p{i % 2}")
    assert second.active_pause().reason == "unrecognised"
    assert first.counts("s")["error"] == 0


def test_a_failure_arriving_after_the_trip_is_not_charged(db_path):
    queue = queue_with(db_path, 10)
    in_flight = queue.claim("s", "late")
    for _ in range(BREAKER_JOBS):
        fail_next(queue, "cause")
    failure = Failure("transient", None, "cause")
    queue.fail(in_flight.job_id, "late", "cause", signature=signature(failure))
    assert queue.read("SELECT attempts, state FROM jobs WHERE job_id = ?",
                      (in_flight.job_id,))[0] == {"attempts": 0, "state": "pending"}


# -- end to end --------------------------------------------------------------------------------

# With three attempts a job may come back inside the streak: the longer run (~12 s, real
# backoffs) goes with the other minutes-long end-to-end runs in `make test-slow`.
@pytest.mark.parametrize("max_attempts", ["1", pytest.param("3", marks=pytest.mark.slow)])
def test_a_server_failing_everything_stops_work_then_resume_completes(tmp_path, sample_bbh,
                                                                      max_attempts):
    """With one attempt per job each failure is a new job: exactly 5 jobs' worth of calls.
    With three, a job whose backoff ran out may fail again inside the streak (it is
    claimed first, by position): still only 5 different jobs are ever tried."""
    calm, broken = tmp_path / "calm.db", tmp_path / "broken.db"
    for path in (calm, broken):
        enqueue(path, sample_bbh, "--max-attempts", max_attempts, n=4)
    with FakeAPI() as fake:
        run_cli("work", "--quiet", db=calm, fake=fake, check=True)
    with FakeAPI() as fake:
        fake.script([UNKNOWN] * 200)
        done = run_cli("work", "--quiet", "--concurrency", "1", db=broken, fake=fake)
        calls = fake.stats()["requests"]
    assert done.returncode == 75, done.stderr
    with sqlite3.connect(broken) as conn:
        tried = conn.execute("SELECT count(DISTINCT job_id), count(*) FROM calls").fetchone()
    assert tried[0] == BREAKER_JOBS and tried[1] == calls
    if max_attempts == "1":
        assert calls == BREAKER_JOBS * 3  # 5 jobs' worth of calls (3 tries each)
    assert "Flux capacitor" in done.stderr and "sweepq resume" in done.stderr
    assert "Traceback" not in done.stderr
    with sqlite3.connect(broken) as conn:
        assert conn.execute("SELECT count(*) FROM jobs WHERE state = 'error'").fetchone() == (0,)
        assert conn.execute("SELECT max(attempts) FROM jobs").fetchone() == (0,)
    run_cli("resume", db=broken, check=True)
    with FakeAPI() as fake:
        again = run_cli("work", "--quiet", db=broken, fake=fake)
    assert again.returncode == 0, again.stderr
    assert canonical(broken) == canonical(calm)


def test_blips_between_successes_never_trip_it(db_path, sample_bbh, monkeypatch):
    """Six jobs' attempts end in the same failure (each of its 3 tries), but a success
    comes between each: no pause, and every job is done in the end. In process, with the
    backoffs cut to nothing (the policy is what is tested; the end-to-end test above runs
    the real process)."""
    from sweepq import models as models_mod
    from sweepq.arm_registry import registry
    from sweepq.bbh import load_tasks
    from sweepq.fake.inprocess import InProcessBackend
    from sweepq.models import DEFAULT_MODELS
    from sweepq.store import jobs as store_jobs
    from sweepq.worker import Worker, WorkerConfig

    monkeypatch.setattr(models_mod, "_transient_wait", lambda state: 0.0)
    # A failed job waits a quarter to half a second: long enough that the next jobs, not
    # the same one again, meet the following blips (5 different jobs would trip it
    # without the successes in between), short enough to keep the test quick.
    monkeypatch.setattr(store_jobs, "BACKOFF_BASE_SECONDS", 0.5)
    queue = Queue(db.connect(db_path))
    sweep = Sweep(name="s", arms=["haiku-only"], models=dict(DEFAULT_MODELS))
    tasks = load_tasks(["boolean_expressions", "web_of_lies"], 6, 0, str(sample_bbh))
    # Enough attempts that the order jobs are retried in can never turn blips into errors.
    queue.enqueue(sweep, [(t.task_id, t.payload()) for t in tasks], max_attempts=10)
    backend = InProcessBackend()
    backend.script([UNKNOWN, UNKNOWN, UNKNOWN, {"status": 200}] * 6)
    outcome = Worker(queue, sweep, registry(), backend, WorkerConfig(concurrency=1)).run()
    assert outcome.exit_code == 0, outcome
    assert queue.read("SELECT count(*) AS n FROM pauses") == [{"n": 0}]
    assert queue.counts("s")["done"] == 12
    # Six failed attempts (each a blip of 3 tries), each followed by a success.
    assert queue.read("SELECT sum(attempts) AS n FROM jobs") == [{"n": 12 + 6}]
    assert backend.stats()["faults"] == {"418": 18}
