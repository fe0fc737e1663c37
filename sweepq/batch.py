"""`sweepq work --backend batch`: a sweep run through Anthropic's Message Batches API.

Why: batches cost half the live price and sit outside the per-minute rate limits; the
price is hours of latency instead of seconds. The queue makes them durable: a batch and
which job/call each of its requests is are committed before it is submitted, its id
right after, so a process killed at any moment loses nothing and pays nothing twice.

A run is rounds through the call journal. In a round, every job this runner holds has
its arm run by the worker's own path (`Worker._run_job`: same scoring, same result,
same failure policy) with a `BatchClient`: calls the journal has are replayed; the
first call it lacks is collected and the arm stops (`worker.Deferred`); calls made
together (`call_many`) are all collected in the same round. The collected calls go out
as batches (≤ 100,000 requests, ≤ 256 MB), all submitted before any is polled to its
end, and their results land in the journal by custom_id (the results JSONL read with
`json`, 5,000 per transaction). An arm that then completes is a result exactly as in
live mode; an `errored` result is raised in the next round as the live error it is
(`failures.api.classify`); `expired` and `canceled` requests go out again. Jobs stay
claimed (leases extended by the worker's heartbeat) while their requests are out.

A custom_id is `{batch key}-{job id}-{call index}-{request hash prefix}`; the batch key
(random, per batch) is how a batch submitted but not yet recorded is found again: the
batches with that many requests created after it was prepared (every page of the
list) are read until one's results carry the key.

Why this module is over 400 lines: a round is one sequence (claim, run, collect,
prepare, submit, record, poll, ingest) whose named moments (`checkpoint`) must be read
in order to see that a kill at any of them loses nothing and pays nothing twice.
"""

from __future__ import annotations

import functools
import json
import secrets
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any

from . import batch_api, caching
from .arms import Arm
from .batch_api import BatchApiFailed
from .explain import explain
from .failures import CallFailed, Failure
from .failures.api import classify
from .models import JobClient, price
from .queue import Call, Job, Queue, Sweep
from .worker import (
    EXIT_DATABASE,
    EXIT_FATAL,
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_TEMPFAIL,
    Deferred,
    Outcome,
    Worker,
    WorkerConfig,
)

PRICE_FACTOR = 0.5                  # the batch price: half the live one
MAX_REQUESTS = 100_000              # per batch (documented)
MAX_BYTES = 256 * 1024 * 1024       # per batch (documented)
POLL_FIRST, POLL_MAX = 1.0, 300.0   # seconds between polls: 1 s, doubling to 5 min
INGEST_CHUNK = 5_000                # results per transaction
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


class _BatchWorker(Worker):
    """The worker's job path with a `BatchClient`; remembers each job's client."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.failures: dict[tuple[int, str], Failure] = {}
        self.clients: dict[int, BatchClient] = {}
        self.isolated: set[int] = set()   # jobs whose errored result shared a batch with successes

    def breaker_signature(self, job: Job, failure: Failure) -> str | None:
        """A batch's results all arrive at once, and the next round raises its errored
        ones back to back with no call in between: counted as live, five would trip the
        breaker though the same batch proved the API works. So an errored result counts
        for the breaker only when its batch had no success at all."""
        if job.job_id in self.isolated:
            self.isolated.discard(job.job_id)
            return None
        return super().breaker_signature(job, failure)

    def client_for(self, job: Job) -> JobClient:
        client = BatchClient(self.queue, job, self.sweep.models, self.failures)
        self.clients[job.job_id] = client
        return client


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
        self.worker = _BatchWorker(queue, sweep, arms, None, config)  # type: ignore[arg-type]
        self.owner = f"{config.worker_name}:batch"
        self.held: dict[int, Job] = {}
        self.rounds = 0
        self._sleep = sleep or self.worker.stopping.wait

    ingest_chunk = INGEST_CHUNK
    """Results landed per transaction; a kill test lowers it to land a kill between two."""

    def checkpoint(self, name: str) -> None:
        """A named moment of a round (prepared, submitted, recorded, polling, ingesting,
        ingested) where a kill must lose nothing and pay nothing twice. Nothing happens
        here; tests/e2e/batch_killer.py overrides it to SIGKILL the process at one."""

    # -- the run ----------------------------------------------------------------

    def run(self) -> Outcome:
        """Resume the open batches, then round after round; the worker's exit codes."""
        heartbeat = threading.Thread(target=self.worker._heartbeat, daemon=True,
                                     name="sweepq-batch-heartbeat")
        heartbeat.start()
        try:
            self._finish(self.queue.open_batches(self.sweep.name))
            while not self.worker.stopping.is_set() and self._round():
                pass
        except sqlite3.Error as exc:
            self.worker._set_exit(EXIT_DATABASE, f"the database failed: {explain(exc)}; "
                                  "run `sweepq check`, then `sweepq work --backend batch`")
        except BatchApiFailed as exc:   # as a live call's failure: fatal 2, else 75
            self._give_back()
            self.worker._set_exit(
                EXIT_FATAL if exc.failure.kind == "fatal" else EXIT_TEMPFAIL,
                f"the Message Batches API failed ({exc.failure.kind}) to {exc}; open batches "
                "are resumed by the next `sweepq work --backend batch`")
        except batch_api.Stopped:
            pass
        except Exception as exc:    # a bug: say which
            self.worker._set_exit(EXIT_INTERNAL, f"batch runner: {type(exc).__name__}: "
                                  f"{classify(exc).message}; open batches are resumed by "
                                  "the next `sweepq work --backend batch`")
        finally:
            self.worker._finished.set()
        code, message = self.worker._exit or (EXIT_OK, "")
        return Outcome(code, message, self.worker.tally)

    def stop(self) -> None:
        """Stop after the current step; held jobs keep their requests and leases (they
        expire), and the next run resumes the open batches."""
        self.worker.stopping.set()
        self.worker._set_exit(EXIT_OK, "stopped by signal")

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
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, lambda *_: self.stop())

    def _round(self) -> bool:
        """One round; False when the run is over."""
        pause = self.queue.active_pause()
        if pause is not None:
            return self.worker._wait_out(pause)
        self._claim_all()
        pending = self._run_arms()
        if pending:
            self.rounds += 1
            # A subtask's requests side by side, so the first writes the cached prefix
            # (caching.py) and the rest of its group read it.
            pending = caching.grouped(pending, lambda p: (p.model, p.system))
            self._finish([self._prepare(chunk) for chunk in
                          _split(pending, self.max_requests, self.max_bytes,
                                 self.worker.config.cache)])
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
                                         self.worker.config.lease_seconds,
                                         min(CLAIM_CHUNK, MAX_REQUESTS - len(self.held)))
            if not jobs:
                return
            with self.worker._lock:
                for job in jobs:
                    self.held[job.job_id] = job
                    self.worker._in_flight[job.job_id] = self.owner

    def _run_arms(self) -> list[Pending]:
        """Every held job's arm against the journal: what they need next."""
        pending: list[Pending] = []
        for job_id, job in list(self.held.items()):
            self.worker._run_job(job, self.owner)
            client = self.worker.clients.pop(job_id, None)
            if client is not None and client.pending:
                pending += client.pending
            else:                       # a result, a failure or a release: no longer ours
                del self.held[job_id]
                with self.worker._lock:
                    self.worker._in_flight.pop(job_id, None)
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
        sent = [(row["batch_key"], self._send(row)) for row in rows]
        for key, batch_id in sent:
            if batch_id is None or self.worker.stopping.is_set():
                continue
            batch = self._poll(key, batch_id)
            if batch is not None:   # a download cut short lands again: ingesting is by id
                batch_api.call("download the results of " + batch_id,
                               functools.partial(self._ingest, key, batch), self._sleep)

    def _send(self, row: dict[str, Any]) -> str | None:
        """The batch's API id: recorded, submitted now, or found after a crash; None for
        a batch that never reached the API (abandoned: its jobs' calls go out again)."""
        key, batch_id = row["batch_key"], row["batch_id"]
        if batch_id is not None or self.worker.stopping.is_set():
            return batch_id
        if "_chunk" in row:
            return self._submit(row)
        batch_id = batch_api.call("list batches", lambda: self._find(row), self._sleep)
        # Not found because stopped (a signal, --max-wait) while a candidate was still
        # processing: the next run looks again. Abandoning it would send its calls twice.
        if batch_id is None and not self.worker.stopping.is_set():
            self.queue.close_batch(key, "abandoned")
        return batch_id

    def _submit(self, row: dict[str, Any]) -> str | None:
        """Create the batch, trying again as a live call would; a failed create may have
        made the batch all the same (a connection dropped after sending, a 5xx), so
        before each new try it is looked for by its key: never submitted twice."""
        key = row["batch_key"]
        ttl = self.worker.config.cache
        requests = [{"custom_id": p.custom_id(key), "params": p.params(ttl)}
                    for p, _ in row["_chunk"]]
        tries = 0

        def create() -> str | None:
            nonlocal tries
            tries += 1
            if tries > 1:
                found = self._find(row)
                if found is not None or self.worker.stopping.is_set():
                    return found
            batch = self.client.messages.batches.create(requests=requests)
            self.checkpoint("submitted")
            self.queue.batch_submitted(key, batch.id, batch.expires_at.timestamp())
            self.checkpoint("recorded")
            return batch.id

        return batch_api.call("create a batch", create, self._sleep)

    def _find(self, row: dict[str, Any]) -> str | None:
        """The batch prepared as `row` if it reached the API before its id was recorded.

        The list is newest first and iterating it pages on (`after_id`), so it is read
        back to the first batch created before `row` was prepared, however many other
        batches (this organisation's other sweeps and tools) came after it."""
        since = row["created_at"] - 600.0      # clock skew between here and the API
        for batch in self.client.messages.batches.list(limit=100):     # every page
            if batch.created_at.timestamp() < since:
                return None
            counts = batch.request_counts
            total = (counts.processing + counts.succeeded + counts.errored + counts.canceled
                     + counts.expired)
            if total != row["requests"]:
                continue
            ended = self._poll(row["batch_key"], batch.id, record=False)
            if ended is None:
                return None
            results = self._results(batch.id)
            first = next(results, None)
            results.close()                     # the rest of the download is not needed
            if first is not None and first["custom_id"].startswith(row["batch_key"] + "-"):
                self.queue.batch_submitted(row["batch_key"], batch.id,
                                           batch.expires_at.timestamp())
                return batch.id
        return None

    def _poll(self, key: str, batch_id: str, record: bool = True) -> Any:
        """The batch once ended, polling with backoff; None when stopped or past --max-wait."""
        delay, started = 0.0, time.monotonic()
        max_wait = self.worker.config.max_wait
        while True:
            try:
                batch = self.client.messages.batches.retrieve(batch_id)
            except batch_api.api_errors() as exc:   # transient or rate-limited: poll again
                failure = classify(exc)
                if failure.kind not in batch_api.RETRIED:
                    raise BatchApiFailed(f"poll {batch_id}", failure) from exc
                wait = (failure.resume_at - time.time()) if failure.resume_at else delay
                delay = min(max(wait, POLL_FIRST, delay * 2), POLL_MAX)
            else:
                if record:
                    self.queue.batch_polled(key, batch.request_counts.model_dump(),
                                            batch.ended_at.timestamp()
                                            if batch.ended_at else None)
                if batch.processing_status == "ended":
                    return batch
                delay = min(max(POLL_FIRST, delay * 2), POLL_MAX)
            self.checkpoint("polling")
            if max_wait is not None and time.monotonic() - started + delay > max_wait:
                self.worker._set_exit(EXIT_TEMPFAIL, f"batch {batch_id} still processing "
                                      "after --max-wait; run `sweepq work --backend batch` "
                                      "again to carry on")
                self.worker.stopping.set()
                return None
            if self._sleep(delay) or self.worker.stopping.is_set():
                return None

    def _ingest(self, key: str, batch: Any) -> None:
        """Land every result by custom_id, INGEST_CHUNK per transaction; the requests of
        each chunk are read from the database with it, so memory stays one chunk's."""
        latency = ((batch.ended_at - batch.created_at).total_seconds()
                   if batch.ended_at else None)
        landed, errored, succeeded = 0, [], False
        for chunk in _chunks(self._results(batch.id), self.ingest_chunk):
            requests = self.queue.batch_requests(key, [item["custom_id"] for item in chunk])
            outcomes, calls = [], {}
            for item in chunk:
                request = requests.get(item["custom_id"])
                if request is None or request["outcome"] is not None:
                    continue
                outcome, error, call = self._land(request, item["result"], latency)
                outcomes.append((item["custom_id"], outcome, error))
                succeeded = succeeded or outcome == "succeeded"
                if outcome == "errored":
                    errored.append(request["job_id"])
                if call is not None:
                    calls[item["custom_id"]] = call
            landed += self.queue.ingest_batch(key, outcomes, calls)
            if landed:
                self.checkpoint("ingesting")
        if succeeded:
            self.worker.isolated.update(errored)
        self.queue.close_batch(key, "ingested")
        self.checkpoint("ingested")

    def _results(self, batch_id: str) -> Iterator[dict[str, Any]]:
        """The batch's results as plain dicts, one JSONL line each.

        Why not the SDK's `results()` iterator: it builds a pydantic model per line,
        two thirds of the ingestion time of a 100,000-request batch. The line format is
        documented (custom_id, and result: {type: succeeded|errored|canceled|expired,
        message | error}); `_land` reads only those fields."""
        with self.client.messages.batches.with_streaming_response.results(batch_id) as resp:
            for line in resp.iter_lines():
                if line.strip():
                    yield json.loads(line)

    def _land(self, request: dict[str, Any], result: dict[str, Any], latency: float | None
              ) -> tuple[str, str | None, Call | None]:
        """(outcome, error, the call to journal) for one result line's `result`."""
        kind = result["type"]
        if kind == "succeeded":
            message = result["message"]
            usage = caching.usage_of(message["usage"])
            cost = price(request["model"], usage, caching.hour_writes(message["usage"]))
            usage = replace(usage, cost_usd=None if cost is None else cost * PRICE_FACTOR)
            text = "".join(b["text"] for b in message["content"] if b["type"] == "text")
            return "succeeded", None, _call(request, latency, response_text=text, usage=usage,
                                            stop_reason=message.get("stop_reason"))
        if kind == "errored":
            failure = classify(self._as_exception(request["model"], result["error"]))
            self.worker.failures[(request["job_id"], request["request_hash"])] = failure
            return "errored", failure.message, _call(request, latency, error_class=failure.kind,
                                                     error=failure.message)
        return kind, None, None                 # expired, canceled: sent again next round

    def _as_exception(self, model: str, error: dict[str, Any]) -> BaseException:
        """An errored result (its `error` body) as the SDK exception a live call would
        have raised."""
        import httpx2 as httpx

        status = _STATUS.get((error.get("error") or {}).get("type"), 500)
        request = httpx.Request("POST", "https://api.anthropic.com/v1/messages",
                                json={"model": model})
        response = httpx.Response(status, json=error, request=request)
        return self.client._make_status_error_from_response(response)


# The HTTP status a live call meets for each error type (docs: /en/api/errors).
_STATUS = {"invalid_request_error": 400, "authentication_error": 401,
           "billing_error": 402, "permission_error": 403, "not_found_error": 404,
           "request_too_large": 413, "rate_limit_error": 429, "api_error": 500,
           "overloaded_error": 529}


def _call(request: dict[str, Any], latency: float | None, **fields: Any) -> Call:
    """The journaled call of one batch request's result."""
    return Call(job_id=request["job_id"], attempt=request["attempt"],
                call_index=request["call_index"], model=request["model"],
                request_hash=request["request_hash"], latency_seconds=latency,
                **{"response_text": None, **fields})


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


def _chunks(items: Any, size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


