"""1. Queue cycle: claim + complete (a result row written) per second.

One process, WAL, synchronous=NORMAL, N jobs (default 20,000):
  - sweepq's Queue API (`claim` then `complete` with a full `Result`), against
  - a bare-SQL loop doing the same two transactions on the same schema (the same
    claim statement — UPDATE … WHERE job_id = (SELECT …) RETURNING — minus the pause
    check, then UPDATE to done + INSERT the same result row), raw sqlite3, tuples,
  - litequeue 0.9 (put, then pop + done) and persist-queue SQLiteAckQueue (put, then
    get + ack) of the same N payloads, with their default settings;
then 4 processes on one database: total cycles/s and how many jobs were claimed twice.

    python bench/bench_queue.py [--n 20000] [--repeats 3] [--procs 4] [--quick] [--single]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import shutil
import sqlite3
import sys
import time
from collections import Counter
from pathlib import Path

from common import emit, median, note, rnd, workdir

from sweepq.queue import Queue, Result, Sweep
from sweepq.usage import Usage, columns

SECTION = "1. Queue cycle"
SWEEP = "bench"
PROMPT = ("Question: Fidel tells the truth. Sima says Fidel lies. Leda says Sima tells the "
          "truth. Osvaldo says Leda lies. Jamey says Osvaldo tells the truth. Does Jamey tell "
          "the truth?\n(A) Yes\n(B) No\n\nThink it through briefly, then end your reply with a "
          "last line of exactly \"Answer: X\", where X is the letter of the correct option.")
OUTPUT = ("Let me think about this step by step.\nWorking through it carefully.\nAnswer: (B)")
RESULT = Result(passed=True, detail="passed", wall_seconds=0.512, sub_calls=1, output=OUTPUT,
                usage=Usage(input_tokens=180, output_tokens=21, cache_read_tokens=0,
                            cache_write_tokens=0, cost_usd=0.000285),
                models=["claude-haiku-4-5"])


def payload(i: int) -> dict:
    return {"subtask": "web_of_lies", "index": i, "prompt": PROMPT, "gold": "B",
            "choices": [["A", "Yes"], ["B", "No"]], "free_form": False}


def make_db(path: Path, n: int) -> None:
    q = Queue.open(str(path))
    q.enqueue(Sweep(name=SWEEP, arms=["haiku-only"], benchmark="bbh"),
              ((f"web_of_lies-{i}", payload(i)) for i in range(n)))
    q.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    q.close()


def fresh_copy(template: Path, target: Path) -> Path:
    for suffix in ("", "-wal", "-shm"):
        Path(str(target) + suffix).unlink(missing_ok=True)
    shutil.copyfile(template, target)
    return target


# -- the loops ---------------------------------------------------------------------

class SweepqCycles:
    """claim + complete through sweepq's Queue API."""

    def __init__(self, path: Path, worker: str = "w1"):
        self.q, self.worker, self.claimed = Queue.open(str(path)), worker, []

    def step(self, k: int) -> int:
        """Up to k cycles; fewer only when the queue ran dry."""
        q, worker = self.q, self.worker
        for done in range(k):
            job = q.claim(SWEEP, worker)
            if job is None:
                return done
            q.complete(job.job_id, worker, RESULT)
            self.claimed.append(job.job_id)
        return k

    def close(self) -> None:
        self.q.close()


BARE_CLAIM = """
UPDATE jobs SET state = 'running', lease_owner = ?, lease_expires_at = ?,
    attempts = attempts + 1, started_at = ?
WHERE job_id = (
    SELECT job_id FROM jobs
    WHERE sweep = ? AND state IN ('pending', 'running')
      AND ((state = 'pending' AND available_at <= ?)
           OR (state = 'running' AND lease_expires_at <= ?))
    ORDER BY position LIMIT 1)
RETURNING job_id, task, attempts
"""
BARE_DONE = ("UPDATE jobs SET state = 'done', lease_owner = NULL, lease_expires_at = NULL,"
             " finished_at = ?, last_error = NULL"
             " WHERE job_id = ? AND state = 'running' AND lease_owner = ?")
BARE_RESULT = ("INSERT INTO results (job_id, passed, detail, wall_seconds, sub_calls, output,"
               " input_tokens, output_tokens, cache_read_tokens, cache_write_tokens, cost_usd,"
               " models, completed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


class BareCycles:
    """The same two transactions in raw sqlite3: no library, no pause check, no objects."""

    def __init__(self, path: Path, worker: str = "w1"):
        conn = sqlite3.connect(path, isolation_level=None, timeout=30)
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        self.conn, self.worker, self.claimed = conn, worker, []
        self.models = json.dumps(RESULT.models)

    def step(self, k: int) -> int:
        conn, worker, r = self.conn, self.worker, RESULT
        for done in range(k):
            now = time.time()
            conn.execute("BEGIN IMMEDIATE")
            row = conn.execute(BARE_CLAIM, (worker, now + 120, now, SWEEP, now, now)).fetchone()
            conn.execute("COMMIT")
            if row is None:
                return done
            job_id = row[0]
            now = time.time()
            conn.execute("BEGIN IMMEDIATE")
            if conn.execute(BARE_DONE, (now, job_id, worker)).rowcount == 1:
                conn.execute(BARE_RESULT, (job_id, 1, r.detail, r.wall_seconds, r.sub_calls,
                                           r.output, *columns(r.usage), self.models, now))
            conn.execute("COMMIT")
            self.claimed.append(job_id)
        return k

    def close(self) -> None:
        self.conn.close()


KINDS = {"sweepq": SweepqCycles, "bare": BareCycles}


def interleaved(template: Path, tmp: Path, block: int) -> dict[str, float]:
    """Both loops over their own copy of the queue, alternating blocks of cycles.

    The machine is shared and noisy: alternating every `block` cycles gives both
    the same conditions, so their ratio is meaningful even when absolute rates move.
    """
    loops = {kind: cls(fresh_copy(template, tmp / f"{kind}.db")) for kind, cls in KINDS.items()}
    spent = dict.fromkeys(loops, 0.0)
    cpu = dict.fromkeys(loops, 0.0)
    live = list(loops)
    while live:
        for kind in list(live):
            start, cpu_start = time.perf_counter(), time.process_time()
            did = loops[kind].step(block)
            spent[kind] += time.perf_counter() - start
            cpu[kind] += time.process_time() - cpu_start
            if did < block:
                live.remove(kind)
        live.reverse()   # ABBA order within each pair of rounds
    rates = {}
    for kind, loop in loops.items():
        loop.close()
        rates[kind] = len(loop.claimed) / spent[kind]
        rates[f"{kind}_cpu_us"] = 1e6 * cpu[kind] / len(loop.claimed)
    return rates


def run_loop(kind: str, path: Path, worker: str,
             go: object = None) -> tuple[list[int], float, float]:
    loop = KINDS[kind](path, worker)
    if go is not None:
        go.wait()  # type: ignore[attr-defined]
    t0 = time.time()
    start = time.perf_counter()
    while loop.step(1000) == 1000:
        pass
    elapsed = time.perf_counter() - start
    loop.close()
    return loop.claimed, elapsed, t0


def check_done(path: Path, n: int) -> None:
    conn = sqlite3.connect(path)
    done, results = conn.execute("SELECT (SELECT count(*) FROM jobs WHERE state = 'done'),"
                                 " (SELECT count(*) FROM results)").fetchone()
    conn.close()
    if done != n or results != n:
        raise RuntimeError(f"{path}: {done} done, {results} results, expected {n}")


def query_plan(path: Path) -> str:
    conn = sqlite3.connect(path)
    from sweepq.store.claim_sql import CLAIM

    rows = conn.execute("EXPLAIN QUERY PLAN " + CLAIM,
                        {"sweep": SWEEP, "worker": "w", "lease": 1, "now": 0}).fetchall()
    conn.close()
    return "; ".join(r[-1] for r in rows)


# -- other queues -------------------------------------------------------------------

def litequeue_run(path: Path, n: int) -> tuple[float, float]:
    from litequeue import LiteQueue

    q = LiteQueue(str(path))
    items = [json.dumps(payload(i)) for i in range(n)]
    start = time.perf_counter()
    for item in items:
        q.put(item)
    put_s = time.perf_counter() - start
    start = time.perf_counter()
    got = 0
    while (message := q.pop()) is not None:
        q.done(message.message_id)
        got += 1
    cycle_s = time.perf_counter() - start
    q.conn.close()
    assert got == n, got
    return put_s, cycle_s


def persist_queue_run(path: Path, n: int) -> tuple[float, float]:
    import persistqueue

    q = persistqueue.SQLiteAckQueue(str(path), multithreading=False, auto_commit=True)
    items = [payload(i) for i in range(n)]
    start = time.perf_counter()
    for item in items:
        q.put(item)
    put_s = time.perf_counter() - start
    start = time.perf_counter()
    got = 0
    while True:
        try:
            item = q.get(block=False)
        except persistqueue.Empty:
            break
        q.ack(item)
        got += 1
    cycle_s = time.perf_counter() - start
    assert got == n, got
    return put_s, cycle_s


# -- several processes ----------------------------------------------------------------

def _proc_main(kind: str, path: str, worker: str, go: object, out: object) -> None:
    claimed, elapsed, t0 = run_loop(kind, Path(path), worker, go)
    out.put((worker, claimed, t0, t0 + elapsed))  # type: ignore[attr-defined]


def multi_process(kind: str, path: Path, procs: int) -> dict:
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_proc_main, args=(kind, str(path), f"p{i}", go, out))
               for i in range(procs)]
    for w in workers:
        w.start()
    time.sleep(1.0)   # let every process import and open the database
    go.set()
    reports = [out.get(timeout=600) for _ in workers]
    for w in workers:
        w.join()
    claims = Counter(job for _, claimed, _, _ in reports for job in claimed)
    total = sum(claims.values())
    start = min(r[2] for r in reports)
    end = max(r[3] for r in reports)
    return {"cycles": total, "seconds": end - start, "rate": total / (end - start),
            "double_claims": sum(1 for c in claims.values() if c > 1),
            "per_process": [len(r[1]) for r in reports]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--procs", type=int, default=4)
    parser.add_argument("--block", type=int, default=250,
                        help="cycles per turn when alternating sweepq and bare SQL")
    parser.add_argument("--multi-repeats", type=int, default=2,
                        help="runs of the multi-process test, each for sweepq and bare SQL")
    parser.add_argument("--others-repeats", type=int, default=1,
                        help="runs of litequeue and persist-queue (slow: ~1 min each at 20k)")
    parser.add_argument("--others-n", type=int, default=None,
                        help="items for litequeue and persist-queue (default: --n)")
    parser.add_argument("--quick", action="store_true", help="n=2000, for a smoke run")
    parser.add_argument("--single", action="store_true",
                        help="only the 1-process claim + complete against bare SQL (skip the "
                             "other queues and the multi-process runs): for before/after runs")
    args = parser.parse_args()
    if args.quick:
        args.n, args.multi_repeats = 2_000, 1
    n = args.n
    others_n = args.others_n or n
    with workdir("queue") as tmp:
        template = tmp / "template.db"
        make_db(template, n)
        plan = query_plan(template)
        note(f"claim plan: {plan}")
        rates: dict[str, list[float]] = {"sweepq": [], "bare": []}
        ratios = []
        cpu_us: dict[str, list[float]] = {"sweepq": [], "bare": []}
        for _ in range(args.repeats):
            run = interleaved(template, tmp, args.block)
            check_done(tmp / "sweepq.db", n)
            check_done(tmp / "bare.db", n)
            for kind in ("sweepq", "bare"):
                rates[kind].append(run[kind])
            ratios.append(run["sweepq"] / run["bare"])
            cpu_us["sweepq"].append(run["sweepq_cpu_us"])
            cpu_us["bare"].append(run["bare_cpu_us"])
            note(f"sweepq {run['sweepq']:,.0f} cycles/s, bare {run['bare']:,.0f} cycles/s")
        sq, bare = median(rates["sweepq"]), median(rates["bare"])
        ratio = median(ratios)
        emit(SECTION, f"claim + complete, 1 process, {n:,} jobs", sweepq=round(sq),
             compare=round(bare), compare_label="bare SQL (same 2 transactions)",
             ratio=rnd(ratio, 2), ratio_label="sweepq / bare", unit="cycles/s",
             goal=">= 0.75x bare SQL", met=ratio >= 0.75,
             runs={k: [round(v) for v in vs] for k, vs in rates.items()},
             ratios=[round(r, 3) for r in ratios], block=args.block,
             per_cycle_us={"sweepq": round(1e6 / sq, 1), "bare": round(1e6 / bare, 1)},
             cpu_per_cycle_us={k: round(median(v), 1) for k, v in cpu_us.items()},
             cpu_ratio=rnd(median(cpu_us["bare"]) / median(cpu_us["sweepq"]), 3),
             claim_plan=plan)
        if args.single:
            return

        for label, fn in (("litequeue 0.9 (pop + done)", litequeue_run),
                          ("persist-queue SQLiteAckQueue (get + ack)", persist_queue_run)):
            cycles, puts = [], []
            for r in range(args.others_repeats):
                path = tmp / f"other-{r}-{fn.__name__}.db"
                put_s, cycle_s = fn(path, others_n)
                cycles.append(others_n / cycle_s)
                puts.append(others_n / put_s)
                note(f"{label}: {others_n / cycle_s:,.0f} cycles/s, "
                     f"{others_n / put_s:,.0f} puts/s")
            other = median(cycles)
            emit(SECTION, f"vs {label.split(' (')[0]}, {others_n:,} items", sweepq=round(sq),
                 compare=round(other), compare_label=label, ratio=rnd(sq / other, 1),
                 ratio_label="sweepq / other", unit="cycles/s", goal=None, met=None,
                 runs=[round(c) for c in cycles], puts_per_s=round(median(puts)),
                 note="put one row per transaction (their API); timed: the get/ack loop")

        runs_multi: dict[str, list[dict]] = {"sweepq": [], "bare": []}
        for kind in ["sweepq", "bare", "bare", "sweepq"][: 2 * args.multi_repeats]:
            path = fresh_copy(template, tmp / f"multi-{kind}.db")
            runs_multi[kind].append(multi_process(kind, path, args.procs))
            check_done(path, n)
            note(f"{args.procs} processes {kind}: {runs_multi[kind][-1]}")
        multi = {kind: {"rate": median([r["rate"] for r in rs]),
                        "double_claims": sum(r["double_claims"] for r in rs),
                        "per_process": rs[0]["per_process"],
                        "runs": [round(r["rate"]) for r in rs]}
                 for kind, rs in runs_multi.items()}
        emit(SECTION, f"{args.procs} processes on one db, {n:,} jobs: total",
             sweepq=round(multi["sweepq"]["rate"]), compare=round(multi["bare"]["rate"]),
             compare_label=f"bare SQL, {args.procs} processes",
             ratio=rnd(multi["sweepq"]["rate"] / multi["bare"]["rate"], 2),
             ratio_label="sweepq / bare", unit="cycles/s", goal=None, met=None,
             vs_one_process=rnd(multi["sweepq"]["rate"] / sq, 2),
             runs={k: v["runs"] for k, v in multi.items()},
             per_process=multi["sweepq"]["per_process"])
        emit(SECTION, f"{args.procs} processes: jobs claimed twice",
             sweepq=multi["sweepq"]["double_claims"], compare=multi["bare"]["double_claims"],
             compare_label="bare SQL", unit="jobs", goal="0",
             met=multi["sweepq"]["double_claims"] == 0)


if __name__ == "__main__":
    sys.exit(main())
