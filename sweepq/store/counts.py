"""Job counts of a sweep, for workers deciding whether to wait and for reports."""

from __future__ import annotations

from .claim_sql import IN_OPEN_BATCH
from .database import Database


class Counts(Database):
    """How many jobs are where."""

    def counts(self, sweep: str) -> dict[str, int]:
        """Jobs per state (all four states present)."""
        counts = {"pending": 0, "running": 0, "done": 0, "error": 0}
        for row in self.read("SELECT state, count(*) AS n FROM jobs WHERE sweep = ?"
                             " GROUP BY state", (sweep,)):
            counts[row["state"]] = row["n"]
        return counts

    def unfinished(self, sweep: str) -> int:
        """Jobs still pending or running."""
        return self.read("SELECT count(*) AS n FROM jobs INDEXED BY jobs_claimable"
                         " WHERE sweep = ? AND state IN ('pending', 'running')",
                         (sweep,))[0]["n"]

    def in_open_batches(self, sweep: str) -> int:
        """Unfinished jobs with a request in a batch not yet ingested: the claim leaves
        them to the batch runner."""
        return self.read(
            "SELECT count(*) AS n FROM jobs WHERE sweep = ? AND state IN ('pending', 'running')"
            " AND EXISTS (" + IN_OPEN_BATCH + ")", (sweep,))[0]["n"]

    def next_available_at(self, sweep: str) -> float | None:
        """When the earliest pending job becomes claimable (for a worker with nothing to do)."""
        rows = self.read(
            "SELECT min(CASE state WHEN 'pending' THEN available_at ELSE lease_expires_at END)"
            " AS at FROM jobs INDEXED BY jobs_claimable"
            " WHERE sweep = ? AND state IN ('pending', 'running')", (sweep,))
        return rows[0]["at"]
