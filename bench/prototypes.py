"""Prototypes of suggested sweepq changes, as bench-only monkeypatches, measured side by side.

Nothing here is imported by sweepq or by the other benchmarks. Each prototype is
measured against the code in the tree, in the same run, and checked to produce the
same database rows or the same bytes:

  enqueue  `Queue.enqueue`: one multi-row INSERT per 100 jobs (instead of executemany's
           one statement execution per row) with the parameters built flat, and one
           shared `json.JSONEncoder(ensure_ascii=False)` (json.dumps with a non-default
           argument builds a new encoder for every payload).
  export   `jsonl.export`: each line from a format string, strings encoded with the json
           module's own C encoder, instead of a dict + `json.dumps` per row.

    python bench/prototypes.py [--n 300000] [--repeats 2]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import time
from json.encoder import encode_basestring_ascii
from pathlib import Path
from typing import IO, Any

from common import emit, median, note, rnd, workdir

from sweepq import jsonl
from sweepq import queue as queue_mod
from sweepq.queue import Queue, Sweep

SECTION = "Prototypes"
ROWS_PER_STATEMENT = 100
_COLUMNS = "(sweep, task_id, arm, position, task, max_attempts, created_at)"
_MULTI = (f"INSERT OR IGNORE INTO jobs {_COLUMNS} VALUES "
          + ",".join(["(?, ?, ?, ?, ?, ?, ?)"] * ROWS_PER_STATEMENT))
_SINGLE = f"INSERT OR IGNORE INTO jobs {_COLUMNS} VALUES (?, ?, ?, ?, ?, ?, ?)"
_ENCODE = json.JSONEncoder(ensure_ascii=False).encode


def enqueue_prototype(self: Queue, sweep: Sweep, tasks: Any, max_attempts: int = 3) -> int:
    """Queue.enqueue with multi-row INSERTs and a shared encoder (same rows, same batches)."""
    from sweepq.errors import SweepqError

    if not sweep.arms:
        raise SweepqError("no arms given: pass --arms a,b")
    if max_attempts < 1:
        raise SweepqError("--max-attempts must be at least 1")
    now = self.clock()
    name, arms, n_arms = sweep.name, sweep.arms, len(sweep.arms)
    new, created, flat, rows, position = 0, False, [], 0, 0

    def flush(flat: list, rows: int, first: bool) -> int:
        with self.write() as conn:
            if first:
                self.create_sweep(conn, sweep)
            before = conn.total_changes
            whole = rows - rows % ROWS_PER_STATEMENT
            step = 7 * ROWS_PER_STATEMENT
            for k in range(0, 7 * whole, step):
                conn.execute(_MULTI, flat[k:k + step])
            rest = flat[7 * whole:]
            if rest:
                conn.executemany(_SINGLE, [rest[i:i + 7] for i in range(0, len(rest), 7)])
            return conn.total_changes - before

    for task_id, payload in tasks:
        task_json = _ENCODE(payload)
        for arm in arms:
            flat += (name, task_id, arm, position, task_json, max_attempts, now)
            position += 1
        rows += n_arms
        if rows >= queue_mod.ENQUEUE_BATCH:
            new += flush(flat, rows, not created)
            created, flat, rows = True, [], 0
    if rows or not created:
        new += flush(flat, rows, not created)
    return new


def _number(value: float) -> str:
    """json.dumps of a float, without the call: repr, except for nan and infinities."""
    text = float.__repr__(value)
    return text if text[-1].isdigit() else json.dumps(value)


def export_prototype(queue: Queue, sweep: Sweep, out: IO[str], order: str = "completion",
                     include_errors: bool = False) -> int:
    """jsonl.export writing each line from a format string: byte-identical output."""
    if sweep.has_meta:
        out.write(json.dumps(sweep.meta()) + "\n")
    enc = encode_basestring_ascii
    tail = ("}\n" if sweep.benchmark is None
            else ', "benchmark": ' + enc(sweep.benchmark) + "}\n")
    written = 0
    for batch in jsonl._rows(queue, sweep.name, order, include_errors):
        out.write("".join(
            f'{{"task_id": {enc(t)}, "arm": {enc(a)}, "passed": {"true" if p else "false"}, '
            f'"detail": {enc(d)}, "wall_seconds": {"null" if w is None else _number(w)}, '
            f'"sub_calls": {s}{tail}' for t, a, p, d, w, s in batch))
        written += len(batch)
    return written


def tasks(n: int) -> Any:
    for i in range(n):
        yield (f"t{i:07d}", {"subtask": "web_of_lies", "index": i,
                             "prompt": f"Question: does person {i} tell the truth? é",
                             "gold": "Yes"})


def fresh(path: Path) -> Queue:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return Queue.open(str(path))


def jobs_digest(path: Path) -> str:
    conn = sqlite3.connect(path)
    h = hashlib.sha256()
    for row in conn.execute("SELECT sweep, task_id, arm, position, task, state, max_attempts"
                            " FROM jobs ORDER BY job_id"):
        h.update(repr(row).encode())
    conn.close()
    return h.hexdigest()


def measure_enqueue(tmp: Path, n: int, repeats: int) -> None:
    sweep = Sweep(name="proto", arms=["haiku-only", "echo-judge"], benchmark="bbh")
    times: dict[str, list[tuple[float, float]]] = {"current": [], "prototype": []}
    digests = {}
    original = Queue.enqueue
    for _ in range(repeats):
        for kind in ("current", "prototype"):
            q = fresh(tmp / f"enq-{kind}.db")
            fn = original if kind == "current" else enqueue_prototype
            start, cpu = time.perf_counter(), time.process_time()
            new = fn(q, sweep, tasks(n // 2))
            times[kind].append((time.perf_counter() - start, time.process_time() - cpu))
            q.close()
            assert new == n, new
            digests[kind] = jobs_digest(tmp / f"enq-{kind}.db")
            note(f"enqueue {kind}: {times[kind][-1][0]:.2f}s wall, {times[kind][-1][1]:.2f}s CPU")
    same = digests["current"] == digests["prototype"]
    cur = median([c for _, c in times["current"]])
    new = median([c for _, c in times["prototype"]])
    emit(SECTION, f"enqueue {n:,} jobs: multi-row INSERT + shared encoder (CPU s)",
         sweepq=rnd(new, 2), compare=rnd(cur, 2), compare_label="current Queue.enqueue",
         ratio=rnd(cur / new, 2), ratio_label="speed-up", unit="s", goal=None, met=None,
         same_rows=same, wall={k: [rnd(w, 2) for w, _ in v] for k, v in times.items()},
         us_per_job={"current": rnd(1e6 * cur / n, 2), "prototype": rnd(1e6 * new / n, 2)})


def measure_export(tmp: Path, n: int, repeats: int) -> None:
    path = tmp / "export.db"
    q = fresh(path)
    q.enqueue(Sweep(name="proto", arms=["haiku-only"], benchmark="bbh"), tasks(n))
    now = time.time()
    with q.write() as conn:
        conn.execute("UPDATE jobs SET state = 'done', attempts = 1, started_at = ?,"
                     " finished_at = ?", (now, now))
        conn.execute(
            "INSERT INTO results (job_id, passed, detail, wall_seconds, sub_calls, completed_at)"
            " SELECT job_id, job_id % 3 != 0, CASE WHEN job_id % 5 = 0 THEN 'unparseable'"
            " WHEN job_id % 3 != 0 THEN 'passed' ELSE 'expected \"Yes\" got Ño' END,"
            " CASE WHEN job_id % 7 = 0 THEN NULL WHEN job_id % 11 = 0 THEN 1e-7 * job_id"
            " ELSE (job_id % 1000) / 7.0 END,"
            " job_id % 4, ? FROM jobs ORDER BY job_id", (now,))
    sweep = q.resolve_sweep("proto")
    times: dict[str, list[float]] = {"current": [], "prototype": []}
    for _ in range(repeats):
        for kind, fn in (("current", jsonl.export), ("prototype", export_prototype)):
            out = tmp / f"export-{kind}.jsonl"
            cpu = time.process_time()
            with out.open("w", encoding="utf-8", newline="\n") as f:
                fn(q, sweep, f)
            times[kind].append(time.process_time() - cpu)
            note(f"export {kind}: {times[kind][-1]:.2f}s CPU")
    q.close()
    same = ((tmp / "export-current.jsonl").read_bytes()
            == (tmp / "export-prototype.jsonl").read_bytes())
    cur, new = median(times["current"]), median(times["prototype"])
    emit(SECTION, f"export {n:,} results: format-string lines (CPU s)", sweepq=rnd(new, 2),
         compare=rnd(cur, 2), compare_label="current jsonl.export", ratio=rnd(cur / new, 2),
         ratio_label="speed-up", unit="s", goal=None, met=None, byte_identical=same)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="n=20,000, one run")
    args = parser.parse_args()
    if args.quick:
        args.n, args.repeats = 20_000, 1
    with workdir("proto") as tmp:
        measure_enqueue(tmp, args.n, args.repeats)
        measure_export(tmp, args.n, args.repeats)


if __name__ == "__main__":
    sys.exit(main())
