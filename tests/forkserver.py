"""xdist's workers forked from one process that has imported the heavy libraries once.

Each xdist worker is a new interpreter, and each imported for itself what nearly every test
needs: anthropic (1.7 s of CPU), sqlite-utils with pandas, hypothesis, datasets, openai and
google-genai, about 4.5 s a worker. Four at once on two cores, the first test started ten
seconds into a warm run. With this plugin the controller starts one server that imports them
all once; each worker's "python" is a small client that passes the server its standard
streams, and the server forks a copy of itself onto them that runs xdist's bootstrap, as the
interpreter xdist meant to start would have.

Nothing depends on it: a client that cannot reach the server runs the worker itself (an
`os.execv` of the interpreter), and `-p no:forkserver` leaves xdist's workers as they are.
"""
from __future__ import annotations

import json
import os
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import NoReturn

# What the bootstrap and collection import (anthropic through sweepq.fake), then what tests
# import later. On a fresh clone (nothing compiled) a second process compiles the later ones
# on the other core meanwhile, and once all is imported two copies of the server collect
# half the tests each, so that pytest's rewritten test modules are cached before the
# workers start and none of them compiles anything.
PRELOAD = ("anthropic", "sqlite_utils", "hypothesis", "pytest", "xdist.remote", "click.testing",
           "sweepq.api", "sweepq.cli", "sweepq.fake.inprocess")
LATER = ("openai", "google.genai", "datasets")
STARTED_AT_MOST = 10.0   # seconds for the server to listen; the clients then wait in its backlog
FORKED = b"forked "   # the server's first word to a client, before the exit code


def pytest_configure(config) -> None:   # noqa: ANN001 (pytest's type would be imported here)
    """In the controller of a run of folders on local workers (`-n N`): start the server and
    give xdist the client as each worker's interpreter. (A run of chosen files is left as it
    is: its workers may need a fraction of what the server would import.)"""
    tx = config.getoption("tx", None) or []
    if "PYTEST_XDIST_WORKER" in os.environ or not tx or any(spec != "popen" for spec in tx):
        return
    if not any(Path(arg.split("::")[0]).is_dir() for arg in config.args):
        return
    path = os.path.join(tempfile.mkdtemp(prefix="sweepq-fork-"), "socket")
    server = subprocess.Popen([sys.executable, __file__, "serve", path, *config.args])
    config.add_cleanup(lambda: _stop(server, path))
    deadline = time.monotonic() + STARTED_AT_MOST
    while not os.path.exists(path) and server.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    client = shlex.join([sys.executable, __file__, "connect", path])
    config.option.tx = [f"popen//python={client}"] * len(tx)


def _stop(server: subprocess.Popen[bytes], path: str) -> None:
    server.terminate()
    server.wait()
    shutil.rmtree(os.path.dirname(path), ignore_errors=True)


# -- the client: each worker's "python" ---------------------------------------------------------

def connect(path: str, argv: list[str]) -> NoReturn:
    """Hand stdin, stdout and stderr to the server, and exit with the forked worker's code.

    The server answers "forked" first, then the exit code. Without the first (no server, or
    it ended before forking) this process becomes the worker; after it, never: the forked
    one owns the streams. Ctrl-C is the worker's to handle, as it reaches it too."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    reply = b""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(path)
            request = {"cwd": os.getcwd(), "env": dict(os.environ), "argv": argv}
            socket.send_fds(conn, [json.dumps(request).encode()], [0, 1, 2])
            while chunk := conn.recv(16):
                reply += chunk
    except OSError:
        pass
    if not reply.startswith(FORKED):
        print(f"tests/forkserver.py: no server at {path}: this worker imports for itself",
              file=sys.stderr)
        signal.signal(signal.SIGINT, signal.SIG_DFL)   # an ignored signal outlives exec
        os.execv(sys.executable, [sys.executable, *argv])
    code = reply[len(FORKED):]
    os._exit(int(code) if code.isdigit() else 1)


# -- the server ---------------------------------------------------------------------------------

def serve(path: str, preload: tuple[str, ...], later: tuple[str, ...] = (),
          tests: tuple[str, ...] = ()) -> None:
    """Import, then fork a worker for each client until the controller is gone."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C stops the workers, not this
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(path)
        listener.listen(16)
        _import_all(preload, later, tests)
        workers: dict[int, socket.socket] = {}
        controller = os.getppid()
        while os.getppid() == controller:
            if select.select([listener], [], [], 0.1)[0]:
                conn = listener.accept()[0]
                workers[_fork(conn, listener)] = conn
            _report_exits(workers)


def _import_all(preload: tuple[str, ...], later: tuple[str, ...], tests: tuple[str, ...]) -> None:
    import gc
    import importlib.util
    import threading

    fresh = not all(os.path.exists(importlib.util.find_spec(name).cached or "") for name in later)
    compiling = [subprocess.Popen([sys.executable, "-c", f"import {', '.join(later)}"])
                 for _ in later[:1] if fresh]   # on the other core meanwhile
    for name in preload + later:
        __import__(name)
    for process in compiling:
        process.wait()
    assert threading.active_count() == 1, "an import started a thread: forking would be unsafe"
    gc.freeze()   # the imported objects are never freed: copies share their pages
    if fresh and tests:
        for pid in [_collect(files) for files in _halves(tests)]:
            os.waitpid(pid, 0)


def _halves(tests: tuple[str, ...]) -> list[list[str]]:
    """The test files under `tests` (pytest's arguments), in two halves."""
    files = sorted(str(file) for arg in tests for path in [Path(arg.split("::")[0])]
                   for file in (path.rglob("test_*.py") if path.is_dir() else [path]))
    return [files[0::2], files[1::2]]


def _collect(files: list[str]) -> int:
    """A fresh clone: a copy collects `files`, so pytest rewrites those test modules and
    writes them to __pycache__ (two copies, one a core) before any worker starts."""
    pid = os.fork()
    if pid:
        return pid
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    import pytest

    sys.exit(pytest.main(["--collect-only", "-q", "-p", "no:xdist", "-p", "no:forkserver",
                          "-p", "no:cacheprovider", *files]))   # exits as a process does


def _report_exits(workers: dict[int, socket.socket]) -> None:
    while workers:
        pid, status = os.waitpid(-1, os.WNOHANG)
        if pid == 0:
            return
        conn = workers.pop(pid)
        code = os.waitstatus_to_exitcode(status)   # negative: the signal's number, as a shell says
        conn.sendall(str(code if code >= 0 else 128 - code).encode())
        conn.close()


def _fork(conn: socket.socket, listener: socket.socket) -> int:
    message, fds, _, _ = socket.recv_fds(conn, 1 << 20, 3)
    pid = os.fork()
    if pid:
        for fd in fds:
            os.close(fd)
        conn.sendall(FORKED)
        return pid
    listener.close()
    conn.close()
    _become_worker(json.loads(message), fds)


def _become_worker(request: dict, fds: list[int]) -> NoReturn:
    """In the forked copy: the client's streams, folder, environment and Ctrl-C, then xdist's
    bootstrap as `python -u -c` runs it, in a `__main__` of its own, to the same end."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    for number, fd in enumerate(fds):
        os.dup2(fd, number)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = ["-c"]
    sys.stdin = open(0, closefd=False)   # noqa: SIM115 (the process's own streams)
    sys.stdout = open(1, "w", buffering=1, closefd=False)   # noqa: SIM115
    sys.stderr = open(2, "w", buffering=1, closefd=False)   # noqa: SIM115
    argv = request["argv"]
    main = sys.modules["__main__"] = types.ModuleType("__main__")
    exec(argv[argv.index("-c") + 1], main.__dict__)   # noqa: S102
    # The end as the interpreter's: an exception or SystemExit from the bootstrap, or this,
    # unwinds through the server's frames (nothing there catches it) to the interpreter's
    # exit, which runs the atexit handlers (conftest's removal of its datasets folder).
    sys.exit(0)


# serve PATH [TEST ...] | serve PATH --preload=MODULE,... | connect PATH ARG ...
if __name__ == "__main__":
    role, *rest = sys.argv[1:]
    if role == "serve" and rest[1:2] and rest[1].startswith("--preload="):   # as tests start it
        serve(rest[0], tuple(rest[1].removeprefix("--preload=").split(",")))
    elif role == "serve":
        serve(rest[0], PRELOAD, LATER, tuple(rest[1:]))
    else:
        connect(rest[0], rest[1:])
