"""Leases: a dead process's jobs are taken back at once; a worker's own lease is judged on
the monotonic clock and checked in the database before each call.

Issue 23, defect 12: after `kill -9` the dead process's jobs waited the whole lease with
`status` saying `stale_leases: 0` and no word of why; a forward clock step let a second
worker take jobs still in flight.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import run_cli

from sweepq import db
from sweepq import waits as sweepq_waits
from sweepq.fake.inprocess import InProcessBackend
from sweepq.leases import LeaseLost, holder
from sweepq.models import DEFAULT_MODELS
from sweepq.queue import Queue, Sweep
from sweepq.worker import Worker, WorkerConfig

HOST = socket.gethostname()


def _dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _hold(db_path: Path, owner: str, expires_in: float, where: str = "1") -> None:
    with sqlite3.connect(db_path) as conn:
        conn.execute(f"UPDATE jobs SET state = 'running', lease_owner = ?,"
                     f" lease_expires_at = ?, attempts = 1 WHERE {where}",
                     (owner, time.time() + expires_in))


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_jobs_of_a_process_gone_from_this_host_are_taken_back_at_once(db_path, sample_bbh,
                                                                        fake_api):
    run_cli("enqueue", "--sweep", "g", "--subtasks", "web_of_lies", "--n-per-subtask", "3",
            "--arms", "haiku-only", "--dataset", str(sample_bbh), db=db_path, check=True)
    dead = _dead_pid()
    _hold(db_path, f"{HOST}:{dead}:0", 3600)          # killed an hour before its lease ends
    shown = run_cli("status", db=db_path, check=True).stdout
    assert f"3 jobs leased by {HOST}:{dead} (process gone): the next claim takes" in shown
    assert '"stale_leases": 3' in run_cli("status", "--json", db=db_path).stdout
    done = run_cli("work", "--quiet", db=db_path, fake=fake_api, process=True, timeout=60)
    assert done.returncode == 0, done.stderr
    with sqlite3.connect(db_path) as conn:
        assert conn.execute("SELECT group_concat(state), max(attempts) FROM jobs"
                            ).fetchone() == ("done,done,done", 2)   # the dead attempt counts
        assert "is gone: taken back at once" in conn.execute(
            "SELECT errors FROM jobs LIMIT 1").fetchone()[0]


def test_lease_waits_says_whose_leases_and_when_they_are_taken_back(db_path):
    q = Queue(db.connect(db_path))
    q.enqueue(Sweep(name="w", arms=["a"]), [(f"t/{i}", {"p": i}) for i in range(4)])
    dead = _dead_pid()
    _hold(db_path, "elsewhere:77:0", 100, "position = 0")             # another host
    _hold(db_path, f"{HOST}:{dead}:1", 100, "position = 1")           # gone from here
    _hold(db_path, f"{HOST}:{os.getpid()}:0", 100, "position = 2")    # alive here: working
    _hold(db_path, "elsewhere:78:0", -5, "position = 3")              # expired
    waits = q.lease_waits("w")
    by = {w.process: w for w in waits.waits}
    assert set(by) == {"elsewhere:77", f"{HOST}:{dead}", "elsewhere:78"}
    assert by[f"{HOST}:{dead}"].gone is True and holder(f"{HOST}:{dead}:1") == (HOST, dead)
    assert by["elsewhere:77"].gone is None and by["elsewhere:78"].expired == 1
    assert [w.process for w in waits.waits][-1] == "elsewhere:77"   # the last taken back
    assert waits.stale == 2 and waits.jobs == 3
    line = sweepq_waits.lease_line(sweepq_waits.rows(waits), waits.now, here=False)
    waiting, back = line.split(" · ")
    assert waiting.startswith("1 job leased by a worker until") and "(1m" in waiting, line
    assert back.startswith(f"2 jobs leased by {HOST}:{dead} (process gone), elsewhere:78 (leases"
                           " ran out)"), line
    q.close()


@pytest.fixture
def two_workers(db_path, sample_bbh):
    """A job claimed by worker A (lease 30 s) on a queue whose wall clock a test moves."""
    from sweepq.bbh import load_tasks

    now = [time.time()]
    queue = Queue(db.connect(db_path), clock=lambda: now[0])
    tasks = load_tasks(["web_of_lies"], 1, 0, str(sample_bbh))
    sweep = Sweep(name="m", arms=["haiku-only"], models=dict(DEFAULT_MODELS))
    queue.enqueue(sweep, [(t.task_id, t.payload()) for t in tasks])
    backend = InProcessBackend()
    worker = Worker(queue, sweep, {}, backend, WorkerConfig(lease_seconds=30,
                                                             worker_name="a:1"))
    sent_at = time.monotonic()
    job = queue.claim("m", "a:1:0", 30)
    worker._in_flight[job.job_id] = "a:1:0"
    worker._sure_until[job.job_id] = sent_at + 30
    yield worker, queue, job, now, backend
    queue.close()


def test_a_forward_clock_step_never_lets_the_worker_call_on_a_lease_taken_from_it(two_workers):
    worker, queue, job, now, backend = two_workers
    now[0] += 100                          # the wall clock jumps past the lease
    assert queue.claim("m", "b:2:0", 30) is not None   # another worker takes the job
    client = worker.client_for(job)        # A's own monotonic view says the lease holds...
    with pytest.raises(LeaseLost):         # ...but the database says it is not A's
        client.call("haiku", "question")
    assert backend.stats()["requests"] == 0
    assert queue.rows("SELECT count(*) FROM calls")[0][0] == 0


def test_a_stalled_worker_renews_its_lease_before_calling_or_stops(two_workers):
    worker, queue, job, now, backend = two_workers
    worker._sure_until[job.job_id] = time.monotonic() - 1     # it slept past its lease
    worker.hold(job.job_id, job.lease_owner)                   # nobody took it: renewed
    assert worker._sure_until[job.job_id] > time.monotonic() + 20
    worker._sure_until[job.job_id] = time.monotonic() - 1
    now[0] += 31
    assert queue.claim("m", "b:2:0", 30) is not None          # this time it was taken
    with pytest.raises(LeaseLost):
        worker.hold(job.job_id, job.lease_owner)
    assert job.job_id in worker._lost                          # the refused renewal marks it


def test_a_refused_heartbeat_stops_the_chain_before_its_next_call(two_workers):
    worker, queue, job, now, _ = two_workers
    now[0] += 31
    queue.claim("m", "b:2:0", 30)
    worker._extend(job.job_id, job.lease_owner)                # the heartbeat thread's call
    assert job.job_id in worker._lost
    with pytest.raises(LeaseLost):
        worker.client_for(job).call("haiku", "question")
