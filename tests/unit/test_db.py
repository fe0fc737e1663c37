"""sweepq.db: migrations, pragmas, refusing files we must not touch (the wheel that ships
the migrations: tests/e2e/test_wheel.py).

Every test uses real SQLite files; refusals are checked byte for byte.
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from conftest import ROOT, run_cli

from sweepq import db
from sweepq.errors import SweepqError
from sweepq.queue import Queue, Sweep

TABLES = {"sweeps", "jobs", "results", "calls", "pauses"}
VIEWS = {"arm_summary", "jobs_readable"}


def names(conn: sqlite3.Connection, kind: str) -> set[str]:
    return {n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = ?", (kind,))}


def user_version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("PRAGMA user_version").fetchone()[0]
    finally:
        conn.close()


def assert_one_line(exc: pytest.ExceptionInfo[SweepqError]) -> str:
    message = str(exc.value)
    assert message and "\n" not in message
    return message


# -- migrations -----------------------------------------------------------------------------

def test_migrations_are_numbered_from_one_and_set_user_version(db_path: Path) -> None:
    found = db.migrations()
    assert [number for number, _, _ in found] == list(range(1, len(found) + 1))
    assert found[0][1].startswith("0001_")
    assert db.schema_version() == len(found)
    conn = db.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.schema_version()
    assert TABLES <= names(conn, "table")
    assert VIEWS <= names(conn, "view")
    assert {"jobs_claimable", "jobs_sweep_state"} <= names(conn, "index")
    conn.close()


def test_migrations_apply_in_order_and_only_the_missing_ones(db_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch
                                                             ) -> None:
    """A database at version 1 gets every later migration, in order, each once.

    The two extra migrations depend on each other (an index on the added column),
    so applying them out of order or twice fails.
    """
    real = db.migrations()
    n = len(real)
    later = [(n + 1, f"{n + 1:04d}_note.sql", "ALTER TABLE jobs ADD COLUMN note TEXT;\n"),
             (n + 2, f"{n + 2:04d}_note_index.sql", "-- an index on the new column\n"
                                                   "CREATE INDEX jobs_note ON jobs (note);\n")]
    monkeypatch.setattr(db, "migrations", lambda: real[:1])
    db.connect(db_path).close()
    assert user_version(db_path) == 1

    monkeypatch.setattr(db, "migrations", lambda: real + later)
    conn = db.connect(db_path)  # applies 0002… then the two extra ones, never 0001 again
    assert conn.execute("PRAGMA user_version").fetchone()[0] == n + 2
    assert "note" in {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
    assert "jobs_note" in names(conn, "index")
    conn.close()
    db.connect(db_path).close()  # nothing left to apply: no "duplicate column" error
    assert user_version(db_path) == n + 2


def test_a_failing_migration_leaves_the_previous_version(db_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    real = db.migrations()
    n = len(real)
    broken = [(n + 1, f"{n + 1:04d}_broken.sql", "CREATE TABLE extra (x INTEGER);\n"
                                     "ALTER TABLE no_such_table ADD COLUMN y TEXT;\n")]
    db.connect(db_path).close()
    monkeypatch.setattr(db, "migrations", lambda: real + broken)
    with pytest.raises(SweepqError):
        db.connect(db_path)
    conn = sqlite3.connect(db_path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == n
    assert "extra" not in names(conn, "table")  # rolled back with the version bump
    conn.close()


def test_reopening_changes_nothing(db_path: Path) -> None:
    queue = Queue(db.connect(db_path))
    queue.enqueue(Sweep(name="s", arms=["a"]), [("t/0", {"q": 1})])
    queue.close()
    before = db_path.read_bytes()
    for _ in range(3):
        conn = db.connect(db_path)
        assert conn.execute("PRAGMA user_version").fetchone()[0] == db.schema_version()
        conn.close()
    assert db_path.read_bytes() == before


# -- refusing what we can't read ---------------------------------------------------------------

def test_a_database_from_a_newer_sweepq_is_refused_and_untouched(db_path: Path) -> None:
    db.connect(db_path).close()
    raw = sqlite3.connect(db_path)
    raw.execute(f"PRAGMA user_version = {db.schema_version() + 1}")
    raw.close()
    before = db_path.read_bytes()
    with pytest.raises(SweepqError) as exc:
        db.connect(db_path)
    message = assert_one_line(exc)
    assert "newer" in message and "upgrade" in message
    assert db_path.read_bytes() == before

    done = run_cli("status", db=db_path)
    assert done.returncode != 0
    assert done.stderr.startswith("sweepq: error: ") and done.stderr.count("\n") == 1
    assert "newer" in done.stderr
    assert db_path.read_bytes() == before


@pytest.mark.parametrize("content", [
    b"task_id,arm,passed\nbbh/x/0,haiku-only,true\n" * 200,
    bytes(range(256)) * 32,
    b'{"_meta": true, "benchmark": "bbh"}\n' + b"x" * 5000,
], ids=["csv", "binary", "jsonl"])
def test_a_file_that_is_not_sqlite_is_refused_and_untouched(tmp_path: Path,
                                                            content: bytes) -> None:
    path = tmp_path / "results.db"
    path.write_bytes(content)
    with pytest.raises(SweepqError) as exc:
        db.connect(path)
    assert "not a sweepq database" in assert_one_line(exc)
    assert path.read_bytes() == content
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.db"]

    done = run_cli("status", db=path)
    assert done.returncode != 0 and "Traceback" not in done.stderr
    assert done.stderr.startswith("sweepq: error: ") and done.stderr.count("\n") == 1
    assert path.read_bytes() == content


@pytest.mark.parametrize("version", [0, 1, 7])
def test_an_sqlite_file_of_another_app_is_refused_and_untouched(tmp_path: Path,
                                                                version: int) -> None:
    path = tmp_path / "notes.db"
    raw = sqlite3.connect(path)
    raw.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
    raw.execute("INSERT INTO notes (body) VALUES ('keep me')")
    raw.execute(f"PRAGMA user_version = {version}")
    raw.commit()
    raw.close()
    before = path.read_bytes()
    with pytest.raises(SweepqError) as exc:
        db.connect(path)
    assert_one_line(exc)
    assert path.read_bytes() == before
    raw = sqlite3.connect(path)
    assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "delete"  # not switched to WAL
    assert names(raw, "table") == {"notes"}
    raw.close()


def test_an_empty_file_is_a_new_database(tmp_path: Path) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    conn = db.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == db.schema_version()
    conn.close()


def test_a_missing_database_is_not_created_when_create_is_false(db_path: Path) -> None:
    with pytest.raises(SweepqError) as exc:
        db.connect(db_path, create=False)
    assert_one_line(exc)
    assert not db_path.exists()


def test_a_path_under_a_missing_folder_or_a_folder_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SweepqError) as exc:
        db.connect(tmp_path / "missing" / "x.db")
    assert "does not exist" in assert_one_line(exc)
    assert not (tmp_path / "missing").exists()
    with pytest.raises(SweepqError) as exc:
        db.connect(tmp_path)
    assert "folder" in assert_one_line(exc)


# -- pragmas ----------------------------------------------------------------------------------

def pragma(conn: sqlite3.Connection, name: str) -> object:
    return conn.execute(f"PRAGMA {name}").fetchone()[0]


def test_connection_pragmas(db_path: Path) -> None:
    conn = db.connect(db_path)
    assert pragma(conn, "journal_mode") == "wal"
    assert pragma(conn, "foreign_keys") == 1
    assert pragma(conn, "busy_timeout") == db.BUSY_TIMEOUT_MS >= 5000
    assert pragma(conn, "synchronous") == 1  # NORMAL
    assert conn.isolation_level is None  # autocommit: no implicit transactions left open
    conn.close()
    full = db.connect(db_path, synchronous="FULL")
    assert pragma(full, "synchronous") == 2  # FULL
    assert pragma(full, "journal_mode") == "wal"
    full.close()
    with pytest.raises(SweepqError):
        db.connect(db_path, synchronous="SOMETIMES")


# -- constraints ------------------------------------------------------------------------------

@pytest.fixture
def queue(db_path: Path) -> Queue:
    queue = Queue(db.connect(db_path))
    queue.enqueue(Sweep(name="s", arms=["a", "b"]), [("t/0", {"q": 0}), ("t/1", {"q": 1})])
    yield queue
    queue.close()


@pytest.mark.parametrize("sql", [
    "UPDATE jobs SET state = 'finished' WHERE job_id = 1",                      # bad state
    "UPDATE jobs SET state = 'running' WHERE job_id = 1",                       # running, no lease
    "UPDATE jobs SET attempts = -1 WHERE job_id = 1",
    "UPDATE jobs SET attempts = 'two' WHERE job_id = 1",                        # STRICT
    "UPDATE jobs SET task = '{not json' WHERE job_id = 1",
    "INSERT INTO jobs (sweep, task_id, arm, position, task, created_at)"
    " VALUES ('s', 't/0', 'a', 9, '{}', 0)",                                     # UNIQUE
    "INSERT INTO jobs (sweep, task_id, arm, position, task, created_at)"
    " VALUES ('nope', 't/0', 'a', 9, '{}', 0)",                                  # foreign key
    "INSERT INTO results (job_id, passed, detail, sub_calls, completed_at)"
    " VALUES (1, 2, 'passed', 1, 0)",                                            # passed = 2
    "INSERT INTO results (job_id, passed, detail, sub_calls, completed_at)"
    " VALUES (1, 'yes', 'passed', 1, 0)",                                        # STRICT
    "INSERT INTO results (job_id, passed, detail, sub_calls, completed_at)"
    " VALUES (999, 1, 'passed', 1, 0)",                                          # no such job
    "INSERT INTO sweeps (sweep, arms, created_at) VALUES ('x', 'a,b', 0)",       # arms not JSON
    "INSERT INTO sweeps (sweep, arms, n_per_subtask, created_at)"
    " VALUES ('x', '[]', 0, 0)",                                                 # n = 0
    "INSERT INTO calls (job_id, attempt, call_index, model, request_hash, created_at,"
    " error_class) VALUES (1, 1, 0, 'm', 'h', 0, 'oops')",                       # unknown class
])
def test_constraints_catch_real_mistakes(queue: Queue, sql: str) -> None:
    before = queue.read("SELECT * FROM jobs ORDER BY job_id")
    with pytest.raises(sqlite3.IntegrityError):
        queue.conn.execute(sql)
    assert queue.read("SELECT * FROM jobs ORDER BY job_id") == before
    assert queue.read("SELECT count(*) AS n FROM results")[0]["n"] == 0


# -- two processes opening a new database at once ----------------------------------------------

OPENER = textwrap.dedent("""
    import json, sys, time
    from sweepq import db
    start, folder, count = float(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    outcomes = []
    for i in range(count):
        # Sleep (not spin) to the same instant, so the processes really collide.
        time.sleep(max(0.0, start + i * 0.05 - time.time()))
        try:
            db.connect(f"{folder}/{i}.db").close()
            outcomes.append("ok")
        except Exception as exc:  # report every failure, expected or not
            outcomes.append(f"{type(exc).__name__}: {exc}")
    print(json.dumps(outcomes))
""")


def test_processes_opening_a_new_database_at_once_all_succeed(tmp_path: Path) -> None:
    """Several processes race to create, switch to WAL and migrate the same new files."""
    processes, count = 4, 30
    start = time.time() + 1.5  # after every interpreter has started
    procs = [subprocess.Popen([sys.executable, "-c", OPENER, str(start), str(tmp_path),
                               str(count)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, cwd=ROOT)
             for _ in range(processes)]
    failures = []
    for proc in procs:
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        failures += [o for o in json.loads(out) if o != "ok"]
    assert failures == []
    for i in range(count):
        conn = sqlite3.connect(tmp_path / f"{i}.db")
        assert pragma(conn, "user_version") == db.schema_version()
        assert pragma(conn, "journal_mode") == "wal"
        tables = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        assert len(tables) == len(set(tables)) and TABLES <= set(tables)
        conn.close()


def test_the_migration_files_are_read_once_per_process(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every open asks for the schema version (and a new database for the SQL): the
    files that ship with the package are read from disk once, not at each open."""
    listed = []
    real = db._migration_files
    monkeypatch.setattr(db, "_migration_files", lambda: listed.append(1) or real())
    db._read_migrations.cache_clear()
    try:
        for name in ("a.db", "b.db", "a.db"):
            db.connect(tmp_path / name).close()
        assert user_version(tmp_path / "b.db") == db.schema_version()
    finally:
        db._read_migrations.cache_clear()
    assert listed == [1]
