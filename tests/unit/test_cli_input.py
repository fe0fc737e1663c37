"""Bad input to the real `sweepq` process: one line on stderr, non-zero exit, database untouched.

Each case from issue 2's "Bad input" list runs the CLI as a subprocess and checks
that stderr is exactly one `sweepq: error:` line (no traceback) and that the
database is byte-for-byte what it was, or still absent when there was none.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path

import pytest
from conftest import assert_refused, cli_env, run_cli

from sweepq import db
from sweepq.queue import Queue, Result, Sweep

KNOWN_ARMS = ["echo-judge", "echo-lexical", "echo-oracle", "haiku-only", "sonnet-only"]


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file in the folder (the database, and any -wal/-shm left) with its bytes."""
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A folder for the database only (data and output files live elsewhere)."""
    folder = tmp_path / "home"
    folder.mkdir()
    return folder


@pytest.fixture
def two_sweeps(home: Path) -> Path:
    """A database with two sweeps, some results, made through the library."""
    path = home / "sweepq.db"
    queue = Queue(db.connect(path))
    for name in ("first", "second"):
        queue.enqueue(Sweep(name=name, arms=["haiku-only", "echo-judge"],
                            subtasks=["web_of_lies"], n_per_subtask=2),
                      [(f"bbh/web_of_lies/{i}", {"prompt": "q"}) for i in range(2)])
        job = queue.claim(name, "w")
        queue.complete(job.job_id, "w", Result(True, "passed", 1.0, 1))
    queue.close()
    return path


def enqueue_args(sample_bbh: Path, **override: str) -> list[str]:
    options = {"--sweep": "s", "--subtasks": "web_of_lies,boolean_expressions",
               "--n-per-subtask": "3", "--arms": "haiku-only,echo-judge",
               "--dataset": str(sample_bbh)}
    options.update(override)
    args = ["enqueue"]
    for key, value in options.items():
        if value is not None:
            args += [key, value]
    return args


# -- a database with several sweeps -------------------------------------------------------------

@pytest.mark.parametrize("command", [["status"], ["status", "--json"], ["export", "-"],
                                     ["retry"]])
def test_missing_sweep_when_there_are_several(two_sweeps: Path, command: list[str]) -> None:
    before = snapshot(two_sweeps.parent)
    done = run_cli(*command, db=two_sweeps)
    assert_refused(done, "--sweep", "first", "second")
    assert done.stdout == ""
    assert snapshot(two_sweeps.parent) == before


def test_an_unknown_sweep_name_lists_the_sweeps(two_sweeps: Path) -> None:
    before = snapshot(two_sweeps.parent)
    assert_refused(run_cli("status", "--sweep", "third", db=two_sweeps), "first, second")
    assert snapshot(two_sweeps.parent) == before


# -- enqueue ----------------------------------------------------------------------------------

ENQUEUE_CASES = {
    "n-zero": ({"--n-per-subtask": "0"}, ["--n-per-subtask", "0"]),
    "n-negative": ({"--n-per-subtask": "-4"}, ["-4"]),
    "unknown-subtask": ({"--subtasks": "web_of_lies,web_of_truths"}, ["web_of_truths"]),
    "no-subtasks": ({"--subtasks": " , "}, ["--subtasks"]),
    "empty-arms": ({"--arms": ""}, ["--arms"]),
    "only-commas-arms": ({"--arms": ",,"}, ["--arms"]),
    "unknown-arm": ({"--arms": "haiku-only,gpt-9"}, ["gpt-9", *KNOWN_ARMS]),
    "arm-twice": ({"--arms": "haiku-only,haiku-only"}, ["twice"]),
    "negative-start": ({"--start": "-1"}, ["start"]),
    "start-past-end": ({"--start": "500"}, ["500"]),
    "missing-dataset": ({"--dataset": "no/such/folder"}, ["no/such/folder", "--dataset"]),
}


@pytest.mark.parametrize("case", list(ENQUEUE_CASES))
def test_bad_enqueue_leaves_an_existing_database_unchanged(two_sweeps: Path, sample_bbh: Path,
                                                           case: str) -> None:
    override, needles = ENQUEUE_CASES[case]
    before = snapshot(two_sweeps.parent)
    assert_refused(run_cli(*enqueue_args(sample_bbh, **override), db=two_sweeps), *needles)
    assert snapshot(two_sweeps.parent) == before


@pytest.mark.parametrize("case", ["n-zero", "unknown-subtask", "empty-arms", "unknown-arm",
                                  "missing-dataset"])
def test_bad_enqueue_creates_no_database(home: Path, sample_bbh: Path, case: str) -> None:
    override, needles = ENQUEUE_CASES[case]
    assert_refused(run_cli(*enqueue_args(sample_bbh, **override), db=home / "new.db"),
                   *needles)
    assert list(home.iterdir()) == []


def test_a_dataset_folder_without_the_subtask(home: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty-bbh"
    empty.mkdir()
    done = run_cli(*enqueue_args(empty), db=home / "new.db")
    assert_refused(done, "web_of_lies.json", "--dataset")
    assert list(home.iterdir()) == []


def test_a_dataset_file_that_is_not_bbh(home: Path, tmp_path: Path) -> None:
    data = tmp_path / "bad-bbh"
    data.mkdir()
    (data / "web_of_lies.json").write_text("this is not json")
    (data / "boolean_expressions.json").write_text(json.dumps({"examples": [{"q": 1}]}))
    assert_refused(run_cli(*enqueue_args(data), db=home / "new.db"), "web_of_lies")
    assert list(home.iterdir()) == []


def test_offline_hub_without_dataset_says_pass_dataset(home: Path) -> None:
    args = enqueue_args(Path("unused"), **{"--dataset": None})
    done = run_cli(*args, db=home / "new.db", env=cli_env(HF_HUB_OFFLINE="1",
                                                          HF_DATASETS_OFFLINE="1"),
                   timeout=60)
    assert_refused(done, "--dataset")
    assert list(home.iterdir()) == []


# -- where the database is --------------------------------------------------------------------

def test_database_under_a_missing_folder(tmp_path: Path, sample_bbh: Path) -> None:
    target = tmp_path / "missing" / "deeper" / "sweepq.db"
    assert_refused(run_cli(*enqueue_args(sample_bbh), db=target), "does not exist")
    assert not (tmp_path / "missing").exists()


def test_database_path_that_is_a_folder(home: Path, sample_bbh: Path) -> None:
    assert_refused(run_cli(*enqueue_args(sample_bbh), db=home), "folder")
    assert list(home.iterdir()) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write to a read-only folder")
def test_database_in_a_read_only_folder(home: Path, sample_bbh: Path) -> None:
    home.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert_refused(run_cli(*enqueue_args(sample_bbh), db=home / "new.db"), "writable")
        assert list(home.iterdir()) == []
    finally:
        home.chmod(stat.S_IRWXU)


def test_status_of_a_missing_database_does_not_create_it(home: Path) -> None:
    assert_refused(run_cli("status", db=home / "nope.db"), "no database")
    assert_refused(run_cli("export", "-", db=home / "nope.db"), "no database")
    assert list(home.iterdir()) == []


def test_sweepq_db_environment_variable(home: Path, sample_bbh: Path) -> None:
    target = home / "from-env.db"
    done = run_cli(*enqueue_args(sample_bbh), env=cli_env(SWEEPQ_DB=str(target)))
    assert done.returncode == 0, done.stderr
    assert target.exists()


# -- export and import ------------------------------------------------------------------------

def test_export_into_a_missing_folder(two_sweeps: Path, tmp_path: Path) -> None:
    before = snapshot(two_sweeps.parent)
    target = tmp_path / "missing" / "out.jsonl"
    assert_refused(run_cli("export", "--sweep", "first", str(target), db=two_sweeps),
                   "does not exist")
    assert not target.parent.exists()
    assert snapshot(two_sweeps.parent) == before


@pytest.mark.parametrize("content", ["", "\n\n", "hello, world\n", "\x00\x01\x02 binary",
                                     '{"_meta": true, "benchmark": "bbh", "arms": []}\n'],
                         ids=["empty", "blank-lines", "text", "binary", "meta-only"])
def test_import_of_a_file_without_results(two_sweeps: Path, home: Path, tmp_path: Path,
                                          content: str) -> None:
    source = tmp_path / "input.jsonl"
    source.write_text(content)
    before = snapshot(home)
    assert_refused(run_cli("import", str(source), db=two_sweeps), "nothing imported")
    assert snapshot(home) == before
    assert_refused(run_cli("import", str(source), db=tmp_path / "new.db"))
    assert not (tmp_path / "new.db").exists()


def test_import_of_a_missing_file_or_a_folder(two_sweeps: Path, tmp_path: Path) -> None:
    before = snapshot(two_sweeps.parent)
    assert_refused(run_cli("import", str(tmp_path / "nope.jsonl"), db=two_sweeps), "nope.jsonl")
    assert_refused(run_cli("import", str(tmp_path), db=tmp_path / "new.db"))
    assert snapshot(two_sweeps.parent) == before
    assert not (tmp_path / "new.db").exists()


def test_import_of_an_invalid_utf8_file(two_sweeps: Path, tmp_path: Path) -> None:
    source = tmp_path / "latin1.jsonl"
    source.write_bytes(b'{"task_id": "caf\xe9"}\n')
    before = snapshot(two_sweeps.parent)
    assert_refused(run_cli("import", str(source), db=two_sweeps))
    assert snapshot(two_sweeps.parent) == before


# -- the happy path ---------------------------------------------------------------------------

def test_enqueue_status_export(home: Path, sample_bbh: Path) -> None:
    database = home / "sweepq.db"
    done = run_cli(*enqueue_args(sample_bbh), db=database, check=True)
    assert "12 new jobs" in done.stdout
    again = run_cli(*enqueue_args(sample_bbh), db=database, check=True)
    assert "0 new jobs (12 in all" in again.stdout

    conn = sqlite3.connect(database)
    ids = [r[0] for r in conn.execute("SELECT task_id FROM jobs ORDER BY position")]
    conn.close()
    assert ids[:2] == ["bbh/web_of_lies/0"] * 2 and ids[-1] == "bbh/boolean_expressions/2"

    queue = Queue(db.connect(database))
    for passed in (True, False, True):
        job = queue.claim("s", "w")
        queue.complete(job.job_id, "w", Result(passed, "passed" if passed else
                                               "expected True got False", 0.5, 1))
    queue.close()

    status = json.loads(run_cli("status", "--json", db=database, check=True).stdout)
    assert set(status) >= {"sweep", "benchmark", "states", "total", "passed", "pass_rate",
                           "arms", "pause"}
    assert status["sweep"] == "s" and status["benchmark"] == "bbh"
    assert status["states"] == {"pending": 9, "running": 0, "done": 3, "error": 0}
    assert (status["total"], status["passed"], status["pass_rate"]) == (12, 2, round(2 / 3, 4))
    assert [a["arm"] for a in status["arms"]] == ["haiku-only", "echo-judge"]
    haiku = status["arms"][0]
    assert (haiku["total"], haiku["done"], haiku["passed"], haiku["pass_rate"]) == (6, 2, 2, 1.0)
    assert status["pause"] is None

    text = run_cli("status", db=database, check=True).stdout
    assert "3/12 done" in text

    run_cli("pause", "--for", "1h", "--reason", "testing", db=database, check=True)
    paused = json.loads(run_cli("status", "--json", db=database, check=True).stdout)["pause"]
    assert paused["reason"] == "testing" and 3500 < paused["seconds_left"] <= 3600
    run_cli("resume", db=database, check=True)
    assert json.loads(run_cli("status", "--json", db=database,
                              check=True).stdout)["pause"] is None

    out = run_cli("export", "-", db=database, check=True).stdout.splitlines()
    assert json.loads(out[0]) == {"_meta": True, "benchmark": "bbh",
                                  "subtasks": ["web_of_lies", "boolean_expressions"],
                                  "n_per_subtask": 3, "start": 0,
                                  "arms": ["haiku-only", "echo-judge"]}
    assert [json.loads(x)["passed"] for x in out[1:]] == [True, False, True]


@pytest.mark.parametrize("args, needle", [
    (["--for", "0s"], "--for 0s"),
    (["--for", "soon"], "soon"),
    (["--until", "25:00"], "25:00"),
    (["--until", "2001-01-01T00:00Z"], "past"),
    (["--for", "1h", "--until", "03:00"], "not both"),
], ids=["zero", "unreadable-duration", "bad-clock", "past", "both"])
def test_bad_pause(two_sweeps: Path, args: list[str], needle: str) -> None:
    before = snapshot(two_sweeps.parent)
    assert_refused(run_cli("pause", *args, db=two_sweeps), needle)
    assert snapshot(two_sweeps.parent) == before
