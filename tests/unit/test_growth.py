"""Growing a sweep (issue 18, item 3): more arms, subtasks or a larger n on an existing sweep
add exactly the new jobs, keep the canonical order of the old ones, and pair with them in
`summary --baseline`; any other change is refused naming the setting."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
from conftest import assert_refused, run_cli, try_enqueue

from sweepq.errors import SweepqError
from sweepq.queue import Queue, Sweep


def jobs(db: Path) -> list[tuple[str, str, int, str]]:
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT task_id, arm, position, state FROM jobs"
                            " ORDER BY position").fetchall()
    finally:
        conn.close()


def test_one_more_arm_adds_its_jobs_and_pairs_with_the_old_arms(tmp_path: Path,
                                                               sample_bbh: Path,
                                                               fake_api) -> None:
    db = tmp_path / "a.db"
    try_enqueue(db, sample_bbh, arms="haiku-only", n="4")
    run_cli("work", "-q", db=db, fake=fake_api, check=True)
    done_before = {(t, a) for t, a, _, s in jobs(db) if s == "done"}
    grown = try_enqueue(db, sample_bbh, arms="haiku-only,sonnet-only", n="4")
    assert grown.returncode == 0, grown.stderr
    assert "sweep s (grown): 4 new jobs (8 in all, 4 tasks x 2 arms)" in grown.stdout
    again = try_enqueue(db, sample_bbh, arms="haiku-only,sonnet-only", n="4")
    assert "0 new jobs" in again.stdout                  # idempotent
    rows = jobs(db)
    assert [(t, a) for t, a, _, _ in rows] == [
        (f"bbh/web_of_lies/{i}", arm) for i in range(4) for arm in ("haiku-only", "sonnet-only")]
    assert [p for _, _, p, _ in rows] == list(range(8))
    assert {(t, a) for t, a, _, s in rows if s == "done"} == done_before   # kept, not redone
    run_cli("work", "-q", db=db, fake=fake_api, check=True)
    summary = json.loads(run_cli("summary", "--baseline", "haiku-only", "--json", db=db,
                                 check=True).stdout)
    sonnet = next(a for a in summary["arms"] if a["arm"] == "sonnet-only")
    assert sonnet["vs_baseline"]["baseline"] == "haiku-only"
    assert sonnet["vs_baseline"]["n"] == 4
    meta = json.loads(run_cli("export", "-", db=db, check=True).stdout.splitlines()[0])
    assert meta["arms"] == ["haiku-only", "sonnet-only"]


def test_more_subtasks_and_a_larger_n_keep_the_old_jobs_order(tmp_path: Path,
                                                             sample_bbh: Path) -> None:
    db = tmp_path / "a.db"
    try_enqueue(db, sample_bbh, arms="haiku-only,echo-judge", n="2")
    old = [(t, a) for t, a, _, _ in jobs(db)]
    grown = try_enqueue(db, sample_bbh, arms="haiku-only,echo-judge", n="3",
                    subtasks="web_of_lies,boolean_expressions")
    assert "8 new jobs (12 in all, 6 tasks x 2 arms)" in grown.stdout, grown.stdout
    rows = [(t, a) for t, a, _, _ in jobs(db)]
    assert [r for r in rows if r in old] == old        # the old jobs' order is the old order
    assert rows[:6] == [(f"bbh/web_of_lies/{i}", arm) for i in range(3)
                        for arm in ("haiku-only", "echo-judge")]
    listed = json.loads(run_cli("sweeps", "--json", db=db, check=True).stdout)[0]
    assert listed["subtasks"] == ["web_of_lies", "boolean_expressions"]
    assert listed["n_per_subtask"] == 3
    # Given in another order, or fewer, the stored sweep is what grows: nothing new.
    same = try_enqueue(db, sample_bbh, arms="echo-judge", n="1",
                   subtasks="boolean_expressions")
    assert "0 new jobs (12 in all" in same.stdout


@pytest.mark.parametrize("extra, says", [
    (("--start", "1"), "start is 0, given 1"),
    (("--model", "haiku=claude-haiku-4-5-20251001"), "model alias haiku is"),
])
def test_other_changes_are_refused_naming_the_setting(tmp_path: Path, sample_bbh: Path,
                                                      extra: tuple[str, ...],
                                                      says: str) -> None:
    db = tmp_path / "a.db"
    try_enqueue(db, sample_bbh, arms="haiku-only", n="2")
    before = db.read_bytes()
    assert_refused(try_enqueue(db, sample_bbh, *extra, arms="haiku-only,sonnet-only", n="3"),
                   "already exists with other settings", says, "choose another --sweep name")
    assert db.read_bytes() == before


def test_another_data_set_is_refused(tmp_path: Path, sample_bbh: Path) -> None:
    db = tmp_path / "a.db"
    try_enqueue(db, sample_bbh, arms="haiku-only", n="2")
    other = tmp_path / "other"
    other.mkdir()
    (other / "web_of_lies.json").write_text((sample_bbh / "web_of_lies.json").read_text())
    assert_refused(try_enqueue(db, other, arms="haiku-only", n="2"), "dataset is")


def test_the_library_refuses_a_grown_sweep_out_of_order(tmp_path: Path) -> None:
    """queue.enqueue takes the grown sweep as `growth.merged` makes it; another order of
    the same arms would move the old jobs' positions, so it is refused."""
    q = Queue.open(str(tmp_path / "q.db"))
    tasks = [(f"bbh/x/{i}", {"prompt": "q"}) for i in range(2)]
    q.enqueue(Sweep(name="s", arms=["a", "b"], subtasks=["x"], n_per_subtask=2), tasks)
    with pytest.raises(SweepqError, match="keeps the stored arms and subtasks first"):
        q.enqueue(Sweep(name="s", arms=["c", "a", "b"], subtasks=["x"], n_per_subtask=2),
                  tasks)
    assert q.enqueue(Sweep(name="s", arms=["a", "b", "c"], subtasks=["x"], n_per_subtask=2),
                     tasks) == 2
    assert [r["arm"] for r in q.read("SELECT arm FROM jobs ORDER BY position")] == \
        ["a", "b", "c"] * 2
    q.close()
