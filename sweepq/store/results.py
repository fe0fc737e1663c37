"""Result rows: the one INSERT of a result, results moved to `results_history`
before they are replaced or dropped, and the one reset of jobs to a fresh start."""

from __future__ import annotations

import json
import sqlite3
from functools import lru_cache
from typing import Any

from .. import usage
from ..records import Result
from ..storetext import store, store_opt

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

# Jobs sent back to a fresh start: pending, no attempt charged, claimable at once
# (`retry`, and `check --repair` of a done job without a result). Append the WHERE.
RESET_TO_PENDING = ("UPDATE jobs SET state = 'pending', attempts = 0, available_at = 0,"
                    " finished_at = NULL WHERE ")


def move_results(conn: sqlite3.Connection, jobs: str, params: dict[str, Any], now: float,
                 why: str) -> int:
    """Move the current results of the jobs the SQL `jobs` selects (bound with `params`)
    to results_history, inside the caller's transaction; how many moved. A probe first:
    the common case (complete, release) has no result to move, and a read is cheaper than
    an INSERT that finds nothing."""
    if conn.execute(f"SELECT 1 FROM results WHERE job_id IN ({jobs}) LIMIT 1",
                    params).fetchone() is None:
        return 0
    moved = conn.execute(KEEP_RESULTS.format(jobs=jobs),
                         {**params, "now": now, "why": why}).rowcount
    if moved:
        conn.execute(f"DELETE FROM results WHERE job_id IN ({jobs})", params)
    return moved


def insert_result(conn: sqlite3.Connection, job_id: int, result: Result, now: float,
                  line: str | None = None) -> None:
    """The one INSERT of a result row, inside the caller's transaction (`line`: the
    imported file's own text of the row)."""
    conn.execute(
        "INSERT INTO results (job_id, passed, detail, wall_seconds, sub_calls, output,"
        " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,"
        " models, completed_at, line) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (job_id, int(result.passed), store(result.detail), result.wall_seconds,
         result.sub_calls, store_opt(result.output), *usage.columns(result.usage),
         None if result.models is None else _models_json(tuple(result.models)), now,
         store_opt(line)))


@lru_cache(maxsize=64)
def _models_json(models: tuple[str, ...]) -> str:
    """The `models` column of a result: a sweep names the same few models in every one."""
    return json.dumps(list(models))
