"""The `sweepq` command: parse, call the library, print. No queue logic lives here."""

from __future__ import annotations

import json
import sys
from typing import Any

import click

from . import arms as arms_mod
from . import bbh, jsonl, report
from .db import default_path
from .errors import SweepqError
from .queue import Queue, Sweep
from .timefmt import format_duration, format_time, parse_duration, parse_until


class Group(click.Group):
    """Turns a SweepqError into one line on stderr and a non-zero exit, never a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except SweepqError as exc:
            click.echo(f"sweepq: error: {exc}", err=True)
            ctx.exit(exc.exit_code)


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def _queue(ctx: click.Context, create: bool = False) -> Queue:
    obj = ctx.find_root().obj
    if "queue" not in obj:
        obj["queue"] = Queue.open(obj["db"], synchronous=obj["synchronous"], create=create)
        ctx.call_on_close(obj["queue"].close)
    return obj["queue"]


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db_path", envvar="SWEEPQ_DB", default=default_path, show_default="sweepq.db",
              help="The database file (environment SWEEPQ_DB).")
@click.option("--synchronous", type=click.Choice(["NORMAL", "FULL"], case_sensitive=False),
              default="NORMAL", show_default=True,
              help="SQLite durability: FULL fsyncs every commit (slower).")
@click.version_option(package_name="sweepq")
@click.pass_context
def main(ctx: click.Context, db_path: str, synchronous: str) -> None:
    """A SQLite-backed job queue for LLM evaluation sweeps.

    \b
    sweepq enqueue --sweep bbh-demo --subtasks web_of_lies --n-per-subtask 20 \\
                   --arms haiku-only,echo-judge --dataset ../shared/bbh
    sweepq work --sweep bbh-demo --concurrency 16
    sweepq status
    sweepq export --sweep bbh-demo results.jsonl
    """
    ctx.obj = {"db": db_path, "synchronous": synchronous}


@main.command()
@click.option("--sweep", "name", required=True, help="Name of the sweep (new or existing).")
@click.option("--subtasks", required=True, help="Comma-separated BBH subtasks, in order.")
@click.option("--n-per-subtask", type=int, required=True, help="Tasks per subtask.")
@click.option("--start", type=int, default=0, show_default=True,
              help="Index of the first task of each subtask.")
@click.option("--arms", "arm_names", required=True, help="Comma-separated arms, in order.")
@click.option("--dataset", default=None,
              help="A folder of upstream BBH JSON files; default: the Hugging Face copy.")
@click.option("--model", "model_pairs", multiple=True, metavar="ALIAS=ID",
              help="Map a model alias to an id for this sweep (repeatable).")
@click.option("--max-attempts", type=int, default=3, show_default=True,
              help="Attempts before a job becomes an error.")
@click.option("--arms-module", default=None, help="A module whose ARMS dict adds custom arms.")
@click.pass_context
def enqueue(ctx: click.Context, name: str, subtasks: str, n_per_subtask: int, start: int,
            arm_names: str, dataset: str | None, model_pairs: tuple[str, ...],
            max_attempts: int, arms_module: str | None) -> None:
    """Add every (task_id, arm) of a sweep as a pending job. Idempotent.

    \b
    sweepq enqueue --sweep bbh-n99 --dataset ../shared/bbh \\
        --subtasks logical_deduction_three_objects,causal_judgement,date_understanding \\
        --n-per-subtask 33 --arms haiku-only,sonnet-only,echo-judge,echo-oracle
    """
    from .models import parse_model_map

    arm_list = _split(arm_names)
    arms_mod.validate(arm_list, arms_module)
    subtask_list = _split(subtasks)
    if not subtask_list:
        raise SweepqError("no subtasks given: pass --subtasks a,b")
    if n_per_subtask < 1:
        raise SweepqError(f"--n-per-subtask must be at least 1, not {n_per_subtask}")
    tasks = bbh.load_tasks(subtask_list, n_per_subtask, start, dataset)
    sweep = Sweep(name=name, arms=arm_list, benchmark="bbh", subtasks=subtask_list,
                  n_per_subtask=n_per_subtask, start=start,
                  models=parse_model_map(model_pairs), dataset=dataset)
    queue = _queue(ctx, create=True)
    new = queue.enqueue(sweep, ((t.task_id, t.payload()) for t in tasks), max_attempts)
    total = sum(queue.counts(name).values())
    click.echo(f"sweep {name}: {new} new jobs ({total} in all, {len(tasks)} tasks x "
               f"{len(arm_list)} arms)")


@main.command()
@click.option("--sweep", "name", default=None, help="Sweep to work on (default: the only one).")
@click.option("--concurrency", "-c", type=click.IntRange(1, 512), default=8, show_default=True,
              help="Jobs in flight at once (threads).")
@click.option("--lease-seconds", type=click.FloatRange(1), default=120.0, show_default=True,
              help="A job whose worker stops heartbeating is claimable after this.")
@click.option("--max-attempts", type=click.IntRange(1), default=None,
              help="Change the attempts allowed for the sweep's unfinished jobs.")
@click.option("--max-wait", default=None, metavar="DURATION",
              help="Exit 75 instead of waiting out a pause longer than this (e.g. 30m).")
@click.option("--backend", type=click.Choice(["api", "claude-cli"]), default="api",
              show_default=True, help="The Anthropic API (SDK) or the Claude CLI.")
@click.option("--claude-bin", default="claude", show_default=True,
              help="The Claude CLI executable, for --backend claude-cli.")
@click.option("--call-timeout", type=click.FloatRange(1), default=120.0, show_default=True,
              help="Seconds before one model call times out.")
@click.option("--arms-module", default=None, help="A module whose ARMS dict adds custom arms.")
@click.option("--quiet", "-q", is_flag=True, help="No progress bar.")
@click.pass_context
def work(ctx: click.Context, name: str | None, concurrency: int, lease_seconds: float,
         max_attempts: int | None, max_wait: str | None, backend: str, claude_bin: str,
         call_timeout: float, arms_module: str | None, quiet: bool) -> None:
    """Run workers until the sweep has nothing pending or running.

    Any number of `sweepq work` processes may share one database. Exit codes:
    0 finished (or stopped by a signal), 2 fatal (bad key, unknown model),
    75 paused with no resume time or longer than --max-wait.

    \b
    export ANTHROPIC_API_KEY=sk-ant-...
    sweepq work --sweep bbh-n99 --concurrency 16
    sweepq work --backend claude-cli --max-wait 30m     # for cron / systemd
    """
    from .models import AnthropicBackend, ClaudeCliBackend
    from .progress import Progress
    from .worker import Worker, WorkerConfig

    wait = None if max_wait is None else parse_duration(max_wait)
    queue = _queue(ctx)
    sweep = queue.resolve_sweep(name)
    known = arms_mod.validate(sweep.arms, arms_module)
    model_backend = (ClaudeCliBackend(claude_bin, call_timeout) if backend == "claude-cli"
                     else AnthropicBackend(call_timeout, max_connections=concurrency * 2))
    if max_attempts is not None:
        queue.set_max_attempts(sweep.name, max_attempts)
    worker = Worker(queue, sweep, known, model_backend,
                    WorkerConfig(concurrency=concurrency, lease_seconds=lease_seconds,
                                 max_wait=wait))
    worker.install_signal_handlers()
    progress = Progress(queue, sweep, enabled=not quiet and sys.stderr.isatty())
    with progress:
        outcome = worker.run(on_tick=progress.update)
    data = report.status(queue, sweep)
    click.echo(f"sweepq work: {outcome.tally.done} jobs done here ({outcome.tally.passed} "
               f"passed); sweep {sweep.name} {data['states']['done']}/{data['total']} done, "
               f"{data['states']['error']} error, {data['states']['pending']} pending"
               + (f"; {outcome.message}" if outcome.message else ""))
    if outcome.exit_code:
        click.echo(f"sweepq: {outcome.message}", err=True)
    ctx.exit(outcome.exit_code)


@main.command()
@click.option("--sweep", "name", default=None, help="Sweep (default: the only one).")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@click.pass_context
def status(ctx: click.Context, name: str | None, as_json: bool) -> None:
    """Counts per state and per arm, pass rate so far, and the active pause.

    \b
    sweepq status --sweep bbh-n99
    sweepq status --json | jq .states
    """
    queue = _queue(ctx)
    data = report.status(queue, queue.resolve_sweep(name))
    click.echo(json.dumps(data, indent=2) if as_json else report.render_status(data))


@main.command("export")
@click.option("--sweep", "name", default=None, help="Sweep (default: the only one).")
@click.option("--order", type=click.Choice(["completion", "canonical"]), default="completion",
              show_default=True, help="Completion order, or task-major arm-minor.")
@click.option("--include-errors", is_flag=True,
              help="Also write error jobs, as the old runner did (passed false).")
@click.argument("path")
@click.pass_context
def export_cmd(ctx: click.Context, name: str | None, order: str, include_errors: bool,
               path: str) -> None:
    """Write results in the historical JSONL format (`-` for stdout).

    \b
    sweepq export --sweep bbh-n99 results.jsonl
    sweepq export --order canonical - | head
    """
    queue = _queue(ctx)
    sweep = queue.resolve_sweep(name)
    with jsonl.open_output(path) as out:
        rows = jsonl.export(queue, sweep, out, order=order, include_errors=include_errors)
    if path != "-":
        click.echo(f"wrote {rows} rows of sweep {sweep.name} to {path}")


@main.command("import")
@click.option("--sweep", "name", default=None, help="Sweep name (default: the file's stem).")
@click.argument("path", type=click.Path(dir_okay=False))
@click.pass_context
def import_cmd(ctx: click.Context, name: str | None, path: str) -> None:
    """Read a historical results file into a sweep (its line order is the completion order).

    \b
    sweepq import ../shared/echo-results/20260604T011133Z_bbh_n15.jsonl
    """
    imported = jsonl.import_file(_queue(ctx, create=True), path, name)
    click.echo(f"sweep {imported.sweep}: {imported.new} new results of {imported.rows} rows")


@main.command()
@click.option("--sweep", "name", default=None, help="Sweep (default: the only one).")
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
                 now + parse_duration(duration) if duration else None)
    if resume_at is not None and resume_at <= now:
        raise SweepqError(f"--until {until} is in the past")
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


def _register_fake_api() -> None:
    from .fakeapi import fake_api_command

    main.add_command(fake_api_command, "fake-api")


_register_fake_api()
