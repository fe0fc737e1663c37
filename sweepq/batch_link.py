"""The API side of a batch run: submitting a batch (or finding it again after a crash),
polling it to its end, and landing its results in the journal by custom_id.

Why here and not in the runner: these are the steps whose crash points
(the runner's `checkpoint`) decide that a kill loses nothing and pays nothing twice; they need
only the queue, the SDK client, the stop flag and the failures they hand back.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import Any

from . import batch_api, caching
from .batch_api import BatchApiFailed
from .failures import Failure
from .failures.api import classify
from .models import price
from .queue import Call, Queue
from .runconfig import EXIT_TEMPFAIL

PRICE_FACTOR = 0.5                  # the batch price: half the live one
POLL_FIRST, POLL_MAX = 1.0, 300.0   # seconds between polls: 1 s, doubling to 5 min
INGEST_CHUNK = 5_000                # results per transaction


class BatchLink:
    """One runner's batches at the API, recorded in the queue as they move."""

    def __init__(self, queue: Queue, client: Any, stopping: threading.Event,
                 stop_with: Callable[[int, str], None], max_wait: float | None,
                 sleep: Callable[[float], Any], uncounted: set[int], cache_ttl: str,
                 checkpoint: Callable[[str], None], ingest_chunk: Callable[[], int]) -> None:
        """`stop_with(code, message)` ends the run (a batch past --max-wait); `uncounted`
        receives the errored jobs of batches that had successes (the breaker skips them);
        `checkpoint(name)` marks each named moment of a round (the runner's)."""
        self.queue, self.client, self.stopping = queue, client, stopping
        self.stop_with, self.max_wait, self._sleep = stop_with, max_wait, sleep
        self.cache_ttl, self.checkpoint, self.ingest_chunk = cache_ttl, checkpoint, ingest_chunk
        self.failures: dict[tuple[int, str], Failure] = {}  # errored results: (job, hash)
        self.uncounted = uncounted

    def send(self, row: dict[str, Any]) -> str | None:
        """The batch's API id: recorded, submitted now, or found after a crash; None for
        a batch that never reached the API (abandoned: its jobs' calls go out again)."""
        key, batch_id = row["batch_key"], row["batch_id"]
        if batch_id is not None or self.stopping.is_set():
            return batch_id
        if "_chunk" in row:
            return self._submit(row)
        batch_id = batch_api.call("list batches", lambda: self._find(row), self._sleep)
        # Not found because stopped (a signal, --max-wait) while a candidate was still
        # processing: the next run looks again. Abandoning it would send its calls twice.
        if batch_id is None and not self.stopping.is_set():
            self.queue.close_batch(key, "abandoned")
        return batch_id

    def _submit(self, row: dict[str, Any]) -> str | None:
        """Create the batch, trying again as a live call would; a failed create may have
        made the batch all the same (a connection dropped after sending, a 5xx), so
        before each new try it is looked for by its key: never submitted twice."""
        key = row["batch_key"]
        requests = [{"custom_id": p.custom_id(key), "params": p.params(self.cache_ttl)}
                    for p, _ in row["_chunk"]]
        tries = 0

        def create() -> str | None:
            nonlocal tries
            tries += 1
            if tries > 1:
                found = self._find(row)
                if found is not None or self.stopping.is_set():
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
            ended = self.poll(row["batch_key"], batch.id, record=False)
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

    def poll(self, key: str, batch_id: str, record: bool = True) -> Any:
        """The batch once ended, polling with backoff; None when stopped or past --max-wait."""
        delay, started = 0.0, time.monotonic()
        max_wait = self.max_wait
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
                self.stop_with(EXIT_TEMPFAIL, f"batch {batch_id} still processing "
                                    "after --max-wait; run `sweepq work --backend batch` "
                                    "again to carry on")
                return None
            if self._sleep(delay) or self.stopping.is_set():
                return None

    def ingest(self, key: str, batch: Any) -> None:
        """Land every result by custom_id, INGEST_CHUNK per transaction; the requests of
        each chunk are read from the database with it, so memory stays one chunk's."""
        latency = ((batch.ended_at - batch.created_at).total_seconds()
                   if batch.ended_at else None)
        landed, errored, succeeded = 0, [], False
        for chunk in _chunks(self._results(batch.id), self.ingest_chunk()):
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
            # A batch's results all arrive at once, and the next round raises its errored
            # ones back to back with no call in between: counted as live, five would trip
            # the breaker though the same batch proved the API works. So an errored result
            # counts for the breaker only when its batch had no success at all.
            self.uncounted.update(errored)
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
            self.failures[(request["job_id"], request["request_hash"])] = failure
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


def _chunks(items: Any, size: int) -> Iterator[list[Any]]:
    chunk: list[Any] = []
    for item in items:
        chunk.append(item)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk
