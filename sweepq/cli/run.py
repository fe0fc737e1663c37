"""The commands that run and steer a sweep: enqueue, work, batches, models, retry,
pause, resume. Each parses, calls the library, prints."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..errors import SweepqError
from .base import (
    _queue,
    _split,
    _sweep_line,
    main,
    sweep_option,
)

if TYPE_CHECKING:
    from ..queue import Queue, Sweep

# The library modules a command needs are imported inside it, not here: `sweepq status`
# and `--help` should not pay for the arms, the time parsers or the queue (see
# BENCHMARKS.md, start-up).


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
    from .. import api, fmt

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
    from .. import api, fmt
    from ..progress import Progress
    from ..runconfig import this_process
    from ..timefmt import parse_duration

    wait = None if max_wait is None else parse_duration(max_wait, "--max-wait")
    queue = _queue(ctx)
    sweep = queue.resolve_sweep(name)
    progress = Progress(queue, sweep, enabled=not quiet and sys.stderr.isatty(),
                        own=this_process())
    on_tick: Callable[[], None] | None = progress.update
    if backend == "batch":
        on_tick = progress.update if progress.enabled else None
    elif not sys.stderr.isatty():  # nobody watching: pauses are logged, one line each
        from ..pauselog import PauseLog

        pause_log = PauseLog(queue, lambda line: click.echo(line, err=True),
                             interval=_log_interval())

        def on_tick() -> None:
            progress.update()
            pause_log.tick()
    with progress:
        outcome = api.work(queue, sweep.name, concurrency=concurrency,
                           lease_seconds=lease_seconds, max_wait=wait, backend=backend,
                           claude_bin=claude_bin, call_timeout=call_timeout,
                           arms_module=arms_module, governor=governor, cache=cache,
                           max_attempts=max_attempts, on_tick=on_tick, signals=True)
    how = f" in {fmt.count(outcome.rounds, 'batch round')}" if backend == "batch" else ""
    _finish(ctx, queue, sweep, outcome, how)


def _exit_now(code: int) -> None:
    """End the process at once, output flushed, without finalising the interpreter: threads
    a signal abandoned in a model call must not run while modules and the SQLite
    connection are torn down under them (a SIGSEGV on exit). Their jobs were released,
    every commit is durable, and the OS closes the file."""
    import os

    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _finish(ctx: click.Context, queue: Queue, sweep: Sweep, outcome: Any, how: str) -> None:
    """`work`'s closing line (and the reason on stderr when it did not finish), then exit
    with the outcome's code (`api.finished`: exit 3 when jobs ended in error)."""
    from .. import fmt
    from ..runconfig import EXIT_INCOMPLETE

    code, message = outcome.exit_code, outcome.message
    said = f"; {message}" if message and code != EXIT_INCOMPLETE else ""
    click.echo(f"sweepq work: {fmt.count(outcome.tally.done, 'job')} done here "
               f"({outcome.tally.passed} passed){how}{_sweep_line(queue, sweep)}{said}")
    if code:
        click.echo(f"sweepq: {message}", err=True)
    if outcome.stranded:
        _exit_now(code)
    ctx.exit(code)


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

    from .. import batch_api, batch_view

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
    if not batch_id:
        raise SweepqError("which batch? `sweepq batches cancel BATCH_ID` (ids: `sweepq batches`)")
    from ..backends import AnthropicBackend

    batch = batch_api.cancel(_queue(ctx), batch_id, AnthropicBackend().client)
    click.echo(f"{batch.id}: {batch.processing_status}")


def _log_interval() -> float:
    """Seconds between "still paused" lines; SWEEPQ_PAUSE_LOG_SECONDS overrides (tests)."""
    import os

    from ..pauselog import WAITING_LOG_INTERVAL
    from ..timefmt import parse_duration

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
        from .. import arm_registry
        from ..models import parse_model_pairs
        from ..vendors.target import require_sdk

        changes = parse_model_pairs(pairs)
        if not force:
            _refuse_unused_aliases(sweep, changes)
        for alias, model_id in changes.items():
            require_sdk(model_id, f"alias {alias}")
        models = queue.set_models(
            sweep.name, changes, force=force,
            arms_calling=lambda alias: arm_registry.calling(sweep.arms, alias))
    if as_json:
        click.echo(json.dumps(models, indent=2))
        return
    for alias, model_id in models.items():
        click.echo(f"{alias}={model_id}")


def _refuse_unused_aliases(sweep: Sweep, changes: dict[str, str]) -> None:
    """An alias no arm calls is a typo more often than a plan (the fix after a 404 would
    then add `sonet` and leave `sonnet` broken)."""
    from ..arm_registry import aliases_called

    called = aliases_called(sweep.arms)
    if called is None:
        return  # a custom arm: what it calls is not known here
    unused = sorted(set(changes) - called - set(sweep.models))
    if unused:
        raise SweepqError(f"no arm of sweep {sweep.name} calls {', '.join(unused)} (its arms "
                          f"call {', '.join(sorted(called))}): fix the alias, or pass "
                          "--force to add it anyway")


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
    from ..timefmt import format_duration, format_time, parse_duration, parse_until

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

