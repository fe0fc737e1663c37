"""`sweepq fake-api --vendor openai` as a process honours --latency-ms (a success takes
that long) and --exhaust-after (then OpenAI's 429 `insufficient_quota` for ever): what
`bench/bench_vendors.py` needs from a vendor's fake run as its own process."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request

from conftest import cli_env


def _chat(url: str) -> tuple[int, dict, float]:
    body = json.dumps({"model": "gpt-5.4-mini",
                       "messages": [{"role": "user", "content": "Say YES or NO."}]}).encode()
    req = urllib.request.Request(f"{url}/v1/chat/completions", data=body, method="POST",
                                 headers={"content-type": "application/json",
                                          "authorization": "Bearer sk-test"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), time.perf_counter() - started
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read()), time.perf_counter() - started


def test_openai_fake_process_applies_latency_then_runs_out_of_quota():
    proc = subprocess.Popen([sys.executable, "-m", "sweepq", "fake-api", "--vendor", "openai",
                             "--port", "0", "--latency-ms", "150", "--exhaust-after", "2"],
                            stdout=subprocess.PIPE, text=True, env=cli_env())
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split()[-1]
        first, second, third = _chat(url), _chat(url), _chat(url)
        assert [first[0], second[0], third[0]] == [200, 200, 429]
        assert first[2] >= 0.15 and second[2] >= 0.15
        assert third[1]["error"]["code"] == "insufficient_quota"
        assert third[2] < 0.15    # exhaustion is refused at once, as the real API does
    finally:
        proc.terminate()
        proc.wait(timeout=10)
