"""The model map of a running sweep cannot change under running workers.

Issue 23, defect 6: `sweepq models` mid-run mixed two models in one arm without
`--force` (running workers kept the map they loaded; the refusal looked at committed
results only), and nothing said so.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from conftest import run_cli

from sweepq import db
from sweepq.arms import BUILTIN
from sweepq.bbh import load_tasks
from sweepq.fake.inprocess import InProcessBackend
from sweepq.models import DEFAULT_MODELS
from sweepq.queue import Queue, Sweep
from sweepq.worker import Worker, WorkerConfig

OPUS = "claude-opus-4-6"


def _enqueue(db_path: Path, dataset: Path, n: int = 2) -> None:
    run_cli("enqueue", "--sweep", "m", "--subtasks", "web_of_lies", "--n-per-subtask", str(n),
            "--arms", "haiku-only,sonnet-only", "--dataset", str(dataset), db=db_path,
            check=True)


def _map(db_path: Path) -> dict[str, str]:
    with sqlite3.connect(db_path) as conn:
        return json.loads(conn.execute("SELECT models FROM sweeps").fetchone()[0])


def test_models_refuses_while_a_job_of_an_arm_calling_the_alias_runs(db_path, sample_bbh):
    _enqueue(db_path, sample_bbh)
    q = Queue(db.connect(db_path))
    job = q.claim("m", "host:1:0", 120)            # haiku-only's first job is running
    assert job.arm == "haiku-only"
    other = run_cli("models", "--sweep", "m", f"sonnet={OPUS}", db=db_path)
    assert other.returncode == 0, other.stderr     # sonnet: no arm calling it has started
    refused = run_cli("models", "--sweep", "m", "haiku=claude-haiku-4-5-20251001", db=db_path)
    assert refused.returncode == 1
    assert refused.stderr.count("\n") == 1 and "1 running and 0 done jobs of arm haiku-only" \
        in refused.stderr and "--force" in refused.stderr
    assert _map(db_path)["haiku"] == "claude-haiku-4-5"    # unchanged
    forced = run_cli("models", "--sweep", "m", "--force", "haiku=claude-haiku-4-5-20251001",
                     db=db_path)
    assert forced.returncode == 0 and _map(db_path)["haiku"] == "claude-haiku-4-5-20251001"
    q.close()


def test_workers_take_the_map_per_job_and_summary_flags_an_arm_that_mixes(db_path,
                                                                            sample_bbh):
    tasks = load_tasks(["web_of_lies"], 4, 0, str(sample_bbh))
    q = Queue(db.connect(db_path))
    sweep = Sweep(name="m", arms=["sonnet-only"], models=dict(DEFAULT_MODELS))
    q.enqueue(sweep, [(t.task_id, t.payload()) for t in tasks])
    arms = {"sonnet-only": BUILTIN["sonnet-only"]}
    config = WorkerConfig(concurrency=1, lease_seconds=30)
    worker = Worker(q, sweep, arms, InProcessBackend(), config)
    first = q.claim("m", worker.config.worker_name + ":0", 30)
    worker._run_job(first, first.lease_owner)              # one result from Sonnet
    q.set_models("m", {"sonnet": OPUS}, force=True)       # changed under the running worker
    assert worker.run().exit_code == 0                     # the same Worker, its old Sweep
    models = [json.loads(m) for (m,) in q.rows("SELECT models FROM results ORDER BY"
                                               " completion_seq")]
    assert models == [["claude-sonnet-4-6"], [OPUS], [OPUS], [OPUS]]
    q.close()
    data = json.loads(run_cli("summary", "--json", db=db_path, check=True).stdout)
    assert data["arms"][0]["mixed_models"] == [["claude-sonnet-4-6", OPUS]]
    text = run_cli("summary", db=db_path, check=True).stdout
    assert f"sonnet-only mixes models: results from both claude-sonnet-4-6 and {OPUS}" in text
