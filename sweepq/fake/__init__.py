"""A fake Anthropic Messages API: over loopback HTTP (`FakeAPI`) or in-process
(`InProcessBackend`), with deterministic answers and injected faults.

Modules, one concern each: `config` (FakeConfig), `documented` (texts, headers and
fields as Anthropic documents them), `wire` (reply bytes), `validate` (request checks),
`answers` (the answer generator), `faults` (scripts and fault injection), `engine` (a
request in, a reply out, counters), `server` (HTTP), `inprocess` (a sweepq Backend),
`cli` (`sweepq fake-api`). The fake imports sweepq's core; the core never imports it.
"""

from .config import KNOWN_MODELS, FakeConfig
from .documented import CREDIT_MESSAGE, ERROR_BODIES, SPEND_LIMIT_CODE
from .server import FakeAPI

__all__ = ["CREDIT_MESSAGE", "ERROR_BODIES", "KNOWN_MODELS", "SPEND_LIMIT_CODE", "FakeAPI",
           "FakeConfig"]
