"""`python -m sweepq.demo --vendors`: the mixed-vendor sweep a user can try offline. Run as
a process in a scratch folder, it must reach every vendor through its own fake (the
sweep's export holds every arm, each task's judge answered by that vendor) and print
the summary with a row per arm."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import cli_env

from sweepq import demo
from sweepq.queue import Queue


# Three processes and two SDK imports each (14 s, the fast suite's second longest): every
# vendor answering through its own SDK is in the fast suite (unit/test_vendor_sweep.py);
# the demo's own wiring is checked here, in `make test-slow`.
@pytest.mark.slow
def test_the_vendor_demo_runs_every_arm_through_its_fake_and_prints_the_summary(tmp_path):
    closed = "http://127.0.0.1:9"   # nothing listens: the demo must point at its own fakes
    env = cli_env(OPENAI_API_KEY="sk-must-not-be-used", OPENAI_BASE_URL=f"{closed}/v1",
                  GEMINI_BASE_URL=closed)
    done = subprocess.run([sys.executable, "-m", "sweepq.demo", "--vendors", "--sample"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    out = done.stdout
    assert "fake-api --port 0 --vendor openai" in out and "--vendor gemini" in out
    summary = out[out.index("$ sweepq summary"):out.index("$ sweepq export")]
    arms = demo.VENDOR_ARMS.split(",")
    rows = [line.split()[0] for line in summary.splitlines()
            if line.strip() and line.split()[0] in arms]
    assert rows == arms
    lines = (tmp_path / demo.VENDOR_RESULTS).read_text().splitlines()
    results = [json.loads(line) for line in lines]
    done_arms = {r["arm"] for r in results if "arm" in r}
    assert done_arms == set(arms)
    per_arm = {arm: sum(r.get("arm") == arm for r in results) for arm in arms}
    assert len(set(per_arm.values())) == 1 and per_arm["echo-judge-openai"] == 30
    queue = Queue.open_read_only(tmp_path / demo.VENDOR_DB)
    try:
        judged = {r["model"]: r["n"] for r in queue.read(
            "SELECT model, count(*) AS n FROM calls WHERE model LIKE '%:%' GROUP BY model")}
    finally:
        queue.close()
    assert judged == {"openai:gpt-5.4-mini": 30, "gemini:gemini-2.5-flash": 30}
