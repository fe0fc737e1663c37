"""What a sweep is waiting for, said so a person can tell a wait from a hang.

Why: `work` on a terminal showed one progress line that stood still through a five-hour
subscription pause, through batches processing at the API and through the leases of a
killed worker running out. Each wait has a reason, an end and something a person can do;
this module reads them (`leases`, `recent_errors`) and words them (`lines`) for the live
display of `work` and for `status`, from the data `report.status` returns.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from .leases import LeaseWaits
from .queue import Queue
from .timefmt import clock_text, format_duration

_RECENT_ERRORS = """
    SELECT arm, task_id, attempts, last_error AS message, finished_at AS at FROM (
        SELECT arm, task_id, attempts, last_error, finished_at, row_number() OVER (
            PARTITION BY arm ORDER BY coalesce(finished_at, 0) DESC, job_id DESC) AS k
        FROM jobs INDEXED BY jobs_sweep_state WHERE sweep = :sweep AND state = 'error')
    WHERE k <= :per_arm ORDER BY arm, at DESC"""


def leases(queue: Queue, sweep: str, own: str | None = None) -> list[dict[str, Any]]:
    """The leases of the sweep a worker may be waiting out, one row per holding process
    (`Queue.lease_waits`, the one place that decides which), with when each is taken back.
    `own`: the caller's worker name (`HOST:PID`), whose jobs are not a wait."""
    return rows(queue.lease_waits(sweep, own))


def rows(held: LeaseWaits) -> list[dict[str, Any]]:
    """`LeaseWaits` as the plain rows of `status --json`'s `leases`."""
    return [{**asdict(w), "taken_back_at": w.taken_back_at(held.now)} for w in held.waits]


def recent_errors(queue: Queue, sweep: str, per_arm: int = 3) -> list[dict[str, Any]]:
    """The latest `per_arm` jobs of each arm that ended in error, with their last message."""
    return queue.read(_RECENT_ERRORS, {"sweep": sweep, "per_arm": per_arm})


def advice(pause: dict[str, Any]) -> str:
    """What a person can do about a pause."""
    if pause["resume_at"] is None:
        return "fix the cause, then `sweepq resume`"
    return "work goes on by itself then; `sweepq resume` to go on now, Ctrl-C to stop"


def pause_line(pause: dict[str, Any], now: float) -> str:
    """`paused (exhausted) until 14:05 (4m 12s left): <message> · <advice>`."""
    until = ("until `sweepq resume`" if pause["resume_at"] is None else
             f"until {clock_text(pause['resume_at'], now)} "
             f"({format_duration(max(pause['resume_at'] - now, 0.0))} left)")
    message = f": {pause['message']}" if pause["message"] else ""
    scope = (f"{pause['scope']} (arms {', '.join(pause['arms']) or 'none yet'}) "
             if pause.get("scope") else "")
    return f"{scope}paused ({pause['reason']}) {until}{message} · {advice(pause)}"


def batch_line(batches: list[dict[str, Any]], now: float) -> str | None:
    """`2 message batches out: 1,200/3,000 requests done, oldest 12m 3s`."""
    if not batches:
        return None
    requests = sum(b["requests"] for b in batches)
    done = sum(b[k] for b in batches for k in ("succeeded", "errored", "canceled", "expired"))
    oldest = now - min(b["created_at"] for b in batches)
    noun = "message batch" if len(batches) == 1 else "message batches"
    return (f"{len(batches)} {noun} out: {done:,}/{requests:,} requests done, oldest "
            f"{format_duration(oldest)} (the API takes up to 24h; `sweepq batches` lists them)")


def lease_line(held: list[dict[str, Any]] | None, now: float, here: bool) -> str | None:
    """`4 jobs leased by a worker until 14:03 (1m 40s): …`: jobs another worker holds, said
    with why; those of a process gone from this host (or past their lease) apart.
    `here`: said by a worker, whose own jobs are not counted."""
    if not held:
        return None
    back = [w for w in held if w["gone"] or w["expired"] == w["jobs"]]   # claimable now
    out = [w for w in held if w not in back]
    parts = []
    if out:
        first = max(min(w["taken_back_at"] for w in out) - now, 0.0)
        last = max(max(w["taken_back_at"] for w in out) - now, 0.0)
        ends = (f"until {clock_text(now + last, now)} ({format_duration(last)})"
                if round(first) == round(last) else
                f"until {clock_text(now + first, now)}–{clock_text(now + last, now)} "
                f"({format_duration(first)}–{format_duration(last)})")
        who = "no worker of this process" if here else "a worker"
        parts.append(f"{_jobs(out)} leased by {who} {ends}: a killed `sweepq work` holds "
                     "them until then, a live one finishes them")
    if back:
        whose = ", ".join(f"{w['process']} ({'process gone' if w['gone'] else 'leases ran out'})"
                          for w in back)
        parts.append(f"{_jobs(back)} leased by {whose}: the next claim takes them back")
    return " · ".join(parts)


def _jobs(held: list[dict[str, Any]]) -> str:
    jobs = sum(w["jobs"] for w in held)
    return f"{jobs:,} job{'s' if jobs != 1 else ''}"


def lines(data: dict[str, Any], held: list[dict[str, Any]] | None, here: bool = True) -> list[str]:
    """Every wait of the sweep now, one line each: pauses, batches out, leases."""
    now = data["now"]
    pauses = [p for p in [data["pause"], *data.get("scoped_pauses", [])] if p is not None]
    found = [pause_line(p, now) for p in pauses]
    found.append(batch_line(data.get("batches") or [], now) or "")
    found.append(lease_line(held, now, here) or "")
    return [line for line in found if line]


def error_lines(errors: list[dict[str, Any]]) -> list[str]:
    """The status view's section of the latest errors per arm (none: no section)."""
    if not errors:
        return []
    out = ["", "  latest errors (`sweepq retry` sends error jobs back):"]
    for e in errors:
        message = " ".join(str(e["message"] or "no message").split())
        out.append(f"    {e['arm']}  {e['task_id']}  after {e['attempts']} attempts: "
                   f"{message[:200]}")
    return out
