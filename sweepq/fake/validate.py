"""Request checks in the order and wording of the real API: body, authentication, model.

Each check raises `Invalid` with the status, error type and message the real API would
send, so the client's error path runs exactly as it would against the real service.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from . import cache
from .wire import Invalid

BLOCK_TYPES = frozenset({
    "text", "image", "document", "tool_use", "tool_result", "thinking", "redacted_thinking",
    "search_result", "server_tool_use", "web_search_tool_result",
})
_NON_EMPTY = ("all messages must have non-empty content except for the optional final "
              "assistant message")


def _bad(message: str) -> Invalid:
    return Invalid(400, "invalid_request_error", message)


def parse_json(raw: bytes) -> Any:
    """The request body as JSON, or the real API's 400 for a body that is not JSON."""
    try:
        return json.loads(raw)
    except ValueError:
        raise _bad("There was an error parsing the body of your request: invalid JSON") from None


def check_auth(headers: Any, valid_keys: set[str] | None) -> None:
    """401 without a key (x-api-key or a bearer token), or with one not in `valid_keys`."""
    key = headers.get("x-api-key")
    if key is None:
        auth = headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            key = auth[7:].strip()
    if not key:
        raise Invalid(401, "authentication_error", "x-api-key header is required")
    if valid_keys is not None and key not in valid_keys:
        raise Invalid(401, "authentication_error", "invalid x-api-key")


def check_model(model: str, knows: Callable[[str], bool]) -> None:
    """404 not_found_error for a model id the service does not serve."""
    if not knows(model):
        raise Invalid(404, "not_found_error", f"model: {model}")


def validate(body: Any) -> None:
    """Raise `Invalid` like the real API for a malformed Messages request."""
    if not isinstance(body, dict):
        raise _bad("Request body must be a JSON object")
    _check_model_and_max_tokens(body)
    if "messages" not in body:
        raise _bad("messages: Field required")
    msgs = body["messages"]
    if not isinstance(msgs, list):
        raise _bad("messages: Input should be a valid list")
    if not msgs:
        raise _bad("messages: at least one message is required")
    for i, m in enumerate(msgs):
        _check_message(i, m, final=i == len(msgs) - 1)
    _check_system(body)
    cache.check(body)
    if "stream" in body and not isinstance(body["stream"], bool):
        raise _bad("stream: Input should be a valid boolean")
    t = body.get("temperature")
    if t is not None and (isinstance(t, bool) or not isinstance(t, int | float)
                          or not 0.0 <= t <= 1.0):
        raise _bad("temperature: Input should be a number between 0 and 1")


def _check_model_and_max_tokens(body: dict) -> None:
    if "model" not in body:
        raise _bad("model: Field required")
    if not isinstance(body["model"], str):
        raise _bad("model: Input should be a valid string")
    if "max_tokens" not in body:
        raise _bad("max_tokens: Field required")
    mt = body["max_tokens"]
    if isinstance(mt, bool) or not isinstance(mt, int):
        raise _bad("max_tokens: Input should be a valid integer")
    if mt < 1:
        raise _bad("max_tokens: Input should be greater than or equal to 1")


def _check_message(i: int, m: Any, final: bool) -> None:
    if not isinstance(m, dict):
        raise _bad(f"messages.{i}: Input should be a valid dictionary")
    if m.get("role") not in ("user", "assistant"):
        raise _bad(f"messages.{i}.role: Input should be 'user' or 'assistant'")
    if "content" not in m:
        raise _bad(f"messages.{i}.content: Field required")
    c = m["content"]
    if not isinstance(c, str | list):
        raise _bad(f"messages.{i}.content: Input should be a valid string or list")
    if not c and not (final and m["role"] == "assistant"):
        raise _bad(f"messages.{i}: {_NON_EMPTY}")
    if isinstance(c, list):
        for j, block in enumerate(c):
            _check_block(f"messages.{i}.content.{j}", block)


def _check_block(where: str, b: Any) -> None:
    if not isinstance(b, dict) or "type" not in b:
        raise _bad(f"{where}.type: Field required")
    if b["type"] not in BLOCK_TYPES:
        raise _bad(f"{where}: Input tag '{b['type']}' found using 'type' does not match any "
                   "of the expected tags")
    if b["type"] == "text":
        if not isinstance(b.get("text"), str):
            raise _bad(f"{where}.text: Field required")
        if not b["text"]:
            raise _bad(f"{where}: text content blocks must be non-empty")


def _check_system(body: dict) -> None:
    if "system" not in body:
        return
    s = body["system"]
    if isinstance(s, list):
        for j, b in enumerate(s):
            if not (isinstance(b, dict) and b.get("type") == "text"
                    and isinstance(b.get("text"), str)):
                raise _bad(f"system.{j}: Input should be a text content block")
    elif not isinstance(s, str):
        raise _bad("system: Input should be a valid string or list of text blocks")
