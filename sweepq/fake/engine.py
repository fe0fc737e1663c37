"""The fake Messages API without a transport: a request in, a `Reply` out, and counters.

`FakeAPI` (server.py) serves it over loopback HTTP; `InProcessBackend` (inprocess.py)
calls it through an httpx transport inside the process. Both therefore answer, fail
and count identically.

Endpoints::

    POST /v1/messages               the Messages API (JSON or ``"stream": true`` SSE)
    POST /v1/messages/count_tokens  {"input_tokens": n}
    GET  /stats                     counters (see `FakeEngine.stats`)
    POST /_stats/reset              zero the counters
    POST /_script                   queue exact responses for the next /v1/messages requests
    …    /v1/messages/batches…      the Message Batches API (batches.py)

Order of decisions for ``POST /v1/messages``: scripted response > request size (413) >
authentication (401) > request validation (400) > unknown model (404) > faults (see
faults.py) > success.
"""

from __future__ import annotations

import hashlib
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from . import documented
from .answers import Answerer, count_tokens, input_tokens
from .batches import FakeBatches
from .cache import Bill, PromptCache
from .config import FakeConfig
from .counters import snapshot
from .faults import Faults
from .limiter import Limiter
from .validate import check_auth, check_model, parse_json, validate
from .wire import Invalid, Reply, canonical, dumps, error_reply, request_id, sse_body


@dataclass
class _Stats:
    """The engine's counters, by their names in /stats (`FakeEngine.stats`)."""

    requests: int = 0
    successes: int = 0
    successes_by_model: Counter[str] = field(default_factory=Counter)
    faults: Counter[str] = field(default_factory=Counter)
    rejected: Counter[str] = field(default_factory=Counter)
    scripted: int = 0
    success_hashes: Counter[str] = field(default_factory=Counter)
    max_in_flight: int = 0


class FakeEngine:
    """The state of one fake API: configuration, answers, faults and counters."""

    def __init__(self, config: FakeConfig | None = None) -> None:
        self.config = config or FakeConfig()
        self.config.validate()
        self._lock = threading.Lock()
        self.answers = Answerer(self.config)
        self.faults = Faults(self.config)
        self.limiter = Limiter(self.config) if self.config.limited else None
        self._successes_total = 0           # never reset: drives the spend-limit window
        self._in_flight = 0
        self.batches = FakeBatches(self)
        self.cache = PromptCache()          # prompt caching, billed as documented (cache.py)
        self._reset_stats()

    # -- counters and script ---------------------------------------------------

    def _reset_stats(self) -> None:
        with self._lock:
            self._stats = _Stats(max_in_flight=self._in_flight)
        self.batches.reset_stats()

    def reset_stats(self) -> None:
        """Zero the counters (same as POST /_stats/reset)."""
        self._reset_stats()

    def stats(self) -> dict:
        """Counters: requests, successes, successes_by_model, faults (by status, "reset",
        "exhausted", "credit"), rejected (client errors by status), scripted,
        success_hashes (sha256 of the canonical request body -> successful responses), and
        max_in_flight (the most /v1/messages requests answered at once: proof of overlap)."""
        with self._lock:
            return {**snapshot(self._stats), **self.batches.stats()}

    def script(self, responses: list[dict]) -> None:
        """Queue exact responses for the next /v1/messages requests (see `Faults.script`)."""
        with self._lock:
            self.faults.script(responses)

    # -- routing ---------------------------------------------------------------

    def handle(self, method: str, path: str, headers: Any, raw: bytes) -> Reply:
        """Answer one request; `headers` is anything with a case-insensitive `.get`."""
        target, path = path, path.split("?", 1)[0].rstrip("/")
        try:
            if path.startswith("/v1/messages/batches"):
                return self.batches.handle(method, target, headers, raw)
            if method == "POST" and path == "/v1/messages":
                return self._messages(headers, raw)
            if method == "POST" and path == "/v1/messages/count_tokens":
                check_auth(headers, self.config.valid_api_keys)
                body = parse_json(raw)
                return Reply(200, dumps({"input_tokens": input_tokens(body)}))
            if method == "GET" and path == "/stats":
                return Reply(200, dumps(self.stats()))
            if method == "POST" and path == "/_stats/reset":
                self.reset_stats()
                return Reply(200, dumps({"ok": True}))
            if method == "POST" and path == "/_script":
                return self._script_endpoint(raw)
            return error_reply(404, "not_found_error", f"Not found: {method} {path}")
        except Invalid as e:
            return error_reply(e.status, e.etype, e.message)

    def _script_endpoint(self, raw: bytes) -> Reply:
        data = parse_json(raw)
        items = data.get("responses") if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise Invalid(400, "invalid_request_error", "expected a JSON list of responses")
        try:
            self.script(items)
        except ValueError as e:
            raise Invalid(400, "invalid_request_error", str(e)) from None
        return Reply(200, dumps({"queued": len(items)}))

    # -- /v1/messages ------------------------------------------------------------

    def _messages(self, headers: Any, raw: bytes) -> Reply:
        """Answer one request, counting how many are being answered at the same time."""
        with self._lock:
            self._in_flight += 1
            self._stats.max_in_flight = max(self._stats.max_in_flight, self._in_flight)
        try:
            return self._answer(headers, raw)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer(self, headers: Any, raw: bytes) -> Reply:
        with self._lock:
            self._stats.requests += 1
            scripted = self.faults.next_scripted()
        if scripted is not None:
            self._sleep()
            return self._scripted_reply(scripted, raw)
        try:
            body = self._checked(headers, raw)
        except Invalid as e:
            with self._lock:
                self._stats.rejected[str(e.status)] += 1
            self._sleep()
            return self._with_limits(error_reply(e.status, e.etype, e.message))
        if self.limiter is not None:
            wait = self.limiter.take(input_tokens(body))
            if wait is not None:   # refused at once, as the real limiter does: no latency
                with self._lock:
                    self._stats.faults["limited"] += 1
                return self._with_limits(error_reply(429, "rate_limit_error",
                                                     documented.RATE_LIMIT_MESSAGE), wait)
        digest = hashlib.sha256(canonical(body)).hexdigest()
        with self._lock:
            fault = self.faults.draw(self._successes_total)
            if fault is None:
                self._count_success(body["model"], digest)
            else:
                self._stats.faults[fault[0]] += 1
        # The cache is looked up on arrival; what this call writes is readable once its
        # response begins (after the latency), as a real call's is.
        bill = None if fault is not None else self.cache.bill(
            body, input_tokens(body), self.config.latency_ms / 1000.0)
        self._sleep()
        reply = fault[1] if fault is not None else self._success(body, bill)
        return reply if reply.reset else self._with_limits(reply)

    def _checked(self, headers: Any, raw: bytes) -> dict:
        """The request body once every check the real API makes has passed."""
        if len(raw) > documented.MAX_REQUEST_BYTES:
            raise Invalid(413, "request_too_large",
                          documented.ERROR_BODIES[413][1])
        check_auth(headers, self.config.valid_api_keys)
        body = parse_json(raw)
        validate(body)
        check_model(body["model"], self.config.knows)
        return body

    def _scripted_reply(self, s: dict, raw: bytes) -> Reply:
        def generate() -> Reply:
            try:
                body = parse_json(raw)
                validate(body)
            except Invalid as e:
                return error_reply(e.status, e.etype, e.message)
            return self._success(body)

        key, reply = self.faults.scripted_reply(s, generate)
        with self._lock:
            self._stats.scripted += 1
            if key != "ok":
                self._stats.faults[key] += 1
            elif reply.status < 300:
                self._count_scripted_success(raw)
        if not reply.reset:
            reply.headers.append(("anthropic-organization-id", documented.ORGANIZATION_ID))
        return reply

    def _count_scripted_success(self, raw: bytes) -> None:
        # caller holds self._lock
        try:
            body = parse_json(raw)
            self._count_success(str(body.get("model")), hashlib.sha256(canonical(body)).hexdigest())
        except (Invalid, AttributeError):
            self._stats.successes += 1

    def _count_success(self, model: str, digest: str) -> None:
        # caller holds self._lock
        self._stats.successes += 1
        self._successes_total += 1
        self._stats.successes_by_model[model] += 1
        self._stats.success_hashes[digest] += 1

    def _sleep(self) -> None:
        if self.config.latency_ms > 0:
            time.sleep(self.config.latency_ms / 1000.0)

    def _with_limits(self, reply: Reply, retry_after: float | None = None) -> Reply:
        """Every generated reply carries the rate-limit families and the organisation id
        (from the limiter's buckets when there is one)."""
        if not any(k == "anthropic-ratelimit-requests-limit" for k, _ in reply.headers):
            if self.limiter is not None:
                reply.headers += self.limiter.headers(time.time(), retry_after)
            else:
                reply.headers += documented.ratelimit_headers(
                    time.time(), exhausted=reply.status == 429)
        return reply

    def message(self, body: dict, bill: Bill | None = None) -> dict:
        """The Message a valid request body gets (a batch request's `succeeded` result too);
        `bill`: its input tokens as the prompt cache split them on arrival."""
        text = self.answers.text(body)
        bill = bill or self.cache.bill(body, input_tokens(body))
        out, stop = count_tokens(text), "end_turn"
        if out > body["max_tokens"]:
            text, out, stop = text[: body["max_tokens"] * 4], body["max_tokens"], "max_tokens"
        return {
            "id": "msg_" + uuid.uuid4().hex[:24], "type": "message", "role": "assistant",
            "model": body["model"], "content": [{"type": "text", "text": text}],
            "stop_reason": stop, "stop_sequence": None,
            "usage": documented.usage(bill.input_tokens, out, bill.write_5m, bill.write_1h,
                                      bill.read),
        }

    def _success(self, body: dict, bill: Bill | None = None) -> Reply:
        message = self.message(body, bill)
        if self.limiter is not None:
            self.limiter.charge_output(message["usage"]["output_tokens"])
        headers = [("request-id", request_id())]
        if not body.get("stream"):
            return Reply(200, dumps(message), headers)
        headers.append(("cache-control", "no-cache"))
        return Reply(200, sse_body(message), headers,
                     content_type="text/event-stream; charset=utf-8")
