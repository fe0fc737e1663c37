"""The fake's rate limiter: continuously refilled token buckets, as Anthropic describes its own.

Why: a sweep's pacing can only be measured against a server that refuses like the real
one. RATE_LIMITS_DOC ("Rate limits"): limits are token buckets whose capacity is
replenished continuously up to the per-minute maximum (a 60 RPM limit "might be
enforced as 1 request per second": `bucket_seconds` shrinks the bucket to that many
seconds of refill); a refused request is a 429 `rate_limit_error` with a `retry-after`
in whole seconds; every response reports `anthropic-ratelimit-{requests,input-tokens,
output-tokens,tokens}-{limit,remaining,reset}`.

Requests and input tokens are taken when a request arrives (input counted as the fake
counts it); output tokens when the reply is generated, so a bucket may go below zero
and refuse until it refills. A request needs one request, its input tokens (at most
the bucket's capacity) and any output capacity left.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from . import documented
from .config import FakeConfig

_HEADER_FAMILY = {"requests": "requests", "input": "input-tokens", "output": "output-tokens"}


class _Bucket:
    def __init__(self, per_minute: float, seconds: float, full: bool, now: float) -> None:
        self.per_minute = per_minute
        self.rate = per_minute / 60.0
        self.capacity = max(per_minute * seconds / 60.0, 1.0)
        self.level = self.capacity if full else 0.0
        self.at = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.at) * self.rate)
        self.at = now

    def wait_for(self, amount: float) -> float:
        """Seconds until the bucket holds `amount` (0 when it does)."""
        return max(0.0, (min(amount, self.capacity) - self.level) / self.rate)


class Limiter:
    """The buckets of one fake; thread-safe."""

    def __init__(self, config: FakeConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        now = clock()
        full = config.bucket_start == "full"
        limits = {"requests": config.rpm, "input": config.itpm, "output": config.otpm}
        self.buckets = {name: _Bucket(limit, config.bucket_seconds, full, now)
                        for name, limit in limits.items() if limit}
        self._lock = threading.Lock()

    def take(self, input_tokens: int) -> float | None:
        """Admit a request (taking its request and input tokens): None, or the seconds a
        refused one should wait (for `retry-after`, rounded up by the caller)."""
        need = {"requests": 1.0, "input": float(input_tokens), "output": 1.0}
        with self._lock:
            now = self.clock()
            for bucket in self.buckets.values():
                bucket.refill(now)
            wait = max((b.wait_for(need[n]) for n, b in self.buckets.items()), default=0.0)
            if wait > 0:
                return wait
            for name in ("requests", "input"):
                if name in self.buckets:
                    self.buckets[name].level -= need[name]
            return None

    def charge_output(self, output_tokens: int) -> None:
        with self._lock:
            bucket = self.buckets.get("output")
            if bucket is not None:
                bucket.refill(self.clock())
                bucket.level -= output_tokens

    def headers(self, wall_now: float, retry_after: float | None = None) -> list[tuple[str, str]]:
        """The rate-limit families (a limited one from its bucket, the others as documented),
        the organisation id, and `retry-after` in whole seconds, rounded up, when refused."""
        headers = [(k, v) for k, v in documented.ratelimit_headers(wall_now)
                   if not any(k.startswith(f"anthropic-ratelimit-{f}-")
                              for n, f in _HEADER_FAMILY.items() if n in self.buckets)]
        with self._lock:
            now = self.clock()
            for name, bucket in self.buckets.items():
                bucket.refill(now)
                family = _HEADER_FAMILY[name]
                full_in = (bucket.capacity - bucket.level) / bucket.rate
                headers += [
                    (f"anthropic-ratelimit-{family}-limit", f"{bucket.per_minute:g}"),
                    (f"anthropic-ratelimit-{family}-remaining", str(max(int(bucket.level), 0))),
                    (f"anthropic-ratelimit-{family}-reset", documented.rfc3339(wall_now + full_in)),
                ]
        if retry_after is not None:
            headers.append(("retry-after", str(max(1, math.ceil(retry_after)))))
        return headers
