"""The sandbox runs real code in real processes: verdicts, limits, isolation, the caller safe.

Each test uses a short timeout; the isolation tests assert the namespaces were really
used where this machine allows them (Linux as root: here and in CI), so a silently
weakened sandbox fails here instead of passing without isolation.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from conftest import ECHO_RESULTS

from sweepq import sandbox, sandbox_child
from sweepq.sandbox import Limits, SandboxError, run_check, run_program

# generous for runs that end by themselves (a loaded machine starts interpreters slowly);
# the tests that mean to time out use their own short timeouts
SHORT = Limits(timeout=5)
PRIVILEGED = sys.platform == "linux" and os.geteuid() == 0
needs_root = pytest.mark.skipif(not PRIVILEGED, reason="namespaces need Linux as root")

PROMPT = 'def add(a: int, b: int) -> int:\n    """Sum of a and b."""\n'
TEST = ("\n\ndef check(candidate):\n    assert candidate(2, 3) == 5\n"
        "    assert candidate(-1, 1) == 0\n")


def _processes() -> list[tuple[int, int, str, int]]:
    """(pid, uid, state, parent pid) of every process now."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                uid = os.stat(f"/proc/{name}").st_uid
                state, ppid = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[:2]
            except OSError:
                continue
            found.append((int(name), uid, state, int(ppid)))
    return found


def _live_pids_of(uid: int) -> list[int]:
    """Processes of `uid` that are not zombies."""
    return [pid for pid, owner, state, _ in _processes() if owner == uid and state != "Z"]


def test_correct_code_passes_and_reports_isolation():
    out = run_check(PROMPT, "    return a + b\n", TEST, "add", SHORT)
    assert (out.passed, out.detail) == (True, "passed")
    if PRIVILEGED:
        assert (out.network_isolated, out.pid_namespace, out.own_user) == (True, True, True)


@pytest.mark.parametrize(("code", "detail"), [
    ("    return a - b\n", "AssertionError"),
    ("    return a +\n", "SyntaxError: invalid syntax"),
    ("return a + b\n", "SyntaxError: 'return' outside function"),
    ("    return n + b\n", "NameError: name 'n' is not defined"),
])
def test_failures_carry_the_teams_detail(code, detail):
    out = run_check(PROMPT, code, TEST, "add", SHORT)
    assert (out.passed, out.detail) == (False, detail)


def test_an_infinite_loop_is_killed_at_the_timeout():
    out = run_check(PROMPT, "    while True:\n        pass\n", TEST, "add", Limits(timeout=0.5))
    assert (out.passed, out.detail) == (False, "timeout (>0.5s)")


def test_the_default_timeout_reads_as_in_the_teams_files():
    details = {json.loads(line)["detail"] for line in
               (ECHO_RESULTS / "20260517T021334Z_n50.jsonl").read_text().splitlines()}
    assert Limits().timeout == 10
    assert sandbox.timeout_detail(Limits().timeout) in details


def test_exiting_before_the_tests_end_is_not_a_pass():
    out = run_check(PROMPT, "    return a + b\nimport sys\nsys.exit(0)\n", TEST, "add", SHORT)
    assert (out.passed, out.detail) == (False, "exited before check() returned")


@needs_root
def test_no_connection_reaches_a_loopback_server():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.settimeout(0.3)
        port = server.getsockname()[1]
        code = f"import socket\nsocket.create_connection(('127.0.0.1', {port}), timeout=1)\n"
        out = run_program(code, SHORT)
        assert out.network_isolated
        assert (out.passed, out.detail) == (False, "OSError: [Errno 101] Network is unreachable")
        with pytest.raises(TimeoutError):
            server.accept()
        # the same program without the namespace does connect: the check above can fail
        open_net = run_program(code, Limits(timeout=5, isolate_network=False))
        assert not open_net.network_isolated and open_net.passed
        server.accept()[0].close()


@needs_root
def test_writes_outside_the_directory_fail_or_stay_private(tmp_path):
    watched = tmp_path / "watched"
    watched.mkdir()
    watched.chmod(0o777)  # even a world-writable directory outside is out of reach
    scratch = Path("/tmp") / f"sweepq-escape-{os.getpid()}"
    code = f"""
import os
open("inside.txt", "w").write("ok")
open(os.path.join(os.environ["HOME"], "home.txt"), "w").write("ok")
results = {{}}
for path in ({str(watched / 'x')!r}, "../escape", {str(scratch)!r}, "/var/tmp/escape"):
    try:
        open(path, "w").write("x")
        results[path] = "written"
    except OSError as e:
        results[path] = type(e).__name__
print(results)
print(os.getcwd())
"""
    out = run_program(code, SHORT)
    assert out.passed and out.own_user
    results, cwd = out.stdout.splitlines()
    assert "'../escape': 'PermissionError'" in results
    assert f"{str(watched / 'x')!r}: 'written'" not in results
    assert list(watched.iterdir()) == []
    assert not scratch.exists() and not Path("/var/tmp/escape").exists()
    assert not Path(cwd).exists()  # the run's directory is gone


@needs_root
def test_the_callers_packages_are_out_of_reach():
    out = run_program("import sweepq\n", SHORT)
    assert out.detail == "ModuleNotFoundError: No module named 'sweepq'"


def test_the_environment_is_clean(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-secret")
    out = run_program("import os, json\nprint(json.dumps(dict(os.environ)))\n", SHORT)
    env = json.loads(out.stdout)
    assert "ANTHROPIC_API_KEY" not in env and "sk-ant-secret" not in out.stdout
    cwd = run_program("import os\nprint(os.getcwd())\n", SHORT).stdout.strip()
    assert Path(env["HOME"]).name == Path(cwd).name == "work"
    assert env["HOME"] == env["TMPDIR"]


@needs_root
def test_a_fork_bomb_is_contained_and_cleaned_up():
    bomb = """
import os, time
print(os.getuid(), flush=True)
while True:
    try:
        if os.fork() == 0:
            os.write(1, b"child\\n")
    except OSError:
        time.sleep(0.01)
"""
    limits = Limits(timeout=2, processes=16)
    out = run_program(bomb, limits)
    assert out.detail == "timeout (>2s)"
    uid = int(out.stdout.splitlines()[0])
    assert 0 < out.stdout.count("child\n") < limits.processes
    assert _live_pids_of(uid) == []
    assert subprocess.run(["true"]).returncode == 0  # the caller can still start processes


@needs_root
def test_a_daemon_left_behind_is_killed():
    code = """
import os, time
if os.fork() == 0:
    os.setsid()
    time.sleep(60)
print(os.getuid())
"""
    out = run_program(code, SHORT)
    assert out.passed
    assert _live_pids_of(int(out.stdout)) == []


def test_huge_output_is_capped():
    code = "import sys\nfor _ in range(8):\n    sys.stdout.write('x' * 1_000_000)\n"
    limits = Limits(timeout=5, output_bytes=4096)
    out = run_program(code, limits)
    assert out.passed
    assert "bytes dropped" in out.stdout
    assert len(out.stdout) < limits.output_bytes * 2


def test_memory_and_file_size_limits():
    mem = run_program("x = bytearray(3 << 30)\n", Limits(timeout=5, memory_bytes=1 << 30))
    assert mem.detail == "MemoryError"
    big = run_program("open('f', 'wb').write(b'x' * (2 << 20))\n",
                      Limits(timeout=5, file_bytes=1 << 20))
    assert big.detail == "OSError: [Errno 27] File too large"


def test_the_cpu_limit_kills_with_a_named_signal():
    out = run_program("while True:\n    pass\n", Limits(timeout=5, cpu_seconds=1))
    assert out.detail == "killed by SIGXCPU (CPU time limit)"


def test_a_sandbox_failure_raises_instead_of_failing_the_test():
    with pytest.raises(SandboxError, match="sandbox setup failed"):
        run_program("pass\n", Limits(timeout=5, open_files=-5))


def test_the_caller_is_unharmed():
    def fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    before = (fds(), threading.active_count())
    for code, limits in (("pass\n", SHORT), ("while True: pass\n", Limits(timeout=0.3)),
                         (f"import os\nos.kill({os.getpid()}, 9)\n", SHORT),
                         ("import os, signal\nos.killpg(0, signal.SIGKILL)\n", SHORT)):
        run_program(code, limits)
    assert (fds(), threading.active_count()) == before
    assert [pid for pid, _, _, ppid in _processes() if ppid == os.getpid()] == []


def test_concurrent_runs_from_threads_keep_their_verdicts_apart():
    """The worker runs jobs on threads: runs side by side must not mix pipes or proofs."""
    codes = {i: ("    return a + b\n" if i % 2 else "    return a * b\n") for i in range(6)}
    results: dict[int, str] = {}

    def one(i: int) -> None:
        results[i] = run_check(PROMPT, codes[i], TEST, "add", SHORT).detail

    threads = [threading.Thread(target=one, args=(i,)) for i in codes]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == {i: "passed" if i % 2 else "AssertionError" for i in codes}


def _wait_for(condition, seconds: float = 10) -> bool:
    """Poll `condition` until it holds or `seconds` pass (a bound, not a timing claim)."""
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(condition())


@needs_root
def test_a_caller_killed_mid_run_takes_the_run_with_it(tmp_path):
    caller = subprocess.Popen(  # its run's directory stays behind: put it in tmp_path
        [sys.executable, "-c", "from sweepq.sandbox import Limits, run_program\n"
         "run_program('import time\\ntime.sleep(60)\\n', Limits(timeout=30))\n"],
        env={**os.environ, "TMPDIR": str(tmp_path)})
    launchers = lambda: [pid for pid, _, _, ppid in _processes() if ppid == caller.pid]  # noqa: E731
    assert _wait_for(launchers)
    uid = sandbox_child.UID_BASE + launchers()[0]  # the run's own user id
    assert _wait_for(lambda: _live_pids_of(uid)), "the sandboxed program never started"
    caller.kill()
    caller.wait()
    assert _wait_for(lambda: not _live_pids_of(uid))


def test_non_ascii_code_and_output_survive():
    out = run_program("s = 'größe ≤ 10'\nprint(s)\nassert len(s) == 10\n", SHORT)
    assert (out.passed, out.stdout) == (True, "größe ≤ 10\n")
