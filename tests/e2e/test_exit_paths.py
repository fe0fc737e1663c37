"""How `work` ends: the exit code a finished sweep gets, and no signal death on any exit.

Issue 23, defects 11 and 12: `work` sometimes died of SIGSEGV (exit 139) on its
internal-error exit path (the connection was closed while a thread was still inside a
statement on it, and threads a signal abandoned ran on while the interpreter was torn
down); a finished sweep with a future pause exited 75; sweep names could be empty or
hold newlines.
"""

from __future__ import annotations

import signal
import sqlite3
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from conftest import ROOT, cli_env, run_cli
from forkstart import ForkServer

from sweepq.fake import FakeAPI, FakeConfig


def _enqueue(db: Path, dataset: Path, n: int = 2, *extra: str) -> None:
    run_cli("enqueue", "--sweep", "x", "--subtasks", "web_of_lies", "--n-per-subtask", str(n),
            "--arms", "haiku-only", "--dataset", str(dataset), *extra, db=db, check=True)


def test_a_finished_sweep_with_a_future_pause_exits_0(db_path, sample_bbh, fake_api):
    _enqueue(db_path, sample_bbh)
    assert run_cli("work", "--quiet", db=db_path, fake=fake_api).returncode == 0
    assert run_cli("pause", "--for", "1h", db=db_path).returncode == 0
    again = run_cli("work", "--quiet", db=db_path, fake=fake_api)
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("name", ["", "two\nlines", "tab\there", " lead", "x" * 129, "a/b"])
def test_a_sweep_name_outside_the_documented_set_is_refused_in_one_line(db_path, sample_bbh,
                                                                        name):
    done = run_cli("enqueue", "--sweep", name, "--subtasks", "web_of_lies", "--n-per-subtask",
                   "1", "--arms", "haiku-only", "--dataset", str(sample_bbh), db=db_path)
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "--sweep" in done.stderr
    assert "letters, digits" in done.stderr
    assert not db_path.exists()                    # nothing written, not even the file


def test_import_refuses_a_sweep_name_outside_the_set(db_path, tmp_path):
    source = tmp_path / "r.jsonl"
    source.write_text('{"task_id": "t/1", "arm": "a", "passed": true, "detail": "passed",'
                      ' "wall_seconds": 1.0, "sub_calls": 1}\n')
    done = run_cli("import", "--sweep", "bad\nname", str(source), db=db_path)
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert not db_path.exists()


# -- no signal death on any exit path (slow: 100 real processes) -------------------------

# An arm whose answer breaks the worker after its model call (a str whose strip() raises,
# outside every guard an arm failure has): the internal-error exit, with other threads'
# calls in flight (the fake answers after 0.3 s).
BREAKS = textwrap.dedent('''
    class Broken(str):
        def strip(self, *args):
            raise RuntimeError("boom")


    def breaks(task, client):
        client.call("haiku", task.prompt, max_tokens=8)
        return Broken("no answer here")


    def slow(task, client):
        return client.call("haiku", task.prompt, max_tokens=8)


    ARMS = {"breaks": breaks, "slow": slow}
''')


def _run(server: ForkServer, db: Path, env: dict[str, str], how: str) -> tuple[int, str]:
    argv = ["--db", str(db), "work", "--quiet", "--concurrency", "8", "--arms-module",
            "exit_arms", "--lease-seconds", "5"]
    proc = server.start(argv, env, ROOT, db.parent)
    if how == "signal":
        # Its handlers are in place once it holds a job; on a loaded machine the start alone
        # can take many seconds, and a signal before then is a test error, not a death.
        deadline = time.monotonic() + 600
        while not _running(db) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert proc.poll() is not None or _running(db), "the worker never claimed a job"
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)             # apart, or the kernel merges the two into one
        proc.send_signal(signal.SIGTERM)   # a second signal: release now, abandon calls
    code = proc.wait(timeout=120)
    return code, proc.stderr.read_text()[-500:]


def _running(db: Path) -> bool:
    with sqlite3.connect(db, timeout=30) as conn:
        return conn.execute("SELECT count(*) FROM jobs WHERE state = 'running'"
                            ).fetchone()[0] > 0


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_no_exit_path_ends_in_a_signal_death(tmp_path, sample_bbh, monkeypatch):
    """40 internal-error exits (an arm breaks the worker while 7 other calls are in flight),
    30 signal exits (two SIGTERMs while 8 calls are in flight: released, threads
    abandoned), 30 fatal exits (401): each exits with its code, none dies of a signal."""
    (tmp_path / "exit_arms.py").write_text(BREAKS)
    monkeypatch.syspath_prepend(str(tmp_path))
    templates = {"internal": "slow,breaks", "signal": "slow", "fatal": "slow,breaks"}
    for how, arms in templates.items():
        run_cli("enqueue", "--sweep", "x", "--subtasks", "web_of_lies", "--n-per-subtask",
                "8", "--arms", arms, "--arms-module", "exit_arms", "--dataset",
                str(sample_bbh), db=tmp_path / f"{how}.template", check=True)
    runs = {"internal": 40, "signal": 30, "fatal": 30}
    with FakeAPI(FakeConfig(latency_ms=300)) as quick, \
            FakeAPI(FakeConfig(latency_ms=5000)) as slow, \
            FakeAPI(FakeConfig(valid_api_keys={"sk-ant-other"})) as refusing:
        fakes = {"internal": quick, "signal": slow, "fatal": refusing}
        jobs = []
        for how, n in runs.items():
            for i in range(n):
                db = tmp_path / f"{how}{i}.db"
                db.write_bytes((tmp_path / f"{how}.template").read_bytes())
                jobs.append((how, db, cli_env(fakes[how], PYTHONPATH=str(tmp_path))))
        server = ForkServer(cli_env(), ROOT)
        try:
            with ThreadPoolExecutor(4) as pool:
                codes = list(pool.map(lambda j: (j[0], *_run(server, j[1], j[2], j[0])), jobs))
        finally:
            server.close()
    deaths = [(how, code, err) for how, code, err in codes if code < 0 or code > 128]
    assert not deaths, deaths
    expected = {"internal": 1, "signal": 0, "fatal": 2}
    wrong = [(how, code, err) for how, code, err in codes if code != expected[how]]
    assert not wrong, wrong
