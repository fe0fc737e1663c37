"""The lease is checked once more as a request leaves the worker (issue 23 item 1).

A worker stopped after its last lease check but before its request went out would send
it on waking, for a job another worker took meanwhile. The SDK's HTTP client runs the
lease check from its request hook, so no request leaves on a lost lease. The real SDK
over real HTTP to the fake on 127.0.0.1.
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from sweepq.backends import AnthropicBackend
from sweepq.bbh import load_tasks
from sweepq.leases import LeaseLost
from sweepq.models import DEFAULT_MODELS, JobClient
from sweepq.queue import Queue, Sweep


def served(fake_api) -> int:
    with urllib.request.urlopen(f"{fake_api.url}/stats", timeout=10) as reply:
        return json.load(reply)["successes"]


def test_a_lease_lost_between_the_check_and_the_send_sends_nothing(db_path, fake_api,
                                                                   sample_bbh, monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test-key")
    monkeypatch.setenv("ANTHROPIC_BASE_URL", fake_api.url)
    queue = Queue.open(str(db_path))
    task = load_tasks(["web_of_lies"], 1, 0, str(sample_bbh))[0]
    sweep = Sweep(name="s", arms=["x"], models=dict(DEFAULT_MODELS))
    queue.enqueue(sweep, [(task.task_id, task.payload())])
    job = queue.claim("s", "w")
    checks = []

    def lease() -> None:      # held at the check before the call, lost by the time it leaves
        checks.append("check")
        if len(checks) > 1:
            raise LeaseLost("taken back while this worker was stopped")

    client = JobClient(queue, job, AnthropicBackend(timeout=10), sweep.models, lease=lease)
    with pytest.raises(LeaseLost):
        client.call("haiku", task.prompt, max_tokens=8)
    assert len(checks) == 2                  # the pre-call check, then the request hook
    assert served(fake_api) == 0             # nothing was sent, nothing paid
    assert queue.journal(job.job_id) == []   # and nothing journaled
    queue.close()
