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
import re

from .. import tls
from ..backends import DEFAULT_TIMEOUT, Reply
from ..errors import SweepqError
from ..failures import CallFailed, Failure
from ..failures.openai import classify_openai, failed_response
from ..usage import Usage

# OpenAI's finish reasons in the words `Reply.stop_reason` uses (Anthropic's).
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "content_filter": "refusal",
                "tool_calls": "tool_use"}
# Why a Responses answer stopped early (`incomplete_details.reason`), in the same words.
INCOMPLETE_REASONS = {"max_output_tokens": "max_tokens", "content_filter": "refusal"}
LOCAL_KEY = "local"   # what a local server gets as its key when OPENAI_API_KEY is unset
# OpenAI's reasoning models (the GPT-5 family, the o-series) spend hidden reasoning tokens
# out of the same output budget as the reply (`max_completion_tokens`,
# `max_output_tokens`); a judge's 16 tokens would leave nothing for the verdict. OpenAI's
# reasoning guide advises reserving at least 25,000 tokens for reasoning and output, so a
# budget below that is raised to it for such a model (a cap: the model spends what it
# needs, and what it spends is billed and counted either way).
REASONING_MODEL = re.compile(r"^(gpt-5|o\d)")
REASONING_MIN_TOKENS = 25_000
MIN_OUTPUT_TOKENS = 16   # the Responses API refuses a smaller max_output_tokens


def output_budget(model: str, max_tokens: int, local: bool = False) -> int:
    """The output budget sent for `model`: a reasoning model's raised to leave room for
    the reply (a local server's models are left as asked)."""
    if not local and REASONING_MODEL.match(model):
        return max(max_tokens, REASONING_MIN_TOKENS)
    return max_tokens


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
                                    http_client=openai.DefaultHttpxClient(
                                        limits=limits, verify=tls.context()))

    def send(self, model: str, system: str | None, prompt: str, max_tokens: int) -> Reply:
        if self.api == "responses":
            return self._respond(model, system, prompt, max_tokens)
        messages = ([{"role": "system", "content": system}] if system else []) + [
            {"role": "user", "content": prompt}]
        # `max_completion_tokens` is OpenAI's current name; local servers know `max_tokens`.
        limit = {"max_tokens" if self.local else "max_completion_tokens":
                 output_budget(model, max_tokens, self.local)}
        try:
            raw = self.client.chat.completions.with_raw_response.create(
                model=model, messages=messages, **limit)
            completion = raw.parse()
        except Exception as exc:
            raise CallFailed(classify_openai(exc)) from exc
        choice = completion.choices[0] if completion.choices else None
        text = (choice.message.content or "") if choice is not None else ""
        stop = STOP_REASONS.get(choice.finish_reason, choice.finish_reason) if choice else None
        _reasoned_out(model, text, stop, completion.usage, "completion_tokens_details")
        return Reply(text=text, usage=_usage(completion.usage), stop_reason=stop,
                     headers=raw.headers)

    def _respond(self, model: str, system: str | None, prompt: str, max_tokens: int
                 ) -> Reply:
        """One Responses API call; `store=False`: a sweep never reads a response back, so
        OpenAI need not keep it."""
        extra = {"instructions": system} if system else {}
        try:
            budget = max(output_budget(model, max_tokens, self.local), MIN_OUTPUT_TOKENS)
            raw = self.client.responses.with_raw_response.create(
                model=model, input=prompt, max_output_tokens=budget, store=False, **extra)
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
        _reasoned_out(model, response.output_text, stop, response.usage,
                      "output_tokens_details")
        return Reply(text=response.output_text, usage=_response_usage(response.usage),
                     stop_reason=stop, headers=raw.headers)


def _reasoned_out(model: str, text: str, stop: str | None, usage: object,
                  details: str) -> None:
    """A reply left empty because reasoning used the whole output budget is no answer
    (not a NO from a judge, not a wrong answer): the job fails with what to change."""
    if text.strip() or stop != "max_tokens":
        return
    spent = getattr(getattr(usage, details, None), "reasoning_tokens", None) or 0
    if spent:
        raise CallFailed(Failure(
            "fatal", None, f"{model} spent its whole output budget on reasoning ({spent} "
            "reasoning tokens) and replied nothing: raise the prompt set's [max_tokens] "
            "for this role, then `sweepq retry`"))


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
