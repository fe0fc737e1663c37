"""SIGKILL a real `sweepq work --backend batch` at five moments, then restart: the export
equals a live run's and the fake was sent exactly the calls needed (nothing twice).

The moment is one of the runner's named checkpoints, where batch_killer.py (a test-only
subclass of the runner) kills its own process, so the kill lands exactly there: before
submit, right after submit (id not yet recorded), while polling, half-way through results,
after results before the next round.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, canonical, cli_env, run_cli

from sweepq.bbh import load_tasks
from sweepq.fake import FakeAPI, FakeConfig

# Five real processes killed and restarted (~15 s each): `make test-slow`, run by .ci/run.
pytestmark = pytest.mark.slow

SUBTASKS = "boolean_expressions,web_of_lies"
ARMS = "haiku-only,sonnet-only,echo-lexical,echo-judge,echo-oracle"
N = 3
KILLER = Path(__file__).with_name("batch_killer.py")


def _enqueue(db: Path, dataset: Path) -> None:
    run_cli("enqueue", "--sweep", "k", "--subtasks", SUBTASKS, "--n-per-subtask", str(N),
            "--arms", ARMS, "--dataset", str(dataset), "--max-attempts", "10", db=db,
            check=True)


def _fake(dataset: Path, **kw) -> FakeAPI:
    tasks = load_tasks(SUBTASKS.split(","), N, 0, str(dataset))
    return FakeAPI(FakeConfig(answer_key={t.prompt: t.answer for t in tasks},
                              accuracy={"haiku": 0.6, "sonnet": 0.9}, **kw))


@pytest.mark.parametrize("moment", ["prepared", "submitted", "polling", "ingesting:2",
                                    "ingested"])
def test_sigkill_then_restart_equals_live(tmp_path, sample_bbh, moment):
    live_db, batch_db = tmp_path / "live.db", tmp_path / "batch.db"
    for db in (live_db, batch_db):
        _enqueue(db, sample_bbh)
    with _fake(sample_bbh) as fake:
        assert run_cli("work", "--quiet", db=live_db, fake=fake).returncode == 0
    # A kill while a batch processes needs one that takes a while (its polls: 1 s, 2 s);
    # at the other moments that time is only waiting, each round of the chain.
    processing = 1.5 if moment in ("submitted", "polling") else 0.0
    with _fake(sample_bbh, batch_seconds=processing) as fake:
        work = ("work", "--quiet", "--backend", "batch", "--lease-seconds", "2")
        killed = subprocess.run([sys.executable, str(KILLER), moment, "5", "--db",
                                 str(batch_db), *work], capture_output=True, text=True,
                                timeout=120, env=cli_env(fake), cwd=ROOT, check=False)
        assert killed.returncode == -9, killed.stderr
        done = run_cli(*work, db=batch_db, fake=fake, timeout=300)
        assert done.returncode == 0, done.stderr
        submitted = fake.stats()["batch_requests"]
    assert canonical(batch_db) == canonical(live_db)
    with sqlite3.connect(batch_db) as conn:
        needed = conn.execute("SELECT count(*) FROM calls").fetchone()[0]
        states = dict(conn.execute("SELECT state, count(*) FROM batches GROUP BY state"))
    assert submitted == needed, (submitted, needed, states)
    assert set(states) <= {"ingested", "abandoned"}
