"""The commands that read, show and move results: status, sweeps, export, import,
summary, rescore, report, query, serve, check."""

from __future__ import annotations

import json
import sys

import click

from ..errors import SweepqError
from .base import (
    _queue,
    baseline_option,
    main,
    refresh_option,
    scorer_option,
    sweep_option,
)


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
    from .. import report

    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    if watch is None and as_json:   # the JSON does without the terminal views' imports
        click.echo(json.dumps(report.json_safe(report.status(queue, sweep)), indent=2,
                              allow_nan=False))
        return
    from .. import views

    if watch is None:
        click.echo(views.render_status(report.status(queue, sweep)))
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
    from .. import listing

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
    from .. import api

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

    from .. import jsonl
    from ..records import check_sweep_name

    check_sweep_name(name or Path(path).stem)   # refused before the database is created
    parsed = jsonl.read_file(path, lenient=lenient)
    imported = jsonl.import_file(_queue(ctx, create=True), parsed, name, lenient=lenient)
    click.echo(f"sweep {imported.sweep}: {imported.new} new results of {imported.rows} rows")
    for change in imported.changes:
        click.echo(f"changed: {change}")


@main.command()
@sweep_option
@baseline_option
@click.option("--json", "as_json", is_flag=True,
              help="Machine-readable output (keys documented in `sweepq.report`).")
@scorer_option
@click.option("--by", "by", default="arm", show_default=True, metavar="arm|subtask",
              help="Per arm, or per arm and subtask (the benchmark's own word works too: "
                   "`--by category` for MMLU-Pro).")
@click.pass_context
def summary(ctx: click.Context, name: str | None, baseline: str | None, as_json: bool,
            scorer: str | None, by: str) -> None:
    """Per arm: pass rate with a Wilson 95% interval, escalations, cost units and USD,
    oracle alignment, unparseable, and exact McNemar tests against a baseline arm.

    \b
    sweepq summary --sweep bbh-n99
    sweepq summary --baseline haiku-only --json | jq '.arms[].vs_baseline.p_value'
    """
    from .. import report, views

    queue = _queue(ctx, reads_only=True)
    sweep = queue.resolve_sweep(name)
    if by != "arm":
        from .. import by_subtask
        from ..benchmarks import group_label_of

        label = group_label_of(sweep.benchmark, sweep.options)
        if not by_subtask.accepts(by, label):
            words = "subtask" if label == "subtask" else f"subtask (or {label})"
            raise SweepqError(f"`by` {by!r} is not a grouping of this {sweep.benchmark} "
                              f"sweep: pass arm or {words}", "by")
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
    from .. import rescore as rescore_mod
    from .. import scorers

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
    from .. import page
    from ..atomicfile import atomic_output

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
    from .. import db
    from .. import query as query_mod

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
    from .. import serve as serving

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
    from .. import check as checking
    from ..queue import Queue

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
