"""What prompt caching did in a sweep: tokens read from and written to the cache, per arm.

Why: a few-shot sweep's cost depends on how often its repeated prefix was read from the
cache (0.1x the input price) rather than sent again; `summary` (text, `--json`) and the
page say so beside the USD, which already prices every cache token (models.price).
"""

from __future__ import annotations

from typing import Any

from .queue import Queue
from .records import Sweep

_BY_ARM = ("SELECT j.arm AS arm, coalesce(sum(r.input_tokens), 0) AS input,"
           " coalesce(sum(r.cache_read_tokens), 0) AS read,"
           " coalesce(sum(r.cache_write_tokens), 0) AS write"
           " FROM results AS r JOIN jobs AS j USING (job_id)"
           " WHERE j.sweep = ? AND j.state = 'done' GROUP BY j.arm")


def by_arm(queue: Queue, sweep: Sweep) -> dict[str, dict[str, Any]]:
    """arm -> {read_tokens, write_tokens, hit_rate}: hit_rate is the share of the arm's
    input tokens read from the cache (None when it sent none)."""
    out = {}
    for row in queue.read(_BY_ARM, (sweep.name,)):
        total = row["input"] + row["read"] + row["write"]
        out[row["arm"]] = {"read_tokens": row["read"], "write_tokens": row["write"],
                           "hit_rate": round(row["read"] / total, 4) if total else None}
    return out


def note(arms: list[dict[str, Any]]) -> str | None:
    """The summary's sentence on the prompt cache; None when nothing was cached."""
    caches = [a.get("cache") or {} for a in arms]
    read = sum(c.get("read_tokens", 0) for c in caches)
    write = sum(c.get("write_tokens", 0) for c in caches)
    if not read and not write:
        return None
    rates = ", ".join(f"{a['arm']} {100 * a['cache']['hit_rate']:.0f}%" for a in arms
                      if a.get("cache") and a["cache"]["hit_rate"] is not None)
    return (f"prompt cache: {read:,} input tokens read from it (0.1x price), {write:,} "
            f"written (1.25x, 2x for 1h); share of input read: {rates}.")
