"""The Message Batches tables (`batches`, `batch_requests`), written by batch.py."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from ..records import Call
from .journal import Journal


class Batches(Journal):
    """A batch recorded before it is sent, polled, ingested, closed."""

    def prepare_batch(self, key: str, sweep: str, owner: str, nbytes: int,
                      requests: Sequence[tuple[str, int, int, int, str, str]],
                      price_factor: float) -> None:
        """Record a batch and its requests, (custom_id, job_id, attempt, call_index, model,
        request_hash) each, before it is submitted: a process killed after submitting
        finds it again by its key."""
        with self.write() as conn:
            conn.execute("INSERT INTO batches (batch_key, sweep, owner, requests, bytes,"
                         " price_factor, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                         (key, sweep, owner, len(requests), nbytes, price_factor,
                          self.clock()))
            conn.executemany("INSERT INTO batch_requests (custom_id, batch_key, job_id,"
                             " attempt, call_index, model, request_hash)"
                             " VALUES (?, ?, ?, ?, ?, ?, ?)",
                             ((custom_id, key, *rest) for custom_id, *rest in requests))

    def batch_submitted(self, key: str, batch_id: str, expires_at: float | None) -> None:
        """The API accepted the batch: its id, right after `create` returned."""
        with self.write() as conn:
            conn.execute("UPDATE batches SET batch_id = ?, state = 'submitted',"
                         " submitted_at = ?, expires_at = ? WHERE batch_key = ?",
                         (batch_id, self.clock(), expires_at, key))

    def batch_polled(self, key: str, counts: dict[str, int], ended_at: float | None) -> None:
        """The request counts and end time the latest poll saw."""
        with self.write() as conn:
            conn.execute("UPDATE batches SET processing = :processing,"
                         " succeeded = :succeeded, errored = :errored, canceled = :canceled,"
                         " expired = :expired, ended_at = :ended, polled_at = :now"
                         " WHERE batch_key = :key",
                         {**counts, "ended": ended_at, "now": self.clock(), "key": key})

    def ingest_batch(self, key: str, outcomes: Sequence[tuple[str, str, str | None]],
                     calls: dict[str, Call]) -> int:
        """Land results, (custom_id, outcome, error) each, with the journaled call of each
        that has one (by custom_id), in one transaction. A custom_id already landed (a
        results download resumed after a crash) is skipped; returns how many landed."""
        landed = 0
        with self.write() as conn:
            for custom_id, outcome, error in outcomes:
                if conn.execute("UPDATE batch_requests SET outcome = ?, error = ?"
                                " WHERE custom_id = ? AND batch_key = ? AND outcome IS NULL",
                                (outcome, error, custom_id, key)).rowcount != 1:
                    continue
                landed += 1
                if custom_id in calls:
                    self._insert_call(conn, calls[custom_id])
        return landed

    def close_batch(self, key: str, state: str) -> None:
        """A batch done with: 'ingested' (every result landed) or 'abandoned' (never sent)."""
        with self.write() as conn:
            conn.execute("UPDATE batches SET state = ?, ingested_at = ? WHERE batch_key = ?",
                         (state, self.clock(), key))

    def batch_key_of(self, batch_id: str) -> str | None:
        """The key of the batch the API knows as `batch_id` (None: not this database's)."""
        rows = self.rows("SELECT batch_key FROM batches WHERE batch_id = ?", (batch_id,))
        return rows[0][0] if rows else None

    def open_batches(self, sweep: str) -> list[dict[str, Any]]:
        """The sweep's batches prepared or submitted and not yet ingested, oldest first."""
        return self.read("SELECT * FROM batches WHERE sweep = ?"
                         " AND state IN ('prepared', 'submitted') ORDER BY created_at", (sweep,))

    def batch_requests(self, key: str, custom_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The named requests of the batch by custom_id: which job and call each is, and
        its outcome. Ingestion asks for one chunk's at a time, so it never holds a
        100,000-request batch's rows at once."""
        return {row["custom_id"]: row for row in self.read(
            "SELECT custom_id, job_id, attempt, call_index, model, request_hash, outcome,"
            " error FROM batch_requests WHERE batch_key = ?"
            " AND custom_id IN (SELECT value FROM json_each(?))", (key, json.dumps(custom_ids)))}
