"""7. Cost replay: calls paid / calls needed in a chaos sweep.

The fake API answers with faults (`--faults 529:0.1,500:0.05 --resets 0.02
--latency-ms 50`); 400 echo-judge jobs (2-4 calls each); one `sweepq work -c 16
--lease-seconds 5` process is SIGKILLed three times (at about 20%, 45% and 70% of the
jobs done) and started again each time, then left to finish.

  paid       = successful responses the fake served (its /stats `successes`)
  journaled  = successful calls in the journal (`calls` rows with no error)
  needed     = calls the finished jobs' arms made (sum of results.sub_calls); replayed
               calls count once, as they should
  in flight  = paid - journaled: answered while a worker was being killed, never
               journaled, so paid again by the retry; the goal excludes these.

Goal: journaled calls of done jobs / needed = 1.00 (no call paid twice because of a
retry, a fault or a restart), with the in-flight ones counted beside it. One run (the
fault sequence is seeded; the kill moments are not).

    python bench/bench_replay.py [--jobs 400] [--kills 3] [--quick]
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import (
    FakeServer,
    emit,
    enqueue_sample,
    note,
    query,
    rnd,
    sample_dataset,
    work_cmd,
    workdir,
)

SECTION = "7. Cost replay"
SWEEP = "chaos"


def done_count(db: Path) -> int:
    return query(db, "SELECT count(*) FROM jobs WHERE state IN ('done', 'error')")[0][0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=400)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--faults", default="529:0.1,500:0.05")
    parser.add_argument("--resets", default="0.02")
    parser.add_argument("--latency-ms", type=float, default=50)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--quick", action="store_true", help="100 jobs")
    args = parser.parse_args()
    if args.quick:
        args.jobs = 100
    jobs = args.jobs
    marks = [int(jobs * (0.2 + 0.25 * k)) for k in range(args.kills)]
    with workdir("replay") as tmp:
        data = sample_dataset(tmp / "data", jobs // 2)
        db = tmp / "chaos.db"
        enqueue_sample(db, data, SWEEP, jobs // 2, "echo-judge")
        with FakeServer("--faults", args.faults, "--resets", args.resets, "--seed",
                        str(args.seed), latency_ms=args.latency_ms) as fake:
            cmd = work_cmd(db, SWEEP, args.concurrency, "--lease-seconds", "5")
            started = time.monotonic()
            kills, exits = [], []
            proc = subprocess.Popen(cmd, env=fake.env(), stdout=subprocess.DEVNULL,
                                    stderr=subprocess.PIPE, text=True)
            for mark in marks:
                while done_count(db) < mark and proc.poll() is None:
                    time.sleep(0.05)
                if proc.poll() is not None:
                    note(f"worker exited before the kill at {mark}: {proc.stderr.read()[-500:]}")
                    break
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                running = query(db, "SELECT count(*) FROM jobs WHERE state = 'running'")[0][0]
                kills.append({"at_done": done_count(db), "leased_jobs": running})
                note(f"killed the worker at {kills[-1]['at_done']} jobs finished, "
                     f"{running} jobs leased")
                proc = subprocess.Popen(cmd, env=fake.env(), stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE, text=True)
            _, err = proc.communicate(timeout=600)
            exits.append(proc.returncode)
            # A last pass picks up anything a killed lease or a backoff left behind.
            unfinished = "SELECT count(*) FROM jobs WHERE state IN ('pending', 'running')"
            while query(db, unfinished)[0][0]:
                again = subprocess.run(cmd, env=fake.env(), capture_output=True, text=True,
                                       timeout=600)
                exits.append(again.returncode)
            elapsed = time.monotonic() - started
            stats = fake.stats()
        # -- the counts ------------------------------------------------------------------
        (done, errors), = query(db, "SELECT sum(state = 'done'), sum(state = 'error') FROM jobs")
        needed = query(db, "SELECT coalesce(sum(sub_calls), 0) FROM results")[0][0]
        journaled_done = query(db, "SELECT count(*) FROM calls c JOIN jobs j USING (job_id)"
                                   " WHERE c.error_class IS NULL AND j.state = 'done'")[0][0]
        journaled_all = query(db, "SELECT count(*) FROM calls WHERE error_class IS NULL")[0][0]
        failed_calls = query(db, "SELECT count(*) FROM calls WHERE error_class IS NOT NULL")[0][0]
        dup = query(db, "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM calls"
                        " WHERE error_class IS NULL GROUP BY job_id, request_hash, call_index"
                        " HAVING n > 1)")[0][0]
    paid = stats["successes"]
    in_flight = paid - journaled_all
    ratio = journaled_done / needed if needed else float("nan")
    note(f"{done} done, {errors} error in {elapsed:.1f}s; paid {paid}, journaled {journaled_all}"
         f" ({journaled_done} of done jobs), needed {needed}, in flight at kills {in_flight}, "
         f"faults {stats['faults']}")
    emit(SECTION, f"{jobs} echo-judge jobs, faults {args.faults} resets {args.resets}, "
         f"{len(kills)} SIGKILLs: calls paid / needed, excluding in flight at a kill",
         sweepq=rnd(ratio, 3), compare=rnd(paid / needed, 3) if needed else None,
         compare_label="including in-flight", ratio=None, unit="ratio", goal="1.00",
         met=abs(ratio - 1.0) < 0.0005 and errors == 0,
         paid=paid, journaled=journaled_all, journaled_of_done_jobs=journaled_done,
         needed=needed, in_flight_at_kills=in_flight, duplicate_journal_entries=dup,
         failed_calls_journaled=failed_calls, requests=stats["requests"],
         faults=stats["faults"], jobs_done=done, jobs_error=errors, kills=kills,
         worker_exits=exits, seconds=rnd(elapsed, 1))


if __name__ == "__main__":
    sys.exit(main())
