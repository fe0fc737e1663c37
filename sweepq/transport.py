"""Transport: how a prompt set's texts reach the model, part of the set like its words.

Why: the same persona sent as a system prompt or written into the user turn is a
different conversation, and the Claude CLI replaces its own system prompt with
`--system-prompt` but keeps it when the persona is inline. A set's `[transport]` says:

- `system`: "flag" (a system text is the request's system prompt: the API's `system`,
  the CLI's `--system-prompt`) or "inline" (no system prompt: the system text and the
  prompt become one user message, `system_message` and `user_message` with `{text}`,
  joined by `separator`; the old runner's `[SYSTEM]\\n…` and `[HUMAN]\\n…` sections);
- `cli_prompt`: "stdin" or "argument": where the Claude CLI gets the prompt;
- `cli_reply`: "json" (the stream's `result`, with usage and cost) or "text" (plain
  stdout, right-stripped, no `--output-format`).

Inline applies to every backend (the model sees the same words on each); the two `cli_`
fields only to the Claude CLI. A set without `[transport]` is today's: flag, stdin, json.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FIELDS = ("system", "system_message", "user_message", "separator", "cli_prompt", "cli_reply")
CHOICES = {"system": ("flag", "inline"), "cli_prompt": ("stdin", "argument"),
           "cli_reply": ("json", "text")}


@dataclass(frozen=True)
class Transport:
    system: str = "flag"
    system_message: str = "{text}"
    user_message: str = "{text}"
    separator: str = "\n\n"
    cli_prompt: str = "stdin"
    cli_reply: str = "json"

    @classmethod
    def from_data(cls, table: Mapping[str, Any] | None) -> Transport:
        return cls(**dict(table or {}))

    def frame(self, system: str | None, prompt: str) -> tuple[str | None, str]:
        """(system, prompt) as sent: unchanged for "flag"; for "inline", no system and one
        message made of the system section (when there is a system text) and the prompt's."""
        if self.system == "flag":
            return system, prompt
        parts = [] if system is None else [self.system_message.format(text=system)]
        parts.append(self.user_message.format(text=prompt))
        return None, self.separator.join(parts)

    @property
    def cli_style(self) -> tuple[str, str]:
        """What the Claude CLI backend must be told: (cli_prompt, cli_reply)."""
        return self.cli_prompt, self.cli_reply


def validate(table: Any) -> None:
    """Raise ValueError("transport.FIELD: what is wrong") for a bad `[transport]` table."""
    if not isinstance(table, dict):
        raise ValueError("[transport]: must be a table")
    for key, value in table.items():
        if key not in FIELDS:
            raise ValueError(f"transport.{key}: unknown field (known: {', '.join(FIELDS)})")
        if not isinstance(value, str):
            raise ValueError(f"transport.{key}: must be a string")
        if key in CHOICES and value not in CHOICES[key]:
            raise ValueError(f"transport.{key}: must be {' or '.join(CHOICES[key])}, "
                             f"not {value!r}")
        if key.endswith("_message"):
            try:
                value.format(text="")
            except (KeyError, IndexError, ValueError) as exc:
                raise ValueError(f"transport.{key}: not a template of {{text}} ({exc!r}); "
                                 "write {{ for a literal brace") from None
            if "{text}" not in value:
                raise ValueError(f"transport.{key}: missing placeholder {{text}}")


# -- the Claude CLI ----------------------------------------------------------------------

def cli_argv(binary: str, model: str, system: str | None, prompt: str,
             style: tuple[str, str] = ("stdin", "json")) -> tuple[list[str], str | None]:
    """(argv, stdin) of one Claude CLI call. `--setting-sources ""` always: the user's
    settings, CLAUDE.md and hooks stay out of benchmark answers."""
    cli_prompt, cli_reply = style
    argv = [binary, "--print", "--setting-sources", "", "--model", model]
    if cli_reply == "json":   # the stream carries the rate-limit event's reset time;
        # partial messages make a long answer print as it is written, so silence means a
        # hung run, never a long answer (`claude_run`)
        argv += ["--output-format", "stream-json", "--verbose", "--include-partial-messages"]
    if system:
        argv += ["--system-prompt", system]
    if cli_prompt == "argument":
        return [*argv, prompt], None
    return argv, prompt


def one_style(styles: Sequence[tuple[str, str]]) -> tuple[str, str]:
    """The one CLI style a sweep's prompt sets share (a `work` process has one CLI
    backend); ValueError naming them when they differ."""
    found = sorted(set(styles)) or [("stdin", "json")]
    if len(found) > 1:
        raise ValueError(", ".join(f"cli_prompt={p} cli_reply={r}" for p, r in found))
    return found[0]
