"""Pauses, queue-wide or scoped, and the arms a scoped pause holds back
(`pauses`, `arm_scopes`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import bounds
from ..records import Pause
from ..redact import mask
from ..storetext import store
from .claim_sql import open_pause, sane_pause
from .database import Database


class Pauses(Database):
    """Pausing and resuming every worker, or the arms of one scope."""

    def pause(self, resume_at: float | None, reason: str, message: str | None = None,
              set_by: str = "user", scope: str | None = None) -> Pause:
        """Pause every worker until `resume_at` (None: until `resume`).

        With a `scope` (a provider that ran out), only the arms that need it are held
        back (`note_scope`); the pause returned is the one in force for that scope.

        A longer pause wins: a shorter one is recorded but never shortens the
        active pause. Returns the pause now in force (this one, if it already ran
        out while waiting for the lock).

        `created_at` is read inside the write transaction: it is after every claim
        committed before the pause, and before every claim that can see it. A
        claim between the failure that asked for the pause and this row is
        legitimate; one after it is impossible.
        """
        if resume_at is not None:
            bounds.timestamp("the pause's end", resume_at, self.clock())
        message = None if message is None else store(mask(message))
        with self.write() as conn:
            now = self.clock()
            # Pauses that ran out are closed here, so the claim's check stays tiny.
            conn.execute("UPDATE pauses SET cleared_at = resume_at"
                         " WHERE cleared_at IS NULL AND resume_at <= ?", (now,))
            pause_id = conn.execute(
                "INSERT INTO pauses (resume_at, reason, message, set_by, created_at, scope)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                (resume_at, reason, message, set_by, now, scope)).lastrowid
        return self.active_pause(scope) or Pause(pause_id, resume_at, reason, message, set_by,
                                                 scope)

    def resume(self) -> int:
        """Clear every active pause; return how many were cleared."""
        now = self.clock()
        with self.write() as conn:
            return conn.execute(f"UPDATE pauses SET cleared_at = :now WHERE {open_pause()}",
                                {"now": now}).rowcount

    def active_pause(self, scope: str | None = None) -> Pause | None:
        """The pause in force now for a call to `scope`: queue-wide pauses and that scope's
        (None: queue-wide only), the one that ends last (no end beats any end). A pause
        with impossible times is reported once and ignored (`bad_pauses`)."""
        self._warn_bad_pauses()
        rows = self.read(
            "SELECT pause_id, resume_at, reason, message, set_by, scope FROM pauses"
            f" WHERE {open_pause()} AND (scope IS NULL OR scope = :scope) AND {sane_pause()}"
            " ORDER BY resume_at IS NULL DESC, resume_at DESC LIMIT 1",
            {"now": self.clock(), "scope": scope})
        return Pause(**rows[0]) if rows else None

    def bad_pauses(self) -> list[dict[str, Any]]:
        """Open pauses whose times are impossible (a hand edit: resume_at Inf or 1e300, an
        end more than a year after the start): pause_id, resume_at, created_at."""
        return self.read("SELECT pause_id, resume_at, created_at FROM pauses"
                         f" WHERE cleared_at IS NULL AND NOT {sane_pause()}")

    def _warn_bad_pauses(self) -> None:
        """One warning line per bad pause, once per process: it is ignored, not obeyed."""
        for row in self.bad_pauses():
            if row["pause_id"] not in self._warned:
                self._warned.add(row["pause_id"])
                self.warn(f"pause {row['pause_id']} has impossible times (resume_at "
                          f"{row['resume_at']!r}, created_at {row['created_at']!r}): ignored; "
                          "`sweepq resume` clears it")

    def drop_bad_pauses(self) -> int:
        """Close the open pauses with impossible times (reported first): the claim obeys
        every open pause, so a worker closes these rather than wait for ever."""
        self._warn_bad_pauses()
        with self.write() as conn:
            return conn.execute(f"UPDATE pauses SET cleared_at = ? WHERE cleared_at IS NULL"
                                f" AND NOT {sane_pause()}", (self.clock(),)).rowcount

    def open_pauses(self) -> list[Pause]:
        """Every pause in force, queue-wide first, then one per scope (the latest ending)."""
        self._warn_bad_pauses()
        rows = self.read(
            "SELECT pause_id, resume_at, reason, message, set_by, scope FROM pauses"
            f" WHERE {open_pause()} AND {sane_pause()}"
            " ORDER BY scope IS NOT NULL, scope, resume_at IS NULL DESC, resume_at DESC",
            {"now": self.clock()})
        latest: dict[str | None, Pause] = {}
        for row in rows:
            latest.setdefault(row["scope"], Pause(**row))
        return list(latest.values())

    def note_scope(self, sweep: str, arm: str, scope: str) -> None:
        """Record that `arm` needs `scope`: while a pause of that scope is open, the
        claim skips the arm's jobs."""
        with self.write() as conn:
            conn.execute("INSERT OR IGNORE INTO arm_scopes (sweep, arm, scope, learned_at)"
                         " VALUES (?, ?, ?, ?)", (sweep, arm, scope, self.clock()))

    def held_back(self, sweep: str) -> dict[str, Pause]:
        """The sweep's arms held back by a scoped pause, each with the pause that holds it
        (the one ending last)."""
        now = self.clock()
        rows = self.read(
            "SELECT a.arm, p.pause_id, p.resume_at, p.reason, p.message, p.set_by, p.scope"
            " FROM arm_scopes AS a JOIN pauses AS p ON p.scope = a.scope"
            f" WHERE a.sweep = :sweep AND {open_pause('p.')} AND {sane_pause('p.')}"
            " ORDER BY p.resume_at IS NULL, p.resume_at", {"sweep": sweep, "now": now})
        return {row.pop("arm"): Pause(**row) for row in rows}

    def unfinished_except(self, sweep: str, arms: Iterable[str]) -> int:
        """Pending or running jobs of the sweep in arms other than `arms`."""
        arms = list(arms)
        marks = ", ".join("?" * len(arms)) or "NULL"
        return self.rows(f"SELECT count(*) FROM jobs WHERE sweep = ? AND state IN"
                         f" ('pending', 'running') AND arm NOT IN ({marks})",
                         (sweep, *arms))[0][0]
