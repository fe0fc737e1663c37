"""What a failed model call means (docs/failures.md: what each kind does).

A failure is exhausted, rate_limited, unreachable, transient, fatal or interrupted,
with the time the queue may resume and a one-line message that never contains an API
key. `unreachable` is a request that never reached the server (refused, no route, no
name, no connection in time): no job's fault, so no job's attempt pays for it.
`interrupted` is a call stopped before it could answer (a Claude CLI run ended by a
signal, or printing no result): never an answer, and no job's fault when its worker is
stopping. `api.classify`
reads anthropic SDK exceptions, `cli.classify_cli` the Claude CLI's output; both
build a `Failure`. `signature` is what the breaker compares: two failures with the
same signature are "the same failure" whatever job, request id or count they name.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from ..redact import one_line

Kind = Literal["exhausted", "rate_limited", "unreachable", "transient", "fatal",
               "interrupted"]
# How far a fatal failure reaches: only this job, or the whole run (auth, unknown model).
# Not a "scope" (that word names a provider or model family a pause holds back).
Reach = Literal["job", "run"]

DEFAULT_RATE_LIMIT_PAUSE = 60.0  # seconds, for a 429 that gives no advice at all

# Any token that holds a digit (counts, ports, request ids, uuids, hex, dates) is masked.
_VARIABLE = re.compile(r"[A-Za-z0-9_\-.:/]*\d[A-Za-z0-9_\-.:/]*")


@dataclass(frozen=True)
class Failure:
    """A classified model-call failure: what kind, until when, and a printable message."""

    kind: Kind
    resume_at: float | None  # unix seconds; None = no known time
    message: str  # one line, no API key
    reach: Reach = "job"  # for fatal: the whole run (auth, unknown model) or only this job
    # What ran out, for exhausted/rate_limited: a provider ("openai", "gemini",
    # "local@URL") whose pause holds back only the arms that call it; None: everything.
    pause_scope: str | None = None

    def __post_init__(self) -> None:
        # Every Failure is safe to store and print, whoever built it.
        object.__setattr__(self, "message", one_line(self.message))


class CallFailed(Exception):
    """A model call failed, already classified: the backend or the client raises it with
    its `Failure`, and the worker decides what follows (pause, retry, stop)."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


# "No connection was made", as each transport says it: httpx and httpx2 (the Anthropic,
# OpenAI and newer Gemini SDKs), urllib3 under requests (older google-genai), and the
# operating system's own refusal.
_NO_CONNECTION = {"ConnectError", "ConnectTimeout", "NewConnectionError",
                  "ConnectTimeoutError", "ConnectionRefusedError"}


def unreachable(exc: BaseException) -> Failure | None:
    """`exc` as an unreachable failure when its request never got a connection (refused,
    no route, no name, connect timeout), naming the address; else None.

    Read from the exception chain by the transports' class names, so every vendor SDK
    is told apart the same way, whichever HTTP library it sends through.
    """
    chain: list[BaseException] = []
    seen: BaseException | None = exc
    while seen is not None and seen not in chain:
        chain.append(seen)
        seen = seen.__cause__ or seen.__context__
    cause = next((e for e in chain if type(e).__name__ in _NO_CONNECTION), None)
    if cause is None:
        return None
    where = next((f" {w}" for w in map(_address, chain) if w), "")
    return Failure("unreachable", None,
                   f"cannot reach the API{where}: {type(cause).__name__}: {cause}")


def _address(exc: BaseException) -> str | None:
    """`scheme://host:port` of the request an exception carries, if it carries one."""
    try:
        url = getattr(exc, "request", None)
        url = getattr(url, "url", None)
    except RuntimeError:                 # httpx: an exception made without its request
        return None
    if url is None:
        return None
    parts = urlsplit(str(url))
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else None


def signature(failure: Failure) -> str:
    """The failure's kind and message with every token that holds a digit masked as `#`.

    Two jobs failing with `500 … req_011CA…` and `500 … req_011CB…` are the same
    failure; a 500 and a 503 are too (both `#`), which is what a breaker wants.
    """
    return f"{failure.kind}: {_VARIABLE.sub('#', failure.message)}"
