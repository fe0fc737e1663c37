"""`sweepq work --backend claude-cli` on the real `claude` binary (2.1.328 from npm), end to
end against the tests' own fake on 127.0.0.1: answers, Ctrl-C, SIGTERM, a per-minute 429,
a refused key, and the subscription limits already handled (issue 24).

No network beyond loopback and no real account (tests/claude_real.py). The captures in
tests/data/claude-cli stay the fast suite's ground truth; these runs check that the real
binary still prints what they say.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from claude_real import binary, environment
from conftest import run_cli

from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.subscription import per_minute_limit, unified_limit

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def claude() -> Path:
    return binary()


@pytest.fixture
def new_sweep(tmp_path, claude, sample_bbh, start_group):  # type: ignore[no-untyped-def]
    """A sweep of 4 jobs to run on the real binary (its own database, one HOME a test)."""
    return lambda name="s": Sweep(tmp_path, claude, sample_bbh, start_group, name)


class Logged(FakeAPI):
    """The fake, noting when each Messages request arrived and how many it is answering."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        super().__init__(config)
        self.arrivals: list[float] = []
        self.answering = 0
        self._count = threading.Lock()

    def handle(self, method, path, headers, raw):  # type: ignore[no-untyped-def]
        if not path.startswith("/v1/messages"):
            return super().handle(method, path, headers, raw)
        with self._count:
            self.arrivals.append(time.time())
            self.answering += 1
        try:
            return super().handle(method, path, headers, raw)
        finally:
            with self._count:
                self.answering -= 1


class Sweep:
    """One sweep's database and the real binary's surroundings (HOME, working folder)."""

    def __init__(self, root: Path, claude: Path, bbh: Path, start_group,  # type: ignore[no-untyped-def]
                 name: str = "s") -> None:
        self.db, self.claude, self.start_group = root / f"{name}.db", claude, start_group
        self.home, self.cwd = root / "home", root / "cwd"
        self.home.mkdir(exist_ok=True)
        self.cwd.mkdir(exist_ok=True)
        run_cli("enqueue", "--sweep", "s", "--subtasks", "boolean_expressions,web_of_lies",
                "--n-per-subtask", "2", "--arms", "haiku-only", "--dataset", str(bbh),
                db=self.db, check=True)

    def argv(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "sweepq", "--db", str(self.db), "work", "--backend",
                "claude-cli", "--claude-bin", str(self.claude), "--quiet", *args]

    def start(self, fake: FakeAPI, *args: str, api_key: bool = False) -> subprocess.Popen:
        """`sweepq work` in its own process group, as a terminal's foreground job."""
        return self.start_group(self.argv(*args), cwd=self.cwd,
                                env=environment(self.home, fake.url, api_key=api_key))

    def work(self, fake: FakeAPI, *args: str, api_key: bool = False) -> tuple[int, str]:
        proc = self.start(fake, *args, api_key=api_key)
        _, stderr = proc.communicate(timeout=120)
        return proc.returncode, stderr

    def rows(self, sql: str) -> list[tuple]:
        with sqlite3.connect(self.db) as conn:
            return conn.execute(sql).fetchall()

    def export(self) -> list[tuple]:
        out = run_cli("export", "--order", "canonical", "-", db=self.db, check=True).stdout
        lines = [json.loads(line) for line in out.splitlines()[1:]]
        return [(r["task_id"], r["arm"], r["passed"], r["detail"], r["sub_calls"])
                for r in lines]


def until(check, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "gave up waiting"
        time.sleep(0.05)


def test_ctrl_c_then_a_restart_ends_as_a_calm_sweep(new_sweep):
    """Before: every run in flight exited 0 without a result and became `unparseable`."""
    calm = new_sweep("calm")
    stopped = new_sweep("stopped")
    with FakeAPI(FakeConfig()) as fake:
        assert calm.work(fake, "--concurrency", "4")[0] == 0
        assert fake.stats()["requests"] == 4               # one request a call
    outputs = [o for (o,) in calm.rows("SELECT output FROM results")]
    assert len(outputs) == 4 and all("\nAnswer: " in o for o in outputs), outputs
    with FakeAPI(FakeConfig(latency_ms=10000)) as slow:
        worker = stopped.start(slow, "--concurrency", "4")
        until(lambda: slow.stats()["max_in_flight"] == 4)
        os.killpg(worker.pid, signal.SIGINT)          # what a terminal's Ctrl-C sends
        _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert stopped.rows("SELECT count(*) FROM results") == [(0,)]
    assert stopped.rows("SELECT state, max(attempts), count(*) FROM jobs GROUP BY state") \
        == [("pending", 0, 4)]
    with FakeAPI(FakeConfig()) as fake:
        assert stopped.work(fake, "--concurrency", "4")[0] == 0
    assert stopped.export() == calm.export()
    assert all(row[3] != "unparseable" for row in stopped.export())


def test_sigterm_starts_no_new_run(new_sweep):
    """500s are retried inside the attempt; after SIGTERM no request leaves.

    The signal comes while both runs wait on the fake's reply (a retry among them), so
    no request is on its way: any that arrives later is a run started after the signal,
    however slowly a loaded machine starts the binary. Each reply takes 4 s, so both runs
    are at the fake together long before either attempt spends its three tries (at 1.5 s
    a loaded machine once let one attempt end first: attempts 1)."""
    sweep = new_sweep()
    with Logged(FakeConfig(faults={500: 1.0}, latency_ms=4000)) as fake:
        worker = sweep.start(fake, "--concurrency", "2")
        until(lambda: len(fake.arrivals) >= 3 and fake.answering == 2)
        signalled = time.time()
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
        late = [t for t in fake.arrivals if t > signalled]
    assert worker.returncode == 0, stderr
    assert late == []
    assert sweep.rows("SELECT state, max(attempts), count(*) FROM jobs GROUP BY state") == \
        [("pending", 0, 4)]


def test_a_per_minute_429_pauses_and_the_sweep_carries_on(new_sweep):
    """Before: the rejected `rate_limit_event` without a window read as exhaustion, exit 75."""
    sweep = new_sweep()
    with FakeAPI(FakeConfig()) as fake:
        fake.script([per_minute_limit()])
        started = time.time()
        worker = sweep.start(fake, "--concurrency", "1")
        until(lambda: sweep.rows("SELECT count(*) FROM pauses") == [(1,)])
        [(reason, resume_at)] = sweep.rows("SELECT reason, resume_at FROM pauses")
        assert reason == "rate_limited" and started + 55 < resume_at < time.time() + 61
        assert run_cli("resume", db=sweep.db).returncode == 0
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr
    assert sweep.rows("SELECT state, count(*) FROM jobs GROUP BY state") == [("done", 4)]


def test_a_refused_key_exits_2_in_seconds(new_sweep):
    """Before: the CLI retried the 401 ten times, sweepq timed it out as transient."""
    sweep = new_sweep()
    with FakeAPI(FakeConfig(valid_api_keys={"sk-ant-another-key"})) as fake:
        started = time.monotonic()
        code, stderr = sweep.work(fake, "--concurrency", "2", api_key=True)
        assert fake.stats()["requests"] <= 2            # one a run: the CLI did not retry
    assert code == 2, stderr
    assert time.monotonic() - started < 30
    assert "Invalid API key" in stderr and "/login" in stderr
    messages = " ".join(m for (m,) in sweep.rows("SELECT error FROM calls"))
    assert str(sweep.claude) not in messages and "boolean" not in messages.lower()


def test_a_session_limit_is_waited_out_to_its_second(new_sweep):
    sweep = new_sweep()
    with Logged(FakeConfig()) as fake:
        fake.script([unified_limit("five_hour", reset_in=3)])
        code, stderr = sweep.work(fake, "--concurrency", "1", "--max-wait", "1m")
        refused_at = fake.arrivals[0]
    assert code == 0, stderr
    [(reason, resume_at)] = sweep.rows("SELECT reason, resume_at FROM pauses")
    # the header's second, read from the stream's `resetsAt` (not a minute, not now + 60)
    assert reason == "exhausted" and resume_at == int(resume_at)
    assert refused_at + 3 <= resume_at <= refused_at + 5
    assert sweep.rows("SELECT state, count(*), max(attempts) FROM jobs GROUP BY state") == \
        [("done", 4, 1)]


@pytest.mark.parametrize("limit, code, words, scope", [
    ("seven_day", 75, "weekly limit", None),
    ("seven_day_opus", 75, "Opus limit", "claude-opus"),
])
def test_a_weekly_limit_stops_the_sweep_uncharged(new_sweep, limit, code, words, scope):
    sweep = new_sweep()
    run_cli("models", "--sweep", "s", "haiku=claude-opus-4-6", db=sweep.db, check=True)
    with FakeAPI(FakeConfig()) as fake:
        reset = int(time.time()) + 3 * 86400
        fake.script([unified_limit(limit, reset)] * 2)
        done, stderr = sweep.work(fake, "--concurrency", "1", "--max-wait", "1h")
    assert done == code, stderr
    assert sweep.rows("SELECT reason, resume_at, scope FROM pauses") == [
        ("exhausted", reset, scope)]
    assert words in sweep.rows("SELECT message FROM pauses")[0][0]
    assert sweep.rows("SELECT max(attempts), count(*) FROM jobs WHERE state = 'pending'") \
        == [(0, 4)]


@pytest.mark.parametrize("config, api_key, code, words", [
    (FakeConfig(models=("claude-sonnet-4-6",)), False, 2, "sweepq models --sweep s"),
    (FakeConfig(credit_exhausted=True), True, 75, "credit"),
])
def test_other_failures_as_before(new_sweep, config, api_key, code, words):
    """An unknown model stops the run; credit pauses it with no end."""
    sweep = new_sweep()
    with FakeAPI(config) as fake:
        done, stderr = sweep.work(fake, "--concurrency", "2", api_key=api_key)
    assert done == code, stderr
    assert words in stderr
    assert sweep.rows("SELECT max(attempts) FROM jobs") == [(0,)]
