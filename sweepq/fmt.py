"""How values read in sweepq's text and on its page: one home for each presentation helper.

The terminal views (`views`, the progress line) print a missing value as `-`;
the page prints `–` (it passes `none=page.DASH`). Times and durations are `timefmt`'s.
"""

from __future__ import annotations

import html
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

BAR_WIDTH = 20


def pct(value: float | None, digits: int = 1, none: str = "-") -> str:
    """A fraction as a percentage: `0.724` → `72.4%`. Halves round up, from the shortest
    decimal of the value: `status` (a rate kept to 4 digits, 0.2525) and `summary` (the
    exact 0.252525…) then print the same 25.3%, where float formatting gave 25.2%."""
    if value is None:
        return none
    shown = Decimal(repr(value)).scaleb(2).quantize(Decimal(1).scaleb(-digits), ROUND_HALF_UP)
    return f"{shown}%"


def ci_text(low: float | None, high: float | None, none: str = "-") -> str:
    """`72.4–85.1%`, the form the summary table and cards print."""
    return none if low is None or high is None else f"{100 * low:.1f}–{100 * high:.1f}%"


def usd(value: float | None, none: str = "-") -> str:
    """Dollars: cents from $1 up, four decimals below (a sweep of cheap calls)."""
    if value is None:
        return none
    return f"${value:,.2f}" if value >= 1 else f"${value:.4f}"


PRICE_UNKNOWN = "price unknown"


def cost(value: float | None, unpriced: bool, none: str = "-") -> str:
    """An arm's dollars, honest about calls with no price (`unpriced`: a model missing
    from `models.PRICES`, such as a vendor's): `price unknown` when no result has a cost,
    never a misleading $0; `≥$x` when some do, since their sum is then a floor."""
    if not unpriced:
        return usd(value, none)
    return PRICE_UNKNOWN if value is None else f"≥{usd(value)}"


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """A text progress bar: `██████░░░░`; never full before everything is done, never
    empty once anything is."""
    filled = round(width * done / total) if total else 0
    if done and not filled:
        filled = 1
    if total and done < total and filled == width:
        filled = width - 1
    return "█" * filled + "░" * (width - filled)


def format_p(p: float) -> str:
    """A p-value as researchers print it: 0.031, 0.0004, <1e-6."""
    if p >= 0.001:
        return f"{p:.3f}"
    if p >= 1e-6:
        return f"{p:.1e}"
    return "<1e-6"


def esc(value: Any) -> str:
    """HTML-escape anything for text or a quoted attribute (None is empty)."""
    return html.escape("" if value is None else str(value), quote=True)


def count(n: int, word: str, plural: str | None = None) -> str:
    """`1 arm`, `2 arms`, `1,200 batch rounds`: a count with its noun agreeing."""
    return f"{n:,} {word if n == 1 else plural or word + 's'}"
