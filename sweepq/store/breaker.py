"""The breaker: one failure signature ending attempts of BREAKER_JOBS different jobs
in a row pauses the queue (table `failure_streak`)."""

from __future__ import annotations

import json
import sqlite3

from .database import Database

BREAKER_JOBS = 5  # different jobs ended by the same failure in a row trip the breaker


class Breaker(Database):
    """Counts failures across processes (the streak is a row)."""

    def _count_failure(self, conn: sqlite3.Connection, job_id: int, signature: str,
                       message: str, now: float) -> bool:
        """The breaker: True when this failure's attempt was handed back uncharged.

        The same signature ending attempts of BREAKER_JOBS different jobs with no
        success in between (any process: the streak is a row) is systemic, not the
        jobs': pause the queue until `sweepq resume` (reason 'unrecognised') and give
        every attempt of the streak back. While that pause stands, the same failure
        arriving from calls already in flight is given back too.
        """
        row = conn.execute("SELECT signature, jobs, tripped_pause FROM failure_streak"
                           " WHERE streak_id = 1").fetchone()
        same = row is not None and row[0] == signature
        if same and row[2] is not None and conn.execute(
                "SELECT 1 FROM pauses WHERE pause_id = ? AND cleared_at IS NULL",
                (row[2],)).fetchone():
            _restore_attempts(conn, [job_id])
            return True
        jobs = [*(json.loads(row[1]) if same else []), job_id]
        tripped = None
        if len(set(jobs)) >= BREAKER_JOBS:
            tripped = conn.execute(
                "INSERT INTO pauses (resume_at, reason, message, set_by, created_at)"
                " VALUES (NULL, 'unrecognised', ?, 'breaker', ?) RETURNING pause_id",
                (message, now)).fetchone()[0]
            _restore_attempts(conn, jobs)
            jobs = []
        conn.execute(
            "INSERT INTO failure_streak (streak_id, signature, jobs, tripped_pause, updated_at)"
            " VALUES (1, :sig, :jobs, :tripped, :now) ON CONFLICT (streak_id) DO UPDATE SET"
            " signature = :sig, jobs = :jobs, updated_at = :now,"
            " tripped_pause = CASE WHEN :tripped IS NOT NULL THEN :tripped"
            "   WHEN signature = :sig THEN tripped_pause END",
            {"sig": signature, "jobs": json.dumps(jobs), "tripped": tripped, "now": now})
        return tripped is not None


def _restore_attempts(conn: sqlite3.Connection, job_ids: list[int]) -> None:
    """Give back one charged attempt per entry of `job_ids`: a job the breaker sent to
    `error` is pending again, and a pending one claimable at once."""
    for job_id in set(job_ids):
        conn.execute(
            "UPDATE jobs SET attempts = max(attempts - ?, 0),"
            " available_at = CASE WHEN state IN ('pending', 'error') THEN 0"
            "   ELSE available_at END,"
            " finished_at = CASE WHEN state = 'error' THEN NULL ELSE finished_at END,"
            " state = CASE WHEN state = 'error' THEN 'pending' ELSE state END"
            " WHERE job_id = ?", (job_ids.count(job_id), job_id))
