"""Where a sweep stands: counts per state and per arm, pass rates, the active pause.

The status view reads indexed counts only, so it stays fast on big queues.
"""

from __future__ import annotations

from typing import Any

from .queue import Queue, Sweep
from .timefmt import format_duration, format_time


def status(queue: Queue, sweep: Sweep) -> dict[str, Any]:
    """The status of one sweep as plain data (the `--json` output; keys are stable)."""
    now = queue.clock()
    per_arm = {arm: {"arm": arm, "total": 0, "pending": 0, "running": 0, "done": 0, "error": 0,
                     "passed": 0, "pass_rate": None} for arm in sweep.arms}
    for row in queue.read("SELECT arm, state, count(*) AS n FROM jobs WHERE sweep = ?"
                          " GROUP BY arm, state", (sweep.name,)):
        entry = per_arm.setdefault(row["arm"], {"arm": row["arm"], "total": 0, "pending": 0,
                                                "running": 0, "done": 0, "error": 0,
                                                "passed": 0, "pass_rate": None})
        entry[row["state"]] = row["n"]
        entry["total"] += row["n"]
    for row in queue.read("SELECT j.arm, sum(r.passed) AS passed FROM results AS r"
                          " JOIN jobs AS j USING (job_id) WHERE j.sweep = ? GROUP BY j.arm",
                          (sweep.name,)):
        entry = per_arm[row["arm"]]
        entry["passed"] = row["passed"] or 0
        entry["pass_rate"] = round(entry["passed"] / entry["done"], 4) if entry["done"] else None
    totals = {key: sum(a[key] for a in per_arm.values())
              for key in ("total", "pending", "running", "done", "error", "passed")}
    totals["pass_rate"] = round(totals["passed"] / totals["done"], 4) if totals["done"] else None
    pause = queue.active_pause()
    return {
        "sweep": sweep.name,
        "benchmark": sweep.benchmark,
        "states": {key: totals[key] for key in ("pending", "running", "done", "error")},
        "total": totals["total"],
        "passed": totals["passed"],
        "pass_rate": totals["pass_rate"],
        "arms": list(per_arm.values()),
        "pause": None if pause is None else {
            "reason": pause.reason, "message": pause.message, "resume_at": pause.resume_at,
            "seconds_left": None if pause.resume_at is None else round(pause.resume_at - now, 1),
            "set_by": pause.set_by},
    }


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def render_status(data: dict[str, Any]) -> str:
    """A plain-text table of `status()` for terminals and logs."""
    lines = [f"sweep {data['sweep']}: {data['states']['done']}/{data['total']} done, "
             f"{data['states']['pending']} pending, {data['states']['running']} running, "
             f"{data['states']['error']} error, pass rate {_rate(data['pass_rate'])}"]
    width = max([len(a["arm"]) for a in data["arms"]] + [3])
    lines.append(f"  {'arm':<{width}}  {'done':>11}  {'pass':>6}  {'error':>5}")
    for arm in data["arms"]:
        lines.append(f"  {arm['arm']:<{width}}  {arm['done']:>5}/{arm['total']:<5}  "
                     f"{_rate(arm['pass_rate']):>6}  {arm['error']:>5}")
    pause = data["pause"]
    if pause is not None:
        until = ("until `sweepq resume`" if pause["resume_at"] is None else
                 f"until {format_time(pause['resume_at'])} "
                 f"({format_duration(pause['seconds_left'])} left)")
        lines.append(f"paused ({pause['reason']}) {until}: {pause['message'] or ''}".rstrip(": "))
    return "\n".join(lines)
