"""A HumanEval sweep run by Message Batches (`work --backend batch`, the real SDK over HTTP
to the fake on 127.0.0.1) gives the verdicts a live run gives: the code of every reply is
run in the sandbox when its job completes, whichever backend bought the reply."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from benchmark_helpers import answer_key
from conftest import run_cli

from sweepq.fake import FakeAPI, FakeConfig
from sweepq.sample import write_humaneval

ARMS = "haiku-only,echo-ast"     # one call; two cheap calls (a third when they differ)
# Passes only where the sandbox runs it: a fresh directory of its own, holding nothing but
# the program.
IN_SANDBOX = ("def add(a, b):\n    import os\n    assert os.getcwd() != {cwd!r}\n"
              "    assert [n for n in os.listdir('.') if not n.endswith('.py')] == []\n"
              "    return a + b\n")


def _sweep(tmp_path: Path, name: str, data: Path) -> tuple[Path, dict[str, str]]:
    db = tmp_path / f"{name}.db"
    run_cli("enqueue", "--sweep", "h", "--benchmark", "humaneval", "--dataset", str(data),
            "--n-per-subtask", "3", "--option", "timeout=2", "--arms", ARMS, db=db,
            check=True)
    key = answer_key(db, "h", **{"HumanEval/0": IN_SANDBOX.format(cwd=str(Path.cwd())),
                                 "HumanEval/1": "    return n % 2 == 1\n",
                                 "HumanEval/2": "    return 1 / 0\n"})
    return db, key


def _verdicts(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute(
            "SELECT j.task_id, j.arm, r.passed, r.detail, r.sub_calls FROM results AS r"
            " JOIN jobs AS j USING (job_id) ORDER BY j.position").fetchall()


def test_a_humaneval_sweep_by_batch_equals_a_live_run(tmp_path: Path) -> None:
    data = write_humaneval(tmp_path / "he.jsonl")
    live_db, key = _sweep(tmp_path, "live", data)
    batch_db, batch_key = _sweep(tmp_path, "batch", data)
    assert key == batch_key
    with FakeAPI(FakeConfig(answer_key=key)) as fake:
        run_cli("work", "--quiet", "-c", "4", db=live_db, fake=fake, check=True)
        assert fake.stats()["batch_requests"] == 0
    with FakeAPI(FakeConfig(answer_key=key)) as fake:
        run_cli("work", "--quiet", "--backend", "batch", db=batch_db, fake=fake, check=True)
        assert fake.stats()["batch_requests"] > 0
        assert fake.stats()["successes"] == 0           # not one live call: all by batch
    live, batch = _verdicts(live_db), _verdicts(batch_db)
    assert batch == live and len(batch) == 6
    details = {task: detail for task, arm, _, detail, _ in batch if arm == "haiku-only"}
    assert details["HumanEval/0"] == "passed"             # its checks hold in the sandbox only
    assert details["HumanEval/1"] == "AssertionError"    # the tests ran and failed
    assert details["HumanEval/2"].startswith("ZeroDivisionError")
    with sqlite3.connect(batch_db) as conn:
        assert conn.execute("SELECT count(*) FROM calls").fetchone()[0] == \
            sum(sub_calls for *_, sub_calls in batch)    # each call journaled, bought once
    summary = json.loads(run_cli("summary", "--json", db=batch_db, check=True).stdout)
    assert summary["batch_price"]["at_batch_price"] == summary["batch_price"]["calls"]
