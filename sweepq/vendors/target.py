"""Provider-qualified model ids: `PROVIDER:MODEL[@BASE_URL]`, a bare id being Claude's.

Parsed here, without importing any SDK, so the model map is checked at `enqueue` and
`models` time, prices are looked up by the vendor's own id, and the pause scope of a
call is known before it is sent.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import SweepqError

ANTHROPIC = "anthropic"
PROVIDERS = (ANTHROPIC, "openai", "gemini", "local")
# Ollama's OpenAI-compatible endpoint: what `local:MODEL` without `@URL` means.
DEFAULT_LOCAL_URL = "http://127.0.0.1:11434/v1"


@dataclass(frozen=True)
class Target:
    """Where one model id is sent: the provider, the vendor's model id, a base URL."""

    provider: str
    model: str
    base_url: str | None = None

    @property
    def scope(self) -> str | None:
        """What a pause for this target's exhaustion holds back: None (every arm) for
        Claude, else the provider, and for a local server its URL (one server down
        holds back no other)."""
        if self.provider == ANTHROPIC:
            return None
        if self.provider == "local":
            return f"local@{self.base_url}"
        return self.provider


def parse(model_id: str) -> Target:
    """`openai:gpt-5.4-mini` → Target("openai", "gpt-5.4-mini"); a bare id is Claude's.

    A model id may hold a colon only after a known provider prefix (`local:qwen3:4b`):
    Claude's ids never do, so an unknown prefix is a typo, not an id.
    """
    prefix, sep, rest = model_id.partition(":")
    if not sep:
        return Target(ANTHROPIC, model_id)
    if prefix not in PROVIDERS:
        raise SweepqError(f"model {model_id!r}: unknown provider {prefix!r} (known: "
                          f"{', '.join(PROVIDERS)}; a bare id is Claude's)", "model_pairs")
    model, at, base_url = rest.partition("@")
    if not model or (at and not base_url.startswith(("http://", "https://"))):
        raise SweepqError(f"model {model_id!r} is not PROVIDER:MODEL[@http(s)://URL] "
                          "(e.g. openai:gpt-5.4-mini)", "model_pairs")
    if prefix == "local" and not at:
        base_url = DEFAULT_LOCAL_URL
    return Target(prefix, model, base_url or None)
