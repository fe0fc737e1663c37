"""Gemini through Google's `google-genai` SDK (the Gemini Developer API).

The key comes from `GEMINI_API_KEY`, else `GOOGLE_API_KEY` (the SDK's own order); a base
URL (`gemini:MODEL@URL`, or `GEMINI_BASE_URL`) reaches the loopback fake through
`http_options`. The SDK's retries are off unless asked for, as sweepq needs: sweepq owns
retry policy. Failures are classified here (`failures.gemini`) and raised as `CallFailed`.
"""

from __future__ import annotations

import os

from ..backends import DEFAULT_TIMEOUT, Reply
from ..errors import SweepqError
from ..failures import CallFailed
from ..failures.gemini import classify_gemini
from ..usage import Usage

# Gemini's finish reasons in the words `Reply.stop_reason` uses (Anthropic's).
STOP_REASONS = {"STOP": "end_turn", "MAX_TOKENS": "max_tokens", "SAFETY": "refusal",
                "PROHIBITED_CONTENT": "refusal", "BLOCKLIST": "refusal", "SPII": "refusal"}


class GeminiBackend:
    """One SDK client per base URL, shared by threads."""

    def __init__(self, base_url: str | None = None, *, timeout: float = DEFAULT_TIMEOUT) -> None:
        try:
            from google import genai
            from google.genai import types
        except ImportError:
            raise SweepqError("the google-genai SDK is not installed: pip install "
                              "'sweepq[gemini]'") from None
        key = os.environ.get("GEMINI_API_KEY") or os.environ.get("GOOGLE_API_KEY")
        if not key:
            raise SweepqError("GEMINI_API_KEY is not set: export it (or GOOGLE_API_KEY) for "
                              "the gemini: models of the sweep's model map")
        base_url = base_url or os.environ.get("GEMINI_BASE_URL") or None
        self.types = types
        self.client = genai.Client(api_key=key, http_options=types.HttpOptions(
            base_url=base_url, timeout=int(timeout * 1000)))

    def send(self, model: str, system: str | None, prompt: str, max_tokens: int) -> Reply:
        config = self.types.GenerateContentConfig(system_instruction=system,
                                                  max_output_tokens=max_tokens)
        try:
            response = self.client.models.generate_content(model=model, contents=prompt,
                                                           config=config)
        except Exception as exc:
            raise CallFailed(classify_gemini(exc)) from exc
        candidate = response.candidates[0] if response.candidates else None
        finish = getattr(getattr(candidate, "finish_reason", None), "value", None)
        meta = response.usage_metadata
        cached = (meta.cached_content_token_count or 0) if meta else 0
        usage = Usage(input_tokens=max((meta.prompt_token_count or 0) - cached, 0),
                      output_tokens=meta.candidates_token_count or 0,
                      cache_read_tokens=cached) if meta else Usage()
        headers = getattr(getattr(response, "sdk_http_response", None), "headers", None)
        return Reply(text=_text(candidate), usage=usage,
                     stop_reason=STOP_REASONS.get(finish or "", finish), headers=headers)


def _text(candidate: object) -> str:
    """The candidate's text parts joined (thoughts left out)."""
    content = getattr(candidate, "content", None)
    parts = getattr(content, "parts", None) or []
    return "".join(p.text for p in parts if getattr(p, "text", None) and not
                   getattr(p, "thought", False))
