"""A loopback fake of Gemini's `generateContent`, for the real `google-genai` SDK offline.

`POST /{version}/models/{model}:generateContent` answers with the same texts as the
Messages fake (`fake.vendor`). Errors have Google's body `{"error": {"code", "message",
"status", "details"}}`: 400 `INVALID_ARGUMENT` with `ErrorInfo` `API_KEY_INVALID` for a
wrong key, 404 `NOT_FOUND` for an unknown model, and, once `quota_after` calls have
succeeded, 429 `RESOURCE_EXHAUSTED` naming the per-day quota for ever.
`quota_error(per="Minute")` builds the per-minute one, with `RetryInfo`, for `script`.
"""

from __future__ import annotations

import json
import re
from typing import Any

from .server import Loopback
from .vendor import Scripted, VendorFake
from .wire import Reply, dumps

_PATH = re.compile(r"^/[^/]+/models/([^/:]+):generateContent$")
QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing "
                 "details. For more information on this error, head to: "
                 "https://ai.google.dev/gemini-api/docs/rate-limits.")


def error(code: int, status: str, message: str, details: list[dict] | None = None) -> Scripted:
    """A Google API error response."""
    return Scripted(code, {"error": {"code": code, "message": message, "status": status,
                                     "details": details or []}})


def quota_error(per: str = "Day", model: str = "gemini-2.5-flash",
                retry_delay: str | None = "43s") -> Scripted:
    """429 RESOURCE_EXHAUSTED for the requests-per-`per` quota (`Day` or `Minute`)."""
    details: list[dict] = [{
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        "violations": [{"quotaMetric": "generativelanguage.googleapis.com/"
                        "generate_content_free_tier_requests",
                        "quotaId": f"GenerateRequestsPer{per}PerProjectPerModel-FreeTier",
                        "quotaDimensions": {"location": "global", "model": model}}]}]
    if retry_delay is not None:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo",
                        "retryDelay": retry_delay})
    return error(429, "RESOURCE_EXHAUSTED", QUOTA_MESSAGE, details)


class FakeGemini(VendorFake, Loopback):
    """The fake served on 127.0.0.1 (`with FakeGemini() as f: f.url`)."""

    def __init__(self, *args: Any, host: str = "127.0.0.1", port: int = 0,
                 **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._listen_on(host, port)

    def handle(self, method: str, path: str, headers: Any, raw: bytes) -> Reply:
        match = _PATH.match(path.split("?", 1)[0])
        if method != "POST" or match is None:
            return _reply(error(404, "NOT_FOUND", f"Not found: {method} {path}"))
        if self.api_key is not None and headers.get("x-goog-api-key") != self.api_key:
            return _reply(error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a "
                                "valid API key.", [{"@type": "type.googleapis.com/"
                                                    "google.rpc.ErrorInfo",
                                                    "reason": "API_KEY_INVALID",
                                                    "domain": "googleapis.com"}]))
        model = match.group(1)
        if not self.knows(model):
            return _reply(error(404, "NOT_FOUND", f"models/{model} is not found for API "
                                "version v1beta, or is not supported for generateContent."))
        try:
            body = json.loads(raw)
            system, user = _texts(body)
        except (ValueError, KeyError, TypeError, AttributeError):
            return _reply(error(400, "INVALID_ARGUMENT", "Invalid JSON payload received."))
        config = body.get("generationConfig") or {}
        limit = int(config.get("maxOutputTokens") or 8192)
        return self.answer(model, system, user, limit,
                           exhausted=lambda: _reply(quota_error("Day", model)),
                           success=lambda text, n_in, n_out: _content(model, text, n_in,
                                                                      n_out, limit))


def _texts(body: dict) -> tuple[str | None, str]:
    """(system instruction, last user turn) of a generateContent request."""
    system = body.get("systemInstruction") or body.get("system_instruction")
    sys_text = "".join(p.get("text", "") for p in system["parts"]) if system else None
    user = [c for c in body["contents"] if c.get("role", "user") == "user"][-1]
    return sys_text, "".join(p.get("text", "") for p in user["parts"])


def _reply(s: Scripted) -> Reply:
    return Reply(s.status, dumps(s.body), list(s.headers))


def _content(model: str, text: str, n_in: int, n_out: int, limit: int) -> Reply:
    body = {"candidates": [{"content": {"parts": [{"text": text}], "role": "model"},
                            "finishReason": "MAX_TOKENS" if n_out >= limit else "STOP",
                            "index": 0}],
            "usageMetadata": {"promptTokenCount": n_in, "candidatesTokenCount": n_out,
                              "totalTokenCount": n_in + n_out},
            "modelVersion": model, "responseId": "fake-" + str(abs(hash(text)) % 10**12)}
    return Reply(200, dumps(body))
