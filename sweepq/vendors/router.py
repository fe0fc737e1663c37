"""One `Backend` that sends each call to the backend of its model's provider.

The worker sees a single backend; the sweep's model map decides per call where it goes
(`vendors.target`). Vendor backends are built on first use, one per provider and base
URL, so a sweep that names no OpenAI model needs neither the SDK nor a key. A failure
of a vendor's call carries that vendor's pause scope, so its exhaustion holds back only
the arms that call it; Claude's failures stay queue-wide, as before.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import replace

from ..backends import DEFAULT_TIMEOUT, Backend, Reply
from ..errors import SweepqError
from ..failures import CallFailed, Failure
from . import target as targets
from .target import ANTHROPIC, Target


def vendor_backend(t: Target, timeout: float = DEFAULT_TIMEOUT,
                   max_connections: int = 64) -> Backend:
    """The SDK backend for a non-Claude target (imported only when one is used)."""
    if t.provider in ("openai", "local"):
        from .openai import OpenAIBackend

        return OpenAIBackend(t.base_url, local=t.provider == "local", api=t.api,
                             timeout=timeout, max_connections=max_connections)
    if t.provider == "gemini":
        from .gemini import GeminiBackend

        return GeminiBackend(t.base_url, timeout=timeout)
    raise AssertionError(f"no backend for provider {t.provider}")  # parse() refuses others


class RouterBackend:
    """Claude's calls to `claude`; every other provider's to a backend `build` makes."""

    def __init__(self, claude: Backend,
                 build: Callable[[Target], Backend] = vendor_backend) -> None:
        self.claude, self._build = claude, build
        self._backends: dict[tuple[str, str | None, str], Backend] = {}
        self._lock = threading.Lock()

    def prepare(self, model_ids: Iterable[str]) -> None:
        """Build the backends these ids need now, so a missing SDK or key is one line at
        start rather than a failed call later."""
        for model_id in model_ids:
            t = targets.parse(model_id)
            if t.provider != ANTHROPIC:
                self._backend(t)

    def send(self, model: str, system: str | None, prompt: str, max_tokens: int) -> Reply:
        t = targets.parse(model)
        if t.provider == ANTHROPIC:
            return self.claude.send(t.model, system, prompt, max_tokens)
        try:
            backend = self._backend(t)
        except SweepqError as exc:   # no SDK, no key: every call to it fails alike
            raise CallFailed(Failure("fatal", None, str(exc), reach="run")) from None
        try:
            return backend.send(t.model, system, prompt, max_tokens)
        except CallFailed as exc:
            raise CallFailed(replace(exc.failure, pause_scope=t.scope)) from exc

    def _backend(self, t: Target) -> Backend:
        key = (t.provider, t.base_url, t.api)
        with self._lock:
            if key not in self._backends:
                self._backends[key] = self._build(t)
            return self._backends[key]
