"""Message batches for people: what `status`, the page and `sweepq batches` show.

Why: a batch takes hours and is paid for once submitted; whoever watches a sweep must
see which batches are out (id, counts by state, age, expected end) and be able to
cancel one, without reading the `batches` table by hand.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .queue import Queue

_COLUMNS = ("batch_key, batch_id, sweep, state, requests, processing, succeeded, errored,"
            " canceled, expired, price_factor, created_at, submitted_at, expires_at,"
            " ended_at, ingested_at")


def rows(queue: Queue, sweep: str | None = None, open_only: bool = False) -> list[dict]:
    """The batches (of one sweep, or all), newest first; none in a database before them."""
    if not queue.has_table("batches"):
        return []
    where = ["1"] + (["sweep = :sweep"] if sweep else []) + \
        (["state IN ('prepared', 'submitted')"] if open_only else [])
    return queue.read(f"SELECT {_COLUMNS} FROM batches WHERE {' AND '.join(where)}"
                      " ORDER BY created_at DESC", {"sweep": sweep})


def describe(row: dict[str, Any], now: float) -> str:
    """`msgbatch_…  submitted  1,200 requests: 1,200 processing; age 3m, ends by 14:02`."""
    counts = ", ".join(f"{row[k]:,} {k}" for k in
                       ("processing", "succeeded", "errored", "canceled", "expired") if row[k])
    age = now - row["created_at"]
    ends = ("" if row["expires_at"] is None or row["ended_at"] is not None
            else f", ends by {row['expires_at'] - now:,.0f}s from now")
    return (f"{row['batch_id'] or row['batch_key'] + ' (not yet sent)'}  {row['state']}  "
            f"{row['requests']:,} requests{': ' + counts if counts else ''}; "
            f"age {age:,.0f}s{ends}")


def price_note(price: dict[str, Any] | None) -> str | None:
    """The summary's sentence on costs bought at the batch price (`summary`'s
    `batch_price`), or None when every cost is at the live price."""
    if not price:
        return None
    return (f"USD: {price['at_batch_price']:,} of {price['calls']:,} paid calls at the "
            f"Message Batches price ({price['price_factor']}x live).")


def status_lines(entries: list[dict[str, Any]], now: float) -> list[str]:
    """The `status` view's batch lines (none when no batch is out)."""
    return ["", "  batches in flight:"] + [f"    {describe(e, now)}" for e in entries] \
        if entries else []


def html_section(entries: list[dict[str, Any]], now: float, esc: Callable[[Any], str]) -> str:
    """The page's batches section: one list item per batch in flight."""
    if not entries:
        return ""
    items = "".join(f"<li>{esc(describe(e, now))}</li>" for e in entries)
    return f'<section class="batches"><h2>Batches in flight</h2><ul>{items}</ul></section>'
