"""OpenAI's Responses API beside Chat Completions: the model map's `openai-responses:MODEL`,
the backend on the real `openai` SDK (`client.responses.create`) against the loopback
fake's `/v1/responses`, and its failures classified by the same classifier.

The response shape (`output[].content[]` of type `output_text`, `usage.input_tokens`,
`output_tokens`, `input_tokens_details.cached_tokens`, `status: incomplete` with
`incomplete_details.reason: max_output_tokens`) is OpenAI's own SDKs' (the `openai`
package's `types/responses/response.py`, `response_usage.py`;
rubydoc.info/github/openai/openai-ruby/OpenAI/Models/Responses/Response). The error
envelope and codes are those of tests/unit/test_vendor_openai.py (same sources).
"""

from __future__ import annotations

import pytest
from conftest import cli_env, run_cli

from sweepq import arms
from sweepq.failures import CallFailed
from sweepq.failures.openai import classify_openai
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.openai import QUOTA_MESSAGE, FakeOpenAI, error, rate_limited
from sweepq.fake.vendor import Scripted
from sweepq.vendors import target
from sweepq.vendors.openai import OpenAIBackend
from sweepq.vendors.router import RouterBackend

NOW = 1_800_000_000.0
KEY = "sk-test-openai"


@pytest.fixture
def fake(monkeypatch):
    with FakeOpenAI(api_key=KEY) as f:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        yield f


def responses(fake: FakeOpenAI) -> OpenAIBackend:
    return OpenAIBackend(fake.url + "/v1", api="responses")


def test_the_map_spells_the_responses_api_and_it_shares_openais_scope():
    t = target.parse("openai-responses:gpt-5.4-mini@http://127.0.0.1:9/v1")
    assert t == target.Target("openai", "gpt-5.4-mini", "http://127.0.0.1:9/v1", "responses")
    assert t.scope == "openai"
    assert target.parse("openai:gpt-5.4-mini").api == "chat"


def test_the_real_sdk_calls_v1_responses_and_reads_output_text_and_usage(fake):
    b = responses(fake)
    reply = b.send("gpt-5.4-mini", "be brief", "What is 2+2? Options: (A) 4 (B) 5", 256)
    assert reply.text and reply.stop_reason == "end_turn"
    assert reply.usage.input_tokens > 0 and reply.usage.output_tokens > 0
    assert reply.headers.get("x-request-id", "").startswith("req_")
    same = "Reasoning.\nAnswer: (A)"
    verdict = b.send("gpt-5.4-mini", arms.JUDGE_SYSTEM,
                     arms.JUDGE_PROMPT.format(question="q", a=same, b=same), 64)
    assert verdict.text.startswith(arms.JUDGE_AGREE)   # instructions + input reached it
    assert fake.apis == {"responses": 2}


def test_an_answer_cut_at_max_output_tokens_stops_as_max_tokens(fake):
    """A model that does not reason (a reasoning one gets room, see
    test_reasoning_judges); below the Responses API's minimum of 16, 16 is sent."""
    reply = responses(fake).send("gpt-4.1-mini", None, "Explain it at length " * 20, 1)
    assert reply.stop_reason == "max_tokens" and reply.usage.output_tokens == 16


@pytest.mark.parametrize("scripted, kind, scope", [
    (error(429, "insufficient_quota", QUOTA_MESSAGE), "exhausted", "job"),
    (error(429, None, QUOTA_MESSAGE, etype="insufficient_quota"), "exhausted", "job"),
    (rate_limited(reset="6m0s"), "rate_limited", "job"),
    (error(503, None, "The server is overloaded", etype="server_error"), "transient", "job"),
    (error(400, "context_length_exceeded", "too long"), "fatal", "job"),
    (error(401, "invalid_api_key", "Incorrect API key provided."), "fatal", "run"),
    (error(404, "model_not_found", "The model `gpt-9` does not exist"), "fatal", "run"),
])
def test_its_failures_are_classified_like_chat_completions(fake, scripted, kind, scope):
    fake.script([scripted])
    with pytest.raises(CallFailed) as info:
        responses(fake).send("gpt-5.4-mini", None, "hello", 16)
    assert (info.value.failure.kind, info.value.failure.reach) == (kind, scope)
    assert fake.apis == {"responses": 1}


def failed(code: str) -> Scripted:
    """A 200 whose response object says the generation failed (`status: failed`, `error`
    {code, message}: the ResponseError of the SDKs' types)."""
    return Scripted(200, {"id": "resp_x", "object": "response", "created_at": 0,
                          "status": "failed", "model": "gpt-5.4-mini", "output": [],
                          "error": {"code": code, "message": "it failed"},
                          "incomplete_details": None, "usage": None})


@pytest.mark.parametrize("code, kind", [("server_error", "transient"),
                                        ("rate_limit_exceeded", "rate_limited"),
                                        ("invalid_prompt", "fatal")])
def test_a_failed_response_is_a_failure_never_an_answer(fake, code, kind):
    fake.script([failed(code)])
    with pytest.raises(CallFailed) as info:
        responses(fake).send("gpt-5.4-mini", None, "hello", 16)
    assert info.value.failure.kind == kind and code in info.value.failure.message
    assert info.value.failure.reach == "job"


def test_a_rate_limit_on_responses_waits_for_its_reset_header(fake):
    fake.script([rate_limited(reset="6m0s")])
    with pytest.raises(CallFailed) as info:
        responses(fake).send("gpt-5.4-mini", None, "hello", 16)
    assert classify_openai(info.value.__cause__, now=NOW).resume_at == pytest.approx(NOW + 360)


def test_the_router_sends_openai_responses_ids_to_v1_responses(fake):
    router = RouterBackend(claude=None)
    url = f"{fake.url}/v1"
    assert router.send(f"openai-responses:gpt-5.4-mini@{url}", None, "hi", 32).text
    assert router.send(f"openai:gpt-5.4-mini@{url}", None, "hi", 32).text
    assert fake.apis == {"responses": 1, "chat": 1}
    fake.quota_after = 0
    with pytest.raises(CallFailed) as info:
        router.send(f"openai-responses:gpt-5.4-mini@{url}", None, "hi", 32)
    assert (info.value.failure.kind, info.value.failure.pause_scope) == ("exhausted", "openai")


def test_a_sweep_judged_through_the_responses_api_end_to_end(db_path, sample_bbh):
    """Real `sweepq work` processes, the anthropic and openai SDKs over 127.0.0.1."""
    with FakeAPI(FakeConfig()) as claude, FakeOpenAI(api_key=KEY) as openai:
        run_cli("enqueue", "--sweep", "r", "--subtasks", "boolean_expressions",
                "--n-per-subtask", "3", "--arms", "echo-judge[judge=r]",
                "--dataset", str(sample_bbh),
                "--model", f"r=openai-responses:gpt-5.4-mini@{openai.url}/v1",
                db=db_path, check=True)
        done = run_cli("work", "-c", "2", db=db_path, env=cli_env(claude, OPENAI_API_KEY=KEY))
        assert done.returncode == 0, done.stderr
        assert openai.apis == {"responses": 3}
        assert openai.stats()["successes_by_model"] == {"gpt-5.4-mini": 3}
