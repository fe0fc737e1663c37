"""The call journal (`calls`): each model call committed before the arm goes on,
replayed by a retried job."""

from __future__ import annotations

import sqlite3
from typing import Any

from .. import usage
from ..records import Call
from ..redact import mask
from ..storetext import load_opt, store
from ..usage import Usage
from .database import Database


class Journal(Database):
    """Journaling and reading back model calls."""

    def record_call(self, call: Call, owner: str | None = None) -> int | None:
        """Journal one model call, committed before the arm goes on; its call_id.

        With `owner`, only while that worker still holds the job (one statement, so no
        claim slips in between): None, nothing written, when it does not. A worker that
        lost its lease must not add to the journal the new holder replays."""
        with self.write() as conn:
            return self._insert_call(conn, call, owner)

    def _insert_call(self, conn: sqlite3.Connection, call: Call,
                     owner: str | None = None) -> int | None:
        """The one INSERT of a journaled call, inside the caller's transaction."""
        held = ("" if owner is None else
                " WHERE EXISTS (SELECT 1 FROM jobs WHERE job_id = :job"
                " AND state = 'running' AND lease_owner = :owner)")
        values = (call.job_id, call.attempt, call.call_index, call.model, call.request_hash,
                  None if call.response_text is None else store(mask(call.response_text)),
                  *usage.columns(call.usage), call.latency_seconds, call.error_class,
                  None if call.error is None else store(mask(call.error)), self.clock(),
                  call.stop_reason)
        names = [f"v{i}" for i in range(len(values))]
        row = conn.execute(
            "INSERT INTO calls (job_id, attempt, call_index, model, request_hash,"
            " response_text, input_tokens, output_tokens, cache_read_tokens,"
            " cache_write_tokens, cost_usd, latency_seconds, error_class, error, created_at,"
            f" stop_reason) SELECT {', '.join(':' + n for n in names)}{held}"
            " RETURNING call_id",
            {**dict(zip(names, values, strict=True)), "job": call.job_id, "owner": owner}
        ).fetchone()
        return None if row is None else row[0]

    def journal_if_held(self, job_id: int, owner: str, after: int
                        ) -> tuple[list[tuple[int, Call]], bool]:
        """The job's successful calls journaled after call_id `after` (call_id, call), and
        whether `owner` still holds the job, read together: what a worker checks before
        each call, so a job re-claimed from a stalled worker replays what it journaled."""
        with self.snapshot():
            held = bool(self.rows("SELECT 1 FROM jobs WHERE job_id = ? AND state = 'running'"
                                  " AND lease_owner = ?", (job_id, owner)))
            rows = self.read(_JOURNAL + " AND call_id > ? ORDER BY call_id", (job_id, after))
        return [(row.pop("call_id"), _call_of(row)) for row in rows], held

    def journal(self, job_id: int) -> list[Call]:
        """The job's successful calls, oldest first: what a retry can replay."""
        return [call for _, call in self.journal_since(job_id, 0)]

    def journal_since(self, job_id: int, after: int) -> list[tuple[int, Call]]:
        """(call_id, call) of the job's successful calls after call_id `after`, oldest first."""
        rows = self.read(_JOURNAL + " AND call_id > ? ORDER BY call_id", (job_id, after))
        return [(row.pop("call_id"), _call_of(row)) for row in rows]


_JOURNAL = ("SELECT call_id, job_id, attempt, call_index, model, request_hash, response_text,"
            " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,"
            " latency_seconds, error_class, error, stop_reason FROM calls"
            " WHERE job_id = ? AND error_class IS NULL")


def _call_of(row: dict[str, Any]) -> Call:
    # the text as the provider sent it (storetext)
    row["response_text"], row["error"] = load_opt(row["response_text"]), load_opt(row["error"])
    return Call(**{k: v for k, v in row.items() if k not in usage.COLUMNS},
                usage=Usage.from_row(row))
