"""Masking credentials in every text sweepq stores, prints or renders.

Two kinds of secret: anything shaped like an Anthropic key (`sk-ant-…`), and
the literal values of ANTHROPIC_API_KEY and ANTHROPIC_AUTH_TOKEN whatever
their shape (a proxy token, a key from another provider). Values shorter than
MIN_SECRET_CHARS are not masked: a 3-letter "key" such as `abc` or `test`
would otherwise blank out ordinary words in answers and messages, and a value
that short is not a secret worth protecting.
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

SECRET_ENV_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
_UNSET = ("",) * len(SECRET_ENV_VARS)   # each variable's default when it is not set
MIN_SECRET_CHARS = 8
MASK = "***"
MESSAGE_MAX = 300
_API_KEY = re.compile(r"sk-ant-[A-Za-z0-9_-]+")
_WHITESPACE = re.compile(r"\s+")


def secret_values() -> list[str]:
    """The env secrets worth masking, longest first (so one never hides part of another)."""
    return list(_env_secrets())


def _env_secrets() -> tuple[str, ...]:
    """The secrets in the environment now: read on every call, sorted once per value."""
    return _worth_masking(tuple(map(os.environ.get, SECRET_ENV_VARS, _UNSET)))


@lru_cache(maxsize=16)
def _worth_masking(raw: tuple[str, ...]) -> tuple[str, ...]:
    """`secret_values` of these raw env values, cached: every completed job is masked,
    and the environment rarely changes (it is still read on every call)."""
    values = {value.strip() for value in raw}
    return tuple(sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len,
                        reverse=True))


def mask(text: str) -> str:
    """`text` with env secrets replaced by `***` and `sk-ant-…` keys by `sk-ant-***`.

    Read from the environment on every call: a test or a long-lived process
    that changes the key is still covered.
    """
    return _mask(text, _env_secrets())


def mask_each(*texts: str | None) -> tuple[str | None, ...]:
    """`mask` of each text (None stays None), the environment read once for them all: a
    completed job masks its detail and its output, and reading the environment is most
    of what masking costs."""
    secrets = _env_secrets()
    return tuple(None if text is None else _mask(text, secrets) for text in texts)


def _mask(text: str, secrets: tuple[str, ...]) -> str:
    for value in secrets:
        if value in text:
            text = text.replace(value, MASK)
    return _API_KEY.sub("sk-ant-***", text) if "sk-ant-" in text else text


def one_line(text: str, limit: int = MESSAGE_MAX) -> str:
    """`text` masked, on one line, at most `limit` characters: safe to store and print."""
    line = _WHITESPACE.sub(" ", mask(str(text))).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return mask(line)  # a cut can't create a key, but be certain
