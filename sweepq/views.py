"""The terminal views of a sweep: `status` and `summary` as aligned text, and `status --watch`.

They render the plain data `report.status()` and `report.summary()` return
(the same data `--json` prints and the page shows), so what a view shows is
decided in `report`, how it reads here.
"""

from __future__ import annotations

import time
from typing import Any

from . import batch_view, bounds, cache_view, governor_view, report, waits
from .fmt import BAR_WIDTH, PRICE_UNKNOWN, bar, cost, format_p, pct
from .queue import Queue, Sweep
from .timefmt import clock_text, format_duration


def headline(data: dict[str, Any], now: float | None = None) -> list[str]:
    """The overall lines of the status view: progress, timing, the pause."""
    now = data["now"] if now is None else now
    states, total = data["states"], data["total"]
    share = f" ({pct(states['done'] / total)})" if total else ""
    lines = [f"sweep {data['sweep']} · {phase_text(data)} · {states['done']:,}/{total:,} done"
             f"{share} · pass {pct(data['pass_rate'])} · {states['error']:,} error"]
    timing = [f"elapsed {format_duration(data['elapsed_seconds'])}"
              if data["elapsed_seconds"] is not None else "not started"]
    if data["phase"] != "complete":
        if data["pace_per_minute"] is not None:
            timing.append(f"pace {data['pace_per_minute']:,.1f}/min (last 10 min)")
        timing.append(f"ETA {format_duration(data['eta_seconds'])} "
                      f"(~{clock_text(data['eta_at'], now)})"
                      if data["eta_seconds"] is not None else "ETA -")
    floor = data["cost_usd_rows"] < states["done"]   # some results have no price
    timing.append(f"cost {data['cost_units']:,} units"
                  + (f", {cost(data['cost_usd'], floor)}" if data["cost_usd"] is not None
                     else ""))
    if data["stale_leases"]:
        timing.append(f"{data['stale_leases']} stale leases")
    lines.append("  " + " · ".join(timing))
    if data.get("invalid_state"):
        lines.append(f"  {data['invalid_state']:,} jobs with a state none of pending, running,"
                     " done, error: never run; see `sweepq check`")
    for pause in [data["pause"], *data.get("scoped_pauses", [])]:
        if pause is not None:
            lines.append(f"  {waits.pause_line(pause, now)}")
    held = waits.lease_line(data.get("leases"), now, here=False)
    if held:
        lines.append(f"  {held}")
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
    result has a cost; an arm whose results have none says `price unknown`, one
    where only some do shows the floor (`≥`).
    """
    lines = headline(data, now)
    with_usd = any(a["cost_usd"] is not None for a in data["arms"])
    titles = ["pass", "escal.", "units"] + (["USD"] if with_usd else []) + ["unparse", "error"]
    rows = []
    for a in data["arms"]:
        cells = [pct(a["pass_rate"]), pct(a["escalation_rate"], 0), f"{a['cost_units']:,}"]
        cells += [cost(a["cost_usd"], a["cost_usd_rows"] < a["done"])] if with_usd else []
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
    lines.append(f"  {UNITS_LEGEND}")
    lines += governor_view.status_lines(data.get("governor") or [])
    lines += batch_view.status_lines(data.get("batches") or [], data["now"])
    lines += waits.error_lines(data.get("recent_errors") or [])
    return "\n".join(lines)


# The old runner's cost proxy, as stats.cost_units counts it: from an arm's name and call
# count, not from the models called, so a judge of another vendor counts as a cheap call.
UNITS_LEGEND = ("units: the old runner's cost proxy from call counts, a cheap (haiku) call 1, "
                "a sonnet call 3; other vendors' calls count as cheap calls (USD is measured)")


def render_summary(data: dict[str, Any]) -> str:
    """The summary as an aligned plain-text table with a legend."""
    base = data["baseline"]
    lines = [f"sweep {data['sweep']}: {data['results']:,} results"
             + (f", paired against {base}" if base else "")]
    width = max([len(a["arm"]) for a in data["arms"]] + [3])
    head = (f"  {'arm':<{width}}  {'n':>5}  {'pass':>6}  {'95% CI':>13}  {'escal.':>6}  "
            f"{'units':>6}  {'u/task':>6}  {'USD':>13}  {'unparse':>7}")
    if data["oracle"]:
        head += f"  {'oracle':>6}"
    if base:
        head += f"  {'b':>4}  {'c':>4}  {'p':>7}"
    lines.append(head)
    for a in data["arms"]:
        ci = (f"{100 * a['ci_low']:.1f}-{100 * a['ci_high']:.1f}%"
              if a["ci_low"] is not None else "-")
        per_task = "-" if a["cost_units_per_task"] is None else f"{a['cost_units_per_task']:.2f}"
        line = (f"  {a['arm']:<{width}}  {a['n']:>5,}  {pct(a['pass_rate']):>6}  {ci:>13}  "
                f"{pct(a['escalation_rate'], 0):>6}  {a['cost_units']:>6,}  {per_task:>6}  "
                f"{cost(a['cost_usd'], bool(a['unpriced_models'])):>13}  "
                f"{a['unparseable']:>7,}")
        if data["oracle"]:
            align = a["oracle_alignment"]
            line += f"  {pct(align['rate'], 0) if align else '':>6}"
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
    for a in data["arms"]:
        for old, new in a.get("mixed_models") or []:
            lines.append(f"  warning: {a['arm']} mixes models: results from both {old} and "
                         f"{new} (`sweepq models --force` changed it mid-sweep)")
    lines.append("  pass: Wilson 95% interval. escal.: echo-judge* > 3 calls, other echo-* > 2.")
    lines.append(f"  {UNITS_LEGEND}")
    unpriced = sorted({m.partition("@")[0] for a in data["arms"] for m in a["unpriced_models"]})
    if unpriced:
        lines.append(f"  USD: {PRICE_UNKNOWN}: sweepq has no price for {', '.join(unpriced)} "
                     "(models.PRICES), never counted as $0; ≥: the sum of the results that "
                     "have one.")
    price = batch_view.price_note(data.get("batch_price"))
    if price:
        lines.append(f"  {price}")
    cached = cache_view.note(data["arms"])
    if cached:
        lines.append(f"  {cached}")
    if data["oracle"]:
        lines.append("  oracle: share of tasks where the arm escalates exactly when echo-oracle "
                     "does.")
    if base:
        lines.append(f"  b: {base} right, arm wrong; c: arm right, {base} wrong; "
                     "p: exact McNemar (two-sided), on the tasks both completed.")
    return "\n".join(lines)


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

    bounds.duration("watch", seconds, 0.2, 86400.0)
    console = Console()
    try:
        if as_json or not console.is_terminal:
            while True:
                data = report.status(queue, sweep)
                print(json.dumps(report.json_safe(data), allow_nan=False) if as_json
                      else render_status(data) + "\n", flush=True)
                if data["phase"] == "complete":
                    return
                time.sleep(seconds)
        def frame() -> Text:
            return Text(render_status(data, width=console.width), no_wrap=True,
                        overflow="ellipsis")

        data = report.status(queue, sweep)
        with Live(frame(), console=console, auto_refresh=False, transient=False) as live:
            while data["phase"] != "complete":
                time.sleep(seconds)
                data = report.status(queue, sweep)
                live.update(frame(), refresh=True)
    except KeyboardInterrupt:
        sys.stdout.flush()

