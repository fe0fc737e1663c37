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
import re
from dataclasses import dataclass

from . import bounds
from .queue import Queue

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
    for one in (_constraints, _payloads, _results, _leases, _attempts, _pauses, _aggregates):
        found += one(queue)
    return found


def _sqlite_checks(queue: Queue) -> list[Violation]:
    rows = queue.rows(f"PRAGMA integrity_check({INTEGRITY_LINES})")
    found = [Violation("integrity", f"integrity_check: {row[0]}")
             for row in rows if row[0] != "ok"]
    for table, rowid, parent, _ in queue.rows("PRAGMA foreign_key_check"):
        found.append(Violation("foreign_key", f"{table} row {rowid} refers to a missing "
                                              f"{parent} row"))
    return found


def _constraints(queue: Queue) -> list[Violation]:
    """Every CHECK constraint of every table, tested row by row here: SQLite's
    integrity_check skips them on a read-only connection, and a hand edit with
    `PRAGMA ignore_check_constraints` (or an older tool) can store anything."""
    found = []
    for table, sql in queue.rows("SELECT name, sql FROM sqlite_master WHERE type = 'table'"
                                 " AND name NOT LIKE 'sqlite_%' AND sql IS NOT NULL"):
        for expr in check_expressions(sql):
            rowid = "rowid" if "WITHOUT ROWID" not in sql.upper() else "NULL"
            rows = queue.rows(f'SELECT {rowid} FROM "{table}" WHERE NOT ({expr}) LIMIT 6')
            if rows:
                ids = ", ".join(str(r[0]) for r in rows[:5]) + (", …" if len(rows) > 5 else "")
                found.append(Violation("constraint", f"{table} rows {ids} break CHECK "
                                       f"({' '.join(expr.split())}): fix them by hand in "
                                       "sqlite3 (a worker never runs such a job)"))
    return found


def check_expressions(sql: str) -> list[str]:
    """The expressions of the CHECK constraints in a CREATE TABLE statement (comments
    dropped, parentheses and quotes balanced)."""
    text = re.sub(r"--[^\n]*", "", sql)
    found = []
    for match in re.finditer(r"\bCHECK\s*\(", text, re.IGNORECASE):
        depth, quote, start = 1, None, match.end()
        for i in range(start, len(text)):
            ch = text[i]
            if quote:
                quote = None if ch == quote else quote
            elif ch in "'\"":
                quote = ch
            elif ch == "(":
                depth += 1
            elif ch == ")":
                depth -= 1
                if depth == 0:
                    found.append(text[start:i])
                    break
    return found


def _payloads(queue: Queue) -> list[Violation]:
    """Payloads a worker cannot run: JSON, but not an object (the CHECK only asks for JSON)."""
    rows = queue.read("SELECT job_id, sweep, task_id, arm FROM jobs WHERE json_valid(task)"
                      " AND json_type(task) != 'object' LIMIT 20")
    return [Violation("payload", f"{_job(r)}: its payload is not a JSON object (a worker "
                      "quarantines it): fix it by hand in sqlite3, then `sweepq retry`")
            for r in rows]


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


def _aggregates(queue: Queue) -> list[Violation]:
    return [Violation("aggregate", f"result_buckets of sweep {name} disagrees with a recount "
                      "of its results (--repair: rebuilt)", True)
            for name in queue.buckets_disagreeing()]


def repair(queue: Queue) -> list[str]:
    """Fix the repairable violations in one transaction (`Queue.repair`); one line per kind
    of fix."""
    return queue.repair()
