"""The live display of `sweepq work` on a terminal (rich draws it): a progress line, and
under it one line for each wait (a pause, batches out, leases of other workers; `waits`).

It shows `report.status` of the sweep, so it counts the work of every process on
the queue, not only this one, and reads the same indexed counts as `sweepq status`.
"""

from __future__ import annotations

import time
from types import TracebackType

from . import fmt, report, waits
from .queue import Queue, Sweep
from .timefmt import format_duration

REFRESH_SECONDS = 1.0
BAR_WIDTH = 30


class Progress:
    def __init__(self, queue: Queue, sweep: Sweep, enabled: bool, own: str | None = None):
        """`own`: this process's worker name (`HOST:PID`), whose jobs are not a wait."""
        self.queue, self.sweep, self.enabled = queue, sweep, enabled
        self.own = own
        self._live = None
        self._last = 0.0

    def __enter__(self) -> Progress:
        if self.enabled:
            from rich.console import Console
            from rich.live import Live
            from rich.text import Text  # plain text: a message's [brackets] are not markup

            self._live = Live(Text(self.text()), console=Console(stderr=True), auto_refresh=False,
                              transient=False)
            self._live.__enter__()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._live is not None:
            from rich.text import Text

            self._live.update(Text(self.line()), refresh=True)   # the waits are over: one line
            self._live.__exit__(exc_type, exc, tb)

    def update(self) -> None:
        now = time.monotonic()
        if self._live is None or now - self._last < REFRESH_SECONDS:
            return
        self._last = now
        from rich.text import Text

        self._live.update(Text(self.text()), refresh=True)

    def text(self) -> str:
        """The progress line, then each wait indented under it."""
        data = report.status(self.queue, self.sweep)
        held = waits.leases(self.queue, self.sweep.name, self.own)
        return "\n".join([self.line(data), *(f"  {w}" for w in waits.lines(data, held))])

    def line(self, data: dict | None = None) -> str:
        data = data or report.status(self.queue, self.sweep)
        done, total = data["states"]["done"], data["total"]
        bar, rate = fmt.bar(done, total, BAR_WIDTH), fmt.pct(data["pass_rate"])
        pace = data["pace_per_minute"] or 0.0
        eta = "-" if data["eta_seconds"] is None else format_duration(data["eta_seconds"])
        return (f"{self.sweep.name} {bar} {done}/{total}  pass {rate}  {pace:.0f}/min  "
                f"ETA {eta}  errors {data['states']['error']}")
