"""3. Sweep makespan: N single-call jobs against `sweepq fake-api --latency-ms 500`.

Jobs: the generated BBH-format sample (`sweepq.sample.write_sample`, boolean_expressions
and web_of_lies, N/2 tasks each), arm haiku-only (one call per job), enqueued with
`sweepq enqueue`. The fake runs as its own process.

  - sequential: one SDK call at a time, as the historical runner did (call, score,
    append a JSONL line), timed over a sample of calls and extrapolated to N;
  - `sweepq work --concurrency C` as a process, for C = 50 over all N jobs, and a curve
    at C = 1, 8, 32 over fewer jobs (6-8 s of ideal time each), extrapolated.

Ideal = jobs x latency / C. Makespan = first claim to last result (database times);
the process wall time (interpreter start, imports, exit) is reported beside it.

    python bench/bench_makespan.py [--n 2000] [--latency-ms 500] [--repeats 2] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from common import (
    FakeServer,
    emit,
    enqueue_sample,
    last_json,
    median,
    note,
    python_child,
    query,
    queue_makespan,
    rnd,
    run_child,
    sample_dataset,
    work_cmd,
    workdir,
)

SECTION = "3. Sweep makespan"
SWEEP = "makespan"

SEQUENTIAL_CODE = r"""
import json, sqlite3, sys, time
import anthropic
from sweepq.arms import PERSONA_A
from sweepq.bbh_answers import score
from sweepq.task import Task
db, k, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
conn = sqlite3.connect(db)
rows = conn.execute("SELECT task_id, arm, task FROM jobs ORDER BY position LIMIT ?",
                    (k,)).fetchall()
conn.close()
client = anthropic.Anthropic(max_retries=0)
start = time.perf_counter()
with open(out, "w") as f:
    for task_id, arm, task in rows:
        payload = json.loads(task)
        t0 = time.perf_counter()
        message = client.messages.create(model="claude-haiku-4-5", max_tokens=1024,
                                         system=PERSONA_A,
                                         messages=[{"role": "user", "content": payload["prompt"]}])
        text = "".join(b.text for b in message.content if b.type == "text")
        passed, detail = score(text, Task.from_payload(payload))
        f.write(json.dumps({"task_id": task_id, "arm": arm, "passed": passed, "detail": detail,
                            "wall_seconds": round(time.perf_counter() - t0, 3),
                            "sub_calls": 1}) + "\n")
        f.flush()
elapsed = time.perf_counter() - start
print(json.dumps({"calls": len(rows), "seconds": elapsed}))
"""


def template(tmp: Path, data: Path, jobs: int) -> Path:
    path = tmp / f"template-{jobs}.db"
    if not path.exists():
        enqueue_sample(path, data, SWEEP, jobs // 2, "haiku-only")
    return path


def run_work(tmp: Path, tpl: Path, concurrency: int, fake: FakeServer, latency: float) -> dict:
    db = tmp / f"run-c{concurrency}.db"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    shutil.copyfile(tpl, db)
    jobs = query(db, "SELECT count(*) FROM jobs")[0][0]
    fake.reset()
    run = run_child(work_cmd(db, SWEEP, concurrency), env=fake.env(), timeout=900)
    stats = fake.stats()
    if run.returncode:
        raise RuntimeError(f"sweepq work exited {run.returncode}: {run.stderr[-1500:]}")
    span = queue_makespan(db)
    if span["done"] != jobs:
        raise RuntimeError(f"only {span['done']} of {jobs} jobs done: {run.stdout[-500:]}")
    ideal = jobs * latency / concurrency
    out = {"concurrency": concurrency, "jobs": jobs, "makespan": span["seconds"],
           "wall": run.wall, "ideal": ideal, "ratio": span["seconds"] / ideal,
           "wall_ratio": run.wall / ideal, "cpu": run.cpu, "cpu_ms_per_job": 1000 * run.cpu / jobs,
           "rss_mb": run.maxrss_mb, "startup": span["first_claim"] - run.started_at,
           "exit": run.ended_at - span["last_result"], "requests": stats["requests"],
           "successes": stats["successes"]}
    note(f"c={concurrency}: {jobs} jobs, makespan {span['seconds']:.2f}s (ideal {ideal:.2f}s, "
         f"x{out['ratio']:.3f}), process {run.wall:.2f}s (start to first claim "
         f"{out['startup']:.2f}s, last result to exit {out['exit']:.2f}s), "
         f"worker CPU {run.cpu:.1f}s, {stats['requests']} requests")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sequential-calls", type=int, default=20)
    parser.add_argument("--curve", default="1:12,8:128,32:512",
                        help="concurrency:jobs points for the curve (besides the main run)")
    parser.add_argument("--quick", action="store_true", help="n=400, a short curve")
    args = parser.parse_args()
    if args.quick:
        args.n, args.sequential_calls, args.curve, args.repeats = 400, 10, "1:6,8:48", 1
    latency = args.latency_ms / 1000
    n, c = args.n, args.concurrency
    curve = [tuple(int(x) for x in point.split(":")) for point in args.curve.split(",") if point]
    with workdir("makespan") as tmp:
        data = sample_dataset(tmp / "data", max([n, *(j for _, j in curve)]) // 2)
        main_tpl = template(tmp, data, n)
        with FakeServer(latency_ms=args.latency_ms) as fake:
            seq = python_child(SEQUENTIAL_CODE, str(main_tpl), str(args.sequential_calls),
                               str(tmp / "sequential.jsonl"), env=fake.env())
            if seq.returncode:
                raise RuntimeError(seq.stderr[-1500:])
            seq_data = last_json(seq.stdout)
            per_call = seq_data["seconds"] / seq_data["calls"]
            sequential = per_call * n
            note(f"sequential: {per_call * 1000:.1f} ms per call -> {sequential:.0f}s for {n}")

            mains = [run_work(tmp, main_tpl, c, fake, latency) for _ in range(args.repeats)]
            points = []
            for conc, jobs in curve:
                points.append(run_work(tmp, template(tmp, data, jobs), conc, fake, latency))

        makespan = median([m["makespan"] for m in mains])
        wall = median([m["wall"] for m in mains])
        ideal = n * latency / c
        ratio = makespan / ideal
        emit(SECTION, f"{n:,} jobs, concurrency {c}, latency {args.latency_ms:g} ms: makespan "
             "(first claim to last result)",
             sweepq=rnd(makespan, 2), compare=rnd(ideal, 2), compare_label="ideal N x latency / C",
             ratio=rnd(ratio, 3), ratio_label="makespan / ideal", unit="s",
             goal="<= 1.10x ideal", met=ratio <= 1.10,
             runs=[rnd(m["makespan"], 2) for m in mains],
             process_wall=[rnd(m["wall"], 2) for m in mains],
             wall_ratio=rnd(wall / ideal, 3),
             worker_cpu_ms_per_job=rnd(median([m["cpu_ms_per_job"] for m in mains]), 2),
             startup_s=rnd(median([m["startup"] for m in mains]), 2),
             exit_s=rnd(median([m["exit"] for m in mains]), 2),
             fake_requests=[m["requests"] for m in mains])
        emit(SECTION, f"{n:,} jobs, concurrency {c}: the `sweepq work` process, start to exit",
             sweepq=rnd(wall, 2), compare=rnd(ideal, 2), compare_label="ideal",
             ratio=rnd(wall / ideal, 3), ratio_label="process wall / ideal", unit="s",
             goal="<= 1.10x ideal", met=wall / ideal <= 1.10,
             runs=[rnd(m["wall"], 2) for m in mains],
             startup_s=rnd(median([m["startup"] for m in mains]), 2),
             exit_s=rnd(median([m["exit"] for m in mains]), 2))
        emit(SECTION, f"{n:,} jobs: sequential SDK loop vs sweepq -c {c}",
             sweepq=rnd(makespan, 2), compare=rnd(sequential, 1),
             compare_label=f"sequential, {per_call * 1000:.0f} ms/call x {n:,} "
                           f"(extrapolated from {seq_data['calls']} calls)",
             ratio=rnd(sequential / makespan, 1), ratio_label="sequential / sweepq", unit="s",
             goal=">= 40x faster", met=sequential / makespan >= 40,
             wall_speedup=rnd(sequential / wall, 1))
        for p in [*points, *mains[:1]]:
            per_job = p["makespan"] / p["jobs"]
            emit(SECTION, f"curve: concurrency {p['concurrency']}", sweepq=rnd(p["makespan"], 2),
                 compare=rnd(p["ideal"], 2), compare_label="ideal", ratio=rnd(p["ratio"], 3),
                 ratio_label="makespan / ideal", unit="s", goal=None, met=None,
                 jobs=p["jobs"], jobs_per_s=rnd(p["jobs"] / p["makespan"], 1),
                 extrapolated_to_n=rnd(per_job * n, 1), process_wall=rnd(p["wall"], 2),
                 worker_cpu_ms_per_job=rnd(p["cpu_ms_per_job"], 2),
                 worker_rss_mb=rnd(p["rss_mb"], 1))


if __name__ == "__main__":
    sys.exit(main())
