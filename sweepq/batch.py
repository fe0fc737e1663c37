"""`sweepq work --backend batch`: a sweep run through Anthropic's Message Batches API.

Why: batches cost half the live price and sit outside the per-minute rate limits; the
price is hours of latency instead of seconds. The queue makes them durable: a batch and
which job/call each of its requests is are committed before it is submitted, its id
right after, so a process killed at any moment loses nothing and pays nothing twice.

A run is rounds through the call journal. In a round, every job this runner holds has
its arm run by the live worker's own job path (`jobrun.JobRunner.run_job`: same
scoring, same result, same failure policy) with a `BatchClient`: calls the journal has
are replayed; the first call it lacks is collected and the arm stops (the attempt's
outcome is `attempt.DEFERRED`); calls made
together (`call_many`) are all collected in the same round. The collected calls go out
as batches (≤ 100,000 requests, ≤ 256 MB), all submitted before any is polled to its
end, and their results land in the journal by custom_id (the results JSONL read with
`json`, 5,000 per transaction). An arm that then completes is a result exactly as in
live mode; an `errored` result is raised in the next round as the live error it is
(`failures.api.classify`); `expired` and `canceled` requests go out again. Jobs stay
claimed (leases extended by the shared heartbeat, `held.HeldJobs`) while their requests
are out.

A custom_id is `{batch key}-{job id}-{call index}-{request hash prefix}`; the batch key
(random, per batch) is how a batch submitted but not yet recorded is found again: the
batches with that many requests created after it was prepared (every page of the
list) are read until one's results carry the key.

A round is one sequence (claim, run, collect, prepare, submit, record, poll, ingest)
whose named moments (`checkpoint`) are read in order: a kill at any of them loses
nothing and pays nothing twice.
"""

from __future__ import annotations

import functools
import json
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from . import batch_api, caching
from .arms import Arm
from .attempt import Deferred
from .batch_api import BatchApiFailed
from .batch_link import INGEST_CHUNK, PRICE_FACTOR, BatchLink
from .explain import explain
from .failures import CallFailed, Failure
from .failures.api import classify
from .jobrun import JobRunner, on_stop_signals
from .models import JobClient
from .queue import Job, Queue, Sweep
from .runconfig import (
    EXIT_DATABASE,
    EXIT_FATAL,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_TEMPFAIL,
    Outcome,
    WorkerConfig,
)

MAX_REQUESTS = 100_000              # per batch (documented)
MAX_BYTES = 256 * 1024 * 1024       # per batch (documented)
CLAIM_CHUNK = 5_000                 # jobs claimed per transaction
IDLE_SECONDS = 0.5
_HASH_CHARS = 32


@dataclass(frozen=True)
class Pending:
    """One call an arm needs and the journal lacks: a request of the next batch."""

    job: Job
    index: int
    model: str
    system: str | None
    prompt: str
    max_tokens: int
    digest: str

    def custom_id(self, key: str) -> str:
        return f"{key}-{self.job.job_id}-{self.index}-{self.digest[:_HASH_CHARS]}"

    def params(self, cache_ttl: str = "5m") -> dict[str, Any]:
        params: dict[str, Any] = {"model": self.model, "max_tokens": self.max_tokens,
                                  "messages": [{"role": "user", "content": self.prompt}]}
        if self.system:
            params["system"] = caching.system_param(self.model, self.system, cache_ttl)
        return params


class BatchClient(JobClient):
    """A `JobClient` that replays the journal and defers what it lacks to a batch."""

    def __init__(self, queue: Queue, job: Job, models: dict[str, str],
                 failures: dict[tuple[int, str], Failure]) -> None:
        super().__init__(queue, job, backend=None, models=models)  # type: ignore[arg-type]
        self.failures = failures
        self.pending: list[Pending] = []

    def _send(self, index: int, model: str, digest: str, system: str | None, prompt: str,
              max_tokens: int) -> str:
        """A call the journal does not have: its batch result's error, or the next batch."""
        failure = self.failures.pop((self.job.job_id, digest), None)
        if failure is not None:         # its batch result was `errored`: the live error
            raise CallFailed(failure)
        with self._lock:
            self.pending.append(Pending(self.job, index, model, system, prompt, max_tokens,
                                        digest))
        raise Deferred()


class BatchRunner:
    """Rounds of batches until the sweep has nothing pending or running, or a stop."""

    def __init__(self, queue: Queue, sweep: Sweep, arms: dict[str, Arm], client: Any,
                 config: WorkerConfig | None = None,
                 sleep: Callable[[float], Any] | None = None,
                 max_requests: int = MAX_REQUESTS, max_bytes: int = MAX_BYTES) -> None:
        """`max_requests` and `max_bytes` are the API's limits per batch; a test lowers
        them to see a round split without building a 256 MB batch."""
        config = replace(config or WorkerConfig(), governor=False)
        self.queue, self.sweep, self.client = queue, sweep, client
        self.max_requests, self.max_bytes = max_requests, max_bytes
        self.jobs = JobRunner(queue, sweep, arms, None, config, client_for=self._client_for)
        self.owner = f"{config.worker_name}:batch"
        self.held: dict[int, Job] = {}
        self.clients: dict[int, BatchClient] = {}
        self.rounds = 0
        self._finished = threading.Event()
        self._sleep = sleep or self.jobs.stopping.wait
        # Late-bound: a test's sleep, checkpoint or ingest_chunk reaches the link too.
        self.link = BatchLink(queue, client, self.jobs.stopping, self.jobs.stop_with,
                              config.max_wait, lambda seconds: self._sleep(seconds),
                              self.jobs.uncounted, config.cache,
                              checkpoint=lambda name: self.checkpoint(name),
                              ingest_chunk=lambda: self.ingest_chunk)
        self.failures = self.link.failures

    ingest_chunk = INGEST_CHUNK
    """Results landed per transaction; a kill test lowers it to land a kill between two."""

    def checkpoint(self, name: str) -> None:
        """A named moment of a round (prepared, submitted, recorded, polling, ingesting,
        ingested) where a kill must lose nothing and pay nothing twice. Nothing happens
        here; tests/e2e/batch_killer.py overrides it to SIGKILL the process at one."""

    def _client_for(self, job: Job) -> JobClient:
        """A batch client for the job's attempt, remembered to collect what it defers."""
        client = BatchClient(self.queue, job, self.sweep.models, self.failures)
        self.clients[job.job_id] = client
        return client

    # -- the run ----------------------------------------------------------------

    def run(self) -> Outcome:
        """Resume the open batches, then round after round; the worker's exit codes."""
        heartbeat = threading.Thread(target=self.jobs.held.beat, args=(self._finished,),
                                     daemon=True, name="sweepq-batch-heartbeat")
        heartbeat.start()
        try:
            self._finish(self.queue.open_batches(self.sweep.name))
            while not self.jobs.stopping.is_set() and self._round():
                pass
        except sqlite3.Error as exc:
            self.jobs.set_exit(EXIT_DATABASE, f"the database failed: {explain(exc)}; "
                               "run `sweepq check`, then `sweepq work --backend batch`")
        except BatchApiFailed as exc:   # as a live call's failure: fatal 2, else 75
            self._give_back()
            self.jobs.set_exit(
                EXIT_FATAL if exc.failure.kind == "fatal" else EXIT_TEMPFAIL,
                f"the Message Batches API failed ({exc.failure.kind}) to {exc}; open batches "
                "are resumed by the next `sweepq work --backend batch`")
        except batch_api.Stopped:
            pass
        except Exception as exc:    # a bug: say which
            self.jobs.set_exit(EXIT_INTERNAL, f"batch runner: {type(exc).__name__}: "
                               f"{classify(exc).message}; open batches are resumed by "
                               "the next `sweepq work --backend batch`")
        finally:
            self._finished.set()
        return self.jobs.outcome()

    def stop(self) -> None:
        """Stop after the current step; held jobs keep their requests and leases (they
        expire), and the next run resumes the open batches."""
        self.jobs.stop_with(EXIT_OK, "stopped by signal")

    def _give_back(self) -> None:
        """Release the jobs this run holds, uncharged: the API failed, not they. A job
        with a request in a batch not ingested stays claimable by the batch runner only."""
        for job_id in list(self.held):
            try:
                self.queue.release(job_id, self.owner)
            except sqlite3.Error:   # its lease runs out instead
                pass
        self.held.clear()

    def install_signal_handlers(self) -> None:
        on_stop_signals(self.stop)

    def _round(self) -> bool:
        """One round; False when the run is over."""
        pause = self.queue.active_pause()
        if pause is not None:
            return self.jobs.wait_out(pause)
        self._claim_all()
        pending = self._run_arms()
        if pending:
            self.rounds += 1
            # A subtask's requests side by side, so the first writes the cached prefix
            # (caching.py) and the rest of its group read it.
            pending = caching.grouped(pending, lambda p: (p.model, p.system))
            self._finish([self._prepare(chunk) for chunk in
                          _split(pending, self.max_requests, self.max_bytes,
                                 self.jobs.config.cache)])
            return True
        if self.queue.unfinished(self.sweep.name) == 0:
            return False
        self._sleep(IDLE_SECONDS)       # others hold the rest, or they are backing off
        return True

    def _claim_all(self) -> None:
        """Take every claimable job, CLAIM_CHUNK per transaction (live workers on the
        same database wait for the writer lock no longer than one chunk)."""
        while len(self.held) < MAX_REQUESTS:
            jobs = self.queue.claim_many(self.sweep.name, self.owner,
                                         self.jobs.config.lease_seconds,
                                         min(CLAIM_CHUNK, MAX_REQUESTS - len(self.held)))
            if not jobs:
                return
            for job in jobs:
                self.held[job.job_id] = job
                self.jobs.held.take(job.job_id, self.owner)

    def _run_arms(self) -> list[Pending]:
        """Every held job's arm against the journal: what they need next."""
        pending: list[Pending] = []
        for job_id, job in list(self.held.items()):
            self.jobs.run_job(job, self.owner)
            client = self.clients.pop(job_id, None)
            if client is not None and client.pending:
                pending += client.pending
            else:                       # a result, a failure or a release: no longer ours
                del self.held[job_id]
                self.jobs.held.drop(job_id)
        return pending

    # -- one batch ----------------------------------------------------------------

    def _prepare(self, chunk: list[tuple[Pending, int]]) -> dict[str, Any]:
        """Commit the batch and its requests before anything is sent."""
        key = "sq" + secrets.token_hex(5)
        rows = [(p.custom_id(key), p.job.job_id, p.job.attempts, p.index, p.model, p.digest)
                for p, _ in chunk]
        self.queue.prepare_batch(key, self.sweep.name, self.owner,
                                 sum(size for _, size in chunk), rows, PRICE_FACTOR)
        self.checkpoint("prepared")
        return {"batch_key": key, "batch_id": None, "state": "prepared",
                "requests": len(rows), "created_at": self.queue.clock(),
                "_chunk": chunk}

    def _finish(self, rows: list[dict[str, Any]]) -> None:
        """Submit (or find) every batch, then poll each to its end and land its results:
        a round's batches are processed by the API side by side, not one after another."""
        sent = [(row["batch_key"], self.link.send(row)) for row in rows]
        for key, batch_id in sent:
            if batch_id is None or self.jobs.stopping.is_set():
                continue
            batch = self.link.poll(key, batch_id)
            if batch is not None:   # a download cut short lands again: ingesting is by id
                batch_api.call("download the results of " + batch_id,
                               functools.partial(self.link.ingest, key, batch), self._sleep)

def _split(pending: Sequence[Pending], max_requests: int = MAX_REQUESTS,
           max_bytes: int = MAX_BYTES, cache_ttl: str = "5m"
           ) -> Iterator[list[tuple[Pending, int]]]:
    """The round's requests in batches of at most `max_requests` and `max_bytes` (the
    request list as JSON: each body, the separators and the envelope), with each
    request's size (only the size is kept: a round's bodies would be 60 MB more)."""
    chunk: list[tuple[Pending, int]] = []
    size = 0
    for p in pending:
        body = len(json.dumps({"custom_id": p.custom_id("sq0000000000"),
                               "params": p.params(cache_ttl)}, ensure_ascii=False).encode())
        if chunk and (len(chunk) >= max_requests or size + body + 64 > max_bytes):
            yield chunk
            chunk, size = [], 0
        chunk.append((p, body))
        size += body + 2
    if chunk:
        yield chunk
