"""`make demo`: a real sweep end to end, offline, for free, in well under a minute.

Every step is the real `sweepq` command run as a process, so what you see is what
you would run against the Anthropic API:

1. `sweepq enqueue` a sweep into ./demo.db (replacing an old one): 3 subtasks x 10
   tasks of ../shared/bbh when it is there, otherwise 2 x 15 items sweepq generates
   itself (boolean_expressions, web_of_lies), times five arms.
2. `sweepq fake-api` on a free loopback port, answering with an answer key built from
   the enqueued tasks (prompt -> gold) at a per-model accuracy (haiku 0.72, sonnet
   0.88), 150 ms per call, so the pass rates and escalation counts mean something.
3. `sweepq work --concurrency 8` with ANTHROPIC_BASE_URL pointed at the fake and a
   dummy key (a live progress bar on a terminal).
4. `sweepq status`, a per-arm cost `sweepq query`, `sweepq export demo-results.jsonl`; then
   the fake is stopped and the same commands for the real API are printed.

    python -m sweepq.demo [--sample]     # --sample: ignore ../shared/bbh
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .queue import Queue
from .sample import write_sample

DB = Path("demo.db")
RESULTS = Path("demo-results.jsonl")
SWEEP = "bbh-demo"
ARMS = "haiku-only,sonnet-only,echo-lexical,echo-judge,echo-oracle"
SHARED_BBH = Path("../shared/bbh")
SHARED_SUBTASKS = "logical_deduction_three_objects,causal_judgement,date_understanding"
SAMPLE_SUBTASKS = "boolean_expressions,web_of_lies"
ACCURACY = "haiku=0.72,sonnet=0.88"
LATENCY_MS = 150
CONCURRENCY = 8
DUMMY_KEY = "sk-ant-demo-not-a-real-key"


def _env(**extra: str) -> dict[str, str]:
    """The environment for the demo's commands: offline, no real credentials."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("ANTHROPIC_") and k != "SWEEPQ_DB"}
    env.setdefault("HF_HUB_OFFLINE", "1")
    env.update(extra)
    return env


def _sweepq(*args: str, env: dict[str, str] | None = None) -> None:
    """Show and run one `sweepq` command; stop the demo if it fails."""
    print(f"\n$ sweepq {shlex.join(args)}", flush=True)
    proc = subprocess.Popen([sys.executable, "-m", "sweepq", "--db", str(DB), *args],
                            env=env or _env())
    interrupted = False
    while True:
        try:
            returncode = proc.wait()
            break
        except KeyboardInterrupt:
            # The command got the Ctrl-C too: `work` finishes or releases its jobs and
            # exits by itself (a second Ctrl-C releases at once). Killing it would leave
            # its jobs leased until the lease runs out.
            interrupted = True
    if interrupted:
        raise SystemExit(f"demo: interrupted; {DB} keeps every finished job: "
                         f"`sweepq --db {DB} status`")
    if returncode != 0:
        raise SystemExit(f"demo: `sweepq {args[0]}` exited {returncode}")


def _answer_key(path: Path) -> int:
    """prompt -> gold for every enqueued task, from the jobs table itself (read-only)."""
    queue = Queue.open_read_only(DB)
    try:
        payloads = [json.loads(row["task"]) for row in
                    queue.read("SELECT DISTINCT task FROM jobs WHERE sweep = ?", (SWEEP,))]
    finally:
        queue.close()
    path.write_text(json.dumps({p["prompt"]: p["answer"] for p in payloads}))
    return len(payloads)


def _start_fake_api(answer_key: Path) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "sweepq", "fake-api", "--port", "0",
            "--latency-ms", str(LATENCY_MS), "--answer-key", str(answer_key),
            "--accuracy", ACCURACY]
    print(f"\n$ sweepq {shlex.join(argv[3:])} &", flush=True)
    # Its own session: a Ctrl-C must reach `work` (which then finishes its in-flight
    # jobs against this server), not the server; the demo stops it afterwards.
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=_env(),
                              start_new_session=True)
    assert server.stdout is not None
    line = server.stdout.readline()          # "fake-api listening on http://127.0.0.1:PORT"
    if "listening on " not in line:
        server.kill()
        raise SystemExit(f"demo: the fake API did not start: {line.strip()!r}")
    print(line.rstrip(), flush=True)
    return server, line.rsplit(" ", 1)[1].strip()


def _stop(server: subprocess.Popen[str]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def _cost_table() -> None:
    _sweepq("query", "SELECT arm, count(*) AS jobs, round(avg(sub_calls), 2) AS calls_per_job,"
            " round(sum(cost_usd), 4) AS usd FROM results JOIN jobs USING (job_id)"
            " GROUP BY arm ORDER BY min(position)")


def _real_api_commands(dataset: str, subtasks: str, n: int) -> None:
    print(f"""
The same sweep on the real Anthropic API (it costs money; the fake above was free):

  export ANTHROPIC_API_KEY=sk-ant-...
  sweepq enqueue --sweep {SWEEP} --dataset {dataset} \\
      --subtasks {subtasks} --n-per-subtask {n} \\
      --arms {ARMS}
  sweepq work --sweep {SWEEP} --concurrency {CONCURRENCY}     # any number of these, any time
  sweepq status --sweep {SWEEP}
  sweepq export --sweep {SWEEP} results.jsonl

(Without --dataset, enqueue reads the Hugging Face copy, online.) To dry-run a sweep
for free: `sweepq fake-api --port 8123 --latency-ms 300` in one terminal, then
`ANTHROPIC_BASE_URL=http://127.0.0.1:8123 ANTHROPIC_API_KEY=x sweepq work` in another.""")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweepq.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", action="store_true",
                        help="use the generated sample even when ../shared/bbh exists")
    args = parser.parse_args(argv)
    started = time.monotonic()
    for stale in (DB, Path(f"{DB}-wal"), Path(f"{DB}-shm"), RESULTS):
        stale.unlink(missing_ok=True)

    with tempfile.TemporaryDirectory(prefix="sweepq-demo-") as tmp:
        if SHARED_BBH.is_dir() and not args.sample:
            dataset, subtasks, n = str(SHARED_BBH), SHARED_SUBTASKS, 10
            print(f"demo: {n} tasks from each of 3 BBH subtasks in {dataset}")
        else:
            dataset, subtasks, n = str(write_sample(Path(tmp) / "bbh", n=15)), SAMPLE_SUBTASKS, 15
            print("demo: ../shared/bbh not used; generated boolean_expressions and web_of_lies"
                  " items (answers computed) in a temporary folder")
        _sweepq("enqueue", "--sweep", SWEEP, "--dataset", dataset, "--subtasks", subtasks,
                "--n-per-subtask", str(n), "--arms", ARMS)
        key = Path(tmp) / "answer-key.json"
        tasks = _answer_key(key)
        print(f"demo: answer key of {tasks} prompts; the fake is right {ACCURACY} of the time")
        server, url = _start_fake_api(key)
        try:
            _sweepq("work", "--sweep", SWEEP, "--concurrency", str(CONCURRENCY),
                    env=_env(ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY=DUMMY_KEY))
        finally:
            _stop(server)
            print("\ndemo: fake API stopped", flush=True)
        _sweepq("status", "--sweep", SWEEP)
        _cost_table()
        _sweepq("export", "--sweep", SWEEP, str(RESULTS))
    print(f"\ndemo: finished in {time.monotonic() - started:.1f}s; {DB} and {RESULTS} are "
          "yours to inspect (`make clean` removes them)")
    _real_api_commands("../shared/bbh", SHARED_SUBTASKS, 10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
