"""The job life cycle: claim, heartbeat, complete, fail, release, quarantine, retry."""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from .. import bounds
from ..records import Job, Result
from ..redact import mask, mask_each
from ..storetext import store
from .breaker import Breaker
from .claim_sql import CLAIM, CLAIM_MANY
from .results import RESET_TO_PENDING, insert_result, move_results

BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 300.0

# complete's one UPDATE, which also answers the two questions the rest of the transaction
# asks (whether the job already has a result to move to results_history, and whether a
# failure streak is open to end), so the common case is BEGIN, this, the INSERT, COMMIT.
COMPLETE = """UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL,
    finished_at = ?, last_error = NULL
WHERE job_id = ? AND state = 'running' AND lease_owner = ?
RETURNING EXISTS (SELECT 1 FROM results WHERE job_id = jobs.job_id),
    EXISTS (SELECT 1 FROM failure_streak WHERE jobs != '[]')"""


class Jobs(Breaker):
    """Each state change of a job, one short transaction."""

    def claim(self, sweep: str, worker: str, lease_seconds: float = 120.0) -> Job | None:
        """Lease the lowest-position claimable job of the sweep, or None.

        Claimable: pending and available, or running with an expired lease.
        Nothing is claimable while a pause is active.
        """
        with self.write() as conn:
            row = conn.execute(CLAIM, {"sweep": sweep, "worker": worker,
                                        "lease": lease_seconds, "now": self.clock()}).fetchone()
        return None if row is None else _job(row)

    def claim_many(self, sweep: str, worker: str, lease_seconds: float, limit: int
                   ) -> list[Job]:
        """Lease up to `limit` claimable jobs at once, lowest positions first (in no
        particular order in the list): `claim`'s rule, one statement, one transaction."""
        with self.write() as conn:
            rows = conn.execute(CLAIM_MANY, {"sweep": sweep, "worker": worker,
                                              "lease": lease_seconds, "now": self.clock(),
                                              "limit": limit}).fetchall()
        return [_job(row) for row in rows]

    def heartbeat(self, job_id: int, worker: str, lease_seconds: float = 120.0) -> bool:
        """Extend our lease; False when the job is no longer ours."""
        with self.write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET lease_expires_at = ? "
                "WHERE job_id = ? AND state = 'running' AND lease_owner = ?",
                (self.clock() + lease_seconds, job_id, worker))
            return cursor.rowcount == 1

    def complete(self, job_id: int, worker: str, result: Result) -> bool:
        """Write the result and mark the job done, only if we still hold its lease.

        A worker whose lease was taken over must not write: returns False and
        changes nothing. Holding the lease after it expired, while nobody else
        claimed the job, still counts as holding it. A result already there (a
        row someone wrote by hand, or one left from before migration 4) is
        moved to results_history in the same transaction: a job done again is
        a result replaced, never a UNIQUE failure that kills the worker.
        """
        now = self.clock()
        detail, output = mask_each(result.detail, result.output)
        if detail != result.detail or output != result.output:
            result = replace(result, detail=detail, output=output)
        with self.write() as conn:
            row = conn.execute(COMPLETE, (now, job_id, worker)).fetchone()
            if row is None:
                return False
            had_result, in_streak = row
            if had_result:
                move_results(conn, ":job", {"job": job_id}, now, "done again")
            insert_result(conn, job_id, result, now)
            if in_streak:
                # A success ends any streak of failures (the breaker counts only unbroken ones).
                conn.execute("UPDATE failure_streak SET jobs = '[]', updated_at = ?"
                             " WHERE jobs != '[]'", (now,))
            return True

    def fail(self, job_id: int, worker: str, message: str, kind: str = "transient",
             final: bool = False, signature: str | None = None) -> str | None:
        """Count a failed attempt: back to pending with backoff, or `error` when spent.

        `final` sends the job straight to `error` (a fatal error for this job).
        With a `signature` (a model-call failure), the breaker counts it in the same
        transaction: see `_count_failure`. Returns the job's state afterwards, or None
        when the job was no longer ours.
        """
        now, message = self.clock(), store(mask(message))
        with self.write() as conn:
            row = conn.execute(
                "SELECT attempts, max_attempts FROM jobs"
                " WHERE job_id = ? AND state = 'running' AND lease_owner = ?",
                (job_id, worker)).fetchone()
            if row is None:
                return None
            attempts, max_attempts = row
            state = "error" if final or attempts >= max_attempts else "pending"
            move_results(conn, ":job", {"job": job_id}, now, "job left done")
            conn.execute(
                "UPDATE jobs SET state = ?, lease_owner = NULL, lease_expires_at = NULL,"
                " available_at = ?, finished_at = ?, last_error = ?,"
                " errors = json_insert(errors, '$[#]', json_object("
                "   'at', ?, 'attempt', attempts, 'kind', ?, 'message', ?))"
                " WHERE job_id = ?",
                (state, now + backoff_seconds(attempts), now if state == "error" else None,
                 message, now, kind, message, job_id))
            if signature is not None and self._count_failure(conn, job_id, signature,
                                                             message, now):
                return "pending"
            return state

    def quarantine(self, job_id: int, worker: str, reason: str) -> bool:
        """Send a job whose row cannot be run (a hand-edited payload, counts out of range) to
        `error` with the reason in its trail, its attempt given back: the row is at fault,
        not the job, and every other job carries on. `sweepq retry` sends it back once
        fixed. False when the job was no longer ours."""
        now, reason = self.clock(), mask(reason)
        with self.write() as conn:
            return conn.execute(
                "UPDATE jobs SET state = 'error', lease_owner = NULL, lease_expires_at = NULL,"
                " attempts = max(attempts - 1, 0), finished_at = :now, last_error = :why,"
                " errors = json_insert(CASE WHEN json_valid(errors) THEN errors ELSE '[]' END,"
                "   '$[#]', json_object('at', :now, 'attempt', attempts, 'kind', 'quarantine',"
                "   'message', :why))"
                " WHERE job_id = :job AND state = 'running' AND lease_owner = :worker",
                {"now": now, "why": reason, "job": job_id, "worker": worker}).rowcount == 1

    def release(self, job_id: int, worker: str, kind: str | None = None,
                message: str | None = None) -> bool:
        """Give a job back without counting the attempt (a pause, or a clean shutdown)."""
        now = self.clock()
        message = None if message is None else store(mask(message))
        trail = ("errors" if message is None else
                 "json_insert(errors, '$[#]', json_object('at', :now, 'attempt', attempts,"
                 " 'kind', :kind, 'message', :message))")
        with self.write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET state = 'pending', lease_owner = NULL, lease_expires_at = NULL,"
                f" attempts = max(attempts - 1, 0), errors = {trail}"
                " WHERE job_id = :job AND state = 'running' AND lease_owner = :worker",
                {"now": now, "kind": kind, "message": message, "job": job_id, "worker": worker})
            if cursor.rowcount == 1:
                move_results(conn, ":job", {"job": job_id}, now, "job left done")
            return cursor.rowcount == 1

    def retry(self, sweep: str) -> int:
        """Move the sweep's `error` jobs back to pending with fresh attempts.

        An error job never has a result, unless someone wrote one by hand: that
        one goes to results_history, so pending jobs stay without results.
        """
        with self.write() as conn:
            errors = "SELECT job_id FROM jobs WHERE sweep = :sweep AND state = 'error'"
            move_results(conn, errors, {"sweep": sweep}, self.clock(), "job left done")
            return conn.execute(RESET_TO_PENDING + "sweep = ? AND state = 'error'",
                                (sweep,)).rowcount

    def set_max_attempts(self, sweep: str, max_attempts: int) -> int:
        """Change the attempts allowed for the sweep's unfinished jobs."""
        bounds.count("max_attempts", max_attempts, 1, bounds.MAX_ATTEMPTS)
        with self.write() as conn:
            return conn.execute(
                "UPDATE jobs SET max_attempts = ? WHERE sweep = ?"
                " AND state IN ('pending', 'running')", (max_attempts, sweep)).rowcount


def _job(row: Sequence[Any]) -> Job:
    """A claimed job from the claim's RETURNING columns, checked at the edge: a row a hand
    edit broke (a payload that is not a JSON object, counts out of range) comes back with
    its `defect` named, for the worker to quarantine, never as an exception that would
    stop every worker that claims it."""
    job_id, sweep, task_id, arm, task, attempts, max_attempts, owner = row
    payload, defect = _payload(task)
    if not (isinstance(attempts, int) and isinstance(max_attempts, int)
            and attempts >= 1 and 1 <= max_attempts <= bounds.MAX_ATTEMPTS):
        defect = defect or f"attempts {attempts!r} of max {max_attempts!r} out of range"
    return Job(job_id, sweep, task_id, arm, payload, attempts, max_attempts, owner, defect)


def _payload(task: Any) -> tuple[dict[str, Any], str | None]:
    """The job's payload and what is wrong with it (None: nothing)."""
    try:
        payload = json.loads(task) if isinstance(task, str) else None
    except ValueError as exc:
        return {}, f"its payload is not JSON ({exc})"
    if not isinstance(payload, dict):
        return {}, f"its payload is not a JSON object ({type(payload).__name__})"
    return payload, None


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter before attempt `attempts + 1` may run."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)
