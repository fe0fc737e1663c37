"""The model map, prices, and the per-job client arms call (on a `backends.Backend`).

`JobClient` is what an arm sees. It resolves model aliases with the sweep's
model map, serves calls already journaled by an earlier attempt of the same
job (replay: a retried job never pays twice for a call that succeeded),
retries transient failures with backoff inside the attempt, journals every
call, and adds up calls, tokens and cost for the result row.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from .backends import Backend, Reply
from .errors import SweepqError
from .failures import CallFailed
from .failures.api import classify
from .governor import MAX_GOVERNED_RETRIES, Cost, Governor
from .leases import LeaseLost, checked_at_send
from .prompts import UNSET_MAX_TOKENS
from .queue import Call, Job, Queue
from .ratelimits import read as read_ratelimits
from .usage import NOTHING, Usage
from .vendors import target

# Aliases an arm may use, and the model ids they mean unless the sweep says otherwise.
# A sweep stores its full map when enqueued, so changing a default here never changes
# the ids of an existing sweep. (claude-sonnet-4-5 reaches end-of-life on 2026-11-30
# and claude-opus-4-5 on 2027-01-22: the SDK warns on every call to them.)
DEFAULT_MODELS: dict[str, str] = {
    "haiku": "claude-haiku-4-5",
    "sonnet": "claude-sonnet-4-6",
    "opus": "claude-opus-4-6",
}

# USD per million tokens: (input, output, cache write, cache read). Edit here.
# A dated id (claude-haiku-4-5-20251001) is priced by its undated prefix.
# Other vendors' models (openai:, gemini:, local:) have no entry yet: their official
# pricing pages were not at hand to cite with a date, and a guessed price is worse than
# none. Their calls' cost is unknown (None), which `summary` shows as "price unknown"
# (`unpriced_models` in --json), never as $0. Add one here, keyed by the vendor's own id
# (`gpt-5.4-mini`), with its page and the date read.
PRICES: dict[str, tuple[float, float, float, float]] = {
    "claude-haiku-4-5": (1.00, 5.00, 1.25, 0.10),
    "claude-sonnet-4-6": (3.00, 15.00, 3.75, 0.30),
    "claude-opus-4-6": (5.00, 25.00, 6.25, 0.50),
    "claude-sonnet-4-5": (3.00, 15.00, 3.75, 0.30),
    "claude-sonnet-4": (3.00, 15.00, 3.75, 0.30),
    "claude-opus-4-5": (5.00, 25.00, 6.25, 0.50),
    "claude-opus-4-1": (15.00, 75.00, 18.75, 1.50),
    "claude-3-5-haiku": (0.80, 4.00, 1.00, 0.08),
}

HOUR_WRITE_FACTOR = 2.0
TRANSIENT_TRIES = 3


def price(model: str, usage: Usage, hour_writes: int = 0) -> float | None:
    """USD for a call from its real token counts; None for a model with no price.

    `hour_writes`: of its cache writes, those for 1 hour (priced 2x the input, not 1.25x;
    the reply says how many, the `Usage` columns do not)."""
    if usage.cost_usd is not None:
        return usage.cost_usd
    if usage == Usage():   # no count reported at all (the CLI in text mode): unknown, not $0
        return None
    model = target.parse(model).model if ":" in model else model
    rates = PRICES.get(model) or next(
        (p for prefix, p in PRICES.items() if model.startswith(prefix + "-")), None)
    if rates is None:
        return None
    hour = min(hour_writes, usage.cache_write_tokens)
    tokens = (usage.input_tokens, usage.output_tokens, usage.cache_write_tokens - hour,
              usage.cache_read_tokens)
    # A 1-hour cache write: 2x the input price (Anthropic's prompt caching page).
    return (sum(n * rate for n, rate in zip(tokens, rates, strict=True))
            + hour * rates[0] * HOUR_WRITE_FACTOR) / 1_000_000


def parse_model_pairs(pairs: Sequence[str]) -> dict[str, str]:
    """`["haiku=claude-haiku-4-5", "judge=openai:gpt-5.4-mini"]` → `{"haiku": …, "judge": …}`.

    A model id may name its provider (`vendors.target`); a bare id is Claude's.
    """
    models = {}
    for pair in pairs:
        alias, sep, model_id = pair.partition("=")
        if not sep or not alias.strip() or not model_id.strip():
            raise SweepqError(f"{pair!r} is not ALIAS=MODEL_ID (e.g. "
                              "haiku=claude-haiku-4-5)", "model_pairs")
        target.parse(model_id.strip())   # a provider prefix must be one sweepq knows
        models[alias.strip()] = model_id.strip()
    return models


def parse_model_map(pairs: Sequence[str]) -> dict[str, str]:
    """`["haiku=claude-haiku-4-5", ...]` → the full alias map with defaults filled in."""
    return {**DEFAULT_MODELS, **parse_model_pairs(pairs)}


class QueuePaused(Exception):
    """The queue was paused while this job ran: stop before the next call, lose nothing.

    The calls made so far are journaled, so the released job replays them later.
    `scope` is set when the pause is one provider's: the job's arm needs that scope.
    """

    def __init__(self, scope: str | None = None) -> None:
        super().__init__(scope or "queue paused")
        self.scope = scope


class WorkerStopping(QueuePaused):
    """The worker is stopping (SIGINT, SIGTERM, SIGHUP): no new call starts, not even
    the retry inside an attempt. Released like a pause: the calls made so far are
    journaled and replay when the job runs again."""

    def __init__(self) -> None:
        super().__init__()
        self.args = ("worker stopping",)


def request_hash(model: str, system: str | None, prompt: str, max_tokens: int) -> str:
    canonical = json.dumps([model, system, prompt, max_tokens], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


class JobClient:
    """The client an arm gets for one attempt of one job.

    What the attempt's calls added up to, for the result row: `calls`, `usage` (tokens
    and cost, priced) and `models_used` (the model ids called, first use first).
    """

    def __init__(self, queue: Queue, job: Job, backend: Backend, models: dict[str, str],
                 sleep: Callable[[float], None] | None = None,
                 governor: Governor | None = None, stopping: threading.Event | None = None,
                 lease: Callable[[], None] | None = None):
        self.queue, self.job, self.backend, self.models = queue, job, backend, models
        self.governor = governor
        # Set when the worker stops: no call starts after it, and a backoff ends at once.
        self.stopping = stopping or threading.Event()
        # The worker's check that its lease is live (raises LeaseLost): with one, every
        # call and journal write is made only while this worker still holds the job.
        self._lease = lease
        self._seen = 0                  # the last call_id read from the journal
        self._own: set[int] = set()     # call_ids this attempt journaled itself
        self.calls = 0
        self.usage = NOTHING
        self.models_used: list[str] = []
        self._sleep = sleep or self.stopping.wait
        self._lock = threading.Lock()
        self._next_index = 0
        self._replay: dict[str, deque[Call]] = defaultdict(deque)
        self._stops: dict[int, tuple[str, str | None]] = {}   # call index -> (text, stop_reason)
        self._merge(queue.journal_since(job.job_id, 0))

    def call(self, model: str, prompt: str, *, system: str | None = None,
             max_tokens: int | None = 1024) -> str:
        return self._call(self._take_index(), model, prompt, system, max_tokens)

    def call_many(self, requests: Sequence[tuple[str, str, str | None]],
                  max_tokens: int | None = 1024) -> list[str]:
        """Several calls at once (threads), results in request order.

        Indices are taken in request order before any call starts, so the
        journal's order does not depend on which call returns first.
        """
        indices = [self._take_index() for _ in requests]
        results: list[str | BaseException | None] = [None] * len(requests)

        def run(i: int) -> None:
            model, prompt, system = requests[i]
            try:
                results[i] = self._call(indices[i], model, prompt, system, max_tokens)
            except BaseException as exc:  # re-raised below, in the arm's thread
                results[i] = exc

        threads = [threading.Thread(target=run, args=(i,), daemon=True)
                   for i in range(1, len(requests))]
        for thread in threads:
            thread.start()
        run(0)
        for thread in threads:
            thread.join()
        for outcome in results:
            if isinstance(outcome, BaseException):
                raise outcome
        return [str(outcome) for outcome in results]

    def _take_index(self) -> int:
        with self._lock:
            self._next_index += 1
            return self._next_index - 1

    def _call(self, index: int, alias: str, prompt: str, system: str | None,
              max_tokens: int | None) -> str:
        model = self.models.get(alias, alias)
        if max_tokens is None:   # a set that leaves it unset; the CLI sends none anyway
            max_tokens = UNSET_MAX_TOKENS
        digest = request_hash(model, system, prompt, max_tokens)
        replayed = self._replayed(index, model, digest)
        if replayed is None and self._lease is not None:
            # About to pay: the job must still be ours, and a call another holder journaled
            # meanwhile (it took the job while this worker stalled) is replayed, not bought.
            self._check_lease()
            replayed = self._replayed(index, model, digest)
        if replayed is not None:
            return replayed
        return self._send(index, model, digest, system, prompt, max_tokens)

    def _check_lease(self) -> None:
        """Raise LeaseLost unless this worker still holds the job; take in what the journal
        gained meanwhile from any other holder."""
        if self._lease is None:
            return
        self._lease()
        with self._lock:
            new, held = self.queue.journal_if_held(self.job.job_id, self.job.lease_owner,
                                                   self._seen)
            if not held:
                raise LeaseLost(f"job {self.job.job_id} is no longer held by "
                                f"{self.job.lease_owner}")
            self._merge(new)

    def _merge(self, calls: list[tuple[int, Call]]) -> None:
        """Add journaled calls not made by this attempt to what it replays (caller holds
        the lock, or no other thread exists yet)."""
        for call_id, call in calls:
            self._seen = max(self._seen, call_id)
            if call_id not in self._own:
                self._replay[call.request_hash].append(call)

    def _journal(self, call: Call) -> None:
        """Journal a call of this attempt, only while the job is still ours (LeaseLost if
        not); its id is noted under the lock a journal re-read takes, so the attempt never
        replays its own call."""
        owner = self.job.lease_owner if self._lease is not None else None
        with self._lock:
            call_id = self.queue.record_call(call, owner)
            if call_id is None:
                raise LeaseLost(f"job {self.job.job_id} was taken back before its call "
                                "was journaled")
            self._own.add(call_id)

    def _send(self, index: int, model: str, digest: str, system: str | None, prompt: str,
              max_tokens: int) -> str:
        """A call the journal does not have: make it now, journal it, count it. (The batch
        runner's client defers it to a batch instead.)"""
        scope = target.parse(model).scope
        pause = self.queue.active_pause(scope)
        if pause is not None:
            raise QueuePaused(pause.scope)
        reply, latency = self._send_with_retries(index, model, digest, system, prompt,
                                                 max_tokens)
        usage = replace(reply.usage, cost_usd=price(model, reply.usage,
                                                     reply.cache_write_1h_tokens))
        self._journal(Call(
            job_id=self.job.job_id, attempt=self.job.attempts, call_index=index, model=model,
            request_hash=digest, response_text=reply.text, usage=usage,
            latency_seconds=latency, stop_reason=reply.stop_reason))
        self._count(index, model, usage, reply.text, reply.stop_reason)
        return reply.text

    def _replayed(self, index: int, model: str, digest: str) -> str | None:
        """The text of this request's next journaled call, counted; None when it has none."""
        with self._lock:
            replayed = self._replay[digest].popleft() if self._replay[digest] else None
        if replayed is None:
            return None
        text = replayed.response_text or ""
        self._count(index, model, replayed.usage or Usage(), text, replayed.stop_reason)
        return text

    def _count(self, index: int, model: str, usage: Usage, text: str,
               stop_reason: str | None) -> None:
        """Add one call, made or replayed, to what the attempt spent.

        `calls` (the result's `sub_calls`) counts the calls to metered models, as the old
        runner did: its `echo-small-judge` rows all say 2 (../shared/echo-results), the
        pair without the local judge, while its other vendors' judges count (3). A
        `local:` call is journaled, timed and listed in `models` all the same.
        """
        with self._lock:
            self.calls += not model.startswith("local:")
            self.usage += usage
            if model not in self.models_used:
                self.models_used.append(model)
            self._stops[index] = (text, stop_reason)

    def stop_reason_of(self, output: str) -> str | None:
        """Why the model stopped in the latest call whose reply is `output` (the arm's answer).

        None when no call's reply is the output as it stands (the arm rewrote it).
        """
        with self._lock:
            for index in sorted(self._stops, reverse=True):
                text, stop_reason = self._stops[index]
                if text == output:
                    return stop_reason
        return None

    def _send_with_retries(self, index: int, model: str, digest: str, system: str | None,
                           prompt: str, max_tokens: int) -> tuple[Reply, float]:
        """Send, retrying transient and unreachable failures with jittered backoff.

        Exhaustion, rate limits and fatal errors are not retried here: they
        concern the whole queue, and the worker pauses or stops it. A retry
        never starts while the queue is paused (the breaker may have tripped on
        this very failure elsewhere), nor once the worker is stopping: the job is
        released instead.
        """
        tries = 0

        def attempt() -> tuple[Reply, float]:
            nonlocal tries
            tries += 1
            if tries > 1 and self.queue.active_pause() is not None:
                raise QueuePaused()
            if tries > 1:
                self._check_lease()
            return self._send_paced(index, model, digest, system, prompt, max_tokens)

        retrying = Retrying(
            retry=retry_if_exception(
                lambda exc: isinstance(exc, CallFailed)
                and exc.failure.kind in ("transient", "unreachable")),
            stop=stop_after_attempt(TRANSIENT_TRIES),
            wait=_transient_wait,
            sleep=self._sleep, reraise=True)
        return retrying(attempt)

    def _send_paced(self, index: int, model: str, digest: str, system: str | None,
                    prompt: str, max_tokens: int) -> tuple[Reply, float]:
        """One send, admitted by the governor (when there is one) at its slot.

        A 429 the headers explain corrects the governor and the call goes again in its
        next slot: not a failure, not a pause. Anything else is journaled and raised.
        """
        governor = self.governor
        for refusals in range(MAX_GOVERNED_RETRIES + 1):
            if self.stopping.is_set():
                raise WorkerStopping()
            grant = governor.admit(governor.estimate(model, system, prompt, max_tokens)) \
                if governor is not None else None
            stop = self.stopping.is_set()   # admit may have waited for a slot
            if grant is not None and (stop or (refusals > 0
                                              and self.queue.active_pause() is not None)):
                governor.settle(grant, read_ratelimits(None), Cost(0.0, 0.0, 0.0))
                raise WorkerStopping() if stop else QueuePaused()
            if refusals:
                self._check_lease()
            started = time.monotonic()
            try:
                with checked_at_send(self._lease):
                    reply = self.backend.send(model, system, prompt, max_tokens)
            except Exception as exc:
                failure = classify(exc)
                self._journal(Call(
                    job_id=self.job.job_id, attempt=self.job.attempts, call_index=index,
                    model=model, request_hash=digest, response_text=None,
                    latency_seconds=time.monotonic() - started,
                    error_class=_JOURNAL_CLASS.get(failure.kind, failure.kind),
                    error=failure.message))
                if grant is not None:
                    limits = read_ratelimits(_headers_of(exc))
                    if failure.kind != "rate_limited":
                        governor.settle(grant, limits, None)
                    elif governor.refused(grant, limits) and refusals < MAX_GOVERNED_RETRIES:
                        continue
                raise CallFailed(failure) from exc
            if grant is not None:
                governor.settle(grant, read_ratelimits(reply.headers),
                                Cost(1.0, reply.usage.input_tokens, reply.usage.output_tokens))
            return reply, time.monotonic() - started
        raise AssertionError("unreachable: the last refusal raises")


# The journal's error classes are migration 0001's CHECK; a call that never reached the
# server, or one interrupted, is journaled as transient (its message says which) rather than
# rebuilding the largest table for a new word. The job's error trail and the pause say
# `unreachable`.
_JOURNAL_CLASS = {"unreachable": "transient", "interrupted": "transient"}


def _headers_of(exc: BaseException) -> Any:
    """The response headers an SDK exception carries (None for a CLI or network failure)."""
    return getattr(getattr(exc, "response", None), "headers", None)


_backoff = wait_random_exponential(multiplier=0.5, max=8)


def _transient_wait(state: RetryCallState) -> float:
    """Jittered exponential backoff, but never sooner than the server's retry-after."""
    wait = _backoff(state)
    exc = state.outcome.exception() if state.outcome else None
    if isinstance(exc, CallFailed) and exc.failure.resume_at is not None:
        wait = max(wait, min(exc.failure.resume_at - time.time(), 60.0))
    return wait
