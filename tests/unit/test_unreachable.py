"""An API nobody can reach is nobody's job's fault: it never costs an attempt.

At the start of a run it is a wrong address or no network, and `work` stops at once
(exit 2); mid-sweep the network went away, and the queue pauses and probes until
calls get through again, then carries on by itself. Real processes, the real SDK,
the fake API on 127.0.0.1 taken down and brought back on the same port.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import anthropic
import pytest
from conftest import ROOT, cli_env, enqueue, rows, run_cli, sdk

from sweepq.failures.api import classify
from sweepq.fake import FakeAPI, FakeConfig


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sdk_failure(base_url: str, timeout: float = 5.0) -> anthropic.APIConnectionError:
    client = sdk(api_key="sk-ant-test", base_url=base_url, max_retries=0, timeout=timeout)
    with pytest.raises(anthropic.APIConnectionError) as info:
        client.messages.create(model="claude-haiku-4-5", max_tokens=8,
                               messages=[{"role": "user", "content": "hi"}])
    return info.value


def test_a_refused_connection_is_unreachable():
    failure = classify(sdk_failure(f"http://127.0.0.1:{free_port()}"))
    assert failure.kind == "unreachable"
    assert "Connection refused" in failure.message


def test_a_request_sent_then_timed_out_stays_transient():
    """The server took the request and never answered: it may have been working on this
    very job (a long output), so that is the job's attempt, not the network's."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()          # connections complete in the backlog, nobody answers
        port = listener.getsockname()[1]
        failure = classify(sdk_failure(f"http://127.0.0.1:{port}", timeout=0.5))
    assert failure.kind == "transient" and failure.message.startswith("timed out")


def test_unreachable_from_the_start_stops_at_once_and_costs_nothing(db_path, sample_bbh):
    enqueue(db_path, sample_bbh, n=4)
    env = cli_env(ANTHROPIC_BASE_URL=f"http://127.0.0.1:{free_port()}",
                  ANTHROPIC_API_KEY="sk-ant-x")
    done = run_cli("work", "--quiet", "--concurrency", "2", db=db_path, env=env)
    assert done.returncode == 2, done.stderr
    assert "cannot reach the API" in done.stderr and "ANTHROPIC_BASE_URL" in done.stderr
    assert rows(db_path, "SELECT state, count(*), max(attempts) FROM jobs GROUP BY state") \
        == [("pending", 8, 0)]
    assert rows(db_path, "SELECT count(*) FROM pauses") == [(0,)]   # other processes go on


@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_the_api_going_away_mid_sweep_pauses_then_the_sweep_finishes_by_itself(
        db_path, sample_bbh):
    enqueue(db_path, sample_bbh, n=30)
    port = free_port()
    fake = FakeAPI(FakeConfig(latency_ms=20), port=port).start()
    worker = subprocess.Popen(
        [sys.executable, "-m", "sweepq", "--db", str(db_path), "work", "--quiet",
         "--concurrency", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=cli_env(fake), cwd=ROOT)
    try:
        wait_for(db_path, "SELECT count(*) >= 5 FROM jobs WHERE state = 'done'")
        fake.stop()                                   # the network goes away
        wait_for(db_path, "SELECT count(*) FROM pauses WHERE reason = 'unreachable'")
        fake.start()                                  # and comes back on the same port
        out, err = worker.communicate(timeout=120)
    finally:
        worker.kill()
        fake.stop()
    assert worker.returncode == 0, err
    assert rows(db_path, "SELECT state, count(*), max(attempts) FROM jobs GROUP BY state") \
        == [("done", 60, 1)]                          # no attempt paid for the outage
    (message,) = rows(db_path, "SELECT message FROM pauses WHERE reason = 'unreachable'"
                               " ORDER BY pause_id LIMIT 1")[0]
    assert "Connection refused" in message


def wait_for(db: Path, sql: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not rows(db, sql)[0][0]:
        assert time.monotonic() < deadline, f"timed out waiting for: {sql}"
        time.sleep(0.05)


@pytest.mark.parametrize("model", ["openai:gpt-5.4-mini", "openai-responses:gpt-5.4-mini",
                                   "gemini:gemini-2.5-flash", "local:qwen3:4b"])
def test_another_vendor_unreachable_is_unreachable_for_its_arms_only(model, monkeypatch):
    """Each vendor's own SDK (httpx underneath, not httpx2) against a refused port, through
    the router: the same kind, the address named, the pause scoped to that provider."""
    from sweepq.failures import CallFailed
    from sweepq.vendors.router import RouterBackend

    address = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-openai")
    monkeypatch.setenv("GEMINI_API_KEY", "gemini-test-key")
    with pytest.raises(CallFailed) as info:
        RouterBackend(claude=None).send(f"{model}@{address}", None, "hi", 8)  # type: ignore[arg-type]
    failure = info.value.failure
    assert failure.kind == "unreachable", failure
    assert address in failure.message and failure.pause_scope is not None
