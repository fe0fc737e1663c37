"""The claim statements and the pause conditions they share with the readers.

Each condition is written once here, as a function of the table alias it reads
(`p.` inside a join, nothing on the pauses table alone), and both claims are
built by one function from named parts, so the live claim and the batch
runner's claim cannot drift apart.
"""

from __future__ import annotations

from .. import bounds


def open_pause(alias: str = "") -> str:
    """A pause in force at :now: not cleared, and with no end or an end still ahead."""
    return (f"{alias}cleared_at IS NULL"
            f" AND ({alias}resume_at IS NULL OR {alias}resume_at > :now)")


def sane_pause(alias: str = "") -> str:
    """A pause whose times are possible: an end within a year of its start, a start that
    is a time (a hand edit can store Inf or 1e300 in the STRICT REAL columns). Others are
    reported and ignored (`Queue.bad_pauses`)."""
    return (f"({alias}created_at BETWEEN 0 AND 1e11 AND ({alias}resume_at IS NULL"
            f" OR {alias}resume_at BETWEEN {alias}created_at - 60"
            f" AND {alias}created_at + {bounds.MAX_DURATION_SECONDS:.0f}))")


# The arms of :sweep held back by an open scoped pause (a provider that ran out).
BLOCKED_ARMS = ("SELECT a.arm FROM arm_scopes AS a JOIN pauses AS p ON p.scope = a.scope"
                f" WHERE a.sweep = :sweep AND {open_pause('p.')}")

# Any scoped pause open at all: one probe of the open pauses' index, so that the common
# case (none) never builds the list of BLOCKED_ARMS (SQLite builds a NOT IN list on
# first use, once per statement: ~7 us of each claim's ~40 when it is always built).
ANY_SCOPED = f"SELECT 1 FROM pauses WHERE scope IS NOT NULL AND {open_pause()}"

# The candidate job has a request in a batch not yet ingested (prepared or submitted):
# paid for already, so a live worker leaves it to the batch runner even after the
# runner's leases lapse (it stopped at --max-wait, or was killed). Correlated on the
# job, so a sweep that never used batches pays one empty index probe per candidate.
IN_OPEN_BATCH = """SELECT 1 FROM batch_requests AS r JOIN batches AS b USING (batch_key)
    WHERE r.job_id = jobs.job_id AND r.outcome IS NULL
      AND b.state IN ('prepared', 'submitted')"""


def _claim(pick: str, limit: str, also: str) -> str:
    """The claim: the lowest-position jobs that are pending and available, or running
    with an expired lease, become running with a lease and `attempts + 1`, unless a
    queue-wide pause is open or their arm is held back. `pick` is `=` for one job or
    `IN` for several, `limit` how many, `also` a further condition on the candidates."""
    return f"""
UPDATE jobs
SET state = 'running', lease_owner = :worker, lease_expires_at = :now + :lease,
    attempts = attempts + 1, started_at = :now
WHERE job_id {pick} (
    SELECT job_id FROM jobs INDEXED BY jobs_claimable
    WHERE sweep = :sweep AND state IN ('pending', 'running')
      AND ((state = 'pending' AND available_at <= :now)
           OR (state = 'running' AND lease_expires_at <= :now))
      AND (NOT EXISTS ({ANY_SCOPED}) OR arm NOT IN ({BLOCKED_ARMS})){also}
    ORDER BY position
    LIMIT {limit})
  AND NOT EXISTS (SELECT 1 FROM pauses WHERE scope IS NULL AND {open_pause()})
RETURNING job_id, sweep, task_id, arm, task, attempts, max_attempts, lease_owner
"""


# A live worker's claim: one job, never one of an open batch.
CLAIM = _claim("=", "1", f"\n      AND NOT EXISTS ({IN_OPEN_BATCH})")

# The same claim for up to :limit jobs at once, for the batch runner, which takes a
# whole round: one statement instead of one per job, each of which would walk the index
# past every job already running before it reached a pending one. It takes the jobs of
# open batches too: they are its own to poll and ingest.
CLAIM_MANY = _claim("IN", ":limit", "")
