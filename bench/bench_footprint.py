"""6. Worker footprint: peak RSS of one `sweepq work --concurrency 50`, small vs large sweep.

haiku-only jobs from the generated sample, fake API latency 2 ms (so the run is
CPU-bound and quick), one worker process; its peak RSS comes from wait4 on its pid.
Flat = the large run's peak within 10% (+5 MB) of the small one's: no per-job growth.
Also reported: worker CPU per job, which is what limits a sweep at high concurrency.
One run at each size (RSS barely moves between runs; the time goes to the large one).

    python bench/bench_footprint.py [--small 10000] [--large 30000] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from common import (
    FakeServer,
    emit,
    enqueue_sample,
    note,
    queue_makespan,
    rnd,
    run_child,
    sample_dataset,
    work_cmd,
    workdir,
)

SECTION = "6. Worker footprint"
SWEEP = "footprint"


def run(tmp: Path, data: Path, jobs: int, concurrency: int, fake: FakeServer) -> dict:
    db = tmp / f"fp-{jobs}.db"
    enqueue_sample(db, data, SWEEP, jobs // 2, "haiku-only")
    fake.reset()
    child = run_child(work_cmd(db, SWEEP, concurrency), env=fake.env(), timeout=1800)
    if child.returncode:
        raise RuntimeError(f"sweepq work: {child.stderr[-1500:]}")
    span = queue_makespan(db)
    if span["done"] != jobs:
        raise RuntimeError(f"{span['done']} of {jobs} done")
    out = {"jobs": jobs, "rss_mb": child.maxrss_mb, "wall": child.wall, "cpu": child.cpu,
           "jobs_per_s": jobs / span["seconds"], "cpu_ms_per_job": 1000 * child.cpu / jobs}
    note(f"{jobs} jobs: peak RSS {child.maxrss_mb:.1f} MB, {child.wall:.1f}s, "
         f"{out['jobs_per_s']:.0f} jobs/s, worker CPU {out['cpu_ms_per_job']:.2f} ms/job")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=30_000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--latency-ms", type=float, default=2)
    parser.add_argument("--quick", action="store_true", help="1,000 vs 3,000 jobs")
    args = parser.parse_args()
    if args.quick:
        args.small, args.large = 1_000, 3_000
    with workdir("footprint") as tmp:
        data = sample_dataset(tmp / "data", args.large // 2)
        with FakeServer(latency_ms=args.latency_ms) as fake:
            small = run(tmp, data, args.small, args.concurrency, fake)
            large = run(tmp, data, args.large, args.concurrency, fake)
    growth = large["rss_mb"] / small["rss_mb"]
    flat = large["rss_mb"] <= small["rss_mb"] * 1.10 + 5
    emit(SECTION, f"peak RSS, `sweepq work -c {args.concurrency}`, {args.large:,} jobs",
         sweepq=rnd(large["rss_mb"], 1), compare=rnd(small["rss_mb"], 1),
         compare_label=f"same, {args.small:,} jobs", ratio=rnd(growth, 2),
         ratio_label=f"{args.large:,} / {args.small:,}", unit="MB",
         goal="<= 150 MB and flat", met=large["rss_mb"] <= 150 and small["rss_mb"] <= 150 and flat,
         latency_ms=args.latency_ms)
    emit(SECTION, "worker CPU per job (SDK call + claim + journal + complete)",
         sweepq=rnd(large["cpu_ms_per_job"], 2), compare=rnd(small["cpu_ms_per_job"], 2),
         compare_label=f"at {args.small:,} jobs", unit="ms/job", goal=None, met=None,
         jobs_per_s={"small": rnd(small["jobs_per_s"], 0), "large": rnd(large["jobs_per_s"], 0)},
         wall_s={"small": rnd(small["wall"], 1), "large": rnd(large["wall"], 1)})


if __name__ == "__main__":
    sys.exit(main())
