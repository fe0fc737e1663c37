"""Issue 10: the database stays the truth under hand edits, full disks and hostile values,
and every failure is one line.

Real SQLite files edited with the sqlite3 module as a person would, real `sweepq`
processes, the real SDK over HTTP to the fake API on 127.0.0.1.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, cli_env, enqueue, rows, run_cli

from sweepq import cli, report
from sweepq.backends import Reply
from sweepq.check import check, repair
from sweepq.explain import explain
from sweepq.fake import FakeAPI
from sweepq.queue import Queue, Result, Sweep
from sweepq.redact import mask
from sweepq.usage import Usage
from sweepq.worker import Worker, WorkerConfig

SUBTASKS = "boolean_expressions,web_of_lies"


def dump(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return "\n".join(conn.iterdump())
    finally:
        conn.close()


def one_line(done: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A refusal: non-zero, no traceback, exactly one line on stderr naming the needles."""
    assert done.returncode != 0, done.stdout
    assert "Traceback" not in done.stderr, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("sweepq: "), done.stderr
    for needle in needles:
        assert needle in done.stderr, done.stderr
    return done.stderr


@pytest.fixture(scope="session")
def finished_once(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep of 4 jobs, all done by a real `sweepq work`: made once, copied per test."""
    from sweepq.sample import write_sample

    root = tmp_path_factory.mktemp("finished")
    db = root / "sweepq.db"
    enqueue(db, write_sample(root / "bbh", n=50), n=2)
    with FakeAPI() as fake:
        run_cli("work", "--quiet", db=db, fake=fake, check=True)
    assert rows(db, "SELECT count(*) FROM results") == [(4,)]
    assert not Path(f"{db}-wal").exists()  # every connection closed: the file is the database
    return db


@pytest.fixture
def finished(db_path: Path, finished_once: Path) -> Path:
    """This test's own copy of the finished sweep (tests edit it)."""
    shutil.copyfile(finished_once, db_path)
    return db_path


# -- 1. a job done again is a result replaced -------------------------------------------------

def test_done_jobs_reset_by_hand_are_redone_with_one_result_each(finished, fake_api):
    rows(finished, "UPDATE jobs SET state = 'pending' WHERE job_id IN (1, 2)")
    done = run_cli("work", "--quiet", db=finished, fake=fake_api)
    assert done.returncode == 0, done.stderr
    assert rows(finished, "SELECT state, count(*) FROM jobs GROUP BY state") == [("done", 4)]
    assert rows(finished, "SELECT job_id, count(*) FROM results GROUP BY job_id") == \
        [(1, 1), (2, 1), (3, 1), (4, 1)]
    assert rows(finished, "SELECT job_id FROM results_history ORDER BY job_id") == [(1,), (2,)]


def test_complete_replaces_a_result_someone_else_wrote(db_path):
    queue = Queue.open(str(db_path))
    queue.enqueue(Sweep(name="s", arms=["a"]), [("t", {})])
    job = queue.claim("s", "w")
    with queue.write() as conn:      # a row written by hand while the job runs
        conn.execute("INSERT INTO results (job_id, passed, detail, sub_calls, completed_at)"
                     " VALUES (?, 0, 'by hand', 9, 0)", (job.job_id,))
    assert queue.complete(job.job_id, "w", Result(True, "passed", 1.0, 1))
    assert queue.read("SELECT detail, sub_calls FROM results") == \
        [{"detail": "passed", "sub_calls": 1}]
    assert queue.read("SELECT detail, why FROM results_history") == \
        [{"detail": "by hand", "why": "done again"}]
    assert queue.read("SELECT sum(n) AS n FROM result_buckets") == [{"n": 1}]
    assert check(queue) == []
    queue.close()


def test_retry_of_a_job_that_has_a_result_keeps_one_result(finished, fake_api):
    rows(finished, "UPDATE jobs SET state = 'error' WHERE job_id = 3")   # done -> error by hand
    assert rows(finished, "SELECT count(*) FROM results WHERE job_id = 3") == [(0,)]
    run_cli("retry", db=finished, check=True)
    assert run_cli("work", "--quiet", db=finished, fake=fake_api).returncode == 0
    assert rows(finished, "SELECT count(*), count(DISTINCT job_id) FROM results") == [(4, 4)]


# -- 2. counts come from the jobs; 3. check ---------------------------------------------------

def test_a_deleted_result_is_counted_checked_and_repaired(finished, fake_api):
    rows(finished, "DELETE FROM results WHERE job_id = 2")
    data = json.loads(run_cli("status", "--json", db=finished, check=True).stdout)
    assert data["total"] == 4 and data["states"]["done"] == 4
    assert sum(a["total"] for a in data["arms"]) == 4
    assert "1 done job without a result" in data["check"]
    assert "sweepq check" in run_cli("status", db=finished, check=True).stdout

    found = run_cli("check", db=finished)
    assert found.returncode == 1 and "Traceback" not in found.stderr
    assert "job 2 " in found.stdout and "done without a result" in found.stdout

    fixed = run_cli("check", "--repair", db=finished)
    assert fixed.returncode == 0, fixed.stdout + fixed.stderr
    assert "sent 1 done jobs without a result back to pending" in fixed.stdout
    assert rows(finished, "SELECT state FROM jobs WHERE job_id = 2") == [("pending",)]
    assert json.loads(run_cli("status", "--json", db=finished).stdout)["check"] is None
    assert run_cli("work", "--quiet", db=finished, fake=fake_api).returncode == 0
    assert run_cli("check", db=finished).returncode == 0


def test_check_finds_and_repairs_aggregates_and_leases(finished):
    rows(finished, "UPDATE result_buckets SET n = n + 5")
    rows(finished, "UPDATE jobs SET lease_owner = 'ghost' WHERE job_id = 1")
    queue = Queue.open(str(finished))
    queue.enqueue(Sweep(name="t", arms=["a"]), [("x", {})])
    queue.claim("t", "dead", lease_seconds=0.01)
    time.sleep(0.05)
    kinds = sorted(v.kind for v in check(queue))
    assert kinds == ["aggregate", "lease", "orphan_lease"]
    data = report.status(queue, queue.resolve_sweep("s"))
    assert data["states"]["done"] == 4 and "result_buckets" in data["check"]
    said = repair(queue)
    assert any("rebuilt result_buckets" in line for line in said)
    assert check(queue) == []
    assert report.status(queue, queue.resolve_sweep("s"))["check"] is None
    queue.close()


def test_check_reports_a_pause_with_impossible_times(finished):
    rows(finished, "INSERT INTO pauses (resume_at, reason, set_by, created_at)"
                   " VALUES (1e300, 'by hand', 'me', 0)")
    done = run_cli("check", db=finished)
    assert done.returncode == 1 and "pause 1: impossible times" in done.stdout
    status = run_cli("status", db=finished)          # an absurd pause still prints
    assert status.returncode == 0 and "Traceback" not in status.stderr, status.stderr


# -- 4. one line for every failure; 5. files written whole --------------------------------------

def corrupt_copy(source: Path, target: Path) -> Path:
    shutil.copy(source, target)
    data = bytearray(target.read_bytes())
    data[4096 * 2:] = b"\xa5" * (len(data) - 4096 * 2)
    target.write_bytes(bytes(data))
    return target


def test_export_from_a_corrupt_copy_is_one_line_and_keeps_the_previous_file(finished,
                                                                            tmp_path):
    out = tmp_path / "results.jsonl"
    run_cli("export", str(out), db=finished, check=True)
    before = out.read_bytes()
    bad = corrupt_copy(finished, tmp_path / "corrupt.db")
    for command in (["export", str(out)], ["report", "-o", str(tmp_path / "page.html")],
                    ["status"], ["summary"]):
        one_line(run_cli(*command, db=bad), "sweepq: error:")
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    assert run_cli("check", db=bad).returncode == 1


def test_export_to_a_full_device_is_one_line(finished):
    one_line(run_cli("export", "/dev/full", db=finished), "/dev/full", "space")
    one_line(run_cli("report", "-o", "/dev/full", db=finished), "/dev/full")


def without_dac(argv: list[str]) -> list[str]:
    """argv run so that file permissions apply, even to root (who otherwise ignores them)."""
    if os.geteuid() != 0:
        return argv
    if shutil.which("setpriv") is None:
        pytest.skip("root without setpriv: cannot make a folder read-only for this process")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}", *argv]


def run_limited(db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = without_dac([sys.executable, "-m", "sweepq", "--db", str(db), *args])
    return subprocess.run(argv, capture_output=True, text=True, env=cli_env(), cwd=ROOT,
                          timeout=60, check=False)


@pytest.mark.parametrize("locked", ["folder", "file"])
@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_a_read_only_database_reads_and_refuses_writes_in_one_line(finished, tmp_path, locked):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = folder / "sweepq.db"
    shutil.copy(finished, db)
    before = dump(db)
    target = folder if locked == "folder" else db
    target.chmod(stat.S_IRUSR | stat.S_IXUSR if locked == "folder" else stat.S_IRUSR)
    try:
        status = run_limited(db, "status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["total"] == 4
        export = run_limited(db, "export", "-")
        assert export.returncode == 0 and len(export.stdout.splitlines()) == 5, export.stderr
        assert run_limited(db, "summary").returncode == 0
        assert run_limited(db, "check").returncode == 0
        one_line(run_limited(db, "pause", "--for", "1h"), "the database", "is read-only")
        one_line(run_limited(db, "retry"), "is read-only")
    finally:
        target.chmod(stat.S_IRWXU)
    assert dump(db) == before


def test_an_internal_bug_says_so_and_shows_its_traceback_only_with_debug(finished,
                                                                        monkeypatch):
    def broken(*args, **kwargs):
        raise KeyError("a bug")

    monkeypatch.setattr(report, "status", broken)
    runner = CliRunner()
    quiet = runner.invoke(cli.main, ["--db", str(finished), "status"])
    assert quiet.exit_code == 1
    assert "internal error (a bug" in quiet.output and "--debug" in quiet.output
    assert "Traceback" not in quiet.output and quiet.output.count("\n") == 1
    loud = runner.invoke(cli.main, ["--debug", "--db", str(finished), "status"])
    assert loud.exit_code == 1 and "Traceback" in loud.output and "KeyError" in loud.output


def test_a_full_database_disk_is_one_line(db_path, sample_bbh, monkeypatch):
    """SQLITE_FULL for real: the database may not grow past its current pages."""
    from sweepq import db

    enqueue(db_path, sample_bbh, n=1)
    pragmas = db._pragmas

    def capped(conn, synchronous):
        pragmas(conn, synchronous)
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")

    monkeypatch.setattr(db, "_pragmas", capped)
    before = dump(db_path)
    done = CliRunner().invoke(cli.main, ["--db", str(db_path), "enqueue", "--sweep", "big",
                                         "--subtasks", SUBTASKS, "--n-per-subtask", "40",
                                         "--arms", "haiku-only,sonnet-only,echo-judge",
                                         "--dataset", str(sample_bbh)])
    assert done.exit_code == 1, done.output
    assert done.output.count("\n") == 1 and "Traceback" not in done.output
    assert "the disk holding the database is full" in done.output
    assert dump(db_path) == before


def test_watch_refuses_an_endless_interval(finished):
    one_line(run_cli("status", "--watch", "inf", db=finished), "--watch")


def test_sqlite_and_os_errors_are_explained(tmp_path):
    path = tmp_path / "x.db"
    first = sqlite3.connect(path, isolation_level=None)
    first.execute("CREATE TABLE t (x)")
    first.execute("BEGIN IMMEDIATE")
    second = sqlite3.connect(path, isolation_level=None, timeout=0)
    with pytest.raises(sqlite3.OperationalError) as busy:
        second.execute("BEGIN IMMEDIATE")
    assert "locked" in explain(busy.value) and "\n" not in explain(busy.value)
    first.execute("ROLLBACK")
    second.execute("PRAGMA query_only = ON")
    with pytest.raises(sqlite3.OperationalError) as read_only:
        second.execute("INSERT INTO t VALUES (1)")
    assert explain(read_only.value).startswith("the database is read-only")
    assert "no space left" in explain(OSError(28, "No space left on device", "/x"))
    assert explain(KeyError("bug")) is None


# -- 6. values have bounds ----------------------------------------------------------------------

@pytest.mark.parametrize("args, needle", [
    (["pause", "--for", "99999999999999999999d"], "--for"),
    (["pause", "--until", "9999-12-31T00:00"], "pause"),
    (["work", "--lease-seconds", "nan"], "--lease-seconds"),
    (["work", "--lease-seconds", "inf"], "--lease-seconds"),
    (["work", "--concurrency", "0"], "--concurrency"),
    (["work", "--max-wait", "1e400s"], "--max-wait"),
    (["work", "--max-attempts", "0"], "--max-attempts"),
])
def test_out_of_range_values_are_refused_with_the_database_unchanged(finished, fake_api, args,
                                                                    needle):
    before = dump(finished)
    one_line(run_cli(*args, db=finished, fake=fake_api), needle)
    assert dump(finished) == before


def test_an_infinite_pause_is_refused_and_the_dump_is_byte_identical(finished):
    before = dump(finished)
    done = run_cli("pause", "--for", "99999999999999999999d", db=finished)
    one_line(done, "--for")
    assert dump(finished) == before
    assert run_cli("status", db=finished).returncode == 0


@pytest.mark.parametrize("row, needle", [
    ({"sub_calls": -1}, "sub_calls"),
    ({"sub_calls": 10**12}, "sub_calls"),
    ({"wall_seconds": -3.0}, "wall_seconds"),
    ({"wall_seconds": float("nan")}, "wall_seconds"),
    ({"wall_seconds": float("inf")}, "wall_seconds"),
    ({"_meta": {"n_per_subtask": -2}}, "n_per_subtask"),
    ({"_meta": {"start": 1.5}}, "start"),
    ({"_meta": {"arms": "a,b"}}, "arms"),
])
def test_import_refuses_absurd_numbers(finished, tmp_path, row, needle):
    meta = {"_meta": True, "benchmark": "bbh", "subtasks": ["x"], "n_per_subtask": 1,
            "start": 0, "arms": ["a"]}
    good = {"task_id": "bbh/x/0", "arm": "a", "passed": True, "detail": "passed",
            "wall_seconds": 1.0, "sub_calls": 1}
    meta.update(row.get("_meta", {}))
    good.update({k: v for k, v in row.items() if k != "_meta"})
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(meta) + "\n" + json.dumps(good) + "\n")
    before = dump(finished)
    one_line(run_cli("import", str(path), db=finished), needle, "nothing imported")
    assert dump(finished) == before


# -- 7. secrets ---------------------------------------------------------------------------------

def test_env_secret_values_of_any_shape_are_masked(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "proxy-token-Zq81xx")
    monkeypatch.setenv("ANTHROPIC_AUTH_TOKEN", "abc")             # too short to mask
    assert mask("key proxy-token-Zq81xx and sk-ant-api03-Abc_d") == "key *** and sk-ant-***"
    assert mask("abc stays: a short value is not masked") == \
        "abc stays: a short value is not masked"


def test_an_echoed_env_secret_never_reaches_database_output_or_files(db_path, sample_bbh,
                                                                    tmp_path):
    secret = "corp-gateway-TOKEN-5f2e9a71"
    enqueue(db_path, sample_bbh, n=1)
    echo = {"status": 400, "body": {"type": "error", "error": {
        "type": "invalid_request_error", "message": f"bad request from {secret}"}}}
    with FakeAPI() as fake:
        fake.script([echo, echo])
        env = cli_env(fake, ANTHROPIC_API_KEY=secret)
        work = run_cli("work", "--quiet", "--concurrency", "1", db=db_path, env=env)
        page = tmp_path / "page.html"
        outputs = [work.stdout, work.stderr,
                   run_cli("status", "--json", db=db_path, env=env).stdout,
                   run_cli("export", "--include-errors", "-", db=db_path, env=env).stdout]
        run_cli("report", "-o", str(page), db=db_path, env=env, check=True)
    assert rows(db_path, "SELECT count(*) FROM jobs WHERE state = 'error'") == [(2,)]
    outputs.append(page.read_text())
    for path in db_path.parent.glob(db_path.name + "*"):
        outputs.append(path.read_bytes().decode("latin-1"))
    assert all(secret not in text for text in outputs)
    assert any("bad request from ***" in text for text in outputs)


# -- 8. what the model did, recorded ----------------------------------------------------------

def message(text: str, stop_reason: str) -> dict:
    return {"status": 200, "body": {
        "id": "msg_x", "type": "message", "role": "assistant", "model": "claude-haiku-4-5",
        "content": [{"type": "text", "text": text}] if text else [],
        "stop_reason": stop_reason, "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5}}}


def test_refusals_empty_and_cut_off_replies_get_their_own_detail(db_path, sample_bbh):
    enqueue(db_path, sample_bbh, n=2)                                  # 4 jobs, in order
    with FakeAPI() as fake:
        fake.script([message("I can't help with that.", "refusal"), message("", "end_turn"),
                     message("Let me think step by step about the first", "max_tokens")])
        done = run_cli("work", "--quiet", "--concurrency", "1", db=db_path, fake=fake)
    assert done.returncode == 0, done.stderr
    assert rows(db_path, "SELECT job_id, passed, detail FROM results JOIN jobs USING (job_id)"
                         " WHERE job_id <= 3 ORDER BY position") == \
        [(1, 0, "refusal"), (2, 0, "empty reply"), (3, 0, "cut off at max_tokens")]
    assert rows(db_path, "SELECT stop_reason FROM calls ORDER BY call_id") == \
        [("refusal",), ("end_turn",), ("max_tokens",), ("end_turn",)]
    data = json.loads(run_cli("summary", "--json", db=db_path, check=True).stdout)
    assert data["arms"][0]["not_answered"] == \
        {"refusal": 1, "empty reply": 1, "cut off at max_tokens": 1}
    assert "no answer (not passes)" in run_cli("summary", db=db_path, check=True).stdout


# -- 9. signals and disk faults ---------------------------------------------------------------

@pytest.mark.slow   # over 4 s on an idle machine: the fast suite stays under a minute
def test_sighup_stops_like_sigterm(db_path, sample_bbh):
    enqueue(db_path, sample_bbh, n=10)
    with FakeAPI() as fake:
        fake.config.latency_ms = 200
        proc = subprocess.Popen([sys.executable, "-m", "sweepq", "--db", str(db_path), "work",
                                 "--quiet", "--concurrency", "2"], env=cli_env(fake), cwd=ROOT,
                                text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 30
        while fake.stats()["requests"] < 2:
            assert time.monotonic() < deadline
            time.sleep(0.05)
        proc.send_signal(signal.SIGHUP)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err
    assert "stopped by signal" in out
    assert rows(db_path, "SELECT count(*) FROM jobs WHERE state = 'running'") == [(0,)]


class TurnsReadOnly:
    """A backend that answers, and after its first answer makes the database unwritable."""

    def __init__(self, queue: Queue) -> None:
        self.queue, self.calls = queue, 0

    def send(self, model: str, system: str | None, prompt: str, max_tokens: int) -> Reply:
        self.calls += 1
        if self.calls == 2:
            with self.queue._lock:
                self.queue.conn.execute("PRAGMA query_only = ON")
        return Reply("Answer: True", Usage(10, 5), stop_reason="end_turn")


def test_a_database_that_turns_unwritable_mid_run_stops_with_how_to_carry_on(db_path,
                                                                           sample_bbh):
    from sweepq.arms import BUILTIN
    from sweepq.bbh import load_tasks

    queue = Queue.open(str(db_path))
    sweep = Sweep(name="p", arms=["haiku-only"])
    tasks = load_tasks(["web_of_lies"], 6, 0, str(sample_bbh))
    queue.enqueue(sweep, [(t.task_id, t.payload()) for t in tasks])
    worker = Worker(queue, sweep, {"haiku-only": BUILTIN["haiku-only"]}, TurnsReadOnly(queue),
                    WorkerConfig(concurrency=1, lease_seconds=30))
    outcome = worker.run()
    assert outcome.exit_code == 1
    assert "the database failed" in outcome.message and "read-only" in outcome.message
    assert "sweepq work" in outcome.message and "internal error" not in outcome.message
    queue.close()
    states = dict(rows(db_path, "SELECT state, count(*) FROM jobs GROUP BY state"))
    assert states.get("done") == 1 and states.get("running", 0) <= 1      # left to its lease
    assert rows(db_path, "SELECT count(*) FROM jobs WHERE state = 'running'"
                         " AND lease_expires_at IS NULL") == [(0,)]
