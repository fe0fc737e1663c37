"""The claim statements and the conditions they share with the readers."""

from __future__ import annotations

from .. import bounds

# A pause whose times are possible: an end within a year of its start, a start that is a
# time (a hand edit can store Inf or 1e300 in the STRICT REAL columns). Others are reported
# and ignored (`Queue.bad_pauses`).
_SANE_PAUSE = (f"(created_at BETWEEN 0 AND 1e11 AND (resume_at IS NULL OR resume_at BETWEEN"
               f" created_at - 60 AND created_at + {bounds.MAX_DURATION_SECONDS:.0f}))")

_SANE_PAUSE_P = _SANE_PAUSE.replace("resume_at", "p.resume_at").replace("created_at",
                                                                      "p.created_at")

# The arms of :sweep held back by an open scoped pause (a provider that ran out).
_BLOCKED_ARMS = """SELECT a.arm FROM arm_scopes AS a JOIN pauses AS p ON p.scope = a.scope
        WHERE a.sweep = :sweep AND p.cleared_at IS NULL
          AND (p.resume_at IS NULL OR p.resume_at > :now)"""

# The candidate job has a request in a batch not yet ingested (prepared or submitted):
# paid for already, so a live worker leaves it to the batch runner even after the
# runner's leases lapse (it stopped at --max-wait, or was killed). Correlated on the
# job, so a sweep that never used batches pays one empty index probe per candidate.
_IN_OPEN_BATCH = """SELECT 1 FROM batch_requests AS r JOIN batches AS b USING (batch_key)
    WHERE r.job_id = jobs.job_id AND r.outcome IS NULL
      AND b.state IN ('prepared', 'submitted')"""

_CLAIM = """
UPDATE jobs
SET state = 'running', lease_owner = :worker, lease_expires_at = :now + :lease,
    attempts = attempts + 1, started_at = :now
WHERE job_id = (
    SELECT job_id FROM jobs INDEXED BY jobs_claimable
    WHERE sweep = :sweep AND state IN ('pending', 'running')
      AND ((state = 'pending' AND available_at <= :now)
           OR (state = 'running' AND lease_expires_at <= :now))
      AND arm NOT IN (""" + _BLOCKED_ARMS + """)
      AND NOT EXISTS (""" + _IN_OPEN_BATCH + """)
    ORDER BY position
    LIMIT 1)
  AND NOT EXISTS (SELECT 1 FROM pauses
                  WHERE cleared_at IS NULL AND scope IS NULL
                    AND (resume_at IS NULL OR resume_at > :now))
RETURNING job_id, sweep, task_id, arm, task, attempts, max_attempts, lease_owner
"""

# The same claim for up to :limit jobs at once, for the batch runner, which takes a
# whole round: one statement instead of one per job, each of which would walk the index
# past every job already running before it reached a pending one. It takes the jobs of
# open batches too: they are its own to poll and ingest.
_CLAIM_MANY = _CLAIM.replace("WHERE job_id = (", "WHERE job_id IN (", 1) \
    .replace("LIMIT 1)", "LIMIT :limit)", 1) \
    .replace("      AND NOT EXISTS (" + _IN_OPEN_BATCH + ")\n", "", 1)
assert _CLAIM_MANY.count(":limit") == 1 and " IN (\n" in _CLAIM_MANY
assert "batch_requests" not in _CLAIM_MANY

# Current results of the jobs {jobs} selects, copied to results_history before they are
