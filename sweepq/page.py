"""The sweep's page: one self-contained HTML file, written once or served live (`serve`).

The page has no scripts, fonts or styles from elsewhere: a status badge, the
overall progress, a card per arm, the summary table with intervals and paired
comparisons, a cost–accuracy chart in inline SVG (`chart`), the latest results
and errors. While the sweep runs it reloads itself (`<meta http-equiv=refresh>`).

Everything that came from a model, a data file or a user (sweep and arm names,
outputs, details, error messages, pause reasons) goes through `esc()`, and a
Content-Security-Policy forbids scripts outright, so a hostile string renders
as text and runs nothing.

(Named `page`, not `html`: a module `sweepq.html` shadowed the standard library's.)
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from . import batch_view, by_subtask, cache_view, fmt, governor_view, report, views
from .chart import NARROW, PALETTE, chart
from .fmt import esc, format_p
from .queue import Queue
from .style import STYLE
from .timefmt import clock_text, format_duration, format_time

CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
OUTPUT_CHARS = 240
DASH = "–"      # what the page shows for a value that does not exist (yet)


# -- formatting: fmt's helpers, with the page's dash ------------------------------------

pct = functools.partial(fmt.pct, none=DASH)
usd = functools.partial(fmt.usd, none=DASH)
ci_text = functools.partial(fmt.ci_text, none=DASH)


def num(value: int | None) -> str:
    return DASH if value is None else f"{value:,}"


def per_task(units: int, n: int) -> str:
    return DASH if not n else f"{units / n:.2f}"


def signed(value: float) -> str:
    """`+2.1`, `−0.4` (a real minus sign), `0.0`."""
    text = f"{value:+.1f}"
    return "0.0" if text in ("+0.0", "-0.0") else text.replace("-", "\u2212")


def _clock(at: float | None, now: float | None = None) -> str:
    return DASH if at is None else clock_text(at, now)


# -- the page -------------------------------------------------------------------------

@dataclass
class PageData:
    status: dict[str, Any]
    summary: dict[str, Any]
    latest: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    by_subtask: dict[str, Any] | None = None     # `by_subtask.summary`: a table per subtask


def collect(queue: Queue, sweep_name: str | None, baseline: str | None = None,
            summary: dict[str, Any] | None = None) -> PageData:
    """Everything the page shows, read from the database."""
    sweep = queue.resolve_sweep(sweep_name)
    return PageData(status=report.status(queue, sweep),
                    summary=summary or report.summary(queue, sweep, baseline),
                    latest=report.latest_results(queue, sweep),
                    errors=report.latest_errors(queue, sweep),
                    by_subtask=by_subtask.summary(queue, sweep))


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
        f"<title>{esc(st['sweep'])} · {esc(views.phase_text(st))} · sweepq</title>",
        f"<style>{STYLE}</style></head><body><main>",
        _header(st),
        _overall(st),
        _pause(st),
        governor_view.html_section(st.get("governor") or [], esc),
        batch_view.html_section(st.get("batches") or [], st["now"], esc),
        _cards(st, sm, colors),
        _summary_table(sm),
        by_subtask.html_section(data.by_subtask),
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
            f'<span class="badge {esc(st["phase"])}" id="badge">{esc(views.phase_text(st))}</span>'
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
    """The queue-wide pause, then each provider's (with the arms it holds back)."""
    return "".join(_one_pause(st, p) for p in [st["pause"], *st.get("scoped_pauses", [])]
                   if p is not None)


def _one_pause(st: dict[str, Any], pause: dict[str, Any]) -> str:
    if pause["resume_at"] is None:
        until = "until someone runs <code>sweepq resume</code>"
    else:
        until = (f"until {_clock(pause['resume_at'], st['now'])} "
                 f"(in {format_duration(max(pause['resume_at'] - st['now'], 0))})")
    message = f'<p class="msg">{esc(pause["message"])}</p>' if pause["message"] else ""
    scope = (f' {esc(pause["scope"])}, arms {esc(", ".join(pause["arms"]) or "none yet")}'
             if pause.get("scope") else "")
    return (f'<section class="pause" role="status"><strong>Paused</strong>{scope} '
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
                         f"{delta} <small>p {format_p(vs['p_value'])}</small>"))
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
    body = [_summary_row(a, base, oracle) for a in sm["arms"]]
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
    price = batch_view.price_note(sm.get("batch_price"))
    if price:
        notes.append(esc(price))
    cached = cache_view.note(sm["arms"])
    if cached:
        notes.append(esc(cached))
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


def _summary_row(a: dict[str, Any], base: str | None, oracle: bool) -> str:
    """One arm's row of the summary table."""
    cells = [f'<th scope=row><span class="arm-name">{esc(a["arm"])}</span></th>',
             f'<td class="num" data-key="n">{num(a["n"])}</td>',
             f'<td class="num" data-key="pass_rate">{pct(a["pass_rate"])}</td>',
             f'<td class="num" data-key="ci">{ci_text(a["ci_low"], a["ci_high"])}</td>',
             f'<td class="num" data-key="escalation_rate">{pct(a["escalation_rate"], 0)}'
             "</td>",
             f'<td class="num" data-key="cost_units">{num(a["cost_units"])}</td>',
             f'<td class="num" data-key="cost_units_per_task">'
             f'{per_task(a["cost_units"], a["n"])}</td>',
             f'<td class="num" data-key="cost_usd">'
             f'{esc(fmt.cost(a["cost_usd"], bool(a["unpriced_models"]), none=DASH))}</td>',
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
                      f'<td{strong} data-key="p">{format_p(vs["p_value"])}</td>']
    return f'<tr data-arm="{esc(a["arm"])}">{"".join(cells)}</tr>'


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
