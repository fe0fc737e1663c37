"""A worker that stalls past its lease (SIGSTOP) mid-chain pays for nothing more.

Invariant 9 of docs/ARCHITECTURE.md: a call is paid for once. A real `sweepq work`
process is stopped while it holds echo-judge jobs halfway through their chains, a
second worker finishes the sweep, the first is continued: the calls the fake API served
are the calls the results needed plus those the first had in flight at the stop.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from conftest import ROOT, cli_env, run_cli

from sweepq.fake import FakeAPI, FakeConfig

LEASE = "2"


def _worker(db: Path, fake: FakeAPI) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "sweepq", "--db", str(db), "work", "--quiet", "--no-governor",
         "--concurrency", "4", "--lease-seconds", LEASE],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(fake), cwd=ROOT)


def _one(db: Path, sql: str) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql).fetchone()[0]


def _served(fake: FakeAPI) -> int:
    with urllib.request.urlopen(f"{fake.url}/stats", timeout=10) as reply:
        return json.load(reply)["successes"]


def _mid_chain(db: Path) -> bool:
    """A running job has journaled part of its chain (the personas, not yet the judge)."""
    return _one(db, "SELECT count(*) FROM jobs WHERE state = 'running' AND EXISTS"
                    " (SELECT 1 FROM calls WHERE calls.job_id = jobs.job_id)") >= 2


def _stop_off_the_lock(db: Path, proc: subprocess.Popen[str]) -> None:
    """SIGSTOP `proc` at a moment it does not hold SQLite's write lock (else the second
    worker would wait on a lock nobody can release)."""
    while True:
        proc.send_signal(signal.SIGSTOP)
        conn = sqlite3.connect(db, timeout=0.5, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return
        except sqlite3.OperationalError:
            proc.send_signal(signal.SIGCONT)
            time.sleep(0.01)
        finally:
            conn.close()


@pytest.mark.slow
def test_a_worker_stalled_past_its_lease_makes_no_further_calls(db_path, sample_bbh):
    run_cli("enqueue", "--sweep", "stall", "--subtasks", "boolean_expressions",
            "--n-per-subtask", "16", "--arms", "echo-judge", "--dataset", str(sample_bbh),
            db=db_path, check=True)
    with FakeAPI(FakeConfig(latency_ms=300)) as fake:
        first = _worker(db_path, fake)
        deadline = time.monotonic() + 60
        while not _mid_chain(db_path):
            assert first.poll() is None and time.monotonic() < deadline, "never mid-chain"
            time.sleep(0.02)
        # Half the fake's latency after a journal write: the stop lands while calls wait on
        # their replies, not at the instant a thread, past its last lease check, is writing
        # its next request to the socket (no check can close that window: paid as in flight).
        time.sleep(0.15)
        _stop_off_the_lock(db_path, first)
        time.sleep(1.0)                 # the fake answers what was sent before the stop
        in_flight = _served(fake) - _one(db_path, "SELECT count(*) FROM calls")
        held = _one(db_path, "SELECT count(*) FROM jobs WHERE state = 'running'")
        time.sleep(float(LEASE) + 0.5)  # its leases run out while it is stopped

        second = _worker(db_path, fake)
        _, err = second.communicate(timeout=120)
        assert second.returncode == 0, err
        assert _one(db_path, "SELECT count(*) FROM jobs WHERE state = 'done'") == 16

        first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=60)
        assert first.returncode == 0, err
        served = _served(fake)

    needed = _one(db_path, "SELECT sum(sub_calls) FROM results")
    assert held >= 1 and in_flight >= 0
    assert served == needed + in_flight, (served, needed, in_flight)
    # and the journal holds each needed call once: none from the stalled worker's late replies
    assert _one(db_path, "SELECT count(*) FROM calls WHERE error_class IS NULL") == needed
