"""`sweepq query`: ad-hoc SQL through sqlite-utils, read-only, in four output shapes."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest
from conftest import run_cli

from sweepq.errors import SweepqError
from sweepq.query import run, write


@pytest.fixture(scope="module")
def enqueued(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One enqueued sweep for the whole module: every query here is read-only (and one
    test proves it), so they can share it."""
    from sweepq.sample import write_sample

    root = tmp_path_factory.mktemp("query")
    db_path = root / "sweepq.db"
    run_cli("enqueue", "--sweep", "s", "--subtasks", "web_of_lies", "--n-per-subtask", "3",
            "--arms", "haiku-only,sonnet-only", "--dataset", str(write_sample(root / "bbh", n=5)),
            db=db_path, check=True)
    return db_path


def test_named_parameters_and_json(enqueued: Path) -> None:
    done = run_cli("query", "SELECT task_id, arm, state FROM jobs WHERE arm = :arm"
                   " ORDER BY position", "-p", "arm", "sonnet-only", "--json", db=enqueued,
                   check=True)
    rows = json.loads(done.stdout)
    assert [r["task_id"] for r in rows] == [f"bbh/web_of_lies/{i}" for i in range(3)]
    assert {(r["arm"], r["state"]) for r in rows} == {("sonnet-only", "pending")}


def test_table_csv_and_lines_show_the_same_rows(enqueued: Path) -> None:
    sql = "SELECT arm, total, pending FROM arm_summary ORDER BY arm"
    table = run_cli("query", sql, db=enqueued, check=True).stdout.splitlines()
    assert table[0].split() == ["arm", "total", "pending"]
    assert set(table[1]) <= {"-", " "}
    assert [line.split() for line in table[2:]] == [["haiku-only", "3", "3"],
                                                     ["sonnet-only", "3", "3"]]
    as_csv = list(csv.DictReader(io.StringIO(run_cli("query", sql, "--csv", db=enqueued,
                                                     check=True).stdout)))
    lines = [json.loads(line) for line in run_cli("query", sql, "--nl", db=enqueued,
                                                   check=True).stdout.splitlines()]
    assert [r["arm"] for r in as_csv] == [r["arm"] for r in lines] == ["haiku-only",
                                                                      "sonnet-only"]
    assert [int(r["total"]) for r in as_csv] == [r["total"] for r in lines] == [3, 3]


def test_a_query_can_never_change_the_database(enqueued: Path) -> None:
    before = list(sqlite3.connect(enqueued).iterdump())
    for sql in ("DELETE FROM jobs", "UPDATE jobs SET state = 'done'", "DROP TABLE results",
                "INSERT INTO pauses (reason, set_by, created_at) VALUES ('x', 'y', 0)"):
        done = run_cli("query", sql, db=enqueued)
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1 and "read-only" in done.stderr, done.stderr
    assert list(sqlite3.connect(enqueued).iterdump()) == before


@pytest.mark.parametrize(("sql", "says"), [
    ("SELEC 1", "syntax error"),
    ("SELECT * FROM no_such_table", "no such table"),
    # sqlite-utils' wording differs by version; both speak of the binding.
    ("SELECT :missing", "binding"),
])
def test_a_bad_query_is_one_line(enqueued: Path, sql: str, says: str) -> None:
    done = run_cli("query", sql, db=enqueued)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.startswith("sweepq: error: query failed")
    assert says in done.stderr and done.stderr.count("\n") == 1


def test_no_rows_is_said_on_stderr_only_for_the_table(enqueued: Path) -> None:
    empty = "SELECT * FROM jobs WHERE 0"
    table = run_cli("query", empty, db=enqueued, check=True)
    assert table.stdout == "" and "no rows" in table.stderr
    assert run_cli("query", empty, "--json", db=enqueued, check=True).stdout == "[]\n"
    csv_out = run_cli("query", empty, "--csv", db=enqueued, check=True).stdout
    assert csv_out.startswith("job_id,sweep,task_id,arm,") and csv_out.count("\n") == 1


def test_library_streams_rows_and_writes_each_format() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("CREATE TABLE t (a INTEGER, b TEXT)")
    conn.executemany("INSERT INTO t VALUES (?, ?)", [(1, "x y"), (2, None)])
    out = io.StringIO()
    assert write(run(conn, "SELECT * FROM t ORDER BY a"), "table", out) == 2
    assert out.getvalue().splitlines() == ["a  b", "-  ---", "1  x y", "2"]
    with pytest.raises(SweepqError, match="no such column"):
        run(conn, "SELECT nope FROM t")
