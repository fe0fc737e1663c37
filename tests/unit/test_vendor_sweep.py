"""A mixed-vendor sweep end to end, offline: real `sweepq work` processes on the real
`anthropic`, `openai` and `google-genai` SDKs against the three loopback fakes, and
pauses scoped to the provider that ran out."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import cli_env, run_cli

from sweepq.failures.gemini import midnight_pacific
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.fake.gemini import FakeGemini
from sweepq.fake.openai import FakeOpenAI
from sweepq.queue import Queue

OPENAI_ARM = "echo-judge[judge=judge]"
GEMINI_ARM = "echo-judge-gemini-flash"
ARMS = f"haiku-only,sonnet-only,echo-judge,{OPENAI_ARM},{GEMINI_ARM}"
N = 4   # per subtask, two subtasks: 8 jobs an arm


@pytest.fixture
def fakes():
    with FakeAPI(FakeConfig()) as claude, FakeOpenAI() as openai, FakeGemini() as gemini:
        yield claude, openai, gemini


def sweep(db: Path, bbh: Path, fakes) -> dict[str, str]:
    claude, openai, gemini = fakes
    run_cli("enqueue", "--sweep", "mixed", "--subtasks", "boolean_expressions,web_of_lies",
            "--n-per-subtask", str(N), "--arms", ARMS, "--dataset", str(bbh),
            "--model", f"judge=openai:gpt-5.4-mini@{openai.url}/v1",
            "--model", f"gemini-flash=gemini:gemini-2.5-flash@{gemini.url}",
            db=db, check=True)
    return cli_env(claude, OPENAI_API_KEY="sk-openai-test", GEMINI_API_KEY="gemini-test")


def by_arm(db: Path) -> dict[tuple[str, str], int]:
    queue = Queue.open(str(db))
    try:
        rows = queue.read("SELECT arm, state, count(*) AS n FROM jobs GROUP BY arm, state")
        return {(r["arm"], r["state"]): r["n"] for r in rows}
    finally:
        queue.close()


def test_every_vendor_answers_through_its_own_sdk(db_path, sample_bbh, fakes):
    env = sweep(db_path, sample_bbh, fakes)
    done = run_cli("work", "-c", "4", db=db_path, env=env)
    assert done.returncode == 0, done.stderr
    assert set(by_arm(db_path)) == {(arm, "done") for arm in ARMS.split(",")}
    _, openai, gemini = fakes
    assert openai.stats()["successes_by_model"] == {"gpt-5.4-mini": 2 * N}
    assert gemini.stats()["successes_by_model"] == {"gemini-2.5-flash": 2 * N}
    export = run_cli("export", "--sweep", "mixed", "-", db=db_path, check=True).stdout
    assert f'"arm": "{GEMINI_ARM}"' in export or f'"arm":"{GEMINI_ARM}"' in export


def test_openai_quota_running_out_pauses_only_its_arm(db_path, sample_bbh, fakes):
    env = sweep(db_path, sample_bbh, fakes)
    fakes[1].quota_after = 3
    done = run_cli("work", "-c", "2", db=db_path, env=env)
    assert done.returncode == 75, done.stderr
    assert "openai" in done.stderr and OPENAI_ARM in done.stderr
    states = by_arm(db_path)
    for arm in ARMS.split(","):
        if arm != OPENAI_ARM:
            assert states == states | {(arm, "done"): 2 * N}, states
    assert states[(OPENAI_ARM, "done")] == 3 and states[(OPENAI_ARM, "pending")] == 2 * N - 3
    status = run_cli("status", db=db_path, env=env, check=True).stdout
    assert f"openai (arms {OPENAI_ARM}) paused (exhausted) until `sweepq resume`" in status
    page = db_path.parent / "page.html"
    run_cli("report", "--sweep", "mixed", "-o", str(page), db=db_path, env=env, check=True)
    assert "Paused</strong> openai, arms echo-judge[judge=judge]" in page.read_text()


def test_a_gemini_daily_quota_pauses_its_arm_until_midnight_pacific(db_path, sample_bbh,
                                                                     fakes):
    env = sweep(db_path, sample_bbh, fakes)
    fakes[2].quota_after = 2
    done = run_cli("work", "-c", "2", "--max-wait", "10m", db=db_path, env=env)
    assert done.returncode == 75, done.stderr
    assert GEMINI_ARM in done.stderr and "longer than --max-wait" in done.stderr
    queue = Queue.open(str(db_path))
    try:
        pause = queue.open_pauses()
        assert [(p.scope, p.reason) for p in pause] == [("gemini", "exhausted")]
        created = queue.read("SELECT created_at FROM pauses")[0]["created_at"]
        assert pause[0].resume_at == pytest.approx(midnight_pacific(created))
    finally:
        queue.close()
    assert by_arm(db_path)[(GEMINI_ARM, "done")] == 2
    assert by_arm(db_path)[("echo-judge", "done")] == 2 * N
