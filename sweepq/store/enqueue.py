"""Adding jobs: a sweep's (task, arm) pairs enqueued, or historical results imported
as done jobs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from .. import bounds, growth
from ..errors import SweepqError
from ..records import Result, Sweep, check_sweep_name
from ..storetext import load, store
from .results import insert_result
from .sweeps import Sweeps

ENQUEUE_BATCH = 10_000

_JOB_COLUMNS = 7
_ROWS_PER_INSERT = 100
_INSERT_JOBS = ("INSERT OR IGNORE INTO jobs (sweep, task_id, arm, position, task, max_attempts,"
                " created_at) VALUES (?, ?, ?, ?, ?, ?, ?)")
_INSERT_JOBS_MANY = _INSERT_JOBS + ", (?, ?, ?, ?, ?, ?, ?)" * (_ROWS_PER_INSERT - 1)
# One encoder for every payload: json.dumps with any non-default option builds a new one.
_encode_json = json.JSONEncoder(ensure_ascii=False).encode


class Enqueue(Sweeps):
    """Jobs in: enqueue and import."""

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
                    insert_result(conn, cursor.lastrowid, result, now, line)
                elif not _same_result(conn, sweep.name, task_id, arm, result, line):
                    conflicts.append(i)
            if accept is not None:
                accept(conflicts)
        return new




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
