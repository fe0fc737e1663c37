"""The model client: aliases, per-sweep model maps, prices, the call journal, replay.

The real SDK over real HTTP against `FakeAPI` on 127.0.0.1; the CLI as real processes.
"""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import cli_env, read, run_cli

from sweepq.arms import PERSONA_A, PERSONA_B
from sweepq.backends import AnthropicBackend
from sweepq.bbh import load_tasks
from sweepq.errors import SweepqError
from sweepq.failures import CallFailed
from sweepq.fake import FakeAPI
from sweepq.models import (
    DEFAULT_MODELS,
    PRICES,
    JobClient,
    parse_model_map,
    price,
    request_hash,
)
from sweepq.queue import Queue, Sweep
from sweepq.task import Task
from sweepq.usage import Usage

HAIKU, SONNET = DEFAULT_MODELS["haiku"], DEFAULT_MODELS["sonnet"]


def reply(text: str, model: str = HAIKU, **usage: int) -> dict:
    return {"status": 200, "body": {
        "id": "msg_scripted", "type": "message", "role": "assistant", "model": model,
        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {"input_tokens": 40, "output_tokens": 8, **usage}}}


def enqueue(db: Path, dataset: Path, arms: str, *extra: str, n: int = 1,
            subtasks: str = "boolean_expressions", env: dict | None = None,
            fake: FakeAPI | None = None) -> None:
    run_cli("enqueue", "--sweep", "s", "--subtasks", subtasks, "--n-per-subtask", str(n),
            "--arms", arms, "--dataset", str(dataset), *extra, db=db, env=env, fake=fake,
            check=True)


# -- aliases and the per-sweep model map -----------------------------------------


def test_aliases_and_model_map():
    assert set(DEFAULT_MODELS) == {"haiku", "sonnet", "opus"}
    assert all(model in PRICES for model in DEFAULT_MODELS.values())
    models = parse_model_map(["haiku=claude-haiku-4-5-20251001", " opus = claude-opus-4-1 "])
    assert models == {"haiku": "claude-haiku-4-5-20251001", "sonnet": SONNET,
                      "opus": "claude-opus-4-1"}
    for bad in ["haiku", "=claude-x", "haiku="]:
        with pytest.raises(SweepqError, match="is not ALIAS=MODEL_ID"):
            parse_model_map([bad])


def test_model_override_is_stored_and_used_by_a_later_worker(tmp_path, sample_bbh, db_path,
                                                             fake_api):
    pinned = ["--model", "haiku=claude-haiku-4-5-20251001", "--model", "sonnet=claude-sonnet-4"]
    enqueue(db_path, sample_bbh, "haiku-only,echo-lexical,sonnet-only", *pinned, n=2,
            fake=fake_api)
    (row,) = read(db_path, "SELECT models FROM sweeps")
    assert json.loads(row["models"]) == {"haiku": "claude-haiku-4-5-20251001",
                                         "sonnet": "claude-sonnet-4", "opus": "claude-opus-4-6"}
    # The same sweep with other ids is a mistake, not a resume; the same ids add nothing.
    clash = run_cli("enqueue", "--sweep", "s", "--subtasks", "boolean_expressions",
                    "--n-per-subtask", "2", "--arms", "haiku-only,echo-lexical,sonnet-only",
                    "--dataset", str(sample_bbh), db=db_path, fake=fake_api)
    assert clash.returncode != 0 and "already exists with other settings" in clash.stderr
    enqueue(db_path, sample_bbh, "haiku-only,echo-lexical,sonnet-only", *pinned, n=2,
            fake=fake_api)
    # A later `work` process has no --model option: it reads the ids from the sweep.
    run_cli("work", "--quiet", db=db_path, fake=fake_api, check=True)
    used = fake_api.stats()["successes_by_model"]
    assert set(used) == {"claude-haiku-4-5-20251001", "claude-sonnet-4"}
    assert {r["model"] for r in read(db_path, "SELECT DISTINCT model FROM calls")} == set(used)
    sonnet_rows = read(db_path, "SELECT r.models, r.cost_usd FROM results AS r JOIN jobs AS j"
                                " USING (job_id) WHERE j.arm = 'sonnet-only'")
    assert all(r["models"] == '["claude-sonnet-4"]' and r["cost_usd"] > 0 for r in sonnet_rows)


# -- prices ------------------------------------------------------------------------


def test_price_table():
    usage = Usage(input_tokens=1000, output_tokens=200, cache_read_tokens=5000,
                  cache_write_tokens=3000)
    expected = (1000 * 1.00 + 200 * 5.00 + 3000 * 1.25 + 5000 * 0.10) / 1e6
    assert price("claude-haiku-4-5", usage) == pytest.approx(expected)
    assert price("claude-haiku-4-5-20251001", usage) == pytest.approx(expected)   # dated id
    assert price("claude-sonnet-4", usage) == pytest.approx(
        (1000 * 3 + 200 * 15 + 3000 * 3.75 + 5000 * 0.30) / 1e6)
    assert price("claude-unpriced-1", usage) is None
    assert price("claude-unpriced-1", Usage(cost_usd=0.25)) == 0.25     # CLI-reported


@pytest.fixture
def client_for(db_path, fake_api, monkeypatch):
    """Make a JobClient for a fresh one-job sweep, as the worker would."""
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)
    queue = Queue.open(str(db_path))
    backend = AnthropicBackend(timeout=10)
    made = []

    def make(task: Task, models: dict[str, str] | None = None) -> JobClient:
        sweep = Sweep(name=f"s{len(made)}", arms=["x"], models=models or dict(DEFAULT_MODELS))
        queue.enqueue(sweep, [(task.task_id, task.payload())])
        job = queue.claim(sweep.name, "test-worker")
        made.append(job)
        return JobClient(queue, job, backend, sweep.models)

    yield make
    queue.close()


@pytest.fixture
def task(sample_bbh) -> Task:
    return load_tasks(["web_of_lies"], 1, 0, str(sample_bbh))[0]


def test_cost_from_real_token_counts(client_for, task, fake_api):
    client = client_for(task)
    fake_api.script([reply("Answer: Yes", input_tokens=1000, output_tokens=200,
                           cache_creation_input_tokens=3000, cache_read_input_tokens=5000)])
    client.call("haiku", task.prompt)
    assert client.usage.cost_usd == pytest.approx(
        (1000 * 1.00 + 200 * 5.00 + 3000 * 1.25 + 5000 * 0.10) / 1e6)
    assert (client.usage.cache_write_tokens, client.usage.cache_read_tokens) == (3000, 5000)
    # Unscripted: the fake counts len(system + prompt) // 4 input tokens, as sent.
    client.call("sonnet", task.prompt, system=PERSONA_A)
    (call,) = [c for c in client.queue.journal(client.job.job_id) if c.model == SONNET]
    assert call.usage.input_tokens == (len(PERSONA_A) + len(task.prompt)) // 4
    assert call.usage.cost_usd == pytest.approx(
        (call.usage.input_tokens * 3 + call.usage.output_tokens * 15) / 1e6)
    assert client.calls == 2 and client.models_used == [HAIKU, SONNET]


def test_unpriced_model_makes_cost_unknown(client_for, task, fake_api):
    client = client_for(task, models={**DEFAULT_MODELS, "haiku": "claude-unpriced-1"})
    fake_api.script([reply("Answer: Yes"), reply("Answer: Yes")])  # the fake 404s unknown ids
    client.call("sonnet", task.prompt)
    client.call("haiku", task.prompt)
    assert client.usage.cost_usd is None and client.calls == 2


# -- the journal ----------------------------------------------------------------------


def test_every_call_is_journaled(client_for, task, fake_api):
    client = client_for(task)
    a, b = client.call_many([("haiku", task.prompt, PERSONA_A), ("haiku", task.prompt, PERSONA_B)])
    fake_api.script([{"status": 400}])
    with pytest.raises(CallFailed) as failed:
        client.call("sonnet", "a rejected request", max_tokens=64)
    assert failed.value.failure.kind == "fatal"
    rows = client.queue.read("SELECT * FROM calls WHERE job_id = ? ORDER BY call_index",
                             (client.job.job_id,))
    assert [(r["call_index"], r["model"], r["attempt"]) for r in rows] == [
        (0, HAIKU, 1), (1, HAIKU, 1), (2, SONNET, 1)]
    assert [r["response_text"] for r in rows[:2]] == [a, b]
    assert rows[0]["request_hash"] == request_hash(HAIKU, PERSONA_A, task.prompt, 1024)
    assert rows[1]["request_hash"] == request_hash(HAIKU, PERSONA_B, task.prompt, 1024)
    assert rows[2]["request_hash"] == request_hash(SONNET, None, "a rejected request", 64)
    for row in rows[:2]:
        assert row["input_tokens"] > 0 and row["output_tokens"] > 0
        assert row["cost_usd"] > 0 and row["latency_seconds"] > 0
        assert row["error_class"] is None and row["error"] is None
    assert rows[2]["response_text"] is None and rows[2]["error_class"] == "fatal"
    assert "400" in rows[2]["error"]


# -- replay ---------------------------------------------------------------------------


def test_job_interrupted_after_two_calls_pays_only_for_the_third(sample_bbh, db_path, fake_api):
    """echo-lexical with disagreeing personas is three calls; the third fails the attempt."""
    enqueue(db_path, sample_bbh, "echo-lexical", fake=fake_api)
    fake_api.script([reply("Reasoning.\nAnswer: A"), reply("Hunch.\nAnswer: B"),
                     {"status": 400}])       # the sonnet call: rejected, fatal for the job
    first = run_cli("work", "--quiet", db=db_path, fake=fake_api)
    assert first.returncode == 3 and "1 error" in first.stdout   # ran out, with a hole
    assert fake_api.stats()["successes"] == 2
    assert read(db_path, "SELECT count(*) AS n FROM results")[0]["n"] == 0

    run_cli("retry", db=db_path, check=True)
    fake_api.reset_stats()
    run_cli("work", "--quiet", db=db_path, fake=fake_api, check=True)
    stats = fake_api.stats()
    assert stats["successes"] == 1 and stats["successes_by_model"] == {SONNET: 1}
    (result,) = read(db_path, "SELECT * FROM results")
    assert result["sub_calls"] == 3
    calls = read(db_path, "SELECT * FROM calls WHERE error_class IS NULL ORDER BY call_id")
    assert len(calls) == 3 and result["output"] == calls[2]["response_text"]
    assert result["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in calls))
    assert result["input_tokens"] == sum(c["input_tokens"] for c in calls)


KILLER_ARM = '''
import os
import signal
from pathlib import Path


def three_then_crash(task, client):
    """Three calls; on the first attempt the process dies (SIGKILL) after the second."""
    a = client.call("haiku", task.prompt, system="first")
    b = client.call("haiku", task.prompt, system="second")
    marker = Path(os.environ["CRASH_MARKER"])
    if not marker.exists():
        marker.write_text("crashed")
        os.kill(os.getpid(), signal.SIGKILL)
    return client.call("sonnet", task.prompt + "\\n" + a + "\\n" + b)


ARMS = {"three-then-crash": three_then_crash}
'''


# Two processes and a lease waited out (10 s): the journal's replay is in the fast suite
# (unit/test_queue.py::test_the_call_journal_replays_successful_calls), and so is a worker
# SIGKILLed mid-sweep (e2e/test_crash.py); the two together here, in `make test-slow`.
@pytest.mark.slow
def test_replay_after_the_worker_process_is_killed(tmp_path, sample_bbh, db_path, fake_api,
                                                   monkeypatch):
    (tmp_path / "crash_arms.py").write_text(textwrap.dedent(KILLER_ARM))
    monkeypatch.syspath_prepend(str(tmp_path))      # for the in-process enqueue
    monkeypatch.delitem(sys.modules, "crash_arms", raising=False)
    env = cli_env(fake_api, PYTHONPATH=str(tmp_path), CRASH_MARKER=str(tmp_path / "marker"))
    enqueue(db_path, sample_bbh, "three-then-crash", "--arms-module", "crash_arms", env=env)
    args = ["work", "--quiet", "--arms-module", "crash_arms", "--lease-seconds", "1"]
    killed = run_cli(*args, db=db_path, env=env, process=True)   # the arm SIGKILLs it
    assert killed.returncode == -9
    assert fake_api.stats()["successes"] == 2
    assert read(db_path, "SELECT state, attempts FROM jobs") == [{"state": "running",
                                                                  "attempts": 1}]
    fake_api.reset_stats()
    run_cli(*args, db=db_path, env=env, check=True,      # waits out the dead worker's lease
            process=True)
    assert fake_api.stats()["successes_by_model"] == {SONNET: 1}
    (result,) = read(db_path, "SELECT r.sub_calls, j.attempts FROM results AS r"
                              " JOIN jobs AS j USING (job_id)")
    assert result == {"sub_calls": 3, "attempts": 2}


# -- the API key ------------------------------------------------------------------------


def test_missing_api_key_fails_before_any_claim(sample_bbh, db_path, fake_api):
    enqueue(db_path, sample_bbh, "haiku-only", fake=fake_api, n=3)
    env = cli_env(None, ANTHROPIC_BASE_URL=fake_api.url)      # no ANTHROPIC_API_KEY
    done = run_cli("work", "--quiet", db=db_path, env=env)
    assert done.returncode != 0
    assert done.stderr.count("\n") == 1 and "ANTHROPIC_API_KEY is not set" in done.stderr
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert read(db_path, "SELECT DISTINCT state, attempts FROM jobs") == [
        {"state": "pending", "attempts": 0}]
    assert fake_api.stats()["requests"] == 0
