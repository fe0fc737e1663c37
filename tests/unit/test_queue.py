"""sweepq.queue: enqueue, claim, complete, fail, release, retry, pauses, counts.

A fake clock drives every time-dependent rule, so nothing here sleeps. The
4-process test runs real processes against one real database file.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import ROOT, Clock

from sweepq import bbh, db
from sweepq import queue as queue_mod
from sweepq.errors import SweepqError
from sweepq.queue import Call, Queue, Result, Sweep
from sweepq.store import claim_sql
from sweepq.store import enqueue as store_enqueue
from sweepq.usage import Usage

T0 = 1_800_000_000.0


@pytest.fixture
def q(db_path: Path, clock: Clock) -> Queue:
    queue = Queue(db.connect(db_path), clock=clock)
    yield queue
    queue.close()


def tasks(n: int, prefix: str = "t") -> list[tuple[str, dict]]:
    return [(f"{prefix}/{i}", {"prompt": f"question {i}", "gold": "A"}) for i in range(n)]


def make_sweep(q: Queue, n: int = 3, arms: tuple[str, ...] = ("a", "b"), name: str = "s",
               max_attempts: int = 3) -> Sweep:
    sweep = Sweep(name=name, arms=list(arms), subtasks=["x"], n_per_subtask=n)
    q.enqueue(sweep, tasks(n), max_attempts=max_attempts)
    return sweep


def job_row(q: Queue, job_id: int) -> dict:
    return q.read("SELECT * FROM jobs WHERE job_id = ?", (job_id,))[0]


RESULT = Result(passed=True, detail="passed", wall_seconds=1.25, sub_calls=1)


def n_results(q: Queue) -> int:
    return q.read("SELECT count(*) AS n FROM results")[0]["n"]


# -- enqueue ----------------------------------------------------------------------------------

def test_enqueue_is_idempotent(q: Queue) -> None:
    sweep = Sweep(name="s", arms=["a", "b"], subtasks=["x"], n_per_subtask=4)
    assert q.enqueue(sweep, tasks(4)) == 8
    assert q.enqueue(sweep, tasks(4)) == 0
    assert q.counts("s") == {"pending": 8, "running": 0, "done": 0, "error": 0}
    assert q.sweep_names() == ["s"]


def test_enqueue_after_progress_leaves_jobs_as_they_are(q: Queue) -> None:
    sweep = make_sweep(q)
    job = q.claim("s", "w1")
    assert q.complete(job.job_id, "w1", RESULT)
    assert q.enqueue(sweep, tasks(3)) == 0
    assert job_row(q, job.job_id)["state"] == "done"
    assert n_results(q) == 1


def test_enqueue_of_a_sweep_name_with_other_settings_is_refused(q: Queue,
                                                                db_path: Path) -> None:
    make_sweep(q)
    other = Sweep(name="s", arms=["a", "c"], subtasks=["x"], n_per_subtask=3)
    with pytest.raises(SweepqError, match="other settings"):
        q.enqueue(other, tasks(3))
    assert sorted({r["arm"] for r in q.read("SELECT arm FROM jobs")}) == ["a", "b"]


def test_enqueue_without_arms_is_refused(q: Queue) -> None:
    with pytest.raises(SweepqError):
        q.enqueue(Sweep(name="s", arms=[]), tasks(2))
    assert q.sweep_names() == []


def test_canonical_positions_from_bbh_tasks(q: Queue, sample_bbh: Path) -> None:
    """Subtasks in the given order, tasks by index (from --start), arms in the given order."""
    loaded = bbh.load_tasks(["web_of_lies", "boolean_expressions"], 3, start=10,
                            dataset=str(sample_bbh))
    sweep = Sweep(name="s", arms=["zeta", "alpha"], subtasks=["web_of_lies",
                                                              "boolean_expressions"],
                  n_per_subtask=3, start=10, dataset=str(sample_bbh))
    assert q.enqueue(sweep, ((t.task_id, t.payload()) for t in loaded)) == 12
    rows = q.read("SELECT position, task_id, arm FROM jobs ORDER BY position")
    assert [r["position"] for r in rows] == list(range(12))
    expected = [(f"bbh/{sub}/{i}", arm) for sub in ("web_of_lies", "boolean_expressions")
                for i in (10, 11, 12) for arm in ("zeta", "alpha")]
    assert [(r["task_id"], r["arm"]) for r in rows] == expected
    claimed = [q.claim("s", "w") for _ in range(12)]
    assert [(j.task_id, j.arm) for j in claimed] == expected  # claims follow positions
    assert claimed[0].task["prompt"]  # the payload travels with the job


def test_enqueue_in_batches(q: Queue, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store_enqueue, "ENQUEUE_BATCH", 7)
    sweep = Sweep(name="s", arms=["a", "b", "c"])
    assert q.enqueue(sweep, tasks(25)) == 75
    assert q.enqueue(sweep, tasks(25)) == 0
    positions = [r["position"] for r in q.read("SELECT position FROM jobs ORDER BY position")]
    assert positions == list(range(75))


def test_enqueue_more_than_one_real_batch(q: Queue) -> None:
    n = queue_mod.ENQUEUE_BATCH + 1
    sweep = Sweep(name="s", arms=["a"])
    assert q.enqueue(sweep, tasks(n)) == n
    assert q.counts("s")["pending"] == n
    assert q.read("SELECT max(position) AS m FROM jobs")[0]["m"] == n - 1


def test_enqueue_failing_in_the_first_batch_leaves_no_sweep(q: Queue,
                                                            monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setattr(store_enqueue, "ENQUEUE_BATCH", 10)

    def broken():
        yield from tasks(3)
        raise RuntimeError("the data source broke")

    with pytest.raises(RuntimeError):
        q.enqueue(Sweep(name="s", arms=["a", "b"]), broken())
    assert q.sweep_names() == []
    assert q.read("SELECT count(*) AS n FROM jobs")[0]["n"] == 0


def test_enqueue_failing_later_keeps_whole_batches_and_resumes(q: Queue,
                                                               monkeypatch: pytest.MonkeyPatch
                                                               ) -> None:
    monkeypatch.setattr(store_enqueue, "ENQUEUE_BATCH", 10)
    sweep = Sweep(name="s", arms=["a", "b"])

    def broken():
        yield from tasks(12)
        raise RuntimeError("the data source broke")

    with pytest.raises(RuntimeError):
        q.enqueue(sweep, broken())
    assert q.sweep_names() == ["s"]
    done = q.read("SELECT count(*) AS n FROM jobs")[0]["n"]
    assert done % 10 == 0 and 0 < done < 24  # whole batches only
    assert q.enqueue(sweep, tasks(12)) == 24 - done  # enqueuing again fills in the rest
    assert q.read("SELECT count(*) AS n FROM jobs")[0]["n"] == 24


def test_enqueue_100k_jobs_streams_in_whole_batches(q: Queue) -> None:
    """100,000 jobs go in (how fast is a benchmark: bench/bench_scale.py, BENCHMARKS.md)."""
    assert q.enqueue(Sweep(name="big", arms=["a", "b", "c", "d"]), tasks(25_000)) == 100_000
    assert q.counts("big")["pending"] == 100_000
    positions = q.read("SELECT min(position) AS lo, max(position) AS hi,"
                       " count(DISTINCT position) AS n FROM jobs WHERE sweep = 'big'")[0]
    assert positions == {"lo": 0, "hi": 99_999, "n": 100_000}


# -- claim ------------------------------------------------------------------------------------

def test_claim_takes_the_lowest_position_and_leases_it(q: Queue, clock: Clock) -> None:
    make_sweep(q)
    first = q.claim("s", "w1", lease_seconds=60)
    assert (first.task_id, first.arm, first.attempts, first.lease_owner) == ("t/0", "a", 1, "w1")
    row = job_row(q, first.job_id)
    assert row["state"] == "running"
    assert row["lease_owner"] == "w1"
    assert row["lease_expires_at"] == T0 + 60
    assert row["attempts"] == 1
    assert row["started_at"] == T0
    second = q.claim("s", "w2")
    assert (second.task_id, second.arm) == ("t/0", "b")
    assert q.counts("s") == {"pending": 4, "running": 2, "done": 0, "error": 0}


def test_claim_is_per_sweep_and_none_when_empty(q: Queue) -> None:
    make_sweep(q, n=1, arms=("a",), name="one")
    make_sweep(q, n=1, arms=("a",), name="two")
    assert q.claim("two", "w").sweep == "two"
    assert q.claim("two", "w") is None
    assert q.claim("one", "w").sweep == "one"
    assert q.claim("nope", "w") is None


def test_no_claim_while_paused(q: Queue, clock: Clock) -> None:
    make_sweep(q)
    q.pause(T0 + 30, "exhausted", set_by="w1")
    assert q.claim("s", "w") is None
    clock.advance(29)
    assert q.claim("s", "w") is None
    clock.advance(1)  # resume_at reached
    assert q.claim("s", "w") is not None


def test_claim_many_takes_the_lowest_positions_as_claim_would(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=5)                                  # 10 jobs
    first = q.claim("s", "w")
    many = q.claim_many("s", "batch", 60, limit=4)
    positions = {r["job_id"]: r["position"] for r in q.read("SELECT job_id, position FROM jobs")}
    assert sorted(positions[j.job_id] for j in many) == sorted(positions.values())[1:5]
    assert {job_row(q, j.job_id)["lease_owner"] for j in many} == {"batch"}
    assert all(j.attempts == 1 for j in many) and first.job_id not in {j.job_id for j in many}
    q.pause(T0 + 30, "exhausted", set_by="w1")
    assert q.claim_many("s", "batch", 60, limit=100) == []
    clock.advance(121)                                  # every lease expired, pause over
    assert len(q.claim_many("s", "batch", 60, limit=100)) == 10


def test_a_pause_without_end_lasts_until_resume(q: Queue, clock: Clock) -> None:
    make_sweep(q)
    q.pause(None, "by hand")
    clock.advance(10 * 86400)
    assert q.claim("s", "w") is None
    assert q.resume() == 1
    assert q.claim("s", "w") is not None


def test_an_expired_lease_is_claimable_again(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=2, arms=("a",))
    lost = q.claim("s", "w1", lease_seconds=10)
    clock.advance(5)
    other = q.claim("s", "w2", lease_seconds=10)
    assert other.job_id != lost.job_id  # still leased: w2 gets the next one
    clock.advance(6)  # w1's lease expired at T0+10; w2's holds until T0+15
    taken = q.claim("s", "w3", lease_seconds=10)
    assert taken.job_id == lost.job_id
    assert taken.attempts == 2
    assert job_row(q, lost.job_id)["lease_owner"] == "w3"
    assert q.claim("s", "w4") is None


def test_heartbeat_extends_the_lease_only_for_its_holder(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=1, arms=("a",))
    job = q.claim("s", "w1", lease_seconds=10)
    clock.advance(8)
    assert q.heartbeat(job.job_id, "w1", lease_seconds=10)
    assert job_row(q, job.job_id)["lease_expires_at"] == T0 + 18
    clock.advance(8)  # 16 < 18: still ours, not claimable
    assert q.claim("s", "w2") is None
    assert not q.heartbeat(job.job_id, "w2")
    clock.advance(3)
    assert q.claim("s", "w2").job_id == job.job_id
    assert not q.heartbeat(job.job_id, "w1")


# -- complete ---------------------------------------------------------------------------------

def test_complete_writes_the_result_and_marks_done(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=1, arms=("a",))
    job = q.claim("s", "w1")
    clock.advance(2)
    result = Result(passed=False, detail="expected A got B", wall_seconds=2.0, sub_calls=3,
                    output="Answer: B", usage=Usage(10, 5, cost_usd=0.001),
                    models=["claude-haiku"])
    assert q.complete(job.job_id, "w1", result)
    row = job_row(q, job.job_id)
    assert (row["state"], row["lease_owner"], row["lease_expires_at"], row["finished_at"]) == \
        ("done", None, None, T0 + 2)
    res = q.read("SELECT * FROM results")[0]
    assert (res["passed"], res["detail"], res["sub_calls"], res["output"]) == \
        (0, "expected A got B", 3, "Answer: B")
    assert json.loads(res["models"]) == ["claude-haiku"]
    assert res["completed_at"] == T0 + 2
    assert not q.complete(job.job_id, "w1", RESULT)  # twice: nothing more
    assert n_results(q) == 1


def test_a_worker_that_lost_its_lease_writes_nothing(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=1, arms=("a",))
    job = q.claim("s", "w1", lease_seconds=10)
    assert not q.complete(job.job_id, "intruder", RESULT)
    clock.advance(11)
    q.claim("s", "w2", lease_seconds=10)
    assert not q.complete(job.job_id, "w1", RESULT)
    assert q.fail(job.job_id, "w1", "late failure") is None
    assert not q.release(job.job_id, "w1")
    assert n_results(q) == 0
    row = job_row(q, job.job_id)
    assert (row["state"], row["lease_owner"], row["errors"]) == ("running", "w2", "[]")
    assert q.complete(job.job_id, "w2", RESULT)
    assert n_results(q) == 1


def test_an_expired_lease_nobody_took_still_completes(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=1, arms=("a",))
    job = q.claim("s", "w1", lease_seconds=10)
    clock.advance(60)
    assert q.complete(job.job_id, "w1", RESULT)


# -- fail, release, retry ---------------------------------------------------------------------

def test_fail_backs_off_then_errors_after_max_attempts(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=1, arms=("a",), max_attempts=3)
    for attempt in (1, 2):
        job = q.claim("s", "w")
        assert job.attempts == attempt
        assert q.fail(job.job_id, "w", f"overloaded {attempt}", kind="transient") == "pending"
        row = job_row(q, job.job_id)
        assert row["state"] == "pending" and row["lease_owner"] is None
        assert row["available_at"] > clock.now  # backoff
        assert row["last_error"] == f"overloaded {attempt}"
        assert q.claim("s", "w") is None  # not before available_at
        clock.now = row["available_at"]
    job = q.claim("s", "w")
    assert job.attempts == 3
    assert q.fail(job.job_id, "w", "overloaded 3") == "error"
    row = job_row(q, job.job_id)
    assert (row["state"], row["finished_at"], row["last_error"]) == \
        ("error", clock.now, "overloaded 3")
    trail = json.loads(row["errors"])
    assert [(e["attempt"], e["kind"], e["message"]) for e in trail] == \
        [(1, "transient", "overloaded 1"), (2, "transient", "overloaded 2"),
         (3, "transient", "overloaded 3")]
    assert all(isinstance(e["at"], float) for e in trail)
    clock.advance(10_000)
    assert q.claim("s", "w") is None  # error is final until retry
    assert q.counts("s") == {"pending": 0, "running": 0, "done": 0, "error": 1}


def test_a_fatal_failure_is_an_error_at_once(q: Queue) -> None:
    make_sweep(q, n=1, arms=("a",), max_attempts=5)
    job = q.claim("s", "w")
    assert q.fail(job.job_id, "w", "invalid model id", kind="fatal", final=True) == "error"
    assert json.loads(job_row(q, job.job_id)["errors"])[0]["kind"] == "fatal"


def test_backoff_grows_and_is_capped() -> None:
    for attempts in range(1, 12):
        ceiling = min(queue_mod.BACKOFF_CAP_SECONDS,
                      queue_mod.BACKOFF_BASE_SECONDS * 2 ** (attempts - 1))
        value = queue_mod.backoff_seconds(attempts)
        assert ceiling / 2 <= value <= ceiling


def test_release_does_not_count_the_attempt(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=1, arms=("a",), max_attempts=1)
    for _ in range(5):  # released five times, still not an error with max_attempts=1
        job = q.claim("s", "w")
        assert job.attempts == 1
        assert q.release(job.job_id, "w", kind="exhausted", message="usage limit")
        row = job_row(q, job.job_id)
        assert (row["state"], row["attempts"], row["lease_owner"]) == ("pending", 0, None)
        assert row["available_at"] <= clock.now  # claimable at once (a pause gates it)
    assert len(json.loads(row["errors"])) == 5
    job = q.claim("s", "w")
    assert q.release(job.job_id, "w")  # a clean shutdown: no trail entry
    assert len(json.loads(job_row(q, job.job_id)["errors"])) == 5


def test_retry_moves_errors_back_to_pending(q: Queue) -> None:
    make_sweep(q, n=2, arms=("a",), max_attempts=1)
    failed = q.claim("s", "w")
    q.fail(failed.job_id, "w", "boom")
    ok = q.claim("s", "w")
    q.complete(ok.job_id, "w", RESULT)
    assert q.retry("s") == 1
    assert q.counts("s") == {"pending": 1, "running": 0, "done": 1, "error": 0}
    again = q.claim("s", "w")
    assert again.job_id == failed.job_id and again.attempts == 1
    assert q.retry("s") == 0


def test_set_max_attempts_changes_unfinished_jobs_only(q: Queue) -> None:
    make_sweep(q, n=2, arms=("a",))
    done = q.claim("s", "w")
    q.complete(done.job_id, "w", RESULT)
    assert q.set_max_attempts("s", 7) == 1
    assert job_row(q, done.job_id)["max_attempts"] == 3


# -- pauses -----------------------------------------------------------------------------------

def test_a_longer_pause_wins_and_a_shorter_one_never_shortens_it(q: Queue,
                                                                 clock: Clock) -> None:
    make_sweep(q)
    assert q.pause(T0 + 100, "rate_limited", set_by="w1").resume_at == T0 + 100
    active = q.pause(T0 + 10, "rate_limited", set_by="w2")
    assert active.resume_at == T0 + 100 and active.set_by == "w1"
    clock.advance(50)
    assert q.claim("s", "w") is None
    active = q.pause(T0 + 200, "exhausted", message="resets 5am", set_by="w3")
    assert (active.resume_at, active.reason, active.message) == (T0 + 200, "exhausted",
                                                                 "resets 5am")
    clock.now = T0 + 150
    assert q.claim("s", "w") is None
    assert q.active_pause().resume_at == T0 + 200
    clock.now = T0 + 200
    assert q.active_pause() is None
    assert q.claim("s", "w") is not None


def test_an_open_ended_pause_beats_any_end(q: Queue) -> None:
    q.pause(T0 + 100, "rate_limited")
    assert q.pause(None, "by hand").resume_at is None
    assert q.pause(T0 + 1000, "exhausted").resume_at is None


def test_resume_clears_every_active_pause(q: Queue, clock: Clock) -> None:
    make_sweep(q)
    q.pause(T0 + 100, "rate_limited")
    q.pause(None, "by hand")
    assert q.resume() == 2
    assert q.active_pause() is None
    assert q.claim("s", "w") is not None
    assert q.resume() == 0


def test_pausing_does_not_change_job_states(q: Queue) -> None:
    make_sweep(q)
    job = q.claim("s", "w")
    before = q.read("SELECT * FROM jobs ORDER BY job_id")
    q.pause(None, "by hand")
    assert q.read("SELECT * FROM jobs ORDER BY job_id") == before
    assert q.complete(job.job_id, "w", RESULT)  # a running job may still finish


# -- counts and reads -------------------------------------------------------------------------

def test_counts_and_next_available(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=3, arms=("a", "b"), max_attempts=1)
    a = q.claim("s", "w")
    b = q.claim("s", "w", lease_seconds=30)
    c = q.claim("s", "w")
    q.complete(a.job_id, "w", RESULT)
    q.fail(c.job_id, "w", "boom")
    assert q.counts("s") == {"pending": 3, "running": 1, "done": 1, "error": 1}
    assert q.unfinished("s") == 4
    assert q.counts("other") == {"pending": 0, "running": 0, "done": 0, "error": 0}
    assert q.next_available_at("s") == 0  # fresh jobs are available from the start
    q.complete(b.job_id, "w", RESULT)
    summary = {r["arm"]: r for r in q.read("SELECT * FROM arm_summary WHERE sweep = 's'")}
    assert (summary["a"]["done"], summary["a"]["errors"], summary["a"]["pending"]) == (1, 1, 1)
    assert (summary["b"]["done"], summary["b"]["errors"], summary["b"]["pending"],
            summary["b"]["pass_rate"]) == (1, 0, 2, 1.0)


def test_the_call_journal_replays_successful_calls(q: Queue) -> None:
    make_sweep(q, n=1, arms=("a",))
    job = q.claim("s", "w")
    q.record_call(Call(job.job_id, 1, 0, "haiku", "h0", "Answer: A", usage=Usage(5)))
    q.record_call(Call(job.job_id, 1, 1, "sonnet", "h1", None, error_class="transient",
                       error="overloaded"))
    assert [(c.call_index, c.response_text) for c in q.journal(job.job_id)] == \
        [(0, "Answer: A")]


def test_the_claim_uses_the_claimable_index_without_sorting(q: Queue) -> None:
    make_sweep(q, n=500, arms=("a", "b"))
    make_sweep(q, n=500, arms=("a", "b"), name="other")
    for _ in range(50):
        job = q.claim("s", "w")
        q.complete(job.job_id, "w", RESULT)
    q.conn.execute("ANALYZE")
    plan = q.conn.execute("EXPLAIN QUERY PLAN " + claim_sql.CLAIM,
                          {"sweep": "s", "worker": "w", "lease": 60, "now": T0}).fetchall()
    details = [row[-1] for row in plan]
    assert any("jobs_claimable" in d for d in details), details
    assert not any("TEMP B-TREE" in d for d in details), details
    assert not any(d.startswith("SCAN jobs") and "INDEX" not in d for d in details), details


# -- four processes, one queue ----------------------------------------------------------------

WORKER = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from sweepq.queue import Queue, Result
    db_path, sweep, worker, folder = sys.argv[1:5]
    queue = Queue.open(db_path)
    Path(folder, f"ready-{worker}").touch()
    while not Path(folder, "go").exists():
        time.sleep(0.005)
    claims, lost = [], 0
    while True:
        job = queue.claim(sweep, worker, lease_seconds=3600)
        if job is None:
            if queue.unfinished(sweep) == 0:
                break
            time.sleep(0.01)  # the rest are leased to others
            continue
        claims.append([job.job_id, job.attempts])
        if len(claims) == 1:  # hold the first lease until every worker holds one
            Path(folder, f"claimed-{worker}").touch()
            deadline = time.time() + 60
            while len(list(Path(folder).glob("claimed-*"))) < 4 and time.time() < deadline:
                time.sleep(0.005)
        ok = queue.complete(job.job_id, worker, Result(passed=job.job_id % 2 == 0,
                            detail=worker, wall_seconds=0.0, sub_calls=1))
        lost += not ok
    queue.close()
    Path(folder, f"claims-{worker}.json").write_text(json.dumps({"claims": claims,
                                                                 "lost": lost}))
""")


def test_four_processes_complete_every_job_exactly_once(tmp_path: Path, db_path: Path) -> None:
    jobs = 2_000
    queue = Queue(db.connect(db_path))
    queue.enqueue(Sweep(name="s", arms=["a", "b", "c", "d"]), tasks(jobs // 4))
    queue.close()
    workers = [f"w{i}" for i in range(4)]
    procs = [subprocess.Popen([sys.executable, "-c", WORKER, str(db_path), "s", w,
                               str(tmp_path)], cwd=ROOT, stderr=subprocess.PIPE, text=True)
             for w in workers]
    deadline = time.time() + 60
    while not all((tmp_path / f"ready-{w}").exists() for w in workers):
        assert time.time() < deadline, "workers did not start"
        assert all(p.poll() is None for p in procs), [p.stderr.read() for p in procs]
        time.sleep(0.01)
    (tmp_path / "go").touch()
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert "Traceback" not in err, err

    claims: list[tuple[int, str]] = []
    for w in workers:
        data = json.loads((tmp_path / f"claims-{w}.json").read_text())
        assert data["lost"] == 0  # with a one-hour lease no completion is refused
        assert all(attempts == 1 for _, attempts in data["claims"])
        claims += [(job_id, w) for job_id, _ in data["claims"]]
    per_job = Counter(job_id for job_id, _ in claims)
    assert len(per_job) == jobs
    assert max(per_job.values()) == 1  # no job was ever leased twice
    assert {owner for _, owner in claims} == set(workers)  # four leases held at once

    queue = Queue(db.connect(db_path))
    assert queue.counts("s") == {"pending": 0, "running": 0, "done": jobs, "error": 0}
    results = queue.read("SELECT job_id, detail FROM results")
    assert len(results) == jobs
    assert {r["job_id"]: r["detail"] for r in results} == dict(claims)  # the claimer wrote it
    assert queue.read("SELECT max(attempts) AS m FROM jobs")[0]["m"] == 1
    queue.close()


def test_a_pause_that_has_already_ended_is_returned_not_an_error(db_path):
    """retry-after: 0 gives a pause ending now; by the time it is read back it is over."""
    clock = [1000.0]
    queue = Queue(db.connect(db_path), clock=lambda: clock[0])
    pause = queue.pause(1000.0, "rate_limited", "retry-after: 0", set_by="w")
    assert (pause.resume_at, pause.reason, pause.set_by) == (1000.0, "rate_limited", "w")
    assert queue.active_pause() is None


def test_a_scoped_pause_skips_only_the_arms_that_need_it(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=2, arms=("claude", "openai-judged"))
    q.note_scope("s", "openai-judged", "openai")
    q.pause(None, "exhausted", "quota", set_by="w1", scope="openai")
    assert q.active_pause() is None                       # nothing queue-wide
    assert q.active_pause("openai").scope == "openai"     # but calls to openai wait
    claimed = [q.claim("s", "w") for _ in range(3)]
    assert [j.arm for j in claimed if j] == ["claude", "claude"] and claimed[2] is None
    assert set(q.held_back("s")) == {"openai-judged"}
    assert q.unfinished_except("s", ["openai-judged"]) == 2   # the two claimed, running
    q.resume()
    assert q.claim("s", "w").arm == "openai-judged"


def test_a_scoped_pause_with_an_end_lifts_by_itself(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=1, arms=("gemini-judged",))
    q.note_scope("s", "gemini-judged", "gemini")
    q.pause(T0 + 60, "exhausted", set_by="w1", scope="gemini")
    assert q.claim("s", "w") is None
    assert [p.scope for p in q.open_pauses()] == ["gemini"]
    clock.advance(60)
    assert q.claim("s", "w") is not None


def test_an_unscoped_pause_still_stops_every_arm(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=1, arms=("claude", "openai-judged"))
    q.pause(T0 + 30, "exhausted", set_by="w1")
    assert q.claim("s", "w") is None
    assert q.active_pause("openai") is not None


def test_changing_the_model_map_forgets_what_arms_needed(q: Queue, clock: Clock) -> None:
    make_sweep(q, n=1, arms=("judged",))
    q.note_scope("s", "judged", "openai")
    q.pause(None, "exhausted", set_by="w1", scope="openai")
    q.set_models("s", {"judge": "gemini:gemini-2.5-flash"})
    assert q.claim("s", "w").arm == "judged"
