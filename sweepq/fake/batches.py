"""The fake Message Batches API: create, retrieve, list, cancel, and results as JSONL.

Shapes follow the installed SDK's types (`anthropic.types.messages.MessageBatch`,
`MessageBatchIndividualResponse`, `SyncPage`) and Anthropic's batch docs: a batch is
`in_progress` until its processing delay (`FakeConfig.batch_seconds`) has passed, then
`ended` with a `results_url`; results come in an order unrelated to the requests (so a
client must match them by `custom_id`). Each request is answered by the same engine as
`/v1/messages` (same text for the same body), or meets a per-request fault drawn from
(seed, batch id, custom_id): `batch_errored` → an `errored` result (api_error),
`batch_expired` → `expired`. A request the Messages API would refuse (bad params,
unknown model) is `errored` with that error's type and message.

`fail_next(op, faults)` makes the next create, list, retrieve, cancel or results call
meet an error status or a dropped connection (before it is handled, or after: a batch
made whose id never reaches the client).

Counters (in `/stats`): `batches` created, `batch_requests` submitted (every request of
every batch: the proof that nothing is submitted twice) and `batch_results` by type.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from .counters import snapshot
from .validate import check_auth, check_model, parse_json, validate
from .wire import Invalid, Reply, dumps, error_body, error_reply

if TYPE_CHECKING:
    from .engine import FakeEngine

MAX_REQUESTS = 100_000                  # documented: requests per batch
MAX_BATCH_BYTES = 256 * 1024 * 1024     # documented: bytes per batch
EXPIRES_SECONDS = 24 * 3600
CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_PREFIX = "/v1/messages/batches"
OPS = ("create", "list", "retrieve", "cancel", "results")   # what `fail_next` can fail


def _op(method: str, parts: list[str]) -> str | None:
    """Which batch call a request is (None: none the API has)."""
    if parts == [""]:
        return {"POST": "create", "GET": "list"}.get(method)
    if len(parts) == 1:
        return "retrieve" if method == "GET" else None
    return {("POST", "cancel"): "cancel", ("GET", "results"): "results"}.get(
        (method, parts[1]) if len(parts) == 2 else ("", ""))


@dataclass
class _Batch:
    id: str
    created: float
    results: list[tuple[str, dict]]         # (custom_id, result), in the order they return
    canceled_at: float | None = None
    counts: Counter[str] = field(default_factory=Counter)


@dataclass
class _Stats:
    """The batches' counters, by their names in /stats (the module's docstring)."""

    batches: int = 0
    batch_requests: int = 0
    batch_results: Counter[str] = field(default_factory=Counter)


class FakeBatches:
    """The batches of one fake engine; every method is safe from several threads."""

    def __init__(self, engine: FakeEngine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self._batches: dict[str, _Batch] = {}
        self._faults: dict[str, list[dict[str, Any]]] = {op: [] for op in OPS}
        self.reset_stats()

    def reset_stats(self) -> None:
        with self._lock:
            self._stats = _Stats()

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return snapshot(self._stats)

    # -- routing ---------------------------------------------------------------

    def fail_next(self, op: str, faults: list[dict[str, Any]]) -> None:
        """The next calls of `op` (one of OPS) meet these, in order: `{"status": 529}` (that
        error reply: 500, 429 …, with the documented body), `{"reset": True}` (the
        connection dropped before the call is handled) or `{"reset": "after"}` (handled —
        a create makes its batch — then dropped before the reply reaches the client)."""
        if op not in OPS:
            raise ValueError(f"op must be one of {', '.join(OPS)}, got {op!r}")
        with self._lock:
            self._faults[op].extend(faults)

    def handle(self, method: str, target: str, headers: Any, raw: bytes) -> Reply:
        """Answer one request under /v1/messages/batches (`target` keeps its query)."""
        check_auth(headers, self.engine.config.valid_api_keys)
        url = urlsplit(target)
        parts = url.path.rstrip("/")[len(_PREFIX):].strip("/").split("/")
        op = _op(method, parts)
        with self._lock:
            fault = self._faults[op].pop(0) if op and self._faults[op] else None
        if fault is not None and not fault.get("reset"):
            self._stats.batch_results[f"fault_{fault['status']}"] += 1
            return error_reply(int(fault["status"]))
        if fault is not None and fault["reset"] != "after":
            return Reply(0, reset=True)
        reply = self._route(op, method, url, parts, headers, raw)
        return Reply(0, reset=True) if fault is not None else reply

    def _route(self, op: str | None, method: str, url: Any, parts: list[str], headers: Any,
               raw: bytes) -> Reply:
        if op == "create":
            return self._create(raw, headers)
        if op == "list":
            return self._list(parse_qs(url.query), headers)
        batch = self._get(parts[0])
        if op == "retrieve":
            return Reply(200, dumps(self._view(batch, headers)))
        if op == "cancel":
            return self._cancel(batch, headers)
        if op == "results":
            return self._results(batch)
        raise Invalid(404, "not_found_error", f"Not found: {method} {url.path}")

    def _get(self, batch_id: str) -> _Batch:
        with self._lock:
            batch = self._batches.get(batch_id)
        if batch is None:
            raise Invalid(404, "not_found_error", f"message batch {batch_id!r} not found")
        return batch

    # -- endpoints -------------------------------------------------------------

    def _create(self, raw: bytes, headers: Any) -> Reply:
        if len(raw) > MAX_BATCH_BYTES:
            raise Invalid(413, "request_too_large", "batch exceeds 256 MB")
        body = parse_json(raw)
        requests = body.get("requests") if isinstance(body, dict) else None
        if not isinstance(requests, list) or not 1 <= len(requests) <= MAX_REQUESTS:
            raise Invalid(400, "invalid_request_error",
                          f"requests: expected a list of 1 to {MAX_REQUESTS} items")
        seen: set[str] = set()
        for item in requests:
            custom_id = item.get("custom_id") if isinstance(item, dict) else None
            if not isinstance(custom_id, str) or not CUSTOM_ID.fullmatch(custom_id):
                raise Invalid(400, "invalid_request_error", f"custom_id {custom_id!r}: 1 to "
                              "64 characters of A-Z a-z 0-9 _ -")
            if custom_id in seen:
                raise Invalid(400, "invalid_request_error",
                              f"custom_id {custom_id!r} is not unique in the batch")
            seen.add(custom_id)
        batch_id = "msgbatch_" + uuid.uuid4().hex[:24]
        results = [(item["custom_id"], self._answer(batch_id, item)) for item in requests]
        results.sort(key=lambda r: hashlib.sha256(r[0].encode()).digest())   # any order
        batch = _Batch(batch_id, time.time(), results)
        with self._lock:
            self._batches[batch_id] = batch
            self._stats.batches += 1
            self._stats.batch_requests += len(requests)
        return Reply(200, dumps(self._view(batch, headers)))

    def _list(self, query: dict[str, list[str]], headers: Any) -> Reply:
        limit = int((query.get("limit") or ["20"])[0])
        if not 1 <= limit <= 1000:
            raise Invalid(400, "invalid_request_error", "limit: 1 to 1000")
        with self._lock:
            newest_first = sorted(self._batches.values(), key=lambda b: -b.created)
        ids = [b.id for b in newest_first]
        start = 0
        if query.get("after_id"):
            after = query["after_id"][0]
            start = ids.index(after) + 1 if after in ids else len(ids)
        page = newest_first[start:start + limit]
        return Reply(200, dumps({
            "data": [self._view(b, headers) for b in page],
            "has_more": start + limit < len(ids),
            "first_id": page[0].id if page else None,
            "last_id": page[-1].id if page else None}))

    def _cancel(self, batch: _Batch, headers: Any) -> Reply:
        with self._lock:
            canceling = batch.canceled_at is None and not self._ended(batch)
            if canceling:
                batch.canceled_at = time.time()
        view = self._view(batch, headers)
        if canceling:   # as the API answers a cancel: still `canceling`, ended on next look
            view = dict(view, processing_status="canceling", ended_at=None, results_url=None)
        return Reply(200, dumps(view))

    def _results(self, batch: _Batch) -> Reply:
        if not self._ended(batch):
            raise Invalid(400, "invalid_request_error",
                          f"message batch {batch.id} is still processing")
        lines = [dumps({"custom_id": custom_id, "result": self._final(batch, result)})
                 for custom_id, result in batch.results]
        with self._lock:
            if not batch.counts:
                batch.counts.update(self._final(batch, r)["type"] for _, r in batch.results)
                self._stats.batch_results.update(batch.counts)
        return Reply(200, b"\n".join(lines) + b"\n", content_type="application/binary")

    # -- one request -----------------------------------------------------------

    def _answer(self, batch_id: str, item: dict) -> dict:
        """The result of one request, decided when the batch is created."""
        config = self.engine.config
        draw = hashlib.sha256(f"{config.seed}:{batch_id}:{item['custom_id']}".encode())
        u = int.from_bytes(draw.digest()[:8], "big") / 2.0**64
        if u < config.batch_expired:
            return {"type": "expired"}
        if u < config.batch_expired + config.batch_errored:
            return _errored("api_error", "Internal server error")
        params = item.get("params")
        try:
            if not isinstance(params, dict) or params.get("stream"):
                raise Invalid(400, "invalid_request_error", "params: a non-streaming request")
            validate(params)
            check_model(params["model"], config.knows)
        except Invalid as e:
            return _errored(e.etype, e.message)
        return {"type": "succeeded", "message": self.engine.message(params)}

    def _ended(self, batch: _Batch) -> bool:
        return (batch.canceled_at is not None
                or time.time() >= batch.created + self.engine.config.batch_seconds)

    def _final(self, batch: _Batch, result: dict) -> dict:
        """A request's result once the batch has ended: canceled if cancel came first
        (`canceled_at` is only set by a cancel before the end, so a test may shorten
        `batch_seconds` afterwards without un-canceling it)."""
        return {"type": "canceled"} if batch.canceled_at is not None else result

    def _view(self, batch: _Batch, headers: Any) -> dict:
        """The batch as `MessageBatch`: counts are all `processing` until it has ended."""
        ended = self._ended(batch)
        counts = dict.fromkeys(("processing", "succeeded", "errored", "canceled", "expired"), 0)
        if ended:
            for _, result in batch.results:
                counts[self._final(batch, result)["type"]] += 1
        else:
            counts["processing"] = len(batch.results)
        end = (batch.canceled_at if batch.canceled_at is not None
               else batch.created + self.engine.config.batch_seconds)
        host = headers.get("host") or "127.0.0.1"
        return {
            "id": batch.id, "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts, "created_at": _iso(batch.created),
            "expires_at": _iso(batch.created + EXPIRES_SECONDS),
            "ended_at": _iso(end) if ended else None, "archived_at": None,
            "cancel_initiated_at": None if batch.canceled_at is None
            else _iso(batch.canceled_at),
            "results_url": f"http://{host}{_PREFIX}/{batch.id}/results" if ended else None}


def _errored(etype: str, message: str) -> dict:
    return {"type": "errored", "error": error_body(etype, message)}


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")
