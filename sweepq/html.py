"""The sweep's page: one self-contained HTML file, written once or served live.

The page has no scripts, fonts or styles from elsewhere: a status badge, the
overall progress, a card per arm, the summary table with intervals and paired
comparisons, a cost–accuracy chart in inline SVG, the latest results and
errors. While the sweep runs it reloads itself (`<meta http-equiv=refresh>`).

Everything that came from a model, a data file or a user (sweep and arm names,
outputs, details, error messages, pause reasons) goes through `esc()`, and a
Content-Security-Policy forbids scripts outright, so a hostile string renders
as text and runs nothing.

`serve()` renders the page from the database on each request over a
read-only connection: it never writes, and works while workers run.
"""

from __future__ import annotations

import html
import ipaddress
import json
import math
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from . import governor_view, report
from .errors import SweepqError
from .queue import Queue
from .timefmt import format_duration, format_time

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
PALETTE = ["#2563eb", "#d97706", "#059669", "#dc2626", "#7c3aed", "#0891b2", "#db2777",
           "#65a30d", "#475569", "#ea580c"]
OUTPUT_CHARS = 240


def esc(value: Any) -> str:
    """HTML-escape anything for text or a quoted attribute."""
    return html.escape("" if value is None else str(value), quote=True)


# -- formatting ---------------------------------------------------------------------

def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def ci_text(low: float | None, high: float | None) -> str:
    """`72.4–85.1%`, the form the summary table and cards print."""
    return "–" if low is None or high is None else f"{100 * low:.1f}–{100 * high:.1f}%"


def usd(value: float | None) -> str:
    if value is None:
        return "–"
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


def num(value: int | None) -> str:
    return "–" if value is None else f"{value:,}"


def per_task(units: int, n: int) -> str:
    return "–" if not n else f"{units / n:.2f}"


def signed(value: float) -> str:
    """`+2.1`, `−0.4` (a real minus sign), `0.0`."""
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text.replace("-", "\u2212")


def _clock(at: float | None, now: float | None = None) -> str:
    return "–" if at is None else report.clock_text(at, now)


# -- the page -------------------------------------------------------------------------

@dataclass
class PageData:
    status: dict[str, Any]
    summary: dict[str, Any]
    latest: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)


def collect(queue: Queue, sweep_name: str | None, baseline: str | None = None,
            summary: dict[str, Any] | None = None) -> PageData:
    """Everything the page shows, read from the database."""
    sweep = queue.resolve_sweep(sweep_name)
    return PageData(status=report.status(queue, sweep),
                    summary=summary or report.summary(queue, sweep, baseline),
                    latest=report.latest_results(queue, sweep),
                    errors=report.latest_errors(queue, sweep))


def render(data: PageData, refresh: float | None = 30) -> str:
    """The whole page. `refresh` seconds between reloads while the sweep is unfinished."""
    st, sm = data.status, data.summary
    colors = {a["arm"]: PALETTE[i % len(PALETTE)] for i, a in enumerate(st["arms"])}
    for a in sm["arms"]:
        colors.setdefault(a["arm"], PALETTE[len(colors) % len(PALETTE)])
    reload = (f'<meta http-equiv="refresh" content="{max(int(refresh), 1)}">'
              if refresh and st["phase"] != "complete" else "")
    parts = [
        "<!doctype html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta name="referrer" content="no-referrer">',
        reload,
        '<link rel="icon" href="data:,">',
        f"<title>{esc(st['sweep'])} · {esc(report.phase_text(st))} · sweepq</title>",
        f"<style>{STYLE}</style></head><body><main>",
        _header(st),
        _overall(st),
        _pause(st),
        governor_view.html_section(st.get("governor") or [], esc),
        _cards(st, sm, colors),
        _summary_table(sm),
        _chart_section(sm, colors),
        _latest(data.latest),
        _errors(data.errors, st),
        _footer(st, sm, refresh if reload else None),
        "</main></body></html>",
    ]
    return "\n".join(p for p in parts if p)


def _header(st: dict[str, Any]) -> str:
    arms = len(st["arms"])
    facts = [esc(st["benchmark"]) if st["benchmark"] else "",
             f"{arms} arm{'s' if arms != 1 else ''}", f"{num(st['total'])} jobs",
             f"updated {_clock(st['now'])}"]
    return (f'<header><div class="title"><h1>{esc(st["sweep"])}</h1>'
            f'<span class="badge {esc(st["phase"])}" id="badge">{esc(report.phase_text(st))}</span>'
            f'</div><p class="sub">{" · ".join(f for f in facts if f)}</p></header>')


def _progress(done: int, total: int, error: int = 0, big: bool = False) -> str:
    done_w = 100 * done / total if total else 0
    err_w = 100 * error / total if total else 0
    return (f'<div class="bar{" big" if big else ""}" role="progressbar" aria-valuemin="0" '
            f'aria-valuemax="{total}" aria-valuenow="{done}">'
            f'<span class="done" style="width:{done_w:.2f}%"></span>'
            f'<span class="err" style="width:{err_w:.2f}%"></span></div>')


def _overall(st: dict[str, Any]) -> str:
    s, total = st["states"], st["total"]
    share = f"{100 * s['done'] / total:.1f}%" if total else "–"
    complete = st["phase"] == "complete"
    eta = (_clock(st["finished_at"], st["now"]) if complete else
           "–" if st["eta_seconds"] is None else
           f"{format_duration(st['eta_seconds'])}"
           f'<small>about {_clock(st["eta_at"], st["now"])}</small>')
    pace = ("–" if st["pace_per_minute"] is None or complete else
            f"{st['pace_per_minute']:,.1f}<small>jobs/min, last 10 min</small>")
    elapsed = ("not started" if st["elapsed_seconds"] is None
               else format_duration(st["elapsed_seconds"]))
    pass_ci = ("" if st["ci_low"] is None else
               f"<small>95% CI {ci_text(st['ci_low'], st['ci_high'])}</small>")
    cost = f"{num(st['cost_units'])}<small>units"
    cost += f" · {usd(st['cost_usd'])}</small>" if st["cost_usd"] is not None else "</small>"
    figures = [
        ("Elapsed", elapsed, "elapsed"),
        ("Finished" if complete else "ETA", eta, "eta"),
        ("Pace", pace, "pace"),
        ("Pass rate", f"{pct(st['pass_rate'])}{pass_ci}", "pass"),
        ("Errors", f"{num(s['error'])}<small>{num(s['running'])} running · "
                   f"{num(s['pending'])} pending</small>", "errors"),
        ("Cost", cost, "cost"),
    ]
    cells = "".join(f'<div class="fig" data-key="{key}"><span class="label">{label}</span>'
                    f'<span class="value">{value}</span></div>' for label, value, key in figures)
    return (f'<section class="overall" aria-label="overall progress">'
            f'<div class="progress-line"><span class="count" id="overall-count">'
            f'{num(s["done"])} / {num(total)} done</span><span class="share">{share}</span>'
            f"</div>{_progress(s['done'], total, s['error'], big=True)}"
            f'<div class="figs">{cells}</div></section>')


def _pause(st: dict[str, Any]) -> str:
    pause = st["pause"]
    if pause is None:
        return ""
    if pause["resume_at"] is None:
        until = "until someone runs <code>sweepq resume</code>"
    else:
        until = (f"until {_clock(pause['resume_at'], st['now'])} "
                 f"(in {format_duration(max(pause['resume_at'] - st['now'], 0))})")
    message = f'<p class="msg">{esc(pause["message"])}</p>' if pause["message"] else ""
    return (f'<section class="pause" role="status"><strong>Paused</strong> '
            f'({esc(pause["reason"])}, set by {esc(pause["set_by"])}) {until}.{message}'
            "</section>")


def _cards(st: dict[str, Any], sm: dict[str, Any], colors: dict[str, str]) -> str:
    by_arm = {a["arm"]: a for a in sm["arms"]}
    cards = []
    for a in st["arms"]:
        s = by_arm.get(a["arm"], {})
        vs = s.get("vs_baseline")
        rows = [("escalated", "–" if a["escalated"] is None else
                 f"{pct(a['escalation_rate'], 0)} <small>({num(a['escalated'])})</small>"),
                ("cost / task", f"{per_task(a['cost_units'], a['done'])} u "
                 f"<small>({num(a['cost_units'])} u)</small>"),
                ("USD", usd(a["cost_usd"])),
                ("unparseable", num(a["unparseable"])),
                ("errors", num(a["error"]))]
        if vs is not None:
            delta = ("–" if vs["arm_pass_rate"] is None else
                     signed(100 * (vs["arm_pass_rate"] - vs["baseline_pass_rate"])) + " pts")
            rows.append((f"vs {esc(vs['baseline'])}",
                         f"{delta} <small>p {report.format_p(vs['p_value'])}</small>"))
        elif sm["baseline"] == a["arm"]:
            rows.append(("paired", "baseline"))
        dl = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
        rate = s.get("pass_rate", a["pass_rate"])    # the summary's figures, as in its table
        low, high = s.get("ci_low", a["ci_low"]), s.get("ci_high", a["ci_high"])
        ci = "" if low is None else f'<span class="ci">95% CI {ci_text(low, high)}</span>'

        cards.append(
            f'<article class="card" data-arm="{esc(a["arm"])}" '
            f'style="border-top-color:{colors[a["arm"]]}">'
            f'<h3>{esc(a["arm"])}</h3>'
            f'<div class="card-progress"><span>{num(a["done"])} / {num(a["total"])}</span>'
            f'<span>{pct(a["done"] / a["total"] if a["total"] else None, 0)}</span></div>'
            f'{_progress(a["done"], a["total"], a["error"])}'
            f'<p class="rate"><span class="big">{pct(rate)}</span> pass{ci}</p>'
            f"<dl>{dl}</dl></article>")
    return (f'<section aria-label="arms"><h2>Arms</h2><div class="cards">{"".join(cards)}'
            "</div></section>")


def _summary_table(sm: dict[str, Any]) -> str:
    base, oracle = sm["baseline"], sm["oracle"]
    head = ["<th scope=col>Arm</th>", '<th scope=col class="num">n</th>',
            '<th scope=col class="num">Pass</th>', '<th scope=col class="num">95% CI</th>',
            '<th scope=col class="num">Escalated</th>', '<th scope=col class="num">Units</th>',
            '<th scope=col class="num">Units/task</th>', '<th scope=col class="num">USD</th>',
            '<th scope=col class="num">Unparseable</th>']
    if oracle:
        head.append('<th scope=col class="num" title="share of tasks where the arm escalates '
                    'exactly when echo-oracle does">Oracle agree</th>')
    if base:
        head += [f'<th scope=col class="num" title="{esc(base)} right, arm wrong">b</th>',
                 f'<th scope=col class="num" title="arm right, {esc(base)} wrong">c</th>',
                 '<th scope=col class="num" title="exact McNemar, two-sided">p</th>']
    body = []
    for a in sm["arms"]:
        cells = [f'<th scope=row><span class="arm-name">{esc(a["arm"])}</span></th>',
                 f'<td class="num" data-key="n">{num(a["n"])}</td>',
                 f'<td class="num" data-key="pass_rate">{pct(a["pass_rate"])}</td>',
                 f'<td class="num" data-key="ci">{ci_text(a["ci_low"], a["ci_high"])}</td>',
                 f'<td class="num" data-key="escalation_rate">{pct(a["escalation_rate"], 0)}'
                 "</td>",
                 f'<td class="num" data-key="cost_units">{num(a["cost_units"])}</td>',
                 f'<td class="num" data-key="cost_units_per_task">'
                 f'{per_task(a["cost_units"], a["n"])}</td>',
                 f'<td class="num" data-key="cost_usd">{usd(a["cost_usd"])}</td>',
                 f'<td class="num" data-key="unparseable">{num(a["unparseable"])}</td>']
        if oracle:
            align = a["oracle_alignment"]
            cells.append(f'<td class="num" data-key="oracle">'
                         f'{pct(align["rate"], 0) if align else ""}</td>')
        if base:
            vs = a["vs_baseline"]
            if vs is None:
                cells.append('<td class="num muted" colspan="3">baseline</td>')
            else:
                strong = ' class="num sig"' if vs["p_value"] < 0.05 else ' class="num"'
                cells += [f'<td class="num" data-key="b">{num(vs["baseline_right_arm_wrong"])}'
                          "</td>",
                          f'<td class="num" data-key="c">{num(vs["arm_right_baseline_wrong"])}'
                          "</td>",
                          f'<td{strong} data-key="p">{report.format_p(vs["p_value"])}</td>']
        body.append(f'<tr data-arm="{esc(a["arm"])}">{"".join(cells)}</tr>')
    group = ""
    if base:
        span = 9 + (1 if oracle else 0)
        group = (f'<tr class="group"><td colspan="{span}"></td>'
                 f'<th colspan="3" scope=colgroup>paired vs {esc(base)}</th></tr>')
    notes = ["Pass: passed / n with a Wilson 95% interval.",
             "Escalated: echo-judge and echo-judge-* arms with more than 3 calls, other echo-* "
             "arms with more than 2.",
             "Units: a haiku call is 1, a sonnet call 3 (haiku-only = calls, sonnet-only = "
             "3 × calls, judge arms 3 + 3 if escalated, other echo arms 2 + 3 if escalated)."]
    if oracle:
        notes.append("Oracle agree: share of the tasks both ran where the arm escalates exactly "
                     "when echo-oracle does.")
    if base:
        notes.append(f"b: {esc(base)} right and the arm wrong; c: the reverse; p: exact "
                     "two-sided McNemar test on the tasks both arms completed "
                     "(p &lt; 0.05 in bold).")
    return (f'<section aria-label="summary"><h2>Summary</h2><div class="scroll">'
            f'<table class="summary" id="summary"><thead>{group}<tr>{"".join(head)}</tr>'
            f'</thead><tbody>{"".join(body)}</tbody></table></div>'
            f'<ul class="notes">{"".join(f"<li>{n}</li>" for n in notes)}</ul></section>')


# -- the cost–accuracy chart -------------------------------------------------------------

@dataclass(frozen=True)
class Frame:
    """The chart's drawing area: a wide one for screens, a compact one for phones."""

    id: str
    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int
    x_title: str


WIDE = Frame("chart", 960, 430, 64, 24, 20, 56,
             "cost per task (units: haiku call 1, sonnet call 3)")
NARROW = Frame("chart-narrow", 420, 400, 50, 12, 16, 52, "cost per task (units)")
CHAR_W = 6.9     # a 12px sans-serif character, roughly


def _nice_step(span: float, ticks: int = 5) -> float:
    raw = span / max(ticks, 1)
    power = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    for m in (1, 2, 2.5, 5, 10):
        if m * power >= raw:
            return m * power
    return 10 * power


def chart(sm: dict[str, Any], colors: dict[str, str], frame: Frame = WIDE) -> str:
    """Cost per task (x) against pass rate with its interval (y): one labelled point per arm."""
    points = [a for a in sm["arms"] if a["n"]]
    if not points:
        return '<p class="muted">No results yet.</p>'
    xs = [a["cost_units"] / a["n"] for a in points]
    x_step = _nice_step(max(max(xs), 1.0), 5 if frame is WIDE else 4)
    x_max = x_step * math.ceil(max(xs) * 1.12 / x_step + 1e-9) or x_step
    y_lo, y_hi = min(a["ci_low"] for a in points), max(a["ci_high"] for a in points)
    y_step = _nice_step(max(y_hi - y_lo, 0.1))
    y_min = max(0.0, y_step * math.floor(y_lo / y_step))
    y_max = min(1.0, y_step * math.ceil(y_hi / y_step)) if y_hi < 1 else 1.0
    if y_max - y_min < y_step:
        y_max = min(1.0, y_min + y_step)
    left, top = frame.left, frame.top
    plot_w = frame.width - frame.left - frame.right
    plot_h = frame.height - frame.top - frame.bottom
    bottom = top + plot_h

    def sx(v: float) -> float:
        return left + plot_w * v / x_max

    def sy(v: float) -> float:
        return top + plot_h * (1 - (v - y_min) / (y_max - y_min))

    out = [f'<svg class="chart {"wide" if frame is WIDE else "narrow"}" id="{frame.id}" '
           f'viewBox="0 0 {frame.width} {frame.height}" role="img" '
           'aria-label="cost per task against pass rate, one point per arm" '
           'xmlns="http://www.w3.org/2000/svg">']
    tick = 0.0
    while tick <= x_max + 1e-9:
        x = sx(tick)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}"/>'
                   f'<text class="tick" x="{x:.1f}" y="{bottom + 18}" '
                   f'text-anchor="middle">{tick:g}</text>')
        tick += x_step
    tick = y_min
    while tick <= y_max + 1e-9:
        y = sy(tick)
        out.append(f'<line class="grid" x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" '
                   f'y2="{y:.1f}"/><text class="tick" x="{left - 8}" y="{y + 4:.1f}" '
                   f'text-anchor="end">{100 * tick:.0f}%</text>')
        tick += y_step
    out.append(f'<line class="axis" x1="{left}" y1="{bottom}" x2="{left + plot_w}" '
               f'y2="{bottom}"/><line class="axis" x1="{left}" y1="{top}" x2="{left}" '
               f'y2="{bottom}"/>')
    out.append(f'<text class="axis-label" x="{left + plot_w / 2:.0f}" '
               f'y="{frame.height - 12}" text-anchor="middle">{esc(frame.x_title)}</text>')
    out.append(f'<text class="axis-label" transform="translate(14 {top + plot_h / 2:.0f}) '
               'rotate(-90)" text-anchor="middle">pass rate (95% CI)</text>')

    frontier = [(sx(a["cost_units"] / a["n"]), sy(a["pass_rate"])) for a in _pareto(points)]
    if len(frontier) > 1:
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in frontier)
        out.append(f'<polyline class="frontier" points="{path}"/>')

    geometry = []
    for a in points:
        x, y = sx(a["cost_units"] / a["n"]), sy(a["pass_rate"])
        geometry.append((a, x, y, sy(a["ci_low"]), sy(a["ci_high"])))
    # Labels avoid every point, every interval bar, the frontier and each other.
    obstacles: list[Box] = []
    for _, x, y, y_low, y_high in geometry:
        obstacles += [(x - 7, y - 7, x + 7, y + 7), (x - 6, y_high, x + 6, y_low)]
    for (x0, y0), (x1, y1) in zip(frontier, frontier[1:], strict=False):
        steps = max(int(math.hypot(x1 - x0, y1 - y0) / 6), 1)
        obstacles += [(x0 + (x1 - x0) * i / steps - 2, y0 + (y1 - y0) * i / steps - 2,
                       x0 + (x1 - x0) * i / steps + 2, y0 + (y1 - y0) * i / steps + 2)
                      for i in range(steps + 1)]
    bounds = (left + 2, top, left + plot_w - 2, bottom - 2)
    for a, x, y, y_low, y_high in sorted(geometry, key=lambda g: -g[0]["pass_rate"]):
        color = colors.get(a["arm"], PALETTE[0])
        label_x, label_y, anchor, far = _place_label(a["arm"], x, y, obstacles, bounds)
        leader = (f'<line class="leader" x1="{x:.1f}" y1="{y:.1f}" x2="{label_x:.1f}" '
                  f'y2="{label_y - 4:.1f}" stroke="{color}"/>' if far else "")
        title = (f"{a['arm']}: pass {pct(a['pass_rate'])} "
                 f"(95% CI {ci_text(a['ci_low'], a['ci_high'])}), "
                 f"{a['cost_units'] / a['n']:.2f} units per task, n = {a['n']}")
        out.append(
            f'<g class="point" data-arm="{esc(a["arm"])}"><title>{esc(title)}</title>'
            f'<line class="ci" x1="{x:.1f}" y1="{y_low:.1f}" x2="{x:.1f}" y2="{y_high:.1f}" '
            f'stroke="{color}"/>'
            f'<line class="cap" x1="{x - 5:.1f}" y1="{y_low:.1f}" x2="{x + 5:.1f}" '
            f'y2="{y_low:.1f}" stroke="{color}"/>'
            f'<line class="cap" x1="{x - 5:.1f}" y1="{y_high:.1f}" x2="{x + 5:.1f}" '
            f'y2="{y_high:.1f}" stroke="{color}"/>'
            f'{leader}<circle cx="{x:.1f}" cy="{y:.1f}" r="5.5" fill="{color}"/>'
            f'<text class="label" x="{label_x:.1f}" y="{label_y:.1f}" '
            f'text-anchor="{anchor}">{esc(a["arm"])}</text></g>')
    out.append("</svg>")
    return "".join(out)


def _pareto(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Arms no other arm beats on both cost and pass rate, cheapest first."""
    ranked = sorted(points, key=lambda a: (a["cost_units"] / a["n"], -a["pass_rate"]))
    frontier: list[dict[str, Any]] = []
    for a in ranked:
        if not frontier or a["pass_rate"] > frontier[-1]["pass_rate"]:
            frontier.append(a)
    return frontier


Box = tuple[float, float, float, float]      # left, top, right, bottom


def _place_label(text: str, x: float, y: float, obstacles: list[Box],
                 bounds: Box) -> tuple[float, float, str, bool]:
    """A spot for a point's label: beside it, nudged up or down to hit as little as possible.

    Tries right then left of the point at growing vertical offsets and takes
    the first spot that hits nothing, else the one that hits least. Returns
    the text position, its anchor, and whether it sits far enough from the
    point to need a leader line. The box taken joins `obstacles`.
    """
    width, height = CHAR_W * len(text) + 2, 14.0
    best: tuple[int, int, float, float, str, Box] | None = None
    order = 0
    for shift in (0, -14, 14, -26, 26, -38, 38, -52, 52, -66, 66):
        for anchor in ("start", "end"):
            base = y + 4 + shift                       # text baseline
            left = x + 10 if anchor == "start" else x - 10 - width
            box = (left, base - 11, left + width, base - 11 + height)
            if not (box[0] >= bounds[0] and box[2] <= bounds[2] and box[1] >= bounds[1]
                    and box[3] <= bounds[3]):
                continue
            hits = sum(_overlap(box, other) for other in obstacles)
            if best is None or (hits, order) < best[:2]:
                best = (hits, order, x + 10 if anchor == "start" else x - 10, base, anchor, box)
            order += 1
            if hits == 0:
                break
        if best is not None and best[0] == 0:
            break
    if best is None:                                   # wider than the plot: right of it
        obstacles.append((x + 10, y - 7, x + 10 + width, y + 7))
        return x + 10, y + 4, "start", False
    _, _, label_x, base, anchor, box = best
    obstacles.append(box)
    return label_x, base, anchor, abs(base - 4 - y) > 20


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _chart_section(sm: dict[str, Any], colors: dict[str, str]) -> str:
    return ('<section aria-label="cost and accuracy"><h2>Cost and accuracy</h2>'
            f'<div class="chart-box">{chart(sm, colors)}{chart(sm, colors, NARROW)}</div>'
            '<p class="notes">Each point is an arm: its cost per task and pass rate, with the '
            "Wilson 95% interval as a bar. The dashed line joins the arms no other arm beats on "
            "both cost and accuracy.</p></section>")


# -- latest results, errors, footer --------------------------------------------------------

def _clip(text: str | None, limit: int = OUTPUT_CHARS) -> str:
    if not text:
        return ""
    text = text.strip()
    return text if len(text) <= limit else text[:limit].rstrip() + "…"


def _latest(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    body = "".join(
        f'<tr><td class="num">{_clock(r["completed_at"])}</td>'
        f'<td><span class="task">{esc(r["task_id"])}</span></td>'
        f'<td><span class="arm-name">{esc(r["arm"])}</span></td>'
        f'<td class="{"ok" if r["passed"] else "bad"}">{"pass" if r["passed"] else "fail"}</td>'
        f'<td class="detail">{esc(_clip(r["detail"], 120))}</td>'
        f'<td class="output"><code>{esc(_clip(r["output"]))}</code></td></tr>' for r in rows)
    return ('<section aria-label="latest results"><h2>Latest results</h2><div class="scroll">'
            '<table class="latest" id="latest"><thead><tr><th scope=col class="num">At</th>'
            "<th scope=col>Task</th><th scope=col>Arm</th><th scope=col>Result</th>"
            "<th scope=col>Detail</th><th scope=col>Output (start)</th></tr></thead>"
            f"<tbody>{body}</tbody></table></div></section>")


def _errors(rows: list[dict[str, Any]], st: dict[str, Any]) -> str:
    if not rows:
        return ""
    body = "".join(
        f'<tr><td class="num">{_clock(r["finished_at"])}</td>'
        f'<td><span class="task">{esc(r["task_id"])}</span></td>'
        f'<td><span class="arm-name">{esc(r["arm"])}</span></td>'
        f'<td class="num">{r["attempts"]}</td>'
        f'<td class="detail"><code>{esc(_clip(r["last_error"], 300))}</code></td></tr>'
        for r in rows)
    more = st["states"]["error"] - len(rows)
    tail = (f'<p class="notes">and {num(more)} more; <code>sweepq retry</code> puts them back in '
            "the queue.</p>" if more > 0 else
            '<p class="notes"><code>sweepq retry</code> puts them back in the queue.</p>')
    return ('<section aria-label="errors"><h2>Errors</h2><div class="scroll">'
            '<table class="errors" id="errors"><thead><tr><th scope=col class="num">At</th>'
            "<th scope=col>Task</th><th scope=col>Arm</th>"
            '<th scope=col class="num">Tries</th><th scope=col>Last error</th></tr></thead>'
            f"<tbody>{body}</tbody></table></div>{tail}</section>")


def _footer(st: dict[str, Any], sm: dict[str, Any], refresh: float | None) -> str:
    reload = (f" Reloads every {max(int(refresh), 1)} s while the sweep runs."
              if refresh else "")
    return (f"<footer>Generated by sweepq at {esc(format_time(st['now']))} from "
            f"{num(sm['results'])} results.{reload}</footer>")


def index_page(names: list[str]) -> str:
    """The list of sweeps, for a server started without --sweep on a many-sweep database."""
    items = "".join(f'<li><a href="/?sweep={quote(name, safe="")}">{esc(name)}</a></li>'
                    for name in names) or "<li>No sweeps yet.</li>"
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<meta name="viewport" content="width=device-width, initial-scale=1">'
            '<link rel="icon" href="data:,"><title>sweepq</title>'
            f"<style>{STYLE}</style></head><body><main><header><h1>Sweeps</h1></header>"
            f'<ul class="sweeps">{items}</ul></main></body></html>')


def error_page(message: str) -> str:
    return ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
            f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
            '<link rel="icon" href="data:,"><title>sweepq: error</title>'
            f"<style>{STYLE}</style></head><body><main><h1>sweepq</h1>"
            f'<p class="pause">{esc(message)}</p></main></body></html>')


def default_filename(sweep: str) -> str:
    """`bbh-n99` → `bbh-n99.html`, with anything unsafe in a file name replaced."""
    return (re.sub(r"[^A-Za-z0-9._-]+", "_", sweep).strip("._") or "sweep") + ".html"


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- serving it --------------------------------------------------------------------------

class PageServer(ThreadingHTTPServer):
    """Renders the page per request from a read-only connection to the database."""

    daemon_threads = True

    def __init__(self, address: tuple[str, int], db_path: str, sweep: str | None,
                 baseline: str | None, refresh: float | None):
        self.db_path, self.sweep, self.baseline, self.refresh = db_path, sweep, baseline, refresh
        self._cache: dict[tuple, tuple] = {}
        self._cache_lock = threading.Lock()
        report.open_read_only(db_path).close()     # fail now, not on the first request
        super().__init__(address, _Handler)

    def summary(self, queue: Queue, sweep_name: str | None) -> dict[str, Any]:
        """The summary, recomputed only when it may have changed and is worth the work.

        Reused while no result was added; also reused, though results were
        added, until it is ten times as old as it took to compute, so a
        million-result sweep costs at most a tenth of the server's time (its
        table then lags the live counts by seconds; the footer says how many
        results it covers).
        """
        sweep = queue.resolve_sweep(sweep_name)
        key_row = queue.read("SELECT max(completion_seq) AS seq, count(*) AS n FROM results")[0]
        key = (key_row["seq"], key_row["n"])
        now = time.monotonic()
        with self._cache_lock:
            cached = self._cache.get((sweep.name, self.baseline))
        if cached is not None:
            cached_key, value, computed_at, cost = cached
            if cached_key == key or now - computed_at < 10 * cost:
                return value
        value = report.summary(queue, sweep, self.baseline)
        with self._cache_lock:
            self._cache[(sweep.name, self.baseline)] = (key, value, now,
                                                        time.monotonic() - now)
        return value


class _Handler(BaseHTTPRequestHandler):
    server: PageServer
    server_version = "sweepq"

    def do_GET(self) -> None:  # noqa: N802 — the http.server API
        self._respond(head=False)

    def do_HEAD(self) -> None:  # noqa: N802
        self._respond(head=True)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _respond(self, head: bool) -> None:
        url = urlsplit(self.path)
        query = parse_qs(url.query)
        sweep = (query.get("sweep") or [self.server.sweep])[0]
        try:
            if url.path == "/favicon.ico":
                self._send(204, b"", "text/plain", head)
                return
            if url.path not in ("/", "/status.json", "/summary.json"):
                self._send(404, error_page(f"no page {url.path}").encode(), "text/html", head)
                return
            queue = report.open_read_only(self.server.db_path)
            try:
                if url.path == "/" and sweep is None and len(queue.sweep_names()) != 1:
                    body = index_page(queue.sweep_names()).encode()
                    self._send(200, body, "text/html", head)
                    return
                if url.path == "/status.json":
                    data: Any = report.status(queue, queue.resolve_sweep(sweep))
                elif url.path == "/summary.json":
                    data = self.server.summary(queue, sweep)
                else:
                    page = collect(queue, sweep, self.server.baseline,
                                   self.server.summary(queue, sweep))
                    self._send(200, render(page, self.server.refresh).encode(), "text/html",
                               head)
                    return
            finally:
                queue.close()
            self._send(200, json.dumps(data, indent=2).encode(), "application/json", head)
        except SweepqError as exc:
            self._send(404, error_page(str(exc)).encode(), "text/html", head)
        except Exception as exc:  # a bug must not kill the server; say what went wrong
            print(f"sweepq serve: {type(exc).__name__}: {exc}", file=sys.stderr)
            self._send(500, error_page(f"internal error: {type(exc).__name__}: {exc}").encode(),
                       "text/html", head)

    def _send(self, code: int, body: bytes, kind: str, head: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", f"{kind}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        self.send_header("Referrer-Policy", "no-referrer")
        self.end_headers()
        if not head:
            self.wfile.write(body)


def make_server(db_path: str, host: str = "127.0.0.1", port: int = 8787,
                sweep: str | None = None, baseline: str | None = None,
                refresh: float | None = 10) -> PageServer:
    """A page server bound to host:port (port 0: any free port)."""
    try:
        return PageServer((host, port), db_path, sweep, baseline, refresh)
    except OSError as exc:
        raise SweepqError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None


def serve_forever(server: PageServer) -> None:
    try:
        server.serve_forever(poll_interval=0.25)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


# -- the style sheet -----------------------------------------------------------------------

STYLE = """
:root{--fg:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--card:#fff;--ok:#047857;
--bad:#b91c1c;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:24px;margin:0;word-break:break-word}
h2{font-size:17px;margin:28px 0 10px}
h3{font-size:15px;margin:0 0 8px;word-break:break-word}
header .title{display:flex;flex-wrap:wrap;align-items:center;gap:10px 14px}
.sub{color:var(--muted);margin:4px 0 16px}
.badge{display:inline-block;padding:3px 10px;border-radius:999px;font-size:13px;
font-weight:600;color:#fff;background:#475569;white-space:nowrap}
.badge.running{background:#2563eb}.badge.paused{background:#b45309}
.badge.complete{background:#047857}.badge.idle{background:#6b7280}
section.overall{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:16px 18px}
.progress-line{display:flex;justify-content:space-between;align-items:baseline;margin-bottom:6px;
font-variant-numeric:tabular-nums}
.progress-line .count{font-size:18px;font-weight:600}
.progress-line .share{color:var(--muted)}
.bar{display:flex;height:8px;border-radius:4px;background:#e5e7eb;overflow:hidden}
.bar.big{height:14px;border-radius:7px}
.bar .done{background:var(--accent)}.bar .err{background:var(--bad)}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px 18px;
margin-top:14px}
.fig .label{display:block;color:var(--muted);font-size:12px;text-transform:uppercase;
letter-spacing:.04em}
.fig .value{display:block;font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
.fig small,.card small{display:block;font-size:12px;font-weight:400;color:var(--muted)}
.card dd small{display:inline}
section.pause{margin-top:14px;background:#fffbeb;border:1px solid #f59e0b;border-radius:10px;
padding:12px 16px}
.pause .msg{margin:6px 0 0;color:#78350f;word-break:break-word}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--accent);
border-radius:10px;padding:14px 16px;min-width:0}
.card-progress{display:flex;justify-content:space-between;font-size:13px;color:var(--muted);
margin-bottom:4px;font-variant-numeric:tabular-nums}
.card .rate{margin:10px 0 8px;color:var(--muted)}
.card .rate .big{font-size:26px;font-weight:700;color:var(--fg);font-variant-numeric:tabular-nums}
.card .ci{display:block;font-size:12px}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:3px 12px;margin:0;font-size:13.5px}
.card dt{color:var(--muted)}
.card dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:7px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{font-size:12px;color:var(--muted);font-weight:600;background:#f9fafb;vertical-align:bottom;
line-height:1.25}
thead th.num{white-space:normal}
tbody tr:last-child>*{border-bottom:0}
tr.group th{text-align:center;border-bottom:1px solid var(--line)}
tr.group td{border-bottom:0}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.sig{font-weight:700}
.muted{color:var(--muted)}
.task{white-space:nowrap}
.arm-name{display:inline-block;max-width:260px;min-width:7em;overflow-wrap:break-word}
tbody th{font-weight:600}
td.ok{color:var(--ok);font-weight:600}td.bad{color:var(--bad);font-weight:600}
td.detail{min-width:140px;word-break:break-word}
td.output{min-width:220px;max-width:420px}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;
word-break:break-word}
.notes{color:var(--muted);font-size:13px;margin:8px 0 0;padding-left:18px}
p.notes{padding-left:0}
.chart-box{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px}
svg.chart{display:block;width:100%;height:auto}
svg.chart.wide{max-height:480px}
svg.chart.narrow{display:none}
svg .grid{stroke:#eef0f3}
svg .axis{stroke:#9ca3af}
svg .tick{font-size:12px;fill:#6b7280}
svg .axis-label{font-size:12.5px;fill:#374151}
svg .ci,svg .cap{stroke-width:2}
svg circle{stroke:#fff;stroke-width:1.5}
svg .label{font-size:12px;fill:#111827;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg .leader{stroke-width:1;stroke-dasharray:2 2}
svg .frontier{fill:none;stroke:#9ca3af;stroke-width:1.5;stroke-dasharray:5 4}
footer{margin-top:28px;color:var(--muted);font-size:13px}
ul.sweeps{font-size:16px}
@media (max-width:600px){
svg.chart.wide{display:none}
svg.chart.narrow{display:block}
main{padding:14px 12px 30px}
h1{font-size:20px}
.figs{grid-template-columns:repeat(2,minmax(0,1fr))}
.fig .value{font-size:17px}
th,td{padding:6px 8px}
}
"""
