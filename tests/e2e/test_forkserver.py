"""tests/forkserver.py: a worker forked by the server runs as the interpreter xdist meant to
start would, its exit comes back through the client, and without a server the client is
the worker itself. (The fast suite runs on it; these pin what its workers rely on.)"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

SCRIPT = str(Path(__file__).resolve().parents[1] / "forkserver.py")
BOOTSTRAP = "import sys;exec(eval(sys.stdin.readline()))"   # what xdist's client is given
# The worker's report: where it runs, what it was given, and who its parent is.
REPORT = ("import json, os, sys; print(json.dumps({'cwd': os.getcwd(), 'x': os.environ.get('X'),"
          " 'parent': os.getppid(), 'preloaded': 'colorsys' in sys.modules,"
          " 'fresh_main': 'serve' not in vars(sys.modules['__main__'])}));"
          " sys.stdout.flush(); sys.exit(3)")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    path = str(tmp_path / "socket")
    proc = subprocess.Popen([sys.executable, SCRIPT, "serve", path, "--preload=colorsys"])
    while not os.path.exists(path):
        assert proc.poll() is None, "the server ended before listening"
        time.sleep(0.01)
    yield proc, path
    proc.terminate()
    proc.wait()


def run_worker(path: str, code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, SCRIPT, "connect", path, "-u", "-c", BOOTSTRAP],
                          input=repr(code) + "\n", capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "X": "from the client"}, timeout=60)


def test_a_forked_worker_has_the_clients_streams_folder_and_environment(server, tmp_path):
    import json

    proc, path = server
    done = run_worker(path, REPORT, tmp_path)
    report = json.loads(done.stdout)
    assert done.returncode == 3, done.stderr
    assert report == {"cwd": str(tmp_path), "x": "from the client", "parent": proc.pid,
                      "preloaded": True, "fresh_main": True}   # not the server's, as `-c` has


def test_a_forked_worker_ends_as_an_interpreter_does(server, tmp_path):
    _, path = server
    ended = run_worker(path, "import atexit; atexit.register(print, 'atexit ran')", tmp_path)
    failed = run_worker(path, "raise LookupError('from the bootstrap')", tmp_path)
    assert (ended.returncode, ended.stdout) == (0, "atexit ran\n")
    assert failed.returncode == 1
    assert "LookupError: from the bootstrap" in failed.stderr.splitlines()[-1]


def test_a_worker_killed_by_a_signal_exits_as_a_shell_would_say(server, tmp_path):
    _, path = server
    done = run_worker(path, "import os, signal; os.kill(os.getpid(), signal.SIGKILL)", tmp_path)
    assert done.returncode == 128 + signal.SIGKILL


def test_without_a_server_the_client_becomes_the_worker(tmp_path):
    import json

    done = run_worker(str(tmp_path / "nobody-listens"), REPORT, tmp_path)
    report = json.loads(done.stdout)
    assert done.returncode == 3
    assert report["parent"] == os.getpid()   # exec'd in place: the test process's child
    assert (report["cwd"], report["x"], report["preloaded"]) == (str(tmp_path), "from the client",
                                                                False)
    assert "no server at" in done.stderr
