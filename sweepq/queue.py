"""The queue: every state change of a job, each one short write transaction.

A job moves `pending → running → done`. A failed attempt goes back to
`pending` with `available_at` pushed out, and after `max_attempts` to `error`.
A `running` job whose lease has expired is claimable again. A pause stops all
claims in every process until its `resume_at`; it never changes job states.

No method here holds a transaction open across a model call: the worker
claims, calls the model with no transaction open, then completes.

Why this module is long (~900 lines): it is every SQL write sweepq makes (the
claim, complete, fail and the breaker, release, pauses, the journal, enqueue,
import, repair) and nothing else. The invariants (a done job has exactly one
result, a lease is only ever written by its holder, a pause stops every claim)
span those writes, so they are checked by reading one file; splitting it by
verb would scatter each invariant across modules. Its records are in
`records.py`, the read side of reports in `report.py`, the statements are
written once each here (the claim query only in `_CLAIM`; `_CLAIM_MANY` is made from it).
"""

from __future__ import annotations

import json
import math
import os
import random
import sqlite3
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from . import bounds, db, growth, usage
from .errors import SweepqError
from .leases import LeaseWait, LeaseWaits, holder, process_gone, this_host
from .prompts import PromptSet, parse
from .records import Call, Job, Pause, Result, Sweep, check_sweep_name, sweep_from_row
from .redact import mask
from .storetext import load, load_opt, store, store_opt
from .usage import Usage

ENQUEUE_BATCH = 10_000
BACKOFF_BASE_SECONDS = 5.0
BACKOFF_CAP_SECONDS = 300.0
LOCKED_RETRIES = 50
BREAKER_JOBS = 5  # different jobs ended by the same failure in a row trip the breaker


_JOB_COLUMNS = 7
_ROWS_PER_INSERT = 100
_INSERT_JOBS = ("INSERT OR IGNORE INTO jobs (sweep, task_id, arm, position, task, max_attempts,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
_INSERT_JOBS_MANY = _INSERT_JOBS + ", (?, ?, ?, ?, ?, ?, ?)" * (_ROWS_PER_INSERT - 1)
# One encoder for every payload: json.dumps with any non-default option builds a new one.
_encode_json = json.JSONEncoder(ensure_ascii=False).encode

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
# replaced or dropped.
KEEP_RESULTS = """
INSERT INTO results_history (job_id, completion_seq, passed, detail, wall_seconds, sub_calls,
    output, input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,
    models, completed_at, replaced_at, why)
SELECT job_id, completion_seq, passed, detail, wall_seconds, sub_calls, output, input_tokens,
       output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, models, completed_at,
       :now, :why
FROM results WHERE job_id IN ({jobs})
"""

# result_buckets computed from the results, for `check` to compare and `check --repair` to
# rebuild from (the aggregate is only a cache of this).
RECOUNT_BUCKETS = """
SELECT j.sweep, j.arm, r.passed, r.sub_calls, r.detail = 'unparseable', count(*),
       coalesce(sum(r.cost_usd), 0), count(r.cost_usd),
       min(r.completed_at - coalesce(r.wall_seconds, 0)), max(r.completed_at)
FROM results AS r JOIN jobs AS j USING (job_id)
GROUP BY j.sweep, j.arm, r.passed, r.sub_calls, r.detail = 'unparseable'
"""


class Queue:
    """A sweepq database, shared by the threads of one process.

    One connection and one lock per process: SQLite serialises writers anyway,
    and a lock is fairer to threads than SQLite's busy handler.
    """

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], float] = time.time):
        self.conn = conn
        self.clock = clock
        self._lock = threading.RLock()
        self._warned: set[int] = set()          # bad pauses already reported
        self.warn: Callable[[str], None] = _warn_on_stderr

    @classmethod
    def open(cls, path: str | None = None, *, synchronous: str = "NORMAL",
             create: bool = True) -> Queue:
        return cls(db.connect(path or db.default_path(), synchronous=synchronous, create=create))

    @classmethod
    def open_for_reading(cls, path: str | None = None, *, synchronous: str = "NORMAL") -> Queue:
        """Open as usual; a database in a read-only file or folder opens read-only instead.

        For the commands that only read: a valid database nobody may write is
        still a sweepq database, and status or export of it must work.
        """
        from pathlib import Path

        target = Path(path or db.default_path())
        if target.is_file() and not db.is_writable(target):
            return cls.open_read_only(target)
        return cls(db.connect(target, synchronous=synchronous, create=False))

    @classmethod
    def open_read_only(cls, path: str | os.PathLike[str]) -> Queue:
        """A queue that cannot write (`sweepq serve`, `query`, `check`): the one read-only path."""
        return cls(db.connect_read_only(path))

    def close(self) -> None:
        """Close the connection under the lock: never while another thread is inside a
        statement on it (a statement runs with the GIL released; closing under it frees
        memory that thread is still using: a SIGSEGV at exit)."""
        with self._lock:
            self.conn.close()

    # -- transactions -------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One short `BEGIN IMMEDIATE` transaction, retried while the database is locked.

        A `database is locked` that escapes the busy timeout is contention, not
        a failure of the job: wait a little and take the lock again.
        """
        with self._lock:
            for attempt in range(LOCKED_RETRIES):
                try:
                    self.conn.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as exc:
                    if not _is_busy(exc) or attempt == LOCKED_RETRIES - 1:
                        raise
                    time.sleep(random.uniform(0.01, 0.1))
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One read transaction, so several reads see the same moment.

        Holds this process's lock: its worker threads wait until the reads are done.
        """
        with self._lock:
            if self.conn.in_transaction:
                yield
                return
            self.conn.execute("BEGIN")
            try:
                yield
            finally:
                self.conn.execute("COMMIT")

    def read(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[dict[str, Any]]:
        """The rows of a query, as dicts by column name."""
        with self._lock:
            cursor = self.conn.execute(sql, params)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def rows(self, sql: str, params: Iterable[Any] | dict[str, Any] = ()) -> list[tuple]:
        """The rows of a query as tuples (for the statistics, which take them positionally)."""
        with self._lock:
            return self.conn.execute(sql, params).fetchall()

    def batches(self, sql: str, params: Iterable[Any] | dict[str, Any] = (),
                size: int = 5_000) -> Iterator[list[tuple]]:
        """The rows of a query `size` at a time, for streaming a whole sweep (export).

        The lock is held per batch, not across the caller's work between batches.
        """
        with self._lock:
            cursor = self.conn.execute(sql, params)
        while True:
            with self._lock:
                batch = cursor.fetchmany(size)
            if not batch:
                return
            yield batch

    # -- sweeps -------------------------------------------------------------

    def sweep(self, name: str) -> Sweep | None:
        with self._lock:
            return _load_sweep(self.conn, name)

    def sweep_models(self, name: str) -> dict[str, str] | None:
        """The sweep's model map as stored now (None: no such sweep, or not a JSON object)."""
        rows = self.rows("SELECT models FROM sweeps WHERE sweep = ?", (name,))
        try:
            models = json.loads(rows[0][0]) if rows else None
        except (TypeError, ValueError):
            return None
        return models if isinstance(models, dict) else None

    def sweep_names(self) -> list[str]:
        return [r["sweep"] for r in self.read("SELECT sweep FROM sweeps ORDER BY created_at")]

    def resolve_sweep(self, name: str | None) -> Sweep:
        """The named sweep, or the only one when no name is given."""
        if name is not None:
            found = self.sweep(name)
            if found is None:
                known = ", ".join(self.sweep_names()) or "none yet"
                raise SweepqError(f"no sweep named {name!r} (sweeps here: {known})")
            return found
        names = self.sweep_names()
        if len(names) == 1:
            return self.sweep(names[0])  # type: ignore[return-value]
        if not names:
            raise SweepqError("the database has no sweeps yet: run `sweepq enqueue` first")
        raise SweepqError(f"the database has {len(names)} sweeps ({', '.join(names)}): "
                          "pass `sweep` NAME")

    def create_sweep(self, conn: sqlite3.Connection, sweep: Sweep) -> bool:
        """Insert the sweep inside the caller's transaction; False if it already exists.

        An existing sweep with other settings is a mistake, not a resume, unless `sweep`
        grows it (`growth.grows`: more arms, subtasks or n): its row is then updated and
        its new prompt sets stored.
        """
        existing = _load_sweep(conn, sweep.name)
        if existing is not None:
            if growth.grows(existing, sweep):
                # start, dataset and options change only for an imported sweep a first
                # enqueue continues (`growth`); otherwise they are the stored ones
                conn.execute("UPDATE sweeps SET subtasks = ?, n_per_subtask = ?, arms = ?,"
                             " models = ?, start = ?, dataset = ?, benchmark_options = ?"
                             " WHERE sweep = ?",
                             (json.dumps(sweep.subtasks), sweep.n_per_subtask,
                              json.dumps(sweep.arms), json.dumps(sweep.models), sweep.start,
                              sweep.dataset, json.dumps(sweep.options), sweep.name))
                self._insert_prompt_sets(conn, sweep, skip=existing.prompts)
            return False
        conn.execute(
            "INSERT INTO sweeps (sweep, benchmark, subtasks, n_per_subtask, start, arms, models,"
            " dataset, has_meta, scorer, benchmark_options, created_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (sweep.name, sweep.benchmark, json.dumps(sweep.subtasks), sweep.n_per_subtask,
             sweep.start, json.dumps(sweep.arms), json.dumps(sweep.models), sweep.dataset,
             int(sweep.has_meta), sweep.scorer, json.dumps(sweep.options), self.clock()))
        self._insert_prompt_sets(conn, sweep)
        return True

    def _insert_prompt_sets(self, conn: sqlite3.Connection, sweep: Sweep,
                            skip: Iterable[str] = ()) -> None:
        conn.executemany(
            "INSERT INTO prompt_sets (sweep, name, text, sha256, created_at)"
            " VALUES (?, ?, ?, ?, ?)",
            [(sweep.name, set_name, ps.text, ps.sha256, self.clock())
             for set_name, ps in sorted(sweep.prompts.items()) if set_name not in set(skip)])

    # -- scorings -----------------------------------------------------------

    def store_scoring(self, sweep: str, scorer: str,
                      verdicts: Sequence[tuple[int, bool, str]], no_reply: int) -> None:
        """A scoring of the sweep's stored replies by `scorer`, written whole in one
        transaction (a rescore stopped halfway leaves the previous one): it replaces an
        earlier scoring by the same scorer; the sweep's own verdicts (`results`) stay."""
        with self.write() as conn:
            conn.execute("DELETE FROM verdicts WHERE scorer = ? AND job_id IN"
                         " (SELECT job_id FROM jobs WHERE sweep = ?)", (scorer, sweep))
            conn.execute("INSERT OR REPLACE INTO scorings (sweep, scorer, results, no_reply,"
                         " created_at) VALUES (?, ?, ?, ?, ?)",
                         (sweep, scorer, len(verdicts), no_reply, self.clock()))
            conn.executemany("INSERT INTO verdicts (job_id, scorer, passed, detail)"
                             " VALUES (?, ?, ?, ?)",
                             ((job_id, scorer, int(passed), detail)
                              for job_id, passed, detail in verdicts))

    # -- enqueue ------------------------------------------------------------

    def enqueue(self, sweep: Sweep, tasks: Iterable[tuple[str, dict[str, Any]]],
                max_attempts: int = 3) -> int:
        """Add every (task, arm) of the sweep as a pending job; return how many were new.

        `tasks` is (task_id, payload) in canonical order. Idempotent: jobs
        already present are left as they are. Streams in batches of
        ENQUEUE_BATCH rows, one transaction each; the sweep row goes in with
        the first batch, so a failure before it leaves the database untouched.
        """
        check_sweep_name(sweep.name)
        if not sweep.arms:
            raise SweepqError("a sweep needs at least one arm", "arms")
        bounds.count("max_attempts", max_attempts, 1, bounds.MAX_ATTEMPTS)
        now = self.clock()
        new, created, batch = 0, False, []
        n_arms = len(sweep.arms)
        existing = self.sweep(sweep.name)
        order: dict[str, int] | None = None
        if existing is not None and growth.grows(existing, sweep):
            # The jobs there already move to their places in the grown order, in the
            # transaction that grows the sweep (a crash after it leaves them placed).
            tasks = list(tasks)
            order = {task_id: i for i, (task_id, _) in enumerate(tasks)}
        for task_index, (task_id, payload) in enumerate(tasks):
            task_json = _encode_json(payload)
            for arm_index, arm in enumerate(sweep.arms):
                batch += (sweep.name, task_id, arm, task_index * n_arms + arm_index,
                          task_json, max_attempts, now)
            if len(batch) >= ENQUEUE_BATCH * _JOB_COLUMNS:
                new += self._insert_jobs(sweep, batch, first=not created, order=order)
                created, batch = True, []
        if batch or not created:
            new += self._insert_jobs(sweep, batch, first=not created, order=order)
        return new

    def _insert_jobs(self, sweep: Sweep, flat: list[Any], first: bool,
                     order: dict[str, int] | None = None) -> int:
        """Insert jobs given as one flat list of column values, in one transaction.

        Multi-row INSERTs of _ROWS_PER_INSERT jobs: executemany runs the
        statement once per row, and per-row statement overhead was a third of
        enqueue time (BENCHMARKS.md).
        """
        chunk = _ROWS_PER_INSERT * _JOB_COLUMNS
        whole = len(flat) - len(flat) % chunk
        with self.write() as conn:
            if first:
                self.create_sweep(conn, sweep)
                if order is not None:
                    _reposition(conn, sweep, order)
            before = conn.total_changes
            for start in range(0, whole, chunk):
                conn.execute(_INSERT_JOBS_MANY, flat[start:start + chunk])
            rest = flat[whole:]
            conn.executemany(_INSERT_JOBS, (rest[i:i + _JOB_COLUMNS]
                                            for i in range(0, len(rest), _JOB_COLUMNS)))
            return conn.total_changes - before

    def import_results(self, sweep: Sweep, rows: Sequence[tuple[str, str, Result]],
                       lines: Sequence[str | None] | None = None, meta_line: str | None = None,
                       accept: Callable[[list[int]], None] | None = None) -> int:
        """Add finished jobs with their results, (task_id, arm, result) in completion order.

        For historical files: one transaction, the sweep created if new, each row a
        `done` job of one attempt whose result completes in the order given. A
        (task_id, arm) the sweep already has is left as it is; returns how many were
        new. Arms the rows use beyond `sweep.arms` sort after them in positions. The
        results are stored as given (not masked): an import must export byte for byte;
        `lines` (the file's own text of each row) and `meta_line` are what export
        writes back. `accept` is shown the indexes of rows the sweep already has with
        another result, before the commit: raising there imports nothing.
        """
        check_sweep_name(sweep.name)
        now = self.clock()
        all_arms = list(dict.fromkeys([*sweep.arms, *(arm for _, arm, _ in rows)]))
        arm_index = {arm: i for i, arm in enumerate(all_arms)}
        task_index: dict[str, int] = {}
        new, conflicts = 0, []
        with self.write() as conn:
            if self.create_sweep(conn, sweep) and meta_line is not None:
                conn.execute("UPDATE sweeps SET meta_line = ? WHERE sweep = ?",
                             (store(meta_line), sweep.name))
            for i, (task_id, arm, result) in enumerate(rows):
                t = task_index.setdefault(task_id, len(task_index))
                cursor = conn.execute(
                    "INSERT OR IGNORE INTO jobs (sweep, task_id, arm, position, task, state,"
                    " attempts, created_at, finished_at)"
                    " VALUES (?, ?, ?, ?, '{}', 'done', 1, ?, ?)",
                    (sweep.name, task_id, arm, t * len(all_arms) + arm_index[arm], now, now))
                line = lines[i] if lines is not None else None
                if cursor.rowcount:
                    new += 1
                    _insert_result(conn, cursor.lastrowid, result, now, line)
                elif not _same_result(conn, sweep.name, task_id, arm, result, line):
                    conflicts.append(i)
            if accept is not None:
                accept(conflicts)
        return new

    # -- the job life cycle -------------------------------------------------

    def claim(self, sweep: str, worker: str, lease_seconds: float = 120.0) -> Job | None:
        """Lease the lowest-position claimable job of the sweep, or None.

        Claimable: pending and available, or running with an expired lease.
        Nothing is claimable while a pause is active.
        """
        with self.write() as conn:
            row = conn.execute(_CLAIM, {"sweep": sweep, "worker": worker,
                                        "lease": lease_seconds, "now": self.clock()}).fetchone()
        return None if row is None else _job(row)

    def claim_many(self, sweep: str, worker: str, lease_seconds: float, limit: int
                   ) -> list[Job]:
        """Lease up to `limit` claimable jobs at once, lowest positions first (in no
        particular order in the list): `claim`'s rule, one statement, one transaction."""
        with self.write() as conn:
            rows = conn.execute(_CLAIM_MANY, {"sweep": sweep, "worker": worker,
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
        with self.write() as conn:
            cursor = conn.execute(
                "UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL,"
                " finished_at = ?, last_error = NULL"
                " WHERE job_id = ? AND state = 'running' AND lease_owner = ?",
                (now, job_id, worker))
            if cursor.rowcount != 1:
                return False
            self._drop_result(conn, job_id, now, "done again")
            _insert_result(conn, job_id, replace(
                result, detail=mask(result.detail),
                output=None if result.output is None else mask(result.output)), now)
            # A success ends any streak of failures (the breaker counts only unbroken ones).
            conn.execute("UPDATE failure_streak SET jobs = '[]', updated_at = ?"
                         " WHERE jobs != '[]'", (now,))
            return True

    @staticmethod
    def _drop_result(conn: sqlite3.Connection, job_id: int, now: float, why: str) -> None:
        """Move the job's result, if it has one, to results_history (inside a transaction)."""
        if conn.execute("SELECT 1 FROM results WHERE job_id = ?", (job_id,)).fetchone():
            conn.execute(KEEP_RESULTS.format(jobs=":job"), {"now": now, "why": why, "job": job_id})
            conn.execute("DELETE FROM results WHERE job_id = ?", (job_id,))

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
            self._drop_result(conn, job_id, now, "job left done")
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

    def set_models(self, sweep: str, changes: dict[str, str], force: bool = False,
                   arms_calling: Callable[[str], Sequence[str] | None] | None = None
                   ) -> dict[str, str]:
        """Change aliases of a sweep's model map, recorded in `model_changes`.

        Refused (nothing changed), unless `force`, when an arm would mix two models:
        results already came from a model being replaced, or a job of an arm that calls
        the alias (`arms_calling(alias)`; None: any arm may) is running (a worker is
        calling the old model now) or done. Returns the new map.
        """
        now = self.clock()
        with self.write() as conn:
            row = conn.execute("SELECT models FROM sweeps WHERE sweep = ?", (sweep,)).fetchone()
            if row is None:
                raise SweepqError(f"no sweep named {sweep!r}: see `sweepq status`")
            models = json.loads(row[0])
            for alias, new in changes.items():
                old = models.get(alias)
                if old == new:
                    continue
                used = old is not None and _has_results_from(conn, sweep, old)
                if used and not force:
                    raise SweepqError(f"sweep {sweep!r} already has results from {old} "
                                      f"({alias}): a new id would mix two models in one arm; "
                                      "pass `force` to change it anyway")
                busy = _arm_jobs_under_way(conn, sweep, None if arms_calling is None
                                           else arms_calling(alias))
                if busy and not force:
                    raise SweepqError(f"sweep {sweep!r} has {busy}, calling {alias}: a new id "
                                      "would mix two models in one arm; wait until no job of "
                                      "those arms runs (or has results), or pass `force`")
                used = used or bool(busy)
                conn.execute("INSERT INTO model_changes (sweep, alias, old_model, new_model,"
                             " forced, changed_at) VALUES (?, ?, ?, ?, ?, ?)",
                             (sweep, alias, old, new, int(used), now))
                models[alias] = new
            # What each arm needs was learned from the old map.
            conn.execute("DELETE FROM arm_scopes WHERE sweep = ?", (sweep,))
            conn.execute("UPDATE sweeps SET models = ? WHERE sweep = ?",
                         (json.dumps(models), sweep))
        return models

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

    def release_gone(self, sweep: str) -> int:
        """Take back at once the running jobs of worker processes that are gone from this
        host (killed, crashed): back to pending, the attempt still counted (as a lease
        that ran out is), instead of waiting out their leases. A lease of another host,
        or of a process still here, is left to expire. Returns how many were taken."""
        host, taken = this_host(), 0
        gone = [(row["job_id"], row["lease_owner"], pid) for row in self.read(
            "SELECT job_id, lease_owner FROM jobs INDEXED BY jobs_sweep_state"
            " WHERE sweep = ? AND state = 'running'", (sweep,))
            if (who := holder(row["lease_owner"])) is not None and who[0] == host
            and process_gone(pid := who[1])]
        if not gone:
            return 0
        now = self.clock()
        with self.write() as conn:
            for job_id, owner, pid in gone:
                why = f"its worker process {pid} on {host} is gone: taken back at once"
                taken += conn.execute(
                    "UPDATE jobs SET state = 'pending', lease_owner = NULL,"
                    " lease_expires_at = NULL, available_at = 0,"
                    " errors = json_insert(CASE WHEN json_valid(errors) THEN errors"
                    "   ELSE '[]' END, '$[#]', json_object('at', :now, 'attempt', attempts,"
                    "   'kind', 'crash', 'message', :why))"
                    " WHERE job_id = :job AND state = 'running' AND lease_owner = :owner",
                    {"now": now, "why": why, "job": job_id, "owner": owner}).rowcount
        return taken

    def lease_waits(self, sweep: str, own: str | None = None) -> LeaseWaits:
        """The leases of the sweep's running jobs that a worker may be waiting out, one
        entry per holding process, soonest taken back first: every holder except those
        alive on this host with leases not yet run out (those are working), and except
        the process `own` (a `HOST:PID` worker name: the caller itself).

        For `status` ("stale leases: whose, when they are taken back") and `work`'s live
        display ("leases being waited out")."""
        now, host = self.clock(), this_host()
        by_process: dict[str, list[float]] = {}
        for row in self.read("SELECT lease_owner, lease_expires_at FROM jobs"
                             " INDEXED BY jobs_sweep_state WHERE sweep = ? AND state = 'running'",
                             (sweep,)):
            who = holder(row["lease_owner"])
            process = (f"{who[0]}:{who[1]}" if who is not None else
                       str(row["lease_owner"]))
            if process != own:
                by_process.setdefault(process, []).append(_finite(row["lease_expires_at"], now))
        waits = []
        for process, ends in by_process.items():
            who = holder(process)
            gone = None if who is None or who[0] != host else process_gone(who[1])
            expired = sum(end <= now for end in ends)
            if gone is False and not expired:
                continue
            waits.append(LeaseWait(process, None if who is None else who[0],
                                   None if who is None else who[1], len(ends), expired,
                                   max(ends), gone))
        waits.sort(key=lambda w: w.taken_back_at(now))
        return LeaseWaits(now, tuple(waits))

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
                self._drop_result(conn, job_id, now, "job left done")
            return cursor.rowcount == 1

    def retry(self, sweep: str) -> int:
        """Move the sweep's `error` jobs back to pending with fresh attempts.

        An error job never has a result, unless someone wrote one by hand: that
        one goes to results_history, so pending jobs stay without results.
        """
        with self.write() as conn:
            errors = "SELECT job_id FROM jobs WHERE sweep = :sweep AND state = 'error'"
            conn.execute(KEEP_RESULTS.format(jobs=errors),
                         {"now": self.clock(), "why": "job left done", "sweep": sweep})
            conn.execute(f"DELETE FROM results WHERE job_id IN ({errors})", {"sweep": sweep})
            return conn.execute(
                "UPDATE jobs SET state = 'pending', attempts = 0, available_at = 0,"
                " finished_at = NULL WHERE sweep = ? AND state = 'error'", (sweep,)).rowcount

    def set_max_attempts(self, sweep: str, max_attempts: int) -> int:
        """Change the attempts allowed for the sweep's unfinished jobs."""
        bounds.count("max_attempts", max_attempts, 1, bounds.MAX_ATTEMPTS)
        with self.write() as conn:
            return conn.execute(
                "UPDATE jobs SET max_attempts = ? WHERE sweep = ?"
                " AND state IN ('pending', 'running')", (max_attempts, sweep)).rowcount

    # -- pauses -------------------------------------------------------------

    def pause(self, resume_at: float | None, reason: str, message: str | None = None,
              set_by: str = "user", scope: str | None = None) -> Pause:
        """Pause every worker until `resume_at` (None: until `resume`).

        With a `scope` (a provider that ran out), only the arms that need it are held
        back (`note_scope`); the pause returned is the one in force for that scope.

        A longer pause wins: a shorter one is recorded but never shortens the
        active pause. Returns the pause now in force (this one, if it already ran
        out while waiting for the lock).

        `created_at` is read inside the write transaction: it is after every claim
        committed before the pause, and before every claim that can see it. A
        claim between the failure that asked for the pause and this row is
        legitimate; one after it is impossible.
        """
        if resume_at is not None:
            bounds.timestamp("the pause's end", resume_at, self.clock())
        message = None if message is None else store(mask(message))
        with self.write() as conn:
            now = self.clock()
            # Pauses that ran out are closed here, so the claim's check stays tiny.
            conn.execute("UPDATE pauses SET cleared_at = resume_at"
                         " WHERE cleared_at IS NULL AND resume_at <= ?", (now,))
            pause_id = conn.execute(
                "INSERT INTO pauses (resume_at, reason, message, set_by, created_at, scope)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (resume_at, reason, message, set_by, now, scope)).lastrowid
        return self.active_pause(scope) or Pause(pause_id, resume_at, reason, message, set_by,
                                                 scope)

    def resume(self) -> int:
        """Clear every active pause; return how many were cleared."""
        now = self.clock()
        with self.write() as conn:
            return conn.execute(
                "UPDATE pauses SET cleared_at = ? WHERE cleared_at IS NULL"
                " AND (resume_at IS NULL OR resume_at > ?)", (now, now)).rowcount

    def active_pause(self, scope: str | None = None) -> Pause | None:
        """The pause in force now for a call to `scope`: queue-wide pauses and that scope's
        (None: queue-wide only), the one that ends last (no end beats any end). A pause
        with impossible times is reported once and ignored (`bad_pauses`)."""
        self._warn_bad_pauses()
        rows = self.read(
            "SELECT pause_id, resume_at, reason, message, set_by, scope FROM pauses"
            " WHERE cleared_at IS NULL AND (resume_at IS NULL OR resume_at > ?)"
            f" AND (scope IS NULL OR scope = ?) AND {_SANE_PAUSE}"
            " ORDER BY resume_at IS NULL DESC, resume_at DESC LIMIT 1", (self.clock(), scope))
        return Pause(**rows[0]) if rows else None

    def bad_pauses(self) -> list[dict[str, Any]]:
        """Open pauses whose times are impossible (a hand edit: resume_at Inf or 1e300, an
        end more than a year after the start): pause_id, resume_at, created_at."""
        return self.read("SELECT pause_id, resume_at, created_at FROM pauses"
                         f" WHERE cleared_at IS NULL AND NOT {_SANE_PAUSE}")

    def _warn_bad_pauses(self) -> None:
        """One warning line per bad pause, once per process: it is ignored, not obeyed."""
        for row in self.bad_pauses():
            if row["pause_id"] not in self._warned:
                self._warned.add(row["pause_id"])
                self.warn(f"pause {row['pause_id']} has impossible times (resume_at "
                          f"{row['resume_at']!r}, created_at {row['created_at']!r}): ignored; "
                          "`sweepq resume` clears it")

    def drop_bad_pauses(self) -> int:
        """Close the open pauses with impossible times (reported first): the claim obeys
        every open pause, so a worker closes these rather than wait for ever."""
        self._warn_bad_pauses()
        with self.write() as conn:
            return conn.execute(f"UPDATE pauses SET cleared_at = ? WHERE cleared_at IS NULL"
                                f" AND NOT {_SANE_PAUSE}", (self.clock(),)).rowcount

    def open_pauses(self) -> list[Pause]:
        """Every pause in force, queue-wide first, then one per scope (the latest ending)."""
        self._warn_bad_pauses()
        rows = self.read(
            "SELECT pause_id, resume_at, reason, message, set_by, scope FROM pauses"
            f" WHERE cleared_at IS NULL AND (resume_at IS NULL OR resume_at > ?) AND {_SANE_PAUSE}"
            " ORDER BY scope IS NOT NULL, scope, resume_at IS NULL DESC, resume_at DESC",
            (self.clock(),))
        latest: dict[str | None, Pause] = {}
        for row in rows:
            latest.setdefault(row["scope"], Pause(**row))
        return list(latest.values())

    def note_scope(self, sweep: str, arm: str, scope: str) -> None:
        """Record that `arm` needs `scope`: while a pause of that scope is open, the
        claim skips the arm's jobs."""
        with self.write() as conn:
            conn.execute("INSERT OR IGNORE INTO arm_scopes (sweep, arm, scope, learned_at)"
                         " VALUES (?, ?, ?, ?)", (sweep, arm, scope, self.clock()))

    def held_back(self, sweep: str) -> dict[str, Pause]:
        """The sweep's arms held back by a scoped pause, each with the pause that holds it
        (the one ending last)."""
        now = self.clock()
        rows = self.read(
            "SELECT a.arm, p.pause_id, p.resume_at, p.reason, p.message, p.set_by, p.scope"
            " FROM arm_scopes AS a JOIN pauses AS p ON p.scope = a.scope"
            " WHERE a.sweep = ? AND p.cleared_at IS NULL"
            " AND (p.resume_at IS NULL OR p.resume_at > ?)"
            f" AND {_SANE_PAUSE_P}"
            " ORDER BY p.resume_at IS NULL, p.resume_at", (sweep, now))
        return {row.pop("arm"): Pause(**row) for row in rows}

    def unfinished_except(self, sweep: str, arms: Iterable[str]) -> int:
        """Pending or running jobs of the sweep in arms other than `arms`."""
        arms = list(arms)
        marks = ", ".join("?" * len(arms)) or "NULL"
        return self.rows(f"SELECT count(*) FROM jobs WHERE sweep = ? AND state IN"
                         f" ('pending', 'running') AND arm NOT IN ({marks})",
                         (sweep, *arms))[0][0]

    # -- repair (`sweepq check --repair`; check.py says what each fix is for) --

    def buckets_disagreeing(self) -> list[str]:
        """Sweeps whose result_buckets rows differ from a recount of their results."""
        if not self.read("SELECT 1 AS x FROM sqlite_master WHERE name = 'result_buckets'"):
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
            n = conn.execute(f"SELECT count(*) FROM results WHERE job_id IN ({stray})"
                             ).fetchone()[0]
            if n:
                conn.execute(KEEP_RESULTS.format(jobs=stray),
                             {"now": now, "why": "check --repair"})
                conn.execute(f"DELETE FROM results WHERE job_id IN ({stray})")
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

    # -- the call journal ---------------------------------------------------

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

    # -- message batches (batch.py) -----------------------------------------

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

    # -- counts -------------------------------------------------------------

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
            " AND EXISTS (" + _IN_OPEN_BATCH + ")", (sweep,))[0]["n"]

    def next_available_at(self, sweep: str) -> float | None:
        """When the earliest pending job becomes claimable (for a worker with nothing to do)."""
        rows = self.read(
            "SELECT min(CASE state WHEN 'pending' THEN available_at ELSE lease_expires_at END)"
            " AS at FROM jobs INDEXED BY jobs_claimable"
            " WHERE sweep = ? AND state IN ('pending', 'running')", (sweep,))
        return rows[0]["at"]


# What `check --repair` changes, after results of jobs not done have gone to results_history.
_REPAIRS = [
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


def _insert_result(conn: sqlite3.Connection, job_id: int, result: Result, now: float,
                   line: str | None = None) -> None:
    """The one INSERT of a result row, inside the caller's transaction (`line`: the
    imported file's own text of the row)."""
    conn.execute(
        "INSERT INTO results (job_id, passed, detail, wall_seconds, sub_calls, output,"
        " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,"
        " models, completed_at, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (job_id, int(result.passed), store(result.detail), result.wall_seconds,
         result.sub_calls, store_opt(result.output), *usage.columns(result.usage),
         None if result.models is None else json.dumps(result.models), now,
         store_opt(line)))


def _same_result(conn: sqlite3.Connection, sweep: str, task_id: str, arm: str,
                 result: Result, line: str | None) -> bool:
    """Whether the sweep's (task_id, arm) already holds this imported row (a re-import)."""
    row = conn.execute(
        "SELECT r.passed, r.detail, r.wall_seconds, r.sub_calls, r.line FROM jobs AS j"
        " LEFT JOIN results AS r USING (job_id) WHERE j.sweep = ? AND j.task_id = ?"
        " AND j.arm = ?", (sweep, task_id, arm)).fetchone()
    if row is None or row[0] is None:
        return False
    if row[4] is not None and line is not None:
        return load(row[4]) == line
    return (bool(row[0]), load(row[1]), row[2], row[3]) == \
        (result.passed, result.detail, result.wall_seconds, result.sub_calls)


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


def _arm_jobs_under_way(conn: sqlite3.Connection, sweep: str, arms: Sequence[str] | None
                        ) -> str:
    """What of the arms' jobs is under way ("3 running and 5 done jobs of echo-judge"),
    or "" when none runs or is done (`arms` None: every arm of the sweep)."""
    marks = "" if arms is None else f" AND arm IN ({', '.join('?' * len(arms))})"
    rows = conn.execute("SELECT arm, sum(state = 'running'), sum(state = 'done') FROM jobs"
                        f" WHERE sweep = ? AND state IN ('running', 'done'){marks}"
                        " GROUP BY arm ORDER BY arm", (sweep, *(arms or ()))).fetchall()
    if not rows:
        return ""
    running, done = sum(r[1] for r in rows), sum(r[2] for r in rows)
    return (f"{running} running and {done} done jobs of arm "
            f"{', '.join(r[0] for r in rows)}")


def _has_results_from(conn: sqlite3.Connection, sweep: str, model: str) -> bool:
    return conn.execute(
        "SELECT 1 FROM results AS r JOIN jobs AS j USING (job_id), json_each(r.models) AS m"
        " WHERE j.sweep = ? AND r.models IS NOT NULL AND m.value = ? LIMIT 1",
        (sweep, model)).fetchone() is not None


_JOURNAL = ("SELECT call_id, job_id, attempt, call_index, model, request_hash, response_text,"
            " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,"
            " latency_seconds, error_class, error, stop_reason FROM calls"
            " WHERE job_id = ? AND error_class IS NULL")


def _call_of(row: dict[str, Any]) -> Call:
    # the text as the provider sent it (storetext)
    row["response_text"], row["error"] = load_opt(row["response_text"]), load_opt(row["error"])
    return Call(**{k: v for k, v in row.items() if k not in usage.COLUMNS},
                usage=Usage.from_row(row))


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


def _warn_on_stderr(line: str) -> None:
    sys.stderr.write(f"sweepq: warning: {line}\n")
    sys.stderr.flush()


def _finite(value: Any, default: float) -> float:
    """A time read back from the database, or `default` when it is not a finite number."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else default


def backoff_seconds(attempts: int) -> float:
    """Exponential backoff with jitter before attempt `attempts + 1` may run."""
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(attempts - 1, 0))
    return random.uniform(ceiling / 2, ceiling)


def _is_busy(exc: sqlite3.OperationalError) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return code is not None and code & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


def _reposition(conn: sqlite3.Connection, sweep: Sweep, order: dict[str, int]) -> None:
    """Give the sweep's jobs their canonical positions in `sweep`'s (grown) order: task
    `order[task_id]` major, `sweep.arms` minor. A job of a task or arm outside it keeps
    its position."""
    arm_index = {arm: i for i, arm in enumerate(sweep.arms)}
    rows = conn.execute("SELECT job_id, task_id, arm FROM jobs WHERE sweep = ?",
                        (sweep.name,)).fetchall()
    conn.executemany("UPDATE jobs SET position = ? WHERE job_id = ?",
                     [(order[task] * len(arm_index) + arm_index[arm], job_id)
                      for job_id, task, arm in rows if task in order and arm in arm_index])


def _load_sweep(conn: sqlite3.Connection, name: str) -> Sweep | None:
    """The sweep and its stored prompt sets, read on `conn` (inside the caller's transaction)."""
    cursor = conn.execute("SELECT * FROM sweeps WHERE sweep = ?", (name,))
    row = cursor.fetchone()
    if row is None:
        return None
    names = [d[0] for d in cursor.description]
    return sweep_from_row(dict(zip(names, row, strict=True)), _load_prompts(conn, name))


def _load_prompts(conn: sqlite3.Connection, sweep: str) -> dict[str, PromptSet]:
    """The sweep's stored sets, parsed again; none in a database older than prompt sets.

    A read-only database is never migrated, so its table may not exist yet.
    """
    if conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table'"
                    " AND name = 'prompt_sets'").fetchone() is None:
        return {}
    rows = conn.execute("SELECT name, text FROM prompt_sets WHERE sweep = ? ORDER BY name",
                        (sweep,)).fetchall()
    return {name: parse(text, f"{name!r} stored in sweep {sweep!r}") for name, text in rows}


