"""Times and durations: what people type (`90s`, `14:00`), what servers send (retry-after,
RFC 3339 resets), and the DST-correct arithmetic both need.

Every "next 03:00" in sweepq goes through `next_occurrence`, which compares instants in
UTC: on a night the clocks change, adding a day to a wall-clock time is an hour off.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

# zoneinfo and email.utils are imported where they are used: reading the time of a
# status or a lease needs neither, and both cost process start-up (BENCHMARKS.md).

from . import bounds
from .errors import SweepqError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


# -- zones and wall clocks -------------------------------------------------------------------

def local_zone() -> ZoneInfo:
    """The machine's zone as a `ZoneInfo` ($TZ, then /etc/localtime), UTC when unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    found = zone(os.environ.get("TZ", "").lstrip(":"))
    if found is not None:
        return found
    try:
        target = os.path.realpath("/etc/localtime")
        marker = "/zoneinfo/"
        if marker in target:
            return ZoneInfo(target.split(marker, 1)[1])
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def zone(name: str | None) -> ZoneInfo | None:
    """The IANA zone `name`, or None when it is empty or unknown."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def next_occurrence(hour: int, minute: int, tz: ZoneInfo, now: datetime,
                    month: int | None = None, day: int | None = None) -> datetime:
    """The first wall-clock `hour:minute` in `tz` strictly after `now` (aware, in `tz`).

    With `month` and `day`, the first such date and time (this year, or a later
    one if it has passed). Comparisons are made in UTC, so DST is honoured: an
    ambiguous time (clocks going back) resolves to its first occurrence still to
    come, a non-existent one (clocks going forward) to the same offset as before
    the change (2:30 on a spring-forward night is 3:30 daylight time).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=tz)
    now_utc = now.astimezone(UTC)
    local_today = now.astimezone(tz).date()
    if month is None and day is None:
        days: Iterator[date] = (local_today + timedelta(days=n) for n in range(-1, 3))
    elif month is not None and day is not None:
        days = _yearly(local_today.year - 1, month, day)
    else:
        raise ValueError("next_occurrence: give both month and day, or neither")
    for d in days:
        for instant in wall_instants(d, hour, minute, tz):
            if instant > now_utc:
                return instant.astimezone(tz)
    raise AssertionError("unreachable: some occurrence lies ahead")  # pragma: no cover


def _yearly(first_year: int, month: int, day: int) -> Iterator[date]:
    for year in range(first_year, first_year + 10):  # Feb 29 needs up to 8 years
        try:
            yield date(year, month, day)
        except ValueError:
            continue


def wall_instants(d: date, hour: int, minute: int, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the wall clock in `tz` reads `d hour:minute`."""
    wall = datetime.combine(d, dtime(hour, minute), tzinfo=tz)
    first = wall.replace(fold=0).astimezone(UTC)
    second = wall.replace(fold=1).astimezone(UTC)
    if first < second:  # ambiguous (clocks went back): it happens twice
        return [first, second]
    return [first]  # normal, or non-existent (fold=0 keeps the pre-change offset)


def first_of_next_month_utc(now: float) -> float:
    """00:00 UTC on the 1st of the month after `now`: when monthly API caps reset."""
    t = datetime.fromtimestamp(now, tz=UTC)
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


# -- what servers send -------------------------------------------------------------------------

def parse_rfc3339(value: str) -> float | None:
    """Unix seconds of an RFC 3339 time (naive = UTC), None when unreadable."""
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def retry_after(headers: Any, now: float) -> float | None:
    """Seconds to wait from `retry-after-ms` / `retry-after` (seconds or an HTTP-date)."""
    if headers is None:
        return None
    seconds = _non_negative(headers.get("retry-after-ms"), 1000.0)
    if seconds is not None:
        return seconds
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _non_negative(raw, 1.0)
    if seconds is not None:
        return seconds
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


def _non_negative(raw: str | None, per_second: float) -> float | None:
    if raw is None:
        return None
    try:
        value = float(raw) / per_second
    except ValueError:
        return None
    return value if value >= 0 else None


# -- what people type --------------------------------------------------------------------------

def parse_duration(text: str, name: str = "duration",
                   maximum: float = bounds.MAX_DURATION_SECONDS) -> float:
    """`90`, `90s`, `30m`, `1h30m`, `2d` → seconds, at most `maximum` (a year by default).

    `name` is the option the text came from, for the refusal.
    """
    text = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return bounds.duration(name, float(text), maximum=maximum)
    parts = _DURATION.findall(text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise SweepqError(f"cannot read {name} {text!r}: use e.g. 90s, 30m, 1h30m or 2d")
    return bounds.duration(name, sum(float(n) * _UNITS[u] for n, u in parts), maximum=maximum)


def parse_until(text: str, now: float, tz: ZoneInfo | None = None) -> float:
    """An ISO 8601 time (`2026-11-26T03:00`, `…Z`) or `HH:MM` (its next occurrence, local).

    `HH:MM` goes through `next_occurrence`, so `--until 03:00` on the night clocks
    go back or forward means the 03:00 the wall clock will show, not `now + 1 day`.
    """
    text = text.strip()
    tz = tz or local_zone()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        if hour > 23 or minute > 59:
            raise SweepqError(f"cannot read time {text!r}: hours 0-23, minutes 0-59")
        return next_occurrence(hour, minute, tz, datetime.fromtimestamp(now, tz=UTC)).timestamp()
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SweepqError(f"cannot read time {text!r}: use HH:MM or an ISO time such as "
                          "2026-11-26T03:00Z") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=tz)
    return at.timestamp()


def format_duration(seconds: float) -> str:
    """3725 → `1h02m`; 65 → `1m05s`; 4 → `4s`."""
    seconds = max(int(round(seconds)), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 24:
        return f"{hours // 24}d{hours % 24:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def format_time(at: float) -> str:
    """A unix time as local ISO, to the second (or a plain word for a time no calendar holds)."""
    try:
        return datetime.fromtimestamp(at).astimezone().isoformat(timespec="seconds")
    except (OverflowError, ValueError, OSError):
        return "an impossible time"


def clock_text(at: float, now: float | None = None) -> str:
    """`19:58:18` on the day of `now`; `Nov 26 03:00` on another day (local time).

    A time no calendar holds (a pause edited by hand to 1e300) prints as such,
    rather than failing the whole status view.
    """
    try:
        when = datetime.fromtimestamp(at).astimezone()
    except (OverflowError, ValueError, OSError):
        return "an impossible time (see `sweepq check`)"
    if now is not None and when.date() != datetime.fromtimestamp(now).astimezone().date():
        return when.strftime("%b %d %H:%M")
    return when.strftime("%H:%M:%S")
