"""One run of the `claude` binary: its retries off, watched line by line.

sweepq owns retry policy for the CLI as for the API (the SDK's `max_retries=0`): the
child gets `CLAUDE_CODE_MAX_RETRIES=0`. At its defaults 2.1.328 retries a refused key, a
429, a 500 and a 529 ten times over about three minutes, longer than any sensible call
timeout, so a refused key would look like a hung CLI instead of a fatal error. Should a
CLI retry anyway (an older build, a setting that wins), its `system`/`api_retry` line
ends the run at once: the failure it names is classified like any other.

The timeout is one of silence, not of length: the run is stopped as hung only when it
prints nothing for `idle_seconds` (`--include-partial-messages` makes a long answer
print as it streams). Nothing here names the binary's path or the prompt in a message,
since messages are journaled.
"""

from __future__ import annotations

import os
import selectors
import subprocess
import threading
import time
from dataclasses import dataclass

# What the child gets on top of the caller's environment.
CHILD_ENV = {"CLAUDE_CODE_MAX_RETRIES": "0"}
_RETRY_MARK = b'"api_retry"'


@dataclass(frozen=True)
class CliRun:
    """What one run printed and how it ended. `stopped` says why sweepq ended it:
    "hung" (silent too long), "retrying" (an `api_retry` line), or None."""

    returncode: int
    stdout: str
    stderr: str
    stopped: str | None = None


def run_claude(argv: list[str], prompt: str | None, idle_seconds: float) -> CliRun:
    """Run `argv` with `prompt` on stdin (None: the prompt is in `argv`, stdin is empty)
    until it exits, falls silent, or retries. With plain-text output the CLI prints only
    at the end, so there the silence limit is a limit on the whole run."""
    env = {**os.environ, **CHILD_ENV}
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL if prompt is None else subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    if prompt is not None:
        threading.Thread(target=_feed, args=(proc, prompt.encode("utf-8")),
                         daemon=True).start()
    chunks: dict[int, list[bytes]] = {proc.stdout.fileno(): [],   # type: ignore[union-attr]
                                      proc.stderr.fileno(): []}   # type: ignore[union-attr]
    stopped = _watch(proc, chunks, idle_seconds)
    if stopped is not None:
        proc.kill()
    returncode = proc.wait()
    out, err = (b"".join(chunks[f]).decode("utf-8", "replace") for f in chunks)
    return CliRun(returncode, out, err, stopped)


def _feed(proc: subprocess.Popen[bytes], data: bytes) -> None:
    """Write the prompt and close stdin (a thread: a long prompt may fill the pipe)."""
    try:
        proc.stdin.write(data)  # type: ignore[union-attr]
        proc.stdin.close()      # type: ignore[union-attr]
    except OSError:             # the child exited without reading it all
        pass


def _watch(proc: subprocess.Popen[bytes], chunks: dict[int, list[bytes]],
           idle_seconds: float) -> str | None:
    """Collect both pipes until they close; "hung" or "retrying" when stopped early."""
    stdout_fd = proc.stdout.fileno()  # type: ignore[union-attr]
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        last = time.monotonic()
        tail = b""
        while sel.get_map():
            ready = sel.select(timeout=max(0.0, last + idle_seconds - time.monotonic()))
            if not ready:
                return "hung"
            for key, _ in ready:
                data = os.read(key.fd, 65536)
                if not data:
                    sel.unregister(key.fd)
                    continue
                last = time.monotonic()
                chunks[key.fd].append(data)
                if key.fd == stdout_fd:
                    lines = (tail + data).split(b"\n")
                    tail = lines.pop()
                    if any(_RETRY_MARK in line and b'"system"' in line for line in lines):
                        return "retrying"
    return None
