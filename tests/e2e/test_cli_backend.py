"""`sweepq work --backend claude-cli` end to end, with tests/bin/claude replaying what the
real CLI printed (tests/data/claude-cli): limits pause, logins stop, nothing errors."""

from __future__ import annotations

import math
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import ROOT, cli_env, enqueue, run_cli

from sweepq.pauselog import PauseLog
from sweepq.queue import Queue

STAND_IN = ROOT / "tests" / "bin" / "claude"


def work(db: Path, *args: str, **env: str):
    return run_cli("work", "--backend", "claude-cli", "--claude-bin", str(STAND_IN),
                   "--quiet", *args, db=db, env=cli_env(TZ="Europe/London", **env))


def one(db: Path, sql: str) -> tuple:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_a_session_limit_seconds_away_is_waited_out(db_path, sample_bbh, tmp_path):
    enqueue(db_path, sample_bbh, n=4)
    window = tmp_path / "window"           # 3 s from the first call, however late it comes
    done = work(db_path, "--concurrency", "2", "--max-wait", "1m",
                FAKE_CLAUDE_SCENARIO="session-10m", FAKE_CLAUDE_WINDOW="+3",
                FAKE_CLAUDE_WINDOW_FILE=str(window))
    assert done.returncode == 0, done.stderr
    end = float(window.read_text().split(",")[1])
    assert one(db_path, "SELECT count(*) FROM jobs WHERE state = 'done'") == (8,)
    assert one(db_path, "SELECT count(*) FROM jobs WHERE state = 'error'") == (0,)
    reason, resume_at, message = one(db_path, "SELECT reason, resume_at, message FROM pauses")
    assert reason == "exhausted" and "session limit" in message and "five_hour" in message
    assert resume_at == math.ceil(end)  # the exact second of the stream's resetsAt
    # Not watched (stderr is a pipe): the pause was logged when it began and ended.
    assert "sweepq: paused (exhausted) until" in done.stderr
    assert "sweepq: pause ended (exhausted)" in done.stderr


@pytest.mark.parametrize("scenario, code, words", [
    ("weekly-3d", 75, "max-wait"),
    ("opus-3d", 75, "max-wait"),
    ("v2-limit_seven_day", 75, "max-wait"),
    ("credit", 75, "sweepq resume"),
    ("notlogged", 2, "/login"),
    ("key401", 2, "/login"),
    ("auth401-oauthexp", 2, "/login"),
    ("model404", 2, "sweepq models --sweep s "),
])
def test_limits_and_logins_stop_at_once_and_charge_nothing(db_path, sample_bbh, scenario,
                                                           code, words):
    enqueue(db_path, sample_bbh)
    started = time.monotonic()
    done = work(db_path, "--concurrency", "2", "--max-wait", "1h",
                FAKE_CLAUDE_SCENARIO=scenario)
    assert done.returncode == code, done.stderr
    assert time.monotonic() - started < 60
    assert words in done.stderr and "Traceback" not in done.stderr
    assert one(db_path, "SELECT count(*) FROM jobs WHERE state = 'error'") == (0,)
    assert one(db_path, "SELECT max(attempts) FROM jobs") == (0,)


def test_the_weekly_limit_pauses_until_its_exact_second(db_path, sample_bbh):
    enqueue(db_path, sample_bbh)
    before = time.time()
    done = work(db_path, "--max-wait", "1h", FAKE_CLAUDE_SCENARIO="weekly-3d")
    assert done.returncode == 75
    [resume_at] = one(db_path, "SELECT max(resume_at) FROM pauses")
    # captured: reset 3 d 0 h 30 m 4 s after the capture; replayed relative to "now"
    assert int(before) + 261004 <= resume_at <= time.time() + 261004


def test_models_command_changes_the_map_and_refuses_once_used(db_path, sample_bbh):
    enqueue(db_path, sample_bbh, n=1)
    done = run_cli("models", "--sweep", "s", "haiku=claude-haiku-4-5-20251001", db=db_path)
    assert done.returncode == 0 and "haiku=claude-haiku-4-5-20251001" in done.stdout
    assert one(db_path, "SELECT alias, old_model, new_model, forced FROM model_changes") == (
        "haiku", "claude-haiku-4-5", "claude-haiku-4-5-20251001", 0)
    assert work(db_path).returncode == 0
    refused = run_cli("models", "--sweep", "s", "haiku=claude-haiku-4-6", db=db_path)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "--force" in refused.stderr
    assert "Traceback" not in refused.stderr
    forced = run_cli("models", "--sweep", "s", "--force", "haiku=claude-haiku-4-6", db=db_path)
    assert forced.returncode == 0
    assert one(db_path, "SELECT count(*), sum(forced) FROM model_changes") == (2, 1)
    assert run_cli("models", "--sweep", "s", "nonsense", db=db_path).returncode == 1


def test_pause_log_says_start_waiting_and_end(db_path, sample_bbh):
    enqueue(db_path, sample_bbh, n=1)
    queue = Queue.open(str(db_path))
    now = [1000.0]
    lines: list[str] = []
    log = PauseLog(queue, lines.append, interval=600, clock=lambda: now[0])
    log.tick()
    assert lines == []
    queue.pause(time.time() + 7200, "exhausted", "You've hit your weekly limit")
    log.tick()
    now[0] += 599
    log.tick()
    now[0] += 1
    log.tick()
    queue.resume()
    log.tick()
    log.tick()
    queue.close()
    assert len(lines) == 3, lines
    assert lines[0].startswith("sweepq: paused (exhausted) until ")
    assert "(in 2h00m)" in lines[0] and "weekly limit" in lines[0]
    assert lines[1].startswith("sweepq: still paused (exhausted)")
    assert lines[2] == "sweepq: pause ended (exhausted); working again"


def test_an_opus_limit_holds_back_only_the_arm_that_calls_opus(db_path, sample_bbh):
    """The real CLI's `You've hit your Opus limit` (opus-3d), played only for calls to
    Opus: the haiku arm finishes, the Opus arm waits uncharged, and `work` exits 75
    naming it once nothing else is left."""
    run_cli("enqueue", "--sweep", "s", "--subtasks", "boolean_expressions", "--n-per-subtask",
            "3", "--arms", "haiku-only,sonnet-only", "--model", "sonnet=claude-opus-4-6",
            "--dataset", str(sample_bbh), db=db_path, check=True)
    done = work(db_path, "--concurrency", "2", "--max-wait", "1h",
                FAKE_CLAUDE_SCENARIO="opus-3d", FAKE_CLAUDE_FOR_MODEL="opus")
    assert done.returncode == 75, done.stderr
    assert "sonnet-only" in done.stderr and "claude-opus" in done.stderr
    with sqlite3.connect(db_path) as conn:
        states = conn.execute("SELECT arm, state, count(*), max(attempts) FROM jobs"
                              " GROUP BY arm, state ORDER BY arm").fetchall()
        scopes = conn.execute("SELECT DISTINCT scope FROM pauses").fetchall()
    assert states == [("haiku-only", "done", 3, 1), ("sonnet-only", "pending", 3, 0)]
    assert scopes == [("claude-opus",)]
