"""`python -m sweepq` processes started by fork from an interpreter that imported the SDK.

Importing the Anthropic SDK costs about 2 s of CPU a process here (3,400 modules); a test
that starts a hundred workers spends most of its time there, none of it on what it tests.
This script imports the SDK once, then forks a process per request. Each is a process of
its own, as `python -m sweepq` would start it: its own pid, environment, working folder,
import path (the folder first, then PYTHONPATH), standard streams and default signal
handlers; sweepq's modules are imported in it; it takes real signals; and it ends the way
a started one ends, by the interpreter's own finalisation (the SystemExit of `sweepq`'s
`__main__` leaves this script's top level) or by sweepq's `os._exit`. Only the SDK's
import is shared.

Protocol: one JSON request a line on stdin ({"id", "argv", "env", "cwd", "stdout",
"stderr"}, the last two file paths); on stdout "ID pid PID" once the process runs and
"ID exit CODE" when it ends (CODE as `Popen.returncode`: -N for a death by signal N).
A supervisor forked per request waits for the process, so the server never blocks.
The client half is `ForkServer`, below.
"""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path


def _serve() -> None:
    """Fork a supervisor per request line. Each supervisor is waited for (at the end, if
    not before), so the processes' CPU counts in the test's own, as a started one's does."""
    import anthropic  # noqa: F401  (the point: imported once, before every fork)

    # What a fork inherits stays shared: the collector leaves the SDK's objects alone
    # (they are never garbage), so a process does not copy every page of them at its
    # final collection (0.5 s of CPU a process, as much as the rest of a run).
    gc.freeze()
    os.write(1, b"ready\n")
    base_path = sys.path[1:]                            # without this script's folder
    while line := sys.stdin.readline():
        request = json.loads(line)
        if os.fork() == 0:
            pid = os.fork()
            if pid == 0:
                _become(request, base_path)
                return                                  # run sweepq at the top level
            _report(request["id"], "pid", pid)
            _, status = os.waitpid(pid, 0)
            _report(request["id"], "exit", os.waitstatus_to_exitcode(status))
            os._exit(0)
        _reap(os.WNOHANG)
    _reap(0)
    sys.exit(0)


def _reap(flags: int) -> None:
    """Wait for the supervisors that have ended (with 0: for all of them)."""
    try:
        while os.waitpid(-1, flags)[0] != 0:
            pass
    except ChildProcessError:
        pass


def _report(run: int, what: str, value: int) -> None:
    os.write(1, f"{run} {what} {value}\n".encode())


def _become(request: dict, base_path: list[str]) -> None:
    """Turn this fork into a fresh `python -m sweepq ARGV` process's surroundings."""
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdin = open(0, closefd=False)                  # noqa: SIM115
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    os.environ.clear()
    os.environ.update(request["env"])
    os.chdir(request["cwd"])
    extra = [p for p in request["env"].get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [request["cwd"], *extra, *base_path]
    sys.argv = ["sweepq", *request["argv"]]


class Forked:
    """One forked `sweepq` process, as the test sees it: a pid to signal, a return code."""

    def __init__(self, pid: Future[int], code: Future[int], stderr: Path) -> None:
        self._pid, self._code, self.stderr = pid, code, stderr

    @property
    def pid(self) -> int:
        return self._pid.result(timeout=120)

    def poll(self) -> int | None:
        return self._code.result() if self._code.done() else None

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            os.kill(self.pid, sig)

    def wait(self, timeout: float) -> int:
        return self._code.result(timeout=timeout)


class ForkServer:
    """The server above, started once; `start(argv, env, cwd, tmp)` forks a process."""

    def __init__(self, env: dict[str, str], cwd: Path) -> None:
        self._proc = subprocess.Popen([sys.executable, __file__], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=env, cwd=cwd)
        assert self._proc.stdout is not None and self._proc.stdout.readline() == "ready\n"
        self._lock = threading.Lock()
        self._futures: dict[tuple[int, str], Future[int]] = {}
        self._next = 0
        self._started: list[Forked] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _future(self, run: int, what: str) -> Future[int]:
        with self._lock:
            return self._futures.setdefault((run, what), Future())

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            run, what, value = line.split()
            self._future(int(run), what).set_result(int(value))

    def start(self, argv: list[str], env: dict[str, str], cwd: Path, tmp: Path) -> Forked:
        with self._lock:
            run, self._next = self._next, self._next + 1
        stderr = tmp / f"run{run}.stderr"
        request = {"id": run, "argv": argv, "env": env, "cwd": str(cwd),
                   "stdout": os.devnull, "stderr": str(stderr)}
        forked = Forked(self._future(run, "pid"), self._future(run, "exit"), stderr)
        self._started.append(forked)
        assert self._proc.stdin is not None
        with self._lock:
            self._proc.stdin.write(json.dumps(request) + "\n")
            self._proc.stdin.flush()
        return forked

    def close(self) -> None:
        """End the server; a process still running (a failed test's) is killed."""
        for forked in self._started:
            if forked.poll() is None:
                forked.send_signal(signal.SIGKILL)
        assert self._proc.stdin is not None
        self._proc.stdin.close()
        self._proc.wait(timeout=60)
        self._reader.join(timeout=10)
        assert self._proc.stdout is not None
        self._proc.stdout.close()


if __name__ == "__main__":
    _serve()
    # Only a forked process gets here: `python -m sweepq` from this top level, so its
    # SystemExit ends the interpreter as it ends a started one.
    import runpy

    runpy.run_module("sweepq", run_name="__main__", alter_sys=True)
