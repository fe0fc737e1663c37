"""Run a model's code against a problem's tests in a throwaway process, and say how it went.

One process per run, in its own empty temporary directory, with a clean environment,
lowered resource limits and, where the OS allows, new network and PID namespaces and a
user id of its own (`sandbox_child.py` does that setup in the child). At the timeout the
whole process group, and with a PID namespace every process the program started, is
killed. Nothing the program does should reach the caller: its output is read up to a cap,
its files vanish with its directory, and a failure of the sandbox itself raises
`SandboxError` instead of becoming a failed test (an infrastructure failure is never a
wrong answer).

`Outcome.detail` follows the team's result files: `passed`, `timeout (>10s)`, or the last
line of the program's stderr (the exception line such as `AssertionError` or
`SyntaxError: invalid syntax`) cut at 160 characters. Two cases their runner never met get
sentences of their own: a program that exits 0 before `check` returns is not a pass, and a
program killed by a signal with nothing on stderr names the signal.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import secrets
import select
import selectors
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

TIMEOUT_S = 10.0
DETAIL_MAX = 160
_CHILD = Path(__file__).with_name("sandbox_child.py")
_GRACE_S = 1.0  # reading what is left once the program is gone


class SandboxError(RuntimeError):
    """The sandbox could not run the program at all: infrastructure, not a wrong answer."""


@dataclass(frozen=True)
class Limits:
    """What one run may use. `cpu_seconds` None: the timeout rounded up, plus one."""

    timeout: float = TIMEOUT_S
    cpu_seconds: int | None = None
    memory_bytes: int = 1 << 30
    file_bytes: int = 16 << 20
    processes: int = 32
    open_files: int = 256
    output_bytes: int = 64 << 10
    isolate_network: bool = True


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True)
class Outcome:
    """How one run went, and how isolated it really was on this machine."""

    passed: bool
    detail: str
    seconds: float
    network_isolated: bool
    pid_namespace: bool
    own_user: bool
    stdout: str
    stderr: str


def compose(prompt: str, code: str, test: str, entry_point: str) -> str:
    """The program the team's harness ran: prompt, code, test, then `check(entry_point)`."""
    return f"{prompt}\n{code}\n{test}\ncheck({entry_point})\n"


def run_check(prompt: str, code: str, test: str, entry_point: str,
              limits: Limits = DEFAULT_LIMITS) -> Outcome:
    """Run `code` under the problem's `prompt` against its `test`."""
    return run_program(compose(prompt, code, test, entry_point), limits)


class _Capped:
    """The first `cap` bytes of a stream and its last `cap // 4`, the middle counted."""

    def __init__(self, cap: int):
        self.cap, self.head, self.tail, self.dropped = cap, bytearray(), bytearray(), 0

    def add(self, data: bytes) -> None:
        room = self.cap - len(self.head)
        self.head += data[:room]
        self.tail += data[room:] if room < len(data) else b""
        excess = len(self.tail) - self.cap // 4
        if excess > 0:
            del self.tail[:excess]
            self.dropped += excess

    def text(self) -> str:
        mid = f"\n[... {self.dropped} bytes dropped ...]\n".encode() if self.dropped else b""
        return bytes(self.head + mid + self.tail).decode("utf-8", "replace")


def _epilogue(fd: int, nonce: str) -> str:
    """Written after `check(...)`: proof that the tests ran to their end."""
    return f"__import__('os').write({fd}, b'{nonce}')\n"


def _config(work: Path, limits: Limits, report: int, sentinel: int) -> str:
    cpu = limits.cpu_seconds or math.ceil(limits.timeout) + 1
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(work), "TMPDIR": str(work),
           "LANG": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
    return json.dumps({
        "work": str(work), "python": sys.executable, "env": env, "report": report,
        "parent": os.getpid(),
        "base_python": os.path.realpath(sys.executable),
        "prefix": os.path.realpath(sys.base_prefix),
        "sentinel": sentinel, "cpu_seconds": cpu, "memory_bytes": limits.memory_bytes,
        "file_bytes": limits.file_bytes, "processes": limits.processes,
        "open_files": limits.open_files, "isolate_network": limits.isolate_network,
    })


def _kill(proc: subprocess.Popen[bytes], pidfd: int | None) -> None:
    """SIGKILL the namespace's init and wait for it (the kernel has then killed every process
    in the namespace), let the launcher reap it, then SIGKILL the whole process group."""
    if pidfd is not None:
        with contextlib.suppress(OSError):
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            select.select([pidfd], [], [], _GRACE_S)  # readable once it has exited
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(_GRACE_S)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


def _remove(base: Path) -> None:
    """Delete the run's directory even if the program took its own permissions away."""
    def fix(func: object, path: str, _exc: object) -> None:
        with contextlib.suppress(OSError):
            os.chmod(os.path.dirname(path), 0o700)
            os.chmod(path, 0o700)
            shutil.rmtree(path) if os.path.isdir(path) else os.unlink(path)

    if sys.version_info >= (3, 12):
        shutil.rmtree(base, onexc=fix)
    else:
        shutil.rmtree(base, onerror=fix)


class _Run:
    """One launched program: its pipes, what they said, and the kill."""

    def __init__(self, proc: subprocess.Popen[bytes], report: int, proof: int, cap: int):
        assert proc.stdout is not None and proc.stderr is not None
        self.proc, self.pidfd = proc, None
        self.out, self.err = _Capped(cap), _Capped(cap)
        self.report, self.proof = bytearray(), bytearray()
        self.sel = selectors.DefaultSelector()
        for fd, sink in ((proc.stdout.fileno(), self.out.add),
                         (proc.stderr.fileno(), self.err.add),
                         (report, self.report.extend), (proof, self.proof.extend)):
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, sink)

    def messages(self) -> dict:
        """The launcher's report lines merged: net, pidns, uid, init, status, setup_error."""
        merged: dict = {}
        for line in bytes(self.report).decode("utf-8", "replace").splitlines():
            with contextlib.suppress(ValueError):
                merged.update(json.loads(line))
        return merged

    def pump(self, until: float, stop_on_exit: bool) -> None:
        """Read every pipe until `until`, EOF on all, or (`stop_on_exit`) the launcher's end."""
        while self.sel.get_map():
            left = until - time.monotonic()
            if left <= 0:
                return
            for key, _ in self.sel.select(min(left, 0.05)):
                data = os.read(key.fd, 65536)
                if data:
                    key.data(data)
                else:
                    self.sel.unregister(key.fd)
            self._watch_init()
            if stop_on_exit and self.proc.poll() is not None:
                return

    def _watch_init(self) -> None:
        """A pidfd on the program's first process while it is surely not yet reaped."""
        if self.pidfd is None:
            msgs = self.messages()
            if msgs.get("init") and "status" not in msgs and hasattr(os, "pidfd_open"):
                with contextlib.suppress(OSError):
                    self.pidfd = os.pidfd_open(msgs["init"])

    def finish(self) -> None:
        """Kill whatever is left, read the pipes' last bytes, reap the launcher."""
        _kill(self.proc, self.pidfd)
        self.pump(time.monotonic() + _GRACE_S, stop_on_exit=False)
        self.proc.wait()
        self.sel.close()
        for f in (self.proc.stdout, self.proc.stderr):
            if f is not None:
                f.close()
        if self.pidfd is not None:
            os.close(self.pidfd)


def _launch(work: Path, source: str, limits: Limits, nonce: str) -> tuple[_Run, list[int]]:
    """Start the launcher; returns the run and the read ends the caller must close."""
    report_r, report_w = os.pipe()
    proof_r, proof_w = os.pipe()
    try:
        (work / "program.py").write_text(source + _epilogue(proof_w, nonce), encoding="utf-8")
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(_CHILD), _config(work, limits, report_w, proof_w)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            pass_fds=(report_w, proof_w), start_new_session=True, cwd=work, env={},
        )
    except BaseException:
        for fd in (report_r, proof_r):
            os.close(fd)
        raise
    finally:
        os.close(report_w)
        os.close(proof_w)
    return _Run(proc, report_r, proof_r, limits.output_bytes), [report_r, proof_r]


def timeout_detail(timeout: float) -> str:
    """The team's words for a killed run: `timeout (>10s)` at the default."""
    return f"timeout (>{timeout:g}s)"


def _signal_detail(sig: int) -> str:
    try:
        name = signal.Signals(sig).name
    except ValueError:
        name = f"signal {sig}"
    return f"killed by {name}" + (" (CPU time limit)" if sig == signal.SIGXCPU else "")


def _detail(status: int, proved: bool, stderr: str) -> str:
    """The team's detail for a finished program (see the module's docstring)."""
    exited_ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    if exited_ok and proved:
        return "passed"
    if exited_ok:
        return "exited before check() returned"
    lines = stderr.strip().splitlines()
    if lines:
        return lines[-1][:DETAIL_MAX]
    if os.WIFSIGNALED(status):
        return _signal_detail(os.WTERMSIG(status))
    return "<no stderr>"


def _outcome(run: _Run, limits: Limits, nonce: str, timed_out: bool,
             seconds: float) -> Outcome:
    msgs = run.messages()
    stderr = run.err.text()
    if "setup_error" in msgs:
        raise SandboxError(f"sandbox setup failed: {msgs['setup_error']}")
    if "init" not in msgs or ("status" not in msgs and not timed_out):
        last = (stderr.strip().splitlines() or ["no output"])[-1]
        raise SandboxError(f"the sandbox launcher died ({last[:DETAIL_MAX]})")
    if timed_out:
        detail = timeout_detail(limits.timeout)
    else:
        detail = _detail(msgs["status"], bytes(run.proof) == nonce.encode(), stderr)
    return Outcome(
        passed=detail == "passed", detail=detail, seconds=seconds,
        network_isolated=bool(msgs["net"]), pid_namespace=bool(msgs["pidns"]),
        own_user=msgs["uid"] is not None, stdout=run.out.text(), stderr=stderr,
    )


def run_program(source: str, limits: Limits = DEFAULT_LIMITS) -> Outcome:
    """Run a Python program in the sandbox; raise `SandboxError` if the sandbox failed."""
    base = Path(tempfile.mkdtemp(prefix="sweepq-sandbox-"))
    try:
        os.chmod(base, 0o711)  # traversable, not writable: "../x" fails for the program
        work = base / "work"
        work.mkdir(mode=0o700)
        nonce = secrets.token_hex(16)
        started = time.monotonic()
        run, fds = _launch(work, source, limits, nonce)
        try:
            run.pump(started + limits.timeout, stop_on_exit=True)
            timed_out = run.proc.poll() is None and "status" not in run.messages()
        finally:  # also on KeyboardInterrupt: nothing of the run outlives this call
            run.finish()
            for fd in fds:
                os.close(fd)
        return _outcome(run, limits, nonce, timed_out, time.monotonic() - started)
    finally:
        _remove(base)
