"""Judges on OpenAI's reasoning models, and the other vendors' edges of issue 23.

Reasoning tokens count against the output budget: the fake reports them where OpenAI
documents them and can spend the whole budget on them; the judge's default budget of
16 is raised for a reasoning model; an empty reply is its own failure, never a NO.
An unreachable vendor's message names that vendor's variable; a vendor that ran out
for the day ends `work` with 75 when nothing else is left, as docs/vendors.md says.
"""

from __future__ import annotations

import json
import socket
import urllib.request
from pathlib import Path

import pytest
from conftest import cli_env, run_cli

from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.gemini import FakeGemini
from sweepq.fake.openai import FakeOpenAI
from sweepq.queue import Queue
from sweepq.vendors import openai as openai_vendor

JUDGE_ARM = "echo-judge[judge=judge]"


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, json.dumps(body).encode(), method="POST", headers={
        "content-type": "application/json", "authorization": "Bearer sk-test"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, **json.loads(exc.read())}


def test_the_fake_reports_reasoning_tokens_as_openai_documents_them():
    with FakeOpenAI(reasoning_tokens=40) as fake:
        chat = post(fake.url + "/v1/chat/completions", {
            "model": "gpt-5.4-mini", "max_completion_tokens": 1000,
            "messages": [{"role": "user", "content": "Say YES"}]})
        usage = chat["usage"]
        assert usage["completion_tokens_details"]["reasoning_tokens"] == 40
        assert usage["completion_tokens"] > 40 and chat["choices"][0]["message"]["content"]
        spent = post(fake.url + "/v1/chat/completions", {
            "model": "gpt-5.4-mini", "max_completion_tokens": 16,
            "messages": [{"role": "user", "content": "Say YES"}]})
        assert spent["choices"][0]["message"]["content"] == ""
        assert spent["choices"][0]["finish_reason"] == "length"
        assert spent["usage"]["completion_tokens_details"]["reasoning_tokens"] == 16
        response = post(fake.url + "/v1/responses", {"model": "gpt-5.4-mini", "input": "hi",
                                                      "max_output_tokens": 16})
        assert response["status"] == "incomplete"
        assert response["incomplete_details"] == {"reason": "max_output_tokens"}
        assert [item["type"] for item in response["output"]] == ["reasoning"]
        assert response["usage"]["output_tokens_details"]["reasoning_tokens"] == 16
        refused = post(fake.url + "/v1/responses", {"model": "gpt-5.4-mini", "input": "hi",
                                                     "max_output_tokens": 8})
        assert refused["status"] == 400 and "max_output_tokens" in refused["error"]["message"]


def test_a_reasoning_model_gets_a_budget_that_leaves_room_for_the_reply():
    assert openai_vendor.output_budget("gpt-5.4-mini", 16) == \
        openai_vendor.REASONING_MIN_TOKENS
    assert openai_vendor.output_budget("o4-mini", 16) == openai_vendor.REASONING_MIN_TOKENS
    assert openai_vendor.output_budget("gpt-4.1-mini", 16) == 16
    assert openai_vendor.output_budget("gpt-5", 16, local=True) == 16


def _judge_sweep(db: Path, bbh: Path, judge: str) -> None:
    run_cli("enqueue", "--sweep", "s", "--subtasks", "web_of_lies", "--n-per-subtask", "2",
            "--arms", JUDGE_ARM, "--dataset", str(bbh), "--model", f"judge={judge}",
            db=db, check=True)


@pytest.mark.parametrize("api", ["openai", "openai-responses"])
def test_a_reasoning_judge_answers_with_the_default_budget(db_path, sample_bbh, fake_api, api):
    with FakeOpenAI(reasoning_tokens=500) as fake:
        _judge_sweep(db_path, sample_bbh, f"{api}:gpt-5.4-mini@{fake.url}/v1")
        done = run_cli("work", db=db_path, env=cli_env(fake_api, OPENAI_API_KEY="sk-test"))
        assert done.returncode == 0, done.stderr
        assert fake.budgets == [openai_vendor.REASONING_MIN_TOKENS] * 2
    queue = Queue.open(str(db_path))
    try:
        verdicts = queue.read("SELECT response_text FROM calls WHERE model LIKE ?",
                              (f"{api}:gpt-5.4-mini%",))
        assert len(verdicts) == 2
        assert all(v["response_text"].startswith(("YES", "NO")) for v in verdicts)
    finally:
        queue.close()


def test_a_reply_reasoning_left_empty_is_a_failure_not_a_no(db_path, sample_bbh, fake_api):
    """Reasoning that outruns even the raised budget: the job fails saying so; the judge
    is not read as a NO (which would have escalated to sonnet as if it disagreed)."""
    with FakeOpenAI(reasoning_tokens=10**6) as fake:
        _judge_sweep(db_path, sample_bbh, f"openai:gpt-5.4-mini@{fake.url}/v1")
        done = run_cli("work", "--max-attempts", "1", db=db_path,
                       env=cli_env(fake_api, OPENAI_API_KEY="sk-test"))
    assert done.returncode == 3, done.stderr
    queue = Queue.open(str(db_path))
    try:
        jobs = queue.read("SELECT state, last_error FROM jobs")
        assert [j["state"] for j in jobs] == ["error", "error"]
        assert all("spent its whole output budget on reasoning" in j["last_error"]
                   for j in jobs)
        sonnet = queue.read("SELECT count(*) AS n FROM calls WHERE model LIKE '%sonnet%'")
        assert sonnet[0]["n"] == 0                 # no escalation: not taken as a NO
    finally:
        queue.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_vendor_names_its_own_variable(db_path, sample_bbh, fake_api):
    _judge_sweep(db_path, sample_bbh, f"openai:gpt-5.4-mini@http://127.0.0.1:{free_port()}/v1")
    done = run_cli("work", db=db_path, env=cli_env(fake_api, OPENAI_API_KEY="sk-test"))
    assert done.returncode == 2, done.stderr
    assert "OPENAI_BASE_URL" in done.stderr and "ANTHROPIC_BASE_URL" not in done.stderr


def test_a_gemini_day_quota_with_only_its_arm_left_exits_75_without_max_wait(
        db_path, sample_bbh):
    with FakeAPI(FakeConfig()) as claude, FakeGemini(quota_after=1) as gemini:
        run_cli("enqueue", "--sweep", "s", "--subtasks", "web_of_lies", "--n-per-subtask",
                "3", "--arms", "haiku-only,echo-judge-gemini-flash", "--dataset",
                str(sample_bbh), "--model",
                f"gemini-flash=gemini:gemini-2.5-flash@{gemini.url}", db=db_path, check=True)
        done = run_cli("work", db=db_path, env=cli_env(claude, GEMINI_API_KEY="g-test"),
                       timeout=60)
    assert done.returncode == 75, done.stderr
    assert "echo-judge-gemini-flash" in done.stderr and "--max-wait" in done.stderr
    queue = Queue.open(str(db_path))
    try:
        states = queue.read("SELECT arm, state, count(*) AS n FROM jobs GROUP BY arm, state")
        assert {"arm": "haiku-only", "state": "done", "n": 3} in states
    finally:
        queue.close()
