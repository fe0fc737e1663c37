"""The bytes of a reply, whatever carries them: JSON and SSE bodies, error bodies, headers.

A `Reply` is what the fake decided to answer; the HTTP server writes it to a socket and
the in-process backend hands it to the SDK through an httpx transport, so both send the
same bytes.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from .documented import ERROR_BODIES

REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 408: "Request Timeout", 411: "Length Required",
    413: "Payload Too Large", 429: "Too Many Requests", 500: "Internal Server Error",
    502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout", 529: "Overloaded",
}


@dataclass
class Reply:
    """One answer: a status, a body and headers, or `reset` (drop the connection unanswered)."""

    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    content_type: str = "application/json"
    reset: bool = False


class Invalid(Exception):
    """A request the real API would reject: carries status, error type and message."""

    def __init__(self, status: int, etype: str, message: str) -> None:
        super().__init__(message)
        self.status, self.etype, self.message = status, etype, message


def dumps(obj: Any) -> bytes:
    """Compact JSON in raw UTF-8; a lone surrogate (a scripted reply that splits a
    character, as local servers do) goes as its `\\ud800` escape, which UTF-8 cannot carry."""
    text = json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    try:
        return text.encode()
    except UnicodeEncodeError:
        return json.dumps(obj, separators=(",", ":")).encode()


def canonical(obj: Any) -> bytes:
    """Key-sorted JSON: the same request always hashes the same."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def request_id() -> str:
    return "req_" + uuid.uuid4().hex[:24]


def error_body(etype: str, message: str, details: dict | None = None) -> dict:
    """The JSON body of an API error, as the real API sends it."""
    err: dict[str, Any] = {"type": etype, "message": message}
    if details is not None:
        err["details"] = details
    return {"type": "error", "error": err}


def error_reply(status: int, etype: str | None = None, message: str | None = None,
                headers: list[tuple[str, str]] | None = None,
                details: dict | None = None) -> Reply:
    """An error reply; type and message default to the status's usual ones."""
    d_type, d_msg = ERROR_BODIES.get(status, ("api_error", REASONS.get(status, "Error")))
    rid = request_id()
    body = error_body(etype or d_type, message or d_msg, details)
    body["request_id"] = rid
    return Reply(status, dumps(body), [("request-id", rid), *(headers or [])])


def sse_body(message: dict) -> bytes:
    """A complete message as the event stream `"stream": true` asks for."""
    usage = message["usage"]
    start = dict(message, content=[], stop_reason=None, stop_sequence=None,
                 usage=dict(usage, output_tokens=1))
    events: list[tuple[str, dict]] = [
        ("message_start", {"type": "message_start", "message": start}),
        ("content_block_start", {"type": "content_block_start", "index": 0,
                                 "content_block": {"type": "text", "text": ""}}),
        ("ping", {"type": "ping"}),
    ]
    text = "".join(b.get("text", "") for b in message["content"])
    for piece in re.findall(r"[^\n]*\n|[^\n]+", text):
        events.append(("content_block_delta", {
            "type": "content_block_delta", "index": 0,
            "delta": {"type": "text_delta", "text": piece}}))
    events += [
        ("content_block_stop", {"type": "content_block_stop", "index": 0}),
        ("message_delta", {"type": "message_delta",
                           "delta": {"stop_reason": message["stop_reason"],
                                     "stop_sequence": None},
                           "usage": {"output_tokens": usage["output_tokens"]}}),
        ("message_stop", {"type": "message_stop"}),
    ]
    return b"".join(b"event: " + name.encode() + b"\ndata: " + dumps(ev) + b"\n\n"
                    for name, ev in events)
