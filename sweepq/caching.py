"""Prompt caching: where a request gets its `cache_control` breakpoint, and what it costs.

Why: a few-shot sweep repeats one long prefix (a persona and a subtask's exemplars, the
system text) on every task of the subtask. Anthropic bills a prefix read from the cache
at 0.1x the input price, a write at 1.25x (5-minute lifetime) or 2x (1-hour), and the
Message Batches discount applies on top. So the system text gets one breakpoint at its
end, and only when it is long enough to be cached at all: below a model's documented
minimum the API caches nothing and the breakpoint would only change the request.

Facts, from Anthropic's prompt caching page (docs.claude.com, build-with-claude/
prompt-caching, read 2026-12-03): at most four breakpoints a request; lifetimes `5m`
(the default, refreshed by each read) and `1h`; the minimum cacheable prefix is 4,096
tokens for Claude Opus 4.6, Opus 4.5 and Haiku 4.5, 2,048 for Haiku 3.5 and Haiku 3,
1,024 for Sonnet 4.6, Sonnet 4.5, Opus 4.1, Opus 4 and Sonnet 4.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Hashable, Iterator, Mapping, Sequence
from typing import Any, TypeVar

from .usage import Usage

T = TypeVar("T")

TTLS = ("5m", "1h")
OFF = "off"
MAX_BREAKPOINTS = 4
TTL_SECONDS = {"5m": 300.0, "1h": 3600.0}
# Price multipliers of the base input price (documented; the batch discount stacks).
WRITE_FACTOR = {"5m": 1.25, "1h": 2.0}
READ_FACTOR = 0.1
CHARS_PER_TOKEN = 4          # sweepq's character estimate (the fake's tokenizer too)

# Minimum cacheable prefix, in tokens, by model id prefix (longest prefix wins).
MIN_TOKENS: dict[str, int] = {
    "claude-opus-4-6": 4096, "claude-opus-4-5": 4096, "claude-haiku-4-5": 4096,
    "claude-3-5-haiku": 2048, "claude-3-haiku": 2048,
    "claude-sonnet-4-6": 1024, "claude-sonnet-4-5": 1024, "claude-opus-4-1": 1024,
    "claude-opus-4": 1024, "claude-sonnet-4": 1024, "claude-3-7-sonnet": 1024,
}
DEFAULT_MIN_TOKENS = 1024    # a Claude model not listed: the smallest documented floor


def min_tokens(model: str) -> int:
    """The minimum cacheable prefix of `model` (a dated id reads as its undated prefix)."""
    best = max((p for p in MIN_TOKENS if model == p or model.startswith(p + "-")),
               key=len, default=None)
    return DEFAULT_MIN_TOKENS if best is None else MIN_TOKENS[best]


def estimate_tokens(text: str) -> int:
    """Tokens of a text by the character estimate: four characters a token."""
    return len(text) // CHARS_PER_TOKEN


def check_ttl(ttl: str) -> str:
    """`off`, `5m` or `1h`; ValueError naming the choices for anything else."""
    if ttl != OFF and ttl not in TTLS:
        raise ValueError(f"cache lifetime {ttl!r}: use 5m, 1h or off")
    return ttl


def worth_caching(model: str, system: str | None, ttl: str) -> bool:
    """Whether `system` gets a breakpoint: caching on and the text past the model's floor.

    The estimate is the character one, so a text just under the floor by it may be just
    over it in real tokens (which run denser); that one is left uncached, as a short
    prefix saves little."""
    return bool(system) and ttl != OFF and \
        estimate_tokens(system or "") >= min_tokens(model)


def system_param(model: str, system: str, ttl: str) -> str | list[dict[str, Any]]:
    """The `system` argument: the text, or one text block with its breakpoint."""
    if not worth_caching(model, system, ttl):
        return system
    control: dict[str, str] = {"type": "ephemeral"}
    if ttl != "5m":
        control["ttl"] = ttl
    return [{"type": "text", "text": system, "cache_control": control}]


# --------------------------------------------------------------------------- billing

def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, Mapping) else getattr(obj, key, None)


def usage_of(reported: Mapping[str, Any] | Any) -> Usage:
    """A reply's usage (a dict, or the SDK's object): tokens, cache tokens included."""
    return Usage(input_tokens=_get(reported, "input_tokens") or 0,
                 output_tokens=_get(reported, "output_tokens") or 0,
                 cache_read_tokens=_get(reported, "cache_read_input_tokens") or 0,
                 cache_write_tokens=_get(reported, "cache_creation_input_tokens") or 0)


def hour_writes(reported: Mapping[str, Any] | Any) -> int:
    """Of a reply's cache writes, those for 1 hour: `cache_creation_input_tokens` lumps
    both lifetimes, and a 1-hour write costs 2x the input price rather than 1.25x."""
    return _get(_get(reported, "cache_creation") or {}, "ephemeral_1h_input_tokens") or 0


def hit_rate(usage: Usage) -> float | None:
    """Cache reads over all input tokens; None when nothing was read or sent."""
    total = usage.input_tokens + usage.cache_read_tokens + usage.cache_write_tokens
    return None if total == 0 else usage.cache_read_tokens / total


def grouped(items: Sequence[T], key: Callable[[T], Hashable]) -> list[T]:
    """`items` with those of one key side by side, groups in order of first appearance,
    each group in its own order: a cached prefix is written once, then read."""
    first: dict[Hashable, int] = {}
    for item in items:
        first.setdefault(key(item), len(first))
    return sorted(items, key=lambda item: first[key(item)])


class Warmup:
    """Holds a prefix's other calls in this process until its first call is answered.

    Why: a write is billed when the response begins, so calls sent together before it
    each write the prefix again (1.25x) instead of reading it (0.1x): at 8 threads on a
    subtask's first tasks that is most of what caching saves. Waiting costs one call's
    latency once per prefix and process; the wait is bounded (`timeout`), and a failed
    first call releases the others as a success does.
    """

    def __init__(self, timeout: float = 120.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._answered: dict[Hashable, threading.Event] = {}

    @contextlib.contextmanager
    def turn(self, key: Hashable) -> Iterator[None]:
        """Send inside this: the first caller of `key` at once, the others after it."""
        with self._lock:
            event = self._answered.get(key)
            first = event is None
            if first:
                event = self._answered[key] = threading.Event()
        assert event is not None
        if not first:
            event.wait(self.timeout)
            yield
            return
        try:
            yield
        finally:
            event.set()
