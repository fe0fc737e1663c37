"""Fault injection: scripted replies, the credit and spend-limit states, random faults.

Random faults (statuses, connection resets) are drawn from one seeded `random.Random`:
one draw per request that reaches the random stage, so a seed and a request order always
give the same fault sequence. Every method here runs under the engine's lock.

Order for a request that passed validation: credit exhausted (400) > spend-limit window
(the documented 429 or 400 of `FakeConfig.spend_limit`) > random reset/status faults.
"""

from __future__ import annotations

import math
import random
import time
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime

from . import documented
from .config import FakeConfig
from .wire import Reply, dumps, error_reply, request_id

Fault = tuple[str, Reply]      # (the stats key it counts under, the reply)


class Faults:
    """The fault state of one fake: its script, its spend-limit window, its fault RNG."""

    def __init__(self, config: FakeConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.queued: deque[dict] = deque()
        self.window: tuple[float, float] | None = None     # (start, end), monotonic
        self.window_done = False

    # -- scripted replies -----------------------------------------------------

    def script(self, responses: list[dict]) -> None:
        """Queue exact responses for the next /v1/messages requests, in order.

        Each is {"status": int, "headers": {...}, "body": <json>} or {"reset": true}.  A
        missing body gets the usual one for that status (a generated answer for 2xx).
        `"epoch_headers": {name: seconds}` adds headers holding the unix second that many
        seconds after the reply is made (a reset time that cannot pass before it is sent)."""
        for r in responses:
            if not isinstance(r, dict) or not (r.get("reset") or isinstance(r.get("status"), int)):
                raise ValueError(f"scripted response needs an int 'status' or 'reset': {r!r}")
        self.queued.extend(responses)

    def next_scripted(self) -> dict | None:
        return self.queued.popleft() if self.queued else None

    @staticmethod
    def scripted_reply(s: dict, generate: Callable[[], Reply]) -> Fault:
        """The reply a script entry asks for; `generate` answers a 2xx without a body."""
        if s.get("reset"):
            return "reset", Reply(0, reset=True)
        status = int(s["status"])
        hdrs = [(str(k), str(v)) for k, v in (s.get("headers") or {}).items()]
        hdrs += [(str(k), str(math.ceil(time.time() + float(v))))
                 for k, v in (s.get("epoch_headers") or {}).items()]
        key = "ok" if 200 <= status < 300 else str(status)
        if "body" in s:
            b = s["body"]
            reply = Reply(status, b.encode() if isinstance(b, str) else dumps(b), hdrs)
            if not any(k.lower() == "request-id" for k, _ in hdrs):
                reply.headers.append(("request-id", request_id()))
            return key, reply
        if 200 <= status < 300:
            reply = generate()
            if reply.status < 300:          # a valid request: the scripted status and headers
                reply.status = status
                reply.headers += hdrs
            return key, reply
        return key, error_reply(status, headers=hdrs)

    # -- configured faults ----------------------------------------------------

    def draw(self, successes_total: int) -> Fault | None:
        """The fault this request meets, if any."""
        return (self._credit() or self._spend_limit(successes_total) or self._random())

    def _credit(self) -> Fault | None:
        if not self.config.credit_exhausted:
            return None
        return "credit", error_reply(400, "invalid_request_error", documented.CREDIT_MESSAGE)

    def _spend_limit(self, successes_total: int) -> Fault | None:
        """The window of a spent limit: it opens after `exhaust_after` successes, once.

        The regain time in the message is the window's end rounded up to the minute, as
        the real API rounds (it states minutes); no retry-after header, as documented.
        """
        cfg = self.config
        if cfg.exhaust_after is None or self.window_done:
            return None
        now = time.monotonic()
        if self.window is None:
            if successes_total < cfg.exhaust_after:
                return None
            self.window = (now, now + cfg.exhaust_for)
        if now >= self.window[1]:
            self.window_done = True
            return None
        end_wall = time.time() + (self.window[1] - now)
        regain = datetime.fromtimestamp(math.ceil(end_wall / 60.0) * 60, UTC)
        status, etype, message, details = documented.spend_limit_error(cfg.spend_limit, regain)
        return "exhausted", error_reply(status, etype, message, details=details)

    def _random(self) -> Fault | None:
        cfg = self.config
        if not cfg.faults and cfg.reset_rate <= 0:
            return None
        u = self.rng.random()
        edge = cfg.reset_rate
        if u < edge:
            return "reset", Reply(0, reset=True)
        for status, rate in cfg.faults.items():
            edge += rate
            if u < edge:
                return str(status), self._status_fault(status)
        return None

    def _status_fault(self, status: int) -> Reply:
        headers: list[tuple[str, str]] = []
        if status == 429:
            wait = self.config.retry_after
            if wait is not None:
                headers.append(("retry-after", f"{wait:g}"))
            headers += documented.ratelimit_headers(
                time.time(), exhausted=True, reset_in=wait if wait is not None else 1.0)
        elif status in (500, 502, 503, 504, 529):
            headers.append(("x-should-retry", "true"))
        return error_reply(status, headers=headers)
