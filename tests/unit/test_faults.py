"""Exhaustion, rate limits, transient faults and fatal errors, end to end.

Real `sweepq work` processes, the real SDK over HTTP to the fake API on
127.0.0.1 (or the stand-in `claude` executable), real SQLite files: at least one such
test per failure class. Where only the counting matters (transient retries), the
failing part runs in this process on `InProcessBackend` without backoff sleeps; the
policy itself is unit-tested in test_worker.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli_env, enqueue, rows, run_cli

from sweepq import arm_registry
from sweepq import models as models_mod
from sweepq import queue as queue_mod
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.inprocess import InProcessBackend
from sweepq.store import jobs as store_jobs
from sweepq.worker import Worker

STAND_IN_CLAUDE = ROOT / "tests" / "bin" / "claude"
PLANTED_KEY = "sk-ant-api03-PLANTEDsecretKEY0123456789abcdef"


def states(db: Path) -> dict[str, int]:
    return dict(rows(db, "SELECT state, count(*) FROM jobs GROUP BY state"))


def test_rate_limit_pauses_every_worker_then_resumes_without_counting(db_path, sample_bbh):
    enqueue(db_path, sample_bbh, n=10)
    with FakeAPI(FakeConfig(latency_ms=20)) as fake:
        fake.script([{"status": 429, "headers": {"retry-after": "2"},
                      "body": {"type": "error", "error": {"type": "rate_limit_error",
                                                          "message": "Number of requests "
                                                          "has exceeded your rate limit"}}}])
        started = time.time()
        done = run_cli("work", "--concurrency", "4", "--quiet", db=db_path, fake=fake)
    assert done.returncode == 0, done.stderr
    assert states(db_path) == {"done": 20}
    [(reason, resume_at, created_at)] = rows(db_path, "SELECT reason, resume_at, created_at"
                                                      " FROM pauses")
    assert reason == "rate_limited"
    # Resume at "now + retry-after", now being when the 429 arrived. The pause row is
    # written after that, by how much depends on the machine's load: other workers may
    # legitimately claim in between (issue 10), so only the upper bound is guaranteed.
    assert created_at >= started
    assert resume_at >= started + 2.0
    assert resume_at - created_at <= 2.0 + 1e-3
    # The released job was not charged an attempt; nobody claimed once the pause row was
    # committed (its created_at is read inside its transaction, so a claim stamped after
    # it committed after it, and would have seen it).
    assert rows(db_path, "SELECT max(attempts) FROM jobs") == [(1,)]
    claims_during = rows(db_path, "SELECT count(*) FROM jobs WHERE started_at > ? AND"
                                  " started_at < ?", (created_at, resume_at))
    assert claims_during == [(0,)]


def test_a_claim_between_a_429_and_its_pause_row_is_stamped_before_the_pause(db_path):
    """The race the test above once lost, made to happen: the pause is asked for, a claim
    takes the lock first. The pause's created_at must still come after that claim."""
    from sweepq.queue import Queue, Sweep

    now = [1000.0]
    queue = Queue.open(str(db_path))
    queue.clock = lambda: now[0]
    queue.enqueue(Sweep(name="s", arms=["a"]), [("x", {}), ("y", {})])
    asked = threading.Event()

    def pause() -> None:
        asked.set()
        queue.pause(now[0] + 2.0, "rate_limited", set_by="w1")

    with queue._lock:                     # a claim of another thread holds the lock
        thread = threading.Thread(target=pause)
        thread.start()
        asked.wait(5)
        time.sleep(0.1)                   # the pause now waits for the lock
        now[0] += 0.5
        assert queue.claim("s", "w2") is not None
    thread.join(5)
    [(started_at, created_at)] = rows(db_path, "SELECT (SELECT max(started_at) FROM jobs),"
                                               " created_at FROM pauses")
    assert started_at <= created_at
    queue.close()


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_exhaustion_window_pauses_all_then_resumes_by_itself(db_path, sample_bbh):
    """A subscription runs out mid-sweep: workers stop within one call, wait, carry on."""
    enqueue(db_path, sample_bbh, n=20)
    window_start = time.time() + 1.5
    window_end = window_start + 3
    env = cli_env(FAKE_CLAUDE_WINDOW=f"{window_start},{window_end}")
    done = run_cli("work", "--backend", "claude-cli", "--claude-bin", str(STAND_IN_CLAUDE),
                   "--concurrency", "3", "--quiet", db=db_path, env=env)
    assert done.returncode == 0, done.stderr
    assert states(db_path) == {"done": 40}
    pauses = rows(db_path, "SELECT reason, resume_at FROM pauses")
    assert pauses and {reason for reason, _ in pauses} == {"exhausted"}
    resume_at = max(at for _, at in pauses)
    assert resume_at == int(window_end) + (window_end > int(window_end))
    # Each of the 3 workers made at most one call into the window before stopping.
    failed_calls = rows(db_path, "SELECT count(*) FROM calls WHERE error_class = 'exhausted'")
    assert 1 <= failed_calls[0][0] <= 3
    # Nothing counted as a failure, nothing recorded as a wrong answer.
    assert rows(db_path, "SELECT max(attempts), count(*) FILTER (WHERE last_error IS NOT NULL)"
                         " FROM jobs") == [(1, 0)]
    assert rows(db_path, "SELECT count(*) FROM results WHERE detail != 'passed'"
                         " AND detail NOT LIKE 'expected%'") == [(0,)]
    # Work resumed by itself at the reset time, and nothing was claimed while paused (how
    # soon after the reset is a timing goal, for bench/, not here).
    [(created_at,)] = rows(db_path, "SELECT min(created_at) FROM pauses")
    [(during, after)] = rows(db_path, "SELECT count(*) FILTER (WHERE started_at > ? AND"
                                      " started_at < ?), count(*) FILTER (WHERE started_at"
                                      " >= ?) FROM jobs", (created_at, resume_at, resume_at))
    assert during == 0 and after > 0


def test_credit_exhausted_exits_75_and_resume_carries_on(db_path, sample_bbh):
    enqueue(db_path, sample_bbh, n=3)
    with FakeAPI(FakeConfig(credit_exhausted=True)) as fake:
        done = run_cli("work", "--quiet", db=db_path, fake=fake)
    assert done.returncode == 75
    assert "credit balance" in done.stderr.lower() and "sweepq resume" in done.stderr
    assert "Traceback" not in done.stderr
    assert states(db_path) == {"pending": 6}
    assert rows(db_path, "SELECT max(attempts) FROM jobs") == [(0,)]
    status = json.loads(run_cli("status", "--json", db=db_path, check=True).stdout)
    assert status["pause"]["reason"] == "exhausted" and status["pause"]["resume_at"] is None
    run_cli("resume", db=db_path, check=True)
    with FakeAPI() as fake:
        done = run_cli("work", "--quiet", db=db_path, fake=fake)
    assert done.returncode == 0, done.stderr
    assert states(db_path) == {"done": 6}


def test_max_wait_exits_75_instead_of_waiting(db_path, sample_bbh):
    enqueue(db_path, sample_bbh, n=2)
    run_cli("pause", "--for", "1h", "--reason", "quota", db=db_path, check=True)
    with FakeAPI() as fake:
        done = run_cli("work", "--max-wait", "10m", "--quiet", db=db_path, fake=fake)
    assert done.returncode == 75                   # back at once: the pause outlasts 10m
    assert "max-wait" in done.stderr
    assert fake.stats()["requests"] == 0


def _error_every_job_in_process(db: Path, monkeypatch) -> InProcessBackend:
    """Work sweep `s` in this process against a fake failing every call with a 500,
    without the backoff sleeps (the retry counts are the point, not the waiting)."""
    monkeypatch.setattr(models_mod, "_transient_wait", lambda state: 0.0)
    monkeypatch.setattr(store_jobs, "BACKOFF_BASE_SECONDS", 0.01)
    backend = InProcessBackend(FakeConfig(faults={500: 1.0}))
    queue = queue_mod.Queue.open(str(db))
    try:
        sweep = queue.sweep("s")
        outcome = Worker(queue, sweep, arm_registry.registry(), backend).run()
    finally:
        queue.close()
    assert outcome.exit_code == 0, outcome
    return backend


def test_transient_failures_back_off_then_error_and_retry_requeues(db_path, sample_bbh,
                                                                   monkeypatch):
    enqueue(db_path, sample_bbh, "--max-attempts", "2", n=1)
    backend = _error_every_job_in_process(db_path, monkeypatch)
    # Each attempt retried inside itself (tenacity) before counting.
    assert backend.stats()["faults"]["500"] == 2 * 2 * models_mod.TRANSIENT_TRIES
    assert states(db_path) == {"error": 2}
    [(errors,)] = rows(db_path, "SELECT errors FROM jobs LIMIT 1")
    trail = json.loads(errors)
    assert [entry["attempt"] for entry in trail] == [1, 2]
    assert all(entry["kind"] == "transient" for entry in trail)
    # An error is never a result, and never exported unless asked.
    assert rows(db_path, "SELECT count(*) FROM results") == [(0,)]
    exported = run_cli("export", "-", db=db_path, check=True).stdout.splitlines()
    assert len(exported) == 1  # the _meta line alone
    with_errors = run_cli("export", "--include-errors", "-", db=db_path,
                          check=True).stdout.splitlines()
    assert len(with_errors) == 3
    assert json.loads(with_errors[1])["passed"] is False
    assert "500" in json.loads(with_errors[1])["detail"] or \
        "Internal" in json.loads(with_errors[1])["detail"]
    run_cli("retry", db=db_path, check=True)
    with FakeAPI() as fake:
        assert run_cli("work", "--quiet", db=db_path, fake=fake).returncode == 0
    assert states(db_path) == {"done": 2}


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_bad_api_key_stops_every_worker_loudly(db_path, sample_bbh):
    enqueue(db_path, sample_bbh, n=20)
    with FakeAPI(FakeConfig(valid_api_keys={"sk-ant-the-right-key"}, latency_ms=50)) as fake:
        env = cli_env(fake, ANTHROPIC_API_KEY=PLANTED_KEY)
        argv = [sys.executable, "-m", "sweepq", "--db", str(db_path), "work", "--quiet",
                "--concurrency", "4"]
        procs = [subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env=env, cwd=ROOT) for _ in range(2)]
        outputs = [p.communicate(timeout=60) for p in procs]
        # Stopped at the first refusal, not retried: at most one call per thread went out.
        assert fake.stats()["requests"] <= 2 * 4
    for proc, (out, err) in zip(procs, outputs, strict=True):
        assert proc.returncode != 0
        assert "ANTHROPIC_API_KEY" in err, err
        assert "Traceback" not in err
        assert PLANTED_KEY not in out + err
    assert states(db_path) == {"pending": 40}
    assert rows(db_path, "SELECT max(attempts) FROM jobs") == [(0,)]


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_api_key_never_reaches_database_exports_or_output(db_path, sample_bbh, tmp_path):
    enqueue(db_path, sample_bbh, n=15, arms="haiku-only,echo-judge")
    config = FakeConfig(faults={529: 0.1, 500: 0.05, 429: 0.05}, retry_after=0.2, seed=3)
    with FakeAPI(config) as fake:
        env = cli_env(fake, ANTHROPIC_API_KEY=PLANTED_KEY)
        done = run_cli("work", "--quiet", db=db_path, env=env)
    assert done.returncode == 0, done.stderr
    with FakeAPI(FakeConfig(valid_api_keys={"other"})) as fake:  # a 401 for the message path
        run_cli("enqueue", "--sweep", "t", "--subtasks", "web_of_lies", "--n-per-subtask",
                "1", "--arms", "haiku-only", "--dataset", str(sample_bbh), db=db_path)
        bad = run_cli("work", "--sweep", "t", "--quiet", db=db_path,
                      env=cli_env(fake, ANTHROPIC_API_KEY=PLANTED_KEY))
    export = tmp_path / "out.jsonl"
    run_cli("export", "--sweep", "s", "--include-errors", str(export), db=db_path, check=True)
    status = run_cli("status", "--sweep", "s", "--json", db=db_path, check=True)
    haystacks = [done.stdout, done.stderr, bad.stdout, bad.stderr, status.stdout,
                 export.read_text()]
    for path in db_path.parent.glob(db_path.name + "*"):
        haystacks.append(path.read_bytes().decode("latin-1"))
    assert all(PLANTED_KEY not in text and "PLANTEDsecret" not in text for text in haystacks)


def test_a_job_whose_worker_dies_every_time_ends_in_error(db_path, sample_bbh):
    """Reclaimed after expired leases beyond max_attempts: error, not retried forever."""
    from sweepq.queue import Queue

    enqueue(db_path, sample_bbh, "--max-attempts", "1", n=1)
    queue = Queue.open(str(db_path))
    dead = queue.claim("s", "dead-worker", lease_seconds=0.01)
    queue.close()
    assert dead is not None and dead.attempts == 1
    time.sleep(0.05)
    with FakeAPI() as fake:
        done = run_cli("work", "--quiet", db=db_path, fake=fake)
    assert done.returncode == 3, done.stderr          # nothing left, one job in error
    assert "1 job ended in error" in done.stderr and "sweepq retry" in done.stderr
    assert states(db_path) == {"done": 1, "error": 1}
    [(last_error,)] = rows(db_path, "SELECT last_error FROM jobs WHERE state = 'error'")
    assert "worker died" in last_error
    assert rows(db_path, "SELECT count(*) FROM results JOIN jobs USING (job_id)"
                         " WHERE jobs.job_id = ?", (dead.job_id,)) == [(0,)]
