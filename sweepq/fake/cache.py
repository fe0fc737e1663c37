"""The fake's prompt cache: writes and reads billed by prefix and lifetime, as documented.

Why: sweepq's cost figures for a few-shot sweep are only as good as the bill they are
checked against. Anthropic's rules (caching.py cites the page): a `cache_control`
breakpoint on a block caches the prompt up to and including it (system, then messages,
in that order); at most four breakpoints; a prefix shorter than the model's minimum is
not cached and not charged as a write; an entry lives 5 minutes (or 1 hour with
`"ttl": "1h"`) from its last use, each read refreshing it. A request reads the longest
cached prefix at its breakpoints, and writes the rest up to its last cacheable one.
`cache_creation_input_tokens` counts the writes, `cache_read_input_tokens` the reads,
`input_tokens` what is left; `cache_creation` splits the writes by lifetime.

Entries are per fake (one organisation), keyed by model and the prefix's exact text.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sweepq import caching

from .wire import Invalid


@dataclass(frozen=True)
class Bill:
    """How one request's input tokens split."""

    input_tokens: int
    write_5m: int = 0
    write_1h: int = 0
    read: int = 0


def _blocks(body: dict) -> list[tuple[str, Any]]:
    """(text, cache_control) of every block in prompt order: system, then messages."""
    out: list[tuple[str, Any]] = []
    for part in [body.get("system")] + [m.get("content") for m in body.get("messages") or []
                                       if isinstance(m, dict)]:
        if isinstance(part, str):
            out.append((part, None))
        elif isinstance(part, list):
            out += [(b.get("text", ""), b.get("cache_control")) for b in part
                    if isinstance(b, dict)]
    return out


def check(body: dict) -> None:
    """The API's own refusals: a bad `cache_control`, more than four breakpoints."""
    marks = [cc for _, cc in _blocks(body) if cc is not None]
    for cc in marks:
        if not isinstance(cc, dict) or cc.get("type") != "ephemeral":
            raise Invalid(400, "invalid_request_error",
                          "cache_control.type: Input should be 'ephemeral'")
        if cc.get("ttl", "5m") not in caching.TTLS:
            raise Invalid(400, "invalid_request_error",
                          "cache_control.ttl: Input should be '5m' or '1h'")
    if len(marks) > caching.MAX_BREAKPOINTS:
        raise Invalid(400, "invalid_request_error",
                      f"A maximum of {caching.MAX_BREAKPOINTS} blocks with cache_control "
                      f"may be provided. Found {len(marks)}.")


class PromptCache:
    """Cached prefixes by (model, prefix digest) -> expiry; `clock` is replaceable."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self._lock = threading.Lock()
        # (model, prefix digest) -> (readable from, expires at)
        self._expiry: dict[tuple[str, str], tuple[float, float]] = {}

    def bill(self, body: dict, total_tokens: int, delay: float = 0.0) -> Bill:
        """Split `total_tokens` of a valid request into plain, written and read tokens.

        Looked up now; what it writes is readable after `delay` (the response's start)."""
        model = str(body.get("model"))
        points = self._breakpoints(body, caching.min_tokens(model))
        if not points:
            return Bill(total_tokens)
        now = self.clock()
        with self._lock:
            hit = -1
            for i, (key, _tokens, _ttl) in enumerate(points):
                ready, expiry = self._expiry.get((model, key), (0.0, -1.0))
                if ready <= now < expiry:
                    hit = i
            read = points[hit][1] if hit >= 0 else 0
            if hit >= 0:   # a read refreshes the entry for its lifetime
                key, _, ttl = points[hit]
                self._expiry[(model, key)] = (now, now + caching.TTL_SECONDS[ttl])
            writes = {"5m": 0, "1h": 0}
            done = read
            for key, tokens, ttl in points[hit + 1:]:
                writes[ttl] += tokens - done
                done = tokens
                ready = now + delay
                self._expiry[(model, key)] = (ready, ready + caching.TTL_SECONDS[ttl])
        plain = max(total_tokens - read - writes["5m"] - writes["1h"], 0)
        return Bill(plain, writes["5m"], writes["1h"], read)

    @staticmethod
    def _breakpoints(body: dict, floor: int) -> list[tuple[str, int, str]]:
        """(prefix digest, prefix tokens, ttl) of each breakpoint whose prefix is long
        enough to be cached, in prompt order."""
        digest = hashlib.sha256(str(body.get("model")).encode())
        chars, points = 0, []
        for text, cc in _blocks(body):
            chars += len(text)
            digest.update(len(text).to_bytes(8, "big") + text.encode())
            tokens = chars // caching.CHARS_PER_TOKEN
            if isinstance(cc, dict) and tokens >= floor:
                points.append((digest.copy().hexdigest(), tokens, cc.get("ttl", "5m")))
        return points
