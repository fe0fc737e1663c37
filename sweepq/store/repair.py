"""`sweepq check --repair`: the safe fixes (check.py says what each is for)."""

from __future__ import annotations

from .database import Database
from .results import RESET_TO_PENDING, move_results

# rebuild from (the aggregate is only a cache of this).
RECOUNT_BUCKETS = """
SELECT j.sweep, j.arm, r.passed, r.sub_calls, r.detail = 'unparseable', count(*),
       coalesce(sum(r.cost_usd), 0), count(r.cost_usd),
       min(r.completed_at - coalesce(r.wall_seconds, 0)), max(r.completed_at)
FROM results AS r JOIN jobs AS j USING (job_id)
GROUP BY j.sweep, j.arm, r.passed, r.sub_calls, r.detail = 'unparseable'
"""


class Repair(Database):
    """Fixes made without guessing."""

    def buckets_disagreeing(self) -> list[str]:
        """Sweeps whose result_buckets rows differ from a recount of their results."""
        if not self.has_table("result_buckets"):
            return []
        kept = {tuple(row[:8]) for row in self.rows(
            "SELECT sweep, arm, passed, sub_calls, unparseable, n, round(cost_usd, 9),"
            " cost_usd_rows FROM result_buckets")}
        recount = {(*row[:6], round(row[6], 9), row[7]) for row in self.rows(RECOUNT_BUCKETS)}
        return sorted({row[0] for row in kept ^ recount})

    def repair(self) -> list[str]:
        """Fix what can be fixed without guessing, in one transaction; one line per kind of fix."""
        now, done = self.clock(), []
        with self.write() as conn:
            stray = "SELECT job_id FROM jobs WHERE state != 'done'"
            n = move_results(conn, stray, {}, now, "check --repair")
            if n:
                done.append(f"moved {n} results of jobs not done to results_history")
            for said, sql in _REPAIRS:
                changed = conn.execute(sql, {"now": now}).rowcount
                if changed:
                    done.append(said.format(changed))
            if self.buckets_disagreeing():
                conn.execute("DELETE FROM result_buckets")
                conn.execute("INSERT INTO result_buckets " + RECOUNT_BUCKETS)
                done.append("rebuilt result_buckets from the results")
        return done

# What `check --repair` changes, after results of jobs not done have gone to results_history.
_REPAIRS = [
    ("sent {} done jobs without a result back to pending",
     RESET_TO_PENDING + "state = 'done'"
     " AND NOT EXISTS (SELECT 1 FROM results WHERE results.job_id = jobs.job_id)"),
    ("cleared the leases of {} jobs that are not running",
     "UPDATE jobs SET lease_owner = NULL, lease_expires_at = NULL WHERE state != 'running'"
     " AND (lease_owner IS NOT NULL OR lease_expires_at IS NOT NULL)"),
    ("released {} running jobs whose lease had expired (or was missing)",
     "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL,"
     " attempts = max(attempts - 1, 0) WHERE state = 'running'"
     " AND (lease_expires_at IS NULL OR lease_owner IS NULL OR lease_expires_at <= :now)"),
]
