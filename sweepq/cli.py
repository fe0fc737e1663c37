"""The `sweepq` command: parse, call the library, print. No queue logic lives here.

Why this module is long (~780 lines): it is every command (and fake-api), each a few lines
over a library call, and most of its length is their options and help texts,
which click keeps beside each function. Split by command, the one place where a
user's flag is defined (and `_in_flags` turns a library value name into it)
would be scattered; there is no second concept here to move out.
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from typing import Any

import click

from . import arms as arms_mod
from . import db, fmt, jsonl, report, views
from .atomicfile import atomic_output
from .db import default_path
from .errors import SweepqError
from .explain import explain
from .queue import Queue, Sweep
from .redact import mask
from .timefmt import format_duration, format_time, parse_duration, parse_until


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

    # `fake-api` is loaded only when asked for, so every other command starts faster.
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), "fake-api"])

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name == "fake-api":
            from .fake.cli import fake_api_command

            return fake_api_command
        return super().get_command(ctx, name)

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


@main.command()
@click.option("--sweep", "name", required=True, help="Name of the sweep (new or existing).")
@click.option("--benchmark", default="bbh", show_default=True,
              help="bbh, mmlu-pro, humaneval, a question bank by --field (jsonl, csv, hf), "
              "or one registered under entry point group sweepq.benchmarks.")
@click.option("--subtasks", default=None,
              help="Comma-separated subtasks (MMLU-Pro: categories), in order, or `all`.")
@click.option("--n-per-subtask", type=int, default=None,
              help="Tasks per subtask (required for bbh; otherwise default all).")
@click.option("--start", type=int, default=0, show_default=True,
              help="Index of the first task of each subtask.")
@click.option("--arms", "arm_names", required=True, help="Comma-separated arms, in order.")
@click.option("--dataset", default=None,
              help="A local copy (bbh: a folder of upstream JSON files) or, for hf, a hub "
              "name; default: the Hugging Face copy.")
@click.option("--split", default=None, help="mmlu-pro, hf: the split (test, validation, ...).")
@click.option("--field", "field_pairs", multiple=True, metavar="KEY=COLUMN",
              help="jsonl, csv, hf: the column of question, answer, choices (a list column "
              "or COL,COL,...), id, subtask (repeatable).")
@click.option("--option", "option_pairs", multiple=True, metavar="KEY=VALUE",
              help="Another option of the benchmark (humaneval: timeout=SECONDS).")
@click.option("--model", "model_pairs", multiple=True, metavar="ALIAS=ID",
              help="Map a model alias to an id for this sweep (repeatable).")
@click.option("--max-attempts", type=int, default=3, show_default=True,
              help="Attempts before a job becomes an error.")
@click.option("--arms-module", default=None, help="A module whose ARMS dict adds custom arms.")
@click.option("--prompts", "prompt_specs", multiple=True, metavar="[NAME=]FILE",
              help="A prompt set (TOML) stored with the sweep: FILE is the default set, "
              "NAME=FILE one that arms name as ARM@NAME (repeatable).")
@click.option("--scorer", default="sweepq", show_default=True,
              help="The scorer the sweep's verdicts come from: sweepq, echo (the old "
              "runner's rules), or one registered under entry point group sweepq.scorers.")
@click.pass_context
def enqueue(ctx: click.Context, name: str, benchmark: str, subtasks: str | None,
            n_per_subtask: int | None, start: int, arm_names: str, dataset: str | None,
            split: str | None, field_pairs: tuple[str, ...], option_pairs: tuple[str, ...],
            model_pairs: tuple[str, ...], max_attempts: int, arms_module: str | None,
            prompt_specs: tuple[str, ...], scorer: str) -> None:
    """Add every (task_id, arm) of a sweep as a pending job. Idempotent.

    Every model alias an arm calls (a judge's too) must be in the model map, and the
    SDK of its provider installed (`pip install 'sweepq[openai]'`, `'sweepq[gemini]'`);
    otherwise nothing is written.

    \b
    sweepq enqueue --sweep bbh-n99 --dataset ../shared/bbh \\
        --subtasks logical_deduction_three_objects,causal_judgement,date_understanding \\
        --n-per-subtask 33 --arms haiku-only,sonnet-only,echo-judge,echo-oracle
    sweepq enqueue --sweep ablation --subtasks navigate --n-per-subtask 50 \\
        --prompts terse=terse.toml --arms haiku-only,haiku-only@terse
    sweepq enqueue --sweep he --benchmark humaneval --arms haiku-only,echo-ast
    sweepq enqueue --sweep bank --benchmark jsonl --dataset bank.jsonl \\
        --field question=q --field choices=options --field answer=gold --arms haiku-only
    """
    from . import api

    options: dict[str, object] = {"split": split, **_pairs(option_pairs, "option")}
    if field_pairs:
        options["field"] = _pairs(field_pairs, "field")
    done = api.enqueue(lambda create: _queue_if(ctx, create), name, subtasks=_split(subtasks),
                       n_per_subtask=n_per_subtask, arms=_split(arm_names), start=start,
                       dataset=dataset, models=model_pairs, max_attempts=max_attempts,
                       arms_module=arms_module, prompts=prompt_specs,
                       scorer=scorer, benchmark=benchmark, options=options)
    grown = " (grown)" if done.grown else ""
    click.echo(f"sweep {name}{grown}: {fmt.count(done.new, 'new job')} ({done.total:,} in "
               f"all, {fmt.count(done.tasks, 'task')} x {fmt.count(len(done.sweep.arms), 'arm')})")
    if done.short:
        click.echo(f"sweepq: note: fewer tasks than --n-per-subtask {done.sweep.n_per_subtask} "
                   f"from --start {start}: "
                   + ", ".join(f"{s} has {n}" for s, n in done.short.items()), err=True)


def _pairs(pairs: tuple[str, ...], option: str) -> dict[str, str]:
    """KEY=VALUE flags as a dict; one without `=` is a one-line error naming the flag."""
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SweepqError(f"{pair!r} is not KEY=VALUE", option)
        out[key.strip()] = value.strip()
    return out


def _queue_if(ctx: click.Context, create: bool) -> Queue | None:
    """The command's queue; with `create` False, None when there is no database yet (the
    file is made only once every refusal is past)."""
    from pathlib import Path

    if not create and not Path(ctx.find_root().obj["db"]).exists():
        return None
    return _queue(ctx, create=True)


@main.command()
@click.option("--sweep", "name", default=None, help="Sweep to work on (default: the only one).")
@click.option("--concurrency", "-c", type=int, default=8, show_default=True,
              help="Jobs in flight at once (threads), 1 to 512.")
@click.option("--lease-seconds", type=float, default=120.0, show_default=True,
              help="A job whose worker stops heartbeating is claimable after this (1 s to a "
              "day).")
@click.option("--max-attempts", type=int, default=None,
              help="Change the attempts allowed for the sweep's unfinished jobs.")
@click.option("--max-wait", default=None, metavar="DURATION",
              help="Exit 75 instead of waiting out a pause longer than this (e.g. 30m).")
@click.option("--backend", type=click.Choice(["api", "claude-cli", "batch"]), default="api",
              show_default=True, envvar="SWEEPQ_BACKEND",
              help="The Anthropic API (SDK), the Claude CLI, or the API's Message Batches "
                   "(half price, hours of latency).")
@click.option("--claude-bin", default="claude", show_default=True,
              help="The Claude CLI executable, for --backend claude-cli.")
@click.option("--call-timeout", type=click.FloatRange(1), default=120.0, show_default=True,
              help="Seconds before one model call times out (the Claude CLI: seconds "
                   "without output).")
@click.option("--arms-module", default=None, help="A module whose ARMS dict adds custom arms.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.option("--governor/--no-governor", default=True, show_default=True,
              help="Pace calls from the API's rate-limit headers, shared by every process; "
                   "--no-governor sends as fast as --concurrency allows and pauses on 429s.")
@click.option("--cache", type=click.Choice(["5m", "1h", "off"]), default="5m",
              show_default=True,
              help="Prompt caching of a system text long enough to be cached (a few-shot "
                   "prefix): its lifetime, or off (docs/cost.md).")
@click.pass_context
def work(ctx: click.Context, name: str | None, concurrency: int, lease_seconds: float,
         max_attempts: int | None, max_wait: str | None, backend: str, claude_bin: str,
         call_timeout: float, arms_module: str | None, quiet: bool, governor: bool,
         cache: str) -> None:
    """Run workers until the sweep has nothing pending or running.

    Any number of `sweepq work` processes may share one database. Exit codes:
    0 finished (or stopped by a signal), 1 internal error or an unwritable database,
    2 fatal (bad key, unknown model, an API never reached), 3 nothing left but jobs in
    error (see `sweepq retry`), 75 paused with no resume time or longer than --max-wait.

    \b
    export ANTHROPIC_API_KEY=sk-ant-...
    sweepq work --sweep bbh-n99 --concurrency 16
    sweepq work --backend claude-cli --max-wait 30m     # for cron / systemd
    """
    from . import api
    from .progress import Progress
    from .worker import WorkerConfig

    wait = None if max_wait is None else parse_duration(max_wait, "--max-wait")
    config = WorkerConfig(concurrency=concurrency, lease_seconds=lease_seconds, max_wait=wait,
                          governor=governor, cache=cache)
    queue = _queue(ctx)
    sweep = queue.resolve_sweep(name)
    known = api.arms_for(sweep, arms_module)
    if max_attempts is not None:
        queue.set_max_attempts(sweep.name, max_attempts)
    if backend == "batch":
        _work_batch(ctx, queue, sweep, known, config, call_timeout, quiet)
        return
    worker = api.make_worker(queue, sweep, known, config, backend, claude_bin, call_timeout)
    worker.install_signal_handlers()
    progress = Progress(queue, sweep, enabled=not quiet and sys.stderr.isatty(),
                        own=config.worker_name)
    on_tick = progress.update
    if not sys.stderr.isatty():  # nobody watching: pauses are logged, one line each
        from .pauselog import PauseLog

        pause_log = PauseLog(queue, lambda line: click.echo(line, err=True),
                             interval=_log_interval())

        def on_tick() -> None:
            progress.update()
            pause_log.tick()
    with progress:
        outcome = worker.run(on_tick=on_tick)
    _finish(ctx, queue, sweep, outcome, stranded=worker.stranded)


def _exit_now(code: int) -> None:
    """End the process at once, output flushed, without finalising the interpreter: threads
    a signal abandoned in a model call must not run while modules and the SQLite
    connection are torn down under them (a SIGSEGV on exit). Their jobs were released,
    every commit is durable, and the OS closes the file."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _finish(ctx: click.Context, queue: Queue, sweep: Sweep, outcome: Any, how: str = "",
            stranded: int = 0) -> None:
    """`work`'s closing line (and the reason on stderr when it did not finish), then exit.

    A sweep that ran out of work with jobs in `error` is not finished: exit 3, so that
    `sweepq work && sweepq export` never exports a sweep with holes in it unawares.
    """
    from .worker import EXIT_INCOMPLETE

    code, message = outcome.exit_code, outcome.message
    errors = queue.counts(sweep.name)["error"] if code == 0 and not message else 0
    if errors:  # said once, on stderr: the closing line already counts the errors
        code, message = EXIT_INCOMPLETE, (f"{fmt.count(errors, 'job')} ended in error: see "
                                          "their errors with `sweepq status`, send them back "
                                          "with `sweepq retry`")
    said = f"; {message}" if message and code != EXIT_INCOMPLETE else ""
    click.echo(f"sweepq work: {fmt.count(outcome.tally.done, 'job')} done here "
               f"({outcome.tally.passed} passed){how}{_sweep_line(queue, sweep)}{said}")
    if code:
        click.echo(f"sweepq: {message}", err=True)
    if stranded:
        _exit_now(code)
    ctx.exit(code)


def _work_batch(ctx: click.Context, queue: Queue, sweep: Sweep, known: dict[str, Any],
                config: Any, call_timeout: float, quiet: bool) -> None:
    """`work --backend batch`: rounds of message batches (batch.py) until the sweep is done."""
    from . import api
    from .progress import Progress

    runner = api.make_batch_runner(queue, sweep, known, config, call_timeout)
    runner.install_signal_handlers()
    outcome = _run_with_display(runner.run, Progress(
        queue, sweep, enabled=not quiet and sys.stderr.isatty(),
        own=config.worker_name))
    _finish(ctx, queue, sweep, outcome, f" in {fmt.count(runner.rounds, 'batch round')}")


def _run_with_display(run: Callable[[], Any], progress: Any) -> Any:
    """`run()` with the live display redrawn beside it: the batch runner waits minutes in
    one call, so it runs in a thread while this one (which gets the signals) redraws."""
    import threading

    if not progress.enabled:
        return run()
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(run()), name="sweepq-batch",
                              daemon=True)
    with progress:
        thread.start()
        while thread.is_alive():
            progress.update()
            thread.join(0.5)
    return outcome[0]


@main.command("batches")
@click.argument("action", type=click.Choice(["list", "cancel"]), default="list")
@click.argument("batch_id", required=False)
@click.option("--sweep", "name", default=None, help="Only this sweep's batches.")
@click.option("--json", "as_json", is_flag=True,
              help="The list as a JSON array (the `batches` table's columns).")
@click.pass_context
def batches_command(ctx: click.Context, action: str, batch_id: str | None,
                    name: str | None, as_json: bool) -> None:
    """List the message batches of `work --backend batch`, or cancel one at the API.

    \b
    sweepq batches                       # every batch, newest first
    sweepq batches cancel msgbatch_01…   # its unfinished requests go out again next round
    """
    import time

    from . import batch_view

    if action == "list":
        queue = _queue(ctx, reads_only=True)
        listed = batch_view.rows(queue, name)
        if as_json:
            click.echo(json.dumps(listed, indent=2))
        elif not listed:
            click.echo("no message batches" + (f" for sweep {name}" if name else "")
                       + " (`sweepq work --backend batch` sends them)")
        for row in [] if as_json else listed:
            click.echo(batch_view.describe(row, time.time()))
        return
    queue = _queue(ctx)
    if not batch_id:
        raise SweepqError("which batch? `sweepq batches cancel BATCH_ID` (ids: `sweepq batches`)")
    keys = queue.read("SELECT batch_key FROM batches WHERE batch_id = ?", (batch_id,))
    if not keys:
        raise SweepqError(f"{batch_id} is not a batch of this database: see `sweepq batches`")
    from . import batch_api
    from .backends import AnthropicBackend

    client = AnthropicBackend().client
    try:   # retried as a live call's transient failure
        batch = batch_api.call(f"cancel {batch_id}",
                               lambda: client.messages.batches.cancel(batch_id), time.sleep)
    except batch_api.BatchApiFailed as exc:
        raise SweepqError(f"the Message Batches API failed ({exc.failure.kind}) to {exc}: "
                          "nothing was canceled; try again later") from None
    # What the API answered, so `sweepq batches` says it now, not after the next poll.
    queue.batch_polled(keys[0]["batch_key"], batch.request_counts.model_dump(),
                       batch.ended_at.timestamp() if batch.ended_at else None)
    click.echo(f"{batch.id}: {batch.processing_status}")


def _log_interval() -> float:
    """Seconds between "still paused" lines; SWEEPQ_PAUSE_LOG_SECONDS overrides (tests)."""
    import os

    from .pauselog import WAITING_LOG_INTERVAL

    raw = os.environ.get("SWEEPQ_PAUSE_LOG_SECONDS")
    return parse_duration(raw) if raw else WAITING_LOG_INTERVAL


@main.command("models")
@sweep_option
@click.option("--force", is_flag=True,
              help="Change an alias even though results from its old model exist, or add "
              "one no arm of the sweep calls.")
@click.option("--json", "as_json", is_flag=True, help="The map as a JSON object.")
@click.argument("pairs", nargs=-1, metavar="ALIAS=MODEL_ID...")
@click.pass_context
def models_cmd(ctx: click.Context, name: str | None, force: bool, as_json: bool,
               pairs: tuple[str, ...]) -> None:
    """Show a sweep's model map, or change aliases in it (recorded in the database).

    A change is refused once results from the old model exist, or while a job of an
    arm that calls the alias runs or is done (an arm would mix two models), and an alias
    no arm of the sweep calls is refused (a typo would be added, not fixed), unless
    --force; running workers take the new map from their next job on.

    \b
    sweepq models --sweep bbh-n99
    sweepq models --sweep bbh-n99 sonnet=claude-sonnet-4-6 && sweepq resume
    """
    queue = _queue(ctx, reads_only=not pairs)
    sweep = queue.resolve_sweep(name)
    models = sweep.models
    if pairs:
        from .models import parse_model_pairs
        from .vendors.target import require_sdk

        changes = parse_model_pairs(pairs)
        if not force:
            _refuse_unused_aliases(sweep, changes)
        for alias, model_id in changes.items():
            require_sdk(model_id, f"alias {alias}")
        models = queue.set_models(sweep.name, changes, force=force,
                                  arms_calling=lambda alias: arms_mod.calling(sweep.arms, alias))
    if as_json:
        click.echo(json.dumps(models, indent=2))
        return
    for alias, model_id in models.items():
        click.echo(f"{alias}={model_id}")


def _refuse_unused_aliases(sweep: Sweep, changes: dict[str, str]) -> None:
    """An alias no arm calls is a typo more often than a plan (the fix after a 404 would
    then add `sonet` and leave `sonnet` broken)."""
    called = arms_mod.aliases_called(sweep.arms)
    if called is None:
        return  # a custom arm: what it calls is not known here
    unused = sorted(set(changes) - called - set(sweep.models))
    if unused:
        raise SweepqError(f"no arm of sweep {sweep.name} calls {', '.join(unused)} (its arms "
                          f"call {', '.join(sorted(called))}): fix the alias, or pass "
                          "--force to add it anyway")


@main.group("prompts")
def prompts_group() -> None:
    """Prompt sets: every text the built-in arms and the BBH prompts send, as TOML.

    \b
    sweepq prompts init my-prompts.toml        # the default set, to edit
    sweepq enqueue ... --prompts my-prompts.toml
    sweepq prompts show --sweep bbh-n99
    """


@prompts_group.command("show")
@sweep_option
@click.option("--set", "set_name", default=None, metavar="NAME",
              help="Only this set (default: every set of the sweep).")
@click.pass_context
def prompts_show(ctx: click.Context, name: str | None, set_name: str | None) -> None:
    """Print the prompt sets a sweep stored, exactly as given, each after a header line."""
    from .prompts import DEFAULT_NAME, default_set

    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    sets = sweep.prompts or {DEFAULT_NAME: default_set()}
    if set_name is not None and set_name not in sets:
        raise SweepqError(f"sweep {sweep.name!r} has no prompt set {set_name!r} "
                          f"(it has {', '.join(sorted(sets))})")
    stored = "" if sweep.prompts else " (built in: the sweep predates stored prompt sets)"
    for each, prompt_set in sorted(sets.items()):
        if set_name in (None, each):
            click.echo(f"# prompt set {each} of sweep {sweep.name}, sha256 "
                       f"{prompt_set.sha256}{stored}")
            click.echo(prompt_set.text.rstrip("\n"))


@prompts_group.command("init")
@click.argument("path", metavar="FILE")
@click.option("--force", is_flag=True, help="Replace FILE if it exists.")
def prompts_init(path: str, force: bool) -> None:
    """Write the built-in default prompt set to FILE (`-`: stdout), to edit."""
    from pathlib import Path

    from .prompts import default_set

    if path != "-" and Path(path).exists() and not force:
        raise SweepqError(f"{path} exists: pass --force to replace it")
    with atomic_output(path) as out:
        out.write(default_set().text)
    if path != "-":
        click.echo(f"wrote the default prompt set to {path}")


@main.command("requests")
@sweep_option
@click.option("--task", "task_ids", multiple=True,
              help="A task id, e.g. bbh/navigate/3 (repeatable; with --json, default: all).")
@click.option("--arm", "arm_names", multiple=True,
              help="An arm, e.g. echo-judge or haiku-only@terse (repeatable; with --json, "
              "default: all).")
@click.option("--arms-module", default=None, help="A module whose ARMS dict adds custom arms.")
@click.option("--json", "as_json", is_flag=True,
              help="Each call as each backend sends it: the API's model, system, messages "
              "and max_tokens, the Claude CLI's argv and stdin.")
@click.option("--claude-bin", default="claude", show_default=True,
              help="The Claude CLI binary named in argv (with --json).")
@click.pass_context
def requests_cmd(ctx: click.Context, name: str | None, task_ids: tuple[str, ...],
                 arm_names: tuple[str, ...], arms_module: str | None, as_json: bool,
                 claude_bin: str) -> None:
    """Print the system and user text of each call an arm would make for a task.

    Nothing is sent: replies are placeholders that agree on nothing, so judge and
    escalation calls are shown too.

    \b
    sweepq requests --sweep bbh-n99 --task bbh/navigate/3 --arm echo-judge
    sweepq requests --sweep bbh-n99 --json > requests.json   # every task and arm
    """
    from . import preview

    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    if as_json:
        pairs = preview.all_pairs(queue, sweep, task_ids, arm_names)
        click.echo(json.dumps(preview.as_json(queue, sweep, pairs, arms_module, claude_bin),
                              indent=2, ensure_ascii=False))
        return
    if len(task_ids) != 1 or len(arm_names) != 1:
        raise SweepqError("pass one `task` and one `arm` (or --json for many)")
    calls = preview.requests_for(queue, sweep, task_ids[0], arm_names[0], arms_module)
    click.echo(preview.render(calls, sweep.models))


@main.command("estimate")
@sweep_option
@click.option("--output-tokens", type=click.IntRange(0, 128_000),
              default=256, show_default=True,
              help="Output tokens assumed per call (a CoT reply runs to a few hundred).")
@click.option("--count", "method", type=click.Choice(["auto", "api", "chars"]),
              default="auto", show_default=True,
              help="Input tokens by Anthropic's count_tokens endpoint (api; auto: when "
                   "ANTHROPIC_API_KEY is set) or four characters a token (chars).")
@click.option("--cache", type=click.Choice(["5m", "1h"]), default="5m", show_default=True,
              help="The prompt caching lifetime `work --cache` will use.")
@click.option("--arms-module", default=None, help="A module whose ARMS dict adds custom arms.")
@click.option("--json", "as_json", is_flag=True, help="The estimate as JSON.")
@click.pass_context
def estimate_cmd(ctx: click.Context, name: str | None, output_tokens: int, method: str,
                 cache: str, arms_module: str | None, as_json: bool) -> None:
    """Expected cost of the sweep's unfinished jobs, per arm: live or by batch, with
    prompt caching or without. Nothing is sent but token counts (docs/cost.md).

    \b
    sweepq estimate --sweep bbh-cot
    sweepq estimate --count chars --output-tokens 300 --json
    """
    from . import estimate

    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    counted_by, counter = estimate.counter_for(method)
    found = estimate.estimate(queue, sweep, counter, output_tokens, cache, arms_module)
    data = estimate.as_json(found, counted_by, output_tokens, cache)
    click.echo(json.dumps(data, indent=2) if as_json else estimate.render(data))


def _sweep_line(queue: Queue, sweep: Sweep) -> str:
    """Where the sweep stands, for work's closing line; nothing when the database can't say."""
    try:
        data = report.status(queue, sweep)
    except Exception as exc:
        if explain(exc) is None:
            raise
        return ""
    return (f"; sweep {sweep.name} {data['states']['done']}/{data['total']} done, "
            f"{data['states']['error']} error, {data['states']['pending']} pending")


@main.command()
@sweep_option
@click.option("--watch", type=click.FloatRange(0.2), is_flag=False, flag_value=2.0, default=None,
              metavar="[SECONDS]", help="Redraw in place every SECONDS (default 2) until the "
              "sweep is complete or Ctrl-C.")
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable output (keys documented in `sweepq.report`).")
@click.pass_context
def status(ctx: click.Context, name: str | None, watch: float | None, as_json: bool) -> None:
    """Per arm: done/total, pass rate, escalations, cost, unparseable, errors; overall pace,
    ETA, elapsed time and the active pause.

    \b
    sweepq status --sweep bbh-n99
    sweepq status --watch            # redraws every 2 s; --watch 10 for every 10 s
    sweepq status --watch 60 --json >> status.jsonl   # one JSON line per minute
    sweepq status --json | jq '.arms[] | {arm, done, pass_rate}'
    """
    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    if watch is None:
        data = report.status(queue, sweep)
        click.echo(json.dumps(report.json_safe(data), indent=2, allow_nan=False) if as_json
                   else views.render_status(data))
        return
    views.watch_status(queue, sweep, watch, as_json=as_json)


@main.command("sweeps")
@click.option("--json", "as_json", is_flag=True,
              help="A JSON array, one object a sweep (keys in `sweepq.listing`).")
@click.pass_context
def sweeps_cmd(ctx: click.Context, as_json: bool) -> None:
    """List the sweeps of the database: name, jobs done, arms and subtasks.

    \b
    sweepq sweeps
    sweepq sweeps --json | jq -r '.[].sweep'
    """
    from . import listing

    rows = listing.sweeps(_queue(ctx, reads_only=True))
    click.echo(json.dumps(rows, indent=2) if as_json else listing.render(rows))


@main.command("export")
@sweep_option
@click.option("--order", type=click.Choice(["completion", "canonical"]), default="completion",
              show_default=True, help="Completion order, or task-major arm-minor.")
@click.option("--include-errors", is_flag=True,
              help="Also write error jobs, as the old runner did (passed false).")
@scorer_option
@click.argument("path")
@click.pass_context
def export_cmd(ctx: click.Context, name: str | None, order: str, include_errors: bool,
               scorer: str | None, path: str) -> None:
    """Write results in the historical JSONL format (`-` for stdout).

    \b
    sweepq export --sweep bbh-n99 results.jsonl
    sweepq export --order canonical - | head
    """
    from . import api

    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    rows = api.export(queue, sweep.name, path, order=order, include_errors=include_errors,
                      scorer=scorer)
    if path != "-":
        click.echo(f"wrote {rows} rows of sweep {sweep.name} to {path}")


@main.command("import")
@click.option("--sweep", "name", default=None, help="Sweep name (default: the file's stem).")
@click.option("--lenient", is_flag=True,
              help="Import a file sweepq cannot keep exactly (a second row for a task and "
              "arm, another benchmark than _meta's, ...) and list each change.")
@click.argument("path")
@click.pass_context
def import_cmd(ctx: click.Context, name: str | None, lenient: bool, path: str) -> None:
    """Read a historical results file into a sweep (its line order is the completion order).

    Exact or refused: `export` gives the file back byte for byte; a line it could
    not is an error naming the line, and nothing is imported (unless --lenient).

    \b
    sweepq import ../shared/echo-results/20260604T011133Z_bbh_n15.jsonl
    """
    from pathlib import Path

    from .records import check_sweep_name

    check_sweep_name(name or Path(path).stem)   # refused before the database is created
    parsed = jsonl.read_file(path, lenient=lenient)
    imported = jsonl.import_file(_queue(ctx, create=True), parsed, name, lenient=lenient)
    click.echo(f"sweep {imported.sweep}: {imported.new} new results of {imported.rows} rows")
    for change in imported.changes:
        click.echo(f"changed: {change}")


@main.command()
@sweep_option
@click.pass_context
def retry(ctx: click.Context, name: str | None) -> None:
    """Move the sweep's error jobs back to pending, with fresh attempts.

    \b
    sweepq retry --sweep bbh-n99 && sweepq work --sweep bbh-n99
    """
    queue = _queue(ctx)
    sweep = queue.resolve_sweep(name)
    click.echo(f"sweep {sweep.name}: {queue.retry(sweep.name)} error jobs back to pending")


@main.command()
@click.option("--until", "until", default=None, metavar="TIME", help="HH:MM or an ISO time.")
@click.option("--for", "duration", default=None, metavar="DURATION", help="e.g. 30m, 2h.")
@click.option("--reason", default="paused by hand", show_default=True)
@click.pass_context
def pause(ctx: click.Context, until: str | None, duration: str | None, reason: str) -> None:
    """Stop every worker from claiming, until a time or until `sweepq resume`.

    \b
    sweepq pause --for 2h --reason "quota for the paper deadline"
    sweepq pause --until 03:00
    """
    if until and duration:
        raise SweepqError("pass --until or --for, not both")
    queue = _queue(ctx)
    now = queue.clock()
    resume_at = (parse_until(until, now) if until else
                 now + parse_duration(duration, "--for") if duration else None)
    if resume_at is not None and resume_at <= now:
        given = f"--until {until}" if until else f"--for {duration}"
        raise SweepqError(f"{given} ends now or in the past: pass a later time or a "
                          "positive duration")
    active = queue.pause(resume_at, reason, set_by="user")
    until_text = ("until `sweepq resume`" if active.resume_at is None else
                  f"until {format_time(active.resume_at)} "
                  f"({format_duration(active.resume_at - now)})")
    click.echo(f"queue paused {until_text}: {active.reason}")


@main.command()
@click.pass_context
def resume(ctx: click.Context) -> None:
    """Clear the active pause; waiting workers carry on within a second.

    \b
    sweepq resume
    """
    cleared = _queue(ctx).resume()
    click.echo(f"queue resumed ({cleared} pause{'s' if cleared != 1 else ''} cleared)")


@main.command()
@sweep_option
@baseline_option
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable output (keys documented in `sweepq.report`).")
@scorer_option
@click.option("--by", "by", type=click.Choice(["arm", "subtask"]), default="arm",
              show_default=True, help="Per arm, or per arm and subtask.")
@click.pass_context
def summary(ctx: click.Context, name: str | None, baseline: str | None, as_json: bool,
            scorer: str | None, by: str) -> None:
    """Per arm: pass rate with a Wilson 95% interval, escalations, cost units and USD,
    oracle alignment, unparseable, and exact McNemar tests against a baseline arm.

    \b
    sweepq summary --sweep bbh-n99
    sweepq summary --baseline haiku-only --json | jq '.arms[].vs_baseline.p_value'
    """
    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    if by == "subtask":
        from . import by_subtask

        data = by_subtask.summary(queue, sweep, scorer)
        click.echo(json.dumps(data, indent=2) if as_json else by_subtask.render(data))
        return
    data = report.summary(queue, sweep, baseline, scorer)
    click.echo(json.dumps(report.json_safe(data), indent=2, allow_nan=False) if as_json
               else views.render_summary(data))


@main.command()
@click.option("--sweep", "name", default=None,
              help="Sweep to score again (default: the only one).")
@click.option("--scorer", required=True, help="The scorer to read every stored reply with.")
@click.pass_context
def rescore(ctx: click.Context, name: str | None, scorer: str) -> None:
    """Score every stored reply of a sweep again, with no model call.

    The new verdicts are stored as a scoring of the sweep beside its own (kept);
    `summary --scorer NAME` and `export --scorer NAME` show them.

    \b
    sweepq rescore --sweep bbh-n99 --scorer echo
    sweepq summary --sweep bbh-n99 --scorer echo
    """
    from . import rescore as rescore_mod
    from . import scorers

    scorers.get(scorer)
    queue = _queue(ctx)
    report_ = rescore_mod.rescore(queue, queue.resolve_sweep(name), scorer)
    click.echo(rescore_mod.render(report_))


@main.command("report")
@sweep_option
@click.option("-o", "--output", "output", default=None, metavar="FILE",
              help="Where to write the page (default: SWEEP.html; `-` for stdout).")
@baseline_option
@refresh_option(60.0)
@click.pass_context
def report_cmd(ctx: click.Context, name: str | None, output: str | None, baseline: str | None,
               refresh: float) -> None:
    """Write the sweep's page: one self-contained HTML file (no scripts, nothing fetched).

    \b
    sweepq report --sweep bbh-n99 -o bbh-n99.html && xdg-open bbh-n99.html
    """
    from . import page

    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    text = page.render(page.collect(queue, sweep.name, baseline), refresh or None)
    path = output or page.default_filename(sweep.name)
    with atomic_output(path) as out:
        out.write(text)
    if path != "-":
        click.echo(f"wrote the page of sweep {sweep.name} to {path}")


@main.command()
@click.argument("sql")
@click.option("-p", "--param", "params", type=(str, str), multiple=True, metavar="NAME VALUE",
              help="A named parameter, used in SQL as :NAME (repeatable).")
@click.option("--table", "fmt", flag_value="table", default=True, help="Aligned columns "
              "(default).")
@click.option("--json", "fmt", flag_value="json", help="A JSON array of objects.")
@click.option("--nl", "fmt", flag_value="nl", help="One JSON object per line.")
@click.option("--csv", "fmt", flag_value="csv", help="CSV with a header row.")
@click.pass_context
def query(ctx: click.Context, sql: str, params: tuple[tuple[str, str], ...], fmt: str) -> None:
    """Run SQL against the database, read-only, and print the rows.

    The tables and views are described in docs/schema.md (jobs, results, calls,
    pauses, arm_summary, jobs_readable). Nothing a query does can change a sweep.

    \b
    sweepq query "SELECT * FROM arm_summary"
    sweepq query "SELECT task_id, last_error FROM jobs WHERE state = 'error'" --csv
    sweepq query "SELECT detail, count(*) AS n FROM results JOIN jobs USING (job_id)
                  WHERE arm = :arm GROUP BY detail" -p arm echo-judge --json
    """
    from . import query as query_mod

    conn = db.connect_read_only(ctx.find_root().obj["db"])
    ctx.call_on_close(conn.close)
    rows = query_mod.run(conn, sql, dict(params))
    n = query_mod.write(rows, fmt, sys.stdout,  # type: ignore[arg-type]
                        columns=lambda: query_mod.columns(conn, sql, dict(params)))
    if n == 0 and fmt == "table":
        click.echo("(no rows)", err=True)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; anything but loopback shares your results.")
@click.option("--port", type=click.IntRange(0, 65535), default=8787, show_default=True,
              help="Port (0: any free port).")
@click.option("--sweep", "name", default=None,
              help="Sweep to show (default: the only one, or a list of sweeps).")
@baseline_option
@refresh_option(10.0)
@click.pass_context
def serve(ctx: click.Context, host: str, port: int, name: str | None, baseline: str | None,
          refresh: float) -> None:
    """Serve the sweep's page live from the database, read-only, until Ctrl-C.

    Each request renders the page afresh (also /status.json and /summary.json);
    the database is opened read-only, so serving never disturbs workers.

    \b
    sweepq serve --sweep bbh-n99              # then open http://127.0.0.1:8787/
    sweepq serve --port 0                     # any free port; the URL is printed
    """
    from . import serve as serving

    server = serving.make_server(ctx.find_root().obj["db"], host, port, name, baseline,
                              refresh or None)
    bound_host, bound_port = server.server_address[:2]
    click.echo(f"sweepq serve: http://{bound_host}:{bound_port}/ (read-only; Ctrl-C to stop)")
    if not serving.is_loopback(host):
        click.echo(f"sweepq serve: warning: listening on {host}, not loopback: anyone who can "
                   "reach this machine can read the results", err=True)
    sys.stdout.flush()
    serving.serve_forever(server)


@main.command()
@click.option("--repair", is_flag=True,
              help="Fix what is safe to fix (aggregates, orphan leases, done jobs without a "
              "result) and say what was done.")
@click.option("--json", "as_json", is_flag=True,
              help="{ok, repaired, problems: [{kind, message, repairable}]}.")
@click.pass_context
def check(ctx: click.Context, repair: bool, as_json: bool) -> None:
    """Check the database: SQLite's integrity and foreign keys, then the queue's invariants.

    One line per violation, exit 1 when there is any. Without --repair the
    database is opened read-only and never changed.

    \b
    sweepq check
    sweepq check --repair && sweepq work
    """
    from . import check as checking

    obj = ctx.find_root().obj
    repaired: list[str] = []
    if repair:
        queue = _queue(ctx)
        repaired = checking.repair(queue)
    else:
        queue = Queue.open_read_only(obj["db"])
        ctx.call_on_close(queue.close)
    found = checking.check(queue)
    if as_json:
        from dataclasses import asdict

        click.echo(json.dumps({"ok": not found, "repaired": repaired,
                               "problems": [asdict(v) for v in found]}, indent=2))
        ctx.exit(1 if found else 0)
    for line in repaired:
        click.echo(f"repaired: {line}")
    for violation in found:
        click.echo(violation.message)
    if found:
        fixable = sum(v.repairable for v in found)
        hint = f"; {fixable} fixable with `sweepq check --repair`" if fixable and not repair else ""
        click.echo(f"sweepq check: {len(found)} problems{hint}", err=True)
        ctx.exit(1)
    click.echo("sweepq check: ok")
