"""4. Against inspect_ai: the same N prompts through inspect_ai's Anthropic provider.

Both against one `sweepq fake-api --latency-ms 500` process, one after the other:
  - sweepq: `sweepq work --concurrency 50` over the N haiku-only jobs (system prompt
    PERSONA_A, the job's prompt, max_tokens 1024, no streaming);
  - inspect_ai: a child process calling `inspect_ai.eval(task, model=
    "anthropic/claude-haiku-4-5", max_connections=50, display="none", log_dir=…)` with
    ANTHROPIC_BASE_URL at the fake. The task: the same prompts as samples (gold as
    target), solver [system_message(PERSONA_A), generate()], scorer includes().
    Everything else is inspect's default (it streams, logs every sample to an .eval file).

Reported: each process's wall time (interpreter start to exit), and the work alone
(sweepq: first claim to last result; inspect: the eval() call). One run of each: the
inspect run alone takes about a minute of the 10-minute budget.

    python bench/bench_inspect.py [--n 2000] [--latency-ms 500] [--quick]
"""

from __future__ import annotations

import argparse
import shutil
import sys

from common import (
    FakeServer,
    emit,
    enqueue_sample,
    inspect_version,
    note,
    queue_makespan,
    rnd,
    run_child,
    run_inspect,
    sample_dataset,
    work_cmd,
    workdir,
)

SECTION = "4. Against inspect_ai"
SWEEP = "inspect"

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--latency-ms", type=float, default=500)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--quick", action="store_true", help="n=200")
    args = parser.parse_args()
    if args.quick:
        args.n = 200
    n, c, latency = args.n, args.concurrency, args.latency_ms / 1000
    version, why = inspect_version()
    if version is None:
        emit(SECTION, f"{n:,} prompts, concurrency {c}", sweepq=None, unit="s",
             compare=None, compare_label=why, goal="sweepq faster", met=None)
        return
    with workdir("inspect") as tmp:
        data = sample_dataset(tmp / "data", n // 2)
        tpl = tmp / "template.db"
        enqueue_sample(tpl, data, SWEEP, n // 2, "haiku-only")
        db = tmp / "sweepq.db"
        shutil.copyfile(tpl, db)
        with FakeServer(latency_ms=args.latency_ms) as fake:
            sq = run_child(work_cmd(db, SWEEP, c), env=fake.env(), timeout=900)
            if sq.returncode:
                raise RuntimeError(f"sweepq work: {sq.stderr[-1500:]}")
            span = queue_makespan(db)
            sq_stats = fake.stats()
            note(f"sweepq: process {sq.wall:.2f}s, makespan {span['seconds']:.2f}s, "
                 f"{sq_stats['requests']} requests")
            fake.reset()
            insp, result, reason = run_inspect(tpl, tmp / "logs", c, fake.env())
            insp_stats = fake.stats()
        if result is None:
            emit(SECTION, f"{n:,} prompts, concurrency {c}, latency {args.latency_ms:g} ms",
                 sweepq=rnd(sq.wall, 2), unit="s", compare=None,
                 compare_label=f"inspect_ai {version} failed: {reason}",
                 goal="sweepq faster", met=None)
            return
        note(f"inspect_ai {version}: process {insp.wall:.2f}s, {result}, "
             f"{insp_stats['requests']} requests")
        if result["status"] != "success" or result["samples"] != n:
            raise RuntimeError(f"inspect_ai did not finish: {result}")
        ideal = n * latency / c
        emit(SECTION, f"{n:,} prompts, concurrency {c}, latency {args.latency_ms:g} ms: "
             "process wall", sweepq=rnd(sq.wall, 2), compare=rnd(insp.wall, 2),
             compare_label=f"inspect_ai {version}, max_connections {c}",
             ratio=rnd(insp.wall / sq.wall, 2), ratio_label="inspect / sweepq", unit="s",
             goal="sweepq faster", met=sq.wall < insp.wall,
             cpu_s={"sweepq": rnd(sq.cpu, 1), "inspect": rnd(insp.cpu, 1)},
             rss_mb={"sweepq": rnd(sq.maxrss_mb, 1), "inspect": rnd(insp.maxrss_mb, 1)},
             requests={"sweepq": sq_stats["requests"], "inspect": insp_stats["requests"]},
             ideal=ideal)
        emit(SECTION, "the work alone (sweepq first claim to last result; inspect eval())",
             sweepq=rnd(span["seconds"], 2), compare=rnd(result["eval_s"], 2),
             compare_label="inspect_ai eval() call",
             ratio=rnd(result["eval_s"] / span["seconds"], 2),
             ratio_label="inspect / sweepq", unit="s", goal=None, met=None,
             ideal=ideal, x_ideal={"sweepq": rnd(span["seconds"] / ideal, 2),
                                   "inspect": rnd(result["eval_s"] / ideal, 2)},
             cpu_ms_per_sample={"sweepq": rnd(1000 * sq.cpu / n, 1),
                                "inspect": rnd(1000 * insp.cpu / n, 1)},
             inspect_import_s=rnd(result["import_s"], 2))


if __name__ == "__main__":
    sys.exit(main())
