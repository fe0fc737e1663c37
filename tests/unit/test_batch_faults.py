"""Every Message Batches call (create, retrieve, list, results, cancel) fails and is
retried as a live call: a 529, a 500 and a dropped connection on create, poll and
results leave the run going, and nothing is submitted twice."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_batch import _batch, _config, _sweep

from sweepq.fake.inprocess import InProcessBackend
from sweepq.queue import Queue

FAULTS = {"529": {"status": 529}, "500": {"status": 500}, "dropped": {"reset": True}}


def _run(tmp_path: Path, sample_bbh: Path, op: str, faults: list[dict]
         ) -> tuple[Queue, InProcessBackend, list[float], int]:
    queue, sweep = _sweep(tmp_path / "f.db", sample_bbh, 2)
    fake = InProcessBackend(_config(sample_bbh, 2))
    fake.batches.fail_next(op, faults)
    runner = _batch(queue, sweep, fake)
    slept: list[float] = []
    runner._sleep = lambda seconds: slept.append(seconds) and False
    outcome = runner.run()
    assert outcome.exit_code == 0, outcome.message
    return queue, fake, slept, runner.rounds


def _paid_once(queue: Queue, fake: InProcessBackend) -> None:
    assert queue.counts("b") == {"pending": 0, "running": 0, "done": 20, "error": 0}
    needed = queue.read("SELECT count(*) AS n FROM calls")[0]["n"]
    assert fake.stats()["batch_requests"] == needed        # no request went twice


@pytest.mark.parametrize("op", ["create", "retrieve", "results"])
@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_the_run_carries_on_through_a_failed_batch_call(tmp_path, sample_bbh, op, fault):
    queue, fake, slept, _ = _run(tmp_path, sample_bbh, op, [fault, fault])
    _paid_once(queue, fake)
    assert len(slept) >= 2 and min(slept) >= 1.0            # backed off before each try


@pytest.mark.parametrize("fault", FAULTS.values(), ids=FAULTS.keys())
def test_looking_for_a_lost_batch_survives_a_failed_list(tmp_path, sample_bbh, fault):
    """A create whose reply was lost, then the list that looks for it fails twice."""
    queue, sweep = _sweep(tmp_path / "f.db", sample_bbh, 2)
    fake = InProcessBackend(_config(sample_bbh, 2))
    fake.batches.fail_next("create", [{"reset": "after"}])
    fake.batches.fail_next("list", [fault, fault])
    runner = _batch(queue, sweep, fake)
    outcome = runner.run()
    assert outcome.exit_code == 0, outcome.message
    _paid_once(queue, fake)
    assert fake.stats()["batches"] == runner.rounds


def test_a_create_whose_reply_was_lost_is_found_not_sent_again(tmp_path, sample_bbh):
    """The API made the batch, then the connection dropped before its id came back."""
    queue, fake, _, rounds = _run(tmp_path, sample_bbh, "create", [{"reset": "after"}])
    _paid_once(queue, fake)
    assert fake.stats()["batches"] == rounds


def test_a_fatal_batch_call_stops_with_exit_2_and_gives_the_jobs_back(tmp_path, sample_bbh):
    queue, sweep = _sweep(tmp_path / "f.db", sample_bbh, 2)
    fake = InProcessBackend(_config(sample_bbh, 2))
    fake.batches.fail_next("create", [{"status": 401}])
    outcome = _batch(queue, sweep, fake).run()
    assert outcome.exit_code == 2 and "Message Batches API failed (fatal)" in outcome.message
    assert "\n" not in outcome.message
    assert queue.counts("b")["running"] == 0                 # not left under their leases
    assert queue.read("SELECT max(attempts) AS a FROM jobs")[0]["a"] == 0   # uncharged


def test_a_create_failing_every_try_exits_75_with_the_jobs_given_back(tmp_path, sample_bbh):
    from sweepq import batch_api

    queue, sweep = _sweep(tmp_path / "f.db", sample_bbh, 2)
    fake = InProcessBackend(_config(sample_bbh, 2))
    fake.batches.fail_next("create", [{"status": 529}] * batch_api.API_TRIES)
    outcome = _batch(queue, sweep, fake).run()
    assert outcome.exit_code == 75, outcome.message
    assert "overloaded" in outcome.message.lower()
    assert queue.counts("b")["running"] == 0
    assert fake.stats()["batch_requests"] == 0
    again = _batch(queue, sweep, fake).run()                  # and the next run finishes
    assert again.exit_code == 0, again.message
    _paid_once(queue, fake)
