"""Range checks for every number a person or a file hands sweepq.

One place decides what a sane duration or count is, so the CLI, the library
and the importer refuse the same values with the same one-line message, before
anything is written. A value that is not finite, not of the right type, or
outside its range raises `SweepqError` naming the value and the range (its
`option` is `name`, which the CLI replaces with its flag).
"""

from __future__ import annotations

import math
from typing import Any

from .errors import SweepqError

MAX_DURATION_SECONDS = 366 * 86400.0     # a pause, a wait, a lease: at most a year
MAX_ATTEMPTS = 1_000
MAX_CONCURRENCY = 512
MAX_N_PER_SUBTASK = 10_000_000
MAX_SUB_CALLS = 1_000_000
# Imported wall times need only be finite and not negative: historical files hold any float
# json wrote (the round-trip tests keep 1e22 byte for byte), and export must give it back.
MAX_WALL_SECONDS = math.inf


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def duration(name: str, value: Any, minimum: float = 0.0,
             maximum: float = MAX_DURATION_SECONDS) -> float:
    """A finite number of seconds in [minimum, maximum]; `name` is how the user wrote it."""
    if not _is_number(value) or not math.isfinite(value):
        raise SweepqError(f"{name} must be a finite number of seconds, not {value!r}", name)
    if not minimum <= value <= maximum:
        raise SweepqError(f"{name} must be between {_secs(minimum)} and {_secs(maximum)}, "
                          f"not {_secs(value)}", name)
    return float(value)


def count(name: str, value: Any, minimum: int = 0, maximum: int = 2**62) -> int:
    """An integer (not a bool, not a float) in [minimum, maximum]."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise SweepqError(f"{name} must be a whole number, not {value!r}", name)
    if not minimum <= value <= maximum:
        raise SweepqError(f"{name} must be between {minimum} and {maximum}, not {value}", name)
    return value


def timestamp(name: str, value: Any, now: float,
              horizon: float = MAX_DURATION_SECONDS) -> float:
    """A unix time no further than `horizon` seconds from `now`, either way."""
    if not _is_number(value) or not math.isfinite(value):
        raise SweepqError(f"{name} must be a finite time, not {value!r}", name)
    if abs(value - now) > horizon:
        raise SweepqError(f"{name} is more than {_secs(horizon)} away: pass a nearer time", name)
    return float(value)


def _secs(value: float) -> str:
    if 86400 <= value <= 1e9 and value == int(value) and int(value) % 86400 == 0:
        return f"{int(value) // 86400}d"
    return f"{value:g}s"
