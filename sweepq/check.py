"""`sweepq check`: is the database still the truth? SQLite's own checks, then the queue's.

People edit the database with sqlite3 while sweeps run; this says what such an
edit (or a crash, or a full disk) left inconsistent, one line per violation,
and `repair()` fixes what can be fixed without guessing:

- result_buckets rebuilt from the results (an aggregate is only a cache);
- a done job without a result goes back to pending with fresh attempts;
- a result of a job that is not done moves to results_history;
- a lease left on a job that is not running is cleared, and a running job whose
  lease expired (its worker is gone) is released back to pending.

The rest (a damaged file, broken foreign keys, attempts out of bounds, a pause
with impossible times) is reported with what to do, never changed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from . import bounds
from .queue import KEEP_RESULTS, Queue

INTEGRITY_LINES = 20        # the most integrity_check lines shown


@dataclass(frozen=True)
class Violation:
    """One broken invariant; `repairable` when `check --repair` fixes it."""

    kind: str
    message: str
    repairable: bool = False


def check(queue: Queue) -> list[Violation]:
    """Every violation found, SQLite's first (a damaged file makes the rest moot)."""
    found = _sqlite_checks(queue)
    if any(v.kind == "integrity" for v in found):
        return found
    for one in (_results, _leases, _attempts, _pauses, _aggregates):
        found += one(queue)
    return found


def _sqlite_checks(queue: Queue) -> list[Violation]:
    rows = queue.conn.execute(f"PRAGMA integrity_check({INTEGRITY_LINES})").fetchall()
    found = [Violation("integrity", f"integrity_check: {row[0]}")
             for row in rows if row[0] != "ok"]
    for table, rowid, parent, _ in queue.conn.execute("PRAGMA foreign_key_check"):
        found.append(Violation("foreign_key", f"{table} row {rowid} refers to a missing "
                                              f"{parent} row"))
    return found


def _job(row: dict) -> str:
    return f"job {row['job_id']} ({row['sweep']} {row['task_id']} {row['arm']})"


def _results(queue: Queue) -> list[Violation]:
    missing = queue.read("SELECT job_id, sweep, task_id, arm FROM jobs AS j WHERE state = 'done'"
                         " AND NOT EXISTS (SELECT 1 FROM results WHERE job_id = j.job_id)")
    stray = queue.read("SELECT j.job_id, sweep, task_id, arm, state FROM results"
                       " JOIN jobs AS j USING (job_id) WHERE j.state != 'done'")
    return ([Violation("result_missing", f"{_job(r)}: done without a result "
                       "(--repair: back to pending)", True) for r in missing]
            + [Violation("result_stray", f"{_job(r)}: {r['state']} but has a result "
                         "(--repair: result to results_history)", True) for r in stray])


def _leases(queue: Queue) -> list[Violation]:
    now = queue.clock()
    held = queue.read("SELECT job_id, sweep, task_id, arm, state FROM jobs WHERE state != 'running'"
                      " AND (lease_owner IS NOT NULL OR lease_expires_at IS NOT NULL)")
    unheld = queue.read("SELECT job_id, sweep, task_id, arm FROM jobs WHERE state = 'running'"
                        " AND (lease_owner IS NULL OR lease_expires_at IS NULL)")
    orphans = queue.read("SELECT job_id, sweep, task_id, arm, lease_owner FROM jobs"
                         " WHERE state = 'running' AND lease_expires_at <= ?", (now,))
    return ([Violation("lease", f"{_job(r)}: {r['state']} but holds a lease "
                       "(--repair: lease cleared)", True) for r in held]
            + [Violation("lease", f"{_job(r)}: running without a lease "
                         "(--repair: back to pending)", True) for r in unheld]
            + [Violation("orphan_lease", f"{_job(r)}: lease of {r['lease_owner']} expired, "
                         "its worker is gone (--repair: back to pending)", True)
               for r in orphans])


def _attempts(queue: Queue) -> list[Violation]:
    rows = queue.read(
        "SELECT job_id, sweep, task_id, arm, attempts, max_attempts FROM jobs"
        " WHERE max_attempts NOT BETWEEN 1 AND :most OR attempts < 0"
        " OR attempts > max_attempts + 1", {"most": bounds.MAX_ATTEMPTS})
    return [Violation("attempts", f"{_job(r)}: attempts {r['attempts']} of max "
                      f"{r['max_attempts']} out of bounds: fix it by hand in sqlite3")
            for r in rows]


def _pauses(queue: Queue) -> list[Violation]:
    now, found = queue.clock(), []
    for p in queue.read("SELECT pause_id, resume_at, created_at, cleared_at FROM pauses"):
        times = [t for t in (p["resume_at"], p["created_at"], p["cleared_at"]) if t is not None]
        bad = (any(not isinstance(t, int | float) or not math.isfinite(t) for t in times)
               or p["created_at"] > now + 60
               or (p["resume_at"] is not None and not p["created_at"] - 60 <= p["resume_at"]
                   <= p["created_at"] + bounds.MAX_DURATION_SECONDS))
        if bad:
            found.append(Violation("pause", f"pause {p['pause_id']}: impossible times (resume_at "
                                   f"{p['resume_at']}, created_at {p['created_at']}): "
                                   "`sweepq resume` clears it"))
    return found


_RECOUNT = """
SELECT j.sweep, j.arm, r.passed, r.sub_calls, r.detail = 'unparseable', count(*),
       coalesce(sum(r.cost_usd), 0), count(r.cost_usd),
       min(r.completed_at - coalesce(r.wall_seconds, 0)), max(r.completed_at)
FROM results AS r JOIN jobs AS j USING (job_id)
GROUP BY j.sweep, j.arm, r.passed, r.sub_calls, r.detail = 'unparseable'
"""


def _aggregates(queue: Queue) -> list[Violation]:
    if not queue.read("SELECT 1 AS x FROM sqlite_master WHERE name = 'result_buckets'"):
        return []
    kept = {tuple(row[:8]) for row in queue.conn.execute(
        "SELECT sweep, arm, passed, sub_calls, unparseable, n, round(cost_usd, 9), cost_usd_rows"
        " FROM result_buckets")}
    recount = {(*row[:6], round(row[6], 9), row[7]) for row in queue.conn.execute(_RECOUNT)}
    if kept == recount:
        return []
    sweeps = sorted({row[0] for row in kept ^ recount})
    return [Violation("aggregate", f"result_buckets of sweep {name} disagrees with a recount "
                      "of its results (--repair: rebuilt)", True) for name in sweeps]


def repair(queue: Queue) -> list[str]:
    """Fix the repairable violations in one transaction; return one line per kind of fix."""
    now, done = queue.clock(), []
    with queue.write() as conn:
        stray = "SELECT job_id FROM jobs WHERE state != 'done'"
        n = conn.execute(f"SELECT count(*) FROM results WHERE job_id IN ({stray})").fetchone()[0]
        if n:
            conn.execute(KEEP_RESULTS.format(jobs=stray), {"now": now, "why": "check --repair"})
            conn.execute(f"DELETE FROM results WHERE job_id IN ({stray})")
            done.append(f"moved {n} results of jobs not done to results_history")
        fixes = [
            ("sent {} done jobs without a result back to pending",
             "UPDATE jobs SET state = 'pending', attempts = 0, available_at = 0,"
             " finished_at = NULL WHERE state = 'done'"
             " AND NOT EXISTS (SELECT 1 FROM results WHERE results.job_id = jobs.job_id)"),
            ("cleared the leases of {} jobs that are not running",
             "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE state != 'running'"
             " AND (lease_owner IS NOT NULL OR lease_expires_at IS NOT NULL)"),
            ("released {} running jobs whose lease had expired (or was missing)",
             "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL,"
             " attempts = max(attempts - 1, 0) WHERE state = 'running'"
             " AND (lease_expires_at IS NULL OR lease_owner IS NULL OR lease_expires_at <= :now)"),
        ]
        for said, sql in fixes:
            changed = conn.execute(sql, {"now": now}).rowcount
            if changed:
                done.append(said.format(changed))
        if _aggregates(queue):
            conn.execute("DELETE FROM result_buckets")
            conn.execute("INSERT INTO result_buckets " + _RECOUNT)
            done.append("rebuilt result_buckets from the results")
    return done
