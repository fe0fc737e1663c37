"""What a run is given and what it gives back: its settings, its tally, its exit code.

Shared by the live worker and the batch runner (and read by `cli` and `api`).
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from . import bounds, caching
from .errors import SweepqError

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_DATABASE = 1           # the database failed (full, read-only, corrupt): not a bug, same code
EXIT_FATAL = 2
EXIT_TEMPFAIL = 75          # sysexits EX_TEMPFAIL: try again later
EXIT_INCOMPLETE = 3         # nothing left to run, but some jobs ended in `error`


def this_process() -> str:
    """The `HOST:PID` every worker of this process is named after (its threads add `:N`)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class WorkerConfig:
    concurrency: int = 8
    lease_seconds: float = 120.0
    max_wait: float | None = None       # exit 75 rather than wait out a longer pause
    grace_seconds: float = 30.0         # on a signal: time in-flight jobs get to finish
    governor: bool = True               # pace calls from the rate-limit headers (governor.py)
    cache: str = "5m"                   # prompt caching lifetime, or "off" (caching.py)
    worker_name: str = field(default_factory=this_process)

    def __post_init__(self) -> None:
        bounds.count("concurrency", self.concurrency, 1, bounds.MAX_CONCURRENCY)
        bounds.duration("lease_seconds", self.lease_seconds, 1.0, 86400.0)
        if self.max_wait is not None:
            bounds.duration("max_wait", self.max_wait)
        try:
            caching.check_ttl(self.cache)
        except ValueError as exc:
            raise SweepqError(str(exc), "cache") from None


@dataclass
class Tally:
    """What this process did, for the progress bar and the closing line."""

    done: int = 0
    passed: int = 0
    failed_attempts: int = 0


@dataclass(frozen=True)
class Outcome:
    """How a run ended: the exit code and its one line (empty when it finished), what it
    did, how many threads a second signal left in a model call (the process must then
    end without finalising the interpreter), and the batch runner's rounds."""

    exit_code: int
    message: str
    tally: Tally
    stranded: int = 0
    rounds: int = 0
