"""Prompt templates read backwards: one format string both writes a text and recognises it.

`bbh` and `arms` build prompts from `str.format` templates. Whatever has to recognise
those prompts later (the fake API's answer generator, a test) asks for
`pattern(template, ...)` instead of keeping its own regex, so a template edited in one
place is still recognised everywhere.
"""

from __future__ import annotations

import re
import string


def pattern(template: str, flags: int = 0, **fields: str) -> re.Pattern[str]:
    """A regex matching what `template.format(**values)` produces.

    Literal text is matched exactly; each `{name}` becomes the named group `name` with
    the regex given for it in `fields` (every field of the template must be given one).
    """
    parts: list[str] = []
    for literal, name, _spec, _conv in string.Formatter().parse(template):
        parts.append(re.escape(literal))
        if name is None:
            continue
        if name not in fields:
            raise KeyError(f"template field {{{name}}} has no regex")
        group = f"(?P<{name}>{fields[name]})"
        parts.append(group if f"(?P<{name}>" not in "".join(parts) else f"(?P={name})")
    return re.compile("".join(parts), flags)
