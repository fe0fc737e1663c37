"""The worker: result rows, scorer crashes, failures, many processes, signals, progress.

Workers run as real `sweepq work` processes on the real SDK over HTTP to `FakeAPI` on
127.0.0.1 wherever processes, signals or terminals are the point; `Worker`s that a test
must reach inside, and the fault policy, run in this process on `InProcessBackend` (the
real SDK and the same fake, without a socket).
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli_env, enqueue, read, run_cli

from sweepq import models as models_mod
from sweepq import worker as worker_mod
from sweepq.arms import BUILTIN
from sweepq.bbh import load_tasks
from sweepq.bbh_answers import score
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.inprocess import InProcessBackend
from sweepq.models import DEFAULT_MODELS
from sweepq.queue import Queue, Sweep
from sweepq.store import jobs as store_jobs
from sweepq.task import Task
from sweepq.worker import Worker, WorkerConfig

ARMS = "haiku-only,sonnet-only,echo-lexical,echo-judge,echo-oracle"
SUBTASKS = "boolean_expressions,web_of_lies"
CALLS = {"haiku-only": {1}, "sonnet-only": {1}, "echo-lexical": {2, 3}, "echo-judge": {3, 4},
         "echo-oracle": {2, 3}}


def states(db: Path) -> dict[str, int]:
    return {r["state"]: r["n"] for r in read(db, "SELECT state, count(*) AS n FROM jobs"
                                                 " GROUP BY state")}


def keyed_fake(dataset: Path, n: int, **kw) -> FakeAPI:
    tasks = load_tasks(SUBTASKS.split(","), n, 0, str(dataset))
    return FakeAPI(FakeConfig(answer_key={t.prompt: t.answer for t in tasks},
                              accuracy={"haiku": 0.6, "sonnet": 0.9}, **kw))


def popen_work(db: Path, fake: FakeAPI, *args: str, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "sweepq", "--db", str(db), "work", *args],
                            env=cli_env(fake), cwd=ROOT, text=True, **popen)


def wait_for_done(db: Path, at_least: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while states(db).get("done", 0) < at_least:
        assert time.monotonic() < deadline, f"fewer than {at_least} jobs done: {states(db)}"
        time.sleep(0.05)


# -- result rows ------------------------------------------------------------------------


def test_result_rows(sample_bbh, db_path):
    enqueue(db_path, sample_bbh, n=4, arms=ARMS, sweep="w")
    with keyed_fake(sample_bbh, 4) as fake:
        done = run_cli("work", "--concurrency", "4", db=db_path, fake=fake, check=True)
        successes = fake.stats()["successes"]
    # Not a terminal: no progress bar, only the one-line summary.
    assert done.stderr == "" and done.stdout.count("\n") == 1
    assert re.fullmatch(r"sweepq work: 40 jobs done here \(\d+ passed\); sweep w 40/40 done,"
                        r" 0 error, 0 pending\n", done.stdout)
    rows = read(db_path, "SELECT j.job_id, j.arm, j.task, r.* FROM jobs AS j"
                         " JOIN results AS r USING (job_id)")
    assert len(rows) == 40
    calls = {r["job_id"]: r for r in read(
        db_path, "SELECT job_id, count(*) AS n, sum(input_tokens) AS tin,"
                 " sum(output_tokens) AS tout, sum(cost_usd) AS cost, max(latency_seconds) AS lat"
                 " FROM calls WHERE error_class IS NULL GROUP BY job_id")}
    for row in rows:
        task = Task.from_payload(json.loads(row["task"]))
        journal = calls[row["job_id"]]
        assert row["sub_calls"] in CALLS[row["arm"]] and row["sub_calls"] == journal["n"]
        assert (bool(row["passed"]), row["detail"]) == score(row["output"], task)
        assert row["wall_seconds"] >= journal["lat"] > 0
        assert (row["input_tokens"], row["output_tokens"]) == (journal["tin"], journal["tout"])
        assert row["cost_usd"] == pytest.approx(journal["cost"]) and row["cost_usd"] > 0
        assert set(json.loads(row["models"])) <= set(DEFAULT_MODELS.values())
    assert successes == sum(r["sub_calls"] for r in rows)


# -- in-process workers: scorer crashes, arm bugs, failed calls ----------------------------


@pytest.fixture
def fake_backend() -> InProcessBackend:
    return InProcessBackend()


@pytest.fixture
def in_process(db_path, sample_bbh, fake_backend):
    """Run a Worker in this process on a small sweep; returns (run, queue)."""
    queue = Queue.open(str(db_path))
    tasks = load_tasks(["web_of_lies"], 2, 0, str(sample_bbh))

    def run(arms: dict, max_attempts: int = 3, backend: InProcessBackend | None = None,
            max_wait: float | None = None, concurrency: int = 2):
        sweep = Sweep(name="p", arms=list(arms), models=dict(DEFAULT_MODELS))
        queue.enqueue(sweep, [(t.task_id, t.payload()) for t in tasks], max_attempts)
        worker = Worker(queue, sweep, arms, backend or fake_backend,
                        WorkerConfig(concurrency=concurrency, lease_seconds=30,
                                     max_wait=max_wait))
        return worker.run()

    yield run, queue
    queue.close()


def test_scorer_exception_is_a_result(in_process, monkeypatch):
    run, queue = in_process

    def broken_score(output, task):
        raise ValueError("cannot read this")

    monkeypatch.setattr("sweepq.scorers.get", lambda name: broken_score)
    outcome = run({"haiku-only": BUILTIN["haiku-only"]})
    assert outcome.exit_code == 0 and outcome.tally.done == 2
    rows = queue.read("SELECT passed, detail, sub_calls, output FROM results")
    assert len(rows) == 2
    for row in rows:
        assert row["detail"] == "scorer ValueError: cannot read this"
        assert row["passed"] == 0 and row["sub_calls"] == 1 and row["output"]


def test_arm_returning_non_text_is_an_arm_failure(in_process):
    """An arm bug (returning a number) fails the attempt; it never kills a worker thread."""
    run, queue = in_process
    outcome = run({"numbers": lambda task, client: 42}, max_attempts=1)
    assert outcome.exit_code == 0 and outcome.tally.done == 0
    jobs = queue.read("SELECT state, last_error FROM jobs")
    assert [j["state"] for j in jobs] == ["error", "error"]
    assert all("returned int, not text" in j["last_error"] for j in jobs)
    assert queue.read("SELECT count(*) AS n FROM results")[0]["n"] == 0


def test_model_call_exception_is_not_a_result(in_process, fake_backend):
    """A rejected call (400) errors the job: no result row, the failure in the journal."""
    run, queue = in_process
    fake_backend.script([{"status": 400}, {"status": 400}])
    outcome = run({"haiku-only": BUILTIN["haiku-only"]})
    assert outcome.exit_code == 0 and outcome.tally.failed_attempts == 2
    assert queue.read("SELECT count(*) AS n FROM results")[0]["n"] == 0
    jobs = queue.read("SELECT state, attempts, last_error FROM jobs")
    assert all(j["state"] == "error" and j["attempts"] == 1 and "400" in j["last_error"]
               for j in jobs)
    assert {r["error_class"] for r in queue.read("SELECT error_class FROM calls")} == {"fatal"}
    # (Transient failures: retried, then the attempt counts and the job backs off;
    # see test_faults.py::test_transient_failures_back_off_then_error_and_retry_requeues.)


# -- fault policy, in process: each failure class decides pause, stop or count ------------

HAIKU_ONLY = {"haiku-only": BUILTIN["haiku-only"]}


def test_rate_limit_pauses_and_releases_without_charging(in_process, fake_backend):
    run, queue = in_process
    fake_backend.script([{"status": 429, "headers": {"retry-after": "0.3"}}])
    outcome = run(HAIKU_ONLY)
    assert outcome.exit_code == 0 and outcome.tally.done == 2
    (pause,) = queue.read("SELECT reason, resume_at - created_at AS wait FROM pauses")
    assert pause["reason"] == "rate_limited" and 0 < pause["wait"] <= 0.35
    assert queue.read("SELECT max(attempts) AS a FROM jobs")[0]["a"] == 1


@pytest.mark.parametrize("config, reason, resumes", [
    (FakeConfig(credit_exhausted=True), "exhausted", False),
    (FakeConfig(exhaust_after=0, exhaust_for=600, spend_limit="tier"), "exhausted", True),
    (FakeConfig(exhaust_after=0, exhaust_for=600, spend_limit="organization"), "exhausted",
     True),
    # The workspace's own limit (a 400) and the tier cap without `details` (known by its
    # message alone) used to error every remaining job; the texts are in fake.documented.
    (FakeConfig(exhaust_after=0, exhaust_for=600, spend_limit="workspace"), "exhausted", True),
    (FakeConfig(exhaust_after=0, exhaust_for=600, spend_limit="tier-message-only"), "exhausted",
     True),
])
def test_exhaustion_pauses_and_exits_75_touching_no_job(in_process, config, reason, resumes):
    """Credit gone: a person must act. A spend limit: beyond --max-wait, exit 75 at once."""
    run, queue = in_process
    outcome = run(HAIKU_ONLY, backend=InProcessBackend(config), max_wait=5)
    assert outcome.exit_code == worker_mod.EXIT_TEMPFAIL, outcome
    pauses = queue.read("SELECT reason, resume_at FROM pauses")     # one per thread at most
    assert 1 <= len(pauses) <= 2 and all(
        p["reason"] == reason and (p["resume_at"] is not None) is resumes for p in pauses)
    jobs = queue.read("SELECT state, attempts FROM jobs")
    assert jobs == [{"state": "pending", "attempts": 0}] * 2


def test_a_bad_key_stops_the_run_with_exit_2(in_process):
    run, queue = in_process
    backend = InProcessBackend(FakeConfig(valid_api_keys={"sk-ant-right"}), api_key="sk-ant-x")
    # Eight threads for two jobs: idle threads meet the fatal pause too, and must exit 2
    # with it (not 75, as for a pause that only `resume` ends).
    outcome = run(HAIKU_ONLY, backend=backend, concurrency=8)
    assert outcome.exit_code == worker_mod.EXIT_FATAL and "sweepq resume" in outcome.message
    pauses = queue.read("SELECT reason FROM pauses")     # one per job in flight at most
    assert 1 <= len(pauses) <= 2 and {p["reason"] for p in pauses} == {"fatal"}
    assert {j["state"] for j in queue.read("SELECT state FROM jobs")} == {"pending"}


def test_transient_failures_are_retried_then_counted(in_process, monkeypatch):
    """A 500 is retried inside the attempt, then the attempt counts; the last one errors."""
    monkeypatch.setattr(models_mod, "_transient_wait", lambda state: 0.0)
    monkeypatch.setattr(store_jobs, "BACKOFF_BASE_SECONDS", 0.01)     # the job's own backoff
    run, queue = in_process
    backend = InProcessBackend(FakeConfig(faults={500: 1.0}))
    outcome = run(HAIKU_ONLY, max_attempts=2, backend=backend)
    assert outcome.exit_code == 0 and outcome.tally.failed_attempts >= 2
    assert backend.stats()["faults"] == {"500": 2 * 2 * models_mod.TRANSIENT_TRIES}
    jobs = queue.read("SELECT state, attempts, errors FROM jobs")
    assert all(j["state"] == "error" and j["attempts"] == 2 for j in jobs)
    assert all([e["kind"] for e in json.loads(j["errors"])] == ["transient"] * 2 for j in jobs)


# -- processes ----------------------------------------------------------------------------


# 500 jobs through two processes (10 s): exactly once across processes is in the fast
# suite at the queue (unit/test_queue.py::test_four_processes_complete_every_job_exactly_once)
# and with workers SIGTERMed and restarted (below); the full run here, in `make test-slow`.
@pytest.mark.slow
def test_two_processes_finish_a_500_job_sweep_exactly_once(sample_bbh, db_path):
    enqueue(db_path, sample_bbh, n=50, arms=ARMS, sweep="w")  # 100 tasks x 5 arms
    with keyed_fake(sample_bbh, 50, latency_ms=5) as fake:
        procs = [popen_work(db_path, fake, "--quiet", "--concurrency", "8",
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(2)]
        outs = [p.communicate(timeout=120) for p in procs]
        successes = fake.stats()["successes"]
    assert [p.returncode for p in procs] == [0, 0], outs
    here = [int(out.split("sweepq work: ")[1].split(" job")[0]) for out, _ in outs]
    assert sum(here) == 500 and min(here) > 0, here
    assert states(db_path) == {"done": 500}
    (totals,) = read(db_path, "SELECT count(*) AS n, count(DISTINCT job_id) AS jobs,"
                              " sum(sub_calls) AS calls FROM results")
    assert totals["n"] == totals["jobs"] == 500
    assert read(db_path, "SELECT max(attempts) AS a FROM jobs")[0]["a"] == 1
    assert successes == totals["calls"]            # no model call was ever made twice


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_sigterm_mid_sweep_then_a_second_worker_finishes(sample_bbh, db_path):
    enqueue(db_path, sample_bbh, n=6, arms=ARMS, sweep="w")  # 60 jobs
    with keyed_fake(sample_bbh, 6, latency_ms=200) as fake:
        proc = popen_work(db_path, fake, "--quiet", "--concurrency", "4",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        wait_for_done(db_path, 6)
        proc.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        out, err = proc.communicate(timeout=30)
        # It exits once its in-flight jobs (< 1 s each) are done, not after the 30 s grace.
        assert time.monotonic() - signalled < 15
        assert proc.returncode == 0, err
        assert "stopped by signal" in out
        mid = states(db_path)
        assert "running" not in mid and 0 < mid["done"] < 60, mid
        assert read(db_path, "SELECT count(*) AS n FROM jobs WHERE lease_owner IS NOT NULL"
                             " OR attempts > 1")[0]["n"] == 0
        run_cli("work", "--quiet", "--concurrency", "16", db=db_path, fake=fake, check=True)
        successes = fake.stats()["successes"]
    assert states(db_path) == {"done": 60}
    (totals,) = read(db_path, "SELECT count(*) AS n, count(DISTINCT job_id) AS jobs,"
                              " sum(sub_calls) AS calls FROM results")
    assert totals["n"] == totals["jobs"] == 60
    assert successes == totals["calls"]


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_second_signal_releases_in_flight_jobs_at_once(sample_bbh, db_path):
    enqueue(db_path, sample_bbh, n=2, arms="haiku-only", sweep="w")  # 4 jobs, calls of 20 s
    with keyed_fake(sample_bbh, 2, latency_ms=20_000) as fake:
        proc = popen_work(db_path, fake, "--quiet", "--concurrency", "2",
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60   # a guard, not a timing claim
        while fake.stats()["requests"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        rows = read(db_path, "SELECT state, attempts, lease_owner FROM jobs")
        assert rows == [{"state": "pending", "attempts": 0, "lease_owner": None}] * 4
        assert "stopped by signal" in out
        fake.stop()   # the abandoned calls end here; their process is gone


# -- progress -----------------------------------------------------------------------------


def _work_on_a_tty(db: Path, fake: FakeAPI, *args: str) -> tuple[int, str, str]:
    """Run `sweepq work` with stderr on a pseudo-terminal; return (rc, stdout, tty text)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 50, 200, 0, 0))  # no wrapping
    proc = popen_work(db, fake, *args, stdout=subprocess.PIPE, stderr=slave)
    os.close(slave)
    chunks = []
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            data = os.read(master, 4096)
        except OSError:              # EIO: the child closed the terminal
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    out = proc.stdout.read()
    proc.wait(timeout=30)
    proc.stdout.close()
    return proc.returncode, out, b"".join(chunks).decode(errors="replace")


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_progress_bar_only_on_a_terminal(sample_bbh, db_path, fake_api):
    """(Without a terminal there is no bar either: see test_result_rows.)"""
    enqueue(db_path, sample_bbh, n=2, arms="haiku-only", sweep="w")
    rc, out, tty = _work_on_a_tty(db_path, fake_api)
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", tty)
    assert rc == 0 and "█" in plain and "w " in plain
    assert re.search(r"4/4  pass \d+\.\d%  \d+/min  ETA \S+  errors 0", plain), plain
    assert out.startswith("sweepq work: 4 jobs done here") and out.count("\n") == 1
    rc, out, tty = _work_on_a_tty(db_path, fake_api, "--quiet")     # the bar would show 4/4
    assert rc == 0 and tty == "" and out.startswith("sweepq work: 0 jobs done here")
