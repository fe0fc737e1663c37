"""The live progress line of `sweepq work` on a terminal (rich draws it).

It reads the sweep's counts from the database, so it shows the work of every
process on the queue, not only this one.
"""

from __future__ import annotations

import time
from collections import deque
from types import TracebackType

from .queue import Queue, Sweep
from .timefmt import format_duration

REFRESH_SECONDS = 1.0
PACE_WINDOW_SECONDS = 600.0


class Progress:
    def __init__(self, queue: Queue, sweep: Sweep, enabled: bool):
        self.queue, self.sweep, self.enabled = queue, sweep, enabled
        self._live = None
        self._last = 0.0
        self._samples: deque[tuple[float, int]] = deque()

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live

            self._live = Live(self.line(), console=Console(stderr=True), auto_refresh=False,
                              transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            self._live.update(self.line(), refresh=True)
            self._live.__exit__(exc_type, exc, tb)

    def update(self) -> None:
        now = time.monotonic()
        if self._live is None or now - self._last < REFRESH_SECONDS:
            return
        self._last = now
        self._live.update(self.line(), refresh=True)

    def line(self) -> str:
        counts = self.queue.counts(self.sweep.name)
        total = sum(counts.values())
        done = counts["done"]
        passed = self.queue.read(
            "SELECT coalesce(sum(r.passed), 0) AS n FROM results AS r JOIN jobs AS j"
            " USING (job_id) WHERE j.sweep = ?", (self.sweep.name,))[0]["n"]
        now = time.monotonic()
        self._samples.append((now, done))
        while self._samples and now - self._samples[0][0] > PACE_WINDOW_SECONDS:
            self._samples.popleft()
        first_at, first_done = self._samples[0]
        per_minute = (done - first_done) / (now - first_at) * 60 if now > first_at else 0.0
        left = counts["pending"] + counts["running"]
        eta = format_duration(left / per_minute * 60) if per_minute > 0 else "-"
        width = 30
        filled = int(width * done / total) if total else width
        bar = "█" * filled + "░" * (width - filled)
        rate = f"{100 * passed / done:.1f}%" if done else "-"
        return (f"{self.sweep.name} {bar} {done}/{total}  pass {rate}  "
                f"{per_minute:.0f}/min  ETA {eta}  errors {counts['error']}")
