"""The historical JSONL format: a `_meta` line, then one row per (task_id, arm).

Every line is `json.dumps(obj)` with default separators plus a newline; row
keys are task_id, arm, passed, detail, wall_seconds, sub_calls and, when the
sweep names its benchmark, benchmark. Files from before the `_meta` line had
neither it nor the benchmark key; `sweeps.has_meta` and a NULL benchmark
remember that, so import then export reproduces any such file byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import IO, Any

from . import bounds, storetext
from .errors import SweepqError
from .queue import Queue, Result, Sweep

EXPORT_BATCH = 5_000
ROW_KEYS = ("task_id", "arm", "passed", "detail", "wall_seconds", "sub_calls")
_ORDERS = {"completion": "r.completion_seq", "canonical": "j.position"}


@dataclass(frozen=True)
class ImportReport:
    sweep: str
    rows: int
    new: int


@dataclass(frozen=True)
class HistoricalFile:
    """A parsed and checked historical file, not yet imported."""

    path: Path
    meta: dict[str, Any] | None
    rows: list[dict[str, Any]]


# -- export -------------------------------------------------------------------

def export(queue: Queue, sweep: Sweep, out: IO[str], order: str = "completion",
           include_errors: bool = False) -> int:
    """Write the sweep's results in the historical format; return the row count.

    Streams: rows are fetched and written EXPORT_BATCH at a time. `error`
    jobs are left out unless asked for; then they are written as the old
    runner did (passed false, detail = the error), after the results in
    completion order, or in their place in canonical order.
    """
    if order not in _ORDERS:
        raise SweepqError(f"unknown order {order!r}: use completion or canonical")
    if sweep.has_meta:
        out.write(json.dumps(sweep.meta()) + "\n")
    tail = "}\n" if sweep.benchmark is None else f', "benchmark": {_string(sweep.benchmark)}}}\n'
    written = 0
    for batch in _rows(queue, sweep.name, order, include_errors):
        text = "".join(_line(row, tail) for row in batch)
        if _STORED_ESCAPE in text:   # rare: a text held a lone surrogate (storetext)
            text = "".join(_line(_loaded(row), tail) for row in batch)
        out.write(text)
        written += len(batch)
    return written


# What storetext.ESCAPE looks like in a line: one scan of a batch's text finds any.
_STORED_ESCAPE = encode_basestring_ascii(storetext.ESCAPE)[1:-1]


def _loaded(row: tuple) -> tuple:
    task_id, arm, passed, detail, wall, sub_calls = row
    return (storetext.load(task_id), storetext.load(arm), passed, storetext.load(detail),
            wall, sub_calls)


# A row is what json.dumps(dict) would write, built from a format string: the same
# encoders json uses, without a dict and an encoder call per row (half the CPU of export).
_string = encode_basestring_ascii


def _line(row: tuple, tail: str) -> str:
    task_id, arm, passed, detail, wall, sub_calls = row
    return (f'{{"task_id": {_string(task_id)}, "arm": {_string(arm)}, '
            f'"passed": {"true" if passed else "false"}, "detail": {_string(detail)}, '
            f'"wall_seconds": {_number(wall)}, "sub_calls": {int(sub_calls)}{tail}')


def _number(value: float | None) -> str:
    if value is None:
        return "null"
    text = float.__repr__(float(value))
    return text if text[-1].isdigit() else json.dumps(value)  # nan and infinities


def _rows(queue: Queue, sweep: str, order: str, include_errors: bool) -> Iterator[list]:
    done = ("SELECT j.task_id, j.arm, r.passed, r.detail, r.wall_seconds, r.sub_calls"
            " FROM results AS r JOIN jobs AS j USING (job_id) WHERE j.sweep = :sweep")
    errors = ("SELECT task_id, arm, 0, coalesce(last_error, 'error'), NULL,"
              " (SELECT count(*) FROM calls WHERE calls.job_id = jobs.job_id"
              "  AND calls.error_class IS NULL)"
              " FROM jobs WHERE sweep = :sweep AND state = 'error'")
    if order == "completion":
        queries = [done + " ORDER BY r.completion_seq"]
        if include_errors:
            queries.append(errors + " ORDER BY position")
    else:
        sql = done.replace("j.task_id, j.arm", "j.position, j.task_id, j.arm")
        if include_errors:
            sql += " UNION ALL " + errors.replace("SELECT task_id", "SELECT position, task_id")
        queries = [f"SELECT task_id, arm, passed, detail, wall_seconds, sub_calls FROM ({sql})"
                   " ORDER BY position"]
    for sql in queries:
        yield from queue.batches(sql, {"sweep": sweep}, EXPORT_BATCH)


# -- import -------------------------------------------------------------------

def read_file(path: str | Path) -> HistoricalFile:
    """Parse and check a historical file; a malformed line is an error naming its number.

    The CLI reads the file before it opens the database, so a bad file leaves no
    new database behind.
    """
    path = Path(path)
    meta, rows = _parse(path)
    return HistoricalFile(path, meta, rows)


def import_file(queue: Queue, source: str | Path | HistoricalFile,
                sweep_name: str | None = None) -> ImportReport:
    """Read a historical file into a sweep with its results, all in one transaction.

    The file's line order becomes the completion order. A malformed line is an
    error naming its number, and nothing is imported. Importing the same file
    again adds nothing. `source` is a path or what `read_file` returned.
    """
    parsed = source if isinstance(source, HistoricalFile) else read_file(source)
    path, meta, rows = parsed.path, parsed.meta, parsed.rows
    name = sweep_name or path.stem
    # Arms the rows use beyond the _meta list sort after it; the _meta list stays as written.
    new = queue.import_results(_sweep_for(name, meta, rows), [
        (row["task_id"], row["arm"], Result(row["passed"], row["detail"], row["wall_seconds"],
                                            row["sub_calls"])) for row in rows])
    return ImportReport(sweep=name, rows=len(rows), new=new)


def _parse(path: Path) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SweepqError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise SweepqError(f"{path} is a folder: pass a .jsonl results file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SweepqError(f"cannot read {path}: {exc}") from None
    meta, rows = None, []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise SweepqError(f"{path}:{number}: not JSON ({exc.msg}): nothing imported") \
                from None
        if not isinstance(obj, dict):
            raise SweepqError(f"{path}:{number}: expected a JSON object: nothing imported")
        if obj.get("_meta") is True:
            if meta is not None or rows:
                raise SweepqError(f"{path}:{number}: a _meta line must come first and only "
                                  "once: nothing imported")
            _check_meta(obj, path, number)
            meta = obj
            continue
        _check_row(obj, path, number)
        rows.append(obj)
    if not rows:
        raise SweepqError(f"{path} has no result rows: nothing imported")
    return meta, rows


def _check_row(row: dict[str, Any], path: Path, number: int) -> None:
    missing = [key for key in ROW_KEYS if key not in row]
    if missing:
        raise SweepqError(f"{path}:{number}: row lacks {', '.join(missing)}: nothing imported")
    ok = (isinstance(row["task_id"], str) and isinstance(row["arm"], str)
          and isinstance(row["passed"], bool) and isinstance(row["detail"], str)
          and (row["wall_seconds"] is None or isinstance(row["wall_seconds"], int | float))
          and isinstance(row["sub_calls"], int) and not isinstance(row["sub_calls"], bool))
    if not ok:
        raise SweepqError(f"{path}:{number}: a field has the wrong type (passed must be true or "
                          "false, sub_calls an integer): nothing imported")
    try:
        bounds.count("sub_calls", row["sub_calls"], 0, bounds.MAX_SUB_CALLS)
        if row["wall_seconds"] is not None:
            bounds.duration("wall_seconds", row["wall_seconds"], 0.0, bounds.MAX_WALL_SECONDS)
    except SweepqError as exc:
        raise SweepqError(f"{path}:{number}: {exc}: nothing imported") from None


def _check_meta(meta: dict[str, Any], path: Path, number: int) -> None:
    """The `_meta` fields a sweep is made of: right types and sane numbers, or a refusal."""
    def strings(value: Any) -> bool:
        return value is None or (isinstance(value, list)
                                 and all(isinstance(v, str) for v in value))
    problem = None
    if not (meta.get("benchmark") is None or isinstance(meta.get("benchmark"), str)):
        problem = "benchmark must be a string or null"
    elif not strings(meta.get("arms")) or not strings(meta.get("subtasks")):
        problem = "arms and subtasks must be lists of strings"
    else:
        try:
            if meta.get("n_per_subtask") is not None:
                bounds.count("n_per_subtask", meta["n_per_subtask"], 1, bounds.MAX_N_PER_SUBTASK)
            if meta.get("start") is not None:
                bounds.count("start", meta["start"], 0, bounds.MAX_N_PER_SUBTASK)
        except SweepqError as exc:
            problem = str(exc)
    if problem:
        raise SweepqError(f"{path}:{number}: _meta: {problem}: nothing imported")


def _sweep_for(name: str, meta: dict[str, Any] | None, rows: list[dict[str, Any]]) -> Sweep:
    seen_arms = list(dict.fromkeys(row["arm"] for row in rows))
    if meta is None:
        benchmarks = {row.get("benchmark") for row in rows}
        return Sweep(name=name, arms=seen_arms, benchmark=benchmarks.pop()
                     if len(benchmarks) == 1 else None, has_meta=False)
    return Sweep(name=name, arms=list(meta.get("arms") or seen_arms),
                 benchmark=meta.get("benchmark"), subtasks=list(meta.get("subtasks") or []),
                 n_per_subtask=meta.get("n_per_subtask"), start=meta.get("start") or 0)
