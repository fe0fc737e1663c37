"""Provider-qualified model ids: `PROVIDER:MODEL[@BASE_URL]`, a bare id being Claude's.

Parsed here, without importing any SDK, so the model map is checked at `enqueue` and
`models` time, prices are looked up by the vendor's own id, and the pause scope of a
call is known before it is sent.
"""

from __future__ import annotations

import importlib.util
import re
from dataclasses import dataclass

from ..errors import SweepqError

ANTHROPIC = "anthropic"
PROVIDERS = (ANTHROPIC, "openai", "gemini", "local")
# Prefixes beyond the providers' names: `openai-responses:MODEL` is OpenAI's model through
# the Responses API (`/v1/responses`) instead of Chat Completions; same key, same quota.
SPELLINGS = {"openai-responses": ("openai", "responses")}
# The module each provider's backend imports, and the extra that installs it.
EXTRAS = {"openai": ("openai", "openai"), "local": ("openai", "openai"),
          "gemini": ("google.genai", "gemini")}
# Ollama's OpenAI-compatible endpoint: what `local:MODEL` without `@URL` means.
DEFAULT_LOCAL_URL = "http://127.0.0.1:11434/v1"
_FAMILY = re.compile(r"(?<![a-z])(opus|sonnet|haiku)(?![a-z])", re.IGNORECASE)


@dataclass(frozen=True)
class Target:
    """Where one model id is sent: the provider, the vendor's model id, a base URL."""

    provider: str
    model: str
    base_url: str | None = None
    api: str = "chat"   # for openai: "chat" (Chat Completions) or "responses"

    @property
    def scope(self) -> str | None:
        """What a pause for this target's exhaustion holds back: for Claude its model
        family (`claude-opus`: the CLI's per-model weekly limits; None for an id of no
        known family), else the provider, and for a local server its URL (one server
        down holds back no other). A pause with no scope holds back every call."""
        if self.provider == ANTHROPIC:
            return claude_family(self.model)
        if self.provider == "local":
            return f"local@{self.base_url}"
        return self.provider


def claude_family(text: str) -> str | None:
    """`claude-opus-4-6`, `Opus limit`, `seven_day_opus` -> `claude-opus`; the scope of a
    Claude model family's own limit. None when `text` names no family."""
    match = _FAMILY.search(text)
    return f"claude-{match.group(1).lower()}" if match else None


def parse(model_id: str) -> Target:
    """`openai:gpt-5.4-mini` → Target("openai", "gpt-5.4-mini"); a bare id is Claude's;
    `openai-responses:gpt-5.4-mini` → the same with `api="responses"`.

    A model id may hold a colon only after a known provider prefix (`local:qwen3:4b`):
    Claude's ids never do, so an unknown prefix is a typo, not an id.
    """
    prefix, sep, rest = model_id.partition(":")
    if not sep:
        return Target(ANTHROPIC, model_id)
    provider, api = SPELLINGS.get(prefix, (prefix, "chat"))
    if provider not in PROVIDERS:
        raise SweepqError(f"model {model_id!r}: unknown provider {prefix!r} (known: "
                          f"{', '.join([*PROVIDERS, *SPELLINGS])}; a bare id is Claude's)",
                          "model_pairs")
    model, at, base_url = rest.partition("@")
    if not model or (at and not base_url.startswith(("http://", "https://"))):
        raise SweepqError(f"model {model_id!r} is not PROVIDER:MODEL[@http(s)://URL] "
                          "(e.g. openai:gpt-5.4-mini)", "model_pairs")
    if provider == "local" and not at:
        base_url = DEFAULT_LOCAL_URL
    return Target(provider, model, base_url or None, api)


def missing_extra(t: Target) -> str | None:
    """The pip extra `t`'s backend needs when its SDK is not installed, else None.

    Looked up without importing the SDK, so `enqueue` can refuse a sweep it could not run
    and stay fast.
    """
    module, extra = EXTRAS.get(t.provider, (None, None))
    if module is None:
        return None
    try:
        found = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):   # a parent package missing, or a module set to None
        found = False
    return None if found else extra


def require_sdk(model_id: str, who: str) -> None:
    """Refuse `model_id` when its provider's SDK is not installed, naming `who` calls it
    and the extra to install."""
    t = parse(model_id)
    extra = missing_extra(t)
    if extra is not None:
        raise SweepqError(f"{who} calls {model_id}, but the SDK of provider {t.provider} is "
                          f"not installed: pip install 'sweepq[{extra}]'")
