"""The Claude CLI backend when runs are stopped: Ctrl-C, SIGTERM, a CLI that retries on
its own or falls silent, a per-minute 429 (issue 24). `sweepq work` is a real process;
tests/bin/claude replays what 2.1.328 printed (tests/data/claude-cli/2.1.328), and a
SIGINT to the process group reaches it as a terminal's Ctrl-C reaches the real binary.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli_env, enqueue, rows, run_cli

from sweepq.backends import ClaudeCliBackend
from sweepq.claude_run import run_claude
from sweepq.failures import CallFailed, Failure
from sweepq.models import JobClient, WorkerStopping
from sweepq.queue import Queue, Sweep

STAND_IN = ROOT / "tests" / "bin" / "claude"
V328 = {"FAKE_CLAUDE_VERSION": "2.1.328", "TZ": "Europe/London"}


def start_work(start_group, db: Path, *args: str, **env: str) -> subprocess.Popen[str]:  # type: ignore[no-untyped-def]
    """`sweepq work` in its own process group, as a terminal runs a foreground job."""
    argv = [sys.executable, "-m", "sweepq", "--db", str(db), "work", "--backend",
            "claude-cli", "--claude-bin", str(STAND_IN), "--quiet", *args]
    return start_group(argv, cwd=ROOT, env=cli_env(**V328, **env))


def work(db: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_cli("work", "--backend", "claude-cli", "--claude-bin", str(STAND_IN),
                   "--quiet", *args, db=db, env=cli_env(**V328, **env))


def wait_for(db: Path, sql: str, want: object, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if rows(db, sql) == want:
            return
        time.sleep(0.05)
    raise AssertionError(f"{sql} never gave {want}: {rows(db, sql)}")


def wait_for_runs(log: Path, n: int, seconds: float = 60) -> None:
    """Until the stand-in has logged `n` runs started."""
    deadline = time.monotonic() + seconds
    while not log.exists() or log.read_text().count("\n") < n:
        assert time.monotonic() < deadline, f"fewer than {n} runs started"
        time.sleep(0.05)


def export(db: Path) -> list[tuple]:
    out = run_cli("export", "--order", "canonical", "-", db=db, check=True).stdout
    lines = [json.loads(line) for line in out.splitlines()[1:]]
    return [(r["task_id"], r["arm"], r["passed"], r["detail"], r["sub_calls"]) for r in lines]


@pytest.mark.slow
def test_ctrl_c_releases_every_run_in_flight_and_a_restart_ends_as_a_calm_run(
        tmp_path, sample_bbh, start_group):
    """Before: 2.1.328 exits 0 on Ctrl-C without a result, and each job in flight was
    stored as an `unparseable` wrong answer."""
    calm, stopped = tmp_path / "calm.db", tmp_path / "stopped.db"
    for db in (calm, stopped):
        enqueue(db, sample_bbh)
    assert work(calm, "--concurrency", "4").returncode == 0
    worker = start_work(start_group, stopped, "--concurrency", "4", FAKE_CLAUDE_DELAY="30",
                        FAKE_CLAUDE_LOG=str(tmp_path / "runs.log"))
    wait_for(stopped, "SELECT count(*) FROM jobs WHERE state = 'running'", [(4,)])
    wait_for_runs(tmp_path / "runs.log", 4)
    time.sleep(0.5)                     # each stand-in is in its think() by now
    os.killpg(worker.pid, signal.SIGINT)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert rows(stopped, "SELECT count(*) FROM results") == [(0,)]
    assert rows(stopped, "SELECT state, max(attempts), count(*) FROM jobs GROUP BY state") \
        == [("pending", 0, 4)]
    kinds = rows(stopped, "SELECT DISTINCT e.value ->> 'kind' FROM jobs, json_each(errors) e")
    assert kinds == [("interrupted",)]
    assert work(stopped, "--concurrency", "4").returncode == 0
    assert export(stopped) == export(calm)
    assert all(detail != "unparseable" for _, _, _, detail, _ in export(stopped))


@pytest.mark.slow
def test_sigterm_starts_no_new_cli_run(tmp_path, sample_bbh, start_group):
    """A 500 is retried inside the attempt; once the worker has its SIGTERM no run starts,
    and the runs it was waiting on are not charged to their jobs."""
    enqueue(tmp_path / "s.db", sample_bbh)
    log = tmp_path / "runs.log"
    worker = start_work(start_group, tmp_path / "s.db", "--concurrency", "2",
                        FAKE_CLAUDE_SCENARIO="s500", FAKE_CLAUDE_DELAY="1",
                        FAKE_CLAUDE_LOG=str(log))
    wait_for_runs(log, 3)               # a retry has started
    signalled = time.time()
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    started = [float(line.split()[0]) for line in log.read_text().splitlines()]
    assert not [at for at in started if at > signalled], started
    assert rows(tmp_path / "s.db", "SELECT max(attempts), count(*) FROM jobs"
                                   " WHERE state = 'pending'") == [(0, 4)]


@pytest.mark.parametrize("anyway", ["", "1"])
def test_a_refused_key_stops_the_run_in_seconds(db_path, sample_bbh, anyway):
    """At its defaults the CLI retries a 401 ten times (~185 s); sweepq turns that off, and
    a CLI that retries anyway is stopped at its first `api_retry` line."""
    enqueue(db_path, sample_bbh)
    started = time.monotonic()
    done = work(db_path, "--concurrency", "2", FAKE_CLAUDE_SCENARIO="key401",
                FAKE_CLAUDE_RETRY_SECONDS="60", FAKE_CLAUDE_RETRIES_ANYWAY=anyway)
    assert done.returncode == 2, done.stderr
    assert time.monotonic() - started < 30
    assert "/login" in done.stderr
    assert rows(db_path, "SELECT max(attempts) FROM jobs") == [(0,)]


@pytest.mark.slow
def test_a_per_minute_429_pauses_for_a_while_and_the_sweep_carries_on(tmp_path, sample_bbh,
                                                                       start_group):
    """r429plain: a rejected `rate_limit_event` without a window. Before: exhaustion with
    no end, exit 75. Now: a rate-limited pause of 60 s (ended here by `resume`)."""
    db = tmp_path / "s.db"
    enqueue(db, sample_bbh)
    now = time.time()
    worker = start_work(start_group, db, "--concurrency", "1", FAKE_CLAUDE_SCENARIO="r429plain",
                        FAKE_CLAUDE_ONCE=str(tmp_path / "once"))
    wait_for(db, "SELECT count(*) FROM pauses", [(1,)])
    [(reason, resume_at)] = rows(db, "SELECT reason, resume_at FROM pauses")
    assert reason == "rate_limited" and now + 55 <= resume_at <= time.time() + 61
    assert run_cli("resume", db=db).returncode == 0
    _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr
    assert rows(db, "SELECT state, count(*), max(attempts) FROM jobs GROUP BY state") == \
        [("done", 4, 1)]


# -- one run of the binary: silence, retries, messages -----------------------------------------

def script(tmp_path: Path, body: str) -> str:
    path = tmp_path / "cli"
    path.write_text(f"#!{sys.executable}\nimport sys, time\n{body}\n")
    path.chmod(0o755)
    return str(path)


def test_a_silent_run_is_stopped_as_hung_and_a_talking_one_is_not(tmp_path):
    silent = script(tmp_path, "sys.stdin.read(); time.sleep(30)")
    assert run_claude([silent], "q", idle_seconds=0.5).stopped == "hung"
    # 3 s in all, three times the silence allowed, never more than 0.25 s silent once it
    # runs (the window also covers the interpreter's start on a loaded machine).
    talking = script(tmp_path, "for i in range(12):\n    print('{}', flush=True); "
                               "time.sleep(0.25)")
    run = run_claude([talking], "q", idle_seconds=1.0)
    assert (run.stopped, run.returncode, run.stdout.count("{}")) == (None, 0, 12)


def test_the_child_runs_with_its_retries_off_and_is_stopped_when_it_retries(tmp_path):
    retrying = script(tmp_path, "import os\nprint(os.environ['CLAUDE_CODE_MAX_RETRIES'])\n"
                      "print('{\"type\":\"system\",\"subtype\":\"api_retry\",\"attempt\":1,"
                      "\"error_status\":401}', flush=True)\ntime.sleep(30)")
    run = run_claude([retrying], "q", idle_seconds=20)
    assert run.stopped == "retrying" and run.stdout.startswith("0\n")


def test_a_hung_run_names_neither_the_binary_path_nor_the_prompt(tmp_path):
    backend = ClaudeCliBackend(script(tmp_path, "sys.stdin.read(); time.sleep(30)"), 0.5)
    with pytest.raises(CallFailed) as caught:
        backend.send("claude-haiku-4-5", "SYSTEM-TEXT", "PROMPT-TEXT", 100)
    failure = caught.value.failure
    assert failure.kind == "transient" and "hung" in failure.message
    for secret in (str(tmp_path), "SYSTEM-TEXT", "PROMPT-TEXT"):
        assert secret not in failure.message


# -- the stop flag and a CLI stopped on its own ------------------------------------------------

class Failing:
    """A backend whose every call fails as transient; `on_send` runs during the call."""

    def __init__(self, on_send=lambda: None) -> None:  # type: ignore[no-untyped-def]
        self.sends, self.on_send = 0, on_send

    def send(self, model: str, system: str | None, prompt: str, max_tokens: int):  # type: ignore[no-untyped-def]
        self.sends += 1
        self.on_send()
        raise CallFailed(Failure("transient", None, "claude CLI failed (500)"))


def client(db: Path, backend: Failing, stopping: threading.Event) -> JobClient:
    queue = Queue.open(str(db))
    sweep = Sweep(name="u", arms=["x"], models={"haiku": "claude-haiku-4-5"})
    queue.enqueue(sweep, [("t/0", {"input": "q", "target": "A"})])
    job = queue.claim("u", "w")
    return JobClient(queue, job, backend, sweep.models, governor=None, stopping=stopping)


def test_a_signal_during_a_call_starts_no_retry(db_path):
    """Before: the retry inside the attempt went out after SIGTERM (3 runs, not 1)."""
    stopping = threading.Event()
    backend = Failing(on_send=stopping.set)     # the signal arrives while the CLI runs
    with pytest.raises(WorkerStopping):
        client(db_path, backend, stopping).call("haiku", "q")
    assert backend.sends == 1


def test_a_stopping_worker_starts_no_call(db_path):
    stopping = threading.Event()
    stopping.set()
    backend = Failing()
    with pytest.raises(WorkerStopping):
        client(db_path, backend, stopping).call("haiku", "q")
    assert backend.sends == 0


def test_a_cli_killed_while_its_worker_runs_on_counts_the_attempt(tmp_path, sample_bbh):
    """Not every interruption is the worker's: a CLI killed alone (or crashing on a signal)
    is never an answer, and its attempt counts, so a job cannot loop for ever."""
    db = tmp_path / "s.db"
    run_cli("enqueue", "--sweep", "s", "--subtasks", "boolean_expressions", "--n-per-subtask",
            "2", "--arms", "haiku-only", "--dataset", str(sample_bbh), "--max-attempts", "1",
            db=db, check=True)
    killed = script(tmp_path, "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)")
    done = run_cli("work", "--backend", "claude-cli", "--claude-bin", killed, "--quiet",
                   "--concurrency", "2", db=db, env=cli_env())
    assert done.returncode == 3, done.stderr
    assert rows(db, "SELECT state, count(*) FROM jobs GROUP BY state") == [("error", 2)]
    assert rows(db, "SELECT count(*) FROM results") == [(0,)]
    assert rows(db, "SELECT DISTINCT last_error FROM jobs") == [
        ("claude CLI ended by SIGKILL before answering",)]


def test_a_cli_that_cannot_start_names_no_path(tmp_path):
    cli = script(tmp_path, "")
    backend = ClaudeCliBackend(cli, 5)
    Path(cli).unlink()                  # gone since the worker found it
    with pytest.raises(CallFailed) as caught:
        backend.send("claude-haiku-4-5", None, "PROMPT-TEXT", 100)
    failure = caught.value.failure
    assert failure.kind == "transient" and "could not start" in failure.message
    assert str(tmp_path) not in failure.message and "PROMPT" not in failure.message
