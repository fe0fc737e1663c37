"""Reading and writing the durations and times people type: `90s`, `30m`, `1h30m`, `14:00`."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from . import bounds
from .errors import SweepqError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)([smhd])")


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


def parse_until(text: str, now: float) -> float:
    """An ISO 8601 time (`2026-11-26T03:00`, `…Z`) or `HH:MM` (its next occurrence, local)."""
    text = text.strip()
    clock = re.fullmatch(r"(\d{1,2}):(\d{2})", text)
    current = datetime.fromtimestamp(now).astimezone()
    if clock:
        hour, minute = int(clock.group(1)), int(clock.group(2))
        if hour > 23 or minute > 59:
            raise SweepqError(f"cannot read time {text!r}: hours 0-23, minutes 0-59")
        at = current.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if at <= current:
            at += timedelta(days=1)
        return at.timestamp()
    try:
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SweepqError(f"cannot read time {text!r}: use HH:MM or an ISO time such as "
                          "2026-11-26T03:00Z") from None
    if at.tzinfo is None:
        at = at.astimezone()
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
