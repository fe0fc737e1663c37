"""The usage record: tokens, cache tokens and cost, of one model call or of many added up.

One type for every place that holds it: a backend's `Reply`, a journaled `Call`
and a job's `Result`. They are never copied field by field; what the database
stores is `columns(usage)` in the order of `COLUMNS`, the same five columns in
the `calls` and `results` tables (and NULL in all five when there is no record:
a failed call, an imported historical row).

A cost of None means unknown: a backend that reports no cost before pricing, a
model with no price. Unknown stays unknown when added: a job with one unpriced
call has no cost, rather than a cost that looks complete and is too low.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

COLUMNS = ("input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
           "cost_usd")


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float | None = None       # None: unknown

    def __add__(self, other: Usage) -> Usage:
        cost = (None if self.cost_usd is None or other.cost_usd is None
                else self.cost_usd + other.cost_usd)
        return Usage(self.input_tokens + other.input_tokens,
                     self.output_tokens + other.output_tokens,
                     self.cache_read_tokens + other.cache_read_tokens,
                     self.cache_write_tokens + other.cache_write_tokens, cost)

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Usage:
        """The record in a `calls` or `results` row; a NULL token count reads as 0."""
        return cls(*(row[name] or 0 for name in COLUMNS[:4]), cost_usd=row["cost_usd"])


# The sum of no calls: nothing spent, and that is known.
NOTHING = Usage(cost_usd=0.0)


def columns(usage: Usage | None) -> tuple[Any, ...]:
    """The values of `COLUMNS` for a row: the record's fields, or all NULL without one."""
    if usage is None:
        return (None,) * len(COLUMNS)
    return (usage.input_tokens, usage.output_tokens, usage.cache_read_tokens,
            usage.cache_write_tokens, usage.cost_usd)
