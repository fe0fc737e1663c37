"""5. Resume latency: from a pause's resume_at to the first claim, with workers idle-waiting.

Each round: a queue of small haiku-only jobs under a long pause; two `sweepq work
--concurrency 4` processes start and wait it out (idle: their CPU time stops growing);
then, in one transaction, the long pause is replaced by one whose resume_at is 3 s
ahead. Latency = first jobs.started_at - resume_at. A claim before resume_at would be
a broken pause and is counted too. A last round clears the pause with `sweepq resume`
instead (latency from its cleared_at).

    python bench/bench_resume.py [--rounds 3] [--ahead 3] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psutil
from common import (
    FakeServer,
    emit,
    enqueue_sample,
    median,
    note,
    query,
    rnd,
    run_child,
    sample_dataset,
    sweepq_cmd,
    work_cmd,
    workdir,
)

from sweepq.queue import Queue

SECTION = "5. Resume latency"
SWEEP = "resume"


def wait_idle(procs: list[subprocess.Popen], timeout: float = 30.0) -> float:
    """Until every process has run ≥1 s and used < 10 ms CPU in the last 0.5 s."""
    started = time.monotonic()
    handles = [psutil.Process(p.pid) for p in procs]
    last = [sum(h.cpu_times()[:2]) for h in handles]
    while time.monotonic() - started < timeout:
        time.sleep(0.5)
        now = [sum(h.cpu_times()[:2]) for h in handles]
        if time.monotonic() - started >= 1.0 and all(b - a < 0.01 for a, b in zip(last, now,
                                                                                 strict=True)):
            return time.monotonic() - started
        if any(p.poll() is not None for p in procs):
            raise RuntimeError("a worker exited while it should wait out the pause")
        last = now
    raise RuntimeError("workers did not go idle")


def one_round(tmp: Path, tpl: Path, fake: FakeServer, ahead: float, workers: int,
              manual: bool) -> dict:
    db = tmp / "round.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(tpl, db)
    q = Queue.open(str(db))
    q.pause(time.time() + 600, "rate_limited", "bench: a long pause", set_by="bench")
    procs = [subprocess.Popen(work_cmd(db, SWEEP, 4), env=fake.env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE) for _ in range(workers)]
    try:
        idle_after = wait_idle(procs)
        if manual:
            run = run_child([*sweepq_cmd(), "--db", str(db), "resume"])
            if run.returncode:
                raise RuntimeError(run.stderr)
            resume_at = query(db, "SELECT max(cleared_at) FROM pauses")[0][0]
        else:
            with q.write() as conn:
                now = time.time()
                resume_at = now + ahead
                conn.execute("UPDATE pauses SET cleared_at = ? WHERE cleared_at IS NULL", (now,))
                conn.execute("INSERT INTO pauses (resume_at, reason, message, set_by, created_at)"
                             " VALUES (?, 'rate_limited', 'bench: resume soon', 'bench', ?)",
                             (resume_at, now))
        for p in procs:
            p.wait(timeout=60)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        q.close()
    first_claim, early, done, total = query(
        db, "SELECT min(started_at), sum(started_at < ?), sum(state = 'done'), count(*)"
            " FROM jobs", (resume_at,))[0]
    first_result = query(db, "SELECT min(completed_at) FROM results")[0][0]
    out = {"latency": first_claim - resume_at, "first_result": first_result - resume_at,
           "early_claims": early or 0, "done": done, "total": total, "idle_after": idle_after}
    note(f"{'sweepq resume' if manual else 'resume_at'}: first claim "
         f"{out['latency']:+.3f}s, first result {out['first_result']:+.3f}s, "
         f"{out['early_claims']} early claims, {done}/{total} done")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--ahead", type=float, default=3.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="one round")
    args = parser.parse_args()
    if args.quick:
        args.rounds = 1
    with workdir("resume") as tmp:
        data = sample_dataset(tmp / "data", 10)
        tpl = tmp / "template.db"
        enqueue_sample(tpl, data, SWEEP, 10, "haiku-only")
        with FakeServer(latency_ms=0) as fake:
            rounds = [one_round(tmp, tpl, fake, args.ahead, args.workers, manual=False)
                      for _ in range(args.rounds)]
            manual = one_round(tmp, tpl, fake, args.ahead, args.workers, manual=True)
    lat = median([r["latency"] for r in rounds])
    early = sum(r["early_claims"] for r in rounds) + manual["early_claims"]
    emit(SECTION, f"resume_at {args.ahead:g} s ahead, {args.workers} idle workers: "
         "resume_at to first claim", sweepq=rnd(lat, 4), compare=1800,
         compare_label="historical wrapper: fixed 30 min sleep", ratio=None, unit="s",
         goal="<= 1 s", met=lat <= 1.0 and early == 0,
         runs=[rnd(r["latency"], 4) for r in rounds],
         first_result=[rnd(r["first_result"], 3) for r in rounds], claims_before_resume=early)
    emit(SECTION, "`sweepq resume` to first claim", sweepq=rnd(manual["latency"], 3),
         compare=None, unit="s", goal=None, met=None,
         first_result=rnd(manual["first_result"], 3))


if __name__ == "__main__":
    sys.exit(main())
