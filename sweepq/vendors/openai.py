"""The `openai` SDK: OpenAI itself, and OpenAI-compatible local servers.

Chat Completions by default; `api="responses"` (the model map's `openai-responses:MODEL`)
sends through the Responses API (`client.responses.create`) instead: its answer is
`output_text`, its usage `input_tokens`/`output_tokens`, its errors the same envelope,
so `failures.openai` classifies both. OpenAI reads `OPENAI_API_KEY` and
`OPENAI_BASE_URL` (the SDK's own variables); a local server (Ollama, vLLM, llama.cpp)
is reached through its base URL, with a placeholder key when none is set (they ignore
it). SDK retries are off: sweepq owns retry policy.
Failures are classified here (`failures.openai`), where the SDK's types are known, and
raised as `CallFailed`.
"""

from __future__ import annotations

import os

from ..backends import DEFAULT_TIMEOUT, Reply
from ..errors import SweepqError
from ..failures import CallFailed
from ..failures.openai import classify_openai, failed_response
from ..usage import Usage

# OpenAI's finish reasons in the words `Reply.stop_reason` uses (Anthropic's).
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal",
                "tool_calls": "tool_use"}
# Why a Responses answer stopped early (`incomplete_details.reason`), in the same words.
INCOMPLETE_REASONS = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}
LOCAL_KEY = "local"   # what a local server gets as its key when OPENAI_API_KEY is unset


class OpenAIBackend:
    """One SDK client (one connection pool, shared by threads) per base URL."""

    def __init__(self, base_url: str | None = None, *, local: bool = False,
                 api: str = "chat", timeout: float = DEFAULT_TIMEOUT,
                 max_connections: int = 64) -> None:
        try:
            import openai
        except ImportError:
            raise SweepqError("the openai SDK is not installed: pip install "
                              "'sweepq[openai]'") from None
        key = os.environ.get("OPENAI_API_KEY") or (LOCAL_KEY if local else None)
        if not key:
            raise SweepqError("OPENAI_API_KEY is not set: export it for the openai: models "
                              "of the sweep's model map")
        import httpx2 as httpx

        limits = httpx.Limits(max_connections=max_connections,
                              max_keepalive_connections=max_connections)
        self.local, self.api = local, api
        self.client = openai.OpenAI(api_key=key, base_url=base_url, max_retries=0,
                                    timeout=timeout,
                                    http_client=openai.DefaultHttpxClient(limits=limits))

    def send(self, model: str, system: str | None, prompt: str, max_tokens: int) -> Reply:
        if self.api == "responses":
            return self._respond(model, system, prompt, max_tokens)
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}]
        # `max_completion_tokens` is OpenAI's current name; local servers know `max_tokens`.
        limit = {"max_tokens" if self.local else "max_completion_tokens": max_tokens}
        try:
            raw = self.client.chat.completions.with_raw_response.create(
                model=model, messages=messages, **limit)
            completion = raw.parse()
        except Exception as exc:
            raise CallFailed(classify_openai(exc)) from exc
        choice = completion.choices[0] if completion.choices else None
        text = (choice.message.content or "") if choice is not None else ""
        stop = STOP_REASONS.get(choice.finish_reason, choice.finish_reason) if choice else None
        return Reply(text=text, usage=_usage(completion.usage), stop_reason=stop,
                     headers=raw.headers)

    def _respond(self, model: str, system: str | None, prompt: str, max_tokens: int
                 ) -> Reply:
        """One Responses API call; `store=False`: a sweep never reads a response back, so
        OpenAI need not keep it."""
        extra = {"instructions": system} if system else {}
        try:
            raw = self.client.responses.with_raw_response.create(
                model=model, input=prompt, max_output_tokens=max_tokens, store=False, **extra)
            response = raw.parse()
        except Exception as exc:
            raise CallFailed(classify_openai(exc)) from exc
        if response.status == "failed":   # a 200 whose body says the generation failed
            error = getattr(response, "error", None)
            raise CallFailed(failed_response(getattr(error, "code", None),
                                             getattr(error, "message", None)))
        details = getattr(response, "incomplete_details", None)
        reason = getattr(details, "reason", None) if response.status == "incomplete" else None
        stop = INCOMPLETE_REASONS.get(reason or "", reason) if reason else \
            ("end_turn" if response.status == "completed" else response.status)
        return Reply(text=response.output_text, usage=_response_usage(response.usage),
                     stop_reason=stop, headers=raw.headers)


def _response_usage(usage: object) -> Usage:
    """The Responses API's counts, named `input_tokens`/`output_tokens`/
    `input_tokens_details`, split as Chat Completions' are."""
    return _split(usage, "input_tokens", "output_tokens", "input_tokens_details")


def _usage(usage: object) -> Usage:
    """Chat Completions' counts (`prompt_tokens`/`completion_tokens`/
    `prompt_tokens_details`)."""
    return _split(usage, "prompt_tokens", "completion_tokens", "prompt_tokens_details")


def _split(usage: object, given: str, output: str, details: str) -> Usage:
    """OpenAI counts cached input tokens inside the input count: they are split out here,
    as Anthropic reports them, so each is priced at its own rate."""
    if usage is None:
        return Usage()
    detail = getattr(usage, details, None)
    cached = (getattr(detail, "cached_tokens", None) or 0) if detail is not None else 0
    return Usage(input_tokens=max((getattr(usage, given, 0) or 0) - cached, 0),
                 output_tokens=getattr(usage, output, 0) or 0, cache_read_tokens=cached)
