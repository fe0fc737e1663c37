"""Write docs/commands.md: every command's `--help`, as click prints it.

Run `make docs` after changing a command; tests/unit/test_docs.py fails when the file
and the commands drift apart, so the reference can never describe another version.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

HERE = Path(__file__).resolve().parent
TARGET = HERE / "commands.md"
WIDTH = 88

INTRO = """# Command reference

Every `sweepq` command's `--help`, generated from the code by `make docs`
(a test fails when this file is stale). The guide (guide.md) shows the everyday
path; this page is the whole surface.
"""


def _context(cmd: click.Command, name: str, parent: click.Context | None) -> click.Context:
    """The context a real invocation makes (so the command's own settings, such as `-h`,
    apply), at a fixed width so the page does not depend on the terminal."""
    return cmd.make_context(name, [], parent=parent, resilient_parsing=True,
                            terminal_width=WIDTH, max_content_width=WIDTH)


def _walk(cmd: click.Command, ctx: click.Context):
    """Yield (path, help text) for a command and, for a group, each subcommand in order."""
    yield ctx.command_path, cmd.get_help(ctx)
    if isinstance(cmd, click.Group):
        for name in cmd.list_commands(ctx):
            sub = cmd.get_command(ctx, name)
            if sub is None or sub.hidden:
                continue
            yield from _walk(sub, _context(sub, name, ctx))


def render() -> str:
    """The whole reference page as text."""
    from sweepq.cli import main

    parts = [INTRO]
    for path, text in _walk(main, _context(main, "sweepq", None)):
        parts.append(f"\n## `{path}`\n\n```\n{text.rstrip()}\n```\n")
    return "".join(parts)


if __name__ == "__main__":
    TARGET.write_text(render())
    sys.stdout.write(f"wrote {TARGET.relative_to(HERE.parent)}\n")
