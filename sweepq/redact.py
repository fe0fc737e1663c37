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

SECRET_ENV_VARS = ("ANTHROPIC_API_KEY", "ANTHROPIC_AUTH_TOKEN")
MIN_SECRET_CHARS = 8
MASK = "***"
MESSAGE_MAX = 300
_API_KEY = re.compile(r"sk-ant-[A-Za-z0-9_-]+")
_WHITESPACE = re.compile(r"\s+")


def secret_values() -> list[str]:
    """The env secrets worth masking, longest first (so one never hides part of another)."""
    values = {os.environ.get(name, "").strip() for name in SECRET_ENV_VARS}
    return sorted((v for v in values if len(v) >= MIN_SECRET_CHARS), key=len, reverse=True)


def mask(text: str) -> str:
    """`text` with env secrets replaced by `***` and `sk-ant-…` keys by `sk-ant-***`.

    Read from the environment on every call: a test or a long-lived process
    that changes the key is still covered.
    """
    for value in secret_values():
        if value in text:
            text = text.replace(value, MASK)
    return _API_KEY.sub("sk-ant-***", text)


def one_line(text: str, limit: int = MESSAGE_MAX) -> str:
    """`text` masked, on one line, at most `limit` characters: safe to store and print."""
    line = _WHITESPACE.sub(" ", mask(str(text))).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return mask(line)  # a cut can't create a key, but be certain
