"""Crashes: SIGKILL during commits, and the chaos run that must equal a calm one.

Real processes killed with real signals, real SQLite files, the real SDK over
HTTP to the fake API on 127.0.0.1.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, canonical, cli_env, run_cli

from sweepq.fake import FakeAPI, FakeConfig

CHAOS_ARMS = "echo-judge,echo-lexical,haiku-only,sonnet-only"


def start_worker(db: Path, fake: FakeAPI, *extra: str) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "sweepq", "--db", str(db), "work", "--quiet", *extra]
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=cli_env(fake), cwd=ROOT)


def run_with_kills(db: Path, fake: FakeAPI, kills: int, *extra: str, alongside: bool = True,
                   deadline: float = 900) -> int:
    """A victim worker SIGKILLed `kills` times and restarted, and a steady one that runs
    `alongside` it from the start or joins after the last kill. Returns the kills made.

    The kills are placed by progress, not by the clock: the i-th comes once the sweep
    has done i/(2*kills) of its jobs and the victim holds a lease, so each lands
    mid-sweep with calls in flight on a fast machine as on a slow one. With the steady
    worker joining late, only the victim advances the sweep, so every kill is made
    however slowly it restarts.
    """
    total = _count(db, "SELECT count(*) FROM jobs")
    steady = start_worker(db, fake, *extra) if alongside else None
    victim = start_worker(db, fake, *extra)
    made = 0
    stop_at = time.monotonic() + deadline
    while made < kills and (steady is None or steady.poll() is None) \
            and time.monotonic() < stop_at:
        time.sleep(0.02)
        if victim.poll() is not None:
            victim = start_worker(db, fake, *extra)
        elif _lands_mid_sweep(db, victim.pid, total * made // (2 * kills)):
            victim.send_signal(signal.SIGKILL)
            victim.wait()
            made += 1
            victim = start_worker(db, fake, *extra)
    for proc in (steady or start_worker(db, fake, *extra), victim):
        out, err = proc.communicate(timeout=max(stop_at - time.monotonic(), 5))
        assert proc.returncode == 0, err
    return made


def _lands_mid_sweep(db: Path, pid: int, milestone: int) -> bool:
    """The sweep has passed `milestone` done jobs and worker `pid` holds a lease."""
    return (_count(db, "SELECT count(*) FROM jobs WHERE state = 'done'") >= milestone
            and _count(db, "SELECT count(*) FROM jobs WHERE lease_owner LIKE ?",
                       f"%:{pid}:%") > 0)


def _count(db: Path, sql: str, *params: object) -> int:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute(sql, params).fetchone()[0]


def consistency(db: Path) -> dict[str, object]:
    with sqlite3.connect(db) as conn:
        return {
            "integrity": conn.execute("PRAGMA integrity_check").fetchone()[0],
            "result_without_done_job": conn.execute(
                "SELECT count(*) FROM results JOIN jobs USING (job_id)"
                " WHERE jobs.state != 'done'").fetchone()[0],
            "done_job_without_result": conn.execute(
                "SELECT count(*) FROM jobs LEFT JOIN results USING (job_id)"
                " WHERE jobs.state = 'done' AND results.job_id IS NULL").fetchone()[0],
            "states": dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state")),
            "results": conn.execute("SELECT count(*), count(DISTINCT job_id) FROM results")
            .fetchone(),
        }


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_sigkill_during_commits_leaves_a_consistent_database(db_path, sample_bbh):
    """Three kills on 200 jobs (each kill a process start and a lease to wait out: 32 s
    with five on 400); the chaos run below makes five on 2,000 in `make test-slow`."""
    run_cli("enqueue", "--sweep", "k", "--subtasks", "boolean_expressions,web_of_lies",
            "--n-per-subtask", "25", "--arms", "haiku-only,sonnet-only,echo-lexical,echo-judge",
            "--dataset", str(sample_bbh), db=db_path, check=True)
    with FakeAPI(FakeConfig(latency_ms=0)) as fake:
        kills = run_with_kills(db_path, fake, 3, "--concurrency", "8",
                               "--lease-seconds", "1", alongside=False)
    assert kills == 3
    report = consistency(db_path)
    assert report == {"integrity": "ok", "result_without_done_job": 0,
                      "done_job_without_result": 0, "states": {"done": 200},
                      "results": (200, 200)}


@pytest.mark.slow
def test_chaos_equals_calm(tmp_path, sample_bbh):
    """2,000 jobs through faults, an exhaustion window and five SIGKILLs = a calm run."""
    from sweepq.sample import write_sample

    bbh = write_sample(tmp_path / "bbh-chaos", n=250)
    enqueue = ("enqueue", "--sweep", "chaos", "--subtasks", "boolean_expressions,web_of_lies",
               "--n-per-subtask", "250", "--arms", CHAOS_ARMS, "--dataset", str(bbh),
               "--max-attempts", "10")
    calm_db, chaos_db = tmp_path / "calm.db", tmp_path / "chaos.db"
    for db in (calm_db, chaos_db):
        run_cli(*enqueue, db=db, check=True)

    with FakeAPI(FakeConfig(seed=1)) as fake:
        assert run_cli("work", "--quiet", "--concurrency", "16", db=calm_db, fake=fake,
                       timeout=600).returncode == 0

    config = FakeConfig(seed=1, faults={529: 0.10, 500: 0.05, 429: 0.05}, retry_after=1.0,
                        reset_rate=0.02, exhaust_after=1500, exhaust_for=10.0, latency_ms=5)
    with FakeAPI(config) as fake:
        kills = run_with_kills(chaos_db, fake, 5, "--concurrency", "16",
                               "--lease-seconds", "3")
        stats = fake.stats()

    assert kills == 5
    report = consistency(chaos_db)
    assert report["integrity"] == "ok"
    assert report["states"] == {"done": 2000}, report      # zero error jobs
    assert report["results"] == (2000, 2000)                # every job done exactly once
    assert canonical(chaos_db) == canonical(calm_db)        # only wall_seconds differs

    # Nothing paid twice: every successful call the fake served is in the journal and
    # used by a result, except calls in flight when a worker was killed (served, then
    # lost with the process before they could be journaled).
    with sqlite3.connect(chaos_db) as conn:
        journaled = conn.execute("SELECT count(*) FROM calls WHERE error_class IS NULL"
                                 ).fetchone()[0]
        needed = conn.execute("SELECT sum(sub_calls) FROM results").fetchone()[0]
        pauses = dict(conn.execute("SELECT reason, count(*) FROM pauses GROUP BY reason"))
        refusals = conn.execute("SELECT sum(refusals) FROM governor_models").fetchone()[0]
    lost_in_flight = stats["successes"] - journaled
    assert journaled == needed                  # replay: no call journaled twice
    assert 0 <= lost_in_flight <= kills * 16 * 2, lost_in_flight
    # Exhaustion pauses the queue; a 429 that carries rate-limit headers (as the fake's
    # do) is the governor's to absorb: it corrects the pace, it does not pause.
    assert pauses.get("exhausted", 0) >= 1 and pauses.get("rate_limited", 0) == 0
    assert refusals >= 1
    print(f"\nchaos: served {stats['successes']} successful calls, journaled "
          f"{journaled}, needed {needed}, in flight at kills {lost_in_flight}, "
          f"pauses {pauses}, 429s absorbed by the governor {refusals}")
