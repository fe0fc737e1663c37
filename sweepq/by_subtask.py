"""`summary --by subtask`: each arm's pass rate per subtask, with Wilson 95% intervals.

Why: the first table of a BBH paper is per subtask; a researcher should get it from
the sweep, not by writing `json_extract` against the database. The subtask is read from
each job's stored task, so imported sweeps (whose tasks hold only their id) are broken
down by the id's middle part (`bbh/navigate/3`).

Each benchmark names its own groups (`benchmarks.group_label_of`): BBH's subtasks,
MMLU-Pro's categories, a bank's mapped column, HumanEval's one group. The table and the
page use that word; `--by` takes it as well as `subtask`.

json keys
    sweep, benchmark, scorer (whose verdicts), results,
    group_label: the benchmark's word for a group ("subtask", "category", "group", a
        bank's column name): the heading of the table's second column,
    rows [{arm, subtask, n, passed, pass_rate, ci_low, ci_high, unparseable}]:
        arms in the sweep's order, groups in the sweep's order (then any other).
        `subtask` holds the group's name for every benchmark (the key predates
        `group_label` and stays, so scripts keep working).
"""

from __future__ import annotations

from typing import Any

from . import benchmarks, rescore, stats
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
            "group_label": benchmarks.group_label_of(sweep.benchmark, sweep.options),
            "rows": [_row(c) for c in counts]}


def accepts(by: str, label: str) -> bool:
    """Whether `summary --by BY` asks for this table: `subtask` for every benchmark (as
    before benchmarks had words of their own), or the benchmark's word (`category`)."""
    return by in (benchmarks.GROUP_LABEL, label)


def _row(c: dict[str, Any]) -> dict[str, Any]:
    interval = stats.wilson_interval(c["passed"], c["n"])
    return {"arm": c["arm"], "subtask": c["subtask"], "n": c["n"], "passed": c["passed"],
            "pass_rate": round(c["passed"] / c["n"], 4) if c["n"] else None,
            "ci_low": None if interval is None else round(interval[0], 6),
            "ci_high": None if interval is None else round(interval[1], 6),
            "unparseable": c["unparseable"]}


def render(data: dict[str, Any]) -> str:
    """The table: one line per arm and group, the group column named as the benchmark
    names it."""
    header = ("arm", _label(data), "n", "pass", "95% CI", "unparseable")
    lines = [[r["arm"], r["subtask"], str(r["n"]), pct(r["pass_rate"]),
              ci_text(r["ci_low"], r["ci_high"]), str(r["unparseable"])] for r in data["rows"]]
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    out = [f"sweep {data['sweep']} · scorer {data['scorer']} · {data['results']:,} results"]
    for row in [header, *lines]:
        out.append("  ".join(str(x).ljust(w) if i < 2 else str(x).rjust(w)
                             for i, (x, w) in enumerate(zip(row, widths, strict=True))))
    return "\n".join(out)


def html_section(data: dict[str, Any] | None) -> str:
    """The page's table by group ("" when there is nothing to break down)."""
    if not data or not data["rows"]:
        return ""
    label = _label(data)
    head = "".join(f'<th scope=col{c}>{h}</th>' for h, c in (
        ("Arm", ""), (esc(label[:1].upper() + label[1:]), ""), ("n", ' class="num"'),
        ("Pass", ' class="num"'), ("95% CI", ' class="num"'), ("Unparseable", ' class="num"')))
    body = "".join(
        f'<tr><td>{esc(r["arm"])}</td><td>{esc(r["subtask"])}</td><td class="num">{r["n"]}'
        f'</td><td class="num">{pct(r["pass_rate"])}</td><td class="num">'
        f'{ci_text(r["ci_low"], r["ci_high"])}</td><td class="num">{r["unparseable"]}</td></tr>'
        for r in data["rows"])
    table = (f'<table class="summary" id="by-subtask"><thead><tr>{head}</tr></thead>'
             f'<tbody>{body}</tbody></table>')
    note = (f'Pass: passed / n per arm and {esc(label)} with a Wilson 95% interval '
            f'(scorer {esc(data["scorer"])}).')
    return (f'<section aria-label="by {esc(label)}"><h2>By {esc(label)}</h2><div class="scroll">'
            f'{table}</div><ul class="notes"><li>{note}</li></ul></section>')


def _label(data: dict[str, Any]) -> str:
    return str(data.get("group_label") or benchmarks.GROUP_LABEL)
