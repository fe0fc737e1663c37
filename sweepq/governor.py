"""The rate-limit governor: calls admitted at evenly spaced times, from the limits the API states.

Why: at the rate limit, the limit is the floor of a sweep's time. Sending every call
as soon as a thread is free and pausing the queue on each 429 reaches that floor only
by hammering the limiter (several refusals per success), and every thread waking at
the pause's end bursts again. The governor instead keeps, per model and per limit
(requests, input tokens, output tokens), a model of the server's token bucket:

- the rate is learned from `anthropic-ratelimit-*-limit` (per minute), the level
  corrected downward from `-remaining` on every response (successes included);
- each call reserves its cost (1 request, input tokens estimated from characters,
  output tokens at `max_tokens`) and gets the time at which the bucket will hold it:
  admission times are spaced by cost/rate, never a gate opening for everyone;
- the unused part of the reservation is refunded from the response's `usage`;
- a 429 with headers corrects the level (and `retry-after`) and the one call is
  admitted again in its next slot; without headers (the Claude CLI) the governor
  keeps an additive-increase/multiplicative-decrease window of calls in flight.

State lives in SQLite (migration 0007), read and written in one short transaction per
admission and per settlement, so every `sweepq work` process on a database shares one
budget. A grant (an admitted, unsettled call) has a lease: one left by a process that
died stops counting as in flight when the lease passes, and its output reservation is
given back.
"""

from __future__ import annotations

import math
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .queue import Queue
from .ratelimits import RESOURCES, RateLimits

GRANT_LEASE_SECONDS = 180.0   # the call timeout (120 s) and the longest slot wait, with room
RATE_MARGIN = 0.995           # pace at 99.5% of the stated rate: clocks and rounding drift
RESERVE_SECONDS = 0.25        # keep 250 ms of refill in the bucket: arrival jitter
TOKEN_ROUNDING = 1000.0       # remaining token counts are rounded to the thousand
CHARS_PER_TOKEN = 3.0         # before any usage is seen: fewer characters a token than
                              # English text has, so the estimate is high, never low
ESTIMATE_MARGIN = 1.1         # over the learned tokens-per-character ratio
MESSAGE_OVERHEAD = 8          # tokens the request's framing adds to its text
PROBE_SECONDS = 2.0           # the longest others wait for the first call's headers
POLL_SECONDS = 0.05           # how often a call waiting for a probe or a window looks again
MAX_GOVERNED_RETRIES = 20     # 429s for one call before it is left to the queue-wide pause


@dataclass(frozen=True)
class Cost:
    """What one call takes from each bucket."""

    requests: float = 1.0
    input_tokens: float = 0.0
    output_tokens: float = 0.0

    def of(self, resource: str) -> float:
        return float(getattr(self, resource))


@dataclass(frozen=True)
class Grant:
    """An admitted call: its reservation, and the time it may be sent."""

    grant_id: int
    model: str
    cost: Cost
    slot_at: float
    chars: int = 0


def refill(level: float, at: float, now: float, per_minute: float, capacity: float) -> float:
    """A bucket's level at `now`: refilled continuously, never above its capacity."""
    if level >= capacity:
        return level
    return min(capacity, level + max(now - at, 0.0) * per_minute * RATE_MARGIN / 60.0)


class Governor:
    """One per `sweepq work` process, shared by its threads; the budget is the database's."""

    def __init__(self, queue: Queue, owner: str, *, sleep: Callable[[float], None] = time.sleep,
                 lease_seconds: float = GRANT_LEASE_SECONDS):
        self.queue, self.owner, self._sleep = queue, owner, sleep
        self.lease_seconds = lease_seconds
        self._ratio: dict[str, float] = {}    # model -> input tokens per character seen
        self._freshest: dict[str, float] = {}  # model -> slot of the latest call whose answer
                                               # set the levels (older answers may not raise)
        self._lock = threading.Lock()

    @property
    def clock(self) -> Callable[[], float]:
        return self.queue.clock

    # -- before a call ----------------------------------------------------------

    def estimate(self, model: str, system: str | None, prompt: str, max_tokens: int) -> Grant:
        """The cost to reserve for a call (a Grant not yet admitted: id 0)."""
        chars = len(prompt) + len(system or "")
        with self._lock:
            ratio = self._ratio.get(model)
        per_char = ratio * ESTIMATE_MARGIN if ratio else 1.0 / CHARS_PER_TOKEN
        tokens = math.ceil(chars * per_char) + MESSAGE_OVERHEAD
        return Grant(0, model, Cost(1.0, float(tokens), float(max_tokens)), 0.0, chars)

    def admit(self, wanted: Grant) -> Grant:
        """Block until the call may be sent; return its grant (settle it afterwards)."""
        while True:
            grant = self._try_admit(wanted)
            if grant is not None:
                break
            self._sleep(POLL_SECONDS)
        delay = grant.slot_at - self.clock()
        if delay > 0:
            self._sleep(delay)
        return grant

    def _try_admit(self, wanted: Grant) -> Grant | None:
        """One transaction: a grant with its slot, or None (wait for a probe or a window)."""
        model, cost = wanted.model, wanted.cost
        with self.queue.write() as conn:
            now = self.clock()
            self._expire(conn, now)
            row = conn.execute("SELECT mode, aimd_window, last_slot_at, interval_ewma"
                               " FROM governor_models WHERE model = ?", (model,)).fetchone()
            if row is None:
                conn.execute("INSERT INTO governor_models (model, updated_at) VALUES (?, ?)",
                             (model, now))
                row = ("probe", None, None, None)
            mode, window, last_slot, ewma = row
            in_flight = _in_flight(conn, model)
            if (mode == "probe" and _probing(conn, model, now)) or (
                    mode == "aimd" and window is not None and in_flight >= window):
                return None
            slot = self._reserve(conn, model, cost, now) if mode == "headers" else now
            grant_id = conn.execute(
                "INSERT INTO governor_grants (model, owner, requests, input_tokens,"
                " output_tokens, slot_at, lease_expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (model, self.owner, cost.requests, cost.input_tokens, cost.output_tokens, slot,
                 slot + self.lease_seconds)).lastrowid
            if last_slot is not None:
                gap = max(slot - last_slot, 0.0)
                ewma = gap if ewma is None else 0.9 * ewma + 0.1 * gap
            conn.execute("UPDATE governor_models SET admitted = admitted + 1, updated_at = ?,"
                         " last_slot_at = max(coalesce(last_slot_at, 0), ?), interval_ewma = ?"
                         " WHERE model = ?", (now, slot, ewma, model))
        return Grant(int(grant_id), model, cost, slot, wanted.chars)

    def _reserve(self, conn: sqlite3.Connection, model: str, cost: Cost, now: float) -> float:
        """Take the call's cost from every learned bucket; the time they all hold it."""
        rows = conn.execute("SELECT resource, limit_per_minute, capacity, level, level_at"
                            " FROM governor_limits WHERE model = ?", (model,)).fetchall()
        wait = 0.0
        levels = []
        for resource, per_minute, capacity, level, at in rows:
            level = refill(level, at, now, per_minute, capacity)
            rate = per_minute * RATE_MARGIN / 60.0
            need = min(cost.of(resource), capacity) + min(rate * RESERVE_SECONDS, capacity / 2)
            wait = max(wait, (need - level) / rate)
            levels.append((level - cost.of(resource), now, model, resource))
        conn.executemany("UPDATE governor_limits SET level = ?, level_at = ?"
                         " WHERE model = ? AND resource = ?", levels)
        return now + max(wait, 0.0)

    def _expire(self, conn: sqlite3.Connection, now: float) -> None:
        """Grants whose lease passed belong to a process that died: stop counting them as in
        flight, and give back their output reservation (the call most likely never ended)."""
        for model, output in conn.execute(
                "DELETE FROM governor_grants WHERE lease_expires_at <= ?"
                " RETURNING model, output_tokens", (now,)).fetchall():
            conn.execute("UPDATE governor_limits SET level = min(capacity, level + ?)"
                         " WHERE model = ? AND resource = 'output_tokens'", (output, model))

    # -- after a call -----------------------------------------------------------

    def settle(self, grant: Grant, limits: RateLimits, used: Cost | None) -> None:
        """The call ended (not with a 429): refund the unused reservation, learn the headers.

        `used` is the response's usage; None for a failed call (its request and input are
        kept, its output reservation given back).
        """
        used = used or Cost(grant.cost.requests, grant.cost.input_tokens, 0.0)
        if used.input_tokens and grant.chars:
            self._learn_ratio(grant.model, used.input_tokens / grant.chars)
        with self.queue.write() as conn:
            now = self.clock()
            if _drop_grant(conn, grant):
                _refund(conn, grant, used)
            if limits:
                self._learn(conn, grant, limits, now, refused=False)
            else:   # no headers to pace by (the Claude CLI): concurrency decides until a 429
                conn.execute("UPDATE governor_models SET mode = 'aimd' WHERE model = ?"
                             " AND mode = 'probe'", (grant.model,))
            conn.execute("UPDATE governor_models SET aimd_window = aimd_window + 1.0 / aimd_window"
                         " WHERE model = ? AND mode = 'aimd' AND aimd_window IS NOT NULL",
                         (grant.model,))

    def refused(self, grant: Grant, limits: RateLimits) -> bool:
        """A 429 for this call. True when the headers allow pacing (retry in the next slot);
        False when they are absent: the window halves and the queue-wide pause decides."""
        with self.queue.write() as conn:
            now = self.clock()
            in_flight = _in_flight(conn, grant.model)
            if _drop_grant(conn, grant):
                _refund(conn, grant, Cost(0.0, 0.0, 0.0))   # a refused call costs nothing
            conn.execute("UPDATE governor_models SET refusals = refusals + 1, updated_at = ?"
                         " WHERE model = ?", (now, grant.model))
            if limits:
                self._learn(conn, grant, limits, now, refused=True)
                return True
            conn.execute("UPDATE governor_models SET mode = 'aimd', aimd_window ="
                         " max(1.0, coalesce(aimd_window, ?) / 2.0) WHERE model = ?",
                         (float(in_flight), grant.model))
            return False

    def _learn(self, conn: sqlite3.Connection, grant: Grant, limits: RateLimits, now: float,
               refused: bool) -> None:
        """Rates from `-limit`; levels set from `-remaining`, less what calls admitted after
        this one (sent later, so perhaps not yet seen by the server when it answered) have
        reserved. Calls sent before it were counted in `-remaining` already: subtracting them
        too would count a burst twice and pace a full bucket too slowly.

        The server's count may raise a level as well as lower it, but only from the answer
        to a call sent no earlier than the one that last set it (answers arrive out of order;
        an old one knows less). A 429 only ever lowers it."""
        conn.execute("UPDATE governor_models SET mode = 'headers' WHERE model = ?", (grant.model,))
        with self._lock:
            fresh = grant.slot_at >= self._freshest.get(grant.model, float("-inf"))
            if fresh and not refused:
                self._freshest[grant.model] = grant.slot_at
        others = dict(zip(RESOURCES, conn.execute(
            "SELECT coalesce(sum(requests), 0), coalesce(sum(input_tokens), 0),"
            " coalesce(sum(output_tokens), 0) FROM governor_grants"
            " WHERE model = ? AND slot_at > ?", (grant.model, grant.slot_at)).fetchone(),
            strict=True))
        for resource, bucket in limits.buckets.items():
            row = conn.execute("SELECT level, level_at, capacity FROM governor_limits"
                               " WHERE model = ? AND resource = ?",
                               (grant.model, resource)).fetchone()
            level = None if row is None else refill(row[0], row[1], now, bucket.limit, row[2])
            if bucket.remaining is not None:
                seen = bucket.remaining - others[resource]
                if refused:
                    seen -= TOKEN_ROUNDING if resource != "requests" else 0.0
                    if limits.retry_after and bucket.remaining < grant.cost.of(resource):
                        # Rounded up to whole seconds: the bucket holds the call after ra - 1.
                        rate = bucket.limit * RATE_MARGIN / 60.0
                        seen = min(seen, grant.cost.of(resource)
                                   - rate * max(limits.retry_after - 1.0, 0.0))
                # Only ever lowering it, a burst's calls in flight (counted by the server and
                # reserved here) stayed subtracted for good: a full bucket of 120 at 120 RPM
                # lost 16 s to them (BENCHMARKS.md, section 8).
                level = seen if level is None or (fresh and not refused) else min(level, seen)
            conn.execute(
                "INSERT INTO governor_limits (model, resource, limit_per_minute, capacity,"
                " level, level_at) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (model, resource)"
                " DO UPDATE SET limit_per_minute = excluded.limit_per_minute,"
                " capacity = excluded.capacity, level = excluded.level,"
                " level_at = excluded.level_at",
                (grant.model, resource, bucket.limit, bucket.limit,
                 0.0 if level is None else level, now))

    def _learn_ratio(self, model: str, ratio: float) -> None:
        with self._lock:
            old = self._ratio.get(model)
            self._ratio[model] = ratio if old is None else max(ratio, 0.8 * old + 0.2 * ratio)


def _in_flight(conn: sqlite3.Connection, model: str) -> int:
    return conn.execute("SELECT count(*) FROM governor_grants WHERE model = ?",
                        (model,)).fetchone()[0]


def _probing(conn: sqlite3.Connection, model: str, now: float) -> bool:
    """A first call is out and younger than PROBE_SECONDS: wait for its headers. A slower
    one (a long generation) must not serialise the sweep: then concurrency decides."""
    oldest = conn.execute("SELECT min(slot_at) FROM governor_grants WHERE model = ?",
                          (model,)).fetchone()[0]
    return oldest is not None and now - oldest < PROBE_SECONDS


def _drop_grant(conn: sqlite3.Connection, grant: Grant) -> bool:
    """Remove the grant; False when its lease already expired (it was given back then)."""
    return conn.execute("DELETE FROM governor_grants WHERE grant_id = ?",
                        (grant.grant_id,)).rowcount == 1


def _refund(conn: sqlite3.Connection, grant: Grant, used: Cost) -> None:
    """Give back what the call reserved and did not use (never more than it reserved)."""
    conn.executemany(
        "UPDATE governor_limits SET level = min(capacity, level + ?)"
        " WHERE model = ? AND resource = ?",
        [(max(grant.cost.of(r) - used.of(r), 0.0), grant.model, r) for r in RESOURCES])


def snapshot(queue: Queue) -> list[dict]:
    """Per model: how calls are admitted, the limits learned, the pace and the refusals.

    For `status` and the page; an empty list for a database from before migration 0007.
    """
    if not queue.has_table("governor_models"):
        return []
    now = queue.clock()
    limits: dict[str, dict] = {}
    for row in queue.read("SELECT * FROM governor_limits ORDER BY model, resource"):
        level = refill(row["level"], row["level_at"], now, row["limit_per_minute"],
                       row["capacity"])
        limits.setdefault(row["model"], {})[row["resource"]] = {
            "per_minute": row["limit_per_minute"], "level": round(level, 1)}
    out = []
    for row in queue.read("SELECT m.*, (SELECT count(*) FROM governor_grants AS g"
                          " WHERE g.model = m.model) AS in_flight"
                          " FROM governor_models AS m ORDER BY model"):
        ewma = row["interval_ewma"]
        out.append({"model": row["model"], "mode": row["mode"],
                    "limits": limits.get(row["model"], {}),
                    "pace_per_minute": round(60.0 / ewma, 1) if ewma else None,
                    "window": row["aimd_window"], "in_flight": row["in_flight"],
                    "admitted": row["admitted"], "refusals": row["refusals"]})
    return out
