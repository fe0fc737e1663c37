"""The governor's state for people: a few lines of `status` and a section of the page.

Why: a sweep at the rate limit runs exactly as fast as the limit allows, and whoever
watches it must see that (the limits learned, the pace kept, the refusals met) rather
than guess whether sweepq or the account is the bottleneck.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_NAMES = {"requests": "requests", "input_tokens": "input tok", "output_tokens": "output tok"}


def describe(entry: dict[str, Any]) -> str:
    """One line per model: `model  paced from headers: 120 requests/min, …; pace 118/min; 1
    refusal in 300 calls`."""
    limits = ", ".join(f"{v['per_minute']:,.0f} {_NAMES.get(k, k)}/min"
                       for k, v in entry["limits"].items())
    if entry["mode"] == "headers":
        how = f"paced from headers: {limits}"
    elif entry["mode"] == "aimd":
        window = "no cap" if entry["window"] is None else f"{entry['window']:.1f} in flight"
        how = f"no rate-limit headers, AIMD window {window}"
    else:
        how = "learning the limits (first call in flight)"
    pace = "" if entry["pace_per_minute"] is None else f"; pace {entry['pace_per_minute']:,.0f}/min"
    refusals = entry["refusals"]
    return (f"{entry['model']}  {how}{pace}; {refusals:,} refusal{'s' * (refusals != 1)} "
            f"(429) in {entry['admitted']:,} calls")


def status_lines(entries: list[dict[str, Any]]) -> list[str]:
    """The `status` view's rate-limit lines (none before the first governed call)."""
    return ["", "  rate limits:"] + [f"    {describe(e)}" for e in entries] if entries else []


def html_section(entries: list[dict[str, Any]], esc: Callable[[Any], str]) -> str:
    """The page's rate-limit section: one list item per model."""
    if not entries:
        return ""
    items = "".join(f"<li>{esc(describe(e))}</li>" for e in entries)
    return f'<section class="governor"><h2>Rate limits</h2><ul>{items}</ul></section>'
