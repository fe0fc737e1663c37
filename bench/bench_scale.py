"""2. Scale: enqueue and export 1,000,000 jobs, status on that database, bytes per job, RSS.

  - enqueue: `Queue.enqueue` with a generator of N small payloads (one arm, so N tasks
    and N jobs), timed inside a fresh child process whose peak RSS is its own (wait4);
  - results for every job are then made with one SQL statement (not timed), their
    completion times spread as a 100 jobs/s sweep would leave them (the status view's
    pace reads the last 10 minutes of results);
  - export: `jsonl.export` of the N results to a file, timed inside a child (peak RSS
    likewise), and the `sweepq export` command as a whole process;
  - `sweepq status --json` as a process (what a person waits for), and the in-process
    `report.status` call alone;
  - bytes per job on disk, after enqueue and with results;
  - peak RSS of enqueue and export at a small and the full size: flat means streamed.

    python bench/bench_scale.py [--n 1000000] [--small 200000] [--repeats 3] [--quick]
                                [--status-only]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import time
from pathlib import Path

from common import (
    child_env,
    emit,
    last_json,
    median,
    note,
    python_child,
    rnd,
    run_child,
    sweepq_cmd,
    workdir,
)

SECTION = "2. Scale"
SWEEP = "scale"

ENQUEUE_CODE = r"""
import json, sys, time
from sweepq.queue import Queue, Sweep
path, n = sys.argv[1], int(sys.argv[2])
q = Queue.open(path)
def tasks():
    for i in range(n):
        yield (f"t{i:07d}", {"subtask": "web_of_lies", "index": i,
                             "prompt": f"Question: does person {i} tell the truth?", "gold": "Yes"})
start, cpu = time.perf_counter(), time.process_time()
new = q.enqueue(Sweep(name="scale", arms=["haiku-only"], benchmark="bbh"), tasks())
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
q.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
q.close()
print(json.dumps({"seconds": seconds, "cpu": cpu, "new": new}))
"""

EXPORT_CODE = r"""
import json, sys, time
from sweepq import jsonl
from sweepq.queue import Queue
path, out = sys.argv[1], sys.argv[2]
q = Queue.open(path, create=False)
sweep = q.resolve_sweep("scale")
start, cpu = time.perf_counter(), time.process_time()
with open(out, "w", encoding="utf-8", newline="\n") as f:
    rows = jsonl.export(q, sweep, f)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
print(json.dumps({"seconds": seconds, "cpu": cpu, "rows": rows}))
"""

BASELINE_CODE = r"""
import sys
from sweepq import jsonl
from sweepq.queue import Queue
q = Queue.open(sys.argv[1])
q.close()
print("{}")
"""

STATUS_CODE = r"""
import json, sys, time
from sweepq import report
from sweepq.queue import Queue
q = Queue.open(sys.argv[1], create=False)
sweep = q.resolve_sweep("scale")
times = []
for _ in range(int(sys.argv[2])):
    start = time.perf_counter()
    report.status(q, sweep)
    times.append(time.perf_counter() - start)
print(json.dumps({"times": times}))
"""


def db_bytes(path: Path) -> int:
    return sum(os.path.getsize(str(path) + s) for s in ("", "-wal")
               if os.path.exists(str(path) + s))


PACE = 100.0   # jobs/s: section 3's sweep (50 calls of 500 ms at a time)


def make_results(path: Path) -> float:
    """Every job done with a result row, made in SQL (setup, not a measured figure).

    Completion times are spread as a sweep at PACE jobs/s would leave them, ending
    now: the status view's pace counts only the last 10 minutes' results (60,000
    here), as it would on a real million-job sweep.
    """
    start = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    now = time.time()
    last = conn.execute("SELECT max(job_id) FROM jobs").fetchone()[0]
    conn.execute("BEGIN")
    conn.execute("UPDATE jobs SET state = 'done', attempts = 1,"
                 " finished_at = :now - (:last - job_id) / :pace,"
                 " started_at = :now - (:last - job_id) / :pace - 0.5",
                 {"now": now, "last": last, "pace": PACE})
    conn.execute(
        "INSERT INTO results (job_id, passed, detail, wall_seconds, sub_calls, output,"
        " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd, models,"
        " completed_at)"
        " SELECT job_id, job_id % 3 != 0, CASE WHEN job_id % 3 != 0 THEN 'passed'"
        "   ELSE 'expected Yes got No' END, 0.5 + (job_id % 100) / 100.0, 1,"
        "   'Let me think.\nAnswer: (A)', 120, 21, 0, 0, 0.000225, '[\"claude-haiku-4-5\"]',"
        "   finished_at"
        " FROM jobs ORDER BY job_id")
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return time.perf_counter() - start


def enqueue_child(path: Path, n: int) -> dict:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    run = python_child(ENQUEUE_CODE, str(path), str(n))
    if run.returncode:
        raise RuntimeError(run.stderr[-2000:])
    data = last_json(run.stdout)
    assert data["new"] == n, data
    return {"seconds": data["seconds"], "cpu": data["cpu"], "rss_mb": run.maxrss_mb,
            "wall": run.wall}


def export_child(path: Path, out: Path) -> dict:
    run = python_child(EXPORT_CODE, str(path), str(out))
    if run.returncode:
        raise RuntimeError(run.stderr[-2000:])
    data = last_json(run.stdout)
    return {"seconds": data["seconds"], "cpu": data["cpu"], "rows": data["rows"],
            "rss_mb": run.maxrss_mb,
            "bytes": out.stat().st_size}


def measure_status(big_db: Path, n: int, repeats: int) -> None:
    """`sweepq status --json` as a process and the `report.status` call alone, then
    `sweepq --help` as a process (start-up and imports, no database)."""
    status_cli, help_cli = [], []
    for _ in range(max(3, repeats)):
        run = run_child([*sweepq_cmd(), "--db", str(big_db), "status", "--json",
                         "--sweep", SWEEP], env=child_env(PYTHONDONTWRITEBYTECODE=""))
        if run.returncode:
            raise RuntimeError(run.stderr)
        status_cli.append(run.wall)
        help_cli.append(run_child([*sweepq_cmd(), "--help"],
                                  env=child_env(PYTHONDONTWRITEBYTECODE="")).wall)
    inproc = python_child(STATUS_CODE, str(big_db), "5")
    times = last_json(inproc.stdout)["times"]
    st_cli, st_call = median(status_cli), median(times)
    emit(SECTION, f"`sweepq status --json` on {n:,} jobs (process)",
         sweepq=round(st_cli * 1000),
         unit="ms", goal="<= 200 ms", met=st_cli <= 0.2, compare=round(st_call * 1000),
         compare_label="report.status() call alone",
         runs_ms=[round(t * 1000) for t in status_cli],
         call_runs_ms=[round(t * 1000) for t in times],
         help_ms=round(median(help_cli) * 1000),
         help_runs_ms=[round(t * 1000) for t in help_cli])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=1_000_000)
    parser.add_argument("--small", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="n=50,000 and 10,000")
    parser.add_argument("--status-only", action="store_true",
                        help="enqueue N jobs and their results once, then only time `status "
                             "--json` and `--help` (start-up before/after runs)")
    args = parser.parse_args()
    if args.quick:
        args.n, args.small = 50_000, 10_000
    n, small = args.n, args.small
    with workdir("scale") as tmp:
        base = python_child(BASELINE_CODE, str(tmp / "empty.db"))
        note(f"baseline (import sweepq, open a db): {base.maxrss_mb:.1f} MB")

        small_db, big_db = tmp / "small.db", tmp / "big.db"
        if args.status_only:
            enqueue_child(big_db, n)
            make_results(big_db)
            measure_status(big_db, n, args.repeats)
            return
        enq_small = enqueue_child(small_db, small)
        enq_big = []
        for _ in range(args.repeats):
            enq_big.append(enqueue_child(big_db, n))
            note(f"enqueue {n:,}: {enq_big[-1]}")
        enq_s = median([e["seconds"] for e in enq_big])
        jobs_bytes = db_bytes(big_db)
        emit(SECTION, f"enqueue {n:,} jobs (Queue.enqueue, generator)", sweepq=rnd(enq_s, 2),
             unit="s", goal="<= 5 s", met=enq_s <= 5, compare=round(n / enq_s),
             compare_label="jobs/s", runs=[rnd(e["seconds"], 2) for e in enq_big],
             process_wall=[rnd(e["wall"], 2) for e in enq_big],
             cpu=[rnd(e["cpu"], 2) for e in enq_big],
             us_per_job=rnd(1e6 * enq_s / n, 2),
             payload_bytes=len(json.dumps({"subtask": "web_of_lies", "index": 123456,
                                           "prompt": "Question: does person 123456 tell the "
                                                     "truth?", "gold": "Yes"})))

        setup_s = make_results(small_db) + make_results(big_db)
        note(f"results made in SQL in {setup_s:.1f}s")
        done_bytes = db_bytes(big_db)
        emit(SECTION, "bytes per job on disk", sweepq=round(jobs_bytes / n),
             compare=round(done_bytes / n), compare_label="with its result row",
             unit="bytes/job", goal=None, met=None,
             db_mb={"jobs": round(jobs_bytes / 2**20, 1),
                    "with_results": round(done_bytes / 2**20, 1)})

        exp_small = export_child(small_db, tmp / "small.jsonl")
        exp_big = []
        for _ in range(args.repeats):
            exp_big.append(export_child(big_db, tmp / "big.jsonl"))
            note(f"export {n:,}: {exp_big[-1]}")
        exp_s = median([e["seconds"] for e in exp_big])
        cli = run_child([*sweepq_cmd(), "--db", str(big_db), "export", "--sweep", SWEEP,
                         str(tmp / "cli.jsonl")])
        if cli.returncode:
            raise RuntimeError(cli.stderr)
        emit(SECTION, f"export {n:,} results (jsonl.export)", sweepq=rnd(exp_s, 2), unit="s",
             goal="<= 5 s", met=exp_s <= 5, compare=rnd(cli.wall, 2),
             compare_label="`sweepq export` process, wall",
             runs=[rnd(e["seconds"], 2) for e in exp_big],
             cpu=[rnd(e["cpu"], 2) for e in exp_big],
             rows_per_s=round(n / exp_s), file_mb=round(exp_big[0]["bytes"] / 2**20, 1))

        measure_status(big_db, n, args.repeats)

        enq_rss = median([e["rss_mb"] for e in enq_big])
        exp_rss = median([e["rss_mb"] for e in exp_big])
        emit(SECTION, f"peak RSS of enqueue, {small:,} vs {n:,} jobs", sweepq=rnd(enq_rss, 1),
             compare=rnd(enq_small["rss_mb"], 1), compare_label=f"at {small:,}",
             ratio=rnd(enq_rss / enq_small["rss_mb"], 2), ratio_label=f"{n:,} / {small:,}",
             unit="MB", goal="flat (ratio <= 1.2)", met=enq_rss / enq_small["rss_mb"] <= 1.2,
             baseline_mb=rnd(base.maxrss_mb, 1))
        emit(SECTION, f"peak RSS of export, {small:,} vs {n:,} results", sweepq=rnd(exp_rss, 1),
             compare=rnd(exp_small["rss_mb"], 1), compare_label=f"at {small:,}",
             ratio=rnd(exp_rss / exp_small["rss_mb"], 2), ratio_label=f"{n:,} / {small:,}",
             unit="MB", goal="flat (ratio <= 1.2)", met=exp_rss / exp_small["rss_mb"] <= 1.2,
             baseline_mb=rnd(base.maxrss_mb, 1))


if __name__ == "__main__":
    sys.exit(main())
