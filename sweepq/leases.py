"""Leases as values: who holds one (host and process), whether that process is gone, and
which leases a sweep is waiting out (`waits` words them).

A lease owner is `HOST:PID:THREAD` (`worker.WorkerConfig.worker_name` is `HOST:PID`, each
thread adds its number): the host and process id a lease records. A worker on the same
host can tell that process is gone (`os.kill(pid, 0)`) and take its jobs back at once,
instead of waiting the lease out; a lease from another host is waited out, as any lease
of a live process is. Nothing here touches the database.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class LeaseLost(BaseException):
    """This worker no longer holds the job: its lease was taken back (it stalled past it,
    or a heartbeat failed). Stop the job's chain at once: make no call, write nothing.

    A BaseException, so an arm's own `except Exception` cannot swallow it."""


_sending = threading.local()


@contextmanager
def checked_at_send(check: Callable[[], None] | None) -> Iterator[None]:
    """Run `check` (raises LeaseLost) once more as the request leaves this thread.

    A worker stopped (SIGSTOP, a laptop asleep) after its last lease check but before its
    request went out would send it on waking, for a job another worker took meanwhile:
    the backend's HTTP client calls `check_now` from its request hook, so the window is
    the socket write alone."""
    _sending.check = check
    try:
        yield
    finally:
        _sending.check = None


def check_now(*_request: object) -> None:
    """The lease check of the call this thread is sending, if any (an httpx request hook)."""
    check = getattr(_sending, "check", None)
    if check is not None:
        check()


def this_host() -> str:
    import socket  # here: most commands never ask, and socket costs start-up

    return socket.gethostname()


def holder(owner: str | None) -> tuple[str, int] | None:
    """(host, pid) of a lease owner `HOST:PID[:THREAD]`; None when it is not that shape."""
    if not owner:
        return None
    parts = owner.split(":")
    for pid_at in (len(parts) - 2, len(parts) - 1):   # HOST:PID:THREAD, or HOST:PID
        if pid_at >= 1 and parts[pid_at].isdigit():
            return ":".join(parts[:pid_at]), int(parts[pid_at])
    return None


def process_gone(pid: int) -> bool:
    """True when no process `pid` exists on this host (one we may not signal still exists)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False
    return False


@dataclass(frozen=True)
class LeaseWait:
    """The running jobs of one worker process whose lease the sweep may have to wait out.

    `gone`: True when the process is known to be gone (this host; the next worker takes
    its jobs back at once), False when it is alive here, None when it is on another host
    (its lease is waited out). `expires_at`: when the last of its leases runs out (unix
    seconds); `expired`: how many of its leases already ran out (claimable now)."""

    process: str
    host: str | None
    pid: int | None
    jobs: int
    expired: int
    expires_at: float
    gone: bool | None

    def taken_back_at(self, now: float) -> float:
        """When the next worker will take these jobs back: now if gone or all expired."""
        if self.gone or self.expired == self.jobs:
            return now
        return self.expires_at


@dataclass(frozen=True)
class LeaseWaits:
    """`Queue.lease_waits(sweep)`: the leases of running jobs that are stale or held by a
    process other than the caller's, one `LeaseWait` per process, soonest first."""

    now: float
    waits: tuple[LeaseWait, ...]

    @property
    def jobs(self) -> int:
        return sum(w.jobs for w in self.waits)

    @property
    def stale(self) -> int:
        """Jobs whose lease ran out or whose process is gone: taken back by the next claim."""
        return sum(w.jobs if w.gone else w.expired for w in self.waits)
