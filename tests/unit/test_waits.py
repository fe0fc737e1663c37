"""Waits are visible (issue 18, item 2): a pause, batches out and other workers' leases are
said with their reason, their end and what to do, by `work`'s live display and by `status`;
`status` shows the latest errors per arm."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import run_cli, try_enqueue

from sweepq import report, waits
from sweepq.progress import Progress
from sweepq.queue import Queue


@pytest.fixture
def sweep_db(tmp_path: Path, sample_bbh: Path) -> Path:
    db = tmp_path / "a.db"
    done = try_enqueue(db, sample_bbh, arms="haiku-only,sonnet-only", n="3")
    assert done.returncode == 0, done.stderr
    return db


def test_status_says_how_long_a_pause_lasts_and_what_to_do(sweep_db: Path) -> None:
    run_cli("pause", "--for", "2h", "--reason", "weekly limit", db=sweep_db, check=True)
    out = run_cli("status", db=sweep_db, check=True).stdout
    line = next(line for line in out.splitlines() if "paused (weekly limit)" in line)
    assert re.search(r"until \S+ \((1h59m\d\ds|2h00m) left\)", line), line
    assert "goes on by itself" in line and "`sweepq resume` to go on now" in line


def test_a_pause_with_no_end_says_to_fix_the_cause(sweep_db: Path) -> None:
    run_cli("pause", "--reason", "credit", db=sweep_db, check=True)
    out = run_cli("status", db=sweep_db, check=True).stdout
    assert "paused (credit) until `sweepq resume` · fix the cause, then `sweepq resume`" in out


def test_work_display_shows_the_pause_under_the_progress_line(sweep_db: Path) -> None:
    queue = Queue.open(str(sweep_db))
    queue.pause(queue.clock() + 600, "exhausted", "You've hit your limit", set_by="worker")
    text = Progress(queue, queue.resolve_sweep("s"), enabled=False, own="me").text()
    first, *waiting = text.splitlines()
    assert first.startswith("s ") and "0/6" in first
    assert len(waiting) == 1 and "paused (exhausted) until" in waiting[0]
    assert "You've hit your limit" in waiting[0] and "left)" in waiting[0]
    queue.close()


def test_leases_of_other_workers_are_waited_out_with_their_end(sweep_db: Path) -> None:
    """A worker that was SIGKILLed leaves its jobs running under its lease: a live worker
    of another process says how many, until when, and why."""
    queue = Queue.open(str(sweep_db))
    dead = [queue.claim("s", "host:999:0", lease_seconds=90) for _ in range(2)]
    mine = queue.claim("s", "host:1:0", lease_seconds=90)
    assert all(dead) and mine is not None
    held = waits.leases(queue, "s", own="host:1")
    assert [(w["process"], w["jobs"]) for w in held] == [("host:999", 2)]
    expiries = [r["lease_expires_at"] for r in queue.read(
        "SELECT lease_expires_at FROM jobs WHERE lease_owner = 'host:999:0'")]
    assert held[0]["taken_back_at"] == max(expiries)
    assert sum(w["jobs"] for w in waits.leases(queue, "s")) == 3   # status: every holder
    text = Progress(queue, queue.resolve_sweep("s"), enabled=False,
                    own="host:1").text()
    line = next(line for line in text.splitlines() if "leased" in line)
    assert "2 jobs leased by no worker of this process" in line
    assert "a killed `sweepq work` holds them until then" in line
    assert re.search(r"until \S+ \((1m[23]\ds–)?1m[23]\ds\)", line), line
    queue.close()
    out = run_cli("status", db=sweep_db, check=True).stdout
    assert "3 jobs leased by a worker" in out


def test_batches_out_are_counted_with_requests_done_and_age() -> None:
    rows = [{"requests": 100, "succeeded": 40, "errored": 2, "canceled": 0, "expired": 0,
             "created_at": 1000.0},
            {"requests": 50, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0,
             "created_at": 1500.0}]
    line = waits.batch_line(rows, now=1725.0)
    assert line.startswith("2 message batches out: 42/150 requests done, oldest 12m05s")
    assert waits.batch_line([], now=0.0) is None


def test_status_lists_the_latest_errors_per_arm(sweep_db: Path) -> None:
    queue = Queue.open(str(sweep_db))
    for _ in range(2):
        job = queue.claim("s", "w", 60)
        queue.fail(job.job_id, "w", f"400 invalid_request_error on {job.task_id}", "fatal",
                   final=True)
    queue.close()
    data = report.status(Queue.open_read_only(sweep_db), Queue.open_read_only(sweep_db)
                         .resolve_sweep("s"))
    assert sorted(e["arm"] for e in data["recent_errors"]) == ["haiku-only", "sonnet-only"]
    out = run_cli("status", db=sweep_db, check=True).stdout
    assert "latest errors" in out
    assert re.search(r"haiku-only\s+bbh/web_of_lies/0\s+after 1 attempts: 400 "
                     r"invalid_request_error on bbh/web_of_lies/0", out), out


def test_work_says_jobs_ended_in_error_once(sweep_db: Path, fake_api) -> None:
    queue = Queue.open(str(sweep_db))
    for _ in range(6):
        job = queue.claim("s", "w", 60)
        queue.fail(job.job_id, "w", "bad request", "fatal", final=True)
    queue.close()
    done = run_cli("work", "-q", db=sweep_db, fake=fake_api)
    assert done.returncode == 3
    both = done.stdout + done.stderr
    assert both.count("see their errors") == 1 and "6 jobs ended in error" in done.stderr
    assert "0 jobs done here" in done.stdout and "6 error" in done.stdout
