"""Calls to the Message Batches API, failing as live calls fail.

Every call the batch runner makes (create, retrieve, list, results, cancel) meets the
same overloads, 5xx, rate limits and dropped connections as a live call, and is
classified the same way (`failures.api.classify`): transient, unreachable and
rate-limited failures are tried again with jittered backoff (never sooner than a
`retry-after`), up to API_TRIES tries; a fatal or exhausted one, or the last try,
raises `BatchApiFailed`, which ends the run with the exit code a live worker would
use (2 for fatal, 75 otherwise) and its jobs given back, never "internal error".
Whether a retry is safe is the caller's business: `batch.BatchRunner._submit` looks
for a batch a failed create may have made before creating it again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import SweepqError
from .failures import Failure
from .failures.api import classify
from .queue import Queue

API_TRIES = 8                       # 1 s doubling: about four minutes of trying
WAIT_FIRST, WAIT_MAX = 1.0, 300.0
RETRIED = ("transient", "unreachable", "rate_limited")

T = TypeVar("T")


class BatchApiFailed(Exception):
    """A Message Batches call that failed for good."""

    def __init__(self, what: str, failure: Failure) -> None:
        super().__init__(f"{what}: {failure.message}")
        self.what, self.failure = what, failure


class Stopped(Exception):
    """The run was stopped (a signal, --max-wait) while a call waited to be tried again."""


def api_errors() -> tuple[type[BaseException], ...]:
    """What a failed API call raises: the SDK's errors, and httpx's while a streamed
    body (the results JSONL) is read, which the SDK does not wrap."""
    import anthropic
    import httpx2 as httpx

    return anthropic.APIError, httpx.HTTPError


def call(what: str, fn: Callable[[], T], sleep: Callable[[float], object],
         tries: int = API_TRIES) -> T:
    """`fn()`, tried again on a transient failure; `sleep(seconds)` returns True when the
    run is stopping (then `Stopped` is raised instead of trying again)."""
    errors, delay = api_errors(), 0.0
    for attempt in range(1, tries + 1):
        try:
            return fn()
        except errors as exc:
            failure = classify(exc)
            if failure.kind not in RETRIED or attempt == tries:
                raise BatchApiFailed(what, failure) from exc
            advised = failure.resume_at - time.time() if failure.resume_at else 0.0
            delay = min(max(advised, WAIT_FIRST, delay * 2 * random.uniform(0.75, 1.0)),
                        WAIT_MAX)
            if sleep(delay):
                raise Stopped from exc
    raise AssertionError("unreachable: the last try raises")


def cancel(queue: Queue, batch_id: str, client: Any,
           sleep: Callable[[float], Any] = time.sleep) -> Any:
    """Cancel a batch of this database at the API (`sweepq batches cancel`): its
    unfinished requests go out again in the next round. Records what the API answered,
    so `sweepq batches` says it now, not after the next poll; returns the batch."""
    key = queue.batch_key_of(batch_id)
    if key is None:
        raise SweepqError(f"{batch_id} is not a batch of this database: see `sweepq batches`")
    try:   # retried as a live call's transient failure
        batch = call(f"cancel {batch_id}", lambda: client.messages.batches.cancel(batch_id),
                     sleep)
    except BatchApiFailed as exc:
        raise SweepqError(f"the Message Batches API failed ({exc.failure.kind}) to {exc}: "
                          "nothing was canceled; try again later") from None
    queue.batch_polled(key, batch.request_counts.model_dump(),
                       batch.ended_at.timestamp() if batch.ended_at else None)
    return batch
