"""One line per pause event for a `work` nobody watches (cron, systemd, CI).

With no terminal there is no progress bar, and a worker waiting out a weekly
limit would look exactly like a hung one. `PauseLog.tick` runs on the worker's
tick: it writes a line when a pause starts (reason, resume time, message), at
most one every `interval` seconds while it lasts, and one when it ends.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from .queue import Pause, Queue
from .timefmt import format_duration, format_time

WAITING_LOG_INTERVAL = 600.0  # seconds between "still paused" lines


class PauseLog:
    def __init__(self, queue: Queue, emit: Callable[[str], None],
                 interval: float = WAITING_LOG_INTERVAL,
                 clock: Callable[[], float] = time.monotonic):
        self.queue, self.emit, self.interval, self.clock = queue, emit, interval, clock
        self._current: Pause | None = None
        self._last_line = 0.0

    def tick(self) -> None:
        """Look at the pause in force and say what changed (cheap: one indexed read)."""
        pause = self.queue.active_pause()
        if pause is None:
            if self._current is not None:
                self.emit(f"sweepq: pause ended ({self._current.reason}); working again")
                self._current = None
            return
        if self._current is None or pause.pause_id != self._current.pause_id:
            self._current = pause
            self._last_line = self.clock()
            self.emit(f"sweepq: paused ({pause.reason}) {self._until(pause)}"
                      + (f": {pause.message}" if pause.message else ""))
        elif self.clock() - self._last_line >= self.interval:
            self._last_line = self.clock()
            self.emit(f"sweepq: still paused ({pause.reason}) {self._until(pause)}")

    def _until(self, pause: Pause) -> str:
        if pause.resume_at is None:
            return "until `sweepq resume`"
        left = max(pause.resume_at - self.queue.clock(), 0.0)
        return f"until {format_time(pause.resume_at)} (in {format_duration(left)})"
