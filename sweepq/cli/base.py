"""The `sweepq` command group: its global options, the shared helpers of every command,
and how a library error becomes one line naming the user's flag (`_in_flags`)."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..db import default_path
from ..errors import SweepqError
from ..explain import explain
from ..redact import mask

if TYPE_CHECKING:
    from ..queue import Queue, Sweep


class Group(click.Group):
    """Turns a user mistake into one line on stderr and a non-zero exit, never a traceback.

    Our own mistakes (SweepqError) and click's usage errors alike: one line
    that names the problem, and where to look for the fix.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SweepqError as exc:
            click.echo(f"sweepq: error: {mask(_in_flags(ctx, exc))}", err=True)
            ctx.exit(exc.exit_code)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except BrokenPipeError:  # `sweepq query ... | head`: the reader has all it wants
            _silence_stdout()
            ctx.exit(EXIT_BROKEN_PIPE)
        except Exception as exc:  # a full disk, a corrupt file, a bug: one line each
            _report_failure(ctx, exc)
            ctx.exit(1)

    # `fake-api` is loaded only when asked for, so every other command starts faster;
    # `sweepq --help` lists it by its summary alone (the fake server is most of the
    # package's imports).
    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "fake-api"])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "fake-api":
            if self._listing:
                return click.Command(name, help=FAKE_API_SUMMARY)
            from ..fake.cli import fake_api_command

            return fake_api_command
        return super().get_command(ctx, name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def main(self, *args: Any, **kwargs: Any) -> Any:
        try:
            code = super().main(*args, standalone_mode=False, **kwargs)
            sys.stdout.flush()  # here, where a closed pipe can be told apart (below)
            # Outside standalone mode click returns ctx.exit()'s code instead of exiting.
            sys.exit(code if isinstance(code, int) else 0)
        except BrokenPipeError:
            _silence_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("sweepq: aborted", err=True)
            sys.exit(130)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else exc.format_message())
            sys.exit(0)
        except click.UsageError as exc:
            where = exc.ctx.command_path if exc.ctx else "sweepq"
            message = " ".join(exc.format_message().split())
            click.echo(f"sweepq: error: {message} (see `{where} --help`)", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"sweepq: error: {' '.join(exc.format_message().split())}", err=True)
            sys.exit(exc.exit_code)


# `fake-api`'s line in `sweepq --help`: the first sentence of its docstring (a test holds
# them equal), so the list does not import the fake server to read it.
FAKE_API_SUMMARY = ("Serve a fake Anthropic Messages API (or --vendor openai|gemini) on "
                    "loopback until SIGINT/SIGTERM.")

EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE, what `yes | head` reports under `set -o pipefail`


def _silence_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush into the closed pipe does
    not print a second complaint at exit."""
    import os

    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # io.UnsupportedOperation is both
        pass  # not a real file (click's test runner): nothing will be flushed to a pipe


def _in_flags(ctx: click.Context, exc: SweepqError) -> str:
    """The error as the command line says it. The library names a value by its
    parameter name: as the message's start when it is `exc.option` (`max_attempts: ...`),
    or in backquotes anywhere (pass `dataset` PATH); each becomes the flag for it
    (`--max-attempts`, `--dataset`), the command's or the `sweepq` group's own, matched
    by the click parameter's name or the flag's (`arms` for `--arms`)."""
    message = str(exc)
    name = ctx.invoked_subcommand
    command = ctx.command.get_command(ctx, name) if name and isinstance(ctx.command,
                                                                        click.Group) else None
    params = [*(command.params if command is not None else []), *ctx.command.params]
    for param in params:
        if not isinstance(param, click.Option) or param.name is None:
            continue
        flag = max(param.opts, key=len)
        names = {param.name, flag.lstrip("-").replace("-", "_")}
        for value_name in names:
            message = message.replace(f"`{value_name}`", flag)
        if exc.option in names and message.startswith(exc.option):
            message = flag + message.removeprefix(exc.option)
        elif exc.option in names and flag not in message:
            message = f"{flag}: {message}"
    return message


def _report_failure(ctx: click.Context, exc: Exception) -> None:
    """SQLite and OS errors are the machine's state, said in one line; anything else is a bug,
    said loudly, with its traceback behind --debug."""
    debug = bool((ctx.find_root().obj or {}).get("debug"))
    if debug:
        click.echo(mask("".join(traceback.format_exception(exc))), err=True, nl=False)
    known = explain(exc)
    if known is not None:
        click.echo(f"sweepq: error: {known}", err=True)
        return
    hint = "" if debug else "; run with --debug for the traceback"
    click.echo(mask(f"sweepq: internal error (a bug in sweepq, please report it): "
                    f"{type(exc).__name__}: {' '.join(str(exc).split())}{hint}"), err=True)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _queue(ctx: click.Context, create: bool = False, reads_only: bool = False) -> Queue:
    """The command's queue. `reads_only`: a read-only file or folder opens read-only."""
    from ..queue import Queue  # here, not at the top: `sweepq --help` needs no queue

    obj = ctx.find_root().obj
    if "queue" not in obj:
        if reads_only:
            obj["queue"] = Queue.open_for_reading(obj["db"], synchronous=obj["synchronous"])
        else:
            obj["queue"] = Queue.open(obj["db"], synchronous=obj["synchronous"], create=create)
        ctx.call_on_close(obj["queue"].close)
    return obj["queue"]


# Options several commands share, spelled once.
sweep_option = click.option("--sweep", "name", default=None,
                            help="Sweep (default: the only one).")


def refresh_option(default: float) -> Callable[[Any], Any]:
    return click.option("--refresh", type=click.FloatRange(0), default=default,
                        show_default=True, metavar="SECONDS",
                        help="Reload the page this often while the sweep runs (0: never).")


baseline_option = click.option("--baseline", default=None, metavar="ARM",
                               help="Arm to pair the others against (default: sonnet-only "
                               "when present).")
scorer_option = click.option("--scorer", default=None, metavar="NAME",
                             help="Show the sweep's scoring by NAME (`sweepq rescore`); "
                             "default: the sweep's own verdicts.")


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", envvar="SWEEPQ_DB", default=default_path, show_default="sweepq.db",
              help="The database file (environment SWEEPQ_DB).")
@click.option("--synchronous", type=click.Choice(["NORMAL", "FULL"], case_sensitive=False),
              default="NORMAL", show_default=True,
              help="SQLite durability: FULL fsyncs every commit (slower).")
@click.option("--debug", is_flag=True, help="Show the traceback of an internal error.")
@click.version_option(package_name="sweepq")
@click.pass_context
def main(ctx: click.Context, db_path: str, synchronous: str, debug: bool) -> None:
    """A SQLite-backed job queue for LLM evaluation sweeps.

    \b
    sweepq enqueue --sweep bbh-demo --subtasks web_of_lies --n-per-subtask 20 \\
                   --arms haiku-only,echo-judge --dataset ../shared/bbh
    sweepq work --sweep bbh-demo --concurrency 16
    sweepq status
    sweepq export --sweep bbh-demo results.jsonl
    """
    ctx.obj = {"db": db_path, "synchronous": synchronous, "debug": debug}


def _sweep_line(queue: Queue, sweep: Sweep) -> str:
    """Where the sweep stands, for work's closing line; nothing when the database can't say."""
    from .. import report

    try:
        data = report.status(queue, sweep)
    except Exception as exc:
        if explain(exc) is None:
            raise
        return ""
    return (f"; sweep {sweep.name} {data['states']['done']}/{data['total']} done, "
            f"{data['states']['error']} error, {data['states']['pending']} pending")
