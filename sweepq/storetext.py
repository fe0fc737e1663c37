"""Text as SQLite can hold it: lone surrogates escaped reversibly, everything else as is.

A Python `str` may hold a lone surrogate (U+D800–U+DFFF): an OpenAI-compatible or
local server that splits a character between tokens sends `"\\ud800"` in its JSON,
and the SDK hands it on. SQLite's UTF-8 cannot hold one (the sqlite3 module raises
`UnicodeEncodeError` binding it), and such a reply is still a paid call whose text
must be journaled and replayed exactly. So before a provider's or a file's text is
bound, each surrogate becomes ESCAPE + a private-use character of plane 16
(U+100000 + its offset), and ESCAPE itself (U+10FFFF, a noncharacter no text
needs) becomes ESCAPE twice; `load` undoes both. Text with neither, which is all
text in practice, is stored and read unchanged, so `sqlite3` and `sweepq query`
show it as it is.
"""

from __future__ import annotations

import re

ESCAPE = "\U0010ffff"
_BASE = 0x100000 - 0xD800          # surrogate code point + _BASE = its private-use stand-in
_NEEDS = re.compile("[\ud800-\udfff\U0010ffff]")
_ESCAPED = re.compile("\U0010ffff([\U0010ffff\U00100000-\U001007ff])")


def store(text: str) -> str:
    """`text` in a form SQLite can hold; `load(store(t)) == t` for every str."""
    if text.isascii() or _NEEDS.search(text) is None:   # isascii: O(1), most text
        return text
    return _NEEDS.sub(_escape, text)


def load(text: str) -> str:
    """The text `store` was given (text stored before escaping existed reads unchanged)."""
    if ESCAPE not in text:
        return text
    return _ESCAPED.sub(_unescape, text)


def store_opt(text: str | None) -> str | None:
    return None if text is None else store(text)


def load_opt(text: str | None) -> str | None:
    return None if text is None else load(text)


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    return ESCAPE * 2 if char == ESCAPE else ESCAPE + chr(ord(char) + _BASE)


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return ESCAPE if char == ESCAPE else chr(ord(char) - _BASE)
