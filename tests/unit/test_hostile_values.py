"""Values a hand edit left in the database are checked where they are read back.

Issue 23, defects 3, 4 and 5: a payload that is not JSON stopped every worker for ever;
a pause ending at Inf (or 1e300) killed `status` and `work` and made `status --json`
print `Infinity`; `check` on its read-only connection missed CHECK-constraint violations
and `status` dropped jobs with a bogus state from its counts.
"""

from __future__ import annotations

import json
import math
import sqlite3
import time
from pathlib import Path

import pytest
from conftest import run_cli


def _enqueue(db: Path, dataset: Path, n: int = 3, arms: str = "haiku-only") -> None:
    run_cli("enqueue", "--sweep", "h", "--subtasks", "web_of_lies", "--n-per-subtask", str(n),
            "--arms", arms, "--dataset", str(dataset), db=db, check=True)


def _edit(db: Path, sql: str, *params: object) -> None:
    """A hand edit in sqlite3 that bypasses the CHECK constraints."""
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA ignore_check_constraints = 1")
        conn.execute(sql, params)


def _one(db: Path, sql: str) -> tuple:
    with sqlite3.connect(db) as conn:
        return conn.execute(sql).fetchone()


def _strict_json(text: str) -> object:
    def refuse(name: str) -> None:
        raise AssertionError(f"not JSON: {name}")
    return json.loads(text, parse_constant=refuse)


def test_a_payload_that_is_not_json_is_quarantined_and_the_sweep_carries_on(
        db_path, sample_bbh, fake_api):
    _enqueue(db_path, sample_bbh)
    _edit(db_path, "UPDATE jobs SET task = 'not json {' WHERE position = 0")
    done = run_cli("work", "--quiet", "--concurrency", "2", db=db_path, fake=fake_api)
    assert done.returncode == 3, done.stderr          # finished, one job in error: not exit 1
    assert "internal error" not in done.stderr
    state, attempts, errors = _one(db_path, "SELECT state, attempts, errors FROM jobs"
                                            " WHERE position = 0")
    assert state == "error" and attempts == 0          # its attempt was not charged
    [entry] = json.loads(errors)
    assert entry["kind"] == "quarantine" and "not JSON" in entry["message"]
    assert _one(db_path, "SELECT count(*) FROM jobs WHERE state = 'done'") == (2,)


def test_a_payload_that_is_json_but_not_a_task_is_quarantined(db_path, sample_bbh, fake_api):
    _enqueue(db_path, sample_bbh, 2)
    _edit(db_path, "UPDATE jobs SET task = '[1, 2]' WHERE position = 0")
    _edit(db_path, "UPDATE jobs SET task = '{\"prompt\": \"x\"}' WHERE position = 1")
    done = run_cli("work", "--quiet", db=db_path, fake=fake_api)
    assert done.returncode == 3, done.stderr
    assert _one(db_path, "SELECT group_concat(state), sum(attempts) FROM jobs") == \
        ("error,error", 0)
    assert run_cli("check", db=db_path).stdout.count("not a JSON object") == 1


@pytest.mark.parametrize("resume_at", [math.inf, 1e300])
def test_a_pause_with_an_impossible_end_is_reported_once_and_ignored(
        db_path, sample_bbh, fake_api, resume_at):
    _enqueue(db_path, sample_bbh)
    _edit(db_path, "INSERT INTO pauses (resume_at, reason, set_by, created_at)"
                   " VALUES (?, 'by hand', 'user', ?)", resume_at, time.time())
    shown = run_cli("status", "--json", db=db_path)
    assert shown.returncode == 0, shown.stderr
    data = _strict_json(shown.stdout)
    assert data["pause"] is None and data["phase"] == "idle"
    assert shown.stderr.count("\n") == 1 and "pause 1 has impossible times" in shown.stderr
    text = run_cli("status", db=db_path)
    assert text.returncode == 0 and "paused" not in text.stdout
    assert max(len(word) for word in text.stdout.split()) < 40   # no 300-digit wait
    done = run_cli("work", "--quiet", db=db_path, fake=fake_api)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("pause 1 has impossible times") == 1
    assert _one(db_path, "SELECT count(*) FROM jobs WHERE state = 'done'") == (3,)


def test_status_json_holds_no_infinity_whatever_the_columns_hold(db_path, sample_bbh):
    _enqueue(db_path, sample_bbh)
    _edit(db_path, "UPDATE jobs SET started_at = ?, state = 'error', finished_at = ?"
                   " WHERE position = 0", -math.inf, math.inf)
    shown = run_cli("status", "--json", db=db_path)
    assert shown.returncode == 0, shown.stderr
    _strict_json(shown.stdout)


def test_check_tests_every_check_constraint_on_its_read_only_connection(db_path, sample_bbh):
    _enqueue(db_path, sample_bbh, 4)
    _edit(db_path, "UPDATE jobs SET state = 'bogus' WHERE position = 0")
    _edit(db_path, "UPDATE jobs SET task = 'not json' WHERE position = 1")
    _edit(db_path, "UPDATE jobs SET attempts = -1 WHERE position = 2")
    found = run_cli("check", db=db_path)
    assert found.returncode == 1
    assert "jobs rows 1 break CHECK (state IN ('pending', 'running', 'done', 'error'))" \
        in found.stdout
    assert "jobs rows 2 break CHECK (json_valid(task))" in found.stdout
    assert "jobs rows 3 break CHECK (attempts >= 0)" in found.stdout
    # status counts every job: the bogus one is in the total and said, not dropped
    data = _strict_json(run_cli("status", "--json", db=db_path, check=True).stdout)
    assert data["total"] == 4 and data["invalid_state"] == 1
    assert "1 jobs with a state none of" in run_cli("status", db=db_path).stdout


def test_a_job_with_max_attempts_out_of_range_is_quarantined_not_charged(db_path, sample_bbh,
                                                                          fake_api):
    _enqueue(db_path, sample_bbh, 2)
    _edit(db_path, "UPDATE jobs SET max_attempts = 0 WHERE position = 0")
    done = run_cli("work", "--quiet", db=db_path, fake=fake_api)
    assert done.returncode == 3, done.stderr
    state, attempts, last_error = _one(db_path, "SELECT state, attempts, last_error FROM jobs"
                                                " WHERE position = 0")
    assert (state, attempts) == ("error", 0) and "out of range" in last_error
