"""Leases of running jobs: holders gone from this host taken back, leases waited out."""

from __future__ import annotations

import math
from typing import Any

from ..leases import LeaseWait, LeaseWaits, holder, process_gone, this_host
from .database import Database


class Leases(Database):
    """Who holds the running jobs."""

    def release_gone(self, sweep: str) -> int:
        """Take back at once the running jobs of worker processes that are gone from this
        host (killed, crashed): back to pending, the attempt still counted (as a lease
        that ran out is), instead of waiting out their leases. A lease of another host,
        or of a process still here, is left to expire. Returns how many were taken."""
        host, taken = this_host(), 0
        gone = [(row["job_id"], row["lease_owner"], pid) for row in self.read(
            "SELECT job_id, lease_owner FROM jobs INDEXED BY jobs_sweep_state"
            " WHERE sweep = ? AND state = 'running'", (sweep,))
            if (who := holder(row["lease_owner"])) is not None and who[0] == host
            and process_gone(pid := who[1])]
        if not gone:
            return 0
        now = self.clock()
        with self.write() as conn:
            for job_id, owner, pid in gone:
                why = f"its worker process {pid} on {host} is gone: taken back at once"
                taken += conn.execute(
                    "UPDATE jobs SET state = 'pending', lease_owner = NULL,"
                    " lease_expires_at = NULL, available_at = 0,"
                    " errors = json_insert(CASE WHEN json_valid(errors) THEN errors"
                    "   ELSE '[]' END, '$[#]', json_object('at', :now, 'attempt', attempts,"
                    "   'kind', 'crash', 'message', :why))"
                    " WHERE job_id = :job AND state = 'running' AND lease_owner = :owner",
                    {"now": now, "why": why, "job": job_id, "owner": owner}).rowcount
        return taken

    def lease_waits(self, sweep: str, own: str | None = None) -> LeaseWaits:
        """The leases of the sweep's running jobs that a worker may be waiting out, one
        entry per holding process, soonest taken back first: every holder except those
        alive on this host with leases not yet run out (those are working), and except
        the process `own` (a `HOST:PID` worker name: the caller itself).

        For `status` ("stale leases: whose, when they are taken back") and `work`'s live
        display ("leases being waited out")."""
        now, host = self.clock(), this_host()
        by_process: dict[str, list[float]] = {}
        for row in self.read("SELECT lease_owner, lease_expires_at FROM jobs"
                             " INDEXED BY jobs_sweep_state WHERE sweep = ? AND state = 'running'",
                             (sweep,)):
            who = holder(row["lease_owner"])
            process = (f"{who[0]}:{who[1]}" if who is not None else
                       str(row["lease_owner"]))
            if process != own:
                by_process.setdefault(process, []).append(_finite(row["lease_expires_at"], now))
        waits = []
        for process, ends in by_process.items():
            who = holder(process)
            gone = None if who is None or who[0] != host else process_gone(who[1])
            expired = sum(end <= now for end in ends)
            if gone is False and not expired:
                continue
            waits.append(LeaseWait(process, None if who is None else who[0],
                                   None if who is None else who[1], len(ends), expired,
                                   max(ends), gone))
        waits.sort(key=lambda w: w.taken_back_at(now))
        return LeaseWaits(now, tuple(waits))


def _finite(value: Any, default: float) -> float:
    """A time read back from the database, or `default` when it is not a finite number."""
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else default
