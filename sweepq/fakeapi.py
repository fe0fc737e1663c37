"""A loopback server speaking enough of Anthropic's Messages API for the real SDK.

Point the `anthropic` SDK at it with ``ANTHROPIC_BASE_URL=http://127.0.0.1:PORT`` (or
``base_url=``): tests, the offline demo, dry runs and benchmarks then exercise the SDK's
real HTTP path, exceptions and headers.  Standard library only.

Endpoints::

    POST /v1/messages               the Messages API (JSON or ``"stream": true`` SSE)
    POST /v1/messages/count_tokens  {"input_tokens": n}
    GET  /stats                     counters (see `FakeAPI.stats`)
    POST /_stats/reset              zero the counters
    POST /_script                   queue exact responses for the next /v1/messages requests

Answers are deterministic: the text depends only on a hash of (seed, model, system,
messages), never on a shared RNG, so concurrency does not change them.  Faults (random
statuses, connection resets) are drawn from one seeded ``random.Random`` under a lock: one
draw per request that reaches the fault stage, so a given seed and request order always
gives the same fault sequence.

Order of decisions for ``POST /v1/messages``: scripted response > authentication >
request validation (400) > unknown model (404) > credit exhausted (400) > exhaustion
window (429) > random reset/status faults > success.
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import re
import signal
import socket
import struct
import sys
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click

__all__ = [
    "FakeAPI",
    "FakeConfig",
    "ERROR_BODIES",
    "SPEND_LIMIT_CODE",
    "CREDIT_MESSAGE",
    "fake_api_command",
    "main",
]

SPEND_LIMIT_CODE = "enforced_spend_limit_reached"
CREDIT_MESSAGE = (
    "Your credit balance is too low to access the Anthropic API. "
    "Please go to Plans & Billing to upgrade or purchase credits."
)
RATE_LIMIT_MESSAGE = (
    "This request would exceed the rate limit for your organization of 50 requests per "
    "minute. For details, refer to: https://docs.claude.com/en/api/rate-limits. You can see "
    "the response headers for current usage. Please reduce the prompt length or the maximum "
    "tokens requested, or try again later."
)

# HTTP status -> (error.type, error.message) of the JSON error body.  Add a line here to
# support a new fault status; statuses not listed get ("api_error", <reason phrase>).
ERROR_BODIES: dict[int, tuple[str, str]] = {
    400: ("invalid_request_error", "Invalid request"),
    401: ("authentication_error", "invalid x-api-key"),
    403: ("permission_error",
          "Your API key does not have permission to use the specified resource."),
    404: ("not_found_error", "Not found"),
    408: ("timeout_error", "Request timed out"),
    413: ("invalid_request_error", "Request exceeds the maximum allowed number of bytes."),
    429: ("rate_limit_error", RATE_LIMIT_MESSAGE),
    500: ("api_error", "Internal server error"),
    502: ("api_error", "Bad gateway"),
    503: ("api_error", "Service unavailable"),
    504: ("timeout_error", "Gateway timeout"),
    529: ("overloaded_error", "Overloaded"),
}

_REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 413: "Payload Too Large",
    429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Gateway Timeout", 529: "Overloaded",
}

_CHOICE_RE = re.compile(r"^\(([A-Z])\) (.*)$", re.MULTILINE)
_ANSWER_RE = re.compile(r"Answer:\s*(.+)")
_JUDGE_A_RE = re.compile(r"<response_a>(.*?)</response_a>", re.DOTALL)
_JUDGE_B_RE = re.compile(r"<response_b>(.*?)</response_b>", re.DOTALL)
_LABEL_RE = re.compile(r"^\(?([A-Z])\)?$")
_BLOCK_TYPES = {
    "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking",
    "search_result", "server_tool_use", "web_search_tool_result",
}
_FLIPS = {
    "true": "False", "false": "True", "yes": "No", "no": "Yes",
    "valid": "invalid", "invalid": "valid",
}


@dataclass
class FakeConfig:
    """How the fake API behaves.  All rates are probabilities in [0, 1]."""

    latency_ms: float = 0
    seed: int = 0
    answer_key: dict[str, str] | None = None
    accuracy: dict[str, float] = field(default_factory=dict)
    faults: dict[int, float] = field(default_factory=dict)
    reset_rate: float = 0.0
    retry_after: float | None = None
    exhaust_after: int | None = None
    exhaust_for: float = 0.0
    credit_exhausted: bool = False
    valid_api_keys: set[str] | None = None

    def validate(self) -> None:
        """Raise ValueError (one line) when a value is out of range."""
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        for name, p in self.accuracy.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"accuracy for {name!r} must be in [0, 1], got {p}")
        for status, p in self.faults.items():
            if not (isinstance(status, int) and 400 <= status <= 599):
                raise ValueError(f"fault status must be an HTTP error status 400-599, got {status}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"fault rate for {status} must be in [0, 1], got {p}")
        if not 0.0 <= self.reset_rate <= 1.0:
            raise ValueError(f"reset rate must be in [0, 1], got {self.reset_rate}")
        if self.reset_rate + sum(self.faults.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates plus reset rate add up to more than 1")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {self.retry_after}")
        if self.exhaust_after is not None and self.exhaust_after < 0:
            raise ValueError(f"exhaust_after must be >= 0, got {self.exhaust_after}")
        if self.exhaust_for < 0:
            raise ValueError(f"exhaust_for must be >= 0, got {self.exhaust_for}")


class _Invalid(Exception):
    """A request the real API would reject: carries status, error type and message."""

    def __init__(self, status: int, etype: str, message: str) -> None:
        super().__init__(message)
        self.status, self.etype, self.message = status, etype, message


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    reset: bool = False


# --------------------------------------------------------------------------- helpers


def _dumps(obj: Any) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _canonical(obj: Any) -> bytes:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _request_id() -> str:
    return "req_" + uuid.uuid4().hex[:24]


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(math.ceil(ts), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def error_body(etype: str, message: str, details: dict | None = None) -> dict:
    """The JSON body of an API error, as the real API sends it."""
    err: dict[str, Any] = {"type": etype, "message": message}
    if details is not None:
        err["details"] = details
    return {"type": "error", "error": err}


def _error_reply(status: int, etype: str | None = None, message: str | None = None,
                 headers: list[tuple[str, str]] | None = None,
                 details: dict | None = None) -> _Reply:
    d_type, d_msg = ERROR_BODIES.get(status, ("api_error", _REASONS.get(status, "Error")))
    rid = _request_id()
    body = error_body(etype or d_type, message or d_msg, details)
    body["request_id"] = rid
    return _Reply(status, _dumps(body), [("request-id", rid), *(headers or [])])


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(
            b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text"
        )
    return ""


def _validate(body: Any) -> None:
    """Raise _Invalid like the real API for a malformed Messages request."""

    def bad(msg: str) -> _Invalid:
        return _Invalid(400, "invalid_request_error", msg)

    if not isinstance(body, dict):
        raise bad("Request body must be a JSON object")
    if "model" not in body:
        raise bad("model: Field required")
    if not isinstance(body["model"], str):
        raise bad("model: Input should be a valid string")
    if "max_tokens" not in body:
        raise bad("max_tokens: Field required")
    mt = body["max_tokens"]
    if isinstance(mt, bool) or not isinstance(mt, int):
        raise bad("max_tokens: Input should be a valid integer")
    if mt < 1:
        raise bad("max_tokens: Input should be greater than or equal to 1")
    if "messages" not in body:
        raise bad("messages: Field required")
    msgs = body["messages"]
    if not isinstance(msgs, list):
        raise bad("messages: Input should be a valid list")
    if not msgs:
        raise bad("messages: at least one message is required")
    for i, m in enumerate(msgs):
        if not isinstance(m, dict):
            raise bad(f"messages.{i}: Input should be a valid dictionary")
        if m.get("role") not in ("user", "assistant"):
            raise bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
        if "content" not in m:
            raise bad(f"messages.{i}.content: Field required")
        c = m["content"]
        final_assistant = i == len(msgs) - 1 and m["role"] == "assistant"
        if isinstance(c, str):
            if not c and not final_assistant:
                raise bad(
                    f"messages.{i}: all messages must have non-empty content except for "
                    "the optional final assistant message"
                )
        elif isinstance(c, list):
            if not c and not final_assistant:
                raise bad(
                    f"messages.{i}: all messages must have non-empty content except for "
                    "the optional final assistant message"
                )
            for j, b in enumerate(c):
                if not isinstance(b, dict) or "type" not in b:
                    raise bad(f"messages.{i}.content.{j}.type: Field required")
                if b["type"] not in _BLOCK_TYPES:
                    raise bad(f"messages.{i}.content.{j}: Input tag '{b['type']}' found using "
                              "'type' does not match any of the expected tags")
                if b["type"] == "text":
                    if not isinstance(b.get("text"), str):
                        raise bad(f"messages.{i}.content.{j}.text: Field required")
                    if not b["text"]:
                        raise bad(f"messages.{i}.content.{j}: text content blocks must be "
                                  "non-empty")
        else:
            raise bad(f"messages.{i}.content: Input should be a valid string or list")
    if "system" in body:
        s = body["system"]
        if isinstance(s, list):
            for j, b in enumerate(s):
                if not (isinstance(b, dict) and b.get("type") == "text"
                        and isinstance(b.get("text"), str)):
                    raise bad(f"system.{j}: Input should be a text content block")
        elif not isinstance(s, str):
            raise bad("system: Input should be a valid string or list of text blocks")
    if "stream" in body and not isinstance(body["stream"], bool):
        raise bad("stream: Input should be a valid boolean")
    t = body.get("temperature")
    if t is not None and (isinstance(t, bool) or not isinstance(t, int | float)
                          or not 0.0 <= t <= 1.0):
        raise bad("temperature: Input should be a number between 0 and 1")


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def _unit(h: bytes, i: int) -> float:
    """A uniform float in [0, 1) from 8 bytes of the hash."""
    return int.from_bytes(h[i:i + 8], "big") / 2.0**64


def _wrong_free_form(gold: str) -> str:
    g = gold.strip()
    if g.lower() in _FLIPS:
        return _FLIPS[g.lower()]
    try:
        return str(int(g) + 1)
    except ValueError:
        return g + " x"


def _accuracy_for(acc: dict[str, float], model: str) -> float:
    best: tuple[int, float] | None = None
    for key, p in acc.items():
        if key != "*" and key in model and (best is None or len(key) > best[0]):
            best = (len(key), p)
    if best is not None:
        return best[1]
    return acc.get("*", 1.0)


# --------------------------------------------------------------------------- the server


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    request_queue_size = 256
    allow_reuse_address = True

    def __init__(self, addr: tuple[str, int], handler: type, fake: FakeAPI) -> None:
        if ":" in addr[0]:
            self.address_family = socket.AF_INET6
        self.fake = fake
        self.conns: set[socket.socket] = set()
        self.conns_lock = threading.Lock()
        super().__init__(addr, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hangs up (a killed worker) is normal here, not worth a traceback."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.conns_lock:
            self.conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.conns_lock:
            self.conns.discard(request)
        super().shutdown_request(request)

    def drop_connections(self) -> None:
        with self.conns_lock:
            conns = list(self.conns)
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fake-anthropic"
    sys_version = ""
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        pass

    def _read_body(self) -> bytes:
        if self.headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("content-length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def _dispatch(self) -> None:
        body = self._read_body()
        path = self.path.split("?", 1)[0].rstrip("/")
        reply = self.server.fake._route(self.command, path, self.headers, body)
        self._send(reply)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def _send(self, r: _Reply) -> None:
        if r.reset:
            # Drop the connection without a response: RST via SO_LINGER 0.
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                           struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
            self.close_connection = True
            return
        reason = _REASONS.get(r.status, "Error")
        lines = [
            f"HTTP/1.1 {r.status} {reason}",
            f"content-type: {r.content_type}",
            f"content-length: {len(r.body)}",
        ]
        lines += [f"{k}: {v}" for k, v in r.headers]
        if self.close_connection:
            lines.append("connection: close")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        try:
            self.wfile.write(head + r.body)
        except OSError:
            self.close_connection = True


class FakeAPI:
    """The fake Messages API server; a context manager running in a background thread."""

    def __init__(self, config: FakeConfig | None = None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.config = config or FakeConfig()
        self.config.validate()
        self.host, self._port = host, port
        self._lock = threading.Lock()
        self._rng = random.Random(self.config.seed)
        self._script: deque[dict] = deque()
        self._successes_total = 0           # never reset: drives the exhaustion window
        self._window: tuple[float, float] | None = None   # (start, end) monotonic
        self._window_done = False
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._reset_stats()
        self._answer_key = {k.strip(): v for k, v in (self.config.answer_key or {}).items()}
        # fault hooks: each returns a reply (the fault) or None; tried in order
        self.fault_hooks: list[Callable[[dict, str], _Reply | None]] = [
            self._fault_credit, self._fault_exhausted, self._fault_random,
        ]

    # ------------------------------------------------------------------ lifecycle
    @property
    def port(self) -> int:
        return self._server.server_address[1] if self._server else self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def start(self) -> FakeAPI:
        if self._server is None:
            self._server = _Server((self.host, self._port), _Handler, self)
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                name="fakeapi", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        srv, self._server = self._server, None
        if srv is None:
            return
        self._port = srv.server_address[1]
        srv.shutdown()
        srv.server_close()
        srv.drop_connections()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control
    def _reset_stats(self) -> None:
        with self._lock:
            self._requests = 0
            self._successes = 0
            self._by_model: Counter[str] = Counter()
            self._faults: Counter[str] = Counter()
            self._rejected: Counter[str] = Counter()
            self._scripted = 0
            self._hashes: Counter[str] = Counter()
            self._in_flight = getattr(self, "_in_flight", 0)   # requests being answered now
            self._max_in_flight = self._in_flight

    def reset_stats(self) -> None:
        """Zero the counters (same as POST /_stats/reset)."""
        self._reset_stats()

    def stats(self) -> dict:
        """Counters: requests, successes, successes_by_model, faults (by status, "reset",
        "exhausted", "credit"), rejected (client errors by status), scripted,
        success_hashes (sha256 of the canonical request body -> successful responses), and
        max_in_flight (the most /v1/messages requests answered at once: proof of overlap)."""
        with self._lock:
            return {
                "requests": self._requests,
                "successes": self._successes,
                "successes_by_model": dict(self._by_model),
                "faults": dict(self._faults),
                "rejected": dict(self._rejected),
                "scripted": self._scripted,
                "success_hashes": dict(self._hashes),
                "max_in_flight": self._max_in_flight,
            }

    def script(self, responses: list[dict]) -> None:
        """Queue exact responses for the next /v1/messages requests, in order.

        Each is {"status": int, "headers": {...}, "body": <json>} or {"reset": true}.  A
        missing body gets the usual one for that status (a generated answer for 2xx)."""
        for r in responses:
            if not isinstance(r, dict) or not (r.get("reset") or isinstance(r.get("status"), int)):
                raise ValueError(f"scripted response needs an int 'status' or 'reset': {r!r}")
        with self._lock:
            self._script.extend(responses)

    # ------------------------------------------------------------------ routing
    def _route(self, method: str, path: str, headers: Any, raw: bytes) -> _Reply:
        try:
            if method == "POST" and path == "/v1/messages":
                return self._messages(headers, raw)
            if method == "POST" and path == "/v1/messages/count_tokens":
                self._auth(headers)
                body = self._parse(raw)
                return _Reply(200, _dumps({"input_tokens": self._input_tokens(body)}))
            if method == "GET" and path == "/stats":
                return _Reply(200, _dumps(self.stats()))
            if method == "POST" and path == "/_stats/reset":
                self.reset_stats()
                return _Reply(200, _dumps({"ok": True}))
            if method == "POST" and path == "/_script":
                data = self._parse(raw)
                items = data.get("responses") if isinstance(data, dict) else data
                if not isinstance(items, list):
                    raise _Invalid(400, "invalid_request_error",
                                   "expected a JSON list of responses")
                try:
                    self.script(items)
                except ValueError as e:
                    raise _Invalid(400, "invalid_request_error", str(e)) from None
                return _Reply(200, _dumps({"queued": len(items)}))
            return _error_reply(404, "not_found_error", f"Not found: {method} {path}")
        except _Invalid as e:
            return _error_reply(e.status, e.etype, e.message)

    @staticmethod
    def _parse(raw: bytes) -> Any:
        try:
            return json.loads(raw)
        except ValueError:
            raise _Invalid(400, "invalid_request_error",
                           "There was an error parsing the body of your request: "
                           "invalid JSON") from None

    def _auth(self, headers: Any) -> None:
        key = headers.get("x-api-key")
        if key is None:
            auth = headers.get("authorization") or ""
            if auth.lower().startswith("bearer "):
                key = auth[7:].strip()
        if not key:
            raise _Invalid(401, "authentication_error", "x-api-key header is required")
        if self.config.valid_api_keys is not None and key not in self.config.valid_api_keys:
            raise _Invalid(401, "authentication_error", "invalid x-api-key")

    def _sleep(self) -> None:
        if self.config.latency_ms > 0:
            time.sleep(self.config.latency_ms / 1000.0)

    def _messages(self, headers: Any, raw: bytes) -> _Reply:
        """Answer one request, counting how many are being answered at the same time."""
        with self._lock:
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        try:
            return self._answer_messages(headers, raw)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _answer_messages(self, headers: Any, raw: bytes) -> _Reply:
        with self._lock:
            self._requests += 1
            scripted = self._script.popleft() if self._script else None
        if scripted is not None:
            self._sleep()
            return self._scripted_reply(scripted, raw)
        try:
            self._auth(headers)
            body = self._parse(raw)
            _validate(body)
            model = body["model"]
            if not model.startswith("claude-"):
                raise _Invalid(404, "not_found_error", f"model: {model}")
        except _Invalid as e:
            with self._lock:
                self._rejected[str(e.status)] += 1
            self._sleep()
            return _error_reply(e.status, e.etype, e.message)
        digest = hashlib.sha256(_canonical(body)).hexdigest()
        with self._lock:
            fault = None
            for hook in self.fault_hooks:
                fault = hook(body, digest)
                if fault is not None:
                    break
            if fault is None:
                self._count_success(model, digest)
        self._sleep()
        return fault if fault is not None else self._success(body)

    def _count_success(self, model: str, digest: str) -> None:
        # caller holds self._lock
        self._successes += 1
        self._successes_total += 1
        self._by_model[model] += 1
        self._hashes[digest] += 1

    def _scripted_reply(self, s: dict, raw: bytes) -> _Reply:
        with self._lock:
            self._scripted += 1
        if s.get("reset"):
            with self._lock:
                self._faults["reset"] += 1
            return _Reply(0, reset=True)
        status = int(s["status"])
        hdrs = [(str(k), str(v)) for k, v in (s.get("headers") or {}).items()]
        if "body" in s:
            b = s["body"]
            data = b.encode() if isinstance(b, str) else _dumps(b)
            reply = _Reply(status, data, hdrs)
            if not any(k.lower() == "request-id" for k, _ in hdrs):
                reply.headers.append(("request-id", _request_id()))
        elif 200 <= status < 300:
            try:
                body = self._parse(raw)
                _validate(body)
            except _Invalid as e:
                return _error_reply(e.status, e.etype, e.message)
            reply = self._success(body)
            reply.status = status
            reply.headers += hdrs
        else:
            reply = _error_reply(status, headers=hdrs)
        with self._lock:
            if 200 <= status < 300:
                try:
                    body = json.loads(raw)
                    self._count_success(str(body.get("model")),
                                        hashlib.sha256(_canonical(body)).hexdigest())
                except (ValueError, AttributeError):
                    self._successes += 1
            else:
                self._faults[str(status)] += 1
        return reply

    # ------------------------------------------------------------------ fault hooks
    # Each hook runs under self._lock and returns a _Reply for a fault, or None.
    def _fault_credit(self, body: dict, digest: str) -> _Reply | None:
        if not self.config.credit_exhausted:
            return None
        self._faults["credit"] += 1
        return _error_reply(400, "invalid_request_error", CREDIT_MESSAGE)

    def _fault_exhausted(self, body: dict, digest: str) -> _Reply | None:
        cfg = self.config
        if cfg.exhaust_after is None or self._window_done:
            return None
        now = time.monotonic()
        if self._window is None:
            if self._successes_total < cfg.exhaust_after:
                return None
            self._window = (now, now + cfg.exhaust_for)
        if now >= self._window[1]:
            self._window_done = True
            return None
        end_wall = time.time() + (self._window[1] - now)
        regain = datetime.fromtimestamp(math.ceil(end_wall / 60.0) * 60, UTC)
        message = (
            "You have reached your specified API usage limits. You will regain access on "
            f"{regain:%Y-%m-%d} at {regain:%H:%M} UTC."
        )
        self._faults["exhausted"] += 1
        return _error_reply(429, "rate_limit_error", message,
                            details={"error_code": SPEND_LIMIT_CODE})

    def _fault_random(self, body: dict, digest: str) -> _Reply | None:
        cfg = self.config
        if not cfg.faults and cfg.reset_rate <= 0:
            return None
        u = self._rng.random()
        edge = cfg.reset_rate
        if u < edge:
            self._faults["reset"] += 1
            return _Reply(0, reset=True)
        for status, rate in cfg.faults.items():
            edge += rate
            if u < edge:
                self._faults[str(status)] += 1
                return self._status_fault(status)
        return None

    def _status_fault(self, status: int) -> _Reply:
        headers: list[tuple[str, str]] = []
        if status == 429:
            wait = self.config.retry_after
            if wait is not None:
                headers.append(("retry-after", f"{wait:g}"))
            headers += [
                ("anthropic-ratelimit-requests-limit", "50"),
                ("anthropic-ratelimit-requests-remaining", "0"),
                ("anthropic-ratelimit-requests-reset",
                 _rfc3339(time.time() + (wait if wait is not None else 1.0))),
            ]
        elif status in (500, 502, 503, 504, 529):
            headers.append(("x-should-retry", "true"))
        return _error_reply(status, headers=headers)

    # ------------------------------------------------------------------ success
    def _input_tokens(self, body: Any) -> int:
        if not isinstance(body, dict):
            return 1
        n = len(_text_of(body.get("system", "")))
        for m in body.get("messages") or []:
            if isinstance(m, dict):
                n += len(_text_of(m.get("content")))
        return max(1, n // 4)

    def answer_text(self, body: dict) -> str:
        """The deterministic answer text for a valid request body."""
        model = body["model"]
        system = body.get("system")
        h = hashlib.sha256(
            _canonical([self.config.seed, model, system, body["messages"]])
        ).digest()
        user = ""
        for m in reversed(body["messages"]):
            if m.get("role") == "user":
                user = _text_of(m["content"])
                break

        a, b = _JUDGE_A_RE.search(user), _JUDGE_B_RE.search(user)
        if a and b:
            fa, fb = _ANSWER_RE.findall(a.group(1)), _ANSWER_RE.findall(b.group(1))
            same = bool(fa and fb and fa[-1].strip().lower() == fb[-1].strip().lower())
            return ("YES" if same else "NO") + "\nThe two final answers " + (
                "match." if same else "differ.")

        gold = self._answer_key.get(user.strip()) if self._answer_key else None
        correct = gold is not None and _unit(h, 0) < _accuracy_for(self.config.accuracy, model)
        labels = [m.group(1) for m in _CHOICE_RE.finditer(user)]
        pick = int.from_bytes(h[8:16], "big")
        if labels:
            reasoning = (f"Let me consider each of the {len(labels)} options in turn.\n"
                         "Weighing them against the question, one fits best.")
            gm = _LABEL_RE.match(gold.strip()) if gold is not None else None
            if gold is None:
                ans = labels[pick % len(labels)]
            elif gm is None:   # gold is not a label: treat like free form
                ans = gold.strip() if correct else _wrong_free_form(gold)
            elif correct:
                ans = gold.strip()
            else:
                others = [x for x in labels if x != gm.group(1)] or [
                    chr(65 + (ord(gm.group(1)) - 64) % 26)]
                wrong = others[pick % len(others)]
                ans = f"({wrong})" if gold.strip().startswith("(") else wrong
        else:
            reasoning = "Let me think about this step by step.\nWorking through it carefully."
            if gold is None:
                ans = "0"
            else:
                ans = gold.strip() if correct else _wrong_free_form(gold)
        return f"{reasoning}\nAnswer: {ans}"

    def _success(self, body: dict) -> _Reply:
        text = self.answer_text(body)
        out = _tokens(text)
        stop = "end_turn"
        if out > body["max_tokens"]:
            text, out, stop = text[: body["max_tokens"] * 4], body["max_tokens"], "max_tokens"
        in_tok = self._input_tokens(body)
        msg_id = "msg_" + uuid.uuid4().hex[:24]
        rid = _request_id()
        headers = [
            ("request-id", rid),
            ("anthropic-ratelimit-requests-limit", "4000"),
            ("anthropic-ratelimit-requests-remaining", "3999"),
            ("anthropic-ratelimit-requests-reset", _rfc3339(time.time() + 1)),
        ]
        usage = {
            "input_tokens": in_tok, "output_tokens": out,
            "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0,
        }
        if not body.get("stream"):
            msg = {
                "id": msg_id, "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": text}],
                "stop_reason": stop, "stop_sequence": None, "usage": usage,
            }
            return _Reply(200, _dumps(msg), headers)
        start_usage = dict(usage, output_tokens=1)
        events: list[tuple[str, dict]] = [
            ("message_start", {"type": "message_start", "message": {
                "id": msg_id, "type": "message", "role": "assistant", "model": body["model"],
                "content": [], "stop_reason": None, "stop_sequence": None,
                "usage": start_usage}}),
            ("content_block_start", {"type": "content_block_start", "index": 0,
                                     "content_block": {"type": "text", "text": ""}}),
            ("ping", {"type": "ping"}),
        ]
        for piece in re.findall(r"[^\n]*\n|[^\n]+", text):
            events.append(("content_block_delta", {
                "type": "content_block_delta", "index": 0,
                "delta": {"type": "text_delta", "text": piece}}))
        events += [
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            ("message_delta", {"type": "message_delta",
                               "delta": {"stop_reason": stop, "stop_sequence": None},
                               "usage": {"output_tokens": out}}),
            ("message_stop", {"type": "message_stop"}),
        ]
        data = b"".join(b"event: " + name.encode() + b"\ndata: " + _dumps(ev) + b"\n\n"
                        for name, ev in events)
        headers.append(("cache-control", "no-cache"))
        return _Reply(200, data, headers, content_type="text/event-stream; charset=utf-8")


# --------------------------------------------------------------------------- CLI


def _parse_pairs(value: str | None, sep: str, param: str, key_type: Callable[[str], Any],
                 what: str) -> dict:
    out: dict = {}
    if not value:
        return out
    for item in value.split(","):
        item = item.strip()
        if not item:
            continue
        k, s, v = item.partition(sep)
        try:
            if not s:
                raise ValueError
            key, rate = key_type(k.strip()), float(v)
        except ValueError:
            raise click.BadParameter(f"expected {what}, got {item!r}", param_hint=param) from None
        if not 0.0 <= rate <= 1.0:
            raise click.BadParameter(f"rate for {k.strip()} must be in [0, 1], got {v}",
                                     param_hint=param)
        out[key] = rate
    return out


def _status(s: str) -> int:
    n = int(s)
    if not 400 <= n <= 599:
        raise ValueError
    return n


def _nonneg(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    if value is not None and value < 0:
        raise click.BadParameter(f"must be >= 0, got {value}")
    return value


def _rate(ctx: click.Context, param: click.Parameter, value: float) -> float:
    if not 0.0 <= value <= 1.0:
        raise click.BadParameter(f"must be in [0, 1], got {value}")
    return value


@click.command("fake-api")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=0, type=click.IntRange(0, 65535), show_default=True,
              help="Port to bind; 0 picks a free one (printed on start).")
@click.option("--latency-ms", default=0.0, type=float, callback=_nonneg,
              help="Delay before each /v1/messages answer.")
@click.option("--seed", default=0, type=int, help="Seed for answers and fault draws.")
@click.option("--answer-key", "answer_key", type=click.Path(dir_okay=False),
              help="JSON object mapping user prompt text to the gold answer.")
@click.option("--accuracy", help="P(correct) by model substring, e.g. haiku=0.7,sonnet=0.9.")
@click.option("--faults", help="Fault rates by status, e.g. 529:0.1,500:0.05,429:0.05.")
@click.option("--resets", default=0.0, type=float, callback=_rate,
              help="Share of requests whose connection is dropped without a response.")
@click.option("--retry-after", type=float, callback=_nonneg,
              help="Seconds sent as retry-after on fault 429s.")
@click.option("--exhaust-after", type=click.IntRange(min=0),
              help="Successful requests before the spend-limit window starts.")
@click.option("--exhaust-for", default=0.0, type=float, callback=_nonneg,
              help="Seconds the spend-limit window lasts.")
@click.option("--credit-exhausted", is_flag=True, help="Answer every request 'credit too low'.")
@click.option("--api-key", "api_keys", multiple=True,
              help="Accept only this x-api-key (repeatable).")
def fake_api_command(host: str, port: int, latency_ms: float, seed: int,
                     answer_key: str | None, accuracy: str | None, faults: str | None,
                     resets: float, retry_after: float | None, exhaust_after: int | None,
                     exhaust_for: float, credit_exhausted: bool,
                     api_keys: tuple[str, ...]) -> None:
    """Serve a fake Anthropic Messages API on loopback until SIGINT/SIGTERM."""
    key = None
    if answer_key:
        try:
            with open(answer_key, encoding="utf-8") as f:
                key = json.load(f)
        except (OSError, ValueError) as e:
            raise click.BadParameter(f"cannot read {answer_key}: {e}".replace("\n", " "),
                                     param_hint="--answer-key") from None
        if not isinstance(key, dict) or not all(isinstance(v, str) for v in key.values()):
            raise click.BadParameter("must be a JSON object of prompt -> gold string",
                                     param_hint="--answer-key")
    cfg = FakeConfig(
        latency_ms=latency_ms, seed=seed, answer_key=key,
        accuracy=_parse_pairs(accuracy, "=", "--accuracy", str, "MODEL=RATE"),
        faults=_parse_pairs(faults, ":", "--faults", _status, "STATUS:RATE (status 400-599)"),
        reset_rate=resets, retry_after=retry_after, exhaust_after=exhaust_after,
        exhaust_for=exhaust_for, credit_exhausted=credit_exhausted,
        valid_api_keys=set(api_keys) if api_keys else None,
    )
    try:
        cfg.validate()
    except ValueError as e:
        raise click.BadParameter(str(e)) from None
    fake = FakeAPI(cfg, host=host, port=port)
    try:
        fake.start()
    except OSError as e:
        raise click.BadParameter(f"cannot listen on {host}:{port}: {e.strerror or e}",
                                 param_hint="--host/--port") from None
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    old = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        click.echo(f"fake-api listening on {fake.url}")
        sys.stdout.flush()
        while not stop.wait(0.5):
            pass
    finally:
        fake.stop()
        for s, h in old.items():
            signal.signal(s, h)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI (``python -m sweepq.fakeapi --port 0``)."""
    fake_api_command.main(args=argv, prog_name="sweepq fake-api")


if __name__ == "__main__":
    main()
