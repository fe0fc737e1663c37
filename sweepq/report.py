"""Seeing a sweep: the live status view and the summary researchers publish.

`status()` is what `sweepq status` (and the HTML page's header) shows. It
must stay fast on a million-job queue, so it reads only indexed counts and the
small `result_buckets` table that triggers keep in step with `results`
(migration 0002), plus the results of the last ten minutes for the pace.
`summary()` reads every result of the sweep once: the paired comparisons need
the rows, not totals. The definitions themselves live in `stats.py`.

Both return plain data whose keys are stable; `--json` prints them as they are.

status keys
    sweep, benchmark, now, phase (running | idle | paused | complete),
    states {pending, running, done, error}, total, passed, pass_rate,
    ci_low, ci_high, escalated, cost_units, cost_usd, cost_usd_rows,
    unparseable, stale_leases, started_at, finished_at, elapsed_seconds,
    pace_per_minute, pace_window_seconds, eta_seconds, eta_at,
    arms [{arm, total, pending, running, done, error, passed, pass_rate,
           ci_low, ci_high, escalated, escalation_rate, cost_units,
           cost_usd, cost_usd_rows, unparseable}],
    check null | one line: what a quick check found wrong (done jobs without a
        result, aggregates that disagree with a recount); counts still come
        from the jobs,
    pause null | {reason, message, resume_at, seconds_left, set_by},
    governor [{model, mode (probe | headers | aimd), limits {requests |
        input_tokens | output_tokens: {per_minute, level}}, pace_per_minute,
        window, in_flight, admitted, refusals}]: the rate-limit governor, per model

summary keys
    sweep, benchmark, baseline, oracle, results,
    arms [{arm, n, passed, pass_rate, ci_low, ci_high, escalated,
           escalation_rate, cost_units, cost_units_per_task, cost_usd,
           cost_usd_rows, unparseable,
           not_answered {refusal, empty reply, cut off at max_tokens},
           oracle_alignment null | {agree, n, rate},
           vs_baseline null | {baseline, n, arm_pass_rate, baseline_pass_rate,
                               baseline_right_arm_wrong,
                               arm_right_baseline_wrong, p_value}}]

Rates are fractions (0..1), times unix seconds, null where there is nothing
to divide by. `escalated` is null for arms that never escalate (not echo-*).
"""

from __future__ import annotations

import time
from datetime import datetime
from typing import Any

from . import bounds, governor, governor_view, stats
from .errors import SweepqError
from .queue import Queue, Sweep
from .timefmt import format_duration

PACE_WINDOW_SECONDS = 600.0
STATES = ("pending", "running", "done", "error")
BAR_WIDTH = 20

_BUCKETS = ("SELECT arm, passed, sub_calls, unparseable, n, cost_usd, cost_usd_rows,"
            " first_started_at, last_completed_at FROM result_buckets WHERE sweep = ?")
# The same shape computed from the rows, for databases whose buckets cannot be trusted.
_BUCKETS_BY_JOIN = (
    "SELECT j.arm, r.passed, r.sub_calls, r.detail = 'unparseable' AS unparseable,"
    " count(*) AS n, coalesce(sum(r.cost_usd), 0) AS cost_usd,"
    " count(r.cost_usd) AS cost_usd_rows,"
    " min(r.completed_at - coalesce(r.wall_seconds, 0)) AS first_started_at,"
    " max(r.completed_at) AS last_completed_at"
    " FROM results AS r JOIN jobs AS j USING (job_id) WHERE j.sweep = ? AND j.state = 'done'"
    " GROUP BY 1, 2, 3, 4")


# -- status -------------------------------------------------------------------------

def status(queue: Queue, sweep: Sweep) -> dict[str, Any]:
    """Where the sweep stands now, as plain data (the `status --json` output)."""
    now = queue.clock()
    with queue.snapshot():
        states = queue.read(
            "SELECT arm, state, count(*) AS n FROM jobs INDEXED BY jobs_sweep_state"
            " WHERE sweep = ? GROUP BY state, arm", (sweep.name,))
        buckets, problem = _buckets(queue, sweep.name, states)
        recent = _recent_count(queue, sweep.name, now - PACE_WINDOW_SECONDS)
        claims = queue.read(
            "SELECT min(started_at) AS first, max(finished_at) AS last,"
            " coalesce(sum(state = 'running' AND lease_expires_at <= :now), 0) AS stale"
            " FROM jobs INDEXED BY jobs_sweep_state"
            " WHERE sweep = :sweep AND state IN ('running', 'error')",
            {"sweep": sweep.name, "now": now})[0]
        pause = queue.active_pause()
        paced = governor.snapshot(queue)

    per_arm: dict[str, dict[str, Any]] = {arm: _arm_entry(arm) for arm in sweep.arms}
    for row in states:
        entry = per_arm.setdefault(row["arm"], _arm_entry(row["arm"]))
        entry[row["state"]] = row["n"]
        entry["total"] += row["n"]
    totals = {arm: stats.ArmTotals(arm) for arm in per_arm}
    firsts, lasts = [claims["first"]], [claims["last"]]
    for b in buckets:
        per_arm.setdefault(b["arm"], _arm_entry(b["arm"]))
        totals.setdefault(b["arm"], stats.ArmTotals(b["arm"])).add(
            bool(b["passed"]), b["sub_calls"], bool(b["unparseable"]), b["n"],
            b["cost_usd"], b["cost_usd_rows"])
        firsts.append(b["first_started_at"])
        lasts.append(b["last_completed_at"])
    for arm, entry in per_arm.items():
        _fill(entry, totals[arm], arm)

    overall = stats.ArmTotals("")
    for t in totals.values():
        overall.n += t.n
        overall.passed += t.passed
        overall.escalated += t.escalated
        overall.cost_units += t.cost_units
        overall.unparseable += t.unparseable
        overall.cost_usd += t.cost_usd
        overall.cost_usd_rows += t.cost_usd_rows
    counts = {state: sum(a[state] for a in per_arm.values()) for state in STATES}
    total = sum(counts.values())
    left = counts["pending"] + counts["running"]
    started_at = min((t for t in firsts if t is not None), default=None)
    finished_at = (max((t for t in lasts if t is not None), default=None)
                   if left == 0 and total else None)
    elapsed = None if started_at is None else max((finished_at or now) - started_at, 0.0)
    window = None if started_at is None else min(PACE_WINDOW_SECONDS, max(now - started_at, 1.0))
    pace = None if window is None else round(recent * 60 / window, 2)
    eta = _eta(left, pace, pause, now)
    interval = stats.wilson_interval(overall.passed, overall.n)

    if total and left == 0:
        phase = "complete"
    elif pause is not None:
        phase = "paused"
    elif counts["running"] > claims["stale"]:
        phase = "running"
    else:
        phase = "idle"
    return {
        "sweep": sweep.name,
        "benchmark": sweep.benchmark,
        "now": now,
        "phase": phase,
        "states": counts,
        "total": total,
        "passed": overall.passed,
        "pass_rate": _round(overall.passed, overall.n, 4),
        "ci_low": None if interval is None else round(interval[0], 6),
        "ci_high": None if interval is None else round(interval[1], 6),
        "escalated": overall.escalated,
        "cost_units": overall.cost_units,
        "cost_usd": round(overall.cost_usd, 6) if overall.cost_usd_rows else None,
        "cost_usd_rows": overall.cost_usd_rows,
        "unparseable": overall.unparseable,
        "stale_leases": claims["stale"],
        "started_at": started_at,
        "finished_at": finished_at,
        "elapsed_seconds": None if elapsed is None else round(elapsed, 1),
        "pace_per_minute": pace,
        "pace_window_seconds": None if window is None else round(window, 1),
        "eta_seconds": None if eta is None else round(eta, 1),
        "eta_at": None if eta is None else round(now + eta, 1),
        "arms": list(per_arm.values()),
        "check": problem,
        "pause": None if pause is None else {
            "reason": pause.reason, "message": pause.message, "resume_at": pause.resume_at,
            "seconds_left": None if pause.resume_at is None else round(pause.resume_at - now, 1),
            "set_by": pause.set_by},
        "governor": paced,
    }


def _arm_entry(arm: str) -> dict[str, Any]:
    return {"arm": arm, "total": 0, "pending": 0, "running": 0, "done": 0, "error": 0,
            "passed": 0, "pass_rate": None}


def _fill(entry: dict[str, Any], t: stats.ArmTotals, arm: str) -> None:
    interval = stats.wilson_interval(t.passed, t.n)
    escalates = stats.can_escalate(arm)
    entry.update({
        "passed": t.passed,
        "pass_rate": _round(t.passed, t.n, 4),
        "ci_low": None if interval is None else round(interval[0], 6),
        "ci_high": None if interval is None else round(interval[1], 6),
        "escalated": t.escalated if escalates else None,
        "escalation_rate": _round(t.escalated, t.n, 4) if escalates else None,
        "cost_units": t.cost_units,
        "cost_usd": round(t.cost_usd, 6) if t.cost_usd_rows else None,
        "cost_usd_rows": t.cost_usd_rows,
        "unparseable": t.unparseable,
    })


def _buckets(queue: Queue, sweep: str,
             states: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], str | None]:
    """The sweep's result buckets, checked against its done jobs; and what looked wrong.

    Counts come from the jobs (`states`); the buckets only add what the
    results say. They are trusted when, over the whole database, they count as
    many results as the results table holds (a b-tree count: milliseconds for
    a million rows) and, per arm, as many as the arm has done jobs. Otherwise
    they are recomputed from the results of done jobs, and a done job without
    a result is reported (the quick check `status` shows), never hidden.
    """
    done = {row["arm"]: row["n"] for row in states if row["state"] == "done"}
    kept = _has_table(queue, "result_buckets")
    if kept and queue.read("SELECT (SELECT coalesce(sum(n), 0) FROM result_buckets)"
                           " = (SELECT count(*) FROM results) AS ok")[0]["ok"]:
        rows = queue.read(_BUCKETS, (sweep,))
        if _per_arm(rows) == done:
            return rows, None
    rows = queue.read(_BUCKETS_BY_JOIN, (sweep,))
    missing = sum(done.values()) - sum(_per_arm(rows).values())
    if missing:
        return rows, (f"{missing:,} done job{'s' if missing != 1 else ''} without a result: "
                      "run `sweepq check`")
    return rows, ("the result_buckets aggregate disagrees with a recount: run "
                  "`sweepq check --repair`" if kept else None)


def _per_arm(rows: list[dict[str, Any]]) -> dict[str, int]:
    counted: dict[str, int] = {}
    for row in rows:
        counted[row["arm"]] = counted.get(row["arm"], 0) + row["n"]
    return counted


def _recent_count(queue: Queue, sweep: str, since: float) -> int:
    """Results of the sweep completed after `since` (reads only those, by index)."""
    index = "INDEXED BY results_completed_at" if _has_index(queue, "results_completed_at") else ""
    return queue.read(f"SELECT count(*) AS n FROM results AS r {index}"
                      " JOIN jobs AS j ON j.job_id = r.job_id"
                      " WHERE r.completed_at > ? AND j.sweep = ?", (since, sweep))[0]["n"]


def _eta(left: int, pace: float | None, pause: Any, now: float) -> float | None:
    if left == 0:
        return 0.0
    if not pace:
        return None
    eta = left / pace * 60
    if pause is not None:
        if pause.resume_at is None:
            return None
        eta += max(pause.resume_at - now, 0.0)
    return eta


def _has_table(queue: Queue, name: str) -> bool:
    return bool(queue.read("SELECT 1 AS x FROM sqlite_master WHERE type = 'table' AND name = ?",
                           (name,)))


def _has_index(queue: Queue, name: str) -> bool:
    return bool(queue.read("SELECT 1 AS x FROM sqlite_master WHERE type = 'index' AND name = ?",
                           (name,)))


def _round(part: float, whole: float, digits: int) -> float | None:
    return round(part / whole, digits) if whole else None


# -- summary ------------------------------------------------------------------------

def summary(queue: Queue, sweep: Sweep, baseline: str | None = None) -> dict[str, Any]:
    """Per-arm statistics and paired comparisons (the `summary --json` output)."""
    with queue.snapshot():
        rows = queue.conn.execute(
            "SELECT j.task_id, j.arm, r.passed = 1, r.detail, r.sub_calls, r.cost_usd"
            " FROM results AS r JOIN jobs AS j USING (job_id)"
            " WHERE j.sweep = ? AND j.state = 'done'"
            " ORDER BY r.completion_seq", (sweep.name,)).fetchall()
    try:
        body = stats.summarize(rows, sweep.arms, baseline)
    except ValueError as exc:
        raise SweepqError(f"--baseline: {exc}") from None
    return {"sweep": sweep.name, "benchmark": sweep.benchmark, "results": len(rows), **body}


# -- what the page lists: latest results and errors -------------------------------------

def latest_results(queue: Queue, sweep: Sweep, limit: int = 8) -> list[dict[str, Any]]:
    """The sweep's most recent results, newest first, output included.

    CROSS JOIN keeps results the outer loop: read backwards from the newest
    until `limit` rows of this sweep are found, never sorting the sweep.
    """
    return queue.read(
        "SELECT j.task_id, j.arm, r.passed, r.detail, r.sub_calls, r.output, r.completed_at"
        " FROM results AS r CROSS JOIN jobs AS j ON j.job_id = r.job_id WHERE j.sweep = ?"
        " ORDER BY r.completion_seq DESC LIMIT ?", (sweep.name, limit))


def latest_errors(queue: Queue, sweep: Sweep, limit: int = 8) -> list[dict[str, Any]]:
    """Jobs in `error`, most recent first, with their last message."""
    return queue.read(
        "SELECT task_id, arm, attempts, last_error, finished_at"
        " FROM jobs INDEXED BY jobs_sweep_state WHERE sweep = ? AND state = 'error'"
        " ORDER BY finished_at DESC LIMIT ?", (sweep.name, limit))


# -- text renderings --------------------------------------------------------------------

def _pct(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{100 * value:.{digits}f}%"


def _usd(value: float | None) -> str:
    return "-" if value is None else f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """A text progress bar: `██████░░░░`."""
    filled = round(width * done / total) if total else 0
    if done and not filled:
        filled = 1
    if total and done < total and filled == width:
        filled = width - 1
    return "█" * filled + "░" * (width - filled)


def headline(data: dict[str, Any], now: float | None = None) -> list[str]:
    """The overall lines of the status view: progress, timing, the pause."""
    now = data["now"] if now is None else now
    states, total = data["states"], data["total"]
    share = f" ({_pct(states['done'] / total)})" if total else ""
    lines = [f"sweep {data['sweep']} · {phase_text(data)} · {states['done']:,}/{total:,} done"
             f"{share} · pass {_pct(data['pass_rate'])} · {states['error']:,} error"]
    timing = [f"elapsed {format_duration(data['elapsed_seconds'])}"
              if data["elapsed_seconds"] is not None else "not started"]
    if data["phase"] != "complete":
        if data["pace_per_minute"] is not None:
            timing.append(f"pace {data['pace_per_minute']:,.1f}/min (last 10 min)")
        timing.append(f"ETA {format_duration(data['eta_seconds'])} "
                      f"(~{clock_text(data['eta_at'], now)})"
                      if data["eta_seconds"] is not None else "ETA -")
    timing.append(f"cost {data['cost_units']:,} units"
                  + (f", {_usd(data['cost_usd'])}" if data["cost_usd"] is not None else ""))
    if data["stale_leases"]:
        timing.append(f"{data['stale_leases']} expired leases")
    lines.append("  " + " · ".join(timing))
    pause = data["pause"]
    if pause is not None:
        until = ("until `sweepq resume`" if pause["resume_at"] is None else
                 f"until {clock_text(pause['resume_at'], now)} "
                 f"({format_duration(pause['resume_at'] - now)} left)")
        message = f": {pause['message']}" if pause["message"] else ""
        lines.append(f"  paused ({pause['reason']}) {until}{message}")
    if data.get("check"):
        lines.append(f"  check: {data['check']}")
    return lines


def phase_text(data: dict[str, Any]) -> str:
    """running / idle (no worker) / paused until … / complete."""
    phase = data["phase"]
    if phase == "paused":
        resume_at = data["pause"]["resume_at"]
        return ("paused until `sweepq resume`" if resume_at is None
                else f"paused until {clock_text(resume_at, data['now'])}")
    if phase == "idle":
        return "idle (no worker holds a job)"
    if phase == "complete" and data["states"]["error"]:
        return f"complete with {data['states']['error']:,} errors"
    return phase


def render_status(data: dict[str, Any], now: float | None = None,
                  width: int | None = None) -> str:
    """The status view as aligned plain text, for terminals and logs.

    Columns are as wide as their contents; with a terminal `width` the bars
    shrink so a row fits on one line. The USD column shows only when some
    result has a cost.
    """
    lines = headline(data, now)
    with_usd = any(a["cost_usd"] is not None for a in data["arms"])
    titles = ["pass", "escal.", "units"] + (["USD"] if with_usd else []) + ["unparse", "error"]
    rows = []
    for a in data["arms"]:
        cells = [_pct(a["pass_rate"]), _pct(a["escalation_rate"], 0), f"{a['cost_units']:,}"]
        cells += [_usd(a["cost_usd"])] if with_usd else []
        rows.append((a, f"{a['done']:,}/{a['total']:,}",
                     cells + [f"{a['unparseable']:,}", f"{a['error']:,}"]))
    name_w = max([len(a["arm"]) for a in data["arms"]] + [3])
    done_w = max([len(d) for _, d, _ in rows] + [len("done/total")])
    widths = [max([len(t)] + [len(cells[i]) for *_, cells in rows]) for i, t in enumerate(titles)]
    fixed = 2 + name_w + 2 + done_w + 2 + sum(w + 2 for w in widths)
    bar_w = BAR_WIDTH if width is None else max(6, min(BAR_WIDTH, width - fixed - 1))
    head = (f"  {'arm':<{name_w}}  {'done/total':>{done_w}}  {'':{bar_w}}"
            + "".join(f"  {t:>{w}}" for t, w in zip(titles, widths, strict=True)))
    lines += ["", head.rstrip()]
    for a, done_total, cells in rows:
        lines.append(f"  {a['arm']:<{name_w}}  {done_total:>{done_w}}  "
                     f"{bar(a['done'], a['total'], bar_w)}"
                     + "".join(f"  {c:>{w}}" for c, w in zip(cells, widths, strict=True)))
    lines += governor_view.status_lines(data.get("governor") or [])
    return "\n".join(lines)


def clock_text(at: float, now: float | None = None) -> str:
    """`19:58:18` on the day of `now`; `Nov 26 03:00` on another day (local time).

    A time no calendar holds (a pause edited by hand to 1e300) prints as such,
    rather than failing the whole status view.
    """
    try:
        when = datetime.fromtimestamp(at).astimezone()
    except (OverflowError, ValueError, OSError):
        return "an impossible time (see `sweepq check`)"
    if now is not None and when.date() != datetime.fromtimestamp(now).astimezone().date():
        return when.strftime("%b %d %H:%M")
    return when.strftime("%H:%M:%S")


def render_summary(data: dict[str, Any]) -> str:
    """The summary as an aligned plain-text table with a legend."""
    base = data["baseline"]
    lines = [f"sweep {data['sweep']}: {data['results']:,} results"
             + (f", paired against {base}" if base else "")]
    width = max([len(a["arm"]) for a in data["arms"]] + [3])
    head = (f"  {'arm':<{width}}  {'n':>5}  {'pass':>6}  {'95% CI':>13}  {'escal.':>6}  "
            f"{'units':>6}  {'u/task':>6}  {'USD':>9}  {'unparse':>7}")
    if data["oracle"]:
        head += f"  {'oracle':>6}"
    if base:
        head += f"  {'b':>4}  {'c':>4}  {'p':>7}"
    lines.append(head)
    for a in data["arms"]:
        ci = (f"{100 * a['ci_low']:.1f}-{100 * a['ci_high']:.1f}%"
              if a["ci_low"] is not None else "-")
        per_task = "-" if a["cost_units_per_task"] is None else f"{a['cost_units_per_task']:.2f}"
        line = (f"  {a['arm']:<{width}}  {a['n']:>5,}  {_pct(a['pass_rate']):>6}  {ci:>13}  "
                f"{_pct(a['escalation_rate'], 0):>6}  {a['cost_units']:>6,}  {per_task:>6}  "
                f"{_usd(a['cost_usd']):>9}  {a['unparseable']:>7,}")
        if data["oracle"]:
            align = a["oracle_alignment"]
            line += f"  {_pct(align['rate'], 0) if align else '':>6}"
        if base:
            vs = a["vs_baseline"]
            line += (f"  {vs['baseline_right_arm_wrong']:>4}  {vs['arm_right_baseline_wrong']:>4}"
                     f"  {format_p(vs['p_value']):>7}" if vs else f"  {'(baseline)':>17}")
        lines.append(line.rstrip())
    lines.append("")
    unanswered = [f"{a['arm']}: " + ", ".join(f"{n} {kind}" for kind, n in
                                              a["not_answered"].items() if n)
                  for a in data["arms"] if any(a["not_answered"].values())]
    if unanswered:
        lines.append("  no answer (not passes): " + "; ".join(unanswered))
    lines.append("  pass: Wilson 95% interval. escal.: echo-judge* > 3 calls, other echo-* > 2. "
                 "units: haiku call 1, sonnet 3.")
    if data["oracle"]:
        lines.append("  oracle: share of tasks where the arm escalates exactly when echo-oracle "
                     "does.")
    if base:
        lines.append(f"  b: {base} right, arm wrong; c: arm right, {base} wrong; "
                     "p: exact McNemar (two-sided), on the tasks both completed.")
    return "\n".join(lines)


def format_p(p: float) -> str:
    """A p-value as researchers print it: 0.031, 0.0004, <1e-6."""
    if p >= 0.001:
        return f"{p:.3f}"
    if p >= 1e-6:
        return f"{p:.1e}"
    return "<1e-6"


# -- watching ---------------------------------------------------------------------------

def watch_status(queue: Queue, sweep: Sweep, seconds: float, as_json: bool = False) -> None:
    """Redraw the status every `seconds` until the sweep is complete or Ctrl-C.

    On a terminal the view is redrawn in place (rich Live); piped, each frame
    is printed after the last (with --json: one JSON object per line).
    """
    import json
    import sys

    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    bounds.duration("--watch", seconds, 0.2, 86400.0)
    console = Console()
    try:
        if as_json or not console.is_terminal:
            while True:
                data = status(queue, sweep)
                print(json.dumps(data) if as_json else render_status(data) + "\n", flush=True)
                if data["phase"] == "complete":
                    return
                time.sleep(seconds)
        def frame() -> Text:
            return Text(render_status(data, width=console.width), no_wrap=True,
                        overflow="ellipsis")

        data = status(queue, sweep)
        with Live(frame(), console=console, auto_refresh=False, transient=False) as live:
            while data["phase"] != "complete":
                time.sleep(seconds)
                data = status(queue, sweep)
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        sys.stdout.flush()


# -- read-only access for the page server -------------------------------------------

def open_read_only(path: str) -> Queue:
    """A queue on `path` that cannot write (for `sweepq serve` and the commands that read)."""
    from .db import connect_read_only

    return Queue(connect_read_only(path))
