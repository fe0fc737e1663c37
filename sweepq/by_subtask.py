"""`summary --by subtask`: each arm's pass rate per subtask, with Wilson 95% intervals.

Why: the first table of a BBH paper is per subtask; a researcher should get it from
the sweep, not by writing `json_extract` against the database. The subtask is read from
each job's stored task, so imported sweeps (whose tasks hold only their id) are broken
down by the id's middle part (`bbh/navigate/3`).

json keys
    sweep, benchmark, scorer (whose verdicts), results,
    rows [{arm, subtask, n, passed, pass_rate, ci_low, ci_high, unparseable}]:
        arms in the sweep's order, subtasks in the sweep's order (then any other).
"""

from __future__ import annotations

from typing import Any

from . import rescore, stats
from .fmt import ci_text, esc, pct
from .queue import Queue, Sweep


def summary(queue: Queue, sweep: Sweep, scorer: str | None = None) -> dict[str, Any]:
    """Per (arm, subtask): n, passed, the pass rate and its Wilson interval."""
    with queue.snapshot():
        scoring = rescore.scoring_of(queue, sweep, scorer)
        alias, join = rescore.verdict_source(scoring)
        counts = queue.read(
            "SELECT j.arm AS arm, coalesce(json_extract(j.task, '$.subtask'),"
            "   rtrim(j.task_id, '0123456789')) AS subtask,"
            f" count(*) AS n, sum({alias}.passed) AS passed,"
            f" sum({alias}.detail = 'unparseable') AS unparseable"
            f" FROM results AS r JOIN jobs AS j USING (job_id){join}"
            " WHERE j.sweep = ? AND j.state = 'done' GROUP BY 1, 2", (sweep.name,))
    for c in counts:     # an imported task's id without its number: `bbh/navigate/`
        if c["subtask"].endswith("/"):
            c["subtask"] = c["subtask"].rstrip("/").rpartition("/")[2] or c["subtask"]
    arm_order = {arm: i for i, arm in enumerate(sweep.arms)}
    sub_order = {sub: i for i, sub in enumerate(sweep.subtasks)}
    counts.sort(key=lambda c: (arm_order.get(c["arm"], len(arm_order)), c["arm"],
                               sub_order.get(c["subtask"], len(sub_order)), c["subtask"]))
    return {"sweep": sweep.name, "benchmark": sweep.benchmark,
            "scorer": scoring or sweep.scorer, "results": sum(c["n"] for c in counts),
            "rows": [_row(c) for c in counts]}


def _row(c: dict[str, Any]) -> dict[str, Any]:
    interval = stats.wilson_interval(c["passed"], c["n"])
    return {"arm": c["arm"], "subtask": c["subtask"], "n": c["n"], "passed": c["passed"],
            "pass_rate": round(c["passed"] / c["n"], 4) if c["n"] else None,
            "ci_low": None if interval is None else round(interval[0], 6),
            "ci_high": None if interval is None else round(interval[1], 6),
            "unparseable": c["unparseable"]}


def render(data: dict[str, Any]) -> str:
    """The table: one line per arm and subtask."""
    header = ("arm", "subtask", "n", "pass", "95% CI", "unparseable")
    lines = [[r["arm"], r["subtask"], str(r["n"]), pct(r["pass_rate"]),
              ci_text(r["ci_low"], r["ci_high"]), str(r["unparseable"])] for r in data["rows"]]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    out = [f"sweep {data['sweep']} · scorer {data['scorer']} · {data['results']:,} results"]
    for row in [header, *lines]:
        out.append("  ".join(str(x).ljust(w) if i < 2 else str(x).rjust(w)
                             for i, (x, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(out)


def html_section(data: dict[str, Any] | None) -> str:
    """The page's table by subtask ("" when there is nothing to break down)."""
    if not data or not data["rows"]:
        return ""
    head = "".join(f'<th scope=col{c}>{h}</th>' for h, c in (
        ("Arm", ""), ("Subtask", ""), ("n", ' class="num"'), ("Pass", ' class="num"'),
        ("95% CI", ' class="num"'), ("Unparseable", ' class="num"')))
    body = "".join(
        f'<tr><td>{esc(r["arm"])}</td><td>{esc(r["subtask"])}</td><td class="num">{r["n"]}'
        f'</td><td class="num">{pct(r["pass_rate"])}</td><td class="num">'
        f'{ci_text(r["ci_low"], r["ci_high"])}</td><td class="num">{r["unparseable"]}</td></tr>'
        for r in data["rows"])
    return (f'<section aria-label="by subtask"><h2>By subtask</h2><div class="scroll">'
            f'<table class="summary" id="by-subtask"><thead><tr>{head}</tr></thead>'
            f'<tbody>{body}</tbody></table></div><ul class="notes"><li>Pass: passed / n per '
            f'arm and subtask with a Wilson 95% interval (scorer {esc(data["scorer"])}).</li>'
            f'</ul></section>')
