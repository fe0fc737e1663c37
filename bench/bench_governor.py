"""8. Rate limits: one-call jobs against `sweepq fake-api` with a token-bucket limiter.

The fake (its own process, `--latency-ms 100`) refuses as Anthropic documents its
limiter: continuously refilled buckets, 429 with an integer retry-after. Jobs: the
generated sample (haiku-only, one call each), `sweepq work --concurrency 32`:

  - requests-bound (`--rpm R`) and input-tokens-bound (`--itpm T`), buckets empty at
    the start (as in the middle of a long sweep), governor on and off (`--no-governor`);
  - requests-bound with two `sweepq work` processes (16 threads each) on one database;
  - requests-bound with a full bucket at the start (a fresh key): a bucket of 0.4 x
    jobs (`--bucket-seconds`; 120 for 300 jobs, a 120 RPM key's minute) is free.

Makespan = first claim to last result. Floor = the time the limit alone needs from the
first claim: jobs (or the input tokens the server counted) less what the bucket held
then (it refills while the worker starts; a full one holds a minute), over the rate,
plus one call's latency. Refusals = 429s / requests sent. One run of each.

    python bench/bench_governor.py [--jobs 300] [--rpm 120] [--itpm 16000] [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

from common import (
    FakeServer,
    emit,
    enqueue_sample,
    inspect_version,
    note,
    query,
    rnd,
    run_inspect,
    sample_dataset,
    work_cmd,
    workdir,
)

SECTION = "8. Rate limits"
SWEEP = "governor"
GOAL = "≤ 1.05x floor, ≤ 1% refused"


def run(tmp: Path, data: Path, jobs: int, limit: list[str], *, governor: bool = True,
        processes: int = 1, start: str = "empty", bucket_seconds: float = 60) -> dict:
    db = tmp / f"run-{time.monotonic_ns()}.db"
    enqueue_sample(db, data, SWEEP, jobs // 2, "haiku-only")
    flags = [] if governor else ["--no-governor"]
    with FakeServer(*limit, "--bucket-start", start, "--bucket-seconds", f"{bucket_seconds:g}",
                    latency_ms=100) as fake:
        ready = time.time()
        # stderr to a file, not a pipe: nothing reads it while the workers run, and with
        # the governor off the pause log fills a pipe's 64 KB and blocks the worker.
        errs = [tempfile.TemporaryFile(mode="w+") for _ in range(processes)]
        procs = [subprocess.Popen(work_cmd(db, SWEEP, 32 // processes, *flags), env=fake.env(),
                                  stdout=subprocess.DEVNULL, stderr=err, text=True)
                 for err in errs]
        codes = [p.wait(timeout=1800) for p in procs]
        stats = fake.stats()
    if any(codes):
        errs[0].seek(0)
        raise RuntimeError(f"sweepq work exited {codes}: {errs[0].read()[-1500:]}")
    last, done, tokens = query(db, "SELECT max(completed_at), count(*), sum(input_tokens)"
                                   " FROM results")[0]
    first = query(db, "SELECT min(started_at) FROM jobs")[0][0]
    pauses = query(db, "SELECT count(*) FROM pauses WHERE reason = 'rate_limited'")[0][0]
    refused = stats["faults"].get("limited", 0)
    return {"seconds": last - first, "startup": first - ready, "done": done, "input_tokens": tokens,
            "requests": stats["requests"], "refused": refused, "pauses": pauses,
            "refused_rate": refused / max(stats["requests"], 1)}


def run_inspect_ai(tmp: Path, data: Path, jobs: int, limit: list[str]) -> dict:
    """The same jobs through inspect_ai (max_connections 32) on a fresh, identical fake."""
    db = tmp / f"inspect-{time.monotonic_ns()}.db"
    enqueue_sample(db, data, SWEEP, jobs // 2, "haiku-only")
    with FakeServer(*limit, "--bucket-start", "empty", "--bucket-seconds", "60",
                    latency_ms=100) as fake:
        ready = time.time()
        child, result, why = run_inspect(db, tmp / "inspect-logs", 32, fake.env(),
                                         timeout=1800)
        stats = fake.stats()
    if result is None:
        return {"error": why}
    if result["status"] != "success" or result["samples"] != jobs:
        return {"error": f"did not finish: {result}"}
    refused = stats["faults"].get("limited", 0)
    span = result["span_s"]
    return {"seconds": span if span is not None else result["eval_s"],
            "measured": "model events" if span is not None else "eval() call",
            "eval_s": result["eval_s"], "process_s": child.wall, "import_s": result["import_s"],
            "startup": (result["first_request"] or ready) - ready, "done": result["samples"],
            "input_tokens": result.get("input_tokens"), "requests": stats["requests"],
            "refused": refused, "refused_rate": refused / max(stats["requests"], 1),
            "retries_logged": result["retries"]}


def report_inspect(metric: str, version: str | None, why: str, res: dict | None, floor: float,
                   sq: dict, own: float | None = None) -> None:
    """A row beside the sweepq run's: inspect_ai's time over the same floor (and over
    its own: the bucket refilled while inspect started, its input tokens)."""
    metric = f"{metric}: inspect_ai on the same limiter"
    if version is None or res is None or "error" in res:
        reason = why if version is None else f"inspect_ai {version}: {res and res.get('error')}"
        note(f"{metric}: {reason}")
        emit(SECTION, metric, sweepq=rnd(sq["seconds"], 1), unit="s", compare=None,
             compare_label=reason, goal=None, met=None)
        return
    ratio = res["seconds"] / floor
    note(f"{metric}: {res['seconds']:.1f}s ({res['measured']}; eval() {res['eval_s']:.1f}s), "
         f"floor {floor:.1f}s (its own {own or 0:.1f}s), {res['refused']} refused of "
         f"{res['requests']}")
    per_success = res["refused"] / max(res["done"], 1)
    emit(SECTION, metric, sweepq=rnd(sq["seconds"], 1), unit="s",
         compare=rnd(res["seconds"], 1),
         compare_label=f"inspect_ai {version}, max_connections 32: {res['refused']} refused "
                       f"of {res['requests']} ({per_success:.1f} per success)",
         ratio=rnd(ratio, 3), ratio_label="inspect_ai of floor", goal=None, met=None,
         floor=rnd(floor, 1), sweepq_ratio=rnd(sq["seconds"] / floor, 3),
         own_floor=rnd(own, 1), own_ratio=None if not own else rnd(res["seconds"] / own, 3),
         sweepq_refused=sq["refused"], sweepq_requests=sq["requests"],
         inspect={k: rnd(v, 3) if isinstance(v, float) else v for k, v in res.items()},
         inspect_refused_per_success=rnd(per_success, 2))


def floor(amount: float, per_minute: float, res: dict, capacity: float | None = None) -> float:
    """Seconds the limit alone needs from the first claim: what the bucket did not already
    hold then (a full one its capacity; an empty one what it refilled while the worker
    started), plus one call's latency; never below jobs x latency / concurrency."""
    held = capacity if capacity is not None else min(per_minute,
                                                     per_minute * res["startup"] / 60)
    return max(max(amount - held, 0) / per_minute * 60 + 0.1, res["done"] * 0.1 / 32)


def report(metric: str, res: dict, floor: float, off: dict | None = None) -> None:
    ratio = res["seconds"] / floor
    met = ratio <= 1.05 and res["refused_rate"] <= 0.01
    note(f"{metric}: {res['seconds']:.1f}s, floor {floor:.1f}s, {res['refused']} refused "
         f"of {res['requests']}, {res['pauses']} pauses")
    emit(SECTION, metric, sweepq=rnd(res["seconds"], 1), unit="s",
         compare=None if off is None else rnd(off["seconds"], 1),
         compare_label=None if off is None else
         f"governor off: {off['refused']} refused of {off['requests']}, {off['pauses']} pauses",
         ratio=rnd(ratio, 3), ratio_label="of floor", goal=GOAL, met=met,
         floor=rnd(floor, 1), refused=res["refused"], requests=res["requests"],
         pauses=res["pauses"], refused_rate=rnd(res["refused_rate"], 4),
         off=None if off is None else {k: rnd(v, 3) if isinstance(v, float) else v
                                       for k, v in off.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--rpm", type=float, default=120)
    parser.add_argument("--itpm", type=float, default=16000)
    parser.add_argument("--quick", action="store_true", help="60 jobs at 5x the rates")
    args = parser.parse_args()
    if args.quick:
        args.jobs, args.rpm, args.itpm = 60, args.rpm * 5, args.itpm * 5
    jobs, rpm, itpm = args.jobs, args.rpm, args.itpm
    note(f"{jobs} jobs, {rpm:g} RPM, {itpm:g} ITPM")
    with workdir("governor") as tmp:
        data = sample_dataset(tmp, jobs // 2)
        rate = ["--rpm", f"{rpm:g}"]
        version, why = inspect_version()
        on, off = run(tmp, data, jobs, rate), run(tmp, data, jobs, rate, governor=False)
        metric, bound = f"{jobs} jobs at {rpm:g} RPM, empty bucket", floor(jobs, rpm, on)
        report(metric, on, bound, off)
        insp = run_inspect_ai(tmp, data, jobs, rate) if version else None
        own = floor(jobs, rpm, insp) if insp and "error" not in insp else None
        report_inspect(metric, version, why, insp, bound, on, own)
        tok = ["--itpm", f"{itpm:g}"]
        on, off = run(tmp, data, jobs, tok), run(tmp, data, jobs, tok, governor=False)
        metric = f"{jobs} jobs at {itpm:,.0f} ITPM, empty bucket"
        bound = floor(on["input_tokens"], itpm, on)
        report(metric, on, bound, off)
        insp = run_inspect_ai(tmp, data, jobs, tok) if version else None
        own = (floor(insp["input_tokens"], itpm, insp)
               if insp and "error" not in insp and insp["input_tokens"] else None)
        report_inspect(metric, version, why, insp, bound, on, own)
        two = run(tmp, data, jobs, rate, processes=2)
        report(f"{jobs} jobs at {rpm:g} RPM, two processes", two, floor(jobs, rpm, two))
        # A bucket of 0.4 x jobs (120 for 300, as a fresh 120 RPM key holds), full at start.
        seconds = 60 * 0.4 * jobs / rpm
        full = run(tmp, data, jobs, rate, start="full", bucket_seconds=seconds)
        report(f"{jobs} jobs at {rpm:g} RPM, full bucket of {0.4 * jobs:.0f} at start", full,
               floor(jobs, rpm, full, capacity=0.4 * jobs))


if __name__ == "__main__":
    main()
