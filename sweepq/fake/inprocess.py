"""The fake API as a `Backend` inside the process: the real SDK, no socket.

`InProcessBackend` is the same engine `FakeAPI` serves over HTTP, reached through an
httpx transport instead of a loopback connection. The SDK still builds the request,
parses the reply and raises its own exceptions (`RateLimitError` with the response's
headers, `APIConnectionError` for a dropped connection), so the classifier sees exactly
what it would see over HTTP, with the same answers, accuracy and faults for the same
`FakeConfig`. Tests of arms, the worker and fault policy use it to run without sockets;
a few end-to-end tests keep the HTTP server and real processes.
"""

from __future__ import annotations

import anthropic
import httpx2 as httpx

from sweepq.backends import AnthropicBackend, Reply

from .config import FakeConfig
from .engine import FakeEngine

BASE_URL = "http://fake-api.in-process"


class _SdkClient(AnthropicBackend):
    """`AnthropicBackend.send` over a given SDK client (no key needed: nothing leaves)."""

    def __init__(self, client: anthropic.Anthropic) -> None:  # noqa: D107 - no env check
        self.client = client


class InProcessBackend(FakeEngine):
    """A `Backend` answering from a fake engine in this process.

    It is a `FakeEngine`, so `stats()`, `script()` and `reset_stats()` work as on
    `FakeAPI`. `api_key` is what the SDK sends (it matters with `valid_api_keys`).
    """

    def __init__(self, config: FakeConfig | None = None, api_key: str = "sk-ant-in-process",
                 timeout: float = 30.0) -> None:
        super().__init__(config)
        transport = httpx.MockTransport(self._respond)
        self.client = anthropic.Anthropic(
            api_key=api_key, base_url=BASE_URL, max_retries=0, timeout=timeout,
            http_client=httpx.Client(transport=transport, base_url=BASE_URL))
        self._sdk = _SdkClient(self.client)

    @property
    def cache_ttl(self) -> str:
        """The prompt caching lifetime `AnthropicBackend` sends (`work --cache`)."""
        return self._sdk.cache_ttl

    @cache_ttl.setter
    def cache_ttl(self, ttl: str) -> None:
        self._sdk.cache_ttl = ttl

    def send(self, model: str, system: str | None, prompt: str, max_tokens: int) -> Reply:
        """As `AnthropicBackend.send`: a `Reply`, or the SDK's exception for a failure."""
        return self._sdk.send(model, system, prompt, max_tokens)

    def _respond(self, request: httpx.Request) -> httpx.Response:
        # The path with its query, as the HTTP server passes it: the batch list's `limit`
        # and `after_id` (its pages) are query parameters.
        reply = self.handle(request.method, request.url.raw_path.decode("ascii"),
                            request.headers, request.read())
        if reply.reset:
            # What a dropped connection is to httpx; the SDK turns it into
            # APIConnectionError, as it does for a real reset.
            raise httpx.RemoteProtocolError("connection dropped without a response",
                                            request=request)
        headers = [("content-type", reply.content_type), *reply.headers]
        return httpx.Response(reply.status, headers=headers, content=reply.body,
                              request=request)
