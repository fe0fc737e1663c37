"""The one exception sweepq raises on purpose for the user.

`SweepqError` is a mistake the user can fix: the CLI prints its message on one
line and exits non-zero, never with a traceback. What a failed model call means
lives in `sweepq.failures`; the time arithmetic in `sweepq.timefmt`.
"""

from __future__ import annotations


class SweepqError(Exception):
    """A user-fixable problem; the message names the problem and the fix, on one line.

    `option` is the library's name for the value at fault (a parameter name such as
    `max_attempts`), which the message starts with; the CLI puts its flag there
    (`--max-attempts`), so the library never names a flag.
    """

    exit_code = 1

    def __init__(self, message: str, option: str | None = None):
        super().__init__(message)
        self.option = option
