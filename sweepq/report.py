"""Seeing a sweep: the live status view and the summary researchers publish.

`status()` is what `sweepq status` (and the HTML page's header) shows. It
must stay fast on a million-job queue, so it reads only indexed counts and the
small `result_buckets` table that triggers keep in step with `results`
(migration 0002), plus the results of the last ten minutes for the pace.
`summary()` reads every result of the sweep once: the paired comparisons need
the rows, not totals. The definitions themselves live in `stats.py`.

Both return plain data whose keys are stable; `--json` prints them as they are,
`views.py` renders them as terminal text and `page.py` as the HTML page.

status keys
    sweep, benchmark, now, phase (running | idle | paused | complete),
    states {pending, running, done, error}, total, passed, pass_rate,
    ci_low, ci_high, escalated, cost_units, cost_usd, cost_usd_rows,
    unparseable, stale_leases, invalid_state (jobs whose state is none of the four: a
    hand edit; counted in total, `sweepq check` names them), leases [{process, host, pid,
    jobs, expired, expires_at, gone, taken_back_at}] (`Queue.lease_waits`: leases a
    worker may wait out, whose, and when they are taken back), started_at, finished_at,
    elapsed_seconds, pace_per_minute, pace_window_seconds, eta_seconds, eta_at,
    arms [{arm, total, pending, running, done, error, passed, pass_rate,
           ci_low, ci_high, escalated, escalation_rate, cost_units,
           cost_usd, cost_usd_rows, unparseable}],
    check null | one line: what a quick check found wrong (done jobs without a
        result, aggregates that disagree with a recount); counts still come
        from the jobs,
    pause null | {reason, message, resume_at, seconds_left, set_by},
    scoped_pauses [{scope, reason, message, resume_at, seconds_left, set_by, arms}]:
        pauses of one provider (or model), each with the sweep's arms it holds back,
    governor [{model, mode (probe | headers | aimd), limits {requests |
        input_tokens | output_tokens: {per_minute, level}}, pace_per_minute,
        window, in_flight, admitted, refusals}]: the rate-limit governor, per model
    batches [{batch_key, batch_id, state, requests, processing, succeeded, errored,
        canceled, expired, price_factor, created_at, …}]: message batches in flight,
    recent_errors [{arm, task_id, attempts, message, at}]: the latest 3 error jobs per arm

summary keys
    sweep, benchmark, scorer (whose verdicts: the sweep's own, or a `rescore`'s),
    baseline, oracle, results,
    arms [{arm, n, passed, pass_rate, ci_low, ci_high, escalated,
           escalation_rate, cost_units, cost_units_per_task, cost_usd,
           cost_usd_rows, unparseable,
           cache null | {read_tokens, write_tokens, hit_rate}: prompt caching of its
               results (hit_rate: the share of their input tokens read from the cache),
           unpriced_models [model ids its answered calls had no price for: its cost_usd
               is then null (price unknown) or a floor, never a complete figure],
           mixed_models [[old, new] model ids of one alias, changed by `sweepq models
               --force`, that both answered this arm's results: the arm mixes models],
           not_answered {refusal, empty reply, cut off at max_tokens},
           oracle_alignment null | {agree, n, rate},
           vs_baseline null | {baseline, n, arm_pass_rate, baseline_pass_rate,
                               baseline_right_arm_wrong,
                               arm_right_baseline_wrong, p_value}}],
    batch_price null | {calls, at_batch_price, price_factor}: the done jobs' paid
        calls, how many of them were bought by `work --backend batch`, and at what
        share of the live price (their costs are at that price)

Rates are fractions (0..1), times unix seconds, null where there is nothing
to divide by. `escalated` is null for arms that never escalate (not echo-*).
"""

from __future__ import annotations

import math
from typing import Any

from . import batch_view, governor, stats, waits
from .errors import SweepqError
from .queue import Queue, Sweep

PACE_WINDOW_SECONDS = 600.0
STATES = ("pending", "running", "done", "error")

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
    states, buckets, problem, recent, claims, pause, paced = _status_reads(queue, sweep.name, now)
    per_arm, totals = _arms(sweep, states, buckets)
    firsts = [claims["first"], *(b["first_started_at"] for b in buckets)]
    lasts = [claims["last"], *(b["last_completed_at"] for b in buckets)]
    overall = stats.ArmTotals("")
    for t in totals.values():
        overall.absorb(t)
    counts = {state: sum(a[state] for a in per_arm.values()) for state in STATES}
    invalid = sum(a.get("invalid_state", 0) for a in per_arm.values())
    total = sum(counts.values()) + invalid
    held = queue.lease_waits(sweep.name)
    left = counts["pending"] + counts["running"]
    started_at = min((t for t in firsts if t is not None), default=None)
    finished_at = (max((t for t in lasts if t is not None), default=None)
                   if left == 0 and total else None)
    elapsed = None if started_at is None else max((finished_at or now) - started_at, 0.0)
    window = None if started_at is None else min(PACE_WINDOW_SECONDS, max(now - started_at, 1.0))
    pace = None if window is None else round(recent * 60 / window, 2)
    eta = _eta(left, pace, pause, now)
    if eta is not None and held.waits:   # jobs leased by a stalled or killed worker wait too
        eta = max(eta, max(w.taken_back_at(now) for w in held.waits) - now)
    interval = stats.wilson_interval(overall.passed, overall.n)
    if total and left == 0 and not invalid:
        phase = "complete"
    else:
        phase = ("paused" if pause is not None else
                 "running" if counts["running"] > claims["stale"] else "idle")
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
        "stale_leases": max(claims["stale"], held.stale),
        "invalid_state": invalid,
        "leases": waits.rows(held),
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
        "scoped_pauses": _scoped_pauses(queue, sweep.name, now),
        "governor": paced,
        "batches": batch_view.rows(queue, sweep.name, open_only=True),
        "recent_errors": waits.recent_errors(queue, sweep.name),
    }


def _scoped_pauses(queue: Queue, sweep: str, now: float) -> list[dict[str, Any]]:
    """Each open pause of one scope, with the arms of `sweep` it holds back."""
    held = queue.held_back(sweep)
    return [{"scope": p.scope, "reason": p.reason, "message": p.message,
             "resume_at": p.resume_at,
             "seconds_left": None if p.resume_at is None else round(p.resume_at - now, 1),
             "set_by": p.set_by,
             "arms": sorted(arm for arm, q in held.items() if q.scope == p.scope)}
            for p in queue.open_pauses() if p.scope is not None]


def _status_reads(queue: Queue, sweep: str, now: float) -> tuple:
    """What the status is computed from, read in one snapshot: job counts per arm and
    state, result buckets (and what looked wrong with them), recent completions, claim
    times and stale leases, the active pause, the governor's state per model."""
    with queue.snapshot():
        states = queue.read(
            "SELECT arm, state, count(*) AS n FROM jobs INDEXED BY jobs_sweep_state"
            " WHERE sweep = ? GROUP BY state, arm", (sweep,))
        buckets, problem = _buckets(queue, sweep, states)
        recent = _recent_count(queue, sweep, now - PACE_WINDOW_SECONDS)
        claims = queue.read(
            "SELECT min(started_at) AS first, max(finished_at) AS last,"
            " coalesce(sum(state = 'running' AND lease_expires_at <= :now), 0) AS stale"
            " FROM jobs INDEXED BY jobs_sweep_state"
            " WHERE sweep = :sweep AND state IN ('running', 'error')",
            {"sweep": sweep, "now": now})[0]
        return (states, buckets, problem, recent, claims, queue.active_pause(),
                governor.snapshot(queue))


def _arms(sweep: Sweep, states: list[dict[str, Any]], buckets: list[dict[str, Any]]
          ) -> tuple[dict[str, dict[str, Any]], dict[str, stats.ArmTotals]]:
    """Each arm's entry of the status (job counts and result figures), and its totals."""
    per_arm: dict[str, dict[str, Any]] = {arm: _arm_entry(arm) for arm in sweep.arms}
    for row in states:
        entry = per_arm.setdefault(row["arm"], _arm_entry(row["arm"]))
        # A state outside the four (a hand edit) is counted, never dropped from the total.
        key = row["state"] if row["state"] in STATES else "invalid_state"
        entry[key] = entry.get(key, 0) + row["n"]
        entry["total"] += row["n"]
    totals = {arm: stats.ArmTotals(arm) for arm in per_arm}
    for b in buckets:
        per_arm.setdefault(b["arm"], _arm_entry(b["arm"]))
        totals.setdefault(b["arm"], stats.ArmTotals(b["arm"])).add(
            bool(b["passed"]), b["sub_calls"], bool(b["unparseable"]), b["n"],
            b["cost_usd"], b["cost_usd_rows"])
    for arm, entry in per_arm.items():
        _fill(entry, totals[arm], arm)
    return per_arm, totals


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
    kept = queue.has_table("result_buckets")
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


def _has_index(queue: Queue, name: str) -> bool:
    return bool(queue.read("SELECT 1 AS x FROM sqlite_master WHERE type = 'index' AND name = ?",
                           (name,)))


def _round(part: float, whole: float, digits: int) -> float | None:
    return round(part / whole, digits) if whole else None


# -- summary ------------------------------------------------------------------------

def summary(queue: Queue, sweep: Sweep, baseline: str | None = None,
            scorer: str | None = None) -> dict[str, Any]:
    """Per-arm statistics and paired comparisons (the `summary --json` output), from the
    sweep's own verdicts or from its scoring by `scorer` (`sweepq rescore`)."""
    from . import cache_view, rescore  # here: status needs neither (nor the scorers)

    with queue.snapshot():
        scoring = rescore.scoring_of(queue, sweep, scorer)
        alias, join = rescore.verdict_source(scoring)
        rows = queue.rows(
            f"SELECT j.task_id, j.arm, {alias}.passed = 1, {alias}.detail, r.sub_calls,"
            f" r.cost_usd FROM results AS r JOIN jobs AS j USING (job_id){join}"
            " WHERE j.sweep = ? AND j.state = 'done'"
            " ORDER BY r.completion_seq", (sweep.name,))
        unpriced = queue.rows(_UNPRICED, (sweep.name,))
        batch_price = _batch_price(queue, sweep)
        cache = cache_view.by_arm(queue, sweep)
        mixed = _mixed_models(queue, sweep)
    try:
        body = stats.summarize(rows, sweep.arms, baseline)
    except ValueError as exc:
        raise SweepqError(f"baseline: {exc}", option="baseline") from None
    for entry in body["arms"]:
        entry["unpriced_models"] = sorted(m for arm, m in unpriced if arm == entry["arm"])
        entry["cache"] = cache.get(entry["arm"])
        entry["mixed_models"] = sorted(mixed.get(entry["arm"], []))
    return {"sweep": sweep.name, "benchmark": sweep.benchmark,
            "scorer": scoring or sweep.scorer, "results": len(rows), **body,
            "batch_price": batch_price}


def _mixed_models(queue: Queue, sweep: Sweep) -> dict[str, list[list[str]]]:
    """Per arm, the [old, new] model pairs of one alias (a `sweepq models` change) that
    both answered its results: the arm mixes two models, which `summary` must say."""
    if not queue.has_table("model_changes"):
        return {}
    rows = queue.rows(
        "SELECT DISTINCT arm, c.old_model, c.new_model FROM model_changes AS c,"
        " (SELECT DISTINCT j.arm, m.value AS model FROM results AS r JOIN jobs AS j"
        "  USING (job_id), json_each(r.models) AS m WHERE j.sweep = :sweep"
        "  AND json_valid(r.models)) AS a"
        " WHERE c.sweep = :sweep AND a.model = c.old_model AND EXISTS (SELECT 1 FROM results"
        "  AS r2 JOIN jobs AS j2 USING (job_id), json_each(r2.models) AS m2"
        "  WHERE j2.sweep = :sweep AND j2.arm = a.arm AND json_valid(r2.models)"
        "  AND m2.value = c.new_model)", {"sweep": sweep.name})
    mixed: dict[str, list[list[str]]] = {}
    for arm, old, new in rows:
        mixed.setdefault(arm, []).append([old, new])
    return mixed


def json_safe(data: Any) -> Any:
    """`data` with every non-finite float as null: `--json` is always JSON (no Infinity,
    NaN), whatever a hand edit left in a REAL column."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: json_safe(v) for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [json_safe(v) for v in data]
    return data


def _batch_price(queue: Queue, sweep: Sweep) -> dict[str, Any] | None:
    """How many of the done jobs' paid calls were bought at the batch price (None when
    none were). Why: a sweep run by batch costs half, and whoever compares its USD with
    a live sweep's must be told, not left to guess from the totals."""
    if not queue.has_table("batches"):
        return None                     # a read-only database from before migration 8
    factors = [r["f"] for r in queue.read(
        "SELECT DISTINCT price_factor AS f FROM batches WHERE sweep = ?", (sweep.name,))]
    if not factors:
        return None
    row = queue.read(
        "SELECT count(*) AS calls, coalesce(sum(EXISTS (SELECT 1 FROM batch_requests AS b"
        "   WHERE b.job_id = c.job_id AND b.request_hash = c.request_hash"
        "     AND b.call_index = c.call_index AND b.outcome = 'succeeded')), 0) AS batch"
        " FROM calls AS c JOIN jobs AS j USING (job_id)"
        " WHERE j.sweep = ? AND j.state = 'done' AND c.error_class IS NULL",
        (sweep.name,))[0]
    if not row["batch"]:
        return None
    return {"calls": row["calls"], "at_batch_price": row["batch"],
            "price_factor": min(factors) if len(factors) == 1 else factors}


# The models an arm's answered calls went to that had no price: its cost is unknown (or a
# floor), which `summary` says instead of a $0. Imported results have no calls: not listed.
_UNPRICED = ("SELECT DISTINCT j.arm, c.model FROM jobs AS j JOIN calls AS c USING (job_id)"
             " WHERE j.sweep = ? AND c.error_class IS NULL AND c.cost_usd IS NULL")


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
