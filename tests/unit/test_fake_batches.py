"""The fake's Message Batches API, through the real SDK's batch methods and types."""

from __future__ import annotations

import anthropic
import pytest
from conftest import sdk

from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.inprocess import InProcessBackend


def _request(custom_id: str, prompt: str = "Say hi", model: str = "claude-haiku-4-5") -> dict:
    return {"custom_id": custom_id, "params": {
        "model": model, "max_tokens": 64, "messages": [{"role": "user", "content": prompt}]}}


def test_create_retrieve_results_in_any_order_same_text_as_live():
    fake = InProcessBackend(FakeConfig(seed=3))
    client = fake.client
    requests = [_request(f"r-{i}", f"prompt {i}") for i in range(20)]
    batch = client.messages.batches.create(requests=requests)
    assert batch.id.startswith("msgbatch_") and batch.type == "message_batch"
    got = client.messages.batches.retrieve(batch.id)
    assert got.processing_status == "ended" and got.request_counts.succeeded == 20
    results = list(client.messages.batches.results(batch.id))
    assert sorted(r.custom_id for r in results) == sorted(r["custom_id"] for r in requests)
    assert [r.custom_id for r in results] != [r["custom_id"] for r in requests]
    live = fake.send("claude-haiku-4-5", None, "prompt 7", 64).text
    by_id = {r.custom_id: r.result for r in results}
    assert by_id["r-7"].type == "succeeded"
    assert by_id["r-7"].message.content[0].text == live
    assert fake.stats()["batch_requests"] == 20 and fake.stats()["batches"] == 1


def test_processing_delay_cancel_and_list():
    fake = InProcessBackend(FakeConfig(batch_seconds=3600))
    client = fake.client
    first = client.messages.batches.create(requests=[_request("a")])
    second = client.messages.batches.create(requests=[_request("b"), _request("c")])
    assert client.messages.batches.retrieve(first.id).processing_status == "in_progress"
    assert client.messages.batches.retrieve(first.id).request_counts.processing == 1
    assert client.messages.batches.cancel(first.id).processing_status == "canceling"
    ended = client.messages.batches.retrieve(first.id)
    assert ended.processing_status == "ended" and ended.request_counts.canceled == 1
    assert [r.result.type for r in client.messages.batches.results(first.id)] == ["canceled"]
    listed = [b.id for b in client.messages.batches.list(limit=1)]   # auto-paginates
    assert listed == [second.id, first.id]


def test_per_request_faults_and_refused_params():
    fake = InProcessBackend(FakeConfig(batch_errored=0.3, batch_expired=0.3))
    client = fake.client
    batch = client.messages.batches.create(requests=[_request(f"r{i}") for i in range(200)])
    counts = client.messages.batches.retrieve(batch.id).request_counts
    assert counts.errored > 20 and counts.expired > 20 and counts.succeeded > 20
    client = InProcessBackend().client          # no faults: the refusal decides
    batch = client.messages.batches.create(requests=[_request("bad", model="nope")])
    results = {r.custom_id: r.result for r in client.messages.batches.results(batch.id)}
    assert results["bad"].type == "errored"
    assert results["bad"].error.error.type == "not_found_error"


@pytest.mark.parametrize("custom_id", ["", "x" * 65, "has space", "dot.ted"])
def test_custom_id_rules(custom_id):
    client = InProcessBackend().client
    with pytest.raises(anthropic.BadRequestError):
        client.messages.batches.create(requests=[_request(custom_id)])


def test_over_http_results_url_points_back():
    with FakeAPI(FakeConfig()) as fake:
        client = sdk(api_key="sk-ant-x", base_url=fake.url, max_retries=0)
        batch = client.messages.batches.create(requests=[_request("one")])
        assert client.messages.batches.retrieve(batch.id).results_url.startswith(fake.url)
        assert [r.custom_id for r in client.messages.batches.results(batch.id)] == ["one"]
        assert fake.stats()["batch_results"] == {"succeeded": 1}
