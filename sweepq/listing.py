"""`sweepq sweeps`: every sweep of a database, with its settings and where it stands.

Why: a database holds many sweeps (an import, a pilot, the real run), and every other
command asks for `--sweep NAME` once there is more than one; a person needs to see the
names, and a script the same as JSON, without writing SQL.
"""

from __future__ import annotations

from typing import Any

from . import fmt
from .queue import Queue

_COUNTS = """SELECT sweep, state, count(*) AS n FROM jobs GROUP BY sweep, state"""


def sweeps(queue: Queue) -> list[dict[str, Any]]:
    """One dict per sweep, oldest first: name, benchmark, subtasks, n_per_subtask, start,
    arms, dataset, created_at, total and the jobs per state (pending, running, done, error)."""
    counts: dict[str, dict[str, int]] = {}
    for row in queue.read(_COUNTS):
        counts.setdefault(row["sweep"], {})[row["state"]] = row["n"]
    out = []
    for name in queue.sweep_names():
        sweep = queue.sweep(name)
        if sweep is None:
            continue
        states = {s: counts.get(name, {}).get(s, 0) for s in ("pending", "running", "done",
                                                              "error")}
        created = queue.read("SELECT created_at FROM sweeps WHERE sweep = ?", (name,))
        out.append({"sweep": name, "benchmark": sweep.benchmark, "subtasks": sweep.subtasks,
                    "n_per_subtask": sweep.n_per_subtask, "start": sweep.start,
                    "arms": sweep.arms, "dataset": sweep.dataset,
                    "created_at": created[0]["created_at"], "total": sum(states.values()),
                    **states})
    return out


def render(rows: list[dict[str, Any]]) -> str:
    """One line a sweep: `pilot  120/300 done, 2 error  3 arms x 2 subtasks (n 50)`."""
    if not rows:
        return "no sweeps yet: `sweepq enqueue --sweep NAME ...` adds one"
    width = max(len(r["sweep"]) for r in rows)
    lines = []
    for r in rows:
        shape = fmt.count(len(r["arms"]), "arm") + (
            f" x {fmt.count(len(r['subtasks']), 'subtask')}" if r["subtasks"] else "") + (
            f" (n {r['n_per_subtask']})" if r["n_per_subtask"] else "")
        lines.append(f"{r['sweep']:<{width}}  {r['done']:,}/{r['total']:,} done, "
                     f"{r['error']:,} error  {shape}  arms {','.join(r['arms'])}")
    return "\n".join(lines)
