"""A loopback fake of OpenAI's Chat Completions and Responses APIs, for the real `openai`
SDK offline.

`POST /v1/chat/completions` and `POST /v1/responses` answer with the same deterministic
texts as the Messages fake (`fake.vendor`). A response object has the shape of the
Responses API's (`output[].content[]` of type `output_text`, `usage.input_tokens` /
`output_tokens` / `input_tokens_details.cached_tokens`, `status` `incomplete` with
`incomplete_details.reason` `max_output_tokens`), as OpenAI's own SDKs define it
(the `openai` package's `types/responses/response.py` and `response_usage.py`;
rubydoc.info/github/openai/openai-ruby/OpenAI/Models/Responses/Response). Both APIs
share one error envelope. Errors have OpenAI's body `{"error": {"message", "type", "param",
"code"}}` and headers: 401 `invalid_api_key`, 404 `model_not_found`, and, once
`quota_after` calls have succeeded, 429 `insufficient_quota` for ever (the body quoted
in github.com/mattvr/ShellGPT/issues/23). `rate_limited()` builds the documented
429 `rate_limit_exceeded` with its `x-ratelimit-*` headers for `script`.
"""

from __future__ import annotations

import json
import time
import uuid
from collections import Counter
from typing import Any

from .server import Loopback
from .vendor import Scripted, VendorFake
from .wire import Reply, dumps

QUOTA_MESSAGE = ("You exceeded your current quota, please check your plan and billing "
                 "details. For more information on this error, read the docs: "
                 "https://platform.openai.com/docs/guides/error-codes/api-errors.")


def error(status: int, code: str | None, message: str, etype: str | None = None,
          headers: list[tuple[str, str]] | None = None) -> Scripted:
    """An OpenAI error response (its `type` defaults to the code's family)."""
    etype = etype or ("insufficient_quota" if code == "insufficient_quota" else
                      "requests" if code == "rate_limit_exceeded" else "invalid_request_error")
    return Scripted(status, {"error": {"message": message, "type": etype, "param": None,
                                       "code": code}}, headers or [])


def rate_limited(reset: str = "6m0s", retry_after: str | None = None) -> Scripted:
    """429 `rate_limit_exceeded` on requests per minute, with the headers OpenAI sends."""
    headers = [("x-ratelimit-limit-requests", "500"), ("x-ratelimit-remaining-requests", "0"),
               ("x-ratelimit-reset-requests", reset), ("x-ratelimit-limit-tokens", "200000"),
               ("x-ratelimit-remaining-tokens", "199000"), ("x-ratelimit-reset-tokens", "12ms")]
    if retry_after is not None:
        headers.append(("retry-after", retry_after))
    return error(429, "rate_limit_exceeded", "Rate limit reached for gpt-5.4-mini in "
                 "organization org-fake on requests per min (RPM): Limit 500, Used 500, "
                 "Requested 1. Please try again in 120ms.", headers=headers)


# The Responses API refuses a smaller `max_output_tokens` (a 400 naming the minimum).
MIN_OUTPUT_TOKENS = 16


class FakeOpenAI(VendorFake, Loopback):
    """The fake served on 127.0.0.1 (`with FakeOpenAI() as f: f.url + "/v1"`).

    `reasoning_tokens`: what each answer spends on reasoning before its text, as OpenAI's
    reasoning models do (GPT-5, o-series). They count against the output budget and are
    reported as OpenAI documents them (`usage.completion_tokens_details.reasoning_tokens`
    on Chat Completions, `usage.output_tokens_details.reasoning_tokens` on Responses);
    a budget they use up leaves the reply empty (`finish_reason` `length`; `status`
    `incomplete` with only a reasoning item in `output`).
    """

    def __init__(self, *args: Any, host: str = "127.0.0.1", port: int = 0,
                 reasoning_tokens: int = 0, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.apis: Counter[str] = Counter()   # requests by API: "chat", "responses"
        self.reasoning_tokens = reasoning_tokens
        self.budgets: list[int] = []          # the output budget of each request
        self._listen_on(host, port)

    def handle(self, method: str, path: str, headers: Any, raw: bytes) -> Reply:
        path = path.split("?", 1)[0].rstrip("/")
        api = "chat" if path.endswith("/chat/completions") else \
            "responses" if path.endswith("/responses") else None
        if method != "POST" or api is None:
            return _reply(error(404, "unknown_url", f"Unknown request URL: {method} {path}"))
        with self._lock:
            self.apis[api] += 1
        key = (headers.get("authorization") or "").removeprefix("Bearer ").strip()
        if self.api_key is not None and key != self.api_key:
            return _reply(error(401, "invalid_api_key", "Incorrect API key provided."))
        try:
            body = json.loads(raw)
            model = body["model"]
            system, user, limit = _chat_request(body) if api == "chat" else \
                _responses_request(body)
        except (ValueError, KeyError, TypeError, AttributeError):
            return _reply(error(400, None, "We could not parse the JSON body of your request."))
        if api == "responses" and limit < MIN_OUTPUT_TOKENS:
            return _reply(error(400, "integer_below_min_value", "Invalid 'max_output_tokens': "
                                f"{limit} is below the minimum, {MIN_OUTPUT_TOKENS}."))
        if not self.knows(model):
            return _reply(error(404, "model_not_found", f"The model `{model}` does not exist "
                                "or you do not have access to it."))
        with self._lock:
            self.budgets.append(limit)
        reasoning = min(self.reasoning_tokens, limit)
        build = _completion if api == "chat" else _response
        return self.answer(
            model, system, user, limit - reasoning,
            exhausted=lambda: _reply(error(429, "insufficient_quota", QUOTA_MESSAGE)),
            success=lambda text, n_in, n_out: build(model, text, n_in, n_out, limit,
                                                    reasoning))


def _chat_request(body: dict) -> tuple[str | None, str, int]:
    """(system, last user turn, output limit) of a Chat Completions request."""
    messages = body["messages"]
    system = next((m["content"] for m in messages if m.get("role") == "system"), None)
    user = next((m["content"] for m in reversed(messages) if m.get("role") == "user"), "")
    return system, user, int(body.get("max_completion_tokens") or body.get("max_tokens")
                             or 4096)


def _responses_request(body: dict) -> tuple[str | None, str, int]:
    """(instructions, last user turn, output limit) of a Responses request: `input` is a
    string or a list of messages whose `content` is a string or `input_text` parts."""
    given = body["input"]
    if isinstance(given, str):
        user = given
    else:
        last = [m for m in given if m.get("role", "user") == "user"][-1]["content"]
        user = last if isinstance(last, str) else "".join(p.get("text", "") for p in last)
    return body.get("instructions"), user, int(body.get("max_output_tokens") or 4096)


def _reply(s: Scripted) -> Reply:
    return Reply(s.status, dumps(s.body), [("x-request-id", "req_" + uuid.uuid4().hex), *s.headers])


def _completion(model: str, text: str, n_in: int, n_out: int, limit: int,
                reasoning: int = 0) -> Reply:
    n_out += reasoning
    finish = "length" if n_out >= limit else "stop"
    body = {"id": "chatcmpl-" + uuid.uuid4().hex[:24], "object": "chat.completion",
            "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "finish_reason": finish, "logprobs": None,
                         "message": {"role": "assistant", "content": text, "refusal": None}}],
            "usage": {"prompt_tokens": n_in, "completion_tokens": n_out,
                      "total_tokens": n_in + n_out,
                      "prompt_tokens_details": {"cached_tokens": 0},
                      "completion_tokens_details": {"reasoning_tokens": reasoning}}}
    return Reply(200, dumps(body), [("x-request-id", "req_" + uuid.uuid4().hex),
                                    ("x-ratelimit-remaining-requests", "499")])


def _response(model: str, text: str, n_in: int, n_out: int, limit: int,
              reasoning: int = 0) -> Reply:
    """A Responses API `response` object: a reasoning item when the model reasoned, one
    assistant message of `output_text` (none when reasoning used the whole budget), usage
    as `input_tokens`/`output_tokens`, status `incomplete` when the output limit was hit."""
    n_out += reasoning
    cut = n_out >= limit
    body = {"id": "resp_" + uuid.uuid4().hex, "object": "response",
            "created_at": int(time.time()), "status": "incomplete" if cut else "completed",
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if cut else None,
            "model": model, "max_output_tokens": limit,
            "output": [{"id": "rs_" + uuid.uuid4().hex, "type": "reasoning", "summary": []}]
            * bool(reasoning) + [{
                "id": "msg_" + uuid.uuid4().hex, "type": "message",
                "status": "incomplete" if cut else "completed", "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": [],
                             "logprobs": []}]}] * bool(text or not reasoning),
            "usage": {"input_tokens": n_in, "input_tokens_details": {"cached_tokens": 0},
                      "output_tokens": n_out,
                      "output_tokens_details": {"reasoning_tokens": reasoning},
                      "total_tokens": n_in + n_out}}
    return Reply(200, dumps(body), [("x-request-id", "req_" + uuid.uuid4().hex),
                                    ("x-ratelimit-remaining-requests", "499")])
