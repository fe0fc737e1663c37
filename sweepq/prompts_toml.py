"""Writing a prompt set as TOML, by hand: `tomllib` reads TOML but the stdlib cannot write it.

The output is meant to be edited (`sweepq prompts init FILE`): each field has a comment,
multi-line texts are multi-line strings, and `tomllib.loads(render(data)) == data` for any
texts (tested with arbitrary strings), so what is stored is exactly what was rendered.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

HEADER = """\
# A sweepq prompt set (schema {schema}): every text the built-in arms and the BBH task
# builder send. `sweepq enqueue --prompts FILE` stores it in the sweep (jobs never read this
# file again); `sweepq prompts show` prints what a sweep stored.
# Templates are Python format strings: {{name}} is a placeholder, {{{{ and }}}} a literal brace.
schema = {schema}
"""

COMMENTS = {
    "task.multiple_choice": "A task with options: {question} and {options} (the option lines, "
                            "one per line).",
    "task.option": "One option line: {label} (A, B, ...) and {text}.",
    "task.free_form": "A task without options: {question} and {hint} (from [task.hints], else "
                      "default_hint).",
    "personas.a": "System prompt of haiku-only, sonnet-only, every escalation, and the first "
                  "cheap call of the echo arms.",
    "personas.b": "System prompt of the second cheap call of the echo arms.",
    "judge.question": "echo-judge's question: {question} is the task prompt as the personas "
                      "saw it, {a} and {b} their replies.",
    "judge.agreement": "When a verdict is agreement: prefix:WORD (case-sensitive), "
                       "prefix-nocase:WORD, or regex:PATTERN (matched at the start, after "
                       "leading whitespace). Anything else escalates.",
    "judge.agree": "What an agreeing / disagreeing judge says: checked against the rule at "
                   "enqueue, and what the fake API answers.",
    "max_tokens.answer": "answer: every persona, single-model and escalation call; judge: the "
                         "verdict. Either may be left out: unset, the backend's own default "
                         "(the API backends send 4096).",
    "transport.system": "flag: a system text is the system prompt (--system-prompt for the "
                        "Claude CLI); inline: it and the prompt become one user message, "
                        "system_message and user_message joined by separator.",
    "transport.cli_prompt": "The Claude CLI's prompt on stdin or as its argument; cli_reply: "
                            "json (the stream's result) or text (plain stdout, right-stripped).",
}

_CONTROL = {"\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def render(data: Mapping[str, Any]) -> str:
    """The set as commented TOML, sections in schema order."""
    lines = [HEADER.format(schema=data.get("schema", 1))]
    for section, table in data.items():
        if section == "schema":
            continue
        nested = [(k, v) for k, v in table.items() if isinstance(v, dict)]
        lines.append(f"[{section}]")
        for key, value in table.items():
            if isinstance(value, dict):
                continue
            comment = COMMENTS.get(f"{section}.{key}")
            if comment:
                lines.extend(f"# {line}" for line in textwrap.wrap(comment, 88))
            lines.append(f"{_key(key)} = {_value(value)}")
        lines.append("")
        for key, sub in nested:
            lines.extend(_table(f"{section}.{_key(key)}", sub))
    return "\n".join(lines)


def _table(name: str, table: Mapping[str, Any]) -> list[str]:
    """`[name]` with its plain values, then its sub-tables (`[task.subtasks.navigate]`)."""
    plain = [(k, v) for k, v in table.items() if not isinstance(v, dict)]
    lines = [f"[{name}]", *(f"{_key(k)} = {_value(v)}" for k, v in plain), ""] \
        if plain or not table else []
    for key, sub in table.items():
        if isinstance(sub, dict):
            lines.extend(_table(f"{name}.{_key(key)}", sub))
    return lines


def _key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "_-") for c in key)
    return key if bare else _basic(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    return _multiline(text) if "\n" in text else _basic(text)


def _escape_char(ch: str, multiline: bool) -> str:
    if ch == "\\":
        return "\\\\"
    if multiline and ch in "\n\t":
        return ch
    if ch in _CONTROL:
        return _CONTROL[ch]
    if ord(ch) < 0x20 or ord(ch) == 0x7F:
        return f"\\u{ord(ch):04X}"
    if ch == '"' and not multiline:
        return '\\"'
    return ch


def _basic(text: str) -> str:
    return '"' + "".join(_escape_char(ch, False) for ch in text) + '"'


def _multiline(text: str) -> str:
    """A multi-line basic string; quotes escaped only where three would close it."""
    last = '\\"' if text.endswith('"') else ""   # a quote just before the closing delimiter
    core = text[:-1] if last else text
    body = "".join(_escape_char(ch, True) for ch in core).replace('"""', '""\\"')
    return '"""\n' + body + last + '"""'
