"""`sweepq work --backend batch --max-wait` and `sweepq batches cancel` as real processes,
the real SDK over HTTP to the fake on 127.0.0.1: a batch still processing past --max-wait
is left in flight (exit 75) and polled, never sent again, by the next run; a batch
canceled at the API sends its requests out again in the next round."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from conftest import run_cli, sdk

from sweepq.bbh import load_tasks
from sweepq.fake import FakeAPI, FakeConfig

SUBTASKS = "boolean_expressions,web_of_lies"
ARMS = "haiku-only,echo-judge"
N = 2                                   # 4 tasks x 2 arms; round one: 4 + 8 requests
WORK = ("work", "--quiet", "--backend", "batch", "--lease-seconds", "2")


def _setup(db: Path, dataset: Path) -> FakeAPI:
    run_cli("enqueue", "--sweep", "c", "--subtasks", SUBTASKS, "--n-per-subtask", str(N),
            "--arms", ARMS, "--dataset", str(dataset), db=db, check=True)
    tasks = load_tasks(SUBTASKS.split(","), N, 0, str(dataset))
    return FakeAPI(FakeConfig(answer_key={t.prompt: t.answer for t in tasks},
                              batch_seconds=3600))


def _batches(db: Path) -> list[tuple]:
    with sqlite3.connect(db) as conn:
        return conn.execute("SELECT batch_id, state, requests FROM batches"
                            " ORDER BY created_at").fetchall()


def _outcomes(db: Path, batch_id: str) -> dict[str | None, int]:
    with sqlite3.connect(db) as conn:
        return dict(conn.execute(
            "SELECT r.outcome, count(*) FROM batch_requests r JOIN batches b"
            " USING (batch_key) WHERE b.batch_id = ? GROUP BY r.outcome", (batch_id,)))


def test_max_wait_leaves_the_batch_in_flight_and_the_next_run_polls_it(tmp_path, sample_bbh):
    db = tmp_path / "w.db"
    with _setup(db, sample_bbh) as fake:
        first = run_cli(*WORK, "--max-wait", "1s", db=db, fake=fake)
        assert first.returncode == 75, first.stderr        # back before the batch's hour
        assert "--max-wait" in first.stderr
        [(batch_id, state, requests)] = _batches(db)
        assert state == "submitted" and requests == 12 == fake.stats()["batch_requests"]
        second = run_cli(*WORK, "--max-wait", "1s", db=db, fake=fake)
        assert second.returncode == 75, second.stderr
        assert _batches(db) == [(batch_id, "submitted", 12)]
        assert fake.stats()["batch_requests"] == 12         # polled again, not sent again
        assert _outcomes(db, batch_id) == {None: 12}


def test_a_live_worker_never_pays_again_for_calls_still_in_a_batch(tmp_path, sample_bbh):
    """The batch runner left at --max-wait; its leases lapse (2 s). A live worker on the
    same sweep must not send those jobs' calls again (they are paid for in the batch):
    it takes none of them and exits 75 saying who collects them."""
    db = tmp_path / "l.db"
    with _setup(db, sample_bbh) as fake:
        assert run_cli(*WORK, "--max-wait", "1s", db=db, fake=fake).returncode == 75
        time.sleep(2.5)                                     # every lease has lapsed
        live = run_cli("work", "--quiet", db=db, fake=fake)
        assert live.returncode == 75, live.stderr
        assert "8 jobs wait on message batches" in live.stderr
        assert "--backend batch" in live.stderr
        assert fake.stats()["successes"] == 0               # not one live call
        with sqlite3.connect(db) as conn:
            assert conn.execute("SELECT count(*) FROM calls").fetchone() == (0,)


def test_batches_cancel_cancels_at_the_api_and_its_requests_go_out_again(tmp_path,
                                                                         sample_bbh):
    db = tmp_path / "c.db"
    with _setup(db, sample_bbh) as fake:
        assert run_cli(*WORK, "--max-wait", "1s", db=db, fake=fake).returncode == 75
        [(batch_id, _, _)] = _batches(db)
        stranger = run_cli("batches", "cancel", "msgbatch_not_ours", db=db, fake=fake)
        assert stranger.returncode == 1 and "not a batch of this database" in stranger.stderr
        fake.batches.fail_next("cancel", [{"status": 529}])   # tried again, as live
        cancel = run_cli("batches", "cancel", batch_id, db=db, fake=fake)
        assert cancel.returncode == 0, cancel.stderr
        assert fake.stats()["batch_results"].get("fault_529") == 1
        assert f"{batch_id}: canceling" in cancel.stdout
        client = sdk(api_key="sk-ant-x", base_url=fake.url, max_retries=0)
        at_api = client.messages.batches.retrieve(batch_id)
        assert at_api.processing_status == "ended" and at_api.request_counts.canceled == 12
        fake.config.batch_seconds = 0                       # the next batches end at once
        done = run_cli(*WORK, db=db, fake=fake, timeout=120)
        assert done.returncode == 0, done.stderr
        submitted = fake.stats()["batch_requests"]
    batches = _batches(db)
    assert batches[0] == (batch_id, "ingested", 12) and len(batches) >= 2
    assert _outcomes(db, batch_id) == {"canceled": 12}
    with sqlite3.connect(db) as conn:
        states = dict(conn.execute("SELECT state, count(*) FROM jobs GROUP BY state"))
        needed = conn.execute("SELECT count(*) FROM calls").fetchone()[0]
        first_round = conn.execute(
            "SELECT count(*) FROM batch_requests r JOIN batches b USING (batch_key)"
            " WHERE b.batch_id != ? AND r.call_index = 0", (batch_id,)).fetchone()[0]
    assert states == {"done": 8}
    assert first_round >= 8                     # every job's first call went out again
    assert submitted == 12 + needed             # the canceled ones, then each call once
